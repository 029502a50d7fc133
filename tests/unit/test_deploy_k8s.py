"""The Kubernetes manifests in deploy/k8s validate offline and agree with each other and the image."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic import SecretStr, ValidationError

from shared.production import production_refusals
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
# Operator CRDs have no schema in kubernetes-validate; they are checked structurally below.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
K8S_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
SERVICES = {"ingest": 8081, "aggregate": 8082, "api": 8080}
# Connector Deployments: `stadspuls serve connector NAME` on the connector port.
CONNECTORS = {"connector-kolada": (8083, ["stadspuls", "serve", "connector", "kolada"])}
COMMANDS = {s: (port, ["stadspuls", "serve", s]) for s, port in SERVICES.items()} | CONNECTORS

Doc = dict[str, Any]


def _load(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


MANIFESTS: dict[str, list[Doc]] = {
    p.name: _load(p) for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"
}
DOCS: list[tuple[str, Doc]] = [(name, d) for name, docs in MANIFESTS.items() for d in docs]


def _kind(kind: str) -> list[Doc]:
    return [d for _, d in DOCS if d["kind"] == kind]


def _by_name(kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in _kind(kind)}


def _pod_specs() -> list[tuple[str, Doc]]:
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in _kind("Deployment") + _kind("Job")
    ]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    ("name", "doc"),
    [(n, d) for n, d in DOCS if d["kind"] not in CRD_KINDS],
    ids=lambda v: v if isinstance(v, str) else v["kind"],
)
def test_manifest_validates_strictly(name: str, doc: Doc, version: str) -> None:
    """Each built-in resource matches the Kubernetes schema, unknown fields included."""
    kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_catches_a_misspelt_field() -> None:
    """The validator used above really rejects what a typo would produce."""
    deployment = copy.deepcopy(_by_name("Deployment")["stadspuls-api"])
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_only_known_kinds_lack_a_schema() -> None:
    """Every kind without a bundled schema is one of the operator CRDs checked by hand."""
    for _, doc in DOCS:
        try:
            kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert doc["kind"] in CRD_KINDS


def test_kustomization_applies_everything_but_the_secret_example() -> None:
    """The secret example is never applied; every other manifest is."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == set(MANIFESTS) - {"secret.example.yaml"}
    assert {d["metadata"].get("namespace") for _, d in DOCS if d["kind"] != "Namespace"} == {
        "stadspuls"
    }


@pytest.mark.parametrize("service", sorted(COMMANDS))
def test_deployment_has_probes_resources_and_runs_unprivileged(service: str) -> None:
    """Each service's Deployment probes /healthz and /readyz on its port and runs as non-root."""
    deployment = _by_name("Deployment")[f"stadspuls-{service}"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    port, command = COMMANDS[service]
    assert ports == {"http": port}
    assert container["command"] == command
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    for bound in ("requests", "limits"):
        assert set(container["resources"][bound]) == {"cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_ingest_and_api_run_two_replicas_with_autoscaling() -> None:
    """The stateless services start with two replicas and an HPA that never goes below that."""
    deployments, hpas = _by_name("Deployment"), _by_name("HorizontalPodAutoscaler")
    assert set(hpas) == {"stadspuls-ingest", "stadspuls-api"}
    for name, hpa in hpas.items():
        assert deployments[name]["spec"]["replicas"] == 2
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert hpa["spec"]["minReplicas"] >= 2


def test_no_workload_touches_the_host() -> None:
    """No host ports, host network, host paths or privileged containers anywhere."""
    for name, pod in _pod_specs():
        assert not pod.get("hostNetwork"), name
        assert not pod.get("hostPID"), name
        assert all("hostPath" not in v for v in pod.get("volumes", [])), name
        for container in pod["containers"]:
            assert all("hostPort" not in p for p in container.get("ports", [])), name
            assert not container["securityContext"].get("privileged"), name
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name


def test_every_workload_uses_one_image_run_as_the_dockerfile_user() -> None:
    """Deployments and the migrate Job share one image, overridable by kustomize, and the image's uid."""
    images = {c["image"] for _, pod in _pod_specs() for c in pod["containers"]}
    assert len(images) == 1
    (image,) = images
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert [i["name"] for i in kustomization["images"]] == [image.split(":")[0]]
    user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "deploy" / "Dockerfile").read_text(), re.M)
    assert user is not None
    for name, pod in _pod_specs():
        assert pod["securityContext"]["runAsUser"] == int(user.group(1)), name
        assert pod["securityContext"]["runAsNonRoot"] is True, name


@pytest.mark.parametrize(
    ("job", "command"),
    [
        ("stadspuls-migrate", ["stadspuls", "db", "upgrade"]),
        ("stadspuls-topics", ["stadspuls", "topics"]),
    ],
)
def test_one_shot_jobs_run_with_the_services_configuration(job: str, command: list[str]) -> None:
    """The migrate and topics Jobs run their command with the env the services get."""
    spec = _by_name("Job")[job]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"] == command
    assert spec["restartPolicy"] == "Never"
    service_env = _by_name("Deployment")["stadspuls-api"]["spec"]["template"]["spec"]["containers"][
        0
    ]["envFrom"]
    assert container["envFrom"] == service_env


def test_services_pdbs_and_selectors_point_at_real_pods() -> None:
    """Every Service and PodDisruptionBudget selects the pods of one Deployment, by a named port."""
    pods = {
        name: (
            d["spec"]["template"]["metadata"]["labels"],
            d["spec"]["template"]["spec"]["containers"][0],
        )
        for name, d in _by_name("Deployment").items()
    }
    assert set(_by_name("Service")) == set(pods) == set(_by_name("PodDisruptionBudget"))
    for name, service in _by_name("Service").items():
        labels, container = pods[name]
        assert service["spec"]["selector"].items() <= labels.items()
        port_names = {p["name"] for p in container["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
        assert service["spec"]["type"] == "ClusterIP"
    for name, pdb in _by_name("PodDisruptionBudget").items():
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pods[name][0].items()


def test_configmap_ports_match_container_ports() -> None:
    """STADSPULS_*_PORT in the ConfigMap is where each container listens."""
    data = _by_name("ConfigMap")["stadspuls-config"]["data"]
    assert data["STADSPULS_HOST"] == "0.0.0.0"
    for service, port in SERVICES.items():
        assert data[f"STADSPULS_{service.upper()}_PORT"] == str(port)
    assert data["STADSPULS_CONNECTOR_PORT"] == str(CONNECTORS["connector-kolada"][0])
    assert all(not k.endswith(("KEY_SECRET", "DATABASE_URL", "PASSWORD")) for k in data), (
        "secrets belong in the Secret"
    )


def test_secret_example_holds_only_placeholders_the_services_refuse() -> None:
    """The example Secret names the keys the pods read, with values Settings will not accept."""
    secret = _by_name("Secret")["stadspuls-secrets"]
    refs = {
        e["secretRef"]["name"]
        for _, pod in _pod_specs()
        for e in pod["containers"][0]["envFrom"]
        if "secretRef" in e
    }
    assert refs == {"stadspuls-secrets"}
    assert set(secret["stringData"]) == {"STADSPULS_DATABASE_URL", "STADSPULS_KEY_SECRET"}
    with pytest.raises(ValidationError):
        Settings(key_secret=SecretStr(secret["stringData"]["STADSPULS_KEY_SECRET"]))


# The workloads that talk to Kafka, and the Strimzi KafkaUser each one authenticates as.
KAFKA_USERS = {
    "stadspuls-ingest": "stadspuls-ingest",
    "stadspuls-aggregate": "stadspuls-aggregate",
    "stadspuls-topics": "stadspuls-admin",
    "stadspuls-connector-kolada": "stadspuls-ingest",  # publishes the canonical topic as ingest
}
STRIMZI_USERS = K8S / "strimzi" / "kafka-users.yaml"


def _container(workload: str) -> Doc:
    pod = dict(_pod_specs())[workload]
    container: Doc = pod["containers"][0]
    return container


def _pod_env(workload: str) -> dict[str, str]:
    """What a workload's container is given: ConfigMap, the example Secret with real values in
    place of its placeholders, and its own literal env (a secretKeyRef as a stand-in value)."""
    env = dict(_by_name("ConfigMap")["stadspuls-config"]["data"])
    env |= {
        "STADSPULS_DATABASE_URL": "postgresql+psycopg://stadspuls:pw@db:5432/stadspuls",
        "STADSPULS_KEY_SECRET": "a-real-secret-of-forty-eight-characters-000000000",
    }
    for item in _container(workload).get("env", []):
        env[item["name"]] = item.get("value", "from-a-secret")
    return env


@pytest.mark.parametrize("workload", sorted(dict(_pod_specs())))
def test_every_workload_passes_the_production_guard(workload: str, tmp_path: Path) -> None:
    """Each pod runs as production with settings the guard accepts: no development default left."""
    env = _pod_env(workload)
    assert env["STADSPULS_ENVIRONMENT"] == "production"
    for name in [n for n in env if n.startswith("STADSPULS_KAFKA_SSL_")]:
        # Mounted files exist only in the pod (the mounts are checked below): stand-ins here.
        env[name] = str(tmp_path / Path(env[name]).name)
        Path(env[name]).touch()
    settings = Settings(**{k.removeprefix("STADSPULS_").lower(): v for k, v in env.items()})
    assert production_refusals(settings) == []
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert not settings.kafka_allow_plaintext
    assert settings.api_anonymous == "final"


@pytest.mark.parametrize(("workload", "user"), sorted(KAFKA_USERS.items()))
def test_kafka_clients_authenticate_as_their_kafkauser_and_trust_the_cluster_ca(
    workload: str, user: str
) -> None:
    """SASL user and password from the KafkaUser's Secret; the cluster CA mounted where CAFILE says."""
    container = _container(workload)
    env = {e["name"]: e for e in container["env"]}
    assert env["STADSPULS_KAFKA_SASL_USERNAME"]["value"] == user
    ref = env["STADSPULS_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": user, "key": "password"}
    cafile = Path(_by_name("ConfigMap")["stadspuls-config"]["data"]["STADSPULS_KAFKA_SSL_CAFILE"])
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "kafka-ca"]
    assert mount == {"name": "kafka-ca", "mountPath": str(cafile.parent), "readOnly": True}
    volumes = {v["name"]: v for v in dict(_pod_specs())[workload]["volumes"]}
    secret = volumes["kafka-ca"]["secret"]
    assert secret["secretName"].endswith("-cluster-ca-cert")  # Strimzi's <cluster>-cluster-ca-cert
    assert secret["items"] == [{"key": "ca.crt", "path": cafile.name}]


def test_bootstrap_is_a_strimzi_clusters_tls_listener() -> None:
    """The bootstrap is <cluster>-kafka-bootstrap of the cluster whose CA Secret is mounted."""
    data = _by_name("ConfigMap")["stadspuls-config"]["data"]
    host, port = data["STADSPULS_KAFKA_BOOTSTRAP"].rsplit(":", 1)
    cluster = host.split(".", 1)[0].removesuffix("-kafka-bootstrap")
    volumes = [v for _, pod in _pod_specs() for v in pod.get("volumes", []) if "secret" in v]
    assert {v["secret"]["secretName"] for v in volumes} == {f"{cluster}-cluster-ca-cert"}
    assert port == "9093"


def test_workloads_without_kafka_get_no_kafka_credentials() -> None:
    """The API and the migration touch only SQL: no Kafka password reaches them."""
    for workload in set(dict(_pod_specs())) - set(KAFKA_USERS):
        names = {e["name"] for e in _container(workload).get("env", [])}
        assert "STADSPULS_KAFKA_SASL_PASSWORD" not in names, workload


def test_the_services_kafka_users_are_generated_strimzi_users() -> None:
    """The services' user names are KafkaUsers of the generated file (the admin is the operator's)."""
    if not STRIMZI_USERS.exists():
        pytest.skip("deploy/k8s/strimzi/kafka-users.yaml is generated by `stadspuls topics --acls`")
    users = {d["metadata"]["name"]: d for d in _load(STRIMZI_USERS) if d["kind"] == "KafkaUser"}
    for workload, user in KAFKA_USERS.items():
        if user != "stadspuls-admin":
            assert users[user]["spec"]["authentication"]["type"] == "scram-sha-512", workload
    data = _by_name("ConfigMap")["stadspuls-config"]["data"]
    assert data["STADSPULS_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"


def test_servicemonitor_scrapes_each_service_under_its_prometheus_job_name() -> None:
    """The ServiceMonitor selects the three Services and yields the jobs the alert rules expect."""
    (monitor,) = _kind("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"matchNames": ["stadspuls"]}
    selected = {
        name: s
        for name, s in _by_name("Service").items()
        if spec["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    }
    assert set(selected) == {f"stadspuls-{s}" for s in COMMANDS}
    jobs = {s["metadata"]["labels"][spec["jobLabel"]] for s in selected.values()}
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert jobs == {c["job_name"] for c in prometheus["scrape_configs"]} - {"prometheus"}
    for endpoint in spec["endpoints"]:
        assert endpoint["path"] == "/metrics"
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
        assert all(
            endpoint["port"] in {p["name"] for p in s["spec"]["ports"]} for s in selected.values()
        )


def test_prometheusrule_is_the_rules_file() -> None:
    """The operator's PrometheusRule carries exactly the rules Prometheus loads in compose."""
    (rule,) = _kind("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    rules_file = ROOT / "deploy" / "prometheus" / "rules" / "stadspuls.rules.yml"
    assert rule["spec"] == yaml.safe_load(rules_file.read_text())
