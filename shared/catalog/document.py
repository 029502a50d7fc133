"""The catalog as the JSON document of `GET /v1/catalog`."""

from __future__ import annotations

from typing import Any

from shared.domain.catalog import Catalog

SECTIONS = ("malomraden", "etappmal", "indikatorer", "namnder", "omraden", "kallor")
_DURATIONS = ("cadence", "publication_lag", "grace")


def catalog_document(catalog: Catalog) -> dict[str, Any]:
    """The catalog as JSON-native data: every field of the contract, durations as ISO text."""
    # Which Kafka principal writes a source, and how a connector pulls it, are deployment detail,
    # not part of the published catalog.
    doc: dict[str, Any] = catalog.model_dump(
        mode="json",
        exclude={
            "kallor": {"__all__": {"kafka_principal", "connector"}},
            "indikatorer": {"__all__": {"kolada", "pxweb"}},
        },
    )
    for entry, ind in zip(doc["indikatorer"], catalog.indikatorer, strict=True):
        for name in _DURATIONS:
            entry[name] = getattr(ind, name).iso()
    return {section: doc[section] for section in SECTIONS}
