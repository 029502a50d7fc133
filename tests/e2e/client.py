"""What an operator and a client do from outside: make keys, read the API."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx

SEEDED_SECRET = "e2e-test-secret-not-for-production"
INDICATOR = "behorighet-gymnasiet-ak9"
SOURCE = "utbildningsforvaltningen"


def create_key(env: dict[str, str], source: str = SOURCE) -> str:
    """`stadspuls keys create SOURCE`, the way an operator runs it: the key is the last line."""
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "keys", "create", source],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def series_rows(api: str, **params: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{api}/v1/indikatorer/{INDICATOR}/observationer", params=params, timeout=5)
    answer.raise_for_status()
    items: list[dict[str, Any]] = answer.json()["items"]
    return items
