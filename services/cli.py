"""The `stadspuls` command line: run the system, serve one service, manage keys, check a catalog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import orjson
import typer
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from shared.acls import (
    AGGREGATE_PRINCIPAL,
    INGEST_PRINCIPAL,
    Grant,
    PrincipalConflictError,
    Principals,
    acl_grants,
    render_acls,
)
from shared.domain.catalog import Catalog
from shared.production import EXIT_CONFIG, RefusedToStartError, check_production
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.infra.supervisor import Supervisor

app = typer.Typer(
    help="Stadspuls: follow-up of Stockholm's social-sustainability roadmap.", no_args_is_help=True
)
keys_app = typer.Typer(help="Source keys: create, revoke, list.", no_args_is_help=True)
catalog_app = typer.Typer(help="The catalog file.", no_args_is_help=True)
db_app = typer.Typer(help="The SQL read model.", no_args_is_help=True)
readers_app = typer.Typer(
    help="Reader tokens of the read API (they see preliminary values too): create, revoke, list.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
app.add_typer(readers_app, name="readers")
rapport_app = typer.Typer(help="Frozen reports: a named knowledge time.", no_args_is_help=True)
app.add_typer(rapport_app, name="rapport")
app.add_typer(catalog_app, name="catalog")
app.add_typer(db_app, name="db")

SERVICES = ("ingest", "aggregate", "api")


def _read_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:  # one line per problem; the input (secrets) is never shown
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            why = error["msg"].removeprefix("Value error, ")
            typer.echo(f"invalid settings: {where + ': ' if where else ''}{why}", err=True)
        raise typer.Exit(2) from None


def _refused(exc: RefusedToStartError) -> typer.Exit:
    typer.echo(f"stadspuls: {exc}", err=True)
    return typer.Exit(EXIT_CONFIG)


def _settings() -> Settings:
    """Settings of a command that uses Kafka or the database: in production, guarded."""
    settings = _read_settings()
    try:
        check_production(settings)
    except RefusedToStartError as exc:
        raise _refused(exc) from exc
    return settings


def _probe(settings: Settings) -> None:
    """Exit with the reason when Kafka cannot be used as configured (bounded, never a hang)."""
    from shared.kafka_probe import KafkaProbeError, probe_kafka
    from shared.kafka_security import KafkaSecurityError

    try:
        probe_kafka(settings)
    except (KafkaProbeError, KafkaSecurityError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="ingest, aggregate, api or connector")],
    connector: Annotated[
        str | None, typer.Argument(help="With `connector`: the pulled catalog source, e.g. kolada.")
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option(help="Every log line goes here; stderr gets only warnings and errors, named."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="With --log-file: every line on stderr too.")
    ] = False,
) -> None:
    """Run one service in the foreground (what containers and `stadspuls up` run)."""
    from services.serve import serve_service

    if service not in (*SERVICES, "connector"):
        raise typer.BadParameter(
            f"unknown service {service!r}; choose one of {', '.join(SERVICES)}, connector NAME"
        )
    if (service == "connector") != (connector is not None):
        raise typer.BadParameter("`serve connector NAME` names a connector; other services do not")
    if connector is not None:
        _connector_or_exit(_load_catalog(_read_settings()), connector)
    serve_service(service, _read_settings(), log_file, verbose, connector)  # guards production


@app.command()
def up(
    workdir: Annotated[
        Path | None,
        typer.Option(help="Folder for the parts' logs and the local broker's data (default: new)."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Every log line of the services here too.")
    ] = False,
) -> None:
    """Run the whole system here: local Kafka (unless configured), the read model, all three
    services; a part that dies is restarted. Ctrl-C (SIGINT) or SIGTERM stops everything.

    The console shows what starts, the URLs, then the services' warnings and errors and the
    supervisor's news; every line of every part is in the logs in the work folder."""
    from services.ingest.throttle import source_throttle
    from shared.db.engine import upgrade
    from shared.infra.supervisor import Part, Supervisor
    from shared.topics import ensure_topics

    stopping = _stop_on_signals()
    settings = _settings()
    try:  # what ingest would refuse, refused before anything starts
        source_throttle(settings, _load_catalog(settings))
    except RefusedToStartError as exc:
        raise _refused(exc) from exc
    folder = workdir or Path(tempfile.mkdtemp(prefix="stadspuls-up-"))
    folder.mkdir(parents=True, exist_ok=True)
    parts = ([] if settings.kafka_bootstrap else ["broker"]) + list(SERVICES)
    hint = "" if verbose else "; --verbose shows the services' lines here too"
    typer.echo(f"logs: {folder} ({', '.join(f'{part}.log' for part in parts)}){hint}")
    supervisor = Supervisor(typer.echo)
    env = dict(os.environ)
    # One client for every readiness check: a new one per request costs ~25 ms of CPU (TLS setup).
    http = httpx.Client(timeout=1, limits=httpx.Limits(max_keepalive_connections=0))
    try:
        if not settings.kafka_bootstrap:
            bootstrap = _start_kafka(supervisor, folder, stopping)
            env["STADSPULS_KAFKA_BOOTSTRAP"] = bootstrap
            settings = Settings(kafka_bootstrap=bootstrap)
        else:
            _probe(settings)
        if stopping.is_set():
            return
        ensure_topics(settings)
        upgrade(settings.database_url)
        ports = {name: getattr(settings, f"{name}_port") for name in SERVICES}
        urls = {name: f"http://{settings.host}:{port}" for name, port in ports.items()}
        typer.echo(f"starting {', '.join(SERVICES)} …")
        for name, url in urls.items():
            if not stopping.is_set():
                spawn = _service(name, env, folder / f"{name}.log", verbose)
                supervisor.add(Part(name, spawn, _answers(http, f"{url}/readyz"), 1))
        all_up = supervisor.run(lambda: stopping.is_set() or supervisor.all_up(), timeout=120)
        if stopping.is_set():
            return
        typer.echo(f"Kafka       {settings.kafka_bootstrap}")
        if "STADSPULS_KAFKA_BOOTSTRAP" not in os.environ:  # the broker's port is new each time
            typer.echo(
                "            other stadspuls commands that use Kafka here:"
                f" export STADSPULS_KAFKA_BOOTSTRAP={settings.kafka_bootstrap}"
            )
        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        typer.echo(f"read model  {shown}")
        for name, url in urls.items():
            typer.echo(f"{name:<11} {url}  (/healthz, /readyz, /metrics)")
        typer.echo(f"API docs    {urls['api']}/docs   ingest docs {urls['ingest']}/docs")
        if not all_up:
            typer.echo(f"not every part is up after 120 s: {supervisor.status()} (logs: {folder})")
        typer.echo("Stadspuls is up. Ctrl-C stops everything.")
        supervisor.reporting = True
        supervisor.run(stopping.is_set)
    finally:
        typer.echo("stopping …")
        supervisor.stop()
        http.close()
        typer.echo("stopped.")


def _start_kafka(supervisor: Supervisor, folder: Path, stopping: threading.Event) -> str:
    from shared.infra.kafka import LocalKafka
    from shared.infra.supervisor import Part

    typer.echo("starting a local Kafka broker …")
    kafka = LocalKafka(folder)
    supervisor.add(Part("kafka", kafka.launch, kafka.serves))
    if not supervisor.run(lambda: stopping.is_set() or supervisor.all_up(), timeout=120):
        typer.echo(f"Kafka did not start; log tail:\n{kafka.log_tail()}", err=True)
        raise typer.Exit(1)
    return kafka.bootstrap


def _stop_on_signals() -> threading.Event:
    # Set explicitly: a process started in the background without job control inherits SIGINT
    # ignored, and a process manager stops with SIGTERM.
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: stopping.set())
    return stopping


def _service(
    name: str, env: dict[str, str], log_file: Path, verbose: bool
) -> Callable[[], subprocess.Popen[bytes]]:
    from shared.infra.server import die_with_parent

    def spawn() -> subprocess.Popen[bytes]:
        # A session of its own: a Ctrl-C in the terminal reaches `up` alone, which stops the parts
        # in order; PDEATHSIG: a kill -9 of `up` leaves no orphan.
        command = [sys.executable, "-m", "services.cli", "serve", name, "--log-file", str(log_file)]
        command += ["--verbose"] if verbose else []
        return subprocess.Popen(
            command, env=env, start_new_session=True, preexec_fn=die_with_parent
        )

    return spawn


def _answers(http: httpx.Client, url: str) -> Callable[[], bool]:
    return lambda: http.get(url).status_code == 200


def _kafka_settings() -> Settings:
    """Settings of a command that uses Kafka: the cluster is named and answers as configured."""
    settings = _settings()
    if not settings.kafka_bootstrap:
        typer.echo(
            "set STADSPULS_KAFKA_BOOTSTRAP to the Kafka cluster (for the broker `stadspuls up`"
            " started: the address on its `Kafka` line)",
            err=True,
        )
        raise typer.Exit(2)
    _probe(settings)
    return settings


def _load_catalog(settings: Settings) -> Catalog:
    from shared.catalog.loader import load_catalog

    return load_catalog(settings.catalog_path)


@catalog_app.command("check")
def catalog_check(file: Annotated[Path, typer.Argument(help="A catalog YAML file.")]) -> None:
    """Validate a catalog file and say what is wrong, where."""
    from shared.catalog.loader import check_catalog

    problems = check_catalog(file)
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {file}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{file}: OK")


NEEDS_REBUILD = 3  # the exit status of `catalog diff` when the change needs `stadspuls rebuild`
_NEEDS = {
    "rebuild": "needs stadspuls rebuild (an indicator's kind, unit, levels, genders or period type"
    " changed); the aggregator's next start re-projects the rest",
    "rollups": "is re-projected when the aggregator starts with it: the rollups of the stored"
    " periods whose area tree changes, from their winners, and every summary (no rebuild)",
    "reproject": "is re-projected when the aggregator starts with it: summaries only (no rebuild)",
    "none": "changes nothing the read model stores",
}


@catalog_app.command("diff")
def catalog_diff_command(
    old: Annotated[Path, typer.Argument(help="The catalog in force.")],
    new: Annotated[Path, typer.Argument(help="The catalog to change to.")],
) -> None:
    """Say what changing from OLD to NEW will change: per change, whether the aggregator
    re-projects it at start or it needs `stadspuls rebuild`. Exits 0 when restarting with NEW
    suffices, 3 when it needs a rebuild, 1 when a file cannot be read."""
    from shared.catalog.diff import catalog_diff, needs
    from shared.catalog.loader import CatalogLoadError, load_catalog

    try:
        before, after = load_catalog(old), load_catalog(new)
    except CatalogLoadError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    changes = catalog_diff(before, after)
    for change in changes:
        typer.echo(str(change))
    needed = needs(changes).value
    typer.echo(f"{len(changes)} change(s); {new} {_NEEDS[needed]}")
    if needed == "rebuild":  # a deploy script must not just restart the services with it
        raise typer.Exit(NEEDS_REBUILD)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the read model to the newest schema."""
    from shared.db.engine import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    typer.echo("read model is at the newest schema")


@keys_app.command("create")
def keys_create(
    source: Annotated[str, typer.Argument(help="A source id from the catalog.")],
    label: Annotated[str | None, typer.Option(help="A note on who holds the key.")] = None,
) -> None:
    """Create a key for a source; the key is printed once, alone on the last line."""
    from services.ingest.keys import create_key
    from shared.db.engine import make_engine, upgrade

    settings = _settings()
    catalog = _load_catalog(settings)
    if source not in catalog.source:
        typer.echo(
            f"unknown source {source!r}; the catalog has: {', '.join(catalog.source)}", err=True
        )
        raise typer.Exit(2)
    upgrade(settings.database_url)
    key_id, key = create_key(make_engine(settings.database_url), settings, source, label)
    typer.echo(f"created key {key_id} for source {source}; store it now, it is not shown again:")
    typer.echo(key)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id printed by `keys create`.")],
) -> None:
    """Revoke a key; a running ingest service refuses it from then on."""
    from services.ingest.keys import revoke_key
    from shared.db.engine import make_engine

    settings = _settings()
    if not revoke_key(make_engine(settings.database_url), key_id):
        typer.echo(f"no active key {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids, sources, dates; never the keys themselves)."""
    from services.ingest.keys import list_keys
    from shared.db.engine import make_engine

    for info in list_keys(make_engine(_settings().database_url)):
        typer.echo(str(info))


@readers_app.command("create")
def readers_create(
    name: Annotated[str, typer.Argument(help="Who holds the token, e.g. a BI tool or a team.")],
) -> None:
    """Create a reader token; it is printed once, alone on the last line."""
    from services.api.readers import ReaderExistsError, create_reader
    from shared.db.engine import make_engine, upgrade

    settings = _settings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        token = create_reader(engine, settings.key_secret.get_secret_value(), name)
    except ReaderExistsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created a reader token for {name}; store it now, it is not shown again:")
    typer.echo(token)


@readers_app.command("revoke")
def readers_revoke(
    name: Annotated[str, typer.Argument(help="The name given to `readers create`.")],
) -> None:
    """Revoke a reader's tokens; a running API refuses them within seconds."""
    from services.api.readers import revoke_reader
    from shared.db.engine import make_engine

    if not revoke_reader(make_engine(_settings().database_url), name):
        typer.echo(f"no active token for reader {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked the token of {name}")


@readers_app.command("list")
def readers_list() -> None:
    """List reader tokens (names, ids, dates; never the tokens themselves)."""
    from services.api.readers import list_readers
    from shared.db.engine import make_engine

    for info in list_readers(make_engine(_settings().database_url)):
        typer.echo(str(info))


@rapport_app.command("freeze")
def rapport_freeze(
    id: Annotated[str, typer.Argument(help="The report's id, e.g. T2-2025.")],
    as_of: Annotated[str, typer.Option("--as-of", help="Its knowledge time (RFC 3339).")],
    title: Annotated[str | None, typer.Option("--title", help="Its title.")] = None,
) -> None:
    """Freeze a report: `rapport=ID` answers as of that time, the same bytes forever."""
    from datetime import UTC, datetime

    from services.api.rapporter import RapportError, freeze
    from shared.db.catalog_versions import record_catalog
    from shared.db.engine import make_engine, upgrade
    from shared.domain.knowledge_time import parse_knowledge_time

    settings = _settings()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:  # the time read as `as_of=` reads it, and the catalog pinned as it answers with
        moment = parse_knowledge_time(as_of)
        record_catalog(engine, settings.catalog_path, datetime.now(UTC), only_if_none=True)
        rapport = freeze(engine, id, moment, title, datetime.now(UTC))
    except ValueError as exc:  # RapportError too
        reason = exc if isinstance(exc, RapportError) else f"--as-of: {exc}"
        typer.echo(str(reason), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"froze report {rapport.id} as of {rapport.as_of.isoformat()}")


@app.command("topics")
def topics(
    acls: Annotated[
        bool, typer.Option("--acls", help="Print the ACLs instead of creating topics.")
    ] = False,
    apply: Annotated[
        bool, typer.Option("--apply", help="With --acls: create them on the cluster too.")
    ] = False,
    output: Annotated[
        str, typer.Option("--format", help="With --acls: `text`, or `strimzi` KafkaUser YAML.")
    ] = "text",
    ingest_principal: Annotated[
        str, typer.Option(help="The Kafka principal ingest runs as.")
    ] = INGEST_PRINCIPAL,
    aggregate_principal: Annotated[
        str, typer.Option(help="The Kafka principal the aggregator runs as.")
    ] = AGGREGATE_PRINCIPAL,
    strimzi_cluster: Annotated[
        str, typer.Option(help="With --format strimzi: the Strimzi Kafka cluster's name.")
    ] = "stadspuls",
    strimzi_namespace: Annotated[
        str, typer.Option(help="With --format strimzi: the namespace of the KafkaUsers.")
    ] = "kafka",
) -> None:
    """Create the project's Kafka topics on the configured cluster (existing ones are kept);
    with --acls print (and with --apply create) the ACLs: each source may write only its own raw
    topic, the services what they need."""
    from shared.topics import RAW, ensure_topics, shared_raw_allowed

    if not acls:
        if apply or output != "text":
            raise typer.BadParameter("--apply and --format go with --acls")
        settings = _kafka_settings()
        for name in ensure_topics(settings):
            typer.echo(name)
        if not shared_raw_allowed(settings):
            typer.echo(f"not created: {settings.topic(RAW)} (local development only)")
        return
    grants = _grants(_settings(), Principals(ingest_principal, aggregate_principal))
    if output == "strimzi":
        if apply:
            raise typer.BadParameter("--apply creates ACLs on Kafka; apply KafkaUsers with kubectl")
        typer.echo(_strimzi_users(grants, strimzi_cluster, strimzi_namespace), nl=False)
        return
    if output != "text":
        raise typer.BadParameter(f"unknown format {output!r}; choose text or strimzi")
    typer.echo(render_acls(grants), nl=False)
    if apply:
        _apply_acls(_kafka_settings(), grants)


def _grants(settings: Settings, principals: Principals) -> list[Grant]:
    try:
        return acl_grants(settings, _load_catalog(settings), principals)
    except PrincipalConflictError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _strimzi_users(grants: list[Grant], cluster: str, namespace: str) -> str:
    from shared.strimzi import NotAStrimziUserError, render_kafka_users

    try:
        return render_kafka_users(grants, cluster, namespace)
    except NotAStrimziUserError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _apply_acls(settings: Settings, grants: list[Grant]) -> None:
    from kafka import KafkaAdminClient

    from shared.infra.kafka_acls import create_acls
    from shared.kafka_security import client_options

    with KafkaAdminClient(**client_options(settings), client_id="stadspuls-acls") as admin:
        try:
            create_acls(admin, grants)
        except RuntimeError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
    typer.echo(f"{len(grants)} ACLs are on {settings.kafka_bootstrap}")


@app.command("pull")
def pull_command(
    name: Annotated[str, typer.Argument(help="A pulled catalog source, e.g. kolada.")],
    since: Annotated[
        str | None, typer.Option(help="Ask for what changed since this day (YYYY-MM-DD).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Judge the rows, publish nothing, keep the cursor.")
    ] = False,
) -> None:
    """Run connector NAME once and print the per-row report; exit 1 when the run failed."""
    import asyncio
    from datetime import date

    from services.ingest.connectors.pull import pull_once
    from shared.db.engine import upgrade

    try:
        day = date.fromisoformat(since) if since is not None else None
    except ValueError:
        raise typer.BadParameter(f"--since: {since!r} is not a date like 2025-01-31") from None
    settings = _settings() if dry_run else _kafka_settings()
    catalog = _load_catalog(settings)
    _connector_or_exit(catalog, name)
    upgrade(settings.database_url)
    result = asyncio.run(pull_once(settings, catalog, name, since=day, dry_run=dry_run))
    if result.report is not None:
        typer.echo(orjson.dumps(result.report, option=orjson.OPT_INDENT_2).decode())
    if result.error is not None:
        typer.echo(f"pull {name} failed ({result.error.kind}): {result.error}", err=True)
        raise typer.Exit(1)


def _connector_or_exit(catalog: Catalog, name: str) -> None:
    from services.ingest.connectors.wiring import NotAConnectorError, connector_config

    try:
        connector_config(catalog, name)
    except NotAConnectorError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@app.command("load")
def load_command(
    file: Annotated[
        Path,
        typer.Argument(help="An .xlsx, .csv (or .txt) or .json file.", exists=True, dir_okay=False),
    ],
    source: Annotated[str, typer.Option(help="The catalog source the rows come from.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Judge the rows; publish nothing.")
    ] = False,
    atomic: Annotated[
        bool, typer.Option("--atomic", help="Accept nothing unless every row is valid.")
    ] = False,
    indicator: Annotated[
        str | None, typer.Option(help="Wide layout: the indicator of every value.")
    ] = None,
    gender: Annotated[str | None, typer.Option(help="Wide layout: the gender (T, K, M).")] = None,
    sheet: Annotated[str | None, typer.Option(help=".xlsx: read this sheet only.")] = None,
    charset: Annotated[
        str | None, typer.Option(help="CSV: utf-8 (default), windows-1252 or iso-8859-1.")
    ] = None,
) -> None:
    """Send FILE as `POST /v1/observations` would and print its answer (the per-row report);
    exit 1 when a row is rejected or the file is refused."""
    import asyncio

    from services.ingest.errors import BodyError
    from services.ingest.load import file_form, load_file
    from services.ingest.outcomes import BodyRefused, Judged
    from services.ingest.routes import answer

    settings = _settings() if dry_run else _kafka_settings()
    catalog = _load_catalog(settings)
    if source not in catalog.source:
        typer.echo(
            f"unknown source {source!r}; the catalog has: {', '.join(catalog.source)}", err=True
        )
        raise typer.Exit(2)
    try:
        form = file_form(file, charset, indicator, gender, sheet)
    except BodyError as exc:
        typer.echo(f"{file}: {exc.message}", err=True)
        raise typer.Exit(2) from None
    outcome = asyncio.run(
        load_file(settings, catalog, source, file, form, dry_run=dry_run, atomic=atomic)
    )
    response = answer(outcome, settings.ingest_retry_after_seconds)
    typer.echo(bytes(response.body).decode())
    if isinstance(outcome, Judged):
        report = outcome.report
        done = "would be accepted" if report.dry_run else "accepted"
        typer.echo(
            f"{file}: {report.received} rows, {report.accepted} {done}, {report.rejected} rejected",
            err=True,
        )
        if not report.rejected:
            return
    elif isinstance(outcome, BodyRefused):
        typer.echo(f"{file}: refused ({outcome.error.code}): {outcome.error.message}", err=True)
    raise typer.Exit(1)


@app.command("rebuild")
def rebuild_command(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay",
            help="Instead rewind the aggregator and empty the read model: the next workers "
            "replay the topic.",
        ),
    ] = False,
) -> None:
    """Rebuild the read model from the canonical topic; stop every aggregator worker first."""
    from sqlalchemy.engine import make_url

    from services.aggregate.bulk import rebuild_bulk
    from services.aggregate.rebuild import ActiveWorkersError, rebuild

    settings = _kafka_settings()
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    topic, group = settings.topic("observations.v1"), settings.aggregate_app_id
    if not yes:
        question = (
            f"Empty the read model at {where} and replay {topic} from the start?"
            if replay
            else f"Replace the read model at {where} with one computed from {topic} up to its "
            f"end offsets, and move consumer group {group!r} to them?"
        )
        typer.confirm(question, abort=True)
    try:
        if replay:
            rebuild(settings)
        else:
            done = rebuild_bulk(settings, _load_catalog(settings), say=_say)
    except ActiveWorkersError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    if replay:
        typer.echo("read model emptied and the aggregator rewound: start the aggregator to replay")
        return
    ends = ", ".join(f"[{p}] {n}" for p, n in sorted(done.ends.items()))
    refused = ", ".join(f"{n} {reason}" for reason, n in sorted(done.refused.items()))
    typer.echo(
        f"rebuilt the read model from {done.events} events of {topic} up to offsets "
        f"{ends or 'none'}: {done.versions} versions, {done.rows} series rows, "
        f"{refused or 'none'} refused ({done.dead_lettered} sent to the DLQ now); "
        f"read {done.read_seconds:.1f}s, written {done.write_seconds:.1f}s; "
        f"consumer group {group!r} continues from there"
    )


def _say(message: str) -> None:
    typer.echo(message, err=True)


@app.command("verify")
def verify_command(
    show: Annotated[int, typer.Option(help="How many differences of each kind to print.")] = 20,
) -> None:
    """Compare the read model with the canonical topic; exit 1 when anything is missing, extra or wrong."""
    from services.aggregate.verify import verify
    from shared.db.engine import make_engine

    settings = _kafka_settings()
    engine = make_engine(settings.database_url)
    try:
        report = verify(settings, _load_catalog(settings), engine)
    finally:
        engine.dispose()
    stops = ", ".join(f"[{p}] {n}" for (_, p), n in report.stop.items())
    typer.echo(
        f"replayed {report.events} events of {settings.topic('observations.v1')} "
        f"up to offsets {stops or 'none'}"
    )
    for name, found in (
        ("skipped", report.skipped),
        ("missing", report.missing),
        ("extra", report.extra),
        ("wrong", report.wrong),
        ("versions", report.versions),
    ):
        typer.echo(f"{name}: {len(found)}")
        for line in found[:show]:
            typer.echo(f"  {line}")
    if not report.ok:
        typer.echo(
            "the read model differs from the log: see docs/operations.md, "
            "'Repairing the read model' (stadspuls rebuild)",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo("the read model equals the log")


def main() -> None:
    """Entry point of the `stadspuls` console script."""
    app()


if __name__ == "__main__":
    main()
