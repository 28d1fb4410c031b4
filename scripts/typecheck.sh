#!/usr/bin/env bash
# Type-check the whole tree with mypy (settings in pyproject.toml, [tool.mypy]). Three kinds of run, because
# every service's tests are the package `tests` to mypy (their folders are package bases) and cannot share a run:
# the code (`files` in the settings), the root tests, then each library's and service's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
mypy=(uv run --frozen mypy)
"${mypy[@]}"
"${mypy[@]}" conftest.py tests
for dir in libs/common/tests services/*/tests; do
    "${mypy[@]}" "$dir"
done
