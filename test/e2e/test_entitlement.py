"""Entitlement-server tokens (TR 33.739 solution 25): a JWT signed by an entitlement
server, checked with the certificate the site configured for it; the EEC is its sub."""

import json
import time

import jwt

from conftest import CERTS, free_port, request, site_block, tls_client

ENT = "https://entitlement.example"
AUD = "ees1.site1.example"
EEC = "spiffe://site1/eec/eec1"


def start(site):
    port = free_port()
    site.write("site.yaml", site_block(site.dir) + f"""tokens:
  issuers:
    - id: {ENT}
      keys:
        - file: {CERTS}/jwt-issuer.pem
          kid: ent-1
""")
    site.add("edge1.yaml", interface="EDGE-1", port=port, mode="mtls", role="ees",
             authz=f"mode: token\naudience: {AUD}\nrules:\n  - path: /whoami\n    scope: [eees-whoami]")
    site.start()
    return port


def entitlement_token(**over):
    now = int(time.time())
    c = {"iss": ENT, "sub": EEC, "aud": AUD, "scope": "eees-whoami", "iat": now, "exp": now + 300}
    c.update(over)
    return jwt.encode(c, (CERTS / "jwt-issuer.key").read_bytes(), algorithm="ES256",
                      headers={"kid": "ent-1"})


def whoami(port, tok):
    with tls_client(port, cert="eec1") as s:
        return request(s, path="/whoami", headers={"Authorization": f"Bearer {tok}"})


def test_entitlement_token_checked_by_the_issuers_certificate(site):
    port = start(site)
    status, _, body = whoami(port, entitlement_token())
    assert status == 200, body
    assert json.loads(body)["peer"]["id"] == EEC
    # Signed by another key under the same kid: refused.
    forged = jwt.encode(jwt.decode(entitlement_token(), options={"verify_signature": False}),
                        (CERTS / "jwt-es256-k1.key").read_bytes(), algorithm="ES256",
                        headers={"kid": "ent-1"})
    assert whoami(port, forged)[0] == 401
    # Issued to another EEC than the one on the connection: refused.
    assert whoami(port, entitlement_token(sub="spiffe://site1/eec/eec2"))[0] == 401
