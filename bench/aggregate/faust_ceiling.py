"""The faust ceiling: a worker configured like the aggregator whose agent only parses and counts.

`python -m bench.aggregate.faust_ceiling` with the aggregator's STADSPULS_* variables plus
BENCH_EXPECTED (events to read) and BENCH_OUT (a file): reads the canonical topic in batches as the
aggregator does, decodes every event into an Observation (or not, BENCH_PARSE=0), and writes the
events/s from the first batch to the last into BENCH_OUT. What faust itself costs per event is the
difference between this and the raw aiokafka rate; what the read model costs is the rest.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import faust
import orjson

from services.aggregate.app import consumer_config
from shared.domain.observation import Observation
from shared.settings import Settings


def create_app(settings: Settings, expected: int, out: Path, parse: bool) -> faust.App:
    """A faust app with the aggregator's consumer settings and a counting agent."""
    app = faust.App(
        f"{settings.aggregate_app_id}-ceiling",
        **consumer_config(settings),
        web_enabled=False,
        topic_allow_declare=False,
    )
    topic = app.topic(settings.topic("observations.v1"), value_type=bytes, key_type=bytes)

    @app.agent(topic, concurrency=1)
    async def count(stream: Any) -> None:
        seen, first, timed = 0, 0.0, 0  # the clock starts when the first batch is in
        async for events in stream.take_events(
            settings.aggregate_batch_size, settings.aggregate_batch_seconds
        ):
            if parse:
                for event in events:
                    Observation.model_validate_json(event.value)
            seen += len(events)
            if not first:
                first = time.perf_counter()
            else:
                timed += len(events)
            if seen >= expected:
                seconds = time.perf_counter() - first
                result = orjson.dumps({"events": timed, "seconds": seconds})
                await asyncio.to_thread(out.write_bytes, result)

    return app


def main() -> None:
    """Run the counting worker until it is stopped."""
    settings = Settings()
    expected = int(os.environ["BENCH_EXPECTED"])
    parse = os.environ.get("BENCH_PARSE", "1") != "0"
    app = create_app(settings, expected, Path(os.environ["BENCH_OUT"]), parse)
    faust.Worker(app, loglevel="WARNING").execute_from_commandline()


if __name__ == "__main__":
    main()
