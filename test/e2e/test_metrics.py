"""GET /metrics on the admin listener: the Prometheus text format, and counters that move
by exactly what the requests made in between should cause."""

import socket

from conftest import free_port, request, tls_client
from metrics_parse import parse, value
from test_tokens import AUD, claims, sign, site_yaml


def start(site):
    p = {"admin": free_port(), "ees": free_port(), "ecs": free_port()}
    site.write("site.yaml", site_yaml(site.dir))
    site.add("admin.yaml", interface="admin", port=p["admin"], mode="server-cert",
             role="admin", mount="[admin]")
    site.add("edge9.yaml", interface="EDGE-9", port=p["ees"], mode="mtls", role="ees",
             authz=f"mode: token\naudience: {AUD}\nrules:\n"
                   "  - path: /healthz\n    allow: any\n"
                   "  - path: /whoami\n    methods: [GET]\n    scope: [eees-whoami]")
    site.start()
    return p


def scrape(port):
    with tls_client(port) as s:
        status, headers, body = request(s, "GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(body.decode())


def get(port, path, token=None):
    with tls_client(port, cert="ees1-client") as s:
        return request(s, "GET", path,
                       headers={"Authorization": f"Bearer {token}"} if token else None)[0]


def test_counters_move_by_the_requests_made(site):
    p = start(site)
    before, types = scrape(p["admin"])
    assert types["edgegw_http_requests_total"] == "counter"
    assert types["edgegw_open_connections"] == "gauge"
    assert types["edgegw_key_fetch_duration_seconds"] == "histogram"

    assert get(p["ees"], "/whoami", sign(claims())) == 200
    assert get(p["ees"], "/whoami", sign(claims())) == 200
    assert get(p["ees"], "/whoami") == 401
    assert get(p["ees"], "/nothing/here") == 404
    # Not TLS at all: a failed handshake.
    with socket.create_connection(("127.0.0.1", p["ees"])) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        raw.settimeout(5)
        try:
            while raw.recv(4096):
                pass
        except OSError:
            pass
    site.wait_log(lambda e: e.get("event") == "tls_handshake_failed")

    with tls_client(p["ees"], cert="ees1-client") as held:
        assert request(held, "GET", "/healthz")[0] == 200
        after, _ = scrape(p["admin"])
        assert value(after, "edgegw_open_connections", interface="EDGE-9") == 1

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    req = "edgegw_http_requests_total"
    assert delta(req, interface="EDGE-9", route="/whoami", status="200") == 2
    assert delta(req, interface="EDGE-9", route="/whoami", status="401") == 1
    assert delta(req, interface="EDGE-9", route="none", status="404") == 1
    assert delta(req, interface="EDGE-9", route="/healthz", status="200") == 1
    authz = "edgegw_authz_decisions_total"
    assert delta(authz, interface="EDGE-9", provider="token", decision="allow", reason="ok") == 3
    assert delta(authz, interface="EDGE-9", provider="token", decision="deny",
                 reason="TOKEN_MISSING") == 1
    hs = "edgegw_tls_handshakes_total"
    assert delta(hs, interface="EDGE-9", mode="mtls", result="ok") == 5
    assert delta(hs, interface="EDGE-9", mode="mtls", result="failed") == 1
    # Two different tokens: two misses (then cached).
    assert delta("edgegw_token_cache_misses_total") == 2
    assert value(after, "edgegw_token_cache_entries") == 2
    assert value(after, "edgegw_open_connections", interface="admin") == 1

    final, _ = scrape(p["admin"])
    assert value(final, "edgegw_open_connections", interface="EDGE-9") == 0
