"""The HTTP limits of both services, on real processes (`stadspuls serve api|ingest`, the production
serving code) spoken to over raw sockets: oversize heads, slow and stalled requests, idle
connections and more connections than the limit."""

from __future__ import annotations

import os
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from pydantic import SecretStr

from services.ingest.keys import create_key
from shared.db.engine import make_engine, upgrade
from shared.http_server import open_files_needed
from shared.infra.ports import free_port
from shared.infra.server import stop_process
from shared.infra.wait import wait_for
from shared.settings import Settings
from tests.factories import share_row
from tests.services import ServiceProcess

TIMEOUT = 1.0  # header and keep-alive timeout of the processes under test
BODY_TIMEOUT = 2.0
SECRET = "limits-test-secret-0123456789"
LIMIT_LINE = "connection limit reached"
HEAD = b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
PER_CONNECTION = 3  # the API's requests per kept-alive connection


def _limits_env(**extra: object) -> dict[str, str]:
    env = {
        "STADSPULS_ENVIRONMENT": "test",
        "STADSPULS_HTTP_HEADER_TIMEOUT_SECONDS": str(TIMEOUT),
        "STADSPULS_HTTP_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        "STADSPULS_HTTP_KEEPALIVE_TIMEOUT_SECONDS": str(int(TIMEOUT)),
    }
    return env | {f"STADSPULS_{k.upper()}": str(v) for k, v in extra.items()}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """The read API on an empty SQLite read model, with short timeouts."""
    work = tmp_path_factory.mktemp("limits-api")
    url = f"sqlite:///{work / 'api.db'}"
    upgrade(url)
    env = _limits_env(database_url=url, http_max_requests_per_connection=PER_CONNECTION)
    service = ServiceProcess("api", env, work / "api.log").start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, str]]:
    """Ingest with a source key and no Kafka (dry runs answer without it); the service and key."""
    work = tmp_path_factory.mktemp("limits-ingest")
    url = f"sqlite:///{work / 'ingest.db'}"
    upgrade(url)
    engine = make_engine(url)
    settings = Settings(database_url=url, key_secret=SecretStr(SECRET))
    key = create_key(engine, settings, "utbildningsforvaltningen", "limits")[1]
    engine.dispose()
    env = _limits_env(
        database_url=url,
        key_secret=SECRET,
        ingest_raw_validator="false",
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        ingest_publish_timeout_seconds=1,
    )
    service = ServiceProcess("ingest", env, work / "ingest.log").start()
    # A broker that is down is not a wrong setting: ingest starts, says so, and answers 503.
    assert "starts without Kafka for now" in service.log_tail()
    yield service, key
    service.stop()


def connect(service: ServiceProcess) -> socket.socket:
    """A raw TCP connection to the service."""
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (30 s at most)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def read_answer(sock: socket.socket) -> bytes:
    """One answer with a Content-Length body, leaving the connection open."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def status(answer: bytes) -> int:
    """The status code of a raw answer."""
    return int(answer.split(b" ", 2)[1])


def resident_mb(service: ServiceProcess) -> float:
    """The service's resident memory."""
    assert service.proc is not None
    for line in Path(f"/proc/{service.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("name", ["api", "ingest"])
def test_a_head_over_the_limit_is_431_and_closed(name: str, request: pytest.FixtureRequest) -> None:
    started = request.getfixturevalue(name)
    service = started if isinstance(started, ServiceProcess) else started[0]
    limit = Settings().http_max_header_bytes
    with connect(service) as sock:
        sock.sendall(HEAD + b"X-Fill: " + b"a" * (limit - 200) + b"\r\n\r\n")
        assert status(read_answer(sock)) == 200  # just under the limit
    with connect(service) as sock:
        sock.sendall(HEAD + b"X-Fill: " + b"a" * limit + b"\r\n\r\n")
        answer = read_until_closed(sock)
    assert status(answer) == 431
    assert b"connection: close" in answer
    assert str(limit).encode() in answer.partition(b"\r\n\r\n")[2]


def test_an_endless_header_is_cut_off_without_growing_memory(api: ServiceProcess) -> None:
    before = resident_mb(api)
    sent, answer = 0, b""
    with connect(api) as sock:
        sock.sendall(HEAD + b"X-Endless: ")
        chunk = b"a" * 65536
        try:
            while sent < 200 * 1024 * 1024 and b"\r\n\r\n" not in answer:
                sock.sendall(chunk)
                sent += len(chunk)
                if select.select([sock], [], [], 0)[0]:
                    answer += sock.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer += read_until_closed(sock)
    assert status(answer) == 431
    assert sent < 200 * 1024 * 1024  # the server answered long before the client gave up
    assert resident_mb(api) - before < 30


def test_headers_that_stop_halfway_are_408_after_the_header_timeout(api: ServiceProcess) -> None:
    with connect(api) as sock:
        started = time.monotonic()
        sock.sendall(HEAD)  # and never the blank line
        answer = read_until_closed(sock)
        waited = time.monotonic() - started
    assert status(answer) == 408
    assert waited >= TIMEOUT * 0.9


def test_a_head_sent_a_byte_at_a_time_still_ends_at_the_header_timeout(
    api: ServiceProcess,
) -> None:
    # The header timeout bounds the whole head, not each pause: a slow drip does not hold it open.
    drip = HEAD + b"X-Slow: " + b"a" * 100
    answer = b""
    with connect(api) as sock:
        started = time.monotonic()
        for byte in drip:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            if select.select([sock], [], [], 0.1)[0]:
                break
        else:
            pytest.fail("the server read a 10 s drip of header bytes without answering")
        answer = read_until_closed(sock)
        waited = time.monotonic() - started
    assert status(answer) == 408
    assert waited >= TIMEOUT * 0.9


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    api: ServiceProcess,
) -> None:
    with connect(api) as sock:
        started = time.monotonic()
        assert read_until_closed(sock) == b""  # nothing was asked, nothing is answered
        assert time.monotonic() - started >= TIMEOUT * 0.9


def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(
    api: ServiceProcess,
) -> None:
    with connect(api) as sock:
        sock.sendall(HEAD + b"\r\n")
        assert status(read_answer(sock)) == 200
        sock.sendall(HEAD + b"\r\n")  # kept alive: a second request on the same connection
        assert status(read_answer(sock)) == 200
        idle_from = time.monotonic()
        assert read_until_closed(sock) == b""
        assert time.monotonic() - idle_from >= TIMEOUT * 0.9


def test_a_connection_is_closed_after_its_last_allowed_request_and_the_next_one_is_served(
    api: ServiceProcess,
) -> None:
    with connect(api) as sock:
        for _ in range(PER_CONNECTION - 1):
            sock.sendall(HEAD + b"\r\n")
            answer = read_answer(sock)
            assert status(answer) == 200
            assert b"connection: close" not in answer.lower()
        sock.sendall(HEAD + b"\r\n")
        last = read_answer(sock)
        assert status(last) == 200
        assert b"connection: close" in last.lower()
        closed_from = time.monotonic()
        assert read_until_closed(sock) == b""
        assert time.monotonic() - closed_from < TIMEOUT * 0.9  # at once, not by the idle timer
    with connect(api) as sock:  # the client's new connection is served as any other
        sock.sendall(HEAD + b"\r\n")
        assert status(read_answer(sock)) == 200


def _post(key: str, length: int) -> bytes:
    return (
        f"POST /v1/observations?dry_run=true HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}"
        f"\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


BATCH = orjson.dumps({"observations": [share_row()]})


def test_a_stalled_body_is_408_after_the_body_timeout(
    ingest: tuple[ServiceProcess, str],
) -> None:
    service, key = ingest
    with connect(service) as sock:
        sock.sendall(_post(key, len(BATCH)) + BATCH[:20])
        stalled_at = time.monotonic()
        answer = read_until_closed(sock)
        waited = time.monotonic() - stalled_at
    assert status(answer) == 408
    assert waited >= BODY_TIMEOUT * 0.9
    assert "Traceback" not in service.log_tail(200)


def test_a_slow_body_that_keeps_coming_is_read_to_its_end(
    ingest: tuple[ServiceProcess, str],
) -> None:
    # The body timeout bounds each pause, not the whole body: 1.5 × the timeout in all is fine.
    service, key = ingest
    pieces = [BATCH[i : i + 16] for i in range(0, len(BATCH), 16)]
    pause = 1.5 * BODY_TIMEOUT / len(pieces)
    assert pause < BODY_TIMEOUT / 4
    with connect(service) as sock:
        sock.sendall(_post(key, len(BATCH)))
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(pause)  # the slow client under test, not a wait for the server
        answer = read_answer(sock)
    assert status(answer) == 200, answer
    assert orjson.loads(answer.partition(b"\r\n\r\n")[2])["accepted"] == 1


@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[ServiceProcess]:
    """The API allowing 3 connections, which stay open for a while when idle."""
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    env = _limits_env(
        database_url=url,
        http_max_connections=3,
        http_header_timeout_seconds=30,
        http_keepalive_timeout_seconds=30,
    )
    service = ServiceProcess("api", env, tmp_path / "api.log").start()
    yield service
    service.stop()


def test_connections_over_the_limit_are_503_with_retry_after_and_one_log_line(
    crowded: ServiceProcess,
) -> None:
    held = [connect(crowded) for _ in range(3)]
    try:
        for sock in held:  # a full exchange: the server has surely accepted each of them
            sock.sendall(HEAD + b"\r\n")
            assert status(read_answer(sock)) == 200
        refused = []
        for _ in range(4):
            with httpx.Client(base_url=crowded.url, timeout=10) as client:
                refused.append(client.get("/healthz"))
        assert [r.status_code for r in refused] == [503] * 4
        assert {r.headers["retry-after"] for r in refused} == {"5"}
        assert refused[0].text == "too many connections; retry after 5 s\n"
        wait_for(lambda: LIMIT_LINE in crowded.log_tail(200), timeout=10, what="the log line")
        lines = [line for line in crowded.log_tail(200).splitlines() if LIMIT_LINE in line]
        assert len(lines) == 1, lines
        assert "WARNING stadspuls.http" in lines[0]
        assert "STADSPULS_HTTP_MAX_CONNECTIONS=3" in lines[0]
    finally:
        for sock in held:
            sock.close()

    def served() -> bool:
        return httpx.get(f"{crowded.url}/healthz", timeout=5).status_code == 200

    wait_for(served, timeout=20, what="the API to serve again once connections closed")


def test_the_open_files_limit_is_raised_to_what_the_connection_limit_needs(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = open_files_needed(2000)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard open-files limit {hard} is below {needed}")
    low = min(soft, 512)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:  # the child inherits the low soft limit
        service = ServiceProcess(
            "api", _limits_env(database_url=url, http_max_connections=2000), tmp_path / "api.log"
        ).start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert service.proc is not None
        limits = Path(f"/proc/{service.proc.pid}/limits").read_text()
        row = next(line for line in limits.splitlines() if line.startswith("Max open files"))
        assert int(row.split()[3]) == needed
    finally:
        service.stop()


def test_uvicorns_own_command_line_gets_the_limits_through_the_environment_protocol(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade(url)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "services.api.app:app_from_environment",
        "--workers",
        "2",
        "--http",
        "shared.http_server:environment_protocol",
        "--ws",
        "none",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    env = {**os.environ, **_limits_env(database_url=url)}
    with (tmp_path / "uvicorn.log").open("wb") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: httpx.get(f"{base}/healthz").status_code == 200,
            timeout=60,
            ignore=(httpx.HTTPError,),
            what="uvicorn workers",
        )
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(HEAD + b"X-Fill: " + b"a" * Settings().http_max_header_bytes + b"\r\n\r\n")
            assert status(read_until_closed(sock)) == 431
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            assert read_until_closed(sock) == b""  # the header timeout; uvicorn has none
    finally:
        stop_process(proc)
