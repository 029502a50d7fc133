"""The batch rebuild's shards: a group's events all go to one shard, whether it is found from the
message key or from the decoded event; how many processes a rebuild computes in."""

from __future__ import annotations

import pytest

from services.aggregate.bulk_shards import group_shard, processes, shard_of
from shared.domain.observation import series_key


@pytest.mark.parametrize("shards", [2, 3, 4])
def test_every_series_of_a_group_is_in_the_shard_its_decoded_group_names(shards: int) -> None:
    seen: dict[tuple[str, str, str], set[int]] = {}
    for indicator in ("behorighet-gymnasiet", "sysselsattning", "x" * 100):
        for period in ("2019", "2024", "2024-T2"):
            for gender in ("T", "K", "M"):
                for area in ("stockholm", "rinkeby-kista", "sdo-10", "0180"):
                    key = series_key(indicator, area, period, gender).encode()
                    got = shard_of(key, shards)
                    assert got == group_shard(indicator, period, gender, shards)
                    seen.setdefault((indicator, period, gender), set()).add(got)
    assert all(len(found) == 1 for found in seen.values())
    assert {s for found in seen.values() for s in found} == set(range(shards)), "all shards used"


@pytest.mark.parametrize("key", [None, b"", b"poison", b"a|b|c", b"a|b|c|d|e"])
def test_a_key_that_names_no_group_is_the_first_shards(key: bytes | None) -> None:
    assert shard_of(key, 3) == 0


def test_one_shard_takes_everything() -> None:
    assert shard_of(b"a|b|c|d", 1) == 0


def test_a_rebuild_computes_in_one_process_per_core_on_sqlite_and_in_one_on_postgresql() -> None:
    assert processes(0, 2, postgres=False) == 2
    assert processes(0, 16, postgres=False) == 4
    assert processes(0, None, postgres=False) == 1
    assert processes(0, 8, postgres=True) == 1
    assert processes(3, 2, postgres=True) == 3
