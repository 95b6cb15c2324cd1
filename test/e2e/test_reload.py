"""Reload on SIGHUP against the real binary: a new snapshot is built beside the running
one; a broken one leaves the old one serving; listeners, certificates, CAs/CRLs, PSK
files and signing keys change; registrations and connections survive."""

import json
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import (CA, CERTS, listener_yaml, read_response, request, s_client, site_block,
                      tls_client, free_port)


def reloads(site):
    return site.events("reload")


def sighup(site, timeout=10):
    """Sends SIGHUP and returns the reload line it caused."""
    before = len(reloads(site))
    site.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = reloads(site)
        if len(lines) > before:
            return lines[before]
        assert site.proc.poll() is None, site.log_path.read_text()
        time.sleep(0.02)
    raise AssertionError("no reload line:\n" + site.log_path.read_text())


def get(port, path="/healthz", cert=None, **kw):
    with tls_client(port, cert=cert, **kw) as s:
        return request(s, path=path)


def serial(sock):
    return sock.getpeercert()["serialNumber"]


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


# ---- snapshots and listeners -------------------------------------------------------------

def test_unchanged_policies_reload_and_keep_every_listener(site):
    port = free_port()
    site.add("edge4.yaml", interface="EDGE-4", port=port, mode="server-cert", role="ecs")
    site.start()
    with tls_client(port) as old:
        assert request(old)[0] == 200
        line = sighup(site)
        assert line["result"] == "ok", line
        assert (line["listeners_added"], line["listeners_removed"], line["listeners_kept"]) == \
            (0, 0, 1)
        assert request(old)[0] == 200, "a keep-alive connection goes on"
    assert get(port)[0] == 200
    assert len(site.events("listening")) == 1, "the kept listener was not bound again"


def test_listeners_are_added_and_removed_as_the_policies_say(site):
    a, b = free_port(), free_port()
    site.add("a.yaml", interface="A", port=a, mode="server-cert")
    site.start()
    with tls_client(a) as on_a:
        assert request(on_a)[0] == 200
        (site.dir / "a.yaml").unlink()
        site.add("b.yaml", interface="B", port=b, mode="server-cert")
        line = sighup(site)
        assert line["result"] == "ok", line
        assert (line["listeners_added"], line["listeners_removed"], line["listeners_kept"]) == \
            (1, 1, 0)
        assert get(b, "/whoami")[0] == 200
        assert refused(a), "the removed listener no longer accepts"
        status, _, body = request(on_a, path="/whoami")
        assert status == 200 and b'"interface":"A"' in body, \
            "a connection of the removed listener keeps its snapshot"
    # Back again: a listener can return on the address it left.
    site.add("a.yaml", interface="A2", port=a, mode="server-cert")
    assert sighup(site)["result"] == "ok"
    status, _, body = get(a, "/whoami")
    assert status == 200 and b'"interface":"A2"' in body


@pytest.mark.parametrize("name,breakage,where", [
    ("syntax", lambda s: s.write("bad.yaml", "listener:\n  interface: [oops\n"), "bad.yaml:"),
    ("unknown_key", lambda s: s.write("edge4.yaml", s.text + "  colour: blue\n"), "edge4.yaml:"),
    ("missing_cert", lambda s: s.write("edge4.yaml", s.text.replace(f"{CERTS}/ecs.pem",
                                                                   "/nonexistent/ecs.pem")),
     "edge4.yaml:"),
])
def test_a_broken_policy_keeps_the_old_site(site, name, breakage, where):
    port = free_port()
    site.text = listener_yaml(interface="EDGE-4", port=port, mode="server-cert", role="ecs")
    site.write("edge4.yaml", site.text)
    site.start()
    with tls_client(port) as old:
        breakage(site)
        line = sighup(site)
        assert line["result"] == "failed", line
        assert line["level"] == "error"
        assert where in line["error"] and line["error"].split(where)[1][:1].isdigit(), line
        assert request(old, path="/whoami")[0] == 200
    status, _, body = get(port, "/whoami")
    assert status == 200 and b'"interface":"EDGE-4"' in body
    # Fixed, it reloads.
    site.write("edge4.yaml", site.text)
    (site.dir / "bad.yaml").unlink(missing_ok=True)
    assert sighup(site)["result"] == "ok"


def test_a_rotated_server_certificate_goes_to_new_connections_only(site, tmp_path):
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    shutil.copy(CERTS / "ees.pem", cert)
    shutil.copy(CERTS / "ees.key", key)
    port = free_port()
    text = listener_yaml(interface="EDGE-1", port=port, mode="server-cert")
    site.write("edge1.yaml", text.replace(f"{CERTS}/ees.pem", str(cert))
               .replace(f"{CERTS}/ees.key", str(key)))
    site.start()
    with tls_client(port) as old:
        first = serial(old)
        shutil.copy(CERTS / "ecs.pem", cert)
        shutil.copy(CERTS / "ecs.key", key)
        assert sighup(site)["result"] == "ok"
        with tls_client(port) as new:
            assert serial(new) != first
            assert request(new)[0] == 200
        assert request(old)[0] == 200
        assert serial(old) == first


# ---- keys and trust ------------------------------------------------------------------------

K1 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
K2 = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"


def psk_whoami(port, identity, key):
    return s_client(port, ["-tls1_2", "-psk_identity", identity, "-psk", key],
                    stdin=b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")


def test_a_changed_psk_file_adds_and_removes_identities(site, tmp_path):
    psk = tmp_path / "site.psk"
    psk.write_text(f"alice {K1}\nbob {K2}\n")
    port = free_port()
    site.write("edge1.yaml", listener_yaml(interface="EDGE-1", port=port, mode="psk")
               .replace(f"{CERTS}/demo.psk", str(psk)))
    site.start()
    rc, out = psk_whoami(port, "bob", K2)
    assert rc == 0 and '"id":"bob"' in out, out
    psk.write_text(f"alice {K1}\ncarol {K2}\n")
    assert sighup(site)["result"] == "ok"
    rc, out = psk_whoami(port, "carol", K2)
    assert rc == 0 and '"id":"carol"' in out, out
    rc, out = psk_whoami(port, "alice", K1)
    assert rc == 0 and '"id":"alice"' in out, out
    rc, out = psk_whoami(port, "bob", K2)
    assert rc != 0, out
    refusal = site.wait_log(lambda e: e.get("event") == "tls_handshake_failed"
                            and e.get("psk_identity") == "bob")
    assert refusal["alert"] == "unknown_psk_identity"
    # A broken PSK file fails the reload and keeps the keys in use.
    psk.write_text(f"alice {K1}\ncarol zz\n")
    line = sighup(site)
    assert line["result"] == "failed" and f"{psk}:2:" in line["error"], line
    rc, out = psk_whoami(port, "carol", K2)
    assert rc == 0 and '"id":"carol"' in out, out


def trust_site(site, ca, crl):
    text = f"site:\n  id: e2e\n  state_dir: {site.dir}/state\n  trust:\n    ca: {ca}\n"
    if crl:
        text += f"    crl: {crl}\n"
    site.write("site.yaml", text)


def test_ca_and_crl_changes_apply_to_new_handshakes(site):
    port = free_port()
    trust_site(site, f"{CA}", None)
    site.add("edge6.yaml", interface="EDGE-6", port=port, mode="mtls", role="ecs")
    site.start()
    with tls_client(port, cert="eec-revoked") as kept:
        assert request(kept, path="/whoami")[0] == 200, "no CRL yet: accepted"
        trust_site(site, f"{CA}", f"{CERTS}/crl.pem")
        site.add("edge6.yaml", interface="EDGE-6", port=port, mode="mtls", role="ecs",
                 tls_extra="crl_check: true\n")
        assert sighup(site)["result"] == "ok"
        try:
            with tls_client(port, cert="eec-revoked") as s:
                status = request(s, path="/whoami")[0]
        except (ssl.SSLError, OSError):
            status = None
        assert status is None, "the revoked certificate is refused after the reload"
        refusal = site.wait_log(lambda e: e.get("event") == "tls_handshake_failed")
        assert refusal["alert"] == "certificate_revoked", refusal
        assert request(kept, path="/whoami")[0] == 200, "the old connection keeps its snapshot"
    assert get(port, "/whoami", cert="eec1")[0] == 200


# ---- ECS signing keys and role sections --------------------------------------------------

from test_tokens import ECS_ID, get_token, jwks, site_yaml as ecs_site_yaml, whoami  # noqa: E402


def ecs_site(site, keys):
    text = ecs_site_yaml(site.dir)
    head, _, rest = text.partition("  signing_keys:\n")
    _, _, tail = rest.partition("  clients:\n")
    listed = "".join(f"    - kid: {k}\n      key: {CERTS}/jwt-es256-{k[-2:]}.key\n" for k in keys)
    site.write("site.yaml", head + "  signing_keys:\n" + listed + "  clients:\n" + tail)


def start_ecs(site, keys):
    p = {"ecs": free_port(), "ees": free_port()}
    ecs_site(site, keys)
    site.add("edge6.yaml", interface="EDGE-6", port=p["ecs"], mode="mtls", role="ecs",
             mount="[health, ecs]",
             authz="mode: static\nrules:\n  - path: /.well-known/\n    allow: any\n"
                   "  - path: /oauth2/\n    allow: [spiffe://site1/ees/*]")
    site.add("edge9.yaml", interface="EDGE-9", port=p["ees"], mode="mtls", role="ees",
             authz="mode: token\naudience: ees9.site1.example\nrules:\n"
                   "  - path: /healthz\n    allow: any\n"
                   "  - path: /whoami\n    methods: [GET]\n    scope: [eees-whoami]")
    site.start()
    return p


def kid_of(token):
    import jwt
    return jwt.get_unverified_header(token)["kid"]


def test_signing_key_rotation(site):
    p = start_ecs(site, ["ecs-k1"])
    old = get_token(p["ecs"])[2]["access_token"]
    assert kid_of(old) == "ecs-k1"
    assert whoami(p["ees"], old)[0] == 200
    assert [k["kid"] for k in jwks(p["ecs"])["keys"]] == ["ecs-k1"]

    ecs_site(site, ["ecs-k2", "ecs-k1"])
    assert sighup(site)["result"] == "ok"
    new = get_token(p["ecs"])[2]["access_token"]
    assert kid_of(new) == "ecs-k2", "new tokens carry the new kid"
    assert sorted(k["kid"] for k in jwks(p["ecs"])["keys"]) == ["ecs-k1", "ecs-k2"]
    assert whoami(p["ees"], new)[0] == 200
    assert whoami(p["ees"], old)[0] == 200, "the old key still verifies while listed"

    ecs_site(site, ["ecs-k2"])
    assert sighup(site)["result"] == "ok"
    assert [k["kid"] for k in jwks(p["ecs"])["keys"]] == ["ecs-k2"]
    status, headers, _ = whoami(p["ees"], old)
    assert status == 401 and "invalid_token" in headers.get("www-authenticate", ""), \
        "a removed key stops verifying at once, cached or not"
    assert whoami(p["ees"], new)[0] == 200


def test_a_changed_role_section_is_refused_with_its_line(site):
    p = start_ecs(site, ["ecs-k1"])
    text = (site.dir / "site.yaml").read_text()
    site.write("site.yaml", text.replace("token_ttl_s: 600", "token_ttl_s: 900"))
    line = sighup(site)
    assert line["result"] == "failed", line
    lineno = next(i for i, l in enumerate(text.splitlines(), 1) if l.startswith("ecs:"))
    assert f"site.yaml:{lineno}: ecs: the section was changed" in line["error"], line
    assert "restart" in line["error"]
    token = get_token(p["ecs"])[2]
    assert token["expires_in"] == 600, "the running ECS keeps its configuration"
    # A mounted module that is not running cannot be added by a reload either.
    site.write("site.yaml", text)
    site.add("extra.yaml", interface="X", port=free_port(), mode="server-cert", mount="[eas]")
    line = sighup(site)
    assert line["result"] == "failed" and "extra.yaml:" in line["error"], line


# ---- registrations survive -----------------------------------------------------------------

import test_ecs_edge as ecs_edge  # noqa: E402
from test_ees import EECREG, EesSite, register_eec, api  # noqa: E402


def test_ees_registrations_at_the_ecs_survive_and_old_connections_see_the_same_table(site):
    ports = ecs_edge.make_site(site)
    site.start()
    headers, _ = ecs_edge.register(ports["edge6"])
    first = ecs_edge.reg_id(headers)
    with tls_client(ports["edge6"], cert="ees2") as old:
        assert request(old)[0] == 200
        site.add("extra.yaml", interface="X", port=free_port(), mode="server-cert")
        line = sighup(site)
        assert line["result"] == "ok" and line["listeners_added"] == 1, line
        status, _, got = ecs_edge.call(ports["edge6"], "GET", f"{ecs_edge.REG}/{first}",
                                       cert="ees1")
        assert status == 200 and got["eesProf"]["eesId"] == ecs_edge.EES1, got
        # A registration made on a connection of the old snapshot, after the reload...
        body = json.dumps(ecs_edge.registration(ees=ecs_edge.EES2)).encode()
        status, hdrs, _ = request(old, "POST", ecs_edge.REG, body=body,
                                  headers={"Content-Type": "application/json"})
        assert status == 201
        second = ecs_edge.reg_id(hdrs)
    # ...is seen through the new one.
    status, _, got = ecs_edge.call(ports["edge6"], "GET", f"{ecs_edge.REG}/{second}", cert="ees2")
    assert status == 200 and got["eesProf"]["eesId"] == ecs_edge.EES2, got


def test_eec_registrations_at_the_ees_survive(tmp_path):
    s = EesSite(tmp_path / "s1").start()
    try:
        token = s.eec_token()
        port = s.port["edge1"]
        _, reg = register_eec(port, token)
        assert sighup(s.site)["result"] == "ok"
        patch = {"ueMobilityReq": True}
        r = api(port, "PATCH", f"{EECREG}/{reg}", patch, token=token,
                content_type="application/merge-patch+json")
        assert r.status == 200 and r.json["ueMobilityReq"] is True, r
        r = api(port, "PATCH", f"{EECREG}/{reg}x", patch, token=token,
                content_type="application/merge-patch+json")
        assert r.status == 404, "an unknown registration is still refused"
        assert len(s.site.events("ready")) == 1, "the roles were not started again"
    finally:
        assert s.stop() == 0


# ---- reload under load ----------------------------------------------------------------------

class Load:
    """Clients hammering a listener from threads: keep-alive connections sending request
    after request, and new TLS connections (one request each). Every answer is recorded
    with the times its connection was started (before connect) and established (after the
    TLS handshake): the server picks a connection's snapshot at accept, in between. Every
    failure (reset, refused connect, TLS error, no answer) is recorded as such."""

    def __init__(self, port, path):
        self.port, self.path = port, path
        self.results = []  # (conn_started_at, status, kind, answered_at, conn_established_at)
        self.failures = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def record(self, started, established, status, kind):
        with self.lock:
            self.results.append((started, status, kind, time.monotonic(), established))

    def fail(self, what):
        with self.lock:
            self.failures.append(what)

    def keepalive(self):
        while not self.stop.is_set():
            try:
                started = time.monotonic()
                with tls_client(self.port) as s:
                    established = time.monotonic()
                    while not self.stop.is_set():
                        status, headers, _ = request(s, path=self.path)
                        if status is None:
                            self.fail("keep-alive: no answer")
                            return
                        self.record(started, established, status, "keep-alive")
                        if headers.get("connection") == "close":
                            break
            except (OSError, ssl.SSLError) as e:
                self.fail(f"keep-alive: {e!r}")
                return

    def fresh(self):
        while not self.stop.is_set():
            try:
                started = time.monotonic()
                with tls_client(self.port) as s:
                    established = time.monotonic()
                    status, _, _ = request(s, path=self.path, headers={"Connection": "close"})
                if status is None:
                    self.fail("new connection: no answer")
                else:
                    self.record(started, established, status, "new")
            except (OSError, ssl.SSLError) as e:
                self.fail(f"new connection: {e!r}")

    def __enter__(self):
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self.keepalive, self.keepalive, self.fresh, self.fresh)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)


def test_reload_under_load_fails_no_request(site):
    port, extra = free_port(), free_port()
    open_authz = "mode: none"
    closed_authz = "mode: static\nrules:\n  - path: /healthz\n    allow: any\n"
    limits = "requests_per_connection: 1000000"
    site.add("edge4.yaml", interface="EDGE-4", port=port, mode="server-cert", authz=open_authz,
             limits=limits)
    site.start()
    windows = []  # (sent, seen) per reload, monotonic
    with Load(port, "/whoami") as load:
        time.sleep(0.6)
        # 1: an authorization change (/whoami is no longer allowed on new connections)
        site.add("edge4.yaml", interface="EDGE-4", port=port, mode="server-cert",
                 authz=closed_authz, limits=limits)
        sent = time.monotonic()
        assert sighup(site)["result"] == "ok"
        windows.append((sent, time.monotonic()))
        time.sleep(0.8)
        # 2: a new listener
        site.add("extra.yaml", interface="X", port=extra, mode="server-cert")
        sent = time.monotonic()
        line = sighup(site)
        assert line["result"] == "ok" and line["listeners_added"] == 1, line
        windows.append((sent, time.monotonic()))
        assert get(extra, "/whoami")[0] == 200
        time.sleep(0.8)
        # 3: the new listener goes again; EDGE-4 unchanged
        (site.dir / "extra.yaml").unlink()
        sent = time.monotonic()
        line = sighup(site)
        assert line["result"] == "ok" and line["listeners_removed"] == 1, line
        windows.append((sent, time.monotonic()))
        time.sleep(0.8)
    assert load.failures == [], load.failures[:5]
    first_sent, first_seen = windows[0]
    # Accepted before the reload: established before SIGHUP was sent. After: started
    # (connect not yet sent) once the reload's log line was seen.
    before = [r for r in load.results if r[4] < first_sent]
    after = [r for r in load.results if r[0] > first_seen]
    assert len(load.results) > 200, f"only {len(load.results)} requests"
    assert before and after
    assert {r[1] for r in before} == {200}, "connections opened before keep the old policy"
    assert {r[1] for r in after} == {403}, "connections opened after get the new one"
    last_seen = windows[-1][1]
    assert [r for r in before if r[2] == "keep-alive" and r[3] > last_seen], \
        "keep-alive connections from before the first reload are still served after the last"
    kinds = {r[2] for r in load.results}
    assert kinds == {"keep-alive", "new"}
    print(f"requests: {len(load.results)}, new connections: "
          f"{sum(1 for r in load.results if r[2] == 'new')}, reloads: {len(windows)}")


# ---- memory ---------------------------------------------------------------------------------

def test_memcheck_clean_through_reloads(tmp_path):
    from conftest import Site
    site = Site(tmp_path / "policies", valgrind=True)
    psk = tmp_path / "site.psk"
    psk.write_text(f"alice {K1}\nbob {K2}\n")
    p = {"ecs": free_port(), "ees": free_port()}
    ecs_site(site, ["ecs-k1"])
    site.add("edge6.yaml", interface="EDGE-6", port=p["ecs"], mode="mtls", role="ecs",
             mount="[health, ecs]",
             authz="mode: static\nrules:\n  - path: /.well-known/\n    allow: any\n"
                   "  - path: /oauth2/\n    allow: [spiffe://site1/ees/*]")
    site.add("edge9.yaml", interface="EDGE-9", port=p["ees"], mode="mtls", role="ees",
             authz="mode: token\naudience: ees9.site1.example\nrules:\n"
                   "  - path: /healthz\n    allow: any\n"
                   "  - path: /whoami\n    methods: [GET]\n    scope: [eees-whoami]")
    pskport, extra = free_port(), free_port()
    site.write("edge1.yaml", listener_yaml(interface="EDGE-1", port=pskport, mode="psk")
               .replace(f"{CERTS}/demo.psk", str(psk)))
    site.start(timeout=30)
    try:
        old_token = get_token(p["ecs"])[2]["access_token"]
        with tls_client(p["ees"], cert="ees1-client") as kept:
            assert request(kept, path="/whoami",
                           headers={"Authorization": f"Bearer {old_token}"})[0] == 200
            ecs_site(site, ["ecs-k2", "ecs-k1"])
            site.add("extra.yaml", interface="X", port=extra, mode="server-cert")
            psk.write_text(f"carol {K2}\n")
            assert sighup(site, timeout=30)["result"] == "ok"
            assert get(extra, "/whoami")[0] == 200
            assert psk_whoami(pskport, "carol", K2)[0] == 0
            new_token = get_token(p["ecs"])[2]["access_token"]
            assert whoami(p["ees"], new_token)[0] == 200
            site.write("broken.yaml", "listener: [\n")
            assert sighup(site, timeout=30)["result"] == "failed"
            (site.dir / "broken.yaml").unlink()
            (site.dir / "extra.yaml").unlink()
            ecs_site(site, ["ecs-k2"])
            assert sighup(site, timeout=30)["result"] == "ok"
            assert request(kept, path="/whoami",
                           headers={"Authorization": f"Bearer {new_token}"})[0] == 200
    finally:
        rc = site.stop()
    report = (tmp_path / "policies" / "valgrind.txt").read_text()
    assert rc == 0, report


# ---- remote issuers -------------------------------------------------------------------------

@pytest.mark.parametrize("valgrind", [False, True])
def test_remote_issuer_keys_are_fetched_for_the_new_snapshot(tmp_path, valgrind):
    import test_jwks_fetch as jf
    from conftest import Site
    site = Site(tmp_path / "policies", valgrind=valgrind)
    server = jf.JwksServer()
    try:
        server.keys = [jf.jwk_of("jwt-es256-k1", "a")]
        plain = free_port()
        site.add("edge4.yaml", interface="EDGE-4", port=plain, mode="server-cert")
        site.start(timeout=30 if valgrind else 10)
        # A reload adds the first remote issuer: the outbound client is made then.
        port = free_port()
        site.write("site.yaml", site_block(site.dir) + f"""tokens:
  issuers:
    - id: {jf.PEER}
      jwks_uri: https://127.0.0.1:{server.port}/.well-known/jwks.json
      jwks_refresh_min_s: 1
""")
        site.add("edge9.yaml", interface="EDGE-9", port=port, mode="mtls", role="ees",
                 authz=f"mode: token\naudience: {jf.AUD}\nrules:\n"
                       "  - path: /whoami\n    scope: [eees-whoami]")
        assert sighup(site, timeout=30)["result"] == "ok"
        site.wait_log(lambda e: e.get("event") == "jwks_fetched", timeout=30)
        assert jf.whoami(port, jf.token("jwt-es256-k1", "a"))[0] == 200
        # Another reload: the new issuer set fetches its own keys with the same client.
        server.keys = [jf.jwk_of("jwt-es256-k2", "b")]
        assert sighup(site, timeout=30)["result"] == "ok"
        deadline = time.time() + 30
        while len(site.events("jwks_fetched")) < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert len(site.events("jwks_fetched")) == 2
        assert jf.whoami(port, jf.token("jwt-es256-k2", "b"))[0] == 200
        status, headers, _ = jf.whoami(port, jf.token("jwt-es256-k1", "a"))
        assert status == 401, "the key the issuer dropped is gone after the reload"
    finally:
        rc = site.stop()
        server.stop()
    assert rc == 0, (tmp_path / "policies" / "valgrind.txt").read_text() if valgrind else rc


def test_a_port_that_cannot_be_bound_fails_the_reload(site):
    port, busy, other = free_port(), free_port(), free_port()
    site.add("a.yaml", interface="A", port=port, mode="server-cert")
    site.start()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", busy))
        squatter.listen(1)
        # c.yaml is bound before z.yaml fails: it must be closed again.
        site.add("c.yaml", interface="C", port=other, mode="server-cert")
        site.add("z.yaml", interface="Z", port=busy, mode="server-cert")
        line = sighup(site)
        assert line["result"] == "failed", line
        assert "z.yaml:" in line["error"] and "cannot listen" in line["error"], line
        assert site.events("listen_failed")
        time.sleep(0.1)
        assert refused(other), "the listener bound for the failed reload is closed"
    status, _, body = get(port, "/whoami")
    assert status == 200 and b'"interface":"A"' in body
    (site.dir / "z.yaml").unlink()
    line = sighup(site)
    assert line["result"] == "ok" and line["listeners_added"] == 1, line
    assert get(other, "/whoami")[0] == 200


def test_a_moved_state_dir_is_refused(site):
    ports = ecs_edge.make_site(site)
    site.start()
    headers, _ = ecs_edge.register(ports["edge6"])
    text = (site.dir / "site.yaml").read_text()
    site.write("site.yaml", text.replace(f"{site.dir}/state", f"{site.dir}/elsewhere"))
    line = sighup(site)
    assert line["result"] == "failed", line
    assert "site.state_dir: changed" in line["error"] and "restart" in line["error"], line
    rid = ecs_edge.reg_id(headers)
    assert ecs_edge.call(ports["edge6"], "GET", f"{ecs_edge.REG}/{rid}", cert="ees1")[0] == 200
