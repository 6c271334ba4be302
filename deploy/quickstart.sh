#!/usr/bin/env bash
# Install egress and run the main job on the embedded default: an offline audit of the bundled
# sample capture with the bundled GeoIP database. The case folder goes to ./egress-audit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install.sh
exec .venv/bin/egress audit --out egress-audit "$@"
