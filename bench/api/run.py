"""Read-API benchmark: `.venv/bin/python -m bench.api.run [--db sqlite|postgres] [--workers 1]`.

Fills a read model with seven years of the Stockholm data set through the aggregator's own store
(`bench.api.dataset`), serves it with uvicorn (`--workers` processes) and drives it with 50
concurrent keep-alive clients per scenario: `wrk` when installed (`apt-get install wrk`; it costs
the server little CPU), else the Python client in `bench.api.load`. Prints a Markdown table of
requests/s and latency percentiles per scenario; `--cold` also measures every request rendering
its answer afresh (the answer memo off).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from bench.api.dataset import Dataset, load
from bench.api.load import HEADER, Result
from bench.api.load import run as python_load
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.infra.ports import free_port
from shared.infra.postgres import LocalPostgres
from shared.infra.wait import wait_for

CSV_SERIES = "/v1/indikatorer/inskrivna-arbetslosa-18-64/observationer?format=csv&limit=10000"
SCENARIOS: list[tuple[str, str, dict[str, str]]] = [
    ("etappmål list", "/v1/etappmal", {}),
    ("etappmål list, If-None-Match → 304", "/v1/etappmal", {"If-None-Match": "<etag>"}),
    ("one etappmål", "/v1/etappmal/behorighet-gymnasiet", {}),
    ("one nämnd rollup", "/v1/namnder/rinkeby-kista-sdn", {}),
    ("one indicator with inputs", "/v1/indikatorer/uvas-16-24", {}),
    ("area profile", "/v1/omraden/rinkeby-kista", {}),
    ("10 000-row CSV series", CSV_SERIES, {}),
    ("10 000-row CSV series, gzip", CSV_SERIES, {"Accept-Encoding": "gzip"}),
]
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def prepare(url: str, years: range = range(2019, 2026)) -> None:
    """Migrate and fill the read model with `years` of the data set unless it holds data."""
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        filled = conn.exec_driver_sql("SELECT count(*) FROM series").scalar_one()
    if not filled:
        catalog = default_catalog()
        observations = list(Dataset(catalog, years=years).observations())
        started = time.perf_counter()
        load(engine, catalog, observations)
        print(f"loaded {len(observations):,} observations in {time.perf_counter() - started:.1f} s")
    engine.dispose()


def serve(url: str, workers: int, memo: bool, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start uvicorn on a free port; return the process and its base URL once it answers."""
    port = free_port()
    env = {**os.environ, "STADSPULS_DATABASE_URL": url, "BENCH_API_MEMO": "on" if memo else "off"}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "bench.api.serve:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_for(
        lambda: httpx.get(f"{base}/readyz").status_code == 200,
        timeout=60,
        what="the API",
        ignore=(httpx.HTTPError,),
    )
    return process, base


def wrk(name: str, url: str, headers: dict[str, str], clients: int, seconds: float) -> Result:
    """Run wrk once and read its request rate and latency distribution."""
    command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds:.0f}s", "--latency", "--timeout", "10s"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout

    def number(pattern: str) -> float:
        found = re.search(pattern, out, re.M)
        return float(found.group(1)) if found else 0.0

    points = {
        int(p): float(v) * _UNITS[u]
        for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    return Result(
        name,
        int(number(r"(\d+) requests in")),
        int(number(r"Non-2xx or 3xx responses:\s+(\d+)")),
        number(r"Requests/sec:\s+([\d.]+)"),
        points[50],
        points[90],
        points[99],
    )


def measure(base: str, clients: int, seconds: float, tool: str, label: str) -> list[Result]:
    """Every scenario against one running server."""
    results = []
    for name, path, headers in SCENARIOS:
        url = base + path
        first = httpx.get(url, headers={k: v for k, v in headers.items() if k != "If-None-Match"})
        expect = 200
        if "If-None-Match" in headers:
            headers, expect = {"If-None-Match": first.headers["ETag"]}, 304
        title = f"{name}{label}"
        if tool == "wrk":
            result = wrk(title, url, headers, clients, seconds)
        else:
            result = python_load(
                title, url, clients=clients, seconds=seconds, headers=headers, expect=expect
            )
        size = (
            len(first.content)
            if headers.get("Accept-Encoding") != "gzip"
            else int(httpx.get(url, headers={"Accept-Encoding": "gzip"}).headers["content-length"])
        )
        result = replace(result, bytes_per_answer=0 if expect == 304 else size)
        results.append(result)
        print(result.row(), flush=True)
    return results


def main() -> None:
    """Parse arguments, prepare the read model, run the scenarios, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="a new SQLite file, or a PostgreSQL server of its own",
    )
    parser.add_argument("--database-url", help="an existing read model to use instead")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10, help="duration of each scenario")
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--cold", action="store_true", help="also run with the answer memo off")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "python")
    with ExitStack() as stack:
        url = args.database_url or f"sqlite:///{folder / 'read-model.db'}"
        if args.db == "postgres" and not args.database_url:
            url = stack.enter_context(LocalPostgres()).create_database("bench_api")
        prepare(url)
        print(
            f"\nread model {make_url(url).get_backend_name()}, {args.workers} worker(s), "
            f"{args.clients} clients, {args.seconds:.0f} s per scenario, load from {tool}\n"
        )
        print(HEADER)
        for memo in (True, False) if args.cold else (True,):
            process, base = serve(url, args.workers, memo, folder / "server.log")
            try:
                measure(base, args.clients, args.seconds, tool, "" if memo else " (memo off)")
            finally:
                process.terminate()
                process.wait(20)


if __name__ == "__main__":
    main()
