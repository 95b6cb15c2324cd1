"""The simulated entitlement server (issue 5; TR 33.739 solution 25): an EEC
authenticates with its certificate at sim-entitlement and gets a JWT; an EDGE-1 listener
that trusts the entitlement server (tokens.issuers with its certificate) accepts it."""

import json

import jwt

from conftest import CERTS, free_port, listener_yaml, request, site_block, tls_client

ENT = "https://entitlement.example"
AUD = "ees1.site1.example"
EEC = "spiffe://site1/eec/eec1"


def start(site):
    ports = {"ent": free_port(), "edge1": free_port()}
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
    audience: {AUD}
    token_ttl_s: 120
""")
    site.add("ent.yaml", interface="entitlement", port=ports["ent"], mode="mtls", role="sim",
             mount="[sim-entitlement]")
    site.add("edge1.yaml", interface="EDGE-1", port=ports["edge1"], mode="mtls", role="ees",
             authz=f"mode: token\naudience: {AUD}\nrules:\n  - path: /whoami\n"
                   "    scope: [eees-whoami]")
    site.start()
    return ports


def get_token(port, body, cert="eec1"):
    with tls_client(port, cert=cert) as s:
        status, _, answer = request(s, "POST", "/entitlement/v1/tokens",
                                    {"Content-Type": "application/json"},
                                    json.dumps(body).encode())
    return status, json.loads(answer)


def test_entitlement_server_issues_tokens_the_site_accepts(site):
    ports = start(site)
    status, doc = get_token(ports["ent"], {"eecId": EEC, "scope": "eees-whoami"})
    assert status == 200 and doc["token_type"] == "Bearer" and doc["expires_in"] == 120, doc
    tok = doc["access_token"]
    # Checked here with PyJWT and the issuer's certificate, not with our code.
    pub = (CERTS / "jwt-issuer.pem").read_bytes()
    from cryptography.x509 import load_pem_x509_certificate
    claims = jwt.decode(tok, load_pem_x509_certificate(pub).public_key(), algorithms=["ES256"],
                        audience=AUD, issuer=ENT)
    assert claims["sub"] == EEC and claims["scope"] == "eees-whoami"
    assert claims["exp"] - claims["iat"] == 120 and jwt.get_unverified_header(tok)["kid"] == "ent-1"
    with tls_client(ports["edge1"], cert="eec1") as s:
        status, _, body = request(s, path="/whoami", headers={"Authorization": f"Bearer {tok}"})
    assert status == 200 and json.loads(body)["peer"]["id"] == EEC, body
    # With another scope the token does not open /whoami.
    status, doc = get_token(ports["ent"], {"eecId": EEC, "scope": "eees-other"})
    with tls_client(ports["edge1"], cert="eec1") as s:
        status, _, body = request(s, path="/whoami",
                                  headers={"Authorization": f"Bearer {doc['access_token']}"})
    assert status == 403, body
    # The simple authentication: the certificate must prove the eecId.
    status, doc = get_token(ports["ent"], {"eecId": "spiffe://site1/eec/eec2"})
    assert status == 403 and doc["cause"] == "REQUEST_NOT_AUTHORIZED", doc
    status, doc = get_token(ports["ent"], {"scope": "x"})
    assert status == 400, doc
    assert tok not in site.log_path.read_text()
