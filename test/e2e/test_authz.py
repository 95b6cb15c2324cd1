"""Static authorization: per-route allow-lists of peer identities."""

import json

from conftest import CERTS, curl, demo_psk, free_port, s_client, GET_WHOAMI

RULES = """mode: static
rules:
  - path: /healthz
    allow: any
  - path: /whoami
    methods: [GET]
    allow:
      - spiffe://site1/ees/*
      - DNS:*.ees.site1.example
      - PSK:demo-eec1"""


def start(site):
    mtls, psk = free_port(), free_port()
    site.add("edge6.yaml", interface="EDGE-6", port=mtls, mode="mtls", role="ecs", authz=RULES)
    site.add("edge1.yaml", interface="EDGE-1", port=psk, mode="psk", role="ees", authz=RULES)
    site.start()
    return mtls, psk


def get(port, cert, path="/whoami"):
    return curl(f"https://localhost:{port}{path}", "-w", "\n%{http_code}",
                "--cert", f"{CERTS}/{cert}.pem", "--key", f"{CERTS}/{cert}.key")


def test_allowed_identity_is_served_and_audited(site):
    mtls, _ = start(site)
    rc, out = get(mtls, "ees2-client")
    assert out.endswith("200"), out
    audit = site.events("authz")[0]
    assert audit["decision"] == "allow" and audit["peer"] == "spiffe://site1/ees/ees2"
    assert audit["provider"] == "static" and audit["interface"] == "EDGE-6"


def test_identity_outside_the_list_gets_403_problem_and_audit(site):
    mtls, _ = start(site)
    rc, out = get(mtls, "eec1")
    body, code = out.rsplit("\n", 1)
    assert code == "403"
    problem = json.loads(body)
    assert problem["status"] == 403 and problem["cause"] == "PEER_NOT_ALLOWED"
    audit = site.events("authz")[0]
    assert audit["decision"] == "deny" and audit["status"] == 403
    assert audit["peer"] == "spiffe://site1/eec/eec1" and audit["path"] == "/whoami"


def test_route_open_to_any_peer_and_method_outside_the_rule(site):
    mtls, _ = start(site)
    assert get(mtls, "eec1", "/healthz")[1].endswith("200")
    rc, out = curl(f"https://localhost:{mtls}/whoami", "-X", "HEAD", "-I", "-w", "%{http_code}",
                   "--cert", f"{CERTS}/ees1-client.pem", "--key", f"{CERTS}/ees1-client.key")
    assert out.endswith("403"), out


def test_psk_identity_in_the_allow_list(site):
    _, psk = start(site)
    identity, key = demo_psk()
    rc, out = s_client(psk, ["-tls1_2", "-psk_identity", identity, "-psk", key], stdin=GET_WHOAMI)
    assert "HTTP/1.1 200" in out, out
