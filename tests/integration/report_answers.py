"""What the read API answers for a frozen report: the same bytes before and after any rebuild."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine

from bench.api.server import serving
from services.api.app import create_app
from shared.domain.catalog import Catalog
from shared.settings import Settings


def report_answers(settings: Settings, engine: Engine, catalog: Catalog) -> dict[str, bytes]:
    """Every list of report R (JSON and CSV, with its ETag) as the read API answers it."""
    indicators = sorted(catalog.indicator)[:3]
    paths = ["/v1/indikatorer", "/v1/etappmal", "/v1/namnder", "/v1/omraden/rinkeby/indikatorer"]
    for indicator in indicators:
        paths += [
            f"/v1/indikatorer/{indicator}/observationer",
            f"/v1/indikatorer/{indicator}/historik",
        ]
    app = create_app(settings, engine=engine, catalog=catalog)
    out = {}
    with serving(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        for path in paths:
            for fmt in ("json", "csv"):
                answer = http.get(path, params={"rapport": "R", "format": fmt, "limit": 50_000})
                assert answer.status_code == 200, (path, answer.text)
                out[f"{path}?{fmt}"] = answer.content + answer.headers["ETag"].encode()
    return out
