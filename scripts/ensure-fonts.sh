#!/usr/bin/env bash
# The official forms (processing's PDFs) are set in Liberation Serif 2, from Debian's fonts-liberation2: version 1
# (fonts-liberation) has no Vietnamese glyphs. Installs the package when the files are missing and this is root
# with apt-get (as scripts/infra/postgres.sh does for PostgreSQL); otherwise says what to install, and fails.
# PROCESSING_FORMS_FONT_DIR points the service (and this check) at another folder holding the same files.
set -euo pipefail
dir="${PROCESSING_FORMS_FONT_DIR:-/usr/share/fonts/truetype/liberation2}"
pkg=fonts-liberation2

have_fonts() {
  local style
  for style in Regular Bold Italic; do
    [[ -f "$dir/LiberationSerif-$style.ttf" ]] || return 1
  done
}

have_fonts && exit 0
if [[ -z "${PROCESSING_FORMS_FONT_DIR:-}" ]] && command -v apt-get >/dev/null && [[ "$(id -u)" -eq 0 ]]; then
  echo "==> Fonts for the official forms: apt-get install $pkg"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null || true
fi
have_fonts && exit 0
cat >&2 <<MSG
!! The official forms (PDF) need the Liberation Serif 2 fonts in $dir, and they could not be installed.
   Install the Debian package $pkg (sudo apt-get install $pkg), or set PROCESSING_FORMS_FONT_DIR to a folder
   holding LiberationSerif-Regular.ttf, LiberationSerif-Bold.ttf and LiberationSerif-Italic.ttf.
MSG
exit 1
