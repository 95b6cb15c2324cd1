"""Faults of the key providers that a PSK handshake waits on (issue 8): the AAnF behind
an AKMA listener and the NEF behind a Kedge listener, each down, hung, or answering
garbage. The handshake that needs the key then fails closed with an internal_error alert
within the provider's timeout_ms, the failure is logged without key material, and the
ECS's other listener keeps serving. (The AUSF's faults: test_faults_ausf.py and
test_psk_direct.py; an AUSF down behind the NEF: test_psk_nef.py.)"""

import json
import re
import time

import pytest

from conftest import CERTS, RawServer, ecs_site_block, free_port, request, tls_client
from test_faults_ausf import FakeAusf, answer
from test_psk_akma import AF_FQDN, CHACHA, akma, akma_whoami
from test_psk_direct import ECS_ID, handshake_failures, listener, psk_whoami, subscriber

TIMEOUT_MS = 800
EXPIRY = "2099-01-01T00:00:00Z"


class Provider:
    """How the ECS is told about one provider, the PSK listener that needs it, and one
    client whose key it would fetch."""

    def __init__(self, name, site_line, hint, identity, key, key_field, event, connect):
        self.name, self.site_line, self.hint = name, site_line, hint
        self.identity, self.key, self.key_field = identity, key, key_field
        self.failed_event, self.connect = event, connect

    def good(self):
        return json.dumps({self.key_field: self.key.hex(), "expiry": EXPIRY}).encode()


def _aanf():
    _, _, a_kid, k_af = akma(0, CHACHA[1])
    return Provider(
        "aanf", 'aanf: {{url: "https://127.0.0.1:{port}", af_fqdn: ' + AF_FQDN +
        ", timeout_ms: " + str(TIMEOUT_MS) + "}}", "3GPP-AKMA", "3GPP-AKMA" + a_kid, k_af,
        "kaf", "ecs_kaf_failed",
        lambda port, p: akma_whoami(port, CHACHA[0], p.identity, p.key))


def _nef():
    _, _, kedge, kedge_id = subscriber(0)
    return Provider(
        "nef", 'nef: {{url: "https://127.0.0.1:{port}", af_id: "af-edge-1", timeout_ms: ' +
        str(TIMEOUT_MS) + "}}", "3GPP-EDGE", kedge_id, kedge, "kedge", "ecs_kedge_failed",
        lambda port, p: psk_whoami(port, p.identity, p.key))


PROVIDERS = {"aanf": _aanf(), "nef": _nef()}


class HungProvider(RawServer):
    """Accepts and never answers (not even the TLS handshake)."""

    def serve(self, sock):
        time.sleep(30)
        sock.close()


def start(site, p, provider_port):
    ports = {"psk": free_port(), "edge4": free_port()}
    site.write("site.yaml", ecs_site_block(site.dir, ECS_ID) +
               f"  client: {{cert: {CERTS}/ecs1.pem, key: {CERTS}/ecs1.key}}\n" +
               "  " + p.site_line.format(port=provider_port) + "\n")
    site.write("psk.yaml", listener("PSK", ports["psk"], "ecs", "psk",
                                    f"psk_identity_hint: {p.hint}\npsk_source: keystore",
                                    "mode: none", "[health, whoami]"))
    site.write("edge4.yaml", listener("EDGE-4", ports["edge4"], "ecs", "server-cert",
                                      f"cert: {CERTS}/ecs.pem\nkey: {CERTS}/ecs.key",
                                      "mode: none", "[health]"))
    site.start(timeout=30)
    return ports


def assert_refused_and_serving(site, p, ports, took_max):
    t0 = time.time()
    rc, out = p.connect(ports["psk"], p)
    took = time.time() - t0
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"internal.error", out, re.I), out
    assert took < took_max, took
    (fail,) = handshake_failures(site, p.identity)
    assert fail["reason"] == "PSK key provider unavailable" and fail["alert"] == "internal_error"
    assert p.key.hex() not in site.log_path.read_text()
    with tls_client(ports["edge4"]) as s:
        assert request(s, "GET", "/healthz")[0] == 200
    return took


def garbage(p):
    good = p.good()
    return {
        "invalid_json": answer("200 OK", "application/json", b'{"' + p.key_field.encode() + b'": "00'),
        "good_body_wrong_content_type": answer("200 OK", "text/plain", good),
        "truncated": answer("200 OK", "application/json", good[:20], length=len(good)),
        "http09_junk": b"hello, this is not HTTP at all\n",
        "status_500": answer("500 Internal Server Error", "application/problem+json",
                             b'{"status":500}'),
        "short_key": answer("200 OK", "application/json",
                            json.dumps({p.key_field: "00" * 16, "expiry": EXPIRY}).encode()),
    }


CASES = [(name, kind) for name in sorted(PROVIDERS) for kind in sorted(garbage(PROVIDERS[name]))]


@pytest.mark.parametrize("provider,kind", CASES)
def test_a_provider_answering_garbage_fails_the_handshake_closed(site, provider, kind):
    p = PROVIDERS[provider]
    fake = FakeAusf(garbage(p)[kind])
    try:
        ports = start(site, p, fake.port)
        assert_refused_and_serving(site, p, ports, took_max=TIMEOUT_MS / 1000 + 1.5)
        failed = site.wait_log(lambda e: e.get("event") == p.failed_event)
        assert failed.get("error") or failed.get("reason"), failed
    finally:
        fake.close()


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_the_same_fake_with_a_good_answer_lets_the_client_in(site, provider):
    """The control for the cases above."""
    p = PROVIDERS[provider]
    fake = FakeAusf(answer("200 OK", "application/json", p.good()))
    try:
        ports = start(site, p, fake.port)
        rc, out = p.connect(ports["psk"], p)
        assert "HTTP/1.1 200" in out, out
    finally:
        fake.close()


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_provider_down_fails_at_once(site, provider):
    p = PROVIDERS[provider]
    ports = start(site, p, free_port())  # nothing listens there
    took = assert_refused_and_serving(site, p, ports, took_max=TIMEOUT_MS / 1000)
    print(f"{provider} down: refused after {took:.3f} s")


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_hung_provider_fails_after_the_timeout(site, provider):
    p = PROVIDERS[provider]
    hung = HungProvider()
    try:
        ports = start(site, p, hung.port)
        took = assert_refused_and_serving(site, p, ports, took_max=TIMEOUT_MS / 1000 + 1.5)
        assert took >= TIMEOUT_MS / 1000 - 0.05, took
        timeouts = site.events("psk_fetch_timeout")
        assert [t["psk_identity"] for t in timeouts] == [p.identity], timeouts
        assert timeouts[0]["provider"] == provider, timeouts
    finally:
        hung.close()
