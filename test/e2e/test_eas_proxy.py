"""The EAS sidecar end to end: a client with an EAS access token reaches a real
application (Python http.server on loopback) through edgegw; the token stays at the
gateway, the application learns the EEC from x-eec-id, and failures of the application
come back as 502/504 ProblemDetails. The EAS also registers at an EES over EDGE-3 (a
Python mutual-TLS server standing in for the EES)."""

import hashlib
import http.server
import json
import os
import ssl
import subprocess
import threading
import time

import jwt
import pytest

from conftest import (BIN, CA, CERTS, free_port, peer_closed, read_response, request,
                      site_block, tls_client)

ECS_ID = "ecs1.site1.example"
EAS_ID = "eas1.site1.example"
EES_ID = "ees1.site1.example"
EEC = "spiffe://site1/eec/eec1"


# ---- the application behind the sidecar --------------------------------------------------

BIG_BLOCK = bytes(range(256)) * 256  # 64 KiB


def big_digest(n):
    h = hashlib.sha256()
    for off in range(0, n, len(BIG_BLOCK)):
        h.update(BIG_BLOCK[:min(len(BIG_BLOCK), n - off)])
    return h.hexdigest()


class AppHandler(http.server.BaseHTTPRequestHandler):
    """Echoes what it received as JSON; /raw answers the request body as it came;
    /sleep answers after |sleep_s| seconds."""
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, *args):
        pass

    def handle_any(self):
        app = self.server.app
        app.connections.add(self.client_address)
        app.calls += 1
        if self.path.startswith("/upload"):
            return self.upload()
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/big/"):
            return self.big(int(self.path[5:]))
        if self.path.startswith("/drip"):
            return self.drip()
        if self.path.startswith("/sleep"):
            time.sleep(app.sleep_s)
        if self.path.startswith("/raw"):
            out, ctype = body, "application/octet-stream"
        else:
            out = json.dumps({
                "method": self.command,
                "path": self.path,
                "headers": [[k.lower(), v] for k, v in self.headers.items()],
                "body_len": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
                "body": body.decode("latin-1") if len(body) < 4096 else None,
            }).encode()
            ctype = "application/json"
        status = 201 if self.command == "POST" else 200
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-App", "demo")
        self.send_header("Keep-Alive", "timeout=30")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def big(self, n):
        """n bytes of a repeating pattern, with Content-Length, written in 64 KiB blocks."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        block = BIG_BLOCK
        for off in range(0, n, len(block)):
            self.wfile.write(block[:min(len(block), n - off)])

    def upload(self):
        """Reads the body as it comes (Content-Length or chunked), noting when its first
        byte arrived; answers its length and digest."""
        app = self.server.app
        h, n = hashlib.sha256(), 0

        def took(data):
            nonlocal n
            if data and app.first_byte_at is None:
                app.first_byte_at = time.time()
            h.update(data)
            n += len(data)

        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        try:
            self.read_body(chunked, took)
        except ValueError:  # the gateway cut the body off (413): nothing to answer
            self.close_connection = True
            return
        out = json.dumps({"body_len": n, "body_sha256": h.hexdigest(), "chunked": chunked,
                          "content_length": self.headers.get("Content-Length")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def read_body(self, chunked, took):
        if chunked:
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                left = size
                while left:
                    data = self.rfile.read(min(65536, left))
                    if not data:
                        raise ValueError("body cut short")
                    took(data)
                    left -= len(data)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                data = self.rfile.read(min(65536, left))
                if not data:
                    raise ValueError("body cut short")
                took(data)
                left -= len(data)

    def drip(self):
        """Chunked: "first" at once, the rest a second later."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"5\r\nfirst\r\n")
        self.wfile.flush()
        time.sleep(1)
        self.wfile.write(b"d\r\n and the rest\r\n0\r\n\r\n")
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any


class App:
    def __init__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AppHandler)
        self.server.daemon_threads = True
        self.server.app = self
        self.port = self.server.server_address[1]
        self.connections = set()
        self.calls = 0
        self.first_byte_at = None
        self.sleep_s = 3
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app():
    a = App()
    yield a
    a.close()


# ---- the site ---------------------------------------------------------------------------

def site_yaml(dir_, upstream_port, timeout_ms=1000, eas_extra=""):
    return site_block(dir_) + f"""tokens:
  issuers:
    - id: {ECS_ID}
      local: true
ecs:
  id: {ECS_ID}
  signing_keys:
    - kid: ecs1-k1
      key: {CERTS}/jwt-es256-k1.key
  clients:
    - id: DNS:{EES_ID}
      scopes: [eas-app]
      audiences: any
eas:
  id: {EAS_ID}
  endpoint: https://127.0.0.1:8450
  upstream: 127.0.0.1:{upstream_port}
  upstream_timeout_ms: {timeout_ms}
  identity_header: x-eec-id
""" + eas_extra


APP_AUTHZ = (f"mode: token\naudience: {EAS_ID}\nsub_is_peer: false\nrules:\n"
             "  - path: /healthz\n    allow: any\n"
             "  - path: /\n    scope: [eas-app]")


def make_site(site, upstream_port, timeout_ms=1000, eas_extra="", body_bytes=2097152):
    site.write("site.yaml", site_yaml(site.dir, upstream_port, timeout_ms, eas_extra))
    site.port = free_port()
    site.add("app.yaml", interface="app", port=site.port, mode="server-cert", role="eas",
             mount="[health, eas]", authz=APP_AUTHZ, limits=f"body_bytes: {body_bytes}")
    return site


def cli_token(site, sub=EEC, aud=EAS_ID, scope="eas-app"):
    p = subprocess.run([BIN, "token", "issue", "--policies", str(site.dir), "--sub", sub,
                        "--aud", aud, "--scope", scope], capture_output=True, timeout=10)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode().strip()


def eas_token(sub=EES_ID, eec_id=EEC, aud=EAS_ID, scope="eas-app"):
    """The shape the ECS gives an EES for an EEC: sub = the EES, eecId = the EEC."""
    now = int(time.time())
    claims = {"iss": ECS_ID, "sub": sub, "aud": aud, "scope": scope, "iat": now,
              "exp": now + 300, "jti": f"t-{time.time_ns()}", "eecId": eec_id}
    return jwt.encode(claims, (CERTS / "jwt-es256-k1.key").read_bytes(), algorithm="ES256",
                      headers={"kid": "ecs1-k1"})


def call(port, method="GET", path="/", token=None, headers=None, body=b"", sock=None):
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    if sock is not None:
        return request(sock, method, path, headers=hdrs, body=body)
    with tls_client(port) as s:
        return request(s, method, path, headers=hdrs, body=body)


def seen(body):
    doc = json.loads(body)
    doc["h"] = {}
    for k, v in doc["headers"]:
        doc["h"].setdefault(k, []).append(v)
    return doc


def problem(headers, body):
    assert headers["content-type"] == "application/problem+json"
    return json.loads(body)


# ---- the proxy ----------------------------------------------------------------------------

def test_get_and_post_pass_through_with_the_eec_identity(site, app):
    make_site(site, app.port).start()
    token = cli_token(site)
    status, headers, body = call(site.port, "GET", "/items/7?color=red", token,
                                 headers={"Accept": "application/json"})
    assert status == 200, body
    assert headers["x-app"] == "demo" and headers["content-type"] == "application/json"
    assert "keep-alive" not in headers, "hop-by-hop fields stay on their hop"
    got = seen(body)
    assert got["method"] == "GET" and got["path"] == "/items/7?color=red"
    assert got["h"]["x-eec-id"] == [EEC], "sub when the token has no eecId"
    assert "authorization" not in got["h"], "the token stays at the gateway"
    assert got["h"]["x-forwarded-for"] == ["127.0.0.1"]
    assert got["h"]["x-forwarded-proto"] == ["https"]
    assert got["h"]["accept"] == ["application/json"]

    status, headers, body = call(site.port, "POST", "/orders", token, body=b'{"qty": 2}',
                                 headers={"Content-Type": "application/json"})
    assert status == 201, body
    got = seen(body)
    assert got["method"] == "POST" and got["body"] == '{"qty": 2}'
    assert got["h"]["content-type"] == ["application/json"]
    assert token not in site.log_path.read_text()


def test_eecid_claim_wins_and_a_client_sent_identity_is_replaced(site, app):
    make_site(site, app.port).start()
    status, _, body = call(site.port, "GET", "/me", eas_token(),
                           headers={"x-eec-id": "spiffe://site1/eec/mallory",
                                    "X-Forwarded-For": "203.0.113.9"})
    assert status == 200, body
    got = seen(body)
    assert got["h"]["x-eec-id"] == [EEC]
    assert got["h"]["x-forwarded-for"] == ["127.0.0.1"]


def test_no_token_or_a_token_for_another_eas_is_401(site, app):
    make_site(site, app.port).start()
    status, headers, body = call(site.port, "GET", "/items")
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert problem(headers, body)["status"] == 401
    status, headers, body = call(site.port, "GET", "/items",
                                 cli_token(site, aud="eas2.site2.example"))
    assert status == 401
    status, _, _ = call(site.port, "GET", "/items", cli_token(site, scope="other"))
    assert status == 403
    assert app.connections == set(), "nothing reached the application"


def test_application_down_is_502(site):
    make_site(site, free_port()).start()
    status, headers, body = call(site.port, "GET", "/items", cli_token(site))
    assert status == 502
    p = problem(headers, body)
    assert p["cause"] == "UPSTREAM_UNAVAILABLE" and p["status"] == 502
    err = site.wait_log(lambda e: e.get("event") == "upstream_error")
    assert err["reason"] == "connection refused" and err["status"] == 502


def test_slow_application_is_504(site, app):
    make_site(site, app.port, timeout_ms=500).start()
    t0 = time.time()
    status, headers, body = call(site.port, "GET", "/sleep", cli_token(site))
    assert status == 504
    assert problem(headers, body)["cause"] == "UPSTREAM_TIMEOUT"
    assert 0.4 < time.time() - t0 < 2.5
    assert site.wait_log(lambda e: e.get("event") == "upstream_error")["status"] == 504


def test_a_large_body_passes_intact_both_ways(site, app):
    make_site(site, app.port, timeout_ms=10000).start()
    data = os.urandom(1024 * 1024)
    token = cli_token(site)
    status, headers, body = call(site.port, "POST", "/raw", token, body=data,
                                 headers={"Content-Type": "application/octet-stream"})
    assert status == 201
    assert headers["content-length"] == str(len(data))
    assert body == data
    status, _, body = call(site.port, "PUT", "/digest", token, body=data)
    got = seen(body)
    assert got["body_len"] == len(data)
    assert got["body_sha256"] == hashlib.sha256(data).hexdigest()


def test_keep_alive_on_both_sides(site, app):
    make_site(site, app.port).start()
    token = cli_token(site)
    with tls_client(site.port) as s:
        for i in range(5):
            status, headers, body = call(site.port, "GET", f"/n/{i}", token, sock=s)
            assert status == 200 and seen(body)["path"] == f"/n/{i}"
            assert "connection" not in headers
    assert len(app.connections) == 1, "one pooled upstream connection served them all"


# ---- streaming the answer -------------------------------------------------------------------

def send_get(sock, path, token, method="GET"):
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
                 f"Authorization: Bearer {token}\r\n\r\n".encode())


def read_head(sock, timeout=10):
    """Reads a response head; returns (status, headers, bytes read after the head)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a head: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, rest


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_20_mib_answer_streams_through_in_bounded_memory(site, app):
    make_site(site, app.port, timeout_ms=10000).start()
    token = cli_token(site)
    n = 20 * 1024 * 1024
    with tls_client(site.port) as s:
        call(site.port, "GET", "/warm", token, sock=s)  # pools, buffers, TLS: warmed up
        base = rss_kib(site.proc.pid)
        send_get(s, f"/big/{n}", token)
        status, headers, rest = read_head(s)
        assert status == 200
        assert headers["content-length"] == str(n), "the application's length passes on"
        assert "transfer-encoding" not in headers
        h = hashlib.sha256(rest)
        got, peak, reads = len(rest), base, 0
        while got < n:
            chunk = s.recv(min(65536, n - got))
            assert chunk, f"closed after {got} bytes"
            h.update(chunk)
            got += len(chunk)
            reads += 1
            if reads % 16 == 0:
                peak = max(peak, rss_kib(site.proc.pid))
                time.sleep(0.001)  # a client a little slower than the application
        peak = max(peak, rss_kib(site.proc.pid))
        assert h.hexdigest() == big_digest(n)
        print(f"RSS before {base} KiB, peak {peak} KiB, growth {peak - base} KiB")
        assert peak - base < 8 * 1024, f"RSS grew by {peak - base} KiB for a 20 MiB answer"
        # The connection is still usable after the streamed answer.
        status, _, body = call(site.port, "GET", "/after", token, sock=s)
        assert status == 200 and seen(body)["path"] == "/after"


def test_a_slow_application_delivers_its_first_chunk_early(site, app):
    make_site(site, app.port, timeout_ms=5000).start()
    token = cli_token(site)
    with tls_client(site.port) as s:
        t0 = time.time()
        send_get(s, "/drip", token)
        status, headers, data = read_head(s)
        assert status == 200
        assert headers["transfer-encoding"] == "chunked"
        while b"first" not in data:
            chunk = s.recv(65536)
            assert chunk
            data += chunk
        first = time.time() - t0
        while not data.endswith(b"0\r\n\r\n"):
            chunk = s.recv(65536)
            assert chunk
            data += chunk
        total = time.time() - t0
    print(f"first chunk after {first * 1000:.0f} ms, whole answer after {total * 1000:.0f} ms")
    assert first < 0.5, f"first chunk after {first:.3f} s"
    assert total >= 0.9
    assert data == b"5\r\nfirst\r\nd\r\n and the rest\r\n0\r\n\r\n"


# ---- streaming the request body ----------------------------------------------------------

def send_post_head(sock, path, token, length=None, extra=""):
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    framing = f"Content-Length: {length}\r\n" if length is not None else \
        "Transfer-Encoding: chunked\r\n"
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\n{auth}{framing}{extra}"
                 "Content-Type: application/octet-stream\r\n\r\n".encode())


def test_a_20_mib_post_streams_to_the_application_in_bounded_memory(site, app):
    make_site(site, app.port, timeout_ms=10000, body_bytes=64 * 1024 * 1024).start()
    token = cli_token(site)
    n = 20 * 1024 * 1024
    with tls_client(site.port) as s:
        call(site.port, "GET", "/warm", token, sock=s)
        base = rss_kib(site.proc.pid)
        peak = base
        t0 = time.time()
        send_post_head(s, "/upload", token, length=n)
        for i, off in enumerate(range(0, n, len(BIG_BLOCK))):
            s.sendall(BIG_BLOCK[:min(len(BIG_BLOCK), n - off)])
            if i % 16 == 0:
                peak = max(peak, rss_kib(site.proc.pid))
        sent_all = time.time()
        status, headers, body = read_response(s, timeout=30)
        peak = max(peak, rss_kib(site.proc.pid))
        assert status == 200, body
        got = json.loads(body)
        assert got["body_len"] == n
        assert got["body_sha256"] == big_digest(n)
        assert got["content_length"] == str(n), "the client's length passes on"
        assert app.first_byte_at is not None and app.first_byte_at < sent_all, \
            "the application saw the body before the client finished sending it"
        first_ms = (app.first_byte_at - t0) * 1000
        print(f"RSS before {base} KiB, peak {peak} KiB, growth {peak - base} KiB; first byte "
              f"at the application after {first_ms:.0f} ms, client done after "
              f"{(sent_all - t0) * 1000:.0f} ms")
        assert peak - base < 8 * 1024, f"RSS grew by {peak - base} KiB for a 20 MiB POST"
        # The connection goes on after a streamed body.
        status, _, body = call(site.port, "GET", "/after", token, sock=s)
        assert status == 200 and seen(body)["path"] == "/after"


def test_a_chunked_post_reaches_the_application_whole(site, app):
    make_site(site, app.port, timeout_ms=5000).start()
    token = cli_token(site)
    data = os.urandom(300 * 1024 + 17)
    with tls_client(site.port) as s:
        send_post_head(s, "/upload", token, extra="Expect: 100-continue\r\n")
        status, _, _ = read_head(s)
        assert status == 100, "100 Continue once the proxy reads the body"
        pieces = [data[i:i + 70000] for i in range(0, len(data), 70000)]
        s.sendall(b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n")
        status, headers, body = read_response(s, timeout=10)
    assert status == 200, body
    got = json.loads(body)
    assert got["chunked"] is True, "no length known: chunked to the application"
    assert got["body_len"] == len(data)
    assert got["body_sha256"] == hashlib.sha256(data).hexdigest()


def test_a_denied_post_gets_401_and_the_application_is_not_called(site, app):
    make_site(site, app.port).start()
    with tls_client(site.port) as s:
        send_post_head(s, "/upload", None, length=1024 * 1024, extra="Expect: 100-continue\r\n")
        status, headers, body = read_response(s)
        assert status == 401, "answered at once, without waiting for the body"
        assert problem(headers, body)["status"] == 401
        assert headers.get("connection") == "close"
        assert peer_closed(s), "the unread body is not read: the connection closes"
    assert app.calls == 0


def test_a_chunked_body_over_the_limit_is_cut_off_with_413(site, app):
    make_site(site, app.port, timeout_ms=5000, body_bytes=256 * 1024).start()
    token = cli_token(site)
    with tls_client(site.port) as s:
        send_post_head(s, "/upload", token)
        block = b"x" * 65536
        try:
            for _ in range(8):
                s.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            pass
        status, headers, body = read_response(s, timeout=10)
    assert status == 413
    assert problem(headers, body)["status"] == 413


def test_head_gets_the_applications_content_length(site, app):
    make_site(site, app.port).start()
    token = cli_token(site)
    with tls_client(site.port) as s:
        send_get(s, "/big/12345", token, method="HEAD")
        status, headers, rest = read_head(s)
        assert status == 200
        assert headers["content-length"] == "12345"
        assert rest == b""
        # Nothing followed the head: the next answer on the connection is the next one.
        status, _, body = call(site.port, "GET", "/next", token, sock=s)
        assert status == 200 and seen(body)["path"] == "/next"


# ---- registration at the EES (EDGE-3) ------------------------------------------------------

class EesHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_any(self):
        ees = self.server.ees
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length)) if length else None
        cert = self.connection.getpeercert()
        dns = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
        ees.seen.append((self.command, self.path, body, dns[0] if dns else None))
        # Grants 2 s whatever was asked: the EAS renews at half of what it was granted.
        granted = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
        out = json.dumps(dict(body, expTime=granted)).encode()
        self.send_response(201 if self.command == "POST" else 200)
        if self.command == "POST":
            self.send_header("Location", "/eees-easregistration/v1/registrations/reg-1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_POST = do_PUT = do_any


class Ees:
    def __init__(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(CERTS / "ees1.pem", CERTS / "ees1.key")
        ctx.load_verify_locations(CA)
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EesHandler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        self.server.ees = self
        self.port = self.server.server_address[1]
        self.seen = []
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def registration_extra(ees_port, ttl_s=600):
    return (f"  ees_url: https://127.0.0.1:{ees_port}\n"
            f"  client: {{cert: {CERTS}/eas1.pem, key: {CERTS}/eas1.key}}\n"
            f"  registration_ttl_s: {ttl_s}\n  provider: demo-provider\n  type: OTHER\n")


def test_registers_at_the_ees_over_mutual_tls_and_renews(site, app):
    ees = Ees()
    try:
        make_site(site, app.port, eas_extra=registration_extra(ees.port)).start()
        first = site.wait_log(lambda e: e.get("event") == "eas_registered")
        assert first["renewed"] is False
        assert first["location"] == f"https://127.0.0.1:{ees.port}/eees-easregistration/v1/registrations/reg-1"
        site.wait_log(lambda e: e.get("event") == "eas_registered" and e["renewed"], timeout=5)
        method, path, body, peer = ees.seen[0]
        assert (method, path, peer) == ("POST", "/eees-easregistration/v1/registrations", EAS_ID)
        assert body["easProf"] == {"easId": EAS_ID, "endPt": {"uri": "https://127.0.0.1:8450"},
                                   "provId": "demo-provider", "type": "OTHER"}
        assert body["expTime"].endswith("Z")
        assert ees.seen[1][:2] == ("PUT", "/eees-easregistration/v1/registrations/reg-1")
        # The proxy serves all along.
        assert call(site.port, "GET", "/x", cli_token(site))[0] == 200
    finally:
        ees.close()


def test_ees_down_is_retried_and_the_proxy_still_serves(site, app):
    make_site(site, app.port, eas_extra=registration_extra(free_port())).start()
    failed = site.wait_log(lambda e: e.get("event") == "eas_registration_failed")
    assert failed["error"] == "connection refused" and failed["retry_in_ms"] == 1000
    assert call(site.port, "GET", "/x", cli_token(site))[0] == 200


# ---- under valgrind ------------------------------------------------------------------------

def test_memcheck_clean_through_proxying_failures_and_registration(tmp_path, app):
    from conftest import Site
    site = Site(tmp_path / "policies", valgrind=True)
    ees = Ees()
    try:
        make_site(site, app.port, timeout_ms=1500, eas_extra=registration_extra(ees.port))
        site.start(timeout=30)
        site.wait_log(lambda e: e.get("event") == "eas_registered", timeout=30)
        token = cli_token(site)
        with tls_client(site.port) as s:
            for path in ("/a", "/b"):
                status, _, _ = request(s, "GET", path, headers={"Authorization": f"Bearer {token}"})
                assert status == 200
            status, _, _ = request(s, "POST", "/raw", body=os.urandom(300000),
                                   headers={"Authorization": f"Bearer {token}"})
            assert status == 201
        # The application too slow: 504; a client that leaves while its call runs.
        status, _, _ = call(site.port, "GET", "/sleep", token)
        assert status == 504
        with tls_client(site.port) as s:
            s.sendall(f"GET /sleep HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}\r\n\r\n"
                      .encode())
            time.sleep(0.3)
        # Stopped with an upstream connection in the pool and the registration's timer armed.
        assert call(site.port, "GET", "/c", token)[0] == 200
        assert site.stop() == 0, (site.dir / "valgrind.txt").read_text()
    finally:
        ees.close()
        if site.proc and site.proc.poll() is None:
            site.proc.kill()


def test_memcheck_clean_through_streamed_request_bodies(tmp_path, app):
    """A chunked body, a denied one, one cut off at the limit, and a client that leaves in
    the middle of its body: valgrind finds nothing."""
    from conftest import Site
    site = Site(tmp_path / "policies", valgrind=True)
    try:
        make_site(site, app.port, timeout_ms=3000, body_bytes=256 * 1024)
        site.start(timeout=30)
        token = cli_token(site)
        block = b"y" * 65536
        with tls_client(site.port) as s:
            send_post_head(s, "/upload", token)
            s.sendall(b"%x\r\n" % len(block) + block + b"\r\n0\r\n\r\n")
            status, _, body = read_response(s, timeout=20)
            assert status == 200 and json.loads(body)["body_len"] == len(block)
        with tls_client(site.port) as s:
            send_post_head(s, "/upload", None, length=100000)
            assert read_response(s, timeout=20)[0] == 401
        with tls_client(site.port) as s:
            send_post_head(s, "/upload", token)
            try:
                for _ in range(5):
                    s.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                pass
            assert read_response(s, timeout=20)[0] == 413
        with tls_client(site.port) as s:
            send_post_head(s, "/upload", token, length=200000)
            s.sendall(block)
            time.sleep(0.5)  # the application has the first bytes; the client leaves
        assert call(site.port, "GET", "/c", token)[0] == 200
        assert site.stop() == 0, (site.dir / "valgrind.txt").read_text()
    finally:
        if site.proc and site.proc.poll() is None:
            site.proc.kill()
