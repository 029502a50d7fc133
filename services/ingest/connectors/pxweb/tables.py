"""One PxWeb table through API v1 or v2: when it was updated, its variables, its data.

v1: `GET {base}/{folder}` lists the folder's tables with `updated`; `GET {base}/{table}` gives the
variables; `POST` the same URL gives the data. v2: `GET {base}/tables/{id}/metadata` gives the
variables and `updated` (as JSON-stat 2.0); `GET {base}/tables/{id}/data` gives the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.ingest.connectors.base import ConnectorError
from services.ingest.connectors.pxweb.fetch import PxWebHttp
from services.ingest.connectors.pxweb.jsonstat import Dataset, JsonStatError, decode, dimensions_of
from services.ingest.connectors.pxweb.query import Query
from shared.domain.mappings.pxweb import PxWebApi, PxWebMapping


@dataclass(frozen=True)
class Variable:
    """A table variable: its value codes and whether a query may leave it out."""

    code: str
    values: tuple[str, ...]
    eliminable: bool


@dataclass(frozen=True)
class Table:
    """A table's variables by code, and when it was last updated (if the server says)."""

    url: str
    variables: dict[str, Variable]
    updated: str | None


def table_url(m: PxWebMapping) -> str:
    """The URL the table is known by (v1: its path; v2: `…/tables/{id}`)."""
    return f"{m.base_url}/{m.table}" if m.api is PxWebApi.V1 else f"{m.base_url}/tables/{m.table}"


class PxWebTables:
    """Reads tables; keeps each table's metadata for the life of one pull."""

    def __init__(self, http: PxWebHttp, lang: str = "sv") -> None:
        self.http, self.lang = http, lang
        self._tables: dict[str, Table] = {}
        self._folders: dict[str, Any] = {}

    async def updated(self, m: PxWebMapping) -> str | None:
        """When the table was last updated, as the server writes it; None if it does not say."""
        if m.api is PxWebApi.V2:
            return (await self.table(m)).updated
        folder, _, name = m.table.rpartition("/")
        url = f"{m.base_url}/{folder}" if folder else m.base_url
        if url not in self._folders:
            self._folders[url] = await self.http.get(url)
        listing = self._folders[url]
        if not isinstance(listing, list):
            raise ConnectorError("malformed", url, "a folder listing is a JSON array")
        for node in listing:
            if isinstance(node, dict) and node.get("id") == name:
                stamp = node.get("updated")
                return stamp if isinstance(stamp, str) else None
        raise ConnectorError("not_found", url, f"the folder does not list table {name!r}")

    async def table(self, m: PxWebMapping) -> Table:
        """The table's variables (fetched once per pull)."""
        url = table_url(m)
        if url not in self._tables:
            if m.api is PxWebApi.V1:
                self._tables[url] = _v1_table(url, await self.http.get(url))
            else:
                meta = f"{url}/metadata"
                params = [("lang", self.lang), ("outputFormat", "json-stat2")]
                answer = await self.http.get(meta, params)
                self._tables[url] = _v2_table(meta, answer)
        return self._tables[url]

    async def data(self, m: PxWebMapping, query: Query) -> Dataset:
        """The cells `query` selects, decoded."""
        url = table_url(m)
        if m.api is PxWebApi.V1:
            answer = await self.http.post(url, query.v1_body())
        else:
            url = f"{url}/data"
            answer = await self.http.get(url, query.v2_params(self.lang))
        try:
            return decode(answer)
        except JsonStatError as exc:
            raise ConnectorError("malformed", url, f"not a JSON-stat 2.0 dataset: {exc}") from exc


def _v1_table(url: str, answer: Any) -> Table:
    variables = answer.get("variables") if isinstance(answer, dict) else None
    if not isinstance(variables, list):
        raise ConnectorError("malformed", url, "table metadata has no `variables` list")
    found: dict[str, Variable] = {}
    for n, var in enumerate(variables):
        code, values = (var.get("code"), var.get("values")) if isinstance(var, dict) else (0, 0)
        if not isinstance(code, str) or not isinstance(values, list):
            raise ConnectorError("malformed", url, f"variables[{n}] has no `code` and `values`")
        found[code] = Variable(code, tuple(map(str, values)), bool(var.get("elimination")))
    return Table(url, found, None)


def _v2_table(url: str, answer: Any) -> Table:
    try:
        dimensions = dimensions_of(answer)
    except JsonStatError as exc:
        raise ConnectorError(
            "malformed", url, f"table metadata is not JSON-stat 2.0: {exc}"
        ) from exc
    found = {
        d.id: Variable(d.id, d.codes, _eliminable(answer["dimension"][d.id])) for d in dimensions
    }
    stamp = answer.get("updated")
    return Table(url, found, stamp if isinstance(stamp, str) else None)


def _eliminable(dimension: dict[str, Any]) -> bool:
    extension = dimension.get("extension")
    return isinstance(extension, dict) and bool(extension.get("elimination"))
