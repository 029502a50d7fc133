#!/usr/bin/env bash
# Runs the whole system on this machine: installs what is missing, then `stadspuls up`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/stadspuls up "$@"
