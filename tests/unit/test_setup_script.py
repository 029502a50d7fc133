"""scripts/setup.sh on a machine of fakes: what it runs when Debian's prometheus package comes in
(its system service stopped and disabled by its unit, never a process killed by its name)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.infra.kafka_dist import repo_root

TOOLS = ("pg_ctl", "promtool", "docker-compose", "java", "mvn", "soffice")
RECORDED = ("apt-get", "systemctl", "service", "update-rc.d", "pkill", "killall", "sudo")


def fake(path: Path, body: str) -> None:
    """An executable shell script at `path`."""
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def run_setup(tmp_path: Path, *, have: tuple[str, ...], systemctl: int | None) -> list[str]:
    """Run a copy of setup.sh with only fakes on PATH; the commands it ran, one line each."""
    root, bin_dir, calls = tmp_path / "repo", tmp_path / "bin", tmp_path / "calls"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(repo_root() / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
    for name in ("constraints.txt", "pyproject.toml"):
        (root / name).write_text("")
    (root / ".venv" / "bin").mkdir(parents=True)
    fake(root / ".venv" / "bin" / "python", "exit 0")
    stamp = root / ".venv" / ".stadspuls-installed"
    stamp.write_text("")
    os.utime(stamp, (2**31, 2**31))  # newer than the files it stands for: no reinstall
    bin_dir.mkdir()
    dirname = shutil.which("dirname")
    assert dirname is not None
    (bin_dir / "dirname").symlink_to(dirname)
    fake(bin_dir / "id", "echo 0")
    for tool in have:
        fake(bin_dir / tool, "exit 0")
    for name in RECORDED:
        if name != "systemctl" or systemctl is not None:
            code = systemctl if name == "systemctl" else 0
            fake(bin_dir / name, f'echo "${{0##*/}} $*" >> {calls}\nexit {code}')
    subprocess.run(
        ["/bin/bash", str(root / "scripts" / "setup.sh")],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        check=True,
        capture_output=True,
    )
    return calls.read_text().splitlines() if calls.exists() else []


NO_PROMTOOL = tuple(tool for tool in TOOLS if tool != "promtool")
INSTALL = "apt-get install -y -qq --no-install-recommends prometheus"
SYSV = ["service prometheus stop", "update-rc.d prometheus disable"]


@pytest.mark.parametrize(
    ("systemctl", "stops"),
    [
        (0, ["systemctl disable --now prometheus.service"]),
        # systemctl there but no systemd running (a container): the init script started it
        (1, ["systemctl disable --now prometheus.service", *SYSV]),
        (None, SYSV),
    ],
    ids=["systemd", "systemctl-without-systemd", "no-systemctl"],
)
def test_the_packaged_prometheus_service_is_stopped_by_its_unit_only(
    tmp_path: Path, systemctl: int | None, stops: list[str]
) -> None:
    assert run_setup(tmp_path, have=NO_PROMTOOL, systemctl=systemctl) == [
        "apt-get update -qq",
        INSTALL,
        *stops,
    ]


def test_a_prometheus_already_there_is_left_alone(tmp_path: Path) -> None:
    have = tuple(tool for tool in TOOLS if tool != "mvn")
    assert run_setup(tmp_path, have=have, systemctl=0) == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends maven",
    ]


def test_a_missing_office_suite_brings_libreoffice_calc_without_a_gui(tmp_path: Path) -> None:
    have = tuple(tool for tool in TOOLS if tool != "soffice")
    assert run_setup(tmp_path, have=have, systemctl=0) == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui",
    ]


def test_nothing_runs_when_everything_is_there(tmp_path: Path) -> None:
    assert run_setup(tmp_path, have=TOOLS, systemctl=0) == []
