#!/usr/bin/env bash
# Re-creates the dashboard's vendored chart library (gateway/gateway/dashboard/vendor/) from the npm registry:
# `npm pack chart.js@VERSION`, the tarball checked against the pinned integrity (the registry's dist.integrity,
# SHA-512), then dist/chart.umd.min.js and LICENSE.md copied out. The files are committed, so neither the
# gateway nor its tests need Node or the network; run this only to move to another version (update VERSION and
# INTEGRITY from `npm view chart.js@VERSION dist.integrity`, then the checksum pinned in
# gateway/tests/unit/test_dashboard_assets.py).
set -euo pipefail
VERSION=4.6.1
INTEGRITY="sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g=="
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/gateway/gateway/dashboard/vendor"
command -v npm >/dev/null || { echo "!! npm is needed to fetch chart.js from the npm registry" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "chart.js@$VERSION" >/dev/null)
tarball="$work/chart.js-$VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ "$actual" != "$INTEGRITY" ]]; then
  echo "!! chart.js-$VERSION.tgz: integrity $actual, expected $INTEGRITY" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/dist/chart.umd.min.js package/LICENSE.md
mkdir -p "$dest"
cp "$work/package/dist/chart.umd.min.js" "$dest/chart-$VERSION.umd.min.js"
cp "$work/package/LICENSE.md" "$dest/chart.js-LICENSE.md"
echo "==> chart.js $VERSION vendored into $dest"
