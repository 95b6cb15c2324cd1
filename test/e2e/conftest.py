"""End-to-end harness: writes a policy directory, starts the real edgegw binary on
loopback ports, and gives tests real clients (openssl s_client, curl, Python ssl)."""

import json
import os
import pathlib
import random
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("EDGEGW_BIN", str(ROOT / "zig-out" / "bin" / "edgegw"))
CERTS = ROOT / "certs" / "out"
CA = str(CERTS / "ca.pem")


def pytest_configure(config):
    if not (CERTS / "ca.pem").exists() or not (CERTS / "demo.psk").exists():
        subprocess.run([str(ROOT / "certs" / "gen.sh")], check=True)


TEARDOWN_LIMIT_S = 120


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    """pytest-timeout (test/e2e/pytest.ini) stops its timer when a test fails, so a
    teardown that hangs after a failure would hold CI to its time limit: every teardown
    gets TEARDOWN_LIMIT_S of its own."""
    def expired(signum, frame):
        pytest.fail(f"teardown still running after {TEARDOWN_LIMIT_S} s", pytrace=True)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, TEARDOWN_LIMIT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_ports_given = set()


# Listener ports come from below the kernel's ephemeral range (32768-60999 by default):
# a port the kernel hands out (s.bind(0)) can be taken by an outbound connection between
# the test's choice and edgegw's bind, and edgegw then fails with "address already in use".
PORT_RANGE = (20000, 32000)


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port free now, outside the ephemeral range, and not handed out before in this
    run (a site written with the same port twice would not start)."""
    for _ in range(1000):
        port = random.randrange(*PORT_RANGE)
        if port in _ports_given:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise AssertionError(f"no free port in {PORT_RANGE} after 1000 tries")


def demo_psk():
    for line in (CERTS / "demo.psk").read_text().splitlines():
        if line and not line.startswith("#"):
            identity, key = line.split()
            return identity, key
    raise AssertionError("certs/out/demo.psk has no key")


def listener_yaml(interface, port, mode, role="ees", host="127.0.0.1", authz="mode: none",
                  limits="", tls_extra="", mount="[health, whoami]"):
    """One interface policy file. |authz| and |limits| are YAML bodies (indented by the
    caller's own two-space convention: lines start at column 0 here)."""
    server = role if role in ("ecs", "ees", "eas") else "ees"
    tls = {
        "server-cert": f"cert: {CERTS}/{server}.pem\nkey: {CERTS}/{server}.key\n",
        "mtls": f"cert: {CERTS}/{server}.pem\nkey: {CERTS}/{server}.key\n",
        "psk": f"psk_identity_hint: site1\npsk_file: {CERTS}/demo.psk\n",
    }[mode] + tls_extra
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    text = (f"listener:\n  interface: {interface}\n  role: {role}\n  listen: \"{listen}\"\n"
            f"  mount: {mount}\n  tls:\n    mode: {mode}\n")
    text += "".join(f"    {line}\n" for line in tls.splitlines())
    text += "  authz:\n" + "".join(f"    {line}\n" for line in authz.splitlines())
    if limits:
        text += "  limits:\n" + "".join(f"    {line}\n" for line in limits.splitlines())
    return text


def site_block(dir_):
    """The site: section every test site starts with (trust store with the CRL)."""
    return (f"site:\n  id: e2e\n  state_dir: {dir_}/state\n  drain_timeout_ms: 3000\n"
            f"  trust:\n    ca: {CA}\n    crl: {CERTS}/crl.pem\n")


def ecs_site_block(dir_, ecs_id):
    """site.yaml of an ECS that trusts its own tokens, signs with jwt-es256-k1 and gives
    ees1 the eas-app scope; the caller adds more lines of the ecs: section (indented by
    two) and more sections."""
    return site_block(dir_) + f"""tokens:
  issuers:
    - id: {ecs_id}
      local: true
ecs:
  id: {ecs_id}
  signing_keys:
    - kid: ecs1-k1
      key: {CERTS}/jwt-es256-k1.key
  clients:
    - id: DNS:ees1.site1.example
      scopes: [eas-app]
      audiences: any
"""


class Site:
    """A policy directory and the edgegw process serving it."""

    def __init__(self, path, valgrind=False):
        self.dir = path
        self.dir.mkdir(parents=True, exist_ok=True)
        self.valgrind = valgrind
        self.proc = None
        self.log_path = self.dir / "edgegw.log"
        self.write("site.yaml", site_block(self.dir))

    def write(self, name, text):
        (self.dir / name).write_text(text)

    def add(self, name, **kw):
        self.write(name, listener_yaml(**kw))

    def command(self):
        cmd = [BIN, "serve", "--policies", str(self.dir)]
        if self.valgrind and os.environ.get("EDGEGW_ASAN") == "1":
            # scripts/ci-memcheck.sh: BIN is an ASan build, which checks memory itself
            # (valgrind cannot run it); an empty report keeps the test's own check.
            (self.dir / "valgrind.txt").write_text("")
            return cmd
        if self.valgrind:
            cmd = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
                   "--show-leak-kinds=definite,indirect",
                   "--errors-for-leak-kinds=definite,indirect",
                   f"--log-file={self.dir}/valgrind.txt"] + cmd
        return cmd

    def start(self, timeout=10):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_log(lambda e: e.get("event") == "ready", timeout=timeout * (5 if self.valgrind else 1))
        return self

    def lines(self):
        out = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                out.append({"event": "<not json>", "raw": raw})
        return out

    def events(self, name):
        return [e for e in self.lines() if e.get("event") == name]

    def wait_log(self, pred, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for e in self.lines():
                if pred(e):
                    return e
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"edgegw exited {self.proc.returncode}:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        raise AssertionError(f"log line not seen in {timeout}s:\n{self.log_path.read_text()}")

    def stop(self, timeout=15):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout * (4 if self.valgrind else 1))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("edgegw did not stop on SIGTERM")
        self.log.close()
        return rc


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path / "policies")
    yield s
    if s.proc and s.proc.poll() is None:
        rc = s.stop()
        assert rc == 0, f"edgegw exited {rc} on SIGTERM:\n{s.log_path.read_text()}"


# ---- clients ---------------------------------------------------------------------------

def close_listener(sock, thread):
    """Closes a listening socket that |thread| accepts on. close() alone does not wake a
    thread blocked in accept(2): the kernel keeps the socket listening while it waits, so
    the old fake accepts one more connection on its port, or, once its descriptor number
    is reused, on another test's listener (seen in test_eas_proxy: the application's
    connection was answered by an earlier test's fake upstream and the application's
    own accept then blocked for good). shutdown(2) wakes the thread (EINVAL)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    thread.join(timeout=5)
    sock.close()


class RawServer:
    """A TCP listener on 127.0.0.1 for the fakes of the attack and fault tests: a thread
    accepts and hands each connection to self.serve(sock) in a thread of its own (daemon
    threads; close() ends the accepting). Subclasses set their state, then call this
    __init__, and define serve."""

    def __init__(self, backlog=16):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, sock):
        raise NotImplementedError

    def close(self):
        close_listener(self.sock, self.thread)


def tls_client(port, cert=None, host="127.0.0.1", server_name="localhost", **ctx_opts):
    """A verified TLS connection (Python's OpenSSL) to a listener."""
    ctx = ssl.create_default_context(cafile=CA)
    if cert:
        ctx.load_cert_chain(CERTS / f"{cert}.pem", CERTS / f"{cert}.key")
    for k, v in ctx_opts.items():
        setattr(ctx, k, v)
    raw = socket.create_connection((host, port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname=server_name)


def read_response(sock, timeout=5):
    """Reads one HTTP/1.1 response with a Content-Length body. Returns (status, headers,
    body) or (None, {}, b'') when the peer closed without one."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            chunk = b""
        if not chunk:
            return None, {}, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def request(sock, method="GET", path="/healthz", headers=None, body=b""):
    hdrs = {"Host": "localhost"}
    hdrs.update(headers or {})
    if body and "Content-Length" not in hdrs and "Transfer-Encoding" not in hdrs:
        hdrs["Content-Length"] = str(len(body))
    text = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    sock.sendall(text.encode() + body)
    return read_response(sock)


def peer_closed(sock, timeout=5):
    """True when the server closes the connection (EOF or reset) within |timeout|."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError) as e:
        return not isinstance(e, socket.timeout)


def s_client(port, args, stdin=b"", timeout=10):
    """openssl s_client against a listener; returns (exit code, combined output)."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-ign_eof"] + args
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace")


def curl(url, *args, timeout=10):
    """curl against a listener; returns (exit code, body or error text)."""
    cmd = ["curl", "-sS", "--max-time", "5", "--cacert", CA] + list(args) + [url]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


GET_WHOAMI = b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
