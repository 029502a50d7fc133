"""What an `as_of` answer costs: `.venv/bin/python -m bench.api.as_of [--database-url URL]`.

Fills a SQLite read model with the API benchmark's data set (`bench.api.run.prepare`: the versions
recorded as the aggregator records them) unless `--database-url` names one, serves the production
app on it in this process with the answer memo off, and times one request at a time: per answer,
the current one (median of `--repeat`), the first `as_of` answer of a moment not built before and
the median of repeats of that moment, for the newest moment (every version counts), the one that
counts 99 % of them (a report's moment, a few later versions left out) and the middle one (half of
them). The first answer is timed twice, on two apps over the same read model: one that builds
every moment from the versions alone (`built`: how every moment was made before moments were
derived) and the production one, which derives a moment from the nearest one kept (`derived`;
its very first moment has none to derive from, so it is built: the `how` column says). Prints a
Markdown table with the ratios to the current answer, and the builds' means from
`stadspuls_api_past_build_seconds`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench.api.run import CSV_SERIES, prepare
from bench.api.server import serving
from services.api.app import create_app
from services.api.caching import AnswerMemo
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine
from shared.db.schema import series_versions
from shared.domain.observation import as_utc
from shared.settings import Settings

SCENARIOS = [
    ("etappmål list", "/v1/etappmal"),
    ("one nämnd rollup", "/v1/namnder/rinkeby-kista-sdn"),
    ("area profile", "/v1/omraden/rinkeby-kista"),
    ("10 000-row CSV series", CSV_SERIES),
]
HEADER = (
    "| answer | moment | current ms | first as_of built ms | ratio | first as_of ms | how "
    "| ratio | as_of repeat ms |\n"
    "|---|---|---:|---:|---:|---:|---|---:|---:|"
)


def timed(http: httpx.Client, path: str, params: dict[str, str] | None = None) -> float:
    """Seconds one GET took; fails on anything but 200."""
    started = time.perf_counter()
    response = http.get(path, params=params)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


def median(
    http: httpx.Client, path: str, repeat: int, params: dict[str, str] | None = None
) -> float:
    """The median of `repeat` GETs, in seconds."""
    return statistics.median(timed(http, path, params) for _ in range(repeat))


def rfc(moment: datetime) -> str:
    """An RFC 3339 time in UTC."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def moments(url: str) -> dict[str, datetime]:
    """The newest moment (every version counts), the one that counts 99 % of them and the
    middle one (half of them)."""
    engine = make_engine(url)
    t = series_versions.c
    found = {}
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(t.received_at))).scalar_one()
        count = conn.execute(select(func.count()).select_from(series_versions)).scalar_one()
        found["newest"] = as_utc(newest)
        for label, share in (("99 %", 0.99), ("middle", 0.5)):
            query = select(t.received_at).order_by(t.version_id).offset(int(count * share))
            found[label] = as_utc(conn.execute(query.limit(1)).scalar_one())
    engine.dispose()
    return found


def metric(http: httpx.Client, name: str) -> float:
    """A metric's value (0 before it is first observed)."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", http.get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def builds(http: httpx.Client) -> str:
    """The builds' count and mean from `stadspuls_api_past_build_seconds`."""
    count = metric(http, "stadspuls_api_past_build_seconds_count")
    total = metric(http, "stadspuls_api_past_build_seconds_sum")
    derived = metric(http, "stadspuls_api_past_derived_total")
    return f"{count:.0f} moments ({derived:.0f} derived), {total / count:.2f} s each on average"


def main() -> None:
    """Prepare the read model, serve it, time current and as_of answers, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an existing read model to use instead")
    parser.add_argument("--repeat", type=int, default=9, help="requests per median")
    args = parser.parse_args()
    folder = None if args.database_url else Path(tempfile.mkdtemp(prefix="bench-as-of-"))
    url = args.database_url or f"sqlite:///{folder}/rm.db"
    try:
        run(url, args.repeat)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def run(url: str, repeat: int) -> None:
    """Fill the read model at `url` if empty, serve it, print the table."""
    prepare(url)
    engine = make_engine(url)
    apps = [
        create_app(Settings(database_url=url), engine=engine, catalog=default_catalog())
        for _ in range(2)
    ]
    for app in apps:
        app.state.context.answers.memo = AnswerMemo(max_bytes=0)  # every answer rendered afresh
    apps[0].state.past.deriving = False  # every moment built from the versions alone
    # every first as_of answer is of a moment not built before: each scenario a second later
    known = moments(url)
    with (
        serving(apps[0]) as built_base,
        serving(apps[1]) as base,
        httpx.Client(base_url=built_base, timeout=600) as built,
        httpx.Client(base_url=base, timeout=600) as http,
    ):
        # the first request with a query parameter builds the OpenAPI document the parameters
        # are checked against: a cost of the process, not of the answer
        timed(built, SCENARIOS[0][1], {"format": "json"})
        warm = timed(http, SCENARIOS[0][1], {"format": "json"})
        print(f"\nfirst current answer in the process (it warms the app): {warm * 1000:.0f} ms")
        print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
        print(HEADER)
        for step, (name, path) in enumerate(SCENARIOS):
            current = median(http, path, repeat)
            for label, moment in known.items():
                params = {"as_of": rfc(moment + timedelta(seconds=step + 1, microseconds=step))}
                scratch = timed(built, path, params)
                derived = metric(http, "stadspuls_api_past_derived_total")
                first = timed(http, path, params)
                how = (
                    "derived"
                    if metric(http, "stadspuls_api_past_derived_total") > derived
                    else "built"
                )
                again = median(http, path, repeat, params)
                print(
                    f"| {name} | {label} | {current * 1000:.1f} | {scratch * 1000:.0f} "
                    f"| {scratch / current:.0f}× | {first * 1000:.0f} | {how} "
                    f"| {first / current:.1f}× | {again * 1000:.1f} |",
                    flush=True,
                )
        print(f"\nbuilt from the versions alone: {builds(built)}")
        print(f"production (derived where a moment is kept): {builds(http)}")
        print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    engine.dispose()


if __name__ == "__main__":
    main()
