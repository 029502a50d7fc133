"""Connectors: ingest services that pull a source (Kolada, PxWeb) instead of being pushed to."""
