"""Who reads what: reader tokens, OIDC tokens and STADSPULS_API_ANONYMOUS over real HTTP.

One read model per database (SQLite and PostgreSQL) is built by the aggregator's own store and
projections from two years of the Stockholm data set in which a few series carry a later,
preliminary version with a value whose text appears nowhere else. Under `final` the walk visits
every list (JSON and CSV, every page) and every detail endpoint as anonymous, with a reader token
and with an OIDC token.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from bench.api.dataset import Dataset, load
from bench.api.server import serving
from services.api.app import create_app
from services.api.readers import create_reader, revoke_reader
from shared.catalog.loader import default_catalog
from shared.db.engine import make_engine, upgrade
from shared.domain.catalog import Catalog, Kind
from shared.domain.observation import Observation, ObservationStatus
from shared.domain.periods import parse_period
from shared.domain.risk import eligible
from shared.infra.postgres import LocalPostgres
from shared.infra.wait import wait_for
from shared.settings import Settings
from tests.integration.readers_helpers import AUDIENCE, ISSUER, KeySet, jwks_server

SECRET = "a-test-secret-for-readers"
SHARE = "behorighet-gymnasiet-ak9"
PAGE = 5000
# What an unpublished item must not show to an anonymous reader (when it has the field).
WITHHELD = (
    "value",
    "numerator",
    "denominator",
    "computed_value",
    "reported_value",
    "comment",
    "status",
    "trend",
    "reason",
    "latest_value",
    "latest_period",
    "area_value",
    "city_value",
    "gap",
    "compared_to_city",
    "composite",
    "rank",
    "sociala_riskfaktorer",
    "halsa",
    "sakerhet_trygghet",
    "forsorjning",
)


@dataclass
class Model:
    """A loaded read model and the preliminary values hidden in it."""

    url: str
    engine: Engine
    catalog: Catalog
    secret_values: list[str]  # the text of every preliminary reported value


def _preliminary(catalog: Catalog, obs: Observation, n: int) -> Observation:
    """A later, preliminary version of `obs` with a value no other row has."""
    ind = catalog.indicator[obs.indicator]
    value = round(obs.value or 0.0, 1) + 0.0123457 * n
    update: dict[str, Any] = {"value": value}
    if ind.kind is Kind.RATIO and obs.denominator:
        update["numerator"] = value * obs.denominator / ind.ratio_scale
    return obs.model_copy(
        update=update
        | {
            "observation_id": uuid.uuid4(),
            "status": ObservationStatus.PRELIMINARY,
            "updated_at": obs.updated_at + timedelta(days=1),
            "received_at": obs.received_at + timedelta(days=1),
        }
    )


def _latest(observations: list[Observation], indicator: str, areas: set[str]) -> Observation:
    """The newest total observation of `indicator` for one of `areas`."""
    found = [o for o in observations if o.indicator == indicator and o.area in areas]
    found = [o for o in found if o.gender.value == "T" and o.value is not None]
    return max(found, key=lambda o: (parse_period(o.period), o.area))


def _database(kind: str, tmp: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'readers.db'}"
        return
    postgres: LocalPostgres = request.getfixturevalue("postgres")
    name = f"readers_{uuid.uuid4().hex[:10]}"
    yield postgres.create_database(name)
    postgres.drop_database(name)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def model(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Model]:
    """Two years of Stockholm data, a few series with a preliminary newest version."""
    catalog = default_catalog()
    stadsdelar = {a.id for a in catalog.omraden if a.level.value == "stadsdel"}
    for url in _database(request.param, tmp_path_factory.mktemp("readers"), request):
        upgrade(url)
        engine = make_engine(url)
        observations = list(Dataset(catalog, years=range(2024, 2026)).observations())
        targets = [
            _latest(observations, SHARE, {"rinkeby"}),
            _latest(observations, eligible(catalog)[0].id, stadsdelar),
        ]
        versions = [_preliminary(catalog, o, n + 1) for n, o in enumerate(targets)]
        load(engine, catalog, observations + versions)
        secrets = [repr(v.value) for v in versions]
        yield Model(url, engine, catalog, secrets)
        engine.dispose()


@pytest.fixture(scope="module")
def keys() -> Iterator[KeySet]:
    """An identity provider's key set on a local JWKS endpoint."""
    with jwks_server() as key_set:
        yield key_set


def settings_for(model: Model, keys: KeySet, anonymous: str, cache: float = 0.0) -> Settings:
    """The API's settings: this read model, this provider, this anonymous mode."""
    return Settings(
        database_url=model.url,
        key_secret=SecretStr(SECRET),
        api_anonymous=anonymous,  # type: ignore[arg-type]
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=keys.url,
        ingest_key_cache_seconds=cache,
    )


@contextmanager
def api(model: Model, settings: Settings, root_path: str = "") -> Iterator[httpx.Client]:
    """The API on the model with these settings (under `root_path`), and a client of it."""
    app = create_app(settings, engine=model.engine, catalog=model.catalog)
    with (
        serving(app, root_path=root_path) as base,
        httpx.Client(base_url=base, timeout=60) as http,
    ):
        yield http


def detail_urls(catalog: Catalog) -> list[str]:
    """Every detail endpoint for every id of the catalog."""
    areas = [a.id for a in catalog.omraden] + ["ytterstaden", "fokusomraden"]
    return [
        "/v1/catalog",
        *(f"/v1/indikatorer/{i.id}" for i in catalog.indikatorer),
        *(f"/v1/indikatorer/{i.id}?area=rinkeby" for i in catalog.indikatorer[:3]),
        *(f"/v1/etappmal/{g.id}" for g in catalog.etappmal),
        *(f"/v1/namnder/{n.id}" for n in catalog.namnder),
        *(f"/v1/omraden/{a}" for a in areas),
    ]


def list_urls(catalog: Catalog) -> list[str]:
    """Every list endpoint (per indicator and per area where it takes an id)."""
    areas = [a.id for a in catalog.omraden] + ["ytterstaden", "fokusomraden"]
    return [
        "/v1/indikatorer",
        "/v1/indikatorer?area=rinkeby",
        "/v1/etappmal",
        "/v1/etappmal?area=rinkeby",
        "/v1/namnder",
        "/v1/omraden",
        *(f"/v1/indikatorer/{i.id}/observationer?missing=true" for i in catalog.indikatorer),
        *(f"/v1/indikatorer/{i.id}/historik" for i in catalog.indikatorer),
        *(f"/v1/omraden/{a}/indikatorer" for a in areas),
    ]


def walk(http: httpx.Client, catalog: Catalog, headers: dict[str, str]) -> dict[str, bytes]:
    """Every answer of the walk by URL (lists: each page, JSON and CSV)."""
    bodies: dict[str, bytes] = {}
    for url in detail_urls(catalog):
        response = http.get(url, headers=headers)
        assert response.status_code == 200, (url, response.text)
        bodies[url] = response.content
    for url in list_urls(catalog):
        joiner = "&" if "?" in url else "?"
        for fmt in ("json", "csv"):
            offset, total = 0, None
            while total is None or offset < total:
                page = f"{url}{joiner}format={fmt}&limit={PAGE}&offset={offset}"
                response = http.get(page, headers=headers)
                assert response.status_code == 200, (page, response.text)
                bodies[page] = response.content
                total = int(response.headers["X-Total-Count"])
                offset += PAGE
    return bodies


def unpublished(node: Any) -> Iterator[dict[str, Any]]:
    """Every object of a JSON document that says `published: false`."""
    if isinstance(node, dict):
        if node.get("published") is False:
            yield node
        for value in node.values():
            yield from unpublished(value)
    elif isinstance(node, list):
        for value in node:
            yield from unpublished(value)


def csv_unpublished(body: bytes) -> Iterator[tuple[str, dict[str, str]]]:
    """(column prefix, row) for every `…published` cell of a CSV answer that is false."""
    for row in csv.DictReader(io.StringIO(body.decode("utf-8"))):
        for column, cell in row.items():
            if column.endswith("published") and cell == "false":
                yield column.removesuffix("published"), row


def is_csv(url: str) -> bool:
    return "format=csv" in url


def allowed(url: str, name: str) -> str | None:
    """A withheld field's one value that may show: a series row or a version says its status is
    preliminary."""
    series = "/observationer" in url or "/historik" in url
    return "preliminary" if name == "status" and series else None


@pytest.mark.slow_on("sqlite")  # the walk of every endpoint, four times; CI: PostgreSQL
def test_anonymous_under_final_sees_no_preliminary_value_a_token_holder_sees_all(
    model: Model, keys: KeySet
) -> None:
    with api(model, settings_for(model, keys, "final")) as http:
        token = create_reader(model.engine, SECRET, f"bi-{uuid.uuid4().hex[:6]}")
        anonymous = walk(http, model.catalog, {})
        reader = walk(http, model.catalog, {"Authorization": f"Bearer {token}"})
        oidc = walk(http, model.catalog, {"Authorization": f"Bearer {keys.token(key='ec')}"})
        again = walk(http, model.catalog, {})  # now partly from the replay memo
    assert again == anonymous
    assert oidc == reader  # both see all: the same answers
    for url, body in anonymous.items():
        text = body.decode("utf-8")
        for secret in model.secret_values:
            assert secret not in text, f"{url} shows the preliminary value {secret}"
        if is_csv(url):
            for prefix, row in csv_unpublished(body):
                for name in WITHHELD:
                    cell = row.get(prefix + name, "")
                    assert cell in ("", allowed(url, name)), (url, prefix + name, row)
            continue
        for item in unpublished(orjson.loads(body)):
            shown = {
                k: item[k]
                for k in WITHHELD
                if item.get(k) is not None and item[k] != allowed(url, k)
            }
            assert shown == {}, (url, shown)
            assert item.get("inputs") in (None, {}), url
            assert item.get("groups") in (None, []), url
        # the reader with a token is told the same things are unpublished, and sees their values
        assert text.count('"published":false') == reader[url].decode().count('"published":false')
    marked = sum(b.count(b'"published":false') for b in anonymous.values())
    assert marked > 0
    for needed in ("observationer", "historik", "indikatorer", "etappmal", "namnder", "omraden"):
        assert any(needed in url and b'"published":false' in b for url, b in anonymous.items()), (
            needed
        )
    everything = b"\n".join(reader.values()).decode("utf-8")
    for secret in model.secret_values:
        assert secret in everything, f"a token holder does not see {secret}"
    seen = [
        item
        for url, body in reader.items()
        if not is_csv(url) and "/observationer" in url
        for item in unpublished(orjson.loads(body))
    ]
    assert seen
    assert all(item["value"] is not None for item in seen if item["origin"] is not None)


def test_none_refuses_anonymous_readers_but_not_health_and_metrics(
    model: Model, keys: KeySet
) -> None:
    token = create_reader(model.engine, SECRET, f"ops-{uuid.uuid4().hex[:6]}")
    with api(model, settings_for(model, keys, "none")) as http:
        for url in ("/v1/etappmal", "/v1/catalog", "/v1/omraden?format=csv"):
            refused = http.get(url)
            assert refused.status_code == 401, url
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert "token" in refused.json()["detail"]
        for url in ("/healthz", "/readyz", "/metrics"):
            assert http.get(url).status_code == 200, url
        assert http.get("/v1/etappmal", headers=bearer(token)).status_code == 200
        assert http.get("/v1/etappmal", headers=bearer(keys.token())).status_code == 200


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_revoked_token_is_refused_without_restart(model: Model, keys: KeySet) -> None:
    name = f"revoked-{uuid.uuid4().hex[:6]}"
    with api(model, settings_for(model, keys, "all", cache=0.5)) as http:
        token = create_reader(model.engine, SECRET, name)  # created while the API runs
        assert http.get("/v1/namnder", headers=bearer(token)).status_code == 200
        assert revoke_reader(model.engine, name) == 1
        wait_for(
            lambda: http.get("/v1/namnder", headers=bearer(token)).status_code == 401,
            timeout=10,
            what="the revoked token refused",
        )
        refused = http.get("/v1/namnder", headers=bearer(token))
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
        assert "revoked" in refused.json()["detail"]
        # an unknown token is never read as anonymous, even where anonymous readers see all
        assert (
            http.get("/v1/namnder", headers=bearer("sr_" + "0" * 16 + "_" + "x" * 30)).status_code
            == 401
        )
        assert http.get("/v1/namnder", headers={"Authorization": "Basic abc"}).status_code == 401
        assert http.get("/v1/namnder").status_code == 200


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"lifetime": -600}, "expired"),
        ({"aud": "another-api"}, "audience"),
        ({"iss": "https://evil.test"}, "issuer"),
        ({"key": "stranger"}, "no key"),
        ({"nbf": 4102444800}, "not valid yet"),
        ({"tamper": True}, "signature"),
        ({"alg": "HS256"}, "algorithm"),
        ({"alg": "none"}, "algorithm"),
    ],
)
def test_an_oidc_token_that_does_not_verify_is_401_with_the_reason(
    model: Model, keys: KeySet, change: dict[str, Any], reason: str
) -> None:
    change = dict(change)
    if change.pop("tamper", False):
        head, body, signature = keys.token().split(".")
        token = ".".join(
            (head, body, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB"))
        )
    elif (alg := change.pop("alg", None)) is not None:
        import jwt

        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": 4102444800}
        key = "k" * 32 if alg == "HS256" else None
        token = jwt.encode(claims, key, alg, headers={"kid": "rsa-1"})
    else:
        token = keys.token(**change)
    with api(model, settings_for(model, keys, "final")) as http:
        assert http.get("/v1/etappmal", headers=bearer(keys.token())).status_code == 200
        refused = http.get("/v1/etappmal", headers=bearer(token))
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert reason in refused.json()["detail"], refused.json()["detail"]


def test_etags_and_cache_headers_keep_the_views_apart(model: Model, keys: KeySet) -> None:
    token = create_reader(model.engine, SECRET, f"etag-{uuid.uuid4().hex[:6]}")
    url = f"/v1/indikatorer/{SHARE}/observationer?area=rinkeby"
    with api(model, settings_for(model, keys, "final")) as http:
        public = http.get(url)
        private = http.get(url, headers=bearer(token))
        assert public.status_code == private.status_code == 200
        assert public.content != private.content
        assert public.headers["ETag"] != private.headers["ETag"]
        assert public.headers["Cache-Control"].startswith("public")
        assert private.headers["Cache-Control"].startswith("private")
        for response in (public, private):
            assert "Authorization" in response.headers["Vary"]
        # one view's ETag never answers 304 for the other's
        crossed = http.get(url, headers=bearer(token) | {"If-None-Match": public.headers["ETag"]})
        assert crossed.status_code == 200
        assert crossed.content == private.content
        back = http.get(url, headers={"If-None-Match": private.headers["ETag"]})
        assert back.status_code == 200
        assert back.content == public.content
        same = http.get(url, headers=bearer(token) | {"If-None-Match": private.headers["ETag"]})
        assert same.status_code == 304
        assert same.headers["Cache-Control"].startswith("private")
        assert http.get(url, headers={"If-None-Match": public.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize("anonymous", ["final", "none"])
def test_behind_a_proxy_that_mounts_the_api_under_a_path_readers_are_still_told_apart(
    model: Model, keys: KeySet, anonymous: str
) -> None:
    """uvicorn's `--root-path /stadspuls` puts the mount in front of every request's path; the
    routes strip it, and so must whatever decides who reads."""
    token = create_reader(model.engine, SECRET, f"proxy-{uuid.uuid4().hex[:6]}")
    url = f"/v1/indikatorer/{SHARE}/observationer?area=rinkeby"
    with api(model, settings_for(model, keys, anonymous), root_path="/stadspuls") as http:
        anonymous_answer = http.get(url)
        reader_answer = http.get(url, headers=bearer(token))
    assert reader_answer.status_code == 200
    assert any(secret in reader_answer.text for secret in model.secret_values)
    if anonymous == "none":
        assert anonymous_answer.status_code == 401
        return
    assert anonymous_answer.status_code == 200
    assert not any(secret in anonymous_answer.text for secret in model.secret_values)
    assert anonymous_answer.headers["Cache-Control"].startswith("public")
    assert reader_answer.headers["Cache-Control"].startswith("private")
