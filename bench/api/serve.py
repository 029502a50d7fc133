"""The API as the benchmark serves it: `uvicorn --factory bench.api.serve:app`, configured from
`STADSPULS_*` like the service itself; `BENCH_API_MEMO=off` makes every request render its answer
(the cost a replica pays once per answer and read-model revision).
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from services.api.app import app_from_environment
from services.api.caching import AnswerMemo


def app() -> FastAPI:
    """The read API, with its answer memo switched off when BENCH_API_MEMO=off."""
    api = app_from_environment()
    if os.environ.get("BENCH_API_MEMO") == "off":
        api.state.context.answers.memo = AnswerMemo(max_bytes=0)
    return api
