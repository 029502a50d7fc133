"""A PxWeb server on 127.0.0.1 that answers from recorded files (tests/data/pxweb) and can misbehave.

It answers a data query with the part of the recorded table the query selects, as PxWeb does: v1
by the POSTed `query`, v2 by `valueCodes[Var]`; a variable left out is eliminated (its first value,
the total, is taken). Faults queued with `fail` answer before the recording does.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

RECORDINGS = Path(__file__).parent / "data" / "pxweb"


class FakeTime:
    """A monotonic clock that only sleeping moves; records every sleep and request start."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.starts: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def on_request(self, request: httpx.Request) -> None:
        self.starts.append(self.now)


def recording(name: str) -> Any:
    """A recorded answer, parsed."""
    return json.loads((RECORDINGS / name).read_text(encoding="utf-8"))


@dataclass
class Fault:
    """An answer in place of the recording: a status, headers, and a body (cut short if `truncate`)."""

    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"error": "fault"}'
    truncate: bool = False


@dataclass
class Seen:
    """A request the server received."""

    method: str
    path: str
    params: list[tuple[str, str]]
    body: Any


class PxWebServer:
    """Routes (method, path) to a recorded file; data routes slice a recorded dataset."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], str] = {}
        self.tables: dict[tuple[str, str], str] = {}
        self.faults: dict[tuple[str, str], list[Fault]] = {}
        self.seen: list[Seen] = []
        self.url = ""
        self.lock = threading.Lock()

    def serve(self, method: str, path: str, name: str) -> None:
        """Answer `method path` with the recorded file `name`."""
        self.files[(method, path)] = name

    def table(self, method: str, path: str, name: str) -> None:
        """Answer data queries at `method path` from the recorded dataset `name`."""
        self.tables[(method, path)] = name

    def fail(self, method: str, path: str, *faults: Fault) -> None:
        """Answer the next requests at `method path` with these faults, in order."""
        self.faults.setdefault((method, path), []).extend(faults)

    def data_requests(self) -> list[Seen]:
        """The data queries received."""
        return [s for s in self.seen if (s.method, s.path) in self.tables]

    def answer(self, method: str, target: str, body: bytes) -> tuple[Fault, bytes]:
        """The fault (its status and headers) and the body to send."""
        parts = urlsplit(target)
        params = parse_qsl(parts.query)
        parsed = json.loads(body) if body else None
        with self.lock:
            self.seen.append(Seen(method, parts.path, params, parsed))
            queued = self.faults.get((method, parts.path))
            if queued:
                fault = queued.pop(0)
                return fault, fault.body
        key = (method, parts.path)
        if key in self.files:
            return Fault(200), (RECORDINGS / self.files[key]).read_bytes()
        if key in self.tables:
            selected = _v1_selection(parsed) if method == "POST" else _v2_selection(params)
            part = slice_dataset(recording(self.tables[key]), selected)
            return Fault(200), json.dumps(part, ensure_ascii=False).encode()
        return Fault(404, body=b'{"error": "no such table"}'), b'{"error": "no such table"}'


def _v1_selection(body: Any) -> dict[str, list[str]]:
    assert body["response"] == {"format": "json-stat2"}, body
    return {q["code"]: q["selection"]["values"] for q in body["query"]}


def _v2_selection(params: list[tuple[str, str]]) -> dict[str, list[str]]:
    given = dict(params)
    assert given.get("outputFormat") == "json-stat2", params
    return {
        k[len("valueCodes[") : -1]: v.split(",") for k, v in params if k.startswith("valueCodes[")
    }


def slice_dataset(full: dict[str, Any], selected: dict[str, list[str]]) -> dict[str, Any]:
    """The JSON-stat dataset of the selected codes (a variable not selected: its first code, dropped)."""
    ids: list[str] = full["id"]
    codes = {d: list(full["dimension"][d]["category"]["index"]) for d in ids}
    strides = {d: math.prod(full["size"][k + 1 :]) for k, d in enumerate(ids)}
    picked = {d: selected.get(d, codes[d][:1]) for d in ids}
    kept = [d for d in ids if d in selected or len(codes[d]) == 1]
    values, status = [], {}
    for combination in itertools.product(*(picked[d] for d in ids)):
        at = sum(codes[d].index(c) * strides[d] for d, c in zip(ids, combination, strict=True))
        if str(at) in full.get("status", {}):
            status[str(len(values))] = full["status"][str(at)]
        values.append(full["value"][at])
    dimension = {}
    for d in kept:
        dim = json.loads(json.dumps(full["dimension"][d]))
        dim["category"]["index"] = {c: n for n, c in enumerate(picked[d])}
        dim["category"]["label"] = {c: dim["category"]["label"][c] for c in picked[d]}
        dimension[d] = dim
    return full | {
        "id": kept,
        "size": [len(picked[d]) for d in kept],
        "dimension": dimension,
        "value": values,
        "status": status,
    }


@contextmanager
def pxweb_server() -> Iterator[PxWebServer]:
    """A running PxWebServer on 127.0.0.1; stopped on exit."""
    state = PxWebServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            fault, body = state.answer(self.command, self.path, self.rfile.read(length))
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in fault.headers.items():
                self.send_header(name, value)
            if fault.truncate:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if fault.truncate else body)
            if fault.truncate:
                self.close_connection = True

        def do_GET(self) -> None:
            self._reply()

        def do_POST(self) -> None:
            self._reply()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="pxweb", daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
