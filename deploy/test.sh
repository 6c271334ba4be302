#!/usr/bin/env bash
# Install everything the tests need and run lint, type checks and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install.sh --test
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
