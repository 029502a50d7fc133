"""`as_of` and `rapport=`: the context of a request about a past knowledge time.

The routes take their context from `deps.get_context`; with `as_of` or `rapport` it is this
module's: the same context over a read model of that moment and the catalog in force then. A few
built models are kept (least recently used out), so the pages of one answer and the answers of one
report compute the moment once; concurrent requests for a moment not built yet wait for one build,
and moments are built one at a time (a build holds its rows in memory). A moment is derived from
the kept one of the same catalog that differs from it by the fewest versions (`past.derive`: only
the groups whose counted versions differ are computed again), and built from the versions alone
(`past.build`) when none is kept.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine

from services.api.answers import Answers
from services.api.caching import ReadState, StateCache
from services.api.deps import ApiContext
from services.api.errors import ApiError, bad_parameter, not_found
from services.api.past import Moment, PastModel, build, counted_by, derive
from services.api.profiles import known_areas
from services.api.rapporter import find
from shared.catalog.loader import CatalogLoadError, catalog_document, load_catalog_text
from shared.db.catalog_versions import catalog_answering, catalog_text
from shared.domain.catalog import Catalog
from shared.domain.knowledge_time import TimeTextError, parse_knowledge_time
from shared.domain.observation import utcnow

KEPT = 4  # built read models kept
GRACE = 30.0  # seconds a retired model stays on disk for the requests still reading it…
RETIRED = 4  # …unless more retired ones than this wait


def catalog_tag(document: dict[str, Any]) -> str:
    """A short hash of a catalog document (part of every ETag)."""
    return hashlib.blake2b(orjson.dumps(document), digest_size=8).hexdigest()


def parse_past_time(name: str, text: str, now: datetime, future: str) -> datetime:
    """Query parameter `name`: an RFC 3339 time not after `now`, in UTC
    (`shared.domain.knowledge_time`); else 400 naming it, saying `future` of a later one."""
    try:
        moment = parse_knowledge_time(text)
    except TimeTextError as exc:
        raise bad_parameter(name, str(exc)) from None
    if moment > now:
        raise bad_parameter(name, f"{text} is in the future; {future}")
    return moment


def _moment(engine: Engine, as_of: datetime) -> Moment:
    """The moment of `as_of`: the versions received by then, as many as are recorded now."""
    last, counted = counted_by(engine, as_of)
    return Moment(as_of, last, counted=counted)


class FixedState(StateCache):
    """The read state of a past model: it never changes."""

    def __init__(self, state: ReadState) -> None:
        super().__init__(None, 0)  # type: ignore[arg-type]
        self._fixed = state

    def read(self) -> ReadState:
        """The fixed state."""
        return self._fixed

    def peek(self) -> ReadState | None:
        """The fixed state."""
        return self._fixed

    async def current(self) -> ReadState:
        """The fixed state."""
        return self._fixed


class PastContexts:
    """Contexts of past moments, built on demand and a few kept."""

    def __init__(self, base: ApiContext, kept: int = KEPT, grace: float = GRACE) -> None:
        self.base = base
        self.kept = kept
        self.grace = grace
        self.deriving = True  # False: every moment built from the versions alone (benchmarks)
        self.eager = False  # True: every summary projected when a moment is made (tests)
        self._models: OrderedDict[tuple[Any, ...], ApiContext] = OrderedDict()
        self._closers: dict[tuple[Any, ...], PastModel] = {}
        # out of the kept ones (since when): deleted at a retirement `grace` seconds later
        self._retired: list[tuple[float, PastModel]] = []
        self._catalogs: dict[str, Catalog] = {}
        self._lock = threading.Lock()  # guards the dictionaries, never held during a build
        self._gates: dict[tuple[Any, ...], threading.Lock] = {}  # per moment being built
        self._building = threading.Lock()

    def context(self, as_of: str | None, rapport: str | None) -> ApiContext:
        """The context of `as_of` or of report `rapport` (blocking: it may replay versions)."""
        engine = self.base.engine
        if as_of is not None and rapport is not None:
            raise bad_parameter("rapport", "give as_of or rapport, not both")
        if rapport is not None:
            if not rapport:
                raise bad_parameter("rapport", "give a report's id (GET /v1/rapporter lists them)")
            found = find(engine, rapport)
            if found is None:
                raise not_found("rapport", rapport, "GET /v1/rapporter")
            moment = Moment(found.as_of, found.last_version_id, found.positions)
            sha = found.catalog_sha256
        else:
            assert as_of is not None
            told = parse_past_time("as_of", as_of, utcnow(), "the present is the answer")
            moment = _moment(engine, told)
            in_force = catalog_answering(engine, moment.as_of)
            sha = in_force[0] if in_force else None
        key = (moment, sha)
        with self._lock:
            kept = self._found(key)
            if kept is not None:
                return kept
            gate = self._gates.setdefault(key, threading.Lock())
        # one build per moment, one at a time (its rows are held in memory while it is built);
        # answers of moments built already are not held up meanwhile
        with gate, self._building:
            with self._lock:
                kept = self._found(key)
            if kept is not None:
                return kept
            try:
                catalog = self._catalog(sha)
                with self.base.metrics.past_build.time():
                    model = self._built(moment, sha, catalog)
                context = self._keep(key, model, moment, catalog)
            finally:
                with self._lock:
                    self._gates.pop(key, None)
            return context

    def _keep(
        self, key: tuple[Any, ...], model: PastModel, moment: Moment, catalog: Catalog
    ) -> ApiContext:
        """Keep a built model's context; the least recently used beyond `kept` is retired."""
        context = self._context(model, moment, catalog)
        with self._lock:
            self._models[key] = context
            self._closers[key] = model
            while len(self._models) > self.kept:
                # A request may still be reading a model it was handed before it was retired, so
                # a retired model is deleted only at a later retirement, `grace` seconds after its
                # own or once RETIRED others wait (a derived moment takes a fraction of a second
                # to build, so that bounds the disk the waiting ones take).
                now = time.monotonic()
                old, _ = self._models.popitem(last=False)
                waiting = [*self._retired, (now, self._closers.pop(old))]
                crowded = len(waiting) - RETIRED  # the oldest this many are due whatever their age
                due = [
                    i < crowded or (i < len(waiting) - 1 and now - t >= self.grace)
                    for i, (t, _) in enumerate(waiting)
                ]
                for (_, retired), gone in zip(waiting, due, strict=True):
                    if gone:
                        retired.close()
                self._retired = [w for w, gone in zip(waiting, due, strict=True) if not gone]
        return context

    def _built(self, moment: Moment, sha: str | None, catalog: Catalog) -> PastModel:
        """The model of `moment`: derived from the nearest kept moment of the same catalog, else
        built from the versions. Called under `_building`, so no kept model is retired meanwhile."""
        engine = self.base.engine
        with self._lock:
            kept = [(model.moment, model) for key, model in self._closers.items() if key[1] == sha]
        if not kept or not self.deriving:
            return build(engine, moment, catalog, self.eager)
        self.base.metrics.past_derived.inc()
        return derive(engine, moment, catalog, kept, self.eager)

    def _found(self, key: tuple[Any, ...]) -> ApiContext | None:
        """The context of a moment built already (it becomes the most recently used)."""
        if key not in self._models:
            return None
        self._models.move_to_end(key)
        return self._models[key]

    def close(self) -> None:
        """Delete every built model."""
        with self._lock:
            for model in [*self._closers.values(), *(m for _, m in self._retired)]:
                model.close()
            self._models.clear()
            self._closers.clear()
            self._retired.clear()

    def _catalog(self, sha: str | None) -> Catalog:
        """The recorded catalog of that hash; the running one when none was recorded."""
        if sha is None:
            return self.base.catalog
        if sha not in self._catalogs:
            text = catalog_text(self.base.engine, sha)
            try:
                self._catalogs[sha] = load_catalog_text(text) if text else self.base.catalog
            except CatalogLoadError as exc:  # recorded by an older version, refused by this one
                raise ApiError(
                    500,
                    f"the catalog in force then (sha256 {sha[:12]}…) was recorded by a version "
                    f"that read it and cannot be read by this one, so answers of that time "
                    f"cannot be computed here: {str(exc)[:300]}",
                ) from None
        return self._catalogs[sha]

    def _context(self, model: PastModel, moment: Moment, catalog: Catalog) -> ApiContext:
        base = self.base
        if catalog is base.catalog:
            document, tag = base.catalog_document, base.answers.catalog_tag
        else:
            document = catalog_document(catalog)
            tag = catalog_tag(document)
        state = FixedState(model.state)
        answers = Answers(
            model.engine,
            tag,
            base.answers.memo,
            state,
            keyed=False,
            on_render=base.answers.on_render,
        )
        return replace(
            base,
            catalog=catalog,
            engine=model.engine,
            answers=answers,
            catalog_document=document,
            indicator_entries={e["id"]: e for e in document["indikatorer"]},
            areas=known_areas(catalog),
            past_of=(base.engine, moment),
            projected=False,  # its other areas' statuses are computed on request
        )
