"""KECS-PSK (issue 5; TR 33.839 solution 4): an EEC that proved its eecId with its
certificate gets a counter from the ECS (ecs-kecs); it derives KECS-PSK = KDF(MSK first 32
bytes, 0xE2, ECS id, counter as 4 bytes) from the MSK of its secondary authentication and
later connects over TLS-PSK with identity "kecs:<eecId>:<counter>". The ECS fetches the
MSK from the DN-AAA (sim-dnaaa) during that handshake. The key is computed here with
Python's hmac, not by our code."""

import hashlib
import json
import re

from conftest import CERTS, ecs_site_block, free_port, request, tls_client
from test_psk_direct import ECS_ID, handshake_failures, kdf, listener, psk_whoami

EEC_ID = "spiffe://site1/eec/eec1"
MSK = hashlib.sha512(b"msk-of-eec1").digest()  # 64 bytes


def kecs_psk(counter):
    return kdf(MSK[:32], 0xE2, ECS_ID.encode(), counter.to_bytes(4, "big"))


def start(site):
    ports = {k: free_port() for k in ("dnaaa", "edge4", "psk")}
    (site.dir / "msk").write_text(f"# eecId MSK\n{EEC_ID} {MSK.hex()}\n"
                                  f"spiffe://site1/eec/other {'11' * 32}\n")
    site.write("site.yaml", ecs_site_block(site.dir, ECS_ID) + f"""  client: {{cert: {CERTS}/ecs1.pem, key: {CERTS}/ecs1.key}}
  kecs: {{dnaaa_url: "https://127.0.0.1:{ports['dnaaa']}", timeout_ms: 2000}}
sim:
  dnaaa:
    msk_file: msk
""")
    site.write("dnaaa.yaml", listener(
        "DN-AAA", ports["dnaaa"], "sim", "mtls", f"cert: {CERTS}/ees.pem\nkey: {CERTS}/ees.key",
        f"mode: static\nrules:\n  - path: /dnaaa/\n    allow: [DNS:{ECS_ID}]", "[sim-dnaaa]"))
    site.write("edge4.yaml", listener(
        "EDGE-4", ports["edge4"], "ecs", "mtls", f"cert: {CERTS}/ecs1.pem\nkey: {CERTS}/ecs1.key",
        "mode: none", "[health, ecs-kecs]"))
    site.write("psk.yaml", listener("EDGE-1-psk", ports["psk"], "ecs", "psk",
                                    "psk_source: keystore", "mode: none", "[health, whoami]"))
    site.start(timeout=30)
    return ports


def get_counter(port, cert, eec_id):
    s = tls_client(port, cert=cert)
    status, _, body = request(s, "POST", "/edgegw-psk/v1/kecs-counters",
                              {"Content-Type": "application/json"},
                              json.dumps({"eecId": eec_id}).encode())
    s.close()
    return status, json.loads(body)


def test_kecs_psk(site):
    ports = start(site)
    status, doc = get_counter(ports["edge4"], "eec1", EEC_ID)
    assert status == 201, doc
    counter = doc["kecsCounter"]
    identity = f"kecs:{EEC_ID}:{counter}"
    assert doc == {"eecId": EEC_ID, "ecsId": ECS_ID, "kecsCounter": counter,
                   "pskIdentity": identity}, doc

    rc, out = psk_whoami(ports["psk"], identity, kecs_psk(counter))
    assert "HTTP/1.1 200" in out, out
    body = json.loads(out[out.index("{"):out.rindex("}") + 1])
    assert body["peer"] == {"kind": "psk", "id": identity}, body
    (fetched,) = site.events("ecs_msk_fetched")
    assert fetched["provider"] == "kecs" and fetched["pskIdentity"] == identity
    (asked,) = site.events("dnaaa_msk_request")
    assert asked["eecId"] == EEC_ID and asked["status"] == 200

    # A counter this ECS never issued: unknown at once, the DN-AAA is not asked.
    other = f"kecs:{EEC_ID}:{counter + 1000}"
    rc, out = psk_whoami(ports["psk"], other, kecs_psk(counter + 1000))
    assert rc != 0 and re.search(r"unknown.psk.identity", out, re.I), out
    assert len(site.events("dnaaa_msk_request")) == 1

    # A second counter gives another key; the first key does not open it.
    status, doc = get_counter(ports["edge4"], "eec1", EEC_ID)
    assert status == 201 and doc["kecsCounter"] != counter, doc
    c2 = doc["kecsCounter"]
    rc, out = psk_whoami(ports["psk"], f"kecs:{EEC_ID}:{c2}", kecs_psk(counter))
    assert rc != 0 and "HTTP/1.1" not in out, out
    (fail,) = handshake_failures(site, f"kecs:{EEC_ID}:{c2}")
    assert fail["reason"] == "bad record MAC", fail

    # Only an EEC proving the eecId with its certificate gets a counter.
    status, doc = get_counter(ports["edge4"], "eec1", "spiffe://site1/eec/other")
    assert status == 403 and doc["cause"] == "REQUEST_NOT_AUTHORIZED", doc
    status, doc = get_counter(ports["edge4"], "eec1", 7)
    assert status == 400, doc
    log = site.log_path.read_text()
    assert MSK.hex() not in log and kecs_psk(counter).hex() not in log


def test_memcheck_kecs(tmp_path):
    """Under valgrind: a counter, a KECS-PSK handshake (MSK fetched, KECS-PSK derived), an
    unissued counter (refused without a fetch): clean, no leak."""
    from conftest import Site

    site = Site(tmp_path / "policies", valgrind=True)
    ports = start(site)
    try:
        status, doc = get_counter(ports["edge4"], "eec1", EEC_ID)
        assert status == 201, doc
        c = doc["kecsCounter"]
        rc, out = psk_whoami(ports["psk"], f"kecs:{EEC_ID}:{c}", kecs_psk(c), timeout=60)
        assert "HTTP/1.1 200" in out, out
        rc, out = psk_whoami(ports["psk"], f"kecs:{EEC_ID}:{c + 5}", kecs_psk(c), timeout=60)
        assert re.search(r"unknown.psk.identity", out, re.I), out
        rc = site.stop(timeout=60)
    finally:
        if site.proc and site.proc.poll() is None:
            site.proc.kill()
    report = (site.dir / "valgrind.txt").read_text()
    assert rc == 0, f"exit {rc}\n{report}\n{site.log_path.read_text()}"
    assert report.strip() == "", report
