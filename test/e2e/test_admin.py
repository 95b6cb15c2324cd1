"""The admin listener: /healthz, /readyz and what it refuses."""

import json

from conftest import free_port, request, tls_client


def test_health_and_readiness(site):
    port = free_port()
    site.add("admin.yaml", interface="admin", port=port, mode="server-cert", role="admin",
             mount="[admin]")
    site.add("edge6.yaml", interface="EDGE-6", port=free_port(), mode="mtls", role="ecs")
    site.start()
    with tls_client(port) as s:
        status, headers, body = request(s, "GET", "/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, headers, body = request(s, "GET", "/readyz")
        assert (status, json.loads(body)) == (200, {"status": "ready"})
        status, headers, body = request(s, "POST", "/metrics", body=b"x")
        assert status == 405 and "GET" in headers["allow"]
        assert request(s, "GET", "/metricsx")[0] == 404


def test_metrics_answers_head(site):
    port = free_port()
    site.add("admin.yaml", interface="admin", port=port, mode="server-cert", role="admin",
             mount="[admin]")
    site.start()
    with tls_client(port) as s:
        s.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        head = s.recv(65536).decode()
        assert head.startswith("HTTP/1.1 200") and "text/plain; version=0.0.4" in head
