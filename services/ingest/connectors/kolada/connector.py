"""The Kolada connector: asks `/v3/data` (or `/v3/oudata`) for every mapped KPI, pages to the end.

Ids go ≤ 25 to a path segment (more are split into several requests), `per_page` is 5000 and
`next_url` is followed until it is empty. A first run asks for the years from the källa's
`backfill_from` (or every year); later runs ask with `from_date` = the day before the last
successful run began, so a revision Kolada made since is pulled again (a repeat changes nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from services.ingest.connectors.base import ConnectorError, Cursor, Pulled
from services.ingest.connectors.http import RetryPolicy, get_json
from services.ingest.connectors.kolada.answer import KoladaPage
from services.ingest.connectors.kolada.rows import Mapped, map_item
from shared.domain.catalog import Catalog, Indikator
from shared.domain.observation import utcnow

MAX_IDS = 25  # per path segment, Kolada's limit
PER_PAGE = 5000  # Kolada's largest page
MAX_PAGES = 10_000  # a next_url chain longer than this is a loop


def chunked(ids: Sequence[str], size: int = MAX_IDS) -> Iterator[list[str]]:
    """`ids` in runs of at most `size`."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


class KoladaConnector:
    """Pulls one catalog source's Kolada KPIs."""

    def __init__(
        self,
        catalog: Catalog,
        source: str,
        base_url: str,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._source, self.base_url = source, base_url.rstrip("/")
        self.client, self.policy = client, policy
        kalla = catalog.source[source]
        self.backfill_from = kalla.connector.backfill_from if kalla.connector else None
        self.by_kpi: dict[str, list[Indikator]] = {}
        for ind_id in kalla.indicators:
            ind = catalog.indicator[ind_id]
            if ind.kolada is not None:
                self.by_kpi.setdefault(ind.kolada.kpi, []).append(ind)
        self.now = now

    @property
    def source(self) -> str:
        """The catalog source this connector publishes as."""
        return self._source

    def requests(self, from_date: date | None) -> list[str]:
        """The first URL of every request a run makes (each is paged on by `next_url`)."""
        groups: dict[tuple[bool, tuple[str, ...]], list[str]] = {}
        for kpi, indicators in self.by_kpi.items():
            for ind in indicators:
                assert ind.kolada is not None
                ids = tuple(sorted(ind.kolada.areas))
                kpis = groups.setdefault((ind.kolada.ou, ids), [])
                if kpi not in kpis:
                    kpis.append(kpi)
        years = self._years() if from_date is None else [[]]
        urls = []
        for (ou, ids), kpis in sorted(groups.items()):
            path, where = ("oudata", "ou") if ou else ("data", "municipality")
            for kpi_part in chunked(sorted(kpis)):
                for id_part in chunked(ids):
                    for year_part in years:
                        url = f"{self.base_url}/{path}/kpi/{','.join(kpi_part)}"
                        url += f"/{where}/{','.join(id_part)}"
                        url += f"/year/{','.join(year_part)}" if year_part else ""
                        urls.append(url)
        return urls

    def _years(self) -> list[list[str]]:
        if self.backfill_from is None:
            return [[]]
        years = [str(y) for y in range(self.backfill_from, self.now().year + 1)]
        return list(chunked(years))

    async def pull(self, cursor: Cursor | None, since: date | None) -> Pulled:
        """Every value new since `since`, else since the cursor's `from_date`, else all."""
        started = self.now()
        from_date = since or _from_date(cursor)
        params = {"per_page": str(PER_PAGE)}
        if from_date is not None:
            params["from_date"] = from_date.isoformat()
        mapped, fetched, seen = Mapped(), 0, set[tuple[str, str, int]]()
        for url in self.requests(from_date):
            fetched += await self._pages(url, params, mapped, seen)
        next_cursor: dict[str, object] = {
            "from_date": (started.date() - timedelta(days=1)).isoformat()
        }
        return Pulled(
            mapped.rows, next_cursor, fetched, mapped.refused, mapped.skipped, mapped.origins
        )

    async def _pages(
        self,
        url: str,
        params: dict[str, str] | None,
        out: Mapped,
        items: set[tuple[str, str, int]],
    ) -> int:
        """Follow `url`'s pages; `items` has the items mapped already (a KPI asked for twice)."""
        fetched, seen = 0, set[str]()
        next_url: str | None = url
        while next_url:
            if next_url in seen or len(seen) >= MAX_PAGES:
                raise ConnectorError("malformed_body", next_url, "next_url leads back to a page")
            seen.add(next_url)
            document = await get_json(self.client, next_url, self.policy, params=params)
            try:
                page = KoladaPage.model_validate(document)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ConnectorError(
                    "malformed_body", next_url, f"{where}: {first['msg']}"
                ) from None
            for item in page.values:
                fetched += len(item.values)
                if (key := (item.kpi, item.where, item.period)) not in items:
                    items.add(key)
                    map_item(self.source, self.by_kpi.get(item.kpi, []), item, out)
            next_url, params = page.next_url or None, None  # next_url carries the query
            if next_url is not None:
                self._check_origin(next_url)
        return fetched

    def _check_origin(self, url: str) -> None:
        if urlsplit(url)[:2] != urlsplit(self.base_url)[:2]:
            raise ConnectorError("malformed_body", url, f"next_url leaves {self.base_url}")


def _from_date(cursor: Cursor | None) -> date | None:
    text = cursor.get("from_date") if cursor else None
    return date.fromisoformat(text) if isinstance(text, str) else None
