"""What an anonymous reader under `STADSPULS_API_ANONYMOUS=final` may see of each answer.

Every item says `published` (false: a preliminary value contributes to it). In the `final` view
an unpublished item keeps its identity and catalog fields but every value, status, count and
rank that depends on the preliminary contribution is null; counts are recounted over what is
published. Redaction runs before the routes filter, so a filter never tells a withheld status.
"""

from __future__ import annotations

from typing import Any

from services.api.auth import View
from shared.domain.summary import count_statuses

Document = dict[str, Any]

# An indicator status withheld: what the judgement of its values says.
_STATUS_WITHHELD: Document = {
    "status": None,
    "trend": None,
    "reason": None,
    "latest_period": None,
    "latest_value": None,
}
_SUMMARY_WITHHELD: Document = _STATUS_WITHHELD | {"newest_period_age_seconds": None, "inputs": {}}
_SERIES_VALUES = ("value", "numerator", "denominator", "reported_value", "comment")
_RISK_VALUES = (
    "sociala_riskfaktorer",
    "halsa",
    "sakerhet_trygghet",
    "forsorjning",
    "composite",
    "rank",
)
_PROFILE_VALUES = (
    "value",
    "numerator",
    "denominator",
    "city_value",
    "gap",
    "compared_to_city",
    "status",
    "trend",
)
# the flags a profile row carries from `profiles.profile_rows` to here
PROFILE_FLAGS = ("value_preliminary", "city_preliminary", "status_preliminary")


def series_row(row: Document, view: View) -> Document:
    """A series row: its value withheld when preliminary, its computed value when it has a
    preliminary contribution (a final reported value can sit over preliminary children)."""
    preliminary = bool(row.pop("preliminary"))
    computed_preliminary = int(row.pop("n_preliminary") or 0) > 0
    row["published"] = not preliminary
    row["retracted"] = bool(row["retracted"])
    if view is View.FINAL:
        if preliminary:
            row.update(dict.fromkeys(_SERIES_VALUES))
        if computed_preliminary or preliminary:
            row["computed_value"] = None
    return row


def version_row(row: Document, view: View) -> Document:
    """A version of a series: its numbers withheld when it is preliminary."""
    row["published"] = row["status"] != "preliminary"
    row["retract"] = bool(row["retract"])
    if view is View.FINAL and not row["published"]:
        row.update(dict.fromkeys(("value", "numerator", "denominator")))
    return row


def indicator(doc: Document, view: View) -> Document:
    """An indicator's summary (alone, in an etappmål, or beside its catalog entry)."""
    doc["published"] = published = bool(doc.get("published", True))
    if view is View.FINAL and not published:
        doc.update(_SUMMARY_WITHHELD)
    return doc


def etappmal(doc: Document, view: View) -> Document:
    """An etappmål: its status and headline withheld when any indicator is unpublished."""
    doc["indicators"] = [indicator(dict(i), view) for i in doc["indicators"]]
    doc["published"] = published = all(i["published"] for i in doc["indicators"])
    if view is View.FINAL and not published:
        shown = [i["status"] for i in doc["indicators"] if i["published"]]
        doc.update(status=None, trend=None, latest_period=None, latest_value=None)
        doc["counts"] = count_statuses(shown)
    return doc


def namnd(doc: Document, view: View) -> Document:
    """A nämnd's rollup: each unpublished etappmål, indicator and comparison withheld, the counts
    over the published ones."""
    goals = [dict(g, published=g.get("published", True)) for g in doc["etappmal"]]
    indicators = [dict(i, published=i.get("published", True)) for i in doc["indikatorer"]]
    comparison = [dict(c, published=c.get("published", True)) for c in doc["area_comparison"]]
    doc["published"] = all(r["published"] for r in (*goals, *indicators, *comparison))
    if view is View.FINAL and not doc["published"]:
        for goal in goals:
            if not goal["published"]:
                goal["status"] = None
        for row in indicators:
            if not row["published"]:
                row.update(_STATUS_WITHHELD)
        for row in comparison:
            if not row["published"]:
                row.update(area_value=None, city_value=None, gap=None)
        doc["counts"] = {
            "etappmal": count_statuses(g["status"] for g in goals if g["published"]),
            "indikatorer": count_statuses(i["status"] for i in indicators if i["published"]),
        }
    doc.update(etappmal=goals, indikatorer=indicators, area_comparison=comparison)
    return doc


def risk(item: Document, view: View) -> Document:
    """An area with its social-risk index: scores, rank and relatives withheld when unpublished."""
    published = bool(item["risk"].pop("preliminary", False)) is False
    item["risk"]["published"] = published
    if view is View.FINAL and not published:
        item["risk"].update(dict.fromkeys(_RISK_VALUES))
        item["risk"]["groups"] = []
    return item


def profile_row(row: Document, view: View) -> Document:
    """An area profile row: withheld whole when its value, the city's or its status (from the
    area's own series) has a preliminary contribution, as every unpublished item is."""
    flags = [bool(row.pop(flag)) for flag in PROFILE_FLAGS]
    row["published"] = not any(flags)
    if view is View.FINAL and not row["published"]:
        row.update(dict.fromkeys(_PROFILE_VALUES))
        row["inputs"] = {}
    return row
