"""The ECS as OAuth 2.0 authorization server and token authorization on a resource
server, checked by an independent peer: PyJWT and cryptography verify our tokens with
nothing but our JWKS, and sign tokens our resource server must accept or refuse."""

import base64
import hashlib
import json
import time
import urllib.parse

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from conftest import CERTS, free_port, read_response, request, site_block, tls_client

ECS_ID = "ecs.site1.example"
EES1 = "spiffe://site1/ees/ees1"
EES2 = "spiffe://site1/ees/ees2"
AUD = "ees9.site1.example"  # the resource server's id


def site_yaml(dir_):
    return site_block(dir_) + f"""tokens:
  issuers:
    - id: {ECS_ID}
      local: true
ecs:
  id: {ECS_ID}
  token_ttl_s: 600
  signing_keys:
    - kid: ecs-k2
      key: {CERTS}/jwt-es256-k2.key
    - kid: ecs-k1
      key: {CERTS}/jwt-es256-k1.key
  clients:
    - id: spiffe://site1/ees/*
      scopes: [eees-whoami, eees-other]
      audiences: any
"""


@pytest.fixture
def ports(site):
    p = {"ecs": free_port(), "ees": free_port()}
    site.write("site.yaml", site_yaml(site.dir))
    site.add("edge6.yaml", interface="EDGE-6", port=p["ecs"], mode="mtls", role="ecs",
             mount="[health, ecs]",
             authz="mode: static\nrules:\n  - path: /.well-known/\n    allow: any\n"
                   "  - path: /oauth2/\n    allow: [spiffe://site1/ees/*]")
    site.add("edge9.yaml", interface="EDGE-9", port=p["ees"], mode="mtls", role="ees",
             authz=f"mode: token\naudience: {AUD}\nrules:\n"
                   "  - path: /healthz\n    allow: any\n"
                   "  - path: /whoami\n    methods: [GET]\n    scope: [eees-whoami]")
    site.start()
    return p


def form_post(port, path, fields, cert="ees1-client"):
    body = urllib.parse.urlencode(fields).encode()
    with tls_client(port, cert=cert) as s:
        return request(s, "POST", path, body=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})


def get_token(port, cert="ees1-client", sub=EES1, scope="eees-whoami", aud=AUD):
    status, headers, body = form_post(port, "/oauth2/token", {
        "grant_type": "client_credentials", "nfInstanceId": sub, "scope": scope,
        "targetNfInstanceId": aud}, cert=cert)
    return status, headers, json.loads(body) if body else None


def whoami(port, token, cert="ees1-client"):
    with tls_client(port, cert=cert) as s:
        status, headers, body = request(s, path="/whoami",
                                        headers={"Authorization": f"Bearer {token}"})
        return status, headers, body


def jwks(port):
    with tls_client(port, cert="ees1-client") as s:
        status, headers, body = request(s, path="/.well-known/jwks.json")
        assert status == 200 and headers["content-type"] == "application/jwk-set+json"
        return json.loads(body)


def thumbprint(cert_name):
    cert = x509.load_pem_x509_certificate((CERTS / f"{cert_name}.pem").read_bytes())
    der = cert.public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def ecs_key(name="jwt-es256-k1"):
    return (CERTS / f"{name}.key").read_bytes()


def claims(**over):
    now = int(time.time())
    c = {"iss": ECS_ID, "sub": EES1, "aud": AUD, "scope": "eees-whoami", "iat": now,
         "exp": now + 300, "jti": f"t-{time.time_ns()}"}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def sign(c, key=None, kid="ecs-k1", alg="ES256"):
    return jwt.encode(c, key or ecs_key(), algorithm=alg, headers={"kid": kid})


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key():
    """The key-confusion attack: HMAC-SHA256 keyed with the issuer's public key PEM, which
    a verifier that lets the header pick the algorithm would accept."""
    import hmac
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "ecs-k1"}).encode())
    body = b64url(json.dumps(claims()).encode())
    secret = (CERTS / "jwt-es256-k1.pub.pem").read_bytes()
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


# ---- authorization server ------------------------------------------------------------

def test_issued_token_verifies_with_nothing_but_our_jwks(ports):
    status, headers, body = get_token(ports["ecs"])
    assert status == 200, body
    assert headers["cache-control"] == "no-store" and headers["pragma"] == "no-cache"
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["scope"] == "eees-whoami"
    token = body["access_token"]
    keys = jwks(ports["ecs"])["keys"]
    assert sorted(k["kid"] for k in keys) == ["ecs-k1", "ecs-k2"]
    assert all("d" not in k for k in keys)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"] == "ecs-k2"  # the first key signs
    key = jwt.PyJWK(next(k for k in keys if k["kid"] == header["kid"])).key
    c = jwt.decode(token, key, algorithms=["ES256"], audience=AUD, issuer=ECS_ID)
    assert c["sub"] == EES1 and c["scope"] == "eees-whoami" and c["jti"]
    assert c["exp"] - c["iat"] == 600
    # RFC 8705: bound to the certificate the client used.
    assert c["cnf"] == {"x5t#S256": thumbprint("ees1-client")}


def test_token_request_errors_follow_rfc6749(ports):
    status, headers, body = get_token(ports["ecs"], sub=EES2)
    assert status == 401 and body["error"] == "invalid_client"
    assert headers["cache-control"] == "no-store"
    status, _, body = get_token(ports["ecs"], scope="eees-whoami admin")
    assert status == 400 and body["error"] == "invalid_scope"
    status, _, body = form_post(ports["ecs"], "/oauth2/token",
                                {"grant_type": "password", "nfInstanceId": EES1})
    assert status == 400 and json.loads(body)["error"] == "unsupported_grant_type"
    status, _, body = form_post(ports["ecs"], "/oauth2/token", {"grant_type": "client_credentials"})
    assert status == 400 and json.loads(body)["error"] == "invalid_request"
    with tls_client(ports["ecs"], cert="ees1-client") as s:
        status, _, body = request(s, "POST", "/oauth2/token", body=b'{"grant_type":"x"}',
                                  headers={"Content-Type": "application/json"})
        assert status == 400 and json.loads(body)["error"] == "invalid_request"


def test_token_endpoint_refuses_clients_outside_the_allow_list(ports):
    status, _, body = get_token(ports["ecs"], cert="eec1", sub="spiffe://site1/eec/eec1")
    assert status == 403 and body["cause"] == "PEER_NOT_ALLOWED"


# ---- resource server -------------------------------------------------------------------

def test_resource_server_accepts_our_token_and_a_peer_signed_one(ports):
    token = get_token(ports["ecs"])[2]["access_token"]
    status, _, body = whoami(ports["ees"], token)
    assert status == 200, body
    assert json.loads(body)["peer"]["id"] == EES1
    # A token made by an independent library with a trusted key (k1, still published).
    status, _, body = whoami(ports["ees"], sign(claims()))
    assert status == 200, body


@pytest.mark.parametrize("name,make,status,error", [
    ("forged signature", lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"), 401, "invalid_token"),
    ("alg none", lambda t: jwt.encode(claims(), None, algorithm="none"), 401, "invalid_token"),
    ("HS256 with the public key", lambda t: hs256_with_public_key(), 401, "invalid_token"),
    ("unknown kid", lambda t: sign(claims(), kid="nope"), 401, "invalid_token"),
    ("untrusted key", lambda t: sign(claims(), key=ecs_key("jwt-es384"), alg="ES384"), 401, "invalid_token"),
    ("expired", lambda t: sign(claims(exp=int(time.time()) - 120)), 401, "invalid_token"),
    ("wrong aud", lambda t: sign(claims(aud="someone-else")), 401, "invalid_token"),
    ("untrusted issuer", lambda t: sign(claims(iss="evil.example")), 401, "invalid_token"),
    ("sub is not the peer", lambda t: sign(claims(sub=EES2)), 401, "invalid_token"),
    ("missing scope", lambda t: sign(claims(scope="eees-other")), 403, "insufficient_scope"),
])
def test_resource_server_refuses(ports, name, make, status, error):
    good = get_token(ports["ecs"])[2]["access_token"]
    got, headers, body = whoami(ports["ees"], make(good))
    assert got == status, f"{name}: {got} {body}"
    assert f'error="{error}"' in headers["www-authenticate"]
    problem = json.loads(body)
    assert problem["status"] == status
    assert good not in body.decode()


def test_certificate_bound_token_is_refused_on_another_clients_connection(ports):
    bound_to_ees1 = sign(claims(sub=EES2, cnf={"x5t#S256": thumbprint("ees1-client")}))
    status, headers, _ = whoami(ports["ees"], bound_to_ees1, cert="ees2-client")
    assert status == 401 and "invalid_token" in headers["www-authenticate"]
    bound_to_ees2 = sign(claims(sub=EES2, cnf={"x5t#S256": thumbprint("ees2-client")}))
    assert whoami(ports["ees"], bound_to_ees2, cert="ees2-client")[0] == 200


def test_revoked_token_is_refused_at_once_and_after_restart(site, ports):
    token = get_token(ports["ecs"])[2]["access_token"]
    assert whoami(ports["ees"], token)[0] == 200  # now in the cache
    status, _, _ = form_post(ports["ecs"], "/oauth2/revoke", {"token": token})
    assert status == 200
    status, headers, _ = whoami(ports["ees"], token)
    assert status == 401 and "invalid_token" in headers["www-authenticate"]
    revoked = site.events("token_revoked")
    assert revoked and revoked[0]["durable"] is True
    assert site.stop() == 0
    site.start()  # the revocation comes back from the store
    assert whoami(ports["ees"], token)[0] == 401


def test_introspection(ports):
    token = get_token(ports["ecs"])[2]["access_token"]
    status, headers, body = form_post(ports["ecs"], "/oauth2/introspect", {"token": token})
    assert status == 200 and headers["cache-control"] == "no-store"
    info = json.loads(body)
    assert info["active"] is True and info["sub"] == EES1 and info["aud"] == [AUD]
    status, _, body = form_post(ports["ecs"], "/oauth2/introspect", {"token": token[:-3] + "abc"})
    assert json.loads(body) == {"active": False}


def test_no_token_text_in_logs(site, ports):
    token = get_token(ports["ecs"])[2]["access_token"]
    whoami(ports["ees"], token)
    whoami(ports["ees"], token[:-2] + "xx")
    text = site.log_path.read_text()
    assert token.split(".")[2] not in text and token.split(".")[1] not in text
    denied = [e for e in site.events("authz") if e["decision"] == "deny"]
    assert denied and denied[0]["status"] == 401 and denied[0]["provider"] == "token"
