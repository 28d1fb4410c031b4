#!/usr/bin/env bash
# The dashboard's browser test (tests/e2e/test_dashboard.py) drives Debian's headless Chromium through its
# chromedriver (packages chromium and chromium-driver; Selenium is told both paths and never downloads a browser).
# Installs them when missing and this is root with apt-get (as scripts/ensure-fonts.sh does for the fonts);
# otherwise says what to install, and fails. MOTCUA_CHROMIUM / MOTCUA_CHROMEDRIVER point at other binaries.
set -euo pipefail
browser="${MOTCUA_CHROMIUM:-/usr/bin/chromium}"
driver="${MOTCUA_CHROMEDRIVER:-/usr/bin/chromedriver}"

have_browser() { [[ -x "$browser" && -x "$driver" ]]; }

have_browser && exit 0
if [[ -z "${MOTCUA_CHROMIUM:-}${MOTCUA_CHROMEDRIVER:-}" ]] && command -v apt-get >/dev/null && [[ "$(id -u)" -eq 0 ]]; then
  echo "==> Browser for the dashboard test: apt-get install chromium chromium-driver"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null || true
fi
have_browser && exit 0
cat >&2 <<MSG
!! The dashboard's browser test needs Chromium ($browser) and its driver ($driver), and they could not be
   installed. Install the Debian packages chromium and chromium-driver (sudo apt-get install chromium
   chromium-driver), or set MOTCUA_CHROMIUM and MOTCUA_CHROMEDRIVER to a matching browser and driver.
MSG
exit 1
