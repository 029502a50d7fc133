#!/usr/bin/env bash
# Installs what Stadspuls needs on this machine; quick when everything is already there.
# System packages (Debian): PostgreSQL, Prometheus (promtool), docker-compose (config checks), Java 17, Maven,
# LibreOffice Calc (headless: the tests make a real office suite's .xlsx with it).
# Then the virtualenv .venv with the pinned Python packages, and the Kafka jars under .cache/kafka.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

need=()
have() { command -v "$1" >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null; }
for pair in pg_ctl:postgresql promtool:prometheus docker-compose:docker-compose \
            java:openjdk-17-jre-headless mvn:maven soffice:libreoffice-calc-nogui; do
  have "${pair%%:*}" || need+=("${pair##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian's prometheus package starts a system service on :9090; Stadspuls runs its own when it
  # needs one. Stop and disable that service, by its unit alone: never a process found by its name,
  # which may be someone's own Prometheus.
  if [[ " ${need[*]} " == *" prometheus "* ]]; then
    if command -v systemctl >/dev/null 2>&1 && $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1; then
      :
    else  # no systemd running (a container): the package started it with its init script
      if command -v service >/dev/null 2>&1; then
        $SUDO service prometheus stop >/dev/null 2>&1 || true
      elif [ -x /etc/init.d/prometheus ]; then
        $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
      fi
      if command -v update-rc.d >/dev/null 2>&1; then $SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true; fi
    fi
  fi
fi

stamp=.venv/.stadspuls-installed
if [ ! -x .venv/bin/python ] || [ ! -f "$stamp" ] || [ constraints.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi
.venv/bin/python -c "from shared.infra.kafka_dist import ensure_kafka_jars; ensure_kafka_jars()"
