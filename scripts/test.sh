#!/usr/bin/env bash
# Runs every test tier: unit, integration (real Kafka, PostgreSQL, Prometheus) and end to end.
# Installs what is missing first. Extra arguments go to pytest (e.g. `tests/unit`).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export STADSPULS_ENVIRONMENT=test
.venv/bin/pytest -q -p no:cacheprovider --durations=15 "$@"
status=$?
if [ "$status" -eq 5 ]; then echo "no tests were collected"; fi
exit $status
