"""Keys of a peer issuer fetched from its jwks_uri over HTTPS: at start, again when a
token names an unknown kid (rate-limited), with requests waiting for the fetch."""

import base64
import http.server
import json
import ssl
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from conftest import CERTS, free_port, request, site_block, tls_client

PEER = "peer-ecs.site2.example"
AUD = "ees9.site1.example"
EES1 = "spiffe://site1/ees/ees1"


def jwk_of(name, kid):
    """The public JWK of a P-256 key, written here from the point's numbers: RFC 7518
    6.2.1.2 wants x and y as full 32-byte strings, and some PyJWT versions drop a leading
    zero byte (1 key in 128 has one), which a strict parser rightly refuses."""
    key = serialization.load_pem_private_key((CERTS / f"{name}.key").read_bytes(), None)
    nums = key.public_key().public_numbers()

    def b64(n):
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    return {"kty": "EC", "crv": "P-256", "x": b64(nums.x), "y": b64(nums.y),
            "kid": kid, "use": "sig", "alg": "ES256"}


class JwksServer:
    """An HTTPS server publishing a JWKS the test can change, counting fetches."""

    def __init__(self):
        self.keys = []
        self.hits = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.hits += 1
                body = json.dumps({"keys": owner.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(CERTS / "eas.pem", CERTS / "eas.key")
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server():
    s = JwksServer()
    yield s
    s.stop()


def token(key_name, kid, sub=EES1):
    now = int(time.time())
    c = {"iss": PEER, "sub": sub, "aud": AUD, "scope": "eees-whoami", "iat": now, "exp": now + 300}
    return jwt.encode(c, (CERTS / f"{key_name}.key").read_bytes(), algorithm="ES256",
                      headers={"kid": kid})


def start(site, jwks_server):
    port = free_port()
    site.write("site.yaml", site_block(site.dir) + f"""tokens:
  issuers:
    - id: {PEER}
      jwks_uri: https://127.0.0.1:{jwks_server.port}/.well-known/jwks.json
      jwks_refresh_min_s: 1
""")
    site.add("edge9.yaml", interface="EDGE-9", port=port, mode="mtls", role="ees",
             authz=f"mode: token\naudience: {AUD}\nrules:\n  - path: /whoami\n    scope: [eees-whoami]")
    site.start()
    return port


def whoami(port, tok):
    with tls_client(port, cert="ees1-client") as s:
        return request(s, path="/whoami", headers={"Authorization": f"Bearer {tok}"})


def test_keys_are_fetched_at_start_and_after_rotation(site, jwks_server):
    jwks_server.keys = [jwk_of("jwt-es256-k1", "a")]
    port = start(site, jwks_server)
    site.wait_log(lambda e: e.get("event") == "jwks_fetched")
    assert jwks_server.hits == 1
    assert whoami(port, token("jwt-es256-k1", "a"))[0] == 200
    # The issuer rotates: a token with the new kid waits for one refetch, then passes.
    jwks_server.keys = [jwk_of("jwt-es256-k1", "a"), jwk_of("jwt-es256-k2", "b")]
    time.sleep(1.1)
    status, _, body = whoami(port, token("jwt-es256-k2", "b"))
    assert status == 200, body
    assert jwks_server.hits == 2


def test_unknown_kids_refetch_at_most_once_per_interval(site, jwks_server):
    jwks_server.keys = [jwk_of("jwt-es256-k1", "a")]
    port = start(site, jwks_server)
    site.wait_log(lambda e: e.get("event") == "jwks_fetched")
    time.sleep(1.1)
    status, headers, _ = whoami(port, token("jwt-es256-k2", "made-up-1"))
    assert status == 401 and "invalid_token" in headers["www-authenticate"]
    assert jwks_server.hits == 2
    for i in range(5):
        assert whoami(port, token("jwt-es256-k2", f"made-up-{i + 2}"))[0] == 401
    assert jwks_server.hits == 2  # rate-limited: no fetch per forged kid


def test_unreachable_issuer_fails_closed_and_is_logged(site, jwks_server):
    jwks_server.keys = [jwk_of("jwt-es256-k1", "a")]
    port = start(site, jwks_server)
    site.wait_log(lambda e: e.get("event") == "jwks_fetched")
    jwks_server.stop()
    time.sleep(1.1)
    status, _, _ = whoami(port, token("jwt-es256-k2", "b"))
    assert status == 401
    failed = site.wait_log(lambda e: e.get("event") == "jwks_fetch_failed")
    assert failed["issuer"] == PEER
    assert whoami(port, token("jwt-es256-k1", "a"))[0] == 200  # known keys still work
