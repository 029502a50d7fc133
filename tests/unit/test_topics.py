"""The topic plan: every catalog source has its own raw topic; the shared raw topic and the raw
validator's pattern leave it out in production."""

from __future__ import annotations

import re

from shared.settings import Settings
from shared.topics import SOURCE_PARTITIONS, project_topics, raw_topic_pattern, source_topic


def _settings(environment: str) -> Settings:
    return Settings(_env_file=None, topic_prefix="t1.", environment=environment)


def test_every_source_has_its_own_raw_topic_and_production_no_shared_one() -> None:
    local, production = _settings("local"), _settings("production")
    names = [name for name, _ in project_topics(local, ["scb", "kolada"])]
    assert names == [
        "t1.stadspuls.observations.raw.v1",
        "t1.stadspuls.observations.v1",
        "t1.stadspuls.observations.dlq.v1",
        "t1.stadspuls.rollups.v1",
        "t1.stadspuls.observations.raw.v1.kolada",
        "t1.stadspuls.observations.raw.v1.scb",
    ]
    planned = dict(project_topics(production, ["scb"]))
    assert "t1.stadspuls.observations.raw.v1" not in planned
    own = planned[source_topic(production, "scb")]
    assert own.partitions == SOURCE_PARTITIONS
    assert own.config["retention.ms"] == str(30 * 24 * 3600 * 1000)


def test_the_raw_pattern_matches_the_sources_topics_of_this_prefix_only() -> None:
    local = re.compile(raw_topic_pattern(_settings("local")))
    production = re.compile(raw_topic_pattern(_settings("production")))
    for pattern in (local, production):
        assert pattern.match("t1.stadspuls.observations.raw.v1.scb")
        assert pattern.match("t1.stadspuls.observations.raw.v1.not-in-the-catalog")
        for other in (
            "t2.stadspuls.observations.raw.v1.scb",  # another environment
            "xt1.stadspuls.observations.raw.v1.scb",
            "t1.stadspuls.observations.v1",
            "t1.stadspuls.observations.raw.v1.scb.extra",
            "t1xstadspuls.observations.raw.v1.scb",  # the dots are literal
        ):
            assert not pattern.match(other), other
    assert local.match("t1.stadspuls.observations.raw.v1")
    assert not production.match("t1.stadspuls.observations.raw.v1")
