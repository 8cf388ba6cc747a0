"""The deployment files hold together and pass the linters and schema validators (Kubernetes API schemas, the
Compose specification, hadolint): no container engine runs here. TLS is terminated in front of the app (Caddy in
compose, an Ingress on Kubernetes), only the proxy publishes ports, and the app trusts the proxy for the client
address it audits; a stopping pod drains within its grace period."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE_SPEC = Path(__file__).resolve().parents[1] / "data" / "compose"
KUBERNETES = "1.30.0"  # the oldest Kubernetes still supported when this was written


def test_compose_puts_tls_in_front_of_two_app_processes() -> None:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert "443:443" in services["proxy"]["ports"]
    apps = [name for name in services if name.startswith("prealert-")]
    assert len(apps) == 2
    for name in apps:
        app = services[name]
        assert "ports" not in app, f"{name} must be reachable only through the proxy"
        assert app["environment"]["PREALERT_FORWARDED_ALLOW_IPS"]
        assert app["environment"]["PREALERT_ALLOWED_ORIGINS"].startswith("https://")
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    upstreams = caddyfile.split("reverse_proxy", 1)[1].split("{", 1)[0].split()
    assert sorted(upstreams) == sorted(f"{name}:8000" for name in apps)
    assert "/readyz" in caddyfile


def test_kubernetes_terminates_tls_at_the_ingress() -> None:
    documents = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "prealert.yaml").read_text()) if d]
    kinds = {d["kind"]: d for d in documents}
    ingress = kinds["Ingress"]
    assert ingress["spec"]["tls"][0]["secretName"]
    assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]
    assert int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert "PREALERT_FORWARDED_ALLOW_IPS" in env and "PREALERT_TOKEN_SECRET" in env
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def _kubernetes() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "prealert.yaml").read_text()) if d]


@pytest.mark.parametrize("document", _kubernetes(), ids=lambda d: str(d["kind"]))
def test_kubernetes_manifests_validate_against_the_api_schemas(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_validator_does_refuse_a_broken_manifest() -> None:
    deployment = next(d for d in _kubernetes() if d["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_compose_file_validates_against_the_compose_specification() -> None:
    schema = json.loads((COMPOSE_SPEC / "compose_spec.json").read_text())
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    errors = [e.message for e in jsonschema.Draft201909Validator(schema).iter_errors(compose)]
    assert errors == []
    assert list(jsonschema.Draft201909Validator(schema).iter_errors({"services": {"x": {"imagee": "y"}}}))


def test_dockerfile_passes_hadolint() -> None:
    linter = Path(sys.executable).parent / "hadolint"
    found = subprocess.run([str(linter), "--no-color", str(DEPLOY / "Dockerfile")], capture_output=True, text=True)
    assert found.returncode == 0, found.stdout + found.stderr
    assert found.stdout == ""


def test_the_drain_fits_in_the_grace_period_and_scale_out_is_set() -> None:
    kinds = {d["kind"]: d for d in _kubernetes()}
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    drain_s = float(env["PREALERT_DRAIN_GRACE_S"])
    assert pod["terminationGracePeriodSeconds"] >= drain_s + 20  # the drain, then the writers' last commit
    readiness = container["readinessProbe"]
    assert readiness["httpGet"]["path"] == "/readyz"
    assert readiness["periodSeconds"] * readiness["failureThreshold"] < drain_s  # out of the Service in time
    assert kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == kinds["Deployment"]["metadata"]["name"]
    labels = kinds["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert compose["redis"]["command"][compose["redis"]["command"].index("--appendonly") + 1] == "yes"
    for name in ("prealert-1", "prealert-2"):
        assert compose[name]["stop_grace_period"] == "30s"
