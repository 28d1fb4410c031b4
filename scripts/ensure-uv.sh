#!/usr/bin/env bash
# Make sure uv is on PATH (installs it from PyPI with pip when missing), then sync the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v uv >/dev/null 2>&1; then
  echo "==> Installing uv (Python package manager) from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check uv || python3 -m pip install --quiet --user uv
  export PATH="$HOME/.local/bin:$PATH"
fi
echo "==> Python dependencies (uv sync)"
uv sync --frozen --quiet
