"""deploy/'s Kubernetes manifests against the Kubernetes API schemas (kubernetes-validate, which
bundles them: offline, strict, so a misspelt field fails), and against each other and the
server; deploy/compose.yaml parsed and checked against the image, nginx's config and the drain
(`docker compose config` too, where Docker Compose is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from s2t_stream.server.options import CLOSE_TIMEOUT_S, Limits

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "deploy" / "compose.yaml"
NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
# the oldest Kubernetes these manifests claim (autoscaling/v2, policy/v1, sidecar-free) and the
# newest the schemas know
KUBERNETES_VERSIONS = ("1.29.0", "newest")
SERVER_PORT = 2700  # the image's (Dockerfile: EXPOSE, ENTRYPOINT --port)


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object in deploy/k8s, by kind (the kustomization aside)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            out[document["kind"]] = document
    return out


def flag(args: list[str], name: str, default: float) -> float:
    """The value of `--name=V` (or `--name V`) in a container's args, else `default`."""
    for i, arg in enumerate(args):
        if arg.startswith(f"{name}="):
            return float(arg.split("=", 1)[1])
        if arg == name:
            return float(args[i + 1])
    return default


def seconds(duration: str) -> float:
    """A compose duration such as "45s", "1m30s"."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_match_the_kubernetes_schemas(version: str) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="pip install kubernetes-validate (the 'dev' extra)"
    )
    version = kubernetes_validate.latest_version() if version == "newest" else version
    objects = manifests()
    assert set(objects) == {
        "Deployment", "Service", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget"
    }  # fmt: skip
    for kind, document in objects.items():
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{kind} against Kubernetes {version}: {error.message} at {error.path}")


def test_a_typo_fails_the_schema_check() -> None:
    # the check above can fail: a misspelt probe field is caught
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="pip install kubernetes-validate (the 'dev' extra)"
    )
    deployment = manifests()["Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGet"]["paht"] = container["readinessProbe"]["httpGet"].pop(
        "path"
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.29.0", strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_the_deployment_probes_drains_and_runs_as_the_image_does() -> None:
    objects = manifests()
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["ports"][0]["containerPort"] == SERVER_PORT
    # the grace period covers the preStop sleep, the drain limit and the closing handshakes
    sleep = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain = flag(container["args"], "--drain-timeout", Limits().drain_timeout_s)
    assert pod["terminationGracePeriodSeconds"] >= sleep + drain + CLOSE_TIMEOUT_S
    user = re.search(r"^USER (\d+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert user and pod["securityContext"]["runAsUser"] == int(user[1])
    assert pod["securityContext"]["runAsNonRoot"] is True
    # the HPA scales this Deployment, on a share of its session limit
    hpa = objects["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == objects["Deployment"]["metadata"]["name"]
    (metric,) = hpa["metrics"]
    assert metric["pods"]["metric"]["name"] == "s2t_sessions_active"
    capacity = flag(container["args"], "--max-sessions", Limits().max_sessions)
    assert 0 < float(metric["pods"]["target"]["averageValue"]) < capacity


def test_service_and_ingress_reach_the_pods() -> None:
    objects = manifests()
    labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    service = objects["Service"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= (
        labels.items()
    )
    port_names = {p["name"] for p in service["spec"]["ports"]}
    container_ports = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= {
        p["name"] for p in container_ports
    }
    ingress = objects["Ingress"]
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in port_names
    annotations = ingress["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):  # websockets outlive 60 s
        assert int(annotations[prefix + timeout]) >= 3600


# --- compose -------------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def test_compose_runs_replicas_behind_nginx() -> None:
    services = compose()["services"]
    assert set(services) == {"s2t", "nginx"}
    s2t, nginx = services["s2t"], services["nginx"]
    # the image is built from this repository's Dockerfile
    context = (COMPOSE.parent / s2t["build"]["context"]).resolve()
    assert (context / s2t["build"]["dockerfile"]) == ROOT / "Dockerfile"
    assert s2t["deploy"]["replicas"] >= 2
    # compose waits for the drain before it kills a replica
    drain = flag(s2t["command"], "--drain-timeout", Limits().drain_timeout_s)
    assert seconds(s2t["stop_grace_period"]) >= drain + CLOSE_TIMEOUT_S
    assert f"127.0.0.1:{SERVER_PORT}/healthz" in " ".join(s2t["healthcheck"]["test"])
    # nginx: deploy's config, its upstream the s2t service, its port published
    source, target, *_ = nginx["volumes"][0].split(":")
    assert (COMPOSE.parent / source).resolve() == NGINX_CONF
    assert target == "/etc/nginx/nginx.conf"
    conf = NGINX_CONF.read_text()
    assert re.search(rf"^\s*server s2t:{SERVER_PORT}\b", conf, re.M), "upstream ≠ the service"
    listen = re.search(r"^\s*listen (\d+);", conf, re.M)
    assert listen and any(p.endswith(f":{listen[1]}") for p in nginx["ports"])
    assert nginx["depends_on"]["s2t"]["condition"] == "service_healthy"
    assert "/nginx-healthz" in " ".join(nginx["healthcheck"]["test"])


def test_docker_compose_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed: the compose file is checked as YAML above only")
    version = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if version.returncode != 0:
        pytest.skip("Docker Compose (the docker compose plugin) is not installed")
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
