"""The catalog file: loading with file-position errors, the shipped Stockholm catalog, its JSON."""

from shared.catalog.loader import (
    CATALOG_PATH,
    CatalogLoadError,
    CatalogProblem,
    catalog_document,
    check_catalog,
    default_catalog,
    load_catalog,
    load_catalog_text,
)

__all__ = [
    "CATALOG_PATH",
    "CatalogLoadError",
    "CatalogProblem",
    "catalog_document",
    "check_catalog",
    "default_catalog",
    "load_catalog",
    "load_catalog_text",
]
