"""Property: at any knowledge time T, the read API's `as_of=T` answers equal the oracle over the
versions received by T.

Hypothesis draws sequences of observations, corrections, late older versions, exact repeats and
retractions over four indicators (ratio, level, count; years and tertials), areas of every level
in and around the 2020 reorganisation (Hägersten-Liljeholmen and Älvsjö until 2020-06-30,
Hägersten-Älvsjö from 2020-07-01, their stadsdelar moving between them) and every gender. They are
applied through the aggregator's own store and projections to a real SQLite read model, batch by
batch in the order received, and the API app answers in-process. At random times (exact arrival
times among them, since `received_at ≤ as_of` counts) series, versions, indicator statuses (city
and area), etappmål, nämnd rollups and area profiles must equal `tests.oracle_as_of`. In the second
property a changed catalog (Långbro in Hägersten-Liljeholmen before 2020-07-01, Rinkeby in
Spånga-Tensta, another target) takes effect midway as a worker's start makes it: a time before it
is judged with the old catalog, a time after with the new, and the present read model (its rollups
re-projected at the change) equals the oracle under the new catalog over every version.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from services.aggregate.catalog_start import take_effect
from services.api.app import create_app
from shared.catalog.loader import CATALOG_PATH, load_catalog_text
from shared.db.engine import make_engine
from shared.db.schema import metadata
from shared.domain.areas import valid_in
from shared.domain.catalog import Gender, Kind
from shared.domain.observation import Observation, ObservationStatus
from shared.readmodel.projections import Projector
from shared.readmodel.store import SeriesStore
from shared.settings import Settings
from tests.integration.as_of_checks import check_all, check_series
from tests.oracle_as_of import OracleAt

TEXT = CATALOG_PATH.read_text(encoding="utf-8")
CATALOG = load_catalog_text(TEXT)
# Långbro in Hägersten-Liljeholmen before 2020-07-01, Rinkeby in Spånga-Tensta, another target
LANGBRO = "{id: langbro, name: Långbro, level: stadsdel, parents: [{id: alvsjo,"
RINKEBY = "{id: rinkeby, name: Rinkeby, level: stadsdel, parent: rinkeby-kista}"
CHANGED_TEXT = (
    TEXT.replace(LANGBRO, LANGBRO.replace("alvsjo,", "hagersten-liljeholmen,"))
    .replace(RINKEBY, RINKEBY.replace("rinkeby-kista}", "spanga-tensta}"))
    .replace("target: {value: 92.0, year: 2030", "target: {value: 95.0, year: 2030")
)
CHANGED = load_catalog_text(CHANGED_TEXT)
PERIODS = {
    "behorighet-gymnasiet-ak9": ("2019", "2020", "2021"),  # ratio; 2019 in the old tree
    "meritvarde-ak9": ("2019", "2021"),  # level, with a baseline and a target
    "jobbtorg-till-arbete-studier": ("2019-T3", "2020-T1", "2020-T2"),  # T2 ends in the new tree
    "paborjade-bostader": ("2020-T1", "2020-T2", "2021-T1"),  # count, T only
}
AREAS = (
    "stockholm",
    "hagersten-liljeholmen",
    "alvsjo",
    "hagersten-alvsjo",
    "aspudden",
    "liljeholmen",
    "alvsjo-stadsdel",
    "langbro",
    "rinkeby-kista",
    "rinkeby",
)
START = datetime(2022, 1, 15, 8, tzinfo=UTC)  # after every period drawn ends
SERIES = tuple(
    (ind, area, period, gender.value)
    for ind, periods in PERIODS.items()
    for period in periods
    for area in AREAS
    if CATALOG.area[area].level in CATALOG.indicator[ind].area_levels
    and valid_in(CATALOG.area[area], period)
    for gender in CATALOG.indicator[ind].genders
)
EXAMPLES = settings(
    max_examples=10,
    deadline=None,
    database=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate),  # an example takes a second or two: no shrinking
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def versions(draw: st.DrawFn, received_at: datetime) -> Observation:
    """One version of a drawn series received at `received_at`, perhaps made earlier."""
    indicator, area, period, gender = draw(st.sampled_from(SERIES))
    ind = CATALOG.indicator[indicator]
    made = received_at - timedelta(days=draw(st.sampled_from((0, 0, 0, 1, 40))))
    base: dict[str, Any] = {
        "observation_id": uuid.UUID(int=draw(st.integers(0, 2**128 - 1))),
        "source": "test",
        "received_at": received_at,
        "updated_at": made,
        "indicator": indicator,
        "area": area,
        "period": period,
        "gender": Gender(gender),
        "status": draw(
            st.sampled_from([ObservationStatus.FINAL] * 3 + [ObservationStatus.PRELIMINARY])
        ),
    }
    if draw(st.integers(0, 5)) == 0:
        return Observation(**base, retract=True)
    if ind.kind is Kind.RATIO:
        den = float(draw(st.integers(20, 400)))
        num = float(draw(st.integers(0, int(den))))
        return Observation(
            **base, value=ind.ratio_scale * num / den, numerator=num, denominator=den
        )
    if ind.kind is Kind.COUNT:
        return Observation(**base, value=float(draw(st.integers(0, 900))))
    return Observation(**base, value=float(draw(st.integers(1800, 2900))) / 10)


@st.composite
def histories(draw: st.DrawFn) -> list[Observation]:
    """Versions in the order received, over about two years, with exact repeats (redeliveries)."""
    gaps = draw(st.lists(st.integers(0, 60 * 24 * 90), min_size=1, max_size=30))
    events: list[Observation] = []
    moment = START
    for gap in gaps:
        moment += timedelta(minutes=gap, seconds=1)
        if events and draw(st.integers(0, 9)) == 0:
            events.append(draw(st.sampled_from(events)))  # the same version delivered again
        else:
            events.append(draw(versions(moment)))
    return events


@contextmanager
def read_model(
    events: list[Observation], batches: list[int], switch: datetime | None = None
) -> Iterator[TestClient]:
    """`events` applied in batches by the aggregator's store to a new SQLite read model, under
    the bundled catalog in force from before the first; with `switch`, `CHANGED` takes effect then
    (as a worker starting with it does) and applies the versions received after; the API."""
    with tempfile.TemporaryDirectory(prefix="stadspuls-as-of-oracle-") as folder:
        url = f"sqlite:///{Path(folder) / 'read-model.db'}"
        engine = make_engine(url)
        metadata.create_all(engine)
        paths = [Path(folder) / name for name in ("a.yaml", "b.yaml")]
        for path, text in zip(paths, (TEXT, CHANGED_TEXT), strict=True):
            path.write_text(text, encoding="utf-8")
        take_effect(engine, paths[0], CATALOG, START - timedelta(days=1))
        later = [switch is not None and e.received_at > switch for e in events]
        split = later.index(True) if True in later else len(events)
        sizes = iter(batches)
        catalog = CATALOG
        for after, part in enumerate((events[:split], events[split:])):
            if after:
                if switch is None:
                    break
                take_effect(engine, paths[1], CHANGED, switch)
                catalog = CHANGED
            store, projector = SeriesStore(engine, catalog), Projector(catalog)
            while part:
                size = next(sizes, len(part))
                store.apply(part[:size], projector)
                part = part[size:]
        app = create_app(Settings(database_url=url), engine=engine, catalog=catalog)
        try:
            with TestClient(app) as client:
                yield client
        finally:
            engine.dispose()


def _times(events: list[Observation], data: st.DataObject) -> list[datetime]:
    """Before the first version, at some arrivals exactly, and some time after the last."""
    arrivals = sorted({e.received_at for e in events})
    return [
        arrivals[0] - timedelta(seconds=1),
        *data.draw(st.lists(st.sampled_from(arrivals), min_size=1, max_size=2), label="at"),
        arrivals[-1] + timedelta(days=data.draw(st.integers(0, 900), label="later")),
    ]


@EXAMPLES
@given(histories(), st.data())
def test_as_of_answers_equal_the_oracle_over_what_was_received(
    events: list[Observation], data: st.DataObject
) -> None:
    batches = data.draw(st.lists(st.integers(1, 8), max_size=8), label="batches")
    with read_model(events, batches) as client:
        for moment in _times(events, data):
            check_all(client, events, moment, CATALOG, PERIODS)


@settings(EXAMPLES, max_examples=4)
@given(histories(), st.data())
def test_as_of_answers_use_the_catalog_in_force_then(
    events: list[Observation], data: st.DataObject
) -> None:
    # a changed tree (before and after 2020-07-01) and target take effect at a worker's start
    batches = data.draw(st.lists(st.integers(1, 8), max_size=8), label="batches")
    arrivals = sorted({e.received_at for e in events})
    switch = data.draw(st.sampled_from(arrivals), label="switch") + timedelta(milliseconds=500)
    with read_model(events, batches, switch) as client:
        for moment in [*_times(events, data), switch]:
            check_all(client, events, moment, CHANGED if moment >= switch else CATALOG, PERIODS)
        # the present: rolled up under the new catalog, re-projected rows and later batches alike
        check_series(client, OracleAt(CHANGED, events, datetime.now(UTC)), None, PERIODS)
