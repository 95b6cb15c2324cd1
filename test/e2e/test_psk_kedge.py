"""TLS-PSK from primary authentication (SPEC-NOTES "Keys for TLS-PSK"): a simulated AUSF
(sim-ausf, mTLS) holds a subscriber; the ECS (ecs-psk-auth, server-certificate TLS)
fetches Kedge for the EEC's Kedge-ID and puts it in the key store; a PSK listener
(psk_source: keystore, hint 3GPP-EDGE) then accepts openssl s_client with that key. Kedge
and Kedge-ID are computed here with Python's hmac from the formulas, not by our code."""

import hashlib
import hmac
import json
import re
import socket
import threading
import time

from conftest import CERTS, ecs_site_block, free_port, request, s_client, tls_client

ECS_ID = "ecs1.site1.example"
EEC = "spiffe://site1/eec/eec1"
SUPI = "262019876543210"
KAUSF = bytes(range(32))
AUTH = "/edgegw-psk/v1/authentications"
GET_HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def kdf(key, fc, *params):
    """TS 33.220 Annex B.2: S = FC || P0 || L0 || P1 || L1 ...; HMAC-SHA-256(key, S)."""
    s = bytes([fc])
    for p in params:
        s += p + len(p).to_bytes(2, "big")
    return hmac.new(key, s, hashlib.sha256).digest()


KEDGE = kdf(KAUSF, 0xE0, b"EDGE", SUPI.encode())
KEDGE_ID = (f"0.{kdf(KAUSF, 0xE1, b'E-TID', SUPI.encode())[:16].hex()}"
            "@5gc.mnc001.mcc262.3gppnetwork.org")
UNKNOWN_ID = "0." + "ab" * 16 + "@5gc.mnc001.mcc262.3gppnetwork.org"


def listener(interface, port, role, mode, tls, authz, mount):
    text = (f"listener:\n  interface: {interface}\n  role: {role}\n  listen: \"127.0.0.1:{port}\"\n"
            f"  mount: {mount}\n  tls:\n    mode: {mode}\n")
    text += "".join(f"    {line}\n" for line in tls.splitlines())
    text += "  authz:\n" + "".join(f"    {line}\n" for line in authz.splitlines())
    return text


def start(site, ausf_port=None, timeout_ms=1500):
    """The site; with |ausf_port| the ECS calls that port instead and no AUSF runs."""
    ports = {k: free_port() for k in ("ausf", "edge4", "psk")}
    ausf_up = ausf_port is None
    ausf_url = f"https://127.0.0.1:{ausf_port or ports['ausf']}"
    (site.dir / "subscribers").write_text(f"# SUPI KAUSF\n{SUPI} {KAUSF.hex()}\n")
    site.write("site.yaml", ecs_site_block(site.dir, ECS_ID) + f"""  client: {{cert: {CERTS}/ecs1.pem, key: {CERTS}/ecs1.key}}
  ausf: {{url: "{ausf_url}", timeout_ms: {timeout_ms}}}
sim:
  ausf:
    subscribers: subscribers
""")
    if ausf_up:
        site.write("ausf.yaml", listener(
            "N12", ports["ausf"], "sim", "mtls", f"cert: {CERTS}/ees.pem\nkey: {CERTS}/ees.key",
            "mode: static\nrules:\n  - path: /healthz\n    allow: any\n"
            f"  - path: /nausf-auth/\n    allow: [DNS:{ECS_ID}]", "[health, sim-ausf]"))
    site.write("edge4.yaml", listener(
        "EDGE-4", ports["edge4"], "ecs", "server-cert",
        f"cert: {CERTS}/ecs1.pem\nkey: {CERTS}/ecs1.key", "mode: none", "[health, ecs-psk-auth]"))
    site.write("psk.yaml", listener(
        "EDGE-1-psk", ports["psk"], "ecs", "psk", "psk_identity_hint: 3GPP-EDGE\npsk_source: keystore",
        "mode: none", "[health, whoami]"))
    site.start()
    return ports


def post_json(port, path, doc, cert=None):
    s = tls_client(port, cert=cert)
    try:
        body = json.dumps(doc).encode()
        return request(s, "POST", path, {"Content-Type": "application/json"}, body)
    finally:
        s.close()


def psk_get(port, identity, key_hex):
    return s_client(port, ["-tls1_2", "-quiet", "-psk_identity", identity, "-psk", key_hex],
                    stdin=GET_HEALTHZ)


def test_kedge_from_the_ausf_opens_a_psk_handshake(site):
    ports = start(site)
    # (A PSK handshake before the authentication request fetches the key itself:
    # test_psk_direct.py.)
    status, headers, body = post_json(ports["edge4"], AUTH, {"eecId": EEC, "kedgeId": KEDGE_ID})
    assert status == 200, body
    doc = json.loads(body)
    assert doc["eecId"] == EEC and doc["kedgeId"] == KEDGE_ID
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["expiry"]), doc
    assert "kedge" not in doc and KEDGE.hex() not in body.decode()
    assert headers.get("cache-control") == "no-store"

    rc, out = psk_get(ports["psk"], KEDGE_ID, KEDGE.hex())
    assert "HTTP/1.1 200" in out, out
    assert len(site.events("ecs_kedge_fetched")) == 1  # found in the key store
    rc, out = s_client(ports["psk"], ["-tls1_2", "-psk_identity", KEDGE_ID, "-psk", KEDGE.hex()],
                       stdin=GET_HEALTHZ)
    assert "ECDHE-PSK-CHACHA20-POLY1305" in out and "3GPP-EDGE" in out, out

    # A wrong key for the right id: refused with an alert.
    wrong = bytes([KEDGE[0] ^ 1]) + KEDGE[1:]
    rc, out = psk_get(ports["psk"], KEDGE_ID, wrong.hex())
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"alert", out, re.I), out
    # The cached key answers a second authentication at once, without the AUSF.
    status, _, body = post_json(ports["edge4"], AUTH, {"eecId": EEC, "kedgeId": KEDGE_ID})
    assert status == 200 and json.loads(body)["expiry"] == doc["expiry"]
    assert len(site.events("ecs_kedge_fetched")) == 1
    log = site.log_path.read_text()
    assert KEDGE.hex() not in log and KAUSF.hex() not in log


def test_unknown_kedge_id_is_404_at_the_ausf_and_the_ecs(site):
    ports = start(site)
    # The AUSF itself (mTLS, as the ECS calls it).
    status, headers, body = post_json(ports["ausf"], "/nausf-auth/v1/kedge-requests",
                                      {"kedgeId": UNKNOWN_ID}, cert="ecs1")
    assert status == 404 and headers["content-type"] == "application/problem+json", body
    assert json.loads(body)["cause"] == "KEDGE_ID_NOT_FOUND"
    status, _, body = post_json(ports["ausf"], "/nausf-auth/v1/kedge-requests",
                                {"kedgeId": KEDGE_ID}, cert="ecs1")
    assert status == 200 and json.loads(body)["kedge"] == KEDGE.hex(), body
    status, _, body = post_json(ports["ausf"], "/nausf-auth/v1/kedge-requests", {"id": 1},
                                cert="ecs1")
    assert status == 400, body
    # Another client identity is refused by the AUSF listener's authorization.
    status, _, _ = post_json(ports["ausf"], "/nausf-auth/v1/kedge-requests",
                             {"kedgeId": KEDGE_ID}, cert="eec1")
    assert status == 403

    # Through the ECS: 404, remembered (one fetch for two requests).
    for _ in range(2):
        status, headers, body = post_json(ports["edge4"], AUTH,
                                          {"eecId": EEC, "kedgeId": UNKNOWN_ID})
        assert status == 404, body
        assert json.loads(body)["cause"] == "KEDGE_ID_NOT_FOUND"
    assert len(site.events("ecs_kedge_fetched")) == 1
    rc, out = psk_get(ports["psk"], UNKNOWN_ID, KEDGE.hex())
    assert rc != 0 and re.search(r"unknown.psk.identity", out, re.I), out
    # Bad bodies.
    status, _, body = post_json(ports["edge4"], AUTH, {"eecId": EEC})
    assert status == 400 and "/kedgeId" in body.decode(), body
    status, _, body = post_json(ports["edge4"], AUTH, {"eecId": 5, "kedgeId": KEDGE_ID})
    assert status == 400 and "/eecId" in body.decode(), body


def test_ausf_down_fails_within_the_timeout_and_others_still_serve(site):
    # A socket that listens but never answers: the call can only time out.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(1)
    try:
        ports = start(site, ausf_port=hole.getsockname()[1], timeout_ms=800)
        # Two EECs ask for the same id at once: one fetch, both answered 504 in time.
        results = []

        def ask():
            t0 = time.time()
            r = post_json(ports["edge4"], AUTH, {"eecId": EEC, "kedgeId": KEDGE_ID})
            results.append((r, time.time() - t0))

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for (status, headers, body), took in results:
            assert status == 504, body
            assert headers["content-type"] == "application/problem+json"
            assert 0.5 < took < 3, took
        # The resolver's timeout ended the one fetch (and cancelled the AUSF call).
        timeouts = site.events("psk_fetch_timeout")
        assert len(timeouts) == 1 and timeouts[0]["provider"] == "ausf", timeouts
        assert timeouts[0]["psk_identity"] == KEDGE_ID and timeouts[0]["timeout_ms"] == 800
        # Other listeners still serve; a PSK handshake with the unfetched key fails closed
        # (its own fetch times out: a failure is not remembered).
        s = tls_client(ports["edge4"])
        assert request(s, "GET", "/healthz")[0] == 200
        s.close()
        rc, out = psk_get(ports["psk"], KEDGE_ID, KEDGE.hex())
        assert rc != 0 and "HTTP/1.1" not in out
        assert re.search(r"internal.error", out, re.I), out
        assert len(site.events("psk_fetch_timeout")) == 2
        status, _, _ = post_json(ports["edge4"], AUTH, {"eecId": EEC, "kedgeId": KEDGE_ID})
        assert status == 504
        assert len(site.events("psk_fetch_timeout")) == 3
    finally:
        hole.close()


def test_ausf_refusing_connections_is_502_at_once(site):
    ports = start(site, ausf_port=free_port())
    t0 = time.time()
    status, _, body = post_json(ports["edge4"], AUTH, {"eecId": EEC, "kedgeId": KEDGE_ID})
    assert status == 502 and time.time() - t0 < 1, body
    assert json.loads(body)["detail"] == "the AUSF cannot be reached"
