"""The NEF path of TLS-PSK (issue 5): an ECS outside the MNO domain (ecs.nef) fetches
Kedge through the NEF (sim-nef, POST /3gpp-edge-key/v1/retrieve {kedgeId, afId}), which
relays to the AUSF (sim-ausf) over mTLS. A direct first-time PSK handshake at the ECS's
PSK listener goes ECS -> NEF -> AUSF; Kedge and the Kedge-ID are computed here with
Python's hmac (test_psk_direct.subscriber), not by our code. The NEF reaches the AUSF
through a relay so that the AUSF can be taken down while the site runs."""

import json
import re
import subprocess
import time

import pytest

from conftest import BIN, CERTS, ecs_site_block, free_port, request, tls_client
from test_psk_direct import ECS_ID, Relay, handshake_failures, listener, psk_whoami, subscriber

AF_ID = "ecs1.site1.example"
UNKNOWN = "0." + "cd" * 16 + "@5gc.mnc001.mcc262.3gppnetwork.org"


def start(site, af_id=AF_ID, allowed=(AF_ID,), nef_timeout_ms=600, ecs_timeout_ms=2000):
    """sim-ausf on N12 (mTLS, admits the NEF), sim-nef on N33 (mTLS, admits the ECS) relaying
    to the AUSF through a Relay, the ECS with ecs.nef, and a PSK listener (keystore)."""
    ports = {k: free_port() for k in ("ausf", "nef", "psk")}
    lines = ["# SUPI KAUSF"]
    for i in range(3):
        supi, kausf, _, _ = subscriber(i)
        lines.append(f"{supi} {kausf.hex()}")
    (site.dir / "subscribers").write_text("\n".join(lines) + "\n")
    relay = Relay(ports["ausf"])
    allowed_yaml = "[" + ", ".join(allowed) + "]"
    site.write("site.yaml", ecs_site_block(site.dir, ECS_ID) + f"""  client: {{cert: {CERTS}/ecs1.pem, key: {CERTS}/ecs1.key}}
  nef: {{url: "https://127.0.0.1:{ports['nef']}", af_id: "{af_id}", timeout_ms: {ecs_timeout_ms}}}
sim:
  ausf:
    subscribers: subscribers
  nef:
    ausf_url: "https://127.0.0.1:{relay.port}"
    client: {{cert: {CERTS}/eas1.pem, key: {CERTS}/eas1.key}}
    allowed_af_ids: {allowed_yaml}
    timeout_ms: {nef_timeout_ms}
""")
    site.write("ausf.yaml", listener(
        "N12", ports["ausf"], "sim", "mtls", f"cert: {CERTS}/ees.pem\nkey: {CERTS}/ees.key",
        "mode: static\nrules:\n  - path: /nausf-auth/\n    allow: [DNS:eas1.site1.example]",
        "[sim-ausf]"))
    site.write("nef.yaml", listener(
        "N33", ports["nef"], "sim", "mtls", f"cert: {CERTS}/ees.pem\nkey: {CERTS}/ees.key",
        f"mode: static\nrules:\n  - path: /3gpp-edge-key/\n    allow: [DNS:{ECS_ID}]",
        "[sim-nef]"))
    site.write("psk.yaml", listener("EDGE-1-psk", ports["psk"], "ecs", "psk",
                                    "psk_identity_hint: 3GPP-EDGE\npsk_source: keystore",
                                    "mode: none", "[health, whoami]"))
    site.start(timeout=30)
    return ports, relay


def nef_call(port, body):
    """The NEF's API as the ECS calls it (mTLS with the ECS's certificate)."""
    s = tls_client(port, cert="ecs1")
    status, _, answer = request(s, "POST", "/3gpp-edge-key/v1/retrieve",
                                {"Content-Type": "application/json"}, json.dumps(body).encode())
    s.close()
    return status, json.loads(answer) if answer else None


@pytest.fixture
def relays():
    rs = []
    yield rs
    for r in rs:
        r.close()


def test_psk_handshake_through_the_nef(site, relays):
    ports, relay = start(site)
    relays.append(relay)
    _, _, kedge, kedge_id = subscriber(1)
    rc, out = psk_whoami(ports["psk"], kedge_id, kedge)
    assert "HTTP/1.1 200" in out, out
    body = json.loads(out[out.index("{"):out.rindex("}") + 1])
    assert body["peer"] == {"kind": "psk", "id": kedge_id}, body
    (fetched,) = site.events("ecs_kedge_fetched")
    assert fetched["provider"] == "nef" and fetched["kedgeId"] == kedge_id
    assert fetched["status"] == 200
    (relayed,) = site.events("nef_key_request")
    assert relayed["afId"] == AF_ID and relayed["status"] == 200 and relayed["ausf_status"] == 200
    assert len(site.events("ausf_key_request")) == 1

    # An unknown Kedge-ID: AUSF 404 -> NEF 404 -> unknown_psk_identity.
    rc, out = psk_whoami(ports["psk"], UNKNOWN, kedge)
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"unknown.psk.identity", out, re.I), out
    (fail,) = handshake_failures(site, UNKNOWN)
    assert fail["alert"] == "unknown_psk_identity"

    # The NEF's own answers: 200 with the key, 404 with the AUSF's cause, 403 for an AF it
    # does not serve, 400 for a malformed request.
    _, _, kedge2, kedge_id2 = subscriber(2)
    status, doc = nef_call(ports["nef"], {"kedgeId": kedge_id2, "afId": AF_ID})
    assert status == 200 and doc["kedge"] == kedge2.hex() and "expiry" in doc, doc
    status, doc = nef_call(ports["nef"], {"kedgeId": UNKNOWN, "afId": AF_ID})
    assert status == 404 and doc["cause"] == "KEDGE_ID_NOT_FOUND", doc
    status, doc = nef_call(ports["nef"], {"kedgeId": kedge_id2, "afId": "other-af"})
    assert status == 403 and doc["cause"] == "REQUEST_NOT_AUTHORIZED", doc
    status, doc = nef_call(ports["nef"], {"afId": AF_ID})
    assert status == 400 and doc["invalidParams"][0]["param"] == "/kedgeId", doc
    log = site.log_path.read_text()
    for i in range(3):
        _, kausf, k, _ = subscriber(i)
        assert k.hex() not in log and kausf.hex() not in log


def test_nef_refusing_the_af_fails_closed(site, relays):
    ports, relay = start(site, allowed=("some-other-af",))
    relays.append(relay)
    _, _, kedge, kedge_id = subscriber(1)
    rc, out = psk_whoami(ports["psk"], kedge_id, kedge)
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"internal.error", out, re.I), out
    (fail,) = handshake_failures(site, kedge_id)
    assert fail["reason"] == "PSK key provider unavailable", fail
    (failed,) = site.events("ecs_kedge_failed")
    assert failed["provider"] == "nef" and failed["status"] == 403, failed
    assert site.events("nef_key_request")[0]["status"] == 403
    assert site.events("ausf_key_request") == []  # never relayed


def test_ausf_behind_the_nef_down_or_slow_fails_closed(site, relays):
    ports, relay = start(site)
    relays.append(relay)
    _, _, kedge0, id0 = subscriber(0)
    _, _, kedge1, id1 = subscriber(1)
    _, _, kedge2, id2 = subscriber(2)
    rc, out = psk_whoami(ports["psk"], id0, kedge0)
    assert "HTTP/1.1 200" in out, out

    relay.down()
    rc, out = psk_whoami(ports["psk"], id1, kedge1)
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"internal.error", out, re.I), out
    status, doc = nef_call(ports["nef"], {"kedgeId": id2, "afId": AF_ID})
    assert status == 502 and doc["detail"] == "the AUSF cannot be reached", doc
    # The cached identity still works.
    rc, out = psk_whoami(ports["psk"], id0, kedge0)
    assert "HTTP/1.1 200" in out, out

    relay.slow()
    t0 = time.time()
    rc, out = psk_whoami(ports["psk"], id2, kedge2)
    took = time.time() - t0
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"internal.error", out, re.I), out
    assert took < 2.0 + 1.5, took  # the NEF gives up at 0.6 s, the ECS at 2 s at most
    statuses = [e["status"] for e in site.events("nef_key_request")]
    assert 504 in statuses and 502 in statuses, statuses
    failed = [e for e in site.events("ecs_kedge_failed") if e["kedgeId"] == id2]
    assert failed and failed[-1]["status"] == 504, failed


def test_ausf_and_nef_together_is_a_policy_error(site):
    s = site
    s.write("site.yaml", ecs_site_block(s.dir, ECS_ID) + f"""  client: {{cert: {CERTS}/ecs1.pem, key: {CERTS}/ecs1.key}}
  ausf: {{url: "https://127.0.0.1:1"}}
  nef: {{url: "https://127.0.0.1:2", af_id: x}}
""")
    s.write("psk.yaml", listener("EDGE-1-psk", free_port(), "ecs", "psk",
                                 "psk_identity_hint: 3GPP-EDGE\npsk_source: keystore",
                                 "mode: none", "[health, whoami]"))
    p = subprocess.run([BIN, "serve", "--policies", str(s.dir)], capture_output=True, timeout=10)
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 2, out
    assert re.search(r"site\.yaml:\d+: ecs\.nef: ecs\.ausf \(line \d+\) is set too", out), out


def test_memcheck_nef_path(tmp_path):
    """Under valgrind: a handshake through the NEF, an unknown id, a refused afId at the NEF,
    the AUSF down (502), a NEF request whose client leaves while the AUSF is slow, and one
    still in flight at SIGTERM: no invalid access, no leak, clean exit."""
    import socket
    import ssl

    from conftest import CA, Site

    site = Site(tmp_path / "policies", valgrind=True)
    ports, relay = start(site, nef_timeout_ms=20000, ecs_timeout_ms=30000)
    try:
        _, _, kedge, kedge_id = subscriber(1)
        rc, out = psk_whoami(ports["psk"], kedge_id, kedge, timeout=60)
        assert "HTTP/1.1 200" in out, out
        rc, out = psk_whoami(ports["psk"], UNKNOWN, kedge, timeout=60)
        assert re.search(r"unknown.psk.identity", out, re.I), out
        status, doc = nef_call(ports["nef"], {"kedgeId": kedge_id, "afId": "other-af"})
        assert status == 403, doc
        relay.down()
        _, _, _, id2 = subscriber(2)
        status, doc = nef_call(ports["nef"], {"kedgeId": id2, "afId": AF_ID})
        assert status == 502, doc
        relay.slow()

        def hanging_call():
            ctx = ssl.create_default_context(cafile=CA)
            ctx.load_cert_chain(CERTS / "ecs1.pem", CERTS / "ecs1.key")
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", ports["nef"]), timeout=30),
                                server_hostname="localhost")
            body = json.dumps({"kedgeId": id2, "afId": AF_ID}).encode()
            s.sendall(b"POST /3gpp-edge-key/v1/retrieve HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            return s

        s = hanging_call()
        time.sleep(2)  # relayed; the AUSF never answers
        s.close()  # the client leaves: the AUSF call is cancelled
        s = hanging_call()
        time.sleep(2)
        rc = site.stop(timeout=60)  # SIGTERM with a relay in flight
        s.close()
    finally:
        relay.close()
        if site.proc and site.proc.poll() is None:
            site.proc.kill()
    report = (site.dir / "valgrind.txt").read_text()
    assert rc == 0, f"exit {rc}\n{report}\n{site.log_path.read_text()}"
    assert report.strip() == "", report
    # The relay in flight at SIGTERM was answered 503 as the NEF stopped.
    assert site.events("nef_key_request")[-1]["status"] == 503
