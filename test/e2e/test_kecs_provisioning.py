"""KECS-PSK counter in the provisioning answer (SPEC-NOTES "Keys for TLS-PSK": the ECS
sends the counter in the provisioning response). With ecs.kecs, an EEC that provisions over
mutual TLS with the certificate of its eecId gets "kecsCounter" beside ednCnfgInfo (an
extension member: the answer stays valid against TS 24.558's ECSServProvResp); a TLS-PSK
handshake as kecs:<eecId>:<counter> with KECS-PSK computed here by hmac from the MSK then
succeeds. A counter never issued is refused."""

import json
import re

from conftest import CA, CERTS, ecs_site_block, free_port, Site
from edgeapp_http import api
from test_psk_direct import ECS_ID, kdf, listener, psk_whoami
from test_psk_kecs import EEC_ID, MSK

PROV = "/eecs-serviceprovisioning/v1/request"
EESREG = "/eecs-eesregistration/v1/registrations"
EES_ID = "spiffe://site1/ees/ees1"  # identity of certs/out/ees1-client.pem


def kecs_psk(counter):
    return kdf(MSK[:32], 0xE2, ECS_ID.encode(), counter.to_bytes(4, "big"))


def start(site, kecs=True):
    ports = {k: free_port() for k in ("dnaaa", "edge4", "psk")}
    (site.dir / "msk").write_text(f"{EEC_ID} {MSK.hex()}\n")
    kecs_line = f"  kecs: {{dnaaa_url: \"https://127.0.0.1:{ports['dnaaa']}\"}}\n" if kecs else ""
    site.write("site.yaml", ecs_site_block(site.dir, ECS_ID) + f"""  provisioning: {{lifetime_s: 600, eec_scopes: [eees-eecregistration]}}
  ees_auth: [{{ees: "*", methods: [TLS_CLIENT_SERVER_CERTIFICATE]}}]
  registration: {{max_s: 86400, eec_ca: [{CA}]}}
  client: {{cert: {CERTS}/ecs1.pem, key: {CERTS}/ecs1.key}}
{kecs_line}sim:
  dnaaa:
    msk_file: msk
""")
    site.write("dnaaa.yaml", listener(
        "DN-AAA", ports["dnaaa"], "sim", "mtls", f"cert: {CERTS}/ees.pem\nkey: {CERTS}/ees.key",
        f"mode: static\nrules:\n  - path: /dnaaa/\n    allow: [DNS:{ECS_ID}]", "[sim-dnaaa]"))
    site.write("edge4.yaml", listener(
        "EDGE-4", ports["edge4"], "ecs", "mtls", f"cert: {CERTS}/ecs1.pem\nkey: {CERTS}/ecs1.key",
        "mode: none", "[health, ecs-provisioning, ecs-registration]"))
    site.write("psk.yaml", listener("EDGE-1-psk", ports["psk"], "ecs", "psk",
                                    "psk_source: keystore", "mode: none", "[health, whoami]"))
    site.start(timeout=30)
    reg = {"eesProf": {"eesId": EES_ID, "endPt": {"uri": "https://127.0.0.1:9"},
                       "eecRegConf": False}}
    r = api(ports["edge4"], "POST", EESREG, reg, cert="ees1-client")
    assert r.status == 201, r
    return ports


def provision(port, cert="eec1"):
    r = api(port, "POST", PROV, {"eecId": EEC_ID}, cert=cert)  # schema-validated
    assert r.status == 200, r
    return r.json


def test_provisioning_answer_carries_a_kecs_counter_that_opens_tls_psk(site):
    ports = start(site)
    doc = provision(ports["edge4"])
    assert doc["ednCnfgInfo"][0]["eess"][0]["eesId"] == EES_ID, doc
    counter = doc["kecsCounter"]
    assert isinstance(counter, int) and 0 < counter < 2**32, doc
    identity = f"kecs:{EEC_ID}:{counter}"
    rc, out = psk_whoami(ports["psk"], identity, kecs_psk(counter))
    assert "HTTP/1.1 200" in out, out
    body = json.loads(out[out.index("{"):out.rindex("}") + 1])
    assert body["peer"] == {"kind": "psk", "id": identity}, body
    # Each provisioning gives a new counter; a counter never issued is refused at once.
    c2 = provision(ports["edge4"])["kecsCounter"]
    assert c2 != counter
    made_up = (max(counter, c2) + 1000) % 2**32 or 1
    rc, out = psk_whoami(ports["psk"], f"kecs:{EEC_ID}:{made_up}", kecs_psk(made_up))
    assert rc != 0 and re.search(r"unknown.psk.identity", out, re.I), out
    assert len(site.events("dnaaa_msk_request")) == 1
    assert MSK.hex() not in site.log_path.read_text()


def test_no_counter_without_ecs_kecs(site):
    ports = start(site, kecs=False)
    doc = provision(ports["edge4"])
    assert "kecsCounter" not in doc and doc["ednCnfgInfo"], doc


def test_memcheck_clean_through_counters_and_kecs_handshakes(tmp_path):
    site = Site(tmp_path / "policies", valgrind=True)
    try:
        ports = start(site)
        counter = provision(ports["edge4"])["kecsCounter"]
        rc, out = psk_whoami(ports["psk"], f"kecs:{EEC_ID}:{counter}", kecs_psk(counter))
        assert "HTTP/1.1 200" in out, out
        bad = (counter + 7) % 2**32 or 1
        rc, out = psk_whoami(ports["psk"], f"kecs:{EEC_ID}:{bad}", kecs_psk(bad))
        assert rc != 0, out
    finally:
        rc = site.stop(timeout=30)
    report = (site.dir / "valgrind.txt").read_text()
    assert rc == 0, report
    assert report.strip() == "", report
