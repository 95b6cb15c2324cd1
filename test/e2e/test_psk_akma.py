"""TLS 1.2 with AKMA (issue 5; TS 24.109 K.3.2, TS 33.535): a PSK listener with the hint
"3GPP-AKMA" and psk_source keystore; the client's identity is "3GPP-AKMA" + A-KID and the
PSK is K_AF, which the ECS's aanf provider fetches from the AAnF (sim-aanf) during the
handshake for the negotiated cipher suite (AF_ID = AF FQDN || Ua* protocol id). Every key
here is computed with Python's hmac from SPEC-NOTES, not by our code."""

import hashlib
import hmac
import json
import re

from conftest import CERTS, ecs_site_block, free_port, s_client
from test_psk_direct import ECS_ID, GET_WHOAMI, handshake_failures, kdf, listener

AF_FQDN = "af1.site1.example"
CHACHA = ("ECDHE-PSK-CHACHA20-POLY1305", 0xCCAC)
AES_CBC = ("ECDHE-PSK-AES128-CBC-SHA", 0xC035)


def akma(i, suite):
    """A-KID and K_AF (for |suite|) of test subscriber |i| (MCC 262, MNC 01)."""
    supi = f"26201{i:010d}"
    kausf = hashlib.sha256(f"akma-kausf-{i}".encode()).digest()
    k_akma = kdf(kausf, 0x80, b"AKMA", supi.encode())
    a_tid = kdf(kausf, 0x81, b"A-TID", supi.encode())
    a_kid = f"0.{a_tid.hex()}@5gc.mnc001.mcc262.3gppnetwork.org"
    ua = bytes([0x01, 0x00, 0x01]) + suite.to_bytes(2, "big")  # TS 33.220 Annex H, TLS 1.2
    k_af = kdf(k_akma, 0x82, AF_FQDN.encode() + ua)
    return supi, kausf, a_kid, k_af


def start(site):
    ports = {k: free_port() for k in ("aanf", "psk")}
    lines = [f"{s} {k.hex()}" for s, k, _, _ in (akma(i, 0) for i in range(2))]
    (site.dir / "subscribers").write_text("\n".join(lines) + "\n")
    site.write("site.yaml", ecs_site_block(site.dir, ECS_ID) + f"""  client: {{cert: {CERTS}/ecs1.pem, key: {CERTS}/ecs1.key}}
  aanf: {{url: "https://127.0.0.1:{ports['aanf']}", af_fqdn: {AF_FQDN}, timeout_ms: 2000}}
sim:
  aanf:
    subscribers: subscribers
""")
    site.write("aanf.yaml", listener(
        "N62", ports["aanf"], "sim", "mtls", f"cert: {CERTS}/ees.pem\nkey: {CERTS}/ees.key",
        f"mode: static\nrules:\n  - path: /naanf-akma/\n    allow: [DNS:{ECS_ID}]", "[sim-aanf]"))
    site.write("psk.yaml", listener("AF-akma", ports["psk"], "ecs", "psk",
                                    "psk_identity_hint: 3GPP-AKMA\npsk_source: keystore",
                                    "mode: none", "[health, whoami]"))
    site.start(timeout=30)
    return ports


def akma_whoami(port, cipher, identity, key):
    return s_client(port, ["-tls1_2", "-quiet", "-cipher", cipher, "-psk_identity", identity,
                           "-psk", key.hex()], stdin=GET_WHOAMI, timeout=15)


def test_akma_psk_handshake(site):
    ports = start(site)
    _, _, a_kid, k_af = akma(0, CHACHA[1])
    identity = "3GPP-AKMA" + a_kid
    rc, out = akma_whoami(ports["psk"], CHACHA[0], identity, k_af)
    assert "HTTP/1.1 200" in out, out
    body = json.loads(out[out.index("{"):out.rindex("}") + 1])
    assert body["peer"] == {"kind": "psk", "id": identity}, body
    (fetched,) = site.events("ecs_kaf_fetched")
    assert fetched["aKId"] == a_kid and fetched["provider"] == "aanf" and fetched["status"] == 200
    (asked,) = site.events("aanf_key_request")
    assert asked["afId"] == f"{AF_FQDN}:010001ccac" and asked["status"] == 200, asked

    # K_AF computed for another suite does not open the ChaCha20 suite.
    _, _, a_kid1, k_af_cbc = akma(1, AES_CBC[1])
    rc, out = akma_whoami(ports["psk"], CHACHA[0], "3GPP-AKMA" + a_kid1, k_af_cbc)
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"alert", out, re.I), out
    (fail,) = handshake_failures(site, "3GPP-AKMA" + a_kid1)
    assert fail["reason"] == "bad record MAC", fail
    # ... but it does open the suite it was computed for (keys are stored per suite).
    rc, out = akma_whoami(ports["psk"], AES_CBC[0], "3GPP-AKMA" + a_kid1, k_af_cbc)
    assert "HTTP/1.1 200" in out, out
    afids = sorted(e["afId"] for e in site.events("aanf_key_request"))
    assert afids == sorted([f"{AF_FQDN}:010001ccac"] * 2 + [f"{AF_FQDN}:010001c035"]), afids

    # An unknown A-KID: the AAnF says 404, the handshake ends unknown_psk_identity.
    unknown = "3GPP-AKMA0." + "ef" * 32 + "@5gc.mnc001.mcc262.3gppnetwork.org"
    rc, out = akma_whoami(ports["psk"], CHACHA[0], unknown, k_af)
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"unknown.psk.identity", out, re.I), out
    (fail,) = handshake_failures(site, unknown)
    assert fail["alert"] == "unknown_psk_identity", fail
    assert site.events("aanf_key_request")[-1]["status"] == 404
    log = site.log_path.read_text()
    for i in range(2):
        for suite in (CHACHA[1], AES_CBC[1]):
            _, kausf, _, k = akma(i, suite)
            assert k.hex() not in log and kausf.hex() not in log
