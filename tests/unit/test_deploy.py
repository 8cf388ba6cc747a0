"""The deployment files hold together: TLS is terminated in front of the app (Caddy in compose, an Ingress on
Kubernetes), only the proxy publishes ports, and the app trusts the proxy for the client address it audits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


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
