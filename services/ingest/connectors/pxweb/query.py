"""PxWeb queries: a selection per variable, split so that no query asks for more cells than allowed.

Pure: no I/O. v1 POSTs `{"query": [...], "response": {"format": "json-stat2"}}` to the table's
URL; v2 GETs `{base}/tables/{id}/data` with `valueCodes[Var]=a,b`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Selection = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class Query:
    """The values selected of each variable, in the order given."""

    selection: Selection

    @property
    def cells(self) -> int:
        """How many cells the answer holds."""
        return math.prod(len(values) for _, values in self.selection)

    def v1_body(self) -> dict[str, object]:
        """The body to POST to a v1 table URL."""
        return {
            "query": [
                {"code": code, "selection": {"filter": "item", "values": list(values)}}
                for code, values in self.selection
            ],
            "response": {"format": "json-stat2"},
        }

    def v2_params(self, lang: str = "sv") -> list[tuple[str, str]]:
        """The query parameters of a v2 `…/tables/{id}/data` GET."""
        params = [("lang", lang), ("outputFormat", "json-stat2")]
        params += [(f"valueCodes[{code}]", ",".join(values)) for code, values in self.selection]
        return params


def split(selection: Mapping[str, Sequence[str]], limit: int) -> list[Query]:
    """Queries that together ask for every cell of `selection`, none for more than `limit`."""
    if limit < 1:
        raise ValueError("the cell limit must be at least 1")
    if any(not values for values in selection.values()):
        return []
    chunk = {code: len(values) for code, values in selection.items()}
    while math.prod(chunk.values()) > limit:
        # Halve the widest part: the fewest queries for a given limit in practice.
        widest = max(chunk, key=lambda code: chunk[code])
        chunk[widest] = math.ceil(chunk[widest] / 2)
    parts = [
        [
            (code, tuple(values[start : start + chunk[code]]))
            for start in range(0, len(values), chunk[code])
        ]
        for code, values in selection.items()
    ]
    return [Query(tuple(combination)) for combination in itertools.product(*parts)]
