"""Multi-ECS (TR 33.739 solution 27): an EES asks its own ECS for a token whose target EES
is held by another ECS; the first ECS checks the requester, forwards over mutual TLS, and
the holding ECS signs. Three real ECS processes on loopback, each with its own policy
directory, signing key and certificate; PyJWT verifies the tokens with nothing but the
signing ECS's JWKS.

Identities: ECS1 and ECS2 use the node certificates ecs1/ecs2 (ecs1.site1.example,
ecs2.site2.example). There is no ecs3 node certificate: ECS3 (id ecs3.site3.example)
serves with the site1 ECS server certificate ecs.pem, which is enough because it is only
ever called (by ECS2) and never forwards, so no client identity of its own is needed
(its ecs.client names ecs.pem too, because the policy asks for one with peers, but that
certificate is never presented).
The requester is EES1 with its node certificate ees1 (ees1.site1.example)."""

import base64
import hashlib
import json
import signal
import socket
import threading
import time
import urllib.parse

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import (CERTS, Site, close_listener, free_port, read_response, site_block,
                      tls_client)

ECS1, ECS2, ECS3 = "ecs1.site1.example", "ecs2.site2.example", "ecs3.site3.example"
EES1, EES2, EES3 = "ees1.site1.example", "ees2.site2.example", "ees3.site3.example"
SCOPE = "eees-eeccontextreloc"
# Who may call /oauth2/ on every ECS listener here (static authorization); whether a
# caller is a peer ECS or a client is the ECS's own policy (ecs.peers, ecs.clients).
CALLERS = ["DNS:ees1.site1.example", "DNS:ees2.site2.example", "DNS:ecs1.site1.example",
           "DNS:ecs2.site2.example"]


def thumbprint(cert_name):
    cert = x509.load_pem_x509_certificate((CERTS / f"{cert_name}.pem").read_bytes())
    der = cert.public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


class Ecs:
    """One ECS process: its policy directory, port, certificate and its own signing key."""

    def __init__(self, root, ecs_id, cert):
        self.id = ecs_id
        self.cert = cert
        self.port = free_port()
        self.site = Site(root / ecs_id.split(".")[0])
        self.kid = ecs_id.split(".")[0] + "-k1"
        key = ec.generate_private_key(ec.SECP256R1())
        self.key_file = self.site.dir / "signing.key"
        self.key_file.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))

    @property
    def token_url(self):
        return f"https://127.0.0.1:{self.port}/oauth2/token"

    def configure(self, peers=(), clients=None, max_hops=None, callers=CALLERS):
        """|peers|: (Ecs or (id, url, identity), [ees ids]) pairs. |clients|: YAML items
        of ecs.clients; by default EES1 and EES2 may get SCOPE for any target."""
        clients = clients or [f"- id: DNS:{EES1}\n  scopes: [{SCOPE}]\n  audiences: any",
                              f"- id: DNS:{EES2}\n  scopes: [{SCOPE}]\n  audiences: any"]
        text = site_block(self.site.dir) + f"""tokens:
  issuers:
    - id: {self.id}
      local: true
ecs:
  id: {self.id}
  token_ttl_s: 600
  signing_keys:
    - kid: {self.kid}
      key: {self.key_file}
  clients:
"""
        text += "".join(f"    {line}\n" for c in clients for line in c.splitlines())
        text += (f"  client:\n    cert: {CERTS}/{self.cert}.pem\n"
                 f"    key: {CERTS}/{self.cert}.key\n")
        if peers:
            text += "  peers:\n"
            for peer, ees in peers:
                pid, url, identity = ((peer.id, peer.token_url, f"DNS:{peer.id}")
                                      if isinstance(peer, Ecs) else peer)
                text += f"    - id: {pid}\n      token_url: {url}\n      identity: {identity}\n"
                if ees:
                    text += f"      ees: [{', '.join(ees)}]\n"
        if max_hops:
            text += f"  max_hops: {max_hops}\n"
        self.site.write("site.yaml", text)
        allow = ", ".join(callers)
        self.site.write("edge6.yaml", f"""listener:
  interface: EDGE-6
  role: ecs
  listen: "127.0.0.1:{self.port}"
  mount: [health, ecs]
  tls:
    mode: mtls
    cert: {CERTS}/{self.cert}.pem
    key: {CERTS}/{self.cert}.key
  authz:
    mode: static
    rules:
      - path: /healthz
        allow: any
      - path: /.well-known/
        allow: any
      - path: /oauth2/
        allow: [{allow}]
""")
        return self

    def start(self):
        self.site.start()
        return self

    def jwks(self):
        with tls_client(self.port, cert="ees1") as s:
            status, _, body = send(s, "GET", "/.well-known/jwks.json")
            assert status == 200
            return json.loads(body)

    def verify(self, token, aud):
        """PyJWT with nothing but this ECS's published keys."""
        keys = self.jwks()["keys"]
        header = jwt.get_unverified_header(token)
        assert header["kid"] == self.kid
        key = jwt.PyJWK(next(k for k in keys if k["kid"] == header["kid"])).key
        return jwt.decode(token, key, algorithms=["ES256"], audience=aud, issuer=self.id)

    def log_text(self):
        return self.site.log_path.read_text()


@pytest.fixture
def ecses(tmp_path):
    made = []

    def make(ecs_id, cert):
        e = Ecs(tmp_path, ecs_id, cert)
        made.append(e)
        return e

    yield make
    for e in made:
        if e.site.proc and e.site.proc.poll() is None:
            rc = e.site.stop()
            assert rc == 0, f"{e.id} exited {rc} on SIGTERM:\n{e.log_text()}"


def send(sock, method, path, body=b"", headers=None, timeout=5):
    hdrs = {"Host": "localhost", "Content-Length": str(len(body))}
    hdrs.update(headers or {})
    text = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    sock.sendall(text.encode() + b"\r\n" + body)
    return read_response(sock, timeout=timeout)


def token_form(sub=EES1, target=EES2, scope=SCOPE, **extra):
    fields = {"grant_type": "client_credentials", "nfInstanceId": sub, "scope": scope,
              "targetNfInstanceId": target}
    fields.update(extra)
    return fields


def ask(ecs, fields, cert="ees1", timeout=5):
    """POST /oauth2/token; returns (status, headers, JSON body)."""
    body = urllib.parse.urlencode(fields).encode()
    with tls_client(ecs.port, cert=cert) as s:
        status, headers, raw = send(s, "POST", "/oauth2/token", body, timeout=timeout,
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    return status, headers, json.loads(raw) if raw else None


def no_token_logged(token, *ecs):
    for e in ecs:
        assert token not in e.log_text()
        assert token.split(".")[2] not in e.log_text()


# ---- one hop -----------------------------------------------------------------------------

@pytest.fixture
def pair(ecses):
    """ECS1 knows that ECS2 holds EES2; ECS2 accepts ECS1 as a forwarding peer."""
    e1, e2 = ecses(ECS1, "ecs1"), ecses(ECS2, "ecs2")
    e1.configure(peers=[(e2, [EES2])]).start()
    e2.configure(peers=[(e1, [])]).start()
    return e1, e2


def test_token_for_an_ees_held_by_the_peer_is_issued_by_the_peer(pair):
    e1, e2 = pair
    status, headers, body = ask(e1, token_form())
    assert status == 200, body
    assert headers["cache-control"] == "no-store" and headers["pragma"] == "no-cache"
    assert headers["content-type"] == "application/json"
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600 and body["scope"] == SCOPE
    c = e2.verify(body["access_token"], aud=EES2)
    assert c["iss"] == ECS2 and c["sub"] == EES1 and c["aud"] == EES2 and c["scope"] == SCOPE
    # RFC 8705: bound to the certificate EES1 showed ECS1, which ECS2 never saw.
    assert c["cnf"] == {"x5t#S256": thumbprint("ees1")}
    # ECS1's own keys do not verify it: ECS1 did not sign.
    with pytest.raises(StopIteration):
        next(k for k in e1.jwks()["keys"] if k["kid"] == e2.kid)
    fwd = e1.site.events("ecs_forwarded")
    assert len(fwd) == 1 and fwd[0]["peer"] == ECS2 and fwd[0]["status"] == 200
    assert fwd[0]["source"] == EES1 and fwd[0]["target"] == EES2
    issued = e2.site.events("ecs_token_for_peer")
    assert len(issued) == 1
    assert issued[0]["via"] == ECS1 and issued[0]["source"] == EES1
    assert issued[0]["hops"] == ECS1 and issued[0]["bound"] is True
    no_token_logged(body["access_token"], e1, e2)


def test_other_targets_are_still_signed_locally(pair):
    e1, _ = pair
    status, _, body = ask(e1, token_form(target="eas1.site1.example"))
    assert status == 200, body
    c = e1.verify(body["access_token"], aud="eas1.site1.example")
    assert c["iss"] == ECS1 and c["sub"] == EES1
    assert e1.site.events("ecs_forwarded") == []


def test_the_holding_ecs_applies_its_own_policy_and_its_answer_is_relayed(ecses):
    e1, e2 = ecses(ECS1, "ecs1"), ecses(ECS2, "ecs2")
    e1.configure(peers=[(e2, [EES2])]).start()
    # ECS2 lets EES1 have tokens for EES2 with another scope only.
    e2.configure(peers=[(e1, [])],
                 clients=[f"- id: DNS:{EES1}\n  scopes: [eees-other]\n  audiences: [{EES2}]"]).start()
    status, headers, body = ask(e1, token_form())
    assert status == 400 and body["error"] == "invalid_scope", body
    assert headers["cache-control"] == "no-store"
    assert e2.site.events("ecs_token_for_peer") == []
    assert e1.site.events("ecs_forwarded")[0]["status"] == 400


def test_requester_not_allowed_at_the_first_ecs_is_refused_without_forwarding(pair):
    e1, e2 = pair
    # Not the authenticated client.
    status, _, body = ask(e1, token_form(sub=EES2))
    assert status == 401 and body["error"] == "invalid_client"
    # A scope ECS1's policy does not give EES1.
    status, _, body = ask(e1, token_form(scope="eees-other"))
    assert status == 400 and body["error"] == "invalid_scope"
    # A client ECS1 does not know at all (the allow-list lets it reach the endpoint).
    status, _, body = ask(e1, token_form(sub=ECS2), cert="ecs2")
    assert status == 400 and body["error"] == "unauthorized_client"
    # EES1 may not name an EEC (may_name_eec is not set for it at ECS1).
    status, _, body = ask(e1, token_form(eecId="spiffe://site1/eec/eec1"))
    assert status == 400 and body["error"] == "invalid_request"
    assert e1.site.events("ecs_forwarded") == [] and e1.site.events("ecs_forward_failed") == []
    assert not [e for e in e2.site.events("authz") if e.get("path", "").startswith("/oauth2/")]
    assert e2.site.events("ecs_token_for_peer") == []


def test_a_non_peer_sending_forwarding_parameters_is_refused(pair):
    e1, e2 = pair
    # EES1 pretending to be an ECS that forwards for EES2, to get a token for EES2.
    for extra in ({"sourceNfInstanceId": EES1, "forwardedBy": ECS1},
                  {"sourceNfInstanceId": EES1},
                  {"forwardedBy": ECS1},
                  {"cnfX5tS256": thumbprint("ees2")}):
        status, headers, body = ask(e2, token_form(**extra))
        assert status == 400, (extra, body)
        assert body["error"] == "invalid_request" and "peer ECS" in body["error_description"]
        assert headers["cache-control"] == "no-store"
    refused = e2.site.events("ecs_forward_refused")
    assert len(refused) == 4 and all(r["caller"] == EES1 for r in refused)
    assert e2.site.events("ecs_token_for_peer") == []


def test_a_peer_must_send_a_consistent_forwarded_request(pair):
    e1, e2 = pair
    # ECS1 calling ECS2 directly, as a forwarding peer would.
    cases = [
        ({"sourceNfInstanceId": EES1}, "needs"),  # no hop list
        ({"sourceNfInstanceId": EES1, "forwardedBy": ECS2}, "forwarding loop"),
        ({"sourceNfInstanceId": EES1, "forwardedBy": f"{ECS2} {ECS1}"}, "forwarding loop"),
        ({"sourceNfInstanceId": EES1, "forwardedBy": "a b c " + ECS1}, "too many hops"),
        ({"sourceNfInstanceId": EES1, "forwardedBy": "ecs9.example"}, "calling ECS"),
        ({"sourceNfInstanceId": EES1, "forwardedBy": f"x  {ECS1}"}, "single spaces"),
        ({"sourceNfInstanceId": EES2, "forwardedBy": ECS1}, "nfInstanceId"),
        ({"sourceNfInstanceId": EES1, "forwardedBy": ECS1, "cnfX5tS256": "abc"}, "thumbprint"),
    ]
    for extra, why in cases:
        status, _, body = ask(e2, token_form(**extra), cert="ecs1")
        assert status == 400 and body["error"] == "invalid_request", (extra, body)
        assert why in body["error_description"], (extra, body)
    reasons = [r["reason"] for r in e2.site.events("ecs_forward_refused")]
    assert reasons.count("forwarding loop") == 2 and reasons.count("too many hops") == 1
    # The well-formed version is accepted, and bound to the thumbprint it carries.
    status, _, body = ask(e2, token_form(sourceNfInstanceId=EES1, forwardedBy=ECS1,
                                         cnfX5tS256=thumbprint("ees2")), cert="ecs1")
    assert status == 200, body
    c = e2.verify(body["access_token"], aud=EES2)
    assert c["sub"] == EES1 and c["cnf"] == {"x5t#S256": thumbprint("ees2")}
    # With an eecId the token is handed on, so it is not bound.
    e2.site.stop()
    e2.configure(peers=[(e1, [])], clients=[
        f"- id: DNS:{EES1}\n  scopes: [{SCOPE}]\n  audiences: any\n  may_name_eec: true"])
    e2.start()
    status, _, body = ask(e2, token_form(sourceNfInstanceId=EES1, forwardedBy=ECS1,
                                         cnfX5tS256=thumbprint("ees1"),
                                         eecId="spiffe://site1/eec/eec1"), cert="ecs1")
    assert status == 200, body
    c = e2.verify(body["access_token"], aud=EES2)
    assert c["eecId"] == "spiffe://site1/eec/eec1" and "cnf" not in c


# ---- two hops, loops ---------------------------------------------------------------------

def test_two_hops(ecses):
    e1, e2, e3 = ecses(ECS1, "ecs1"), ecses(ECS2, "ecs2"), ecses(ECS3, "ecs")
    e1.configure(peers=[(e2, [EES3])]).start()
    e2.configure(peers=[(e1, []), (e3, [EES3])]).start()
    e3.configure(peers=[(e2, [])]).start()
    status, headers, body = ask(e1, token_form(target=EES3))
    assert status == 200, body
    assert headers["cache-control"] == "no-store"
    c = e3.verify(body["access_token"], aud=EES3)
    assert c["iss"] == ECS3 and c["sub"] == EES1 and c["aud"] == EES3
    assert c["cnf"] == {"x5t#S256": thumbprint("ees1")}
    issued = e3.site.events("ecs_token_for_peer")
    assert len(issued) == 1 and issued[0]["via"] == ECS2
    assert issued[0]["hops"] == f"{ECS1} {ECS2}" and issued[0]["source"] == EES1
    assert e2.site.events("ecs_forwarded")[0]["peer"] == ECS3
    assert e1.site.events("ecs_forwarded")[0]["peer"] == ECS2
    no_token_logged(body["access_token"], e1, e2, e3)


def test_max_hops_bounds_the_chain(ecses):
    e1, e2, e3 = ecses(ECS1, "ecs1"), ecses(ECS2, "ecs2"), ecses(ECS3, "ecs")
    e1.configure(peers=[(e2, [EES3])]).start()
    e2.configure(peers=[(e1, []), (e3, [EES3])], max_hops=1).start()
    e3.configure(peers=[(e2, [])]).start()
    status, _, body = ask(e1, token_form(target=EES3))
    assert status == 400 and body == {"error": "invalid_request",
                                      "error_description": "too many hops"}
    refused = e2.site.events("ecs_forward_refused")
    assert len(refused) == 1 and refused[0]["reason"] == "too many hops"
    assert e3.site.events("ecs_token_for_peer") == []


def test_a_forwarding_loop_is_refused_and_logged(ecses):
    e1, e2 = ecses(ECS1, "ecs1"), ecses(ECS2, "ecs2")
    # Each believes the other holds EES3.
    e1.configure(peers=[(e2, [EES3])]).start()
    e2.configure(peers=[(e1, [EES3])]).start()
    started = time.monotonic()
    status, headers, body = ask(e1, token_form(target=EES3))
    assert time.monotonic() - started < 3
    assert status == 400 and body == {"error": "invalid_request",
                                      "error_description": "forwarding loop"}
    assert headers["cache-control"] == "no-store"
    refused = e2.site.events("ecs_forward_refused")
    assert len(refused) == 1 and refused[0]["reason"] == "forwarding loop"
    assert refused[0]["peer"] == ECS1 and refused[0]["hops"] == f"{ECS1} {ECS2}"
    assert e1.site.events("ecs_token_for_peer") == e2.site.events("ecs_token_for_peer") == []


# ---- peer failures -------------------------------------------------------------------------

class SilentPeer:
    """Accepts TCP connections and never answers (a hung ECS)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.stopping = True
        close_listener(self.sock, self.thread)
        for c in self.conns:
            c.close()


@pytest.fixture
def silent():
    p = SilentPeer()
    yield p
    p.close()


def peer_at(port, ees):
    return ((ECS2, f"https://127.0.0.1:{port}/oauth2/token", f"DNS:{ECS2}"), ees)


def test_peer_down_is_502_quickly(ecses):
    e1 = ecses(ECS1, "ecs1")
    e1.configure(peers=[peer_at(free_port(), [EES2])]).start()
    started = time.monotonic()
    status, headers, body = ask(e1, token_form())
    assert time.monotonic() - started < 2
    assert status == 502 and body["error"] == "server_error", body
    assert headers["cache-control"] == "no-store"
    failed = e1.site.events("ecs_forward_failed")
    assert len(failed) == 1 and failed[0]["peer"] == ECS2
    assert failed[0]["error"] == "connection refused"


def test_a_peer_that_refuses_this_ecs(ecses):
    e1, e2 = ecses(ECS1, "ecs1"), ecses(ECS2, "ecs2")
    e1.configure(peers=[(e2, [EES2])]).start()
    # ECS2's listener does not let ECS1 in: a ProblemDetails 403 is no OAuth answer.
    e2.configure(peers=[(e1, [])], callers=[f"DNS:{EES1}"]).start()
    status, _, body = ask(e1, token_form())
    assert status == 502 and body["error"] == "server_error", body
    failed = e1.site.events("ecs_forward_failed")
    assert len(failed) == 1 and failed[0]["status"] == 403
    # ECS2 lets ECS1 in but does not count it as a peer: its OAuth refusal is relayed.
    e2.site.stop()
    e2.configure().start()
    status, _, body = ask(e1, token_form())
    assert status == 400 and body["error"] == "invalid_request", body
    assert "peer ECS" in body["error_description"]
    assert e2.site.events("ecs_forward_refused")[0]["caller"] == ECS1


def test_hung_peer_is_504_after_the_timeout(ecses, silent):
    e1 = ecses(ECS1, "ecs1")
    e1.configure(peers=[peer_at(silent.port, [EES2])]).start()
    started = time.monotonic()
    status, _, body = ask(e1, token_form(), timeout=15)
    took = time.monotonic() - started
    assert status == 504 and body["error"] == "server_error", body
    assert 4 < took < 8, took
    failed = e1.site.events("ecs_forward_failed")
    assert len(failed) == 1 and failed[0]["error"] == "timeout"


def test_client_gone_and_shutdown_while_forwarding(ecses, silent):
    e1 = ecses(ECS1, "ecs1")
    e1.configure(peers=[peer_at(silent.port, [EES2])]).start()
    body = urllib.parse.urlencode(token_form()).encode()
    head = ("POST /oauth2/token HTTP/1.1\r\nHost: localhost\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    # The client leaves while the peer call is in flight: the call is cancelled.
    gone = tls_client(e1.port, cert="ees1")
    gone.sendall(head + body)
    time.sleep(0.5)
    gone.close()
    # Another waits, and the server is told to stop: it answers, then exits cleanly.
    waiting = tls_client(e1.port, cert="ees1")
    waiting.sendall(head + body)
    time.sleep(0.5)
    e1.site.proc.send_signal(signal.SIGTERM)
    status, headers, raw = read_response(waiting, timeout=10)
    waiting.close()
    assert status == 503 and json.loads(raw)["error"] == "server_error"
    assert e1.site.stop() == 0
    failed = e1.site.events("ecs_forward_failed")
    assert [f["error"] for f in failed] == ["cancelled"]


# ---- memory --------------------------------------------------------------------------------

def test_memcheck_clean_through_forwarding(ecses, silent, tmp_path):
    """ECS1 under valgrind: a relayed token, a peer down, a forwarded request refused,
    a client that leaves and one still waiting at shutdown (cancelled calls)."""
    e1, e2 = ecses(ECS1, "ecs1"), ecses(ECS2, "ecs2")
    e1.site.valgrind = True
    hung = ("ecs9.hung.example", f"https://127.0.0.1:{silent.port}/oauth2/token",
            "DNS:ecs9.hung.example")
    down = ("ecs8.down.example", f"https://127.0.0.1:{free_port()}/oauth2/token",
            "DNS:ecs8.down.example")
    e1.configure(peers=[(e2, [EES2]), (hung, [EES3]), (down, ["ees4.example"])])
    e2.configure(peers=[(e1, [])]).start()
    e1.site.start(timeout=30)
    status, _, body = ask(e1, token_form(), timeout=30)
    assert status == 200, body
    assert e2.verify(body["access_token"], aud=EES2)["sub"] == EES1
    assert ask(e1, token_form(target="ees4.example"), timeout=30)[0] == 502
    status, _, body = ask(e1, token_form(sourceNfInstanceId=EES1, forwardedBy=ECS1),
                          cert="ecs2", timeout=30)
    assert status == 400 and body["error_description"] == "forwarding loop"
    body = urllib.parse.urlencode(token_form(target=EES3)).encode()
    head = ("POST /oauth2/token HTTP/1.1\r\nHost: localhost\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    gone = tls_client(e1.port, cert="ees1")
    gone.sendall(head + body)
    time.sleep(1)
    gone.close()
    waiting = tls_client(e1.port, cert="ees1")
    waiting.sendall(head + body)
    time.sleep(1)
    e1.site.proc.send_signal(signal.SIGTERM)
    assert read_response(waiting, timeout=30)[0] == 503
    waiting.close()
    rc = e1.site.stop()
    assert rc == 0, (e1.site.dir / "valgrind.txt").read_text()
