"""The simulated entitlement server (module sim-entitlement): an EEC presents its eecId and
its secret, gets an ES256 JWT (sub = eecId), and a token listener that trusts the
entitlement issuer accepts it; a wrong secret or an unknown EEC gets 401 ProblemDetails."""

import json
import subprocess
import time

import jwt
import pytest
from cryptography import x509

from conftest import BIN, CERTS, Site, free_port, request, site_block, tls_client

ENT = "https://entitlement.example"
AUD = "ees1.site1.example"
EEC = "spiffe://site1/eec/eec1"
SECRET = "eec1-secret-0123456789"
EEC2 = "spiffe://site1/eec/eec2"
SECRET2 = "another-secret-xyz"
TOKENS = "/entitlement/v1/tokens"


def start(site, ttl=120, secrets=None, run=True):
    ports = {"ent": free_port(), "ees": free_port()}
    (site.dir / "eec-secrets").write_text(
        secrets if secrets is not None else
        f"# eecId secret\n{EEC} {SECRET}\n{EEC2} {SECRET2}\n")
    site.write("site.yaml", site_block(site.dir) + f"""tokens:
  issuers:
    - id: {ENT}
      keys:
        - file: {CERTS}/jwt-issuer.pem
          kid: ent-1
sim:
  entitlement:
    issuer: {ENT}
    key: {CERTS}/jwt-issuer.key
    kid: ent-1
    secrets: eec-secrets
    audience: {AUD}
    scope: [eees-whoami]
    token_ttl_s: {ttl}
""")
    site.add("ent.yaml", interface="ENTITLEMENT", port=ports["ent"], mode="server-cert",
             role="sim", mount="[health, sim-entitlement]")
    site.add("edge1.yaml", interface="EDGE-1", port=ports["ees"], mode="mtls", role="ees",
             authz=f"mode: token\naudience: {AUD}\nrules:\n  - path: /whoami\n    scope: [eees-whoami]")
    if run:
        site.start()
    return ports


def ask(port, doc, raw=None):
    with tls_client(port) as s:
        body = raw if raw is not None else json.dumps(doc).encode()
        return request(s, "POST", TOKENS, {"Content-Type": "application/json"}, body)


def whoami(port, tok, cert="eec1"):
    with tls_client(port, cert=cert) as s:
        return request(s, path="/whoami", headers={"Authorization": f"Bearer {tok}"})


def test_token_from_the_sim_is_accepted_by_a_token_listener(site):
    ports = start(site)
    before = int(time.time())
    status, headers, body = ask(ports["ent"], {"eecId": EEC, "secret": SECRET})
    assert status == 200, body
    assert headers.get("cache-control") == "no-store"
    doc = json.loads(body)
    assert doc["token_type"] == "Bearer" and doc["expires_in"] == 120
    tok = doc["access_token"]
    # Signed by the entitlement server's key (checked here with its certificate).
    cert_key = x509.load_pem_x509_certificate((CERTS / "jwt-issuer.pem").read_bytes()).public_key()
    claims = jwt.decode(tok, cert_key, algorithms=["ES256"], audience=AUD, issuer=ENT)
    assert jwt.get_unverified_header(tok)["kid"] == "ent-1"
    assert claims["sub"] == EEC and claims["scope"] == "eees-whoami"
    assert before <= claims["iat"] <= int(time.time()) and claims["exp"] == claims["iat"] + 120
    assert len(claims["jti"]) == 32
    # The token listener accepts it for the EEC it names...
    status, _, body = whoami(ports["ees"], tok)
    assert status == 200, body
    assert json.loads(body)["peer"]["id"] == EEC
    # A token the sim issued to another EEC is refused on eec1's connection.
    status, _, body = ask(ports["ent"], {"eecId": EEC2, "secret": SECRET2})
    assert status == 200, body
    assert whoami(ports["ees"], json.loads(body)["access_token"])[0] == 401
    issued = site.events("entitlement_token_issued")
    assert [e["eec_id"] for e in issued] == [EEC, EEC2]
    assert tok not in site.log_path.read_text() and SECRET not in site.log_path.read_text()


def test_wrong_secret_or_unknown_eec_gets_401(site):
    ports = start(site)
    for doc in ({"eecId": EEC, "secret": "eec1-secret-0123456788"},
                {"eecId": EEC, "secret": ""},
                {"eecId": EEC, "secret": SECRET2},  # eec2's secret
                {"eecId": "spiffe://site1/eec/nobody", "secret": SECRET}):
        status, headers, body = ask(ports["ent"], doc)
        assert status == 401, (doc, body)
        assert headers.get("content-type", "").startswith("application/problem+json")
        problem = json.loads(body)
        assert problem["status"] == 401 and problem["cause"] == "UNAUTHENTICATED"
        assert "access_token" not in problem
    assert len(site.events("entitlement_auth_failed")) == 4
    assert site.events("entitlement_token_issued") == []


@pytest.mark.parametrize("doc,param", [({"secret": SECRET}, "eecId"),
                                       ({"eecId": EEC, "secret": 7}, "secret"),
                                       ({"eecId": 7, "secret": SECRET}, "eecId"),
                                       ({"eecId": EEC, "secret": "x" * 257}, "secret"),
                                       ({"eecId": EEC, "secret": SECRET, "scope": ""}, "scope")])
def test_malformed_requests_get_400(site, doc, param):
    ports = start(site)
    status, _, body = ask(ports["ent"], doc)
    assert status == 400, body
    problem = json.loads(body)
    assert problem["invalidParams"][0]["param"] == param


def test_bad_secrets_file_refuses_to_start(site):
    for secrets, expected in ((f"{EEC} short\n", "eec-secrets:1: secret must be 8 to 256"),
                              (f"{EEC} {SECRET}\n{EEC} {SECRET}x\n",
                               f"eec-secrets:2: eecId '{EEC}' listed twice"),
                              ("# nobody\n", "eec-secrets: no EEC listed")):
        start(site, secrets=secrets, run=False)
        p = subprocess.run([BIN, "serve", "--policies", str(site.dir)], capture_output=True,
                           timeout=10)
        assert p.returncode != 0
        out = (p.stdout + p.stderr).decode()
        assert expected in out, out
        assert SECRET not in out


def test_memcheck_clean_through_tokens_401_and_400(tmp_path):
    site = Site(tmp_path / "policies", valgrind=True)
    ports = start(site, run=False)
    site.start(timeout=30)
    try:
        status, _, body = ask(ports["ent"], {"eecId": EEC, "secret": SECRET})
        assert status == 200, body
        assert whoami(ports["ees"], json.loads(body)["access_token"])[0] == 200
        assert ask(ports["ent"], {"eecId": EEC, "secret": "wrong-secret"})[0] == 401
        assert ask(ports["ent"], {"eecId": 1})[0] == 400
        assert ask(ports["ent"], None, raw=b"{not json")[0] == 400
    finally:
        rc = site.stop(timeout=30)
    report = (site.dir / "valgrind.txt").read_text()
    assert rc == 0, report
    assert report.strip() == "", report


def test_without_a_secret_or_certificate_403_and_scopes_are_bounded(site):
    ports = start(site)
    # No secret, no client certificate: 403.
    status, _, body = ask(ports["ent"], {"eecId": EEC})
    assert status == 403 and json.loads(body)["cause"] == "REQUEST_NOT_AUTHORIZED", body
    # (With a client certificate proving the eecId: test_sim_entitlement.py.)
    # A scope beyond sim.entitlement.scope: 403 INVALID_SCOPE; within it: granted.
    status, _, body = ask(ports["ent"], {"eecId": EEC, "secret": SECRET,
                                         "scope": "eees-whoami eees-eeccontextreloc"})
    assert status == 403 and json.loads(body)["cause"] == "INVALID_SCOPE", body
    status, _, body = ask(ports["ent"], {"eecId": EEC, "secret": SECRET, "scope": "eees-whoami"})
    assert status == 200, body
