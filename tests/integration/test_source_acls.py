"""The ACLs of `stadspuls topics --acls --apply` on a secured broker (SASL_SSL, StandardAuthorizer):
a source's principal writes its own raw topic and nothing else, and the services, each running as
its own principal with only those ACLs, carry what the sources sent end to end (so the ACL set is
enough)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import (
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ConfigResource,
    ConfigResourceType,
    KafkaAdminClient,
    NewTopic,
    ResourcePatternFilter,
    ResourceType,
    UserScramCredentialUpsertion,
)
from kafka.errors import KafkaError, TopicAuthorizationFailedError
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from services.cli import app
from shared.catalog.loader import CATALOG_PATH
from shared.infra.kafka import LocalKafka
from shared.infra.wait import wait_for
from shared.kafka_security import client_options
from shared.settings import Settings
from shared.topics import source_topic
from tests.e2e.client import SEEDED_SECRET, create_key, series_rows
from tests.factories import LABOUR, SCHOOL, share_row
from tests.integration.ingest_helpers import prepare, read_topic
from tests.services import ServiceProcess

runner = CliRunner()


@pytest.fixture
def principals(secure_kafka: LocalKafka, tmp_path: Path) -> dict[str, str]:
    """Users of this test only: the two sources (named in a catalog file) and the services."""
    tag = uuid.uuid4().hex[:6]
    users = {role: f"{role}-{tag}" for role in ("school", "labour", "ingest", "aggregate")}
    for user in users.values():
        secure_kafka.add_user(user)
    text = CATALOG_PATH.read_text(encoding="utf-8")
    for role, source in (("school", SCHOOL), ("labour", LABOUR)):
        line = f"  - id: {source}\n"
        assert text.count(line) == 1
        text = text.replace(line, f"{line}    kafka_principal: User:{users[role]}\n")
    (tmp_path / "catalog.yaml").write_text(text, encoding="utf-8")
    return users


def _apply(secure_kafka: LocalKafka, env: dict[str, str], users: dict[str, str]) -> None:
    result = runner.invoke(
        app,
        [
            "topics",
            "--acls",
            "--apply",
            "--ingest-principal",
            f"User:{users['ingest']}",
            "--aggregate-principal",
            f"User:{users['aggregate']}",
        ],
        env={**secure_kafka.env(), **env},
    )
    assert result.exit_code == 0, result.output
    assert f"User:{users['school']}" in result.output


def _send(settings: Settings, topic: str, value: bytes) -> None:
    producer = KafkaProducer(**client_options(settings), acks="all", max_block_ms=15_000)
    try:
        producer.send(topic, value).get(timeout=15)
    finally:
        producer.close(timeout=5)


def _read(settings: Settings, topic: str) -> None:
    """Read `topic` from the start as `settings`' principal; raise what Kafka refuses."""
    consumer = KafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.end_offsets([partition])  # ListOffsets: refused without DESCRIBE
        consumer.seek_to_beginning()
        wait_for(lambda: consumer.poll(timeout_ms=500) or None, timeout=20, what=f"{topic}")
    finally:
        consumer.close()


def _settings(
    secure_kafka: LocalKafka, user: str | None, topic_prefix: str, tmp_path: Path, **fields: Any
) -> Settings:
    return secure_kafka.settings(
        user,
        topic_prefix=topic_prefix,
        catalog_path=tmp_path / "catalog.yaml",
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        key_secret="test-secret-for-source-acls",
        environment="test",
        **fields,
    )


def test_a_source_may_write_its_own_topic_only(
    secure_kafka: LocalKafka, principals: dict[str, str], topic_prefix: str, tmp_path: Path
) -> None:
    admin = _settings(secure_kafka, None, topic_prefix, tmp_path)
    prepare(admin)  # the topics, created by the admin
    _apply(secure_kafka, _env(topic_prefix, tmp_path), principals)
    school = _settings(secure_kafka, principals["school"], topic_prefix, tmp_path)
    own, other = source_topic(school, SCHOOL), source_topic(school, LABOUR)
    with pytest.raises(TopicAuthorizationFailedError):
        _send(school, other, orjson.dumps(share_row(area="kista")))
    with pytest.raises(TopicAuthorizationFailedError):
        _read(school, school.topic("observations.v1"))
    with pytest.raises(TopicAuthorizationFailedError):
        _read(school, own)  # write-only: a source cannot read back even its own topic
    _send(school, own, orjson.dumps(share_row()))
    assert [m.value for m in read_topic(client_options(admin), own)] == [orjson.dumps(share_row())]
    assert read_topic(client_options(admin), other) == []


def _env(topic_prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        "STADSPULS_TOPIC_PREFIX": topic_prefix,
        "STADSPULS_CATALOG_PATH": str(tmp_path / "catalog.yaml"),
    }


def test_the_services_as_their_own_principals_work_end_to_end_with_only_the_acls(
    secure_kafka: LocalKafka, principals: dict[str, str], topic_prefix: str, tmp_path: Path
) -> None:
    common = {
        **_env(topic_prefix, tmp_path),
        "STADSPULS_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "STADSPULS_AGGREGATE_APP_ID": f"{topic_prefix}aggregate",
        "STADSPULS_AGGREGATE_DATA_DIR": str(tmp_path / "aggregate"),
        "STADSPULS_KEY_SECRET": SEEDED_SECRET,
        "STADSPULS_ENVIRONMENT": "test",
    }
    admin = _settings(secure_kafka, None, topic_prefix, tmp_path)
    prepare(admin)
    _apply(secure_kafka, common, principals)
    procs = [
        ServiceProcess(
            name, {**secure_kafka.env(principals[name]), **common}, tmp_path / f"{name}.log"
        )
        for name in ("aggregate", "ingest")
    ] + [ServiceProcess("api", common, tmp_path / "api.log")]  # the API reads SQL only
    try:
        for proc in procs:
            proc.start()
        aggregate, ingest, api = procs
        key = create_key({**secure_kafka.env(), **common})
        answer = httpx.post(
            f"{ingest.url}/v1/observations",
            json={"observations": [share_row()]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        school = _settings(secure_kafka, principals["school"], topic_prefix, tmp_path)
        _send(school, source_topic(school, SCHOOL), orjson.dumps(share_row(area="kista")))
        with pytest.raises(TopicAuthorizationFailedError):
            _send(school, source_topic(school, LABOUR), orjson.dumps(share_row(area="kista")))

        def both() -> dict[str, float] | None:
            found = {r["area"]: r["value"] for r in series_rows(api.url)}
            return found if {"rinkeby", "kista"} <= found.keys() else None

        found = wait_for(both, timeout=90, interval=0.5, what="both values in the API")
        assert (found["rinkeby"], found["kista"]) == (pytest.approx(71.33), pytest.approx(71.33))
        lag = wait_for(
            lambda: _lag_sample(aggregate.url, admin.topic("observations.v1")),
            timeout=60,
            interval=1.0,
            what="the aggregator's lag of the canonical topic",
        )
        reported = {r["area"]: r["source"] for r in series_rows(api.url) if r["source"]}
        assert reported == {"rinkeby": SCHOOL, "kista": SCHOOL}  # none became the labour office's
        assert read_topic(client_options(admin), source_topic(admin, LABOUR)) == []
        assert read_topic(client_options(admin), admin.topic("observations.dlq.v1")) == []
        # the lag reader's offset fetch and end offsets were allowed: both rows committed
        assert sum(lag.values()) == 0
        assert len(lag) == 3
    finally:
        for proc in procs:
            proc.stop()


def _lag_sample(url: str, topic: str) -> dict[str, float] | None:
    """The aggregator's lag per partition of `topic`, once it is measured and nothing is left."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    lag = {
        sample.labels["partition"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "stadspuls_aggregate_consumer_lag" and sample.labels["topic"] == topic
    }
    return lag if lag and not any(lag.values()) else None


def _refused(action: Callable[[], object]) -> str:
    """The name of the error Kafka refused an action with, or `allowed`."""
    try:
        result = action()
    except KafkaError as exc:
        return type(exc).__name__
    # some admin calls return their per-resource errors instead of raising them
    return "Authorization" if "Authorization" in repr(result) else "allowed"


def test_a_source_principal_may_not_touch_any_other_topic_group_config_acl_or_user(
    secure_kafka: LocalKafka, principals: dict[str, str], topic_prefix: str, tmp_path: Path
) -> None:
    admin = _settings(secure_kafka, None, topic_prefix, tmp_path)
    prepare(admin)
    _apply(secure_kafka, _env(topic_prefix, tmp_path), principals)
    school = _settings(secure_kafka, principals["school"], topic_prefix, tmp_path)
    own = source_topic(school, SCHOOL)
    value = orjson.dumps(share_row())
    for topic in (
        school.topic("observations.v1"),
        school.topic("observations.dlq.v1"),
        school.topic("rollups.v1"),
        school.topic("observations.raw.v1"),
        source_topic(school, "no-such-source"),  # would need CREATE
    ):
        with pytest.raises(TopicAuthorizationFailedError):
            _send(school, topic, value)
    outcomes: dict[str, str] = {}
    described = [ConfigResource(ConfigResourceType.TOPIC, own)]
    with KafkaAdminClient(**client_options(school)) as hostile:
        new = NewTopic(source_topic(school, "mallory"), 1, 1)
        outcomes["create a topic"] = _refused(lambda: hostile.create_topics([new]))
        outcomes["delete its topic"] = _refused(lambda: hostile.delete_topics([own]))
        short = [ConfigResource(ConfigResourceType.TOPIC, own, {"retention.ms": "1"})]
        outcomes["alter its topic's config"] = _refused(
            lambda: hostile.alter_configs(short, raise_on_unknown=False, incremental=True)
        )
        for group in (f"{topic_prefix}{school.ingest_raw_group}", school.aggregate_app_id):
            outcomes[f"offsets of {group}"] = _refused(
                lambda g=group: hostile.list_group_offsets(g)
            )
            outcomes[f"delete {group}"] = _refused(lambda g=group: hostile.delete_groups([g]))
        every = ACLFilter(
            None,
            None,
            ACLOperation.ANY,
            ACLPermissionType.ANY,
            ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
        )
        outcomes["list the ACLs"] = _refused(lambda: hostile.describe_acls(every))
        # a refused DescribeConfigs comes back as a topic without configs
        seen = hostile.describe_configs(described)["topic"][own]
        scram = UserScramCredentialUpsertion(principals["ingest"], "SCRAM-SHA-512", "x" * 24)
        password_change = hostile.alter_user_scram_credentials([scram])
    assert [name for name, outcome in outcomes.items() if outcome == "allowed"] == [], outcomes
    assert seen == {}
    assert "needs ALTER permission" in str(password_change[principals["ingest"]])
    with KafkaAdminClient(**client_options(admin)) as operator:
        assert source_topic(school, "mallory") not in operator.list_topics()
        assert own in operator.list_topics()
        assert operator.describe_configs(described)["topic"][own] != {}
