"""Faults of the key providers that a PSK handshake waits on (issue 8): the AAnF behind
an AKMA listener, the NEF behind a Kedge listener and the DN-AAA behind KECS-PSK
identities, each down, hung, or answering garbage. The handshake that needs the key then
fails closed with an internal_error alert within the provider's timeout_ms, the failure
is logged without key material, and the ECS's other listener keeps serving. (The AUSF's
faults: test_faults_ausf.py and test_psk_direct.py; an AUSF down behind the NEF:
test_psk_nef.py.)"""

import dataclasses
import json
import re
import time
from typing import Callable, Optional

import pytest

from conftest import CERTS, RawServer, ecs_site_block, free_port, request, tls_client
from test_faults_ausf import FakeAusf, answer
from test_psk_akma import AF_FQDN, CHACHA, akma, akma_whoami
from test_psk_direct import ECS_ID, handshake_failures, listener, psk_whoami, subscriber
from test_psk_kecs import EEC_ID, MSK, get_counter, kecs_psk

TIMEOUT_MS = 800
EXPIRY = "2099-01-01T00:00:00Z"


@dataclasses.dataclass(frozen=True)
class Provider:
    """How the ECS is told about one provider, the PSK listener that needs it, and one
    client whose key it would fetch: |served| is what the provider answers with (the key,
    or the material the ECS derives it from), |key| the client's PSK."""
    name: str
    site_line: str
    hint: Optional[str]
    identity: Optional[str]
    key: Optional[bytes]
    served: bytes
    key_field: str
    failed_event: str
    connect: Callable
    # KECS: a counter issued by the ECS (ecs-kecs, over its own mTLS listener) names
    # the client, so identity and key are known only once the site runs.
    prepare: Callable = lambda p, ports: p
    extra_listener: Optional[str] = None

    def good(self):
        return json.dumps({self.key_field: self.served.hex(), "expiry": EXPIRY}).encode()


def _aanf():
    _, _, a_kid, k_af = akma(0, CHACHA[1])
    return Provider(
        "aanf", 'aanf: {{url: "https://127.0.0.1:{port}", af_fqdn: ' + AF_FQDN +
        ", timeout_ms: " + str(TIMEOUT_MS) + "}}", "3GPP-AKMA", "3GPP-AKMA" + a_kid, k_af,
        k_af, "kaf", "ecs_kaf_failed",
        lambda port, p: akma_whoami(port, CHACHA[0], p.identity, p.key))


def _nef():
    _, _, kedge, kedge_id = subscriber(0)
    return Provider(
        "nef", 'nef: {{url: "https://127.0.0.1:{port}", af_id: "af-edge-1", timeout_ms: ' +
        str(TIMEOUT_MS) + "}}", "3GPP-EDGE", kedge_id, kedge, kedge, "kedge", "ecs_kedge_failed",
        lambda port, p: psk_whoami(port, p.identity, p.key))


def _kecs_counter(p, ports):
    status, doc = get_counter(ports["kecs"], "eec1", EEC_ID)
    assert status == 201, doc
    return dataclasses.replace(p, identity=doc["pskIdentity"], key=kecs_psk(doc["kecsCounter"]))


def _kecs():
    return Provider(
        "kecs", 'kecs: {{dnaaa_url: "https://127.0.0.1:{port}", timeout_ms: ' +
        str(TIMEOUT_MS) + "}}", None, None, None, MSK, "msk", "ecs_msk_failed",
        lambda port, p: psk_whoami(port, p.identity, p.key), prepare=_kecs_counter,
        extra_listener="kecs")


PROVIDERS = {"aanf": _aanf(), "nef": _nef(), "kecs": _kecs()}


class HungProvider(RawServer):
    """Accepts and never answers (not even the TLS handshake)."""

    def serve(self, sock):
        time.sleep(30)
        sock.close()


def start(site, p, provider_port):
    """The site for |p| with its provider at |provider_port|; returns the ports and |p|
    with its client's identity and key."""
    ports = {"psk": free_port(), "edge4": free_port(), "kecs": free_port()}
    site.write("site.yaml", ecs_site_block(site.dir, ECS_ID) +
               f"  client: {{cert: {CERTS}/ecs1.pem, key: {CERTS}/ecs1.key}}\n" +
               "  " + p.site_line.format(port=provider_port) + "\n")
    hint = f"psk_identity_hint: {p.hint}\n" if p.hint else ""
    site.write("psk.yaml", listener("PSK", ports["psk"], "ecs", "psk",
                                    hint + "psk_source: keystore", "mode: none",
                                    "[health, whoami]"))
    site.write("edge4.yaml", listener("EDGE-4", ports["edge4"], "ecs", "server-cert",
                                      f"cert: {CERTS}/ecs.pem\nkey: {CERTS}/ecs.key",
                                      "mode: none", "[health]"))
    if p.extra_listener == "kecs":
        site.write("kecs.yaml", listener("EDGE-4-kecs", ports["kecs"], "ecs", "mtls",
                                         f"cert: {CERTS}/ecs1.pem\nkey: {CERTS}/ecs1.key",
                                         "mode: none", "[health, ecs-kecs]"))
    site.start(timeout=30)
    return ports, p.prepare(p, ports)


def assert_refused_and_serving(site, p, ports, took_max):
    t0 = time.time()
    rc, out = p.connect(ports["psk"], p)
    took = time.time() - t0
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"internal.error", out, re.I), out
    assert took < took_max, took
    (fail,) = handshake_failures(site, p.identity)
    assert fail["reason"] == "PSK key provider unavailable" and fail["alert"] == "internal_error"
    log = site.log_path.read_text()
    assert p.key.hex() not in log and p.served.hex() not in log
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
        ports, p = start(site, p, fake.port)
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
        ports, p = start(site, p, fake.port)
        rc, out = p.connect(ports["psk"], p)
        assert "HTTP/1.1 200" in out, out
    finally:
        fake.close()


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_provider_down_fails_at_once(site, provider):
    p = PROVIDERS[provider]
    ports, p = start(site, p, free_port())  # nothing listens there
    took = assert_refused_and_serving(site, p, ports, took_max=TIMEOUT_MS / 1000)
    print(f"{provider} down: refused after {took:.3f} s")


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_hung_provider_fails_after_the_timeout(site, provider):
    p = PROVIDERS[provider]
    hung = HungProvider()
    try:
        ports, p = start(site, p, hung.port)
        took = assert_refused_and_serving(site, p, ports, took_max=TIMEOUT_MS / 1000 + 1.5)
        assert took >= TIMEOUT_MS / 1000 - 0.05, took
        timeouts = site.events("psk_fetch_timeout")
        assert [t["psk_identity"] for t in timeouts] == [p.identity], timeouts
        assert timeouts[0]["provider"] == provider, timeouts
    finally:
        hung.close()
