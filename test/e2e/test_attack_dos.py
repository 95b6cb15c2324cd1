"""Resource exhaustion, each refused cleanly while other clients are served: slowloris
(many connections trickling their headers), a slow body (a byte now and then, which once
held a connection for as long as the client liked), and a connection flood beyond the
listener's max_connections. (One slow client: test_http.py::test_slow_client_gets_408_while_a_parallel_client_is_served;
the limit itself: test_limits.py.)"""

import socket
import threading
import time

import pytest

from conftest import free_port, peer_closed, read_response, request, tls_client


@pytest.fixture
def port(site):
    p = free_port()
    site.add("edge4.yaml", interface="EDGE-4", port=p, mode="server-cert", role="ecs",
             limits="header_timeout_ms: 1000\nidle_timeout_ms: 1500\nmax_connections: 40")
    site.start()
    return p


def healthy_latencies(port, n=6):
    out = []
    with tls_client(port) as s:
        for _ in range(n):
            t0 = time.time()
            assert request(s)[0] == 200
            out.append(time.time() - t0)
            time.sleep(0.1)
    return out


def test_slowloris_connections_all_get_408_and_others_are_served(port):
    slow = [tls_client(port) for _ in range(20)]
    stop = threading.Event()
    for s in slow:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n")

    def trickle():
        while not stop.is_set():
            for s in slow:
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass
            time.sleep(0.2)

    t = threading.Thread(target=trickle)
    t.start()
    try:
        lat = healthy_latencies(port)
        started = time.time()
        statuses = [read_response(s, timeout=5)[0] for s in slow]
    finally:
        stop.set()
        t.join()
    assert statuses == [408] * len(slow), statuses
    assert time.time() - started < 3.0
    assert max(lat) < 0.5, lat
    for s in slow:
        s.close()
    assert healthy_latencies(port, 1)


def test_a_slow_body_is_cut_off_with_408(port, site):
    c = tls_client(port)
    c.sendall(b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
    stop = threading.Event()

    def drip():
        while not stop.is_set():
            try:
                c.sendall(b"x")
            except OSError:
                return
            time.sleep(0.3)

    t = threading.Thread(target=drip)
    t0 = time.time()
    t.start()
    try:
        lat = healthy_latencies(port, 3)
        status, headers, body = read_response(c, timeout=8)
    finally:
        stop.set()
        t.join()
    took = time.time() - t0
    assert status == 408, (status, body)
    assert headers["connection"] == "close"
    assert took < 4.0, f"the slow body held the connection {took:.1f} s (idle_timeout_ms 1500)"
    assert max(lat) < 0.5, lat
    c.close()


def test_a_steady_body_below_the_timeout_per_kib_is_read(port):
    """A slow but honest client (1 KiB every 0.5 s, under idle_timeout_ms 1500) is not
    cut off: only bodies slower than 1 KiB per idle_timeout_ms are."""
    with tls_client(port) as c:
        c.sendall(b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5120\r\n\r\n")
        for _ in range(5):
            time.sleep(0.5)
            c.sendall(b"y" * 1024)
        status, _, _ = read_response(c, timeout=5)
    assert status == 405  # /healthz takes no POST: the body was read whole first


def test_connection_flood_beyond_the_limit_is_refused_and_existing_clients_keep_working(port, site):
    keep = [tls_client(port) for _ in range(5)]
    for s in keep:
        assert request(s)[0] == 200
    flood = []
    for _ in range(80):
        try:
            flood.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            pass
    time.sleep(0.3)
    closed = sum(1 for f in flood if peer_closed(f, timeout=0.2))
    # 40 allowed, 5 kept: at least the 45 over the limit are closed at once.
    assert closed >= len(flood) - 35, (closed, len(flood))
    refused = site.events("connection_refused")
    assert refused and refused[0]["limit"] == 40
    for s in keep:
        assert request(s)[0] == 200
    for f in flood:
        f.close()
    for s in keep:
        s.close()
    # Once the flood is gone, new clients are served again.
    deadline = time.time() + 5
    while True:
        try:
            assert healthy_latencies(port, 1)
            break
        except (OSError, AssertionError):
            if time.time() > deadline:
                raise
            time.sleep(0.2)
