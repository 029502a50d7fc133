"""A local Kolada v3 for tests: serves the answers recorded under tests/recorded/kolada.

`data.json` is a recorded `/v3/data` answer (every item the server knows); `updates/DAY.json`
holds the items Kolada revised on DAY, which a `from_date` request on or before DAY receives.
The server answers `/v3/data/kpi/{ids}/municipality/{ids}[/year/{years}]` like Kolada: the items
that match, `page_size` to a page, `next_url` to the next page (null on the last), and `400` for a
segment of more than 25 ids. Faults are queued: `fail_next(429, retry_after=1)`, `fail_next(500)`,
`truncate_next()` (a body cut short mid-JSON). Every request is kept in `requests`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

RECORDED = Path(__file__).with_name("recorded") / "kolada"
MAX_IDS = 25


@dataclass
class Fault:
    status: int
    headers: dict[str, str]
    truncate: bool = False


class FakeKolada:
    """The state of the fake: recorded items, queued faults, requests seen."""

    def __init__(self, folder: Path = RECORDED, page_size: int = 40) -> None:
        self.items: list[dict[str, Any]] = json.loads((folder / "data.json").read_text())["values"]
        self.updates = {
            p.stem: json.loads(p.read_text())["values"]
            for p in sorted((folder / "updates").glob("*.json"))
        }
        self.page_size = page_size
        self.faults: list[Fault] = []
        self.requests: list[str] = []
        self.base = ""
        self.lock = threading.Lock()

    def fail_next(self, status: int, *, retry_after: float | None = None, times: int = 1) -> None:
        """Answer the next `times` requests with `status` (and Retry-After)."""
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        self.faults.extend(Fault(status, headers) for _ in range(times))

    def truncate_next(self) -> None:
        """Cut the next answer's body short (a complete HTTP answer of incomplete JSON)."""
        self.faults.append(Fault(200, {}, truncate=True))

    def answer(self, target: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for a request target (path and query)."""
        with self.lock:
            self.requests.append(target)
            fault = self.faults.pop(0) if self.faults else None
        if fault is not None and not fault.truncate:
            return fault.status, fault.headers, b'{"error": "told to fail"}'
        split = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        parts = split.path.strip("/").split("/")
        if (
            len(parts) not in (6, 8)
            or parts[:3] != ["v3", "data", "kpi"]
            or parts[4] != "municipality"
        ):
            return 404, {}, b'{"error": "no such resource"}'
        segments = [parts[3].split(","), parts[5].split(",")] + (
            [parts[7].split(",")] if len(parts) == 8 else []
        )
        if any(len(ids) > MAX_IDS for ids in segments):
            return 400, {}, b'{"error": "at most 25 ids per segment"}'
        kpis, places = set(segments[0]), set(segments[1])
        years = {int(y) for y in segments[2]} if len(segments) == 3 else None
        pool = self.items
        if "from_date" in query:
            pool = [
                i for day, items in self.updates.items() if day >= query["from_date"] for i in items
            ]
        matching = [
            i
            for i in pool
            if i["kpi"] in kpis
            and i["municipality"] in places
            and (years is None or i["period"] in years)
        ]
        page = int(query.get("page", "1"))
        size = min(self.page_size, int(query.get("per_page", "5000")))
        chunk = matching[(page - 1) * size : page * size]
        next_url = None
        if page * size < len(matching):
            next_url = f"{self.base}{split.path}?{urlencode({**query, 'page': str(page + 1)})}"
        body = json.dumps(
            {"values": chunk, "count": len(chunk), "next_url": next_url, "previous_url": None}
        ).encode()
        if fault is not None:  # truncated: the bytes promised, not the JSON
            body = body[: len(body) // 2]
        return 200, {"Content-Type": "application/json"}, body


@contextmanager
def kolada_server(fake: FakeKolada | None = None) -> Iterator[FakeKolada]:
    """Serve a FakeKolada on 127.0.0.1 (its `base` is the v3 base URL) until the block ends."""
    fake = fake or FakeKolada()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = fake.answer(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def v3(fake: FakeKolada) -> str:
    """The base URL a connector is pointed at."""
    return f"{fake.base}/v3"
