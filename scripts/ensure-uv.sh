#!/usr/bin/env bash
# Make sure uv is on PATH (installs it from PyPI with pip when missing), then sync the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null 2>&1; then
  echo "==> Installing uv (Python package manager) from PyPI"
  if ! python3 -m pip --version >/dev/null 2>&1 && command -v apt-get >/dev/null && [[ "$(id -u)" -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
  fi
  # Debian's own Python refuses user-wide pip installs (PEP 668); uv is a standalone tool, so allow it there.
  python3 -m pip install --quiet --disable-pip-version-check uv 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --user --break-system-packages uv
fi
echo "==> Python dependencies (uv sync)"
uv sync --frozen --quiet
