"""Pydantic models of every answer of the read API (OpenAPI documents each field)."""
