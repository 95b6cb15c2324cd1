"""edgegw sidecar: an EAS in front of one application, configured from the environment
alone. The application is a Python HTTP server; tokens come from `edgegw token issue`
with a key whose certificate the sidecar is given as --issuer-cert (EDGEGW_SIDECAR_*)."""

import http.server
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BIN, CERTS, free_port, request, tls_client

ISS = "issuer.example"
AUD = "eas-sidecar"


class App(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/slow":
            time.sleep(1.5)
        body = f"app says hi to {self.headers.get('x-eec-id')} at {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def app():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), App)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def issue(tmp_path, aud=AUD, sub="app-client-1", scope="eas-app"):
    d = tmp_path / "issuer"
    if not d.exists():
        d.mkdir()
        (d / "site.yaml").write_text(f"""site:
  id: issuer
tokens:
  issuers:
    - id: {ISS}
      local: true
ecs:
  id: {ISS}
  signing_keys:
    - kid: iss-k1
      key: {CERTS}/jwt-issuer.key
  clients:
    - id: "DNS:*.example"
      scopes: [eas-app, other]
      audiences: any
""")
        (d / "unused.yaml").write_text(f"""listener:
  interface: unused
  role: ecs
  listen: 127.0.0.1:1
  tls:
    mode: server-cert
    cert: {CERTS}/ecs.pem
    key: {CERTS}/ecs.key
  authz:
    mode: none
""")
    r = subprocess.run([BIN, "token", "issue", "--policies", str(d), "--sub", sub, "--aud", aud,
                        "--scope", scope], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def start_sidecar(tmp_path, upstream, extra_env=None, args=()):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEGW_SIDECAR_")}
    env.update({
        "EDGEGW_SIDECAR_LISTEN": f"127.0.0.1:{port}",
        "EDGEGW_SIDECAR_UPSTREAM": f"127.0.0.1:{upstream}",
        "EDGEGW_SIDECAR_ISSUER_CERT": str(CERTS / "jwt-issuer.pem"),
        "EDGEGW_SIDECAR_ISSUER_KID": "iss-k1",
        "EDGEGW_SIDECAR_ISSUER": ISS,
        "EDGEGW_SIDECAR_AUD": AUD,
        "EDGEGW_SIDECAR_SCOPE": "eas-app",
        "EDGEGW_SIDECAR_TLS_CERT": str(CERTS / "eas1.pem"),
        "EDGEGW_SIDECAR_TLS_KEY": str(CERTS / "eas1.key"),
        "EDGEGW_SIDECAR_DRAIN_S": "5",
    })
    env.update(extra_env or {})
    log = open(tmp_path / "sidecar.log", "w")
    proc = subprocess.Popen([BIN, "sidecar", *args], stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 10
    while b'"event":"ready"' not in (tmp_path / "sidecar.log").read_bytes():
        assert proc.poll() is None, (tmp_path / "sidecar.log").read_text()
        assert time.time() < deadline, "sidecar not ready"
        time.sleep(0.05)
    return proc, port


def get(port, path, token=None):
    with tls_client(port) as s:
        return request(s, "GET", path,
                       headers={"Authorization": f"Bearer {token}"} if token else None)


@pytest.fixture
def sidecar(tmp_path, app):
    procs = []

    def run(**kw):
        proc, port = start_sidecar(tmp_path, app, **kw)
        procs.append(proc)
        return proc, port
    yield run
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=15) == 0


def test_env_only_configuration_proxies_with_token_checks(tmp_path, sidecar):
    proc, port = sidecar()
    status, headers, body = get(port, "/hello", issue(tmp_path))
    assert status == 200 and body == b"app says hi to app-client-1 at /hello"
    status, headers, body = get(port, "/hello")
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    status, headers, body = get(port, "/hello", issue(tmp_path, aud="someone-else"))
    assert status == 401 and b"INVALID_TOKEN" in body
    status, headers, body = get(port, "/hello", issue(tmp_path, scope="other"))
    assert status == 403


def test_flags_override_the_environment(tmp_path, sidecar):
    proc, port = sidecar(extra_env={"EDGEGW_SIDECAR_AUD": "wrong"}, args=("--aud", AUD))
    assert get(port, "/x", issue(tmp_path))[0] == 200


def test_sigterm_drains_in_flight_requests_and_exits_0(tmp_path, sidecar):
    proc, port = sidecar()
    token = issue(tmp_path)
    result = {}

    def slow():
        result["answer"] = get(port, "/slow", token)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)  # the request is at the application
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    with pytest.raises(OSError):  # new connections are refused while draining
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    t.join(10)
    status, _, body = result["answer"]
    assert status == 200 and body == b"app says hi to app-client-1 at /slow"
    assert proc.wait(timeout=10) == 0


def test_refusals_name_what_is_missing(tmp_path, app):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEGW_SIDECAR_")}
    base = ["sidecar", "--listen", "127.0.0.1:1", "--upstream", f"127.0.0.1:{app}",
            "--issuer", ISS, "--aud", AUD, "--issuer-cert", str(CERTS / "jwt-issuer.pem")]
    r = subprocess.run([BIN, *base], capture_output=True, text=True, env=env, timeout=10)
    assert r.returncode == 2 and "--tls-cert and --tls-key are required" in r.stderr
    r = subprocess.run([BIN, *base[:-2], "--tls-cert", "x", "--tls-key", "y"],
                       capture_output=True, text=True, env=env, timeout=10)
    assert r.returncode == 2 and "exactly one of --issuer-cert and --issuer-jwks" in r.stderr
    r = subprocess.run([BIN, "sidecar", "--listen", "nohost:80"], capture_output=True, text=True,
                       env=env, timeout=10)
    assert r.returncode == 2 and "--upstream is required" in r.stderr


def test_issuer_keys_from_a_jwks_url(tmp_path, sidecar):
    from test_jwks_fetch import JwksServer, jwk_of
    jwks = JwksServer()
    try:
        jwks.keys = [jwk_of("jwt-issuer", "iss-k1")]
        proc, port = sidecar(extra_env={
            "EDGEGW_SIDECAR_ISSUER_CERT": "", "EDGEGW_SIDECAR_ISSUER_KID": "",
            "EDGEGW_SIDECAR_ISSUER_JWKS": f"https://127.0.0.1:{jwks.port}/.well-known/jwks.json",
            "EDGEGW_SIDECAR_CA": str(CERTS / "ca.pem")})
        status, _, body = get(port, "/j", issue(tmp_path))
        assert status == 200 and body == b"app says hi to app-client-1 at /j"
        assert jwks.hits >= 1
    finally:
        jwks.stop()


def test_admin_listener_serves_probes_and_metrics(tmp_path, sidecar):
    from metrics_parse import parse, value
    admin = free_port()
    proc, port = sidecar(extra_env={"EDGEGW_SIDECAR_ADMIN": f"127.0.0.1:{admin}"})
    assert get(port, "/m", issue(tmp_path))[0] == 200
    assert get(port, "/m")[0] == 401
    assert get(admin, "/readyz")[0] == 200
    status, headers, body = get(admin, "/metrics")
    assert status == 200
    samples, _ = parse(body.decode())
    assert value(samples, "edgegw_http_requests_total", interface="sidecar", route="/",
                 status="200") == 1
    assert value(samples, "edgegw_authz_decisions_total", interface="sidecar", provider="token",
                 decision="deny", reason="TOKEN_MISSING") == 1


def test_upstream_down_is_502_and_counted(tmp_path, sidecar):
    from metrics_parse import parse, value
    admin, closed = free_port(), free_port()
    proc, port = sidecar(extra_env={"EDGEGW_SIDECAR_ADMIN": f"127.0.0.1:{admin}",
                                    "EDGEGW_SIDECAR_UPSTREAM": f"127.0.0.1:{closed}"})
    status, _, body = get(port, "/down", issue(tmp_path))
    assert status == 502 and b"UPSTREAM_UNAVAILABLE" in body
    samples, _ = parse(get(admin, "/metrics")[2].decode())
    assert value(samples, "edgegw_upstream_errors_total", interface="sidecar",
                 kind="bad_gateway") == 1
    assert value(samples, "edgegw_http_requests_total", interface="sidecar", route="/",
                 status="502") == 1
