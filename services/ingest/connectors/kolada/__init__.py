"""The Kolada (API v3) connector: KPIs mapped per indicator under `kolada:` in the catalog."""
