"""Direct first-time TLS-PSK handshakes (issue 5): a client that never made an
authentication request opens TLS 1.2 PSK with its Kedge-ID and Kedge; the server reads
the identity from the ClientKeyExchange, fetches Kedge from the AUSF (simulated, sim-ausf,
over mTLS) without blocking, then lets the handshake finish. Kedge and Kedge-ID are
computed here with Python's hmac from SPEC-NOTES, not by our code.

The ECS reaches the AUSF through a relay in this test, so that the AUSF can be taken
down (connection refused) or made slow (accepts, never answers) while the site runs."""

import hashlib
import hmac
import json
import os
import pathlib
import re
import socket
import subprocess
import threading
import time

import pytest

from conftest import (BIN, CERTS, Site, close_listener, ecs_site_block, free_port, request,
                      s_client, tls_client)

ECS_ID = "ecs1.site1.example"
TIMEOUT_MS = 800
LOAD = pathlib.Path(BIN).parent / "egw-psk-load"
GET_WHOAMI = b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def kdf(key, fc, *params):
    """TS 33.220 Annex B.2: S = FC || P0 || L0 || P1 || L1 ...; HMAC-SHA-256(key, S)."""
    s = bytes([fc])
    for p in params:
        s += p + len(p).to_bytes(2, "big")
    return hmac.new(key, s, hashlib.sha256).digest()


def subscriber(i):
    """SUPI, KAUSF, Kedge, Kedge-ID of test subscriber |i| (MCC 262, MNC 01)."""
    supi = f"26201{i:010d}"
    kausf = hashlib.sha256(f"kausf-{i}".encode()).digest()
    kedge = kdf(kausf, 0xE0, b"EDGE", supi.encode())
    tid = kdf(kausf, 0xE1, b"E-TID", supi.encode())
    return supi, kausf, kedge, f"0.{tid[:16].hex()}@5gc.mnc001.mcc262.3gppnetwork.org"


class Relay:
    """A TCP relay in front of the AUSF: "up" passes bytes on, "down" closes the port
    (connection refused) and every relayed connection, "slow" accepts and never answers."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = free_port()
        self.mode = "up"
        self.socks = []
        self.lock = threading.Lock()
        self._listen()

    def _listen(self):
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.accepting = threading.Thread(target=self._accept, args=(self.listener,),
                                          daemon=True)
        self.accepting.start()

    def _accept(self, lsock):
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            with self.lock:
                self.socks.append(c)
            if self.mode == "up":
                try:
                    u = socket.create_connection(("127.0.0.1", self.target))
                except OSError:
                    c.close()
                    continue
                with self.lock:
                    self.socks.append(u)
                threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
                threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()
            # slow: keep |c| open, never read or answer

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _drop_all(self):
        with self.lock:
            socks, self.socks = self.socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def down(self):
        self.mode = "down"
        close_listener(self.listener, self.accepting)
        self._drop_all()

    def slow(self):
        """Every new connection hangs (pooled ones are dropped first)."""
        was_down = self.mode == "down"
        self.mode = "slow"
        self._drop_all()
        if was_down:  # the same port listens again
            self._listen()

    def close(self):
        close_listener(self.listener, self.accepting)
        self._drop_all()


def listener(interface, port, role, mode, tls, authz, mount):
    text = (f"listener:\n  interface: {interface}\n  role: {role}\n  listen: \"127.0.0.1:{port}\"\n"
            f"  mount: {mount}\n  tls:\n    mode: {mode}\n")
    text += "".join(f"    {line}\n" for line in tls.splitlines())
    text += "  authz:\n" + "".join(f"    {line}\n" for line in authz.splitlines())
    return text


def start(site, n_subscribers=3, relay=True, limits="", timeout_ms=TIMEOUT_MS):
    """The site: sim-ausf on N12 (mTLS), ECS with ecs.ausf (through the relay), a PSK
    listener (psk_source: keystore, whoami) and a server-certificate listener."""
    ports = {k: free_port() for k in ("ausf", "edge4", "psk")}
    lines = ["# SUPI KAUSF"]
    for i in range(n_subscribers):
        supi, kausf, _, _ = subscriber(i)
        lines.append(f"{supi} {kausf.hex()}")
    (site.dir / "subscribers").write_text("\n".join(lines) + "\n")
    r = Relay(ports["ausf"]) if relay else None
    ausf_port = r.port if r else ports["ausf"]
    site.write("site.yaml", ecs_site_block(site.dir, ECS_ID) + f"""  client: {{cert: {CERTS}/ecs1.pem, key: {CERTS}/ecs1.key}}
  ausf: {{url: "https://127.0.0.1:{ausf_port}", timeout_ms: {timeout_ms}}}
sim:
  ausf:
    subscribers: subscribers
""")
    site.write("ausf.yaml", listener(
        "N12", ports["ausf"], "sim", "mtls", f"cert: {CERTS}/ees.pem\nkey: {CERTS}/ees.key",
        "mode: static\nrules:\n  - path: /healthz\n    allow: any\n"
        f"  - path: /nausf-auth/\n    allow: [DNS:{ECS_ID}]", "[health, sim-ausf]"))
    site.write("edge4.yaml", listener(
        "EDGE-4", ports["edge4"], "ecs", "server-cert",
        f"cert: {CERTS}/ecs1.pem\nkey: {CERTS}/ecs1.key", "mode: none", "[health, ecs-psk-auth]"))
    psk = listener("EDGE-1-psk", ports["psk"], "ecs", "psk",
                   "psk_identity_hint: 3GPP-EDGE\npsk_source: keystore", "mode: none",
                   "[health, whoami]")
    if limits:
        psk += "  limits:\n" + "".join(f"    {line}\n" for line in limits.splitlines())
    site.write("psk.yaml", psk)
    site.start(timeout=30)
    return ports, r


def psk_whoami(port, identity, key, timeout=15):
    return s_client(port, ["-tls1_2", "-quiet", "-psk_identity", identity, "-psk", key.hex()],
                    stdin=GET_WHOAMI, timeout=timeout)


def ausf_requests(site):
    """The key requests the simulated AUSF answered (its own log lines)."""
    return site.events("ausf_key_request")


def handshake_failures(site, identity):
    return [e for e in site.events("tls_handshake_failed") if e.get("psk_identity") == identity]


@pytest.fixture
def relay_cleanup():
    relays = []
    yield relays
    for r in relays:
        r.close()


def test_first_time_psk_handshake_fetches_the_key(site, relay_cleanup):
    ports, relay = start(site)
    relay_cleanup.append(relay)
    _, _, kedge, kedge_id = subscriber(1)
    # (a) No authentication request before: the first attempt completes.
    rc, out = psk_whoami(ports["psk"], kedge_id, kedge)
    assert "HTTP/1.1 200" in out, out
    body = json.loads(out[out.index("{"):out.rindex("}") + 1])
    assert body["peer"] == {"kind": "psk", "id": kedge_id} and body["tls"] == "psk", body
    fetched = site.events("ecs_kedge_fetched")
    assert len(fetched) == 1 and fetched[0]["kedgeId"] == kedge_id and fetched[0]["status"] == 200
    # Cached now: a second handshake needs no fetch.
    rc, out = psk_whoami(ports["psk"], kedge_id, kedge)
    assert "HTTP/1.1 200" in out, out
    assert len(site.events("ecs_kedge_fetched")) == 1
    # The authentication request of the proposal sees the same key (no new fetch).
    s = tls_client(ports["edge4"])
    status, _, answer = request(s, "POST", "/edgegw-psk/v1/authentications",
                                {"Content-Type": "application/json"},
                                json.dumps({"eecId": "eec1", "kedgeId": kedge_id}).encode())
    s.close()
    assert status == 200 and json.loads(answer)["kedgeId"] == kedge_id, answer
    assert len(site.events("ecs_kedge_fetched")) == 1

    # (b) An unknown Kedge-ID: the AUSF says 404, the handshake ends unknown_psk_identity.
    unknown = "0." + "ab" * 16 + "@5gc.mnc001.mcc262.3gppnetwork.org"
    rc, out = psk_whoami(ports["psk"], unknown, kedge)
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"unknown.psk.identity", out, re.I), out
    (fail,) = handshake_failures(site, unknown)
    assert fail["reason"] == "unknown PSK identity" and fail["alert"] == "unknown_psk_identity"
    # Remembered: a second try is refused the same way without asking the AUSF again.
    n = len(ausf_requests(site))
    rc, out = psk_whoami(ports["psk"], unknown, kedge)
    assert re.search(r"unknown.psk.identity", out, re.I), out
    assert len(ausf_requests(site)) == n
    # Not a Kedge-ID at all: no provider claims it, refused at once.
    rc, out = psk_whoami(ports["psk"], "someone-else", kedge)
    assert re.search(r"unknown.psk.identity", out, re.I), out
    assert len(ausf_requests(site)) == n

    # (c) The right Kedge-ID with a wrong key: fetched, then refused with an alert.
    _, _, kedge2, kedge_id2 = subscriber(2)
    wrong = bytes([kedge2[0] ^ 1]) + kedge2[1:]
    rc, out = psk_whoami(ports["psk"], kedge_id2, wrong)
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"alert", out, re.I), out
    (fail,) = handshake_failures(site, kedge_id2)
    assert fail["reason"] == "bad record MAC", fail
    # ... and the right key works on the next attempt (the fetched key stayed).
    rc, out = psk_whoami(ports["psk"], kedge_id2, kedge2)
    assert "HTTP/1.1 200" in out, out
    log = site.log_path.read_text()
    for i in range(3):
        _, kausf, k, _ = subscriber(i)
        assert k.hex() not in log and kausf.hex() not in log


def test_ausf_down_or_slow_fails_closed_within_the_timeout(site, relay_cleanup):
    ports, relay = start(site)
    relay_cleanup.append(relay)
    _, _, kedge0, id0 = subscriber(0)
    _, _, kedge1, id1 = subscriber(1)
    _, _, kedge2, id2 = subscriber(2)
    rc, out = psk_whoami(ports["psk"], id0, kedge0)
    assert "HTTP/1.1 200" in out, out

    # (d) AUSF down (its port refuses): refused at once, well within the timeout.
    relay.down()
    t0 = time.time()
    rc, out = psk_whoami(ports["psk"], id1, kedge1)
    took = time.time() - t0
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"internal.error", out, re.I), out
    assert took < TIMEOUT_MS / 1000, took  # connection refused: no need to wait
    down_took = took
    (fail,) = handshake_failures(site, id1)
    assert fail["reason"] == "PSK key provider unavailable" and fail["alert"] == "internal_error"
    # The cached identity still handshakes, another listener still serves.
    rc, out = psk_whoami(ports["psk"], id0, kedge0)
    assert "HTTP/1.1 200" in out, out
    s = tls_client(ports["edge4"])
    assert request(s, "GET", "/healthz")[0] == 200
    s.close()

    # (e) AUSF slow (accepts, never answers): refused after the provider's timeout.
    relay.slow()
    t0 = time.time()
    rc, out = psk_whoami(ports["psk"], id2, kedge2)
    took = time.time() - t0
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"internal.error", out, re.I), out
    assert TIMEOUT_MS / 1000 - 0.05 <= took < TIMEOUT_MS / 1000 + 1.5, took
    (fail,) = handshake_failures(site, id2)
    assert fail["reason"] == "PSK key provider unavailable"
    timeouts = site.events("psk_fetch_timeout")
    assert [t["psk_identity"] for t in timeouts] == [id2] and timeouts[0]["provider"] == "ausf"
    # Meanwhile and after, the cached identity is served.
    rc, out = psk_whoami(ports["psk"], id0, kedge0)
    assert "HTTP/1.1 200" in out, out
    print(f"AUSF down: refused in {down_took:.3f}s; AUSF slow: refused in {took:.3f}s")


def test_a_client_leaving_while_its_key_is_fetched(site, relay_cleanup):
    """A handshake waiting for its key is still bounded by the listener's handshake
    timeout (header_timeout_ms): the connection closes, its wait is cancelled, the fetch
    goes on to its own end, and the site serves on. (While it waits the connection does
    not read, so a client that leaves is noticed by that timer.)"""
    ports, relay = start(site, limits="header_timeout_ms: 500")
    relay_cleanup.append(relay)
    _, _, kedge, kedge_id = subscriber(1)
    relay.slow()
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{ports['psk']}",
                          "-tls1_2", "-psk_identity", kedge_id, "-psk", kedge.hex()],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(0.3)
    p.kill()
    p.wait()
    # The handshake timer (500 ms) closes another waiting connection before the AUSF
    # timeout (800 ms).
    t0 = time.time()
    rc, out = psk_whoami(ports["psk"], kedge_id, kedge)
    took = time.time() - t0
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert took < TIMEOUT_MS / 1000 + 1.0, took
    site.wait_log(lambda e: e.get("event") == "psk_fetch_timeout")
    s = tls_client(ports["edge4"])
    assert request(s, "GET", "/healthz")[0] == 200
    s.close()


def test_a_thousand_first_time_handshakes(site, tmp_path):
    n = 1000
    # The AUSF runs in the same process on a shared 2-core machine: its 1,000 answers
    # (each over a new mTLS connection at first) take more than the 800 ms of the other
    # tests, so this site gives the key requests 20 s.
    ports, _ = start(site, n_subscribers=n, relay=False, timeout_ms=20000,
                     limits="header_timeout_ms: 30000")
    keys = tmp_path / "keys.txt"
    keys.write_text("".join(f"{subscriber(i)[3]} {subscriber(i)[2].hex()}\n" for i in range(n)))
    assert LOAD.exists(), f"{LOAD} not built"
    p = subprocess.run([str(LOAD), "--port", str(ports["psk"]), "--keys", str(keys),
                        "--timeout-ms", "90000"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode()
    assert p.returncode == 0 and f"ok={n} failed=0" in out, out
    # One AUSF key request per identity: the simulated AUSF answered exactly n.
    answered = ausf_requests(site)
    assert len(answered) == n, len(answered)
    assert len(site.events("ecs_kedge_fetched")) == n
    assert not site.events("ecs_kedge_failed") and not site.events("tls_handshake_failed")
    print(out)


def test_memcheck_direct_psk(tmp_path):
    """Under valgrind: a first-time handshake, an unknown id, the AUSF down with a cached
    identity still served, a client leaving while its key is fetched, and a fetch still in
    flight at SIGTERM: no invalid access, no leak, clean exit."""
    site = Site(tmp_path / "policies", valgrind=True)
    ports, relay = start(site, timeout_ms=30000, limits="header_timeout_ms: 3000")
    try:
        _, _, kedge0, id0 = subscriber(0)
        _, _, kedge1, id1 = subscriber(1)
        rc, out = psk_whoami(ports["psk"], id0, kedge0, timeout=60)
        assert "HTTP/1.1 200" in out, out
        unknown = "0." + "cd" * 16 + "@5gc.mnc001.mcc262.3gppnetwork.org"
        rc, out = psk_whoami(ports["psk"], unknown, kedge0, timeout=60)
        assert re.search(r"unknown.psk.identity", out, re.I), out
        relay.down()
        rc, out = psk_whoami(ports["psk"], id1, kedge1, timeout=60)
        assert re.search(r"internal.error", out, re.I), out
        rc, out = psk_whoami(ports["psk"], id0, kedge0, timeout=60)
        assert "HTTP/1.1 200" in out, out
        relay.slow()
        p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{ports['psk']}",
                              "-tls1_2", "-psk_identity", id1, "-psk", kedge1.hex()],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        # Its ClientKeyExchange waits for the fetch; the handshake timer closes the
        # connection (the wait is cancelled, the fetch goes on).
        time.sleep(4.5)
        p.kill()
        p.wait()
        # Another one waits for the same fetch when SIGTERM comes.
        p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{ports['psk']}",
                              "-tls1_2", "-psk_identity", id1, "-psk", kedge1.hex()],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        time.sleep(2)
    finally:
        rc = site.stop(timeout=30)
        relay.close()
    p.kill()
    p.wait()
    report = (site.dir / "valgrind.txt").read_text()
    assert rc == 0, f"exit {rc}\n{report}\n{site.log_path.read_text()}"
    assert "Invalid" not in report and "definitely lost" not in report, report
    assert report.strip() == "", report


def test_psk_auth_without_a_key_provider_is_a_policy_error(tmp_path):
    s = Site(tmp_path / "policies")
    s.write("site.yaml", ecs_site_block(s.dir, ECS_ID))
    s.write("edge4.yaml", listener(
        "EDGE-4", free_port(), "ecs", "server-cert",
        f"cert: {CERTS}/ecs1.pem\nkey: {CERTS}/ecs1.key", "mode: none", "[health, ecs-psk-auth]"))
    p = subprocess.run([BIN, "serve", "--policies", str(s.dir)], capture_output=True, timeout=10)
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 2, out
    assert re.search(r"edge4\.yaml:\d+: listener\.mount: ecs-psk-auth needs a key provider for "
                     r"Kedge-IDs \(\"ecs\.ausf\"", out), out
