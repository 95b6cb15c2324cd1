"""Token attacks at a resource server, each refused with 401/403 ProblemDetails and the
server still serving a good token afterwards: kid injection (path traversal, SQL-ish,
huge, control bytes), oversized and deeply nested tokens (header and payload), replay of
a token on another interface (another audience), and scope escalation (a token's scope
used on a route that needs another; asking the ECS for scopes or audiences not granted).
alg confusion and `none` are test_tokens.py::test_resource_server_refuses."""

import base64
import json
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from conftest import free_port, request, tls_client
from test_tokens import AUD, EES1, claims, ecs_key, form_post, get_token, sign, site_yaml

OTHER_AUD = "ees8.site1.example"  # a second interface of the same site


@pytest.fixture
def ports(site):
    p = {"ecs": free_port(), "ees": free_port(), "other": free_port()}
    site.write("site.yaml", site_yaml(site.dir))
    site.add("edge6.yaml", interface="EDGE-6", port=p["ecs"], mode="mtls", role="ecs",
             mount="[health, ecs]",
             authz="mode: static\nrules:\n  - path: /.well-known/\n    allow: any\n"
                   "  - path: /oauth2/\n    allow: [spiffe://site1/ees/*]")
    site.add("edge9.yaml", interface="EDGE-9", port=p["ees"], mode="mtls", role="ees",
             authz=f"mode: token\naudience: {AUD}\nrules:\n"
                   "  - path: /healthz\n    allow: any\n"
                   "  - path: /whoami\n    methods: [GET]\n    scope: [eees-whoami]")
    site.add("edge1.yaml", interface="EDGE-1", port=p["other"], mode="mtls", role="ees",
             authz=f"mode: token\naudience: {OTHER_AUD}\nrules:\n"
                   "  - path: /whoami\n    methods: [GET]\n    scope: [eees-other]")
    site.start()
    return p


def call(port, token, path="/whoami"):
    with tls_client(port, cert="ees1-client") as s:
        return request(s, path=path, headers={"Authorization": f"Bearer {token}"})


def refused(port, token, status=401, error="invalid_token", path="/whoami"):
    got, headers, body = call(port, token, path)
    assert got == status, body
    assert f'error="{error}"' in headers["www-authenticate"]
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == status


def still_fine(ports):
    got, _, body = call(ports["ees"], sign(claims()))
    assert got == 200, body
    assert json.loads(body)["peer"]["id"] == EES1


def b64(o):
    raw = o if isinstance(o, bytes) else json.dumps(o).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


KIDS = {
    "traversal": "../../../../../etc/passwd",
    "traversal_to_a_real_key": "../../certs/out/jwt-es256-k1.key",
    "sql": "ecs-k1' OR '1'='1",
    "huge": "k" * 8000,
    "control_bytes": "ecs-k1\r\nX-Injected: 1",
    "nul": "ecs-k1\x00",
    "prefix_of_a_real_kid": "ecs-k",
    "not_a_string": 1,
}


@pytest.mark.parametrize("name", sorted(KIDS))
def test_kid_injection_is_refused(ports, site, name):
    c = claims()
    head = {"alg": "ES256", "typ": "JWT", "kid": KIDS[name]}
    # Signed by the real key (by hand: PyJWT refuses some of these kids itself), so that
    # nothing but the kid lookup can refuse it.
    key = serialization.load_pem_private_key(ecs_key(), None)
    signing_input = f"{b64(head)}.{b64(c)}".encode()
    r, s_ = utils.decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    token = f"{signing_input.decode()}.{b64(r.to_bytes(32, 'big') + s_.to_bytes(32, 'big'))}"
    refused(ports["ees"], token)
    still_fine(ports)
    assert "Injected" not in site.log_path.read_text()


def test_oversized_tokens_are_refused(ports):
    big = "a" * 20000
    for token in (sign(claims(pad=big)),                                     # payload > 16 KiB
                  f"{b64({'alg': 'ES256', 'kid': 'ecs-k1', 'pad': big})}.{b64(claims())}.AAAA",
                  "a" * 7000):
        got, _, body = call(ports["ees"], token)
        assert got in (401, 431), body
    still_fine(ports)


def nested(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("where", ["header", "payload"])
def test_deeply_nested_tokens_are_refused(ports, where):
    deep = nested(3000)
    head = '{"alg":"ES256","kid":"ecs-k1","x":' + (deep if where == "header" else "1") + "}"
    body = json.dumps(claims())[:-1] + ',"x":' + (deep if where == "payload" else "1") + "}"
    token = f"{b64(head.encode())}.{b64(body.encode())}.{b64(b'x' * 64)}"
    assert len(token) < 16384
    refused(ports["ees"], token)
    # Nesting within the limit, correctly signed, is still judged on its claims.
    ok = sign(claims(x=json.loads(nested(50))))
    assert call(ports["ees"], ok)[0] == 200
    still_fine(ports)


def test_a_token_for_one_interface_is_refused_on_another(ports):
    # Same site, same issuer, same client certificate: only the audience differs.
    for_ees9 = get_token(ports["ecs"], scope="eees-whoami eees-other")[2]["access_token"]
    refused(ports["other"], for_ees9)
    for_other = get_token(ports["ecs"], scope="eees-whoami eees-other", aud=OTHER_AUD)[2]["access_token"]
    refused(ports["ees"], for_other)
    assert call(ports["other"], for_other)[0] == 200
    assert call(ports["ees"], for_ees9)[0] == 200


def test_scope_escalation_is_refused(ports):
    # A token of scope A on a route that needs B.
    a_only = get_token(ports["ecs"], scope="eees-whoami", aud=OTHER_AUD)[2]["access_token"]
    refused(ports["other"], a_only, 403, "insufficient_scope")
    # Asking the ECS for more than the client is granted, or sneaking a scope in.
    for scope in ("eees-whoami admin", "eees-whoami%20admin", "eees-whoami\teees-admin",
                  "*", "eees-whoami eees-whoami-admin"):
        status, _, body = get_token(ports["ecs"], scope=scope)
        assert status == 400 and body["error"] == "invalid_scope", (scope, body)
    # An audience the policy does not allow: the client may ask for any, so ask with
    # another client's identity instead.
    status, _, body = get_token(ports["ecs"], sub="spiffe://site1/ees/ees2")
    assert status == 401 and body["error"] == "invalid_client"
    still_fine(ports)
