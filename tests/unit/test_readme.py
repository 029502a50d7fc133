"""The README's configuration table names every setting."""

from __future__ import annotations

from pathlib import Path

from shared.settings import Settings

README = Path(__file__).parents[2] / "README.md"


def test_every_setting_is_in_the_configuration_table() -> None:
    table = {
        line.split("`")[1]
        for line in README.read_text().splitlines()
        if line.startswith("| `STADSPULS_")
    }
    assert {f"STADSPULS_{name.upper()}" for name in Settings.model_fields} <= table
