"""Rules of areas that change: every day an area is valid it has one parent, valid that day too.

Pure: no I/O. Run after `cross_check` passed (every parent id resolves). A missing bound of a
parent link is the child's own, so a plain `parent:` follows its area's validity. Problems name the
area and the dates, as (path, message) pairs the loader places in the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from itertools import pairwise

from shared.domain.catalog import Catalog, NamndType, Omrade, ParentLink, newest

Problem = tuple[str, str]


def validity(catalog: Catalog) -> Iterator[Problem]:
    """Yield (path, message) for every gap, overlap or reversed date of the areas and nämnder."""
    for n, area in enumerate(catalog.omraden):
        at = f"omraden[{n}]"
        if _reversed(area.valid_from, area.valid_to):
            yield (
                f"{at}.valid_to",
                f"{area.id!r}: valid_to {area.valid_to} is before {area.valid_from}",
            )
            continue
        yield from _links(catalog, at, area)
    for n, nd in enumerate(catalog.namnder):
        at = f"namnder[{n}]"
        if _reversed(nd.valid_from, nd.valid_to):
            yield f"{at}.valid_to", f"{nd.id!r}: valid_to {nd.valid_to} is before {nd.valid_from}"
        elif nd.type is NamndType.STADSDELSNAMND and nd.area in catalog.area:
            owned = catalog.area[nd.area]
            if not _within(nd.valid_from, nd.valid_to, owned.valid_from, owned.valid_to):
                yield (
                    f"{at}.valid_from",
                    f"{nd.id!r} is valid {nd.validity()} but its area {owned.id!r} only"
                    f" {owned.validity()}",
                )


def _links(catalog: Catalog, at: str, area: Omrade) -> Iterator[Problem]:
    if area.parents and area.parent != newest(area.parents).id:
        yield f"{at}.parent", f"{area.id!r}: parent must be the newest of parents, or left out"
    links = area.links
    if not links:
        return
    spans: list[tuple[date | None, date | None, int]] = []
    for k, link in enumerate(links):
        where = f"{at}.parents[{k}]" if area.parents else f"{at}.parent"
        if _reversed(link.valid_from, link.valid_to):
            yield (
                where,
                f"{area.id!r}: link to {link.id!r} ends {link.valid_to} before {link.valid_from}",
            )
            continue
        if not _within(link.valid_from, link.valid_to, area.valid_from, area.valid_to):
            yield (
                where,
                (
                    f"{area.id!r} has parent {link.id!r} {link.validity()}, outside its own"
                    f" validity {area.validity()}"
                ),
            )
        parent = catalog.area[link.id]
        if not _within(link.valid_from, link.valid_to, parent.valid_from, parent.valid_to):
            yield (
                where,
                (
                    f"{area.id!r} has parent {link.id!r} {link.validity()}, but {link.id!r} is"
                    f" valid only {parent.validity()}"
                ),
            )
        spans.append((link.valid_from, link.valid_to, k))
    yield from _overlaps_and_gaps(at, area, links, spans)


def _overlaps_and_gaps(
    at: str,
    area: Omrade,
    links: tuple[ParentLink, ...],
    spans: list[tuple[date | None, date | None, int]],
) -> Iterator[Problem]:
    ordered = sorted(spans, key=lambda s: s[0] or date.min)
    for (_, end, k), (start, _, j) in pairwise(ordered):
        first, second = links[k], links[j]
        if end is None or start is None or start <= end:
            day = start or date.min
            yield (
                f"{at}.parents[{j}]",
                (
                    f"{area.id!r} has two parents on {day}: {first.id!r} ({first.validity()}) and"
                    f" {second.id!r} ({second.validity()})"
                ),
            )
        elif start > end + timedelta(days=1):
            yield (
                f"{at}.parents[{j}]",
                (
                    f"{area.id!r} has no parent from {end + timedelta(days=1)} to"
                    f" {start - timedelta(days=1)}, though it is valid then"
                ),
            )
    if not ordered:
        return
    begin, finish = ordered[0][0], max((s[1] for s in ordered), key=lambda d: d or date.max)
    if area.valid_from is not None and begin is not None and begin > area.valid_from:
        yield (
            f"{at}.parents",
            (f"{area.id!r} has no parent from {area.valid_from} to {begin - timedelta(days=1)}"),
        )
    if begin is not None and area.valid_from is None:
        yield f"{at}.parents", f"{area.id!r} has no parent before {begin}, though it is valid then"
    if finish is not None and (area.valid_to is None or finish < area.valid_to):
        until = f"to {area.valid_to}" if area.valid_to else "on"
        yield (
            f"{at}.parents",
            (
                f"{area.id!r} has no parent from {finish + timedelta(days=1)} {until},"
                " though it is valid then"
            ),
        )


def _reversed(start: date | None, end: date | None) -> bool:
    return start is not None and end is not None and end < start


def _within(
    start: date | None, end: date | None, outer_start: date | None, outer_end: date | None
) -> bool:
    """[start, end] lies inside [outer_start, outer_end] (None: unbounded)."""
    starts_in = outer_start is None or (start is not None and start >= outer_start)
    ends_in = outer_end is None or (end is not None and end <= outer_end)
    return starts_in and ends_in
