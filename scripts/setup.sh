#!/usr/bin/env bash
# Installs what Stadspuls needs on this machine; quick when everything is already there.
# System packages (Debian): PostgreSQL, Prometheus (promtool), docker-compose (config checks), Java 17, Maven.
# Then the virtualenv .venv with the pinned Python packages, and the Kafka jars under .cache/kafka.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

need=()
have() { command -v "$1" >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null; }
for pair in pg_ctl:postgresql promtool:prometheus docker-compose:docker-compose \
            java:openjdk-17-jre-headless mvn:maven; do
  have "${pair%%:*}" || need+=("${pair##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian's prometheus package starts a server on :9090; Stadspuls runs its own when it needs one.
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
  $SUDO pkill -x prometheus >/dev/null 2>&1 || true
fi

stamp=.venv/.stadspuls-installed
if [ ! -x .venv/bin/python ] || [ ! -f "$stamp" ] || [ constraints.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi
.venv/bin/python -c "from shared.infra.kafka_dist import ensure_kafka_jars; ensure_kafka_jars()"
