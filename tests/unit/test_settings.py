"""The one Settings model: what it refuses, with the field named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import Settings


def test_environment_is_one_of_three_and_a_misspelt_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("local", "test", "production"):
        monkeypatch.setenv("STADSPULS_ENVIRONMENT", name)
        assert Settings().environment == name
    monkeypatch.setenv("STADSPULS_ENVIRONMENT", "prod")
    with pytest.raises(ValidationError, match="environment"):
        Settings()
