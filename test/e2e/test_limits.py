"""Connection limit per listener."""

import socket

from conftest import free_port, peer_closed, request, tls_client


def test_connections_over_the_limit_are_closed_and_logged(site):
    port = free_port()
    site.add("edge4.yaml", interface="EDGE-4", port=port, mode="server-cert", role="ecs",
             limits="max_connections: 2")
    site.start()
    a, b = tls_client(port), tls_client(port)
    extra = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert peer_closed(extra)
    refused = site.wait_log(lambda e: e.get("event") == "connection_refused")
    assert refused["limit"] == 2 and refused["interface"] == "EDGE-4"
    assert request(a)[0] == 200 and request(b)[0] == 200
    a.close()
    b.close()
