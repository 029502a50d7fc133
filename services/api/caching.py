"""Cacheable answers: the revisions of what an answer reads make its ETag and keep its memo.

Every aggregator commit bumps `read_model_state.revision` in its one row (a batch also sets
`committed_at`, a projection `refreshed_at`) and, in the same transaction, the revision of each
answer key it changed (`answer_revisions`: `status:<indicator>`, `areas:<area>`, `rows:<area>`, …;
`shared.readmodel.revisions`). A route that names the keys its answer reads has an answer that is
a pure function of (those keys' revisions, catalog, URL, representation, reader's view), so a
commit about something else keeps its ETag and memo; a route that names none follows the global
revision. The ETag hashes those, the state (both revisions) is read by one background thread, and
each replica keeps a small memo of rendered answers per URL and view, valid while the revisions
it was rendered at are current: a replica holds no state another one needs.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Connection, Engine, select
from starlette.concurrency import run_in_threadpool

from shared.db.schema import CLOCK_SKEW, ROW_TIME_SLACK, read_model_state
from shared.domain.observation import as_utc
from shared.domain.validation import iso_utc
from shared.readmodel.revisions import GENERATION, read_revisions

CACHE_CONTROL = "public, max-age=15"
PRIVATE_CACHE_CONTROL = "private, max-age=15"  # answers to token holders
GZIP_MIN = 1024
STATE_MAX_AGE = 0.25  # seconds an answer may lag the newest commit
NO_STORE = "no-store"


@dataclass(frozen=True)
class ReadState:
    """What the read model reflects: its revision, newest received_at and last commit."""

    revision: int
    data_as_of: datetime | None
    committed_at: datetime | None
    refreshed_at: datetime | None = None  # the last projection (they also run on a timer)
    revisions: Mapping[str, tuple[int, datetime]] = field(default_factory=dict)  # per answer key

    @property
    def tag(self) -> str:
        """A short text that changes with every commit, also after a rebuild from scratch."""
        moments = (self.committed_at, self.refreshed_at)
        return f"{self.revision}|" + "|".join(m.isoformat() if m else "-" for m in moments)

    def tag_of(self, keys: Sequence[str]) -> str:
        """A short text that changes when a commit changes one of `keys` (or a rebuild ran)."""
        shown = []
        for key in (GENERATION, *keys):
            revision, changed_at = self.revisions.get(key, (0, None))
            shown.append(f"{key}={revision}@{changed_at.isoformat() if changed_at else '-'}")
        return "|".join(shown)

    def header(self) -> str | None:
        """`X-Data-As-Of`: RFC 3339 in UTC, or None while nothing is known."""
        return rfc3339(self.data_as_of) if self.data_as_of else None

    def changes_as_of(self) -> datetime | None:
        """The next `changed_since` of a client that saw this state: every change not visible
        yet is stamped at or after it (the last commit, less the slack of rows and clocks)."""
        if self.committed_at is None:
            return None
        return as_utc(self.committed_at) - ROW_TIME_SLACK - CLOCK_SKEW


def rfc3339(moment: datetime) -> str:
    """RFC 3339 text in UTC with `Z` (SQLite hands back naive UTC datetimes)."""
    return iso_utc(as_utc(moment))


def read_state(conn: Connection) -> ReadState:
    """The read model's state from its one row (revision 0 while the aggregator wrote nothing)."""
    state = read_model_state.c
    row = conn.execute(
        select(state.revision, state.data_as_of, state.committed_at, state.refreshed_at).where(
            state.id == 1
        )
    ).first()
    revisions = read_revisions(conn)
    if row is None:
        return ReadState(0, None, None, revisions=revisions)
    return ReadState(
        int(row.revision), row.data_as_of, row.committed_at, row.refreshed_at, revisions
    )


class StateCache:
    """The read state, refreshed every `max_age` seconds by a background thread.

    Requests read the newest state without waiting, so answers may lag a commit by about
    `max_age`; in exchange a request that the client's copy (304) or the memo can answer touches no
    database and never waits for a worker thread (which, next to a busy event loop, can take long
    to get the GIL). Until the thread has read once, or after a failed read, requests read it
    themselves, so a database failure surfaces as an error, never as a silently frozen state.
    """

    def __init__(self, engine: Engine, max_age: float) -> None:
        self.engine = engine
        self.max_age = max_age
        self._state: ReadState | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self) -> ReadState:
        """Read the state from the database now."""
        with self.engine.connect() as conn:
            return read_state(conn)

    def _refresh(self) -> None:
        while not self._stop.is_set():
            try:
                self._state = self.read()
            except Exception:  # the next request reads it itself and reports the failure
                self._state = None
            self._stop.wait(self.max_age)

    def start(self) -> None:
        """Start refreshing in the background."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._refresh, name="read-state", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop refreshing."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._state = None

    def peek(self) -> ReadState | None:
        """The newest state the thread read, if it has one."""
        return self._state

    async def current(self) -> ReadState:
        """The newest state read, or one read now when there is none."""
        state = self._state
        if state is not None:
            return state
        return await run_in_threadpool(self.read)


def make_etag(
    state: ReadState, catalog_tag: str, variant: str, keys: Sequence[str] | None = None
) -> str:
    """A weak ETag for one representation of one resource at the revisions of `keys` (None:
    at the read model's revision)."""
    tag = state.tag if keys is None else state.tag_of(keys)
    digest = hashlib.blake2b(f"{tag}|{catalog_tag}|{variant}".encode(), digest_size=12).hexdigest()
    return f'W/"{digest}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """True when an If-None-Match header names `etag` (weak comparison) or is `*`."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


@dataclass(frozen=True)
class Rendered:
    """A rendered answer body with its media type and the headers that depend on the body."""

    body: bytes
    media_type: str
    headers: tuple[tuple[str, str], ...] = ()
    route: str = ""  # the route template that rendered it (for metrics when it is replayed)
    gzipped: bytes | None = None  # the body gzip-compressed, for clients that accept it
    etag: str = ""  # the ETag it was rendered under (memoised answers are valid while it holds)
    keys: tuple[str, ...] | None = None  # the answer keys it reads (None: the global revision)

    @property
    def size(self) -> int:
        """Bytes held."""
        return len(self.body) + len(self.gzipped or b"")

    def compressed(self) -> Rendered:
        """The same answer with its gzip form beside it (bodies of 1 KiB or more)."""
        if len(self.body) < GZIP_MIN:
            return self
        return replace(self, gzipped=gzip.compress(self.body, compresslevel=6, mtime=0))


class AnswerMemo:
    """A bounded LRU of rendered answers keyed by URL and view (thread-safe; sized in bytes)."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024, max_entry: int = 8 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.max_entry = max_entry
        self._items: OrderedDict[str, Rendered] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Rendered | None:
        """The memoised answer for `key`, if any."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: str, answer: Rendered) -> None:
        """Remember an answer, evicting the least recently used beyond the byte budget."""
        size = answer.size
        if size > self.max_entry or self.max_bytes <= 0:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= old.size
            self._items[key] = answer
            self._size += size
            while self._size > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._size -= dropped.size
