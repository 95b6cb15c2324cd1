"""HTTP/1.1 over a server-cert listener: keep-alive, pipelining, chunked bodies,
100-continue, malformed input and limits. Every bad request is answered (or the
connection closed) without disturbing a healthy connection beside it."""

import ctypes
import json
import os
import socket
import ssl
import threading
import time

import pytest

from conftest import CA, free_port, peer_closed, read_response, request, tls_client

SYS_PIDFD_GETFD = 438  # x86_64 and arm64 alike

LIMITS = ("header_bytes: 2048\nbody_bytes: 4096\nheader_timeout_ms: 1000\n"
          "idle_timeout_ms: 3000\nrequests_per_connection: 5\nmax_connections: 20")


@pytest.fixture
def port(site):
    p = free_port()
    site.add("edge4.yaml", interface="EDGE-4", port=p, mode="server-cert", role="ecs",
             limits=LIMITS)
    site.start()
    return p


def problem(headers, body):
    assert headers["content-type"] == "application/problem+json"
    return json.loads(body)


def assert_healthy(port):
    with tls_client(port) as s:
        status, _, body = request(s)
        assert status == 200 and json.loads(body) == {"status": "ok"}


def test_keep_alive_serves_several_requests_on_one_connection(port):
    with tls_client(port) as s:
        for path in ("/healthz", "/readyz", "/whoami"):
            status, headers, _ = request(s, path=path)
            assert status == 200
            assert "connection" not in headers and headers["server"] == "edgegw"
            assert headers["date"].endswith("GMT")


def test_pipelined_requests_are_answered_in_order(port):
    with tls_client(port) as s:
        s.sendall(b"GET /whoami HTTP/1.1\r\nHost: a\r\n\r\n"
                  b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(s)[0] == 200
        assert read_response(s)[0] == 404
        status, _, body = read_response(s)
        assert status == 200 and b"ok" in body


def test_chunked_body_is_read_and_the_connection_stays_usable(port):
    with tls_client(port) as s:
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        status, headers, body = read_response(s)
        assert status == 405 and headers["allow"] == "GET, HEAD"
        assert problem(headers, body)["status"] == 405
        assert request(s)[0] == 200


def test_expect_100_continue(port):
    with tls_client(port) as s:
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        s.settimeout(5)
        interim = s.recv(100)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"abc")
        assert read_response(s)[0] == 405


def test_oversized_header_gets_431_and_close(port):
    with tls_client(port) as s:
        status, headers, body = request(s, headers={"X-Big": "a" * 4000})
        assert status == 431 and headers["connection"] == "close"
        assert problem(headers, body)["status"] == 431
        assert peer_closed(s)
    assert_healthy(port)


def test_oversized_body_gets_413_before_it_is_sent(port):
    with tls_client(port) as s:
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
        status, headers, _ = read_response(s)
        assert status == 413 and headers["connection"] == "close"


def test_bad_chunk_size_gets_400_and_close(port):
    with tls_client(port) as s:
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"zz\r\nhello\r\n0\r\n\r\n")
        status, headers, body = read_response(s)
        assert status == 400 and headers["connection"] == "close"
        assert problem(headers, body)["title"]
        assert peer_closed(s)
    assert_healthy(port)


def test_smuggling_with_content_length_and_transfer_encoding_is_refused(port):
    with tls_client(port) as s:
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /whoami HTTP/1.1\r\nHost: a\r\n\r\n")
        status, headers, _ = read_response(s)
        assert status == 400 and headers["connection"] == "close"
        # The smuggled request is never answered.
        assert peer_closed(s)


def test_missing_host_and_garbage_get_400(port):
    with tls_client(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
        assert read_response(s)[0] == 400
    with tls_client(port) as s:
        s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        assert read_response(s)[0] == 400


def test_requests_per_connection_limit_closes_after_the_last(port):
    with tls_client(port) as s:
        for i in range(5):
            status, headers, _ = request(s)
            assert status == 200
        assert headers["connection"] == "close"
        assert peer_closed(s)


def test_slow_client_gets_408_while_a_parallel_client_is_served(port):
    slow = tls_client(port)
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n")
    latencies = []
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            try:
                slow.sendall(b"X-Slow: 1\r\n")
            except OSError:
                return
            time.sleep(0.2)

    t = threading.Thread(target=trickle)
    t.start()
    with tls_client(port) as healthy:
        for _ in range(4):
            start = time.time()
            assert request(healthy)[0] == 200
            latencies.append(time.time() - start)
            time.sleep(0.1)
    started = time.time()
    status, headers, _ = read_response(slow, timeout=5)
    stop.set()
    t.join()
    assert status == 408 and headers["connection"] == "close"
    assert time.time() - started < 2.0
    assert max(latencies) < 0.5
    slow.close()


def test_idle_keep_alive_connection_is_closed_after_idle_timeout(port):
    with tls_client(port) as s:
        assert request(s)[0] == 200
        started = time.time()
        assert peer_closed(s, timeout=6)
        assert 2.0 < time.time() - started < 5.0




def test_close_notify_is_answered_with_close_notify_and_a_prompt_close(port):
    """RFC 8446 6.1: each side sends close_notify before it closes its write side. After
    the client's, nothing more can come, so the server closes at once (no lingering).
    Memory BIOs show the alert itself: a bare FIN would also end the socket."""
    ctx = ssl.create_default_context(cafile=CA)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")

    def pump(step):
        while True:
            try:
                return step()
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                data = raw.recv(65536)
                if not data:
                    incoming.write_eof()
                    return step()  # raises: the server ended the stream here
                incoming.write(data)

    pump(tls.do_handshake)
    tls.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    raw.sendall(outgoing.read())
    assert pump(lambda: tls.read(65536)).startswith(b"HTTP/1.1 200")
    started = time.time()
    with pytest.raises(ssl.SSLWantReadError):
        tls.unwrap()  # our close_notify is out; the server's is not read yet
    raw.sendall(outgoing.read())
    rest = b""
    while chunk := raw.recv(65536):
        rest += chunk
    assert time.time() - started < 1.0
    raw.close()
    incoming.write(rest)
    incoming.write_eof()
    with pytest.raises(ssl.SSLZeroReturnError):  # only the alert ends a stream this way
        tls.read(1)
    assert_healthy(port)


def server_end_option(pid, client, level, option):
    """A socket option of edgegw's end of |client|'s connection, read from a copy of its
    descriptor (pidfd_getfd(2), allowed to root, as the tests run)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
            assert fd >= 0, f"pidfd_getfd: {os.strerror(ctypes.get_errno())}"
            try:
                sock = socket.socket(fileno=fd)
            except OSError:  # not a socket
                os.close(fd)
                continue
            with sock:
                try:
                    if sock.getpeername() == client.getsockname():
                        return sock.getsockopt(level, option)
                except OSError:  # a listener or an unconnected socket
                    pass
    finally:
        os.close(pidfd)
    raise AssertionError("edgegw holds no socket for this connection")


def test_accepted_connections_send_without_nagle_delay(site, port):
    """TCP_NODELAY is set once on the listener and Linux copies it to every accepted
    socket: an answer written in parts is not held back waiting for ACKs."""
    with tls_client(port) as s:
        assert request(s)[0] == 200
        assert server_end_option(site.proc.pid, s, socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_obs_fold_and_duplicate_content_length_are_refused(port):
    with tls_client(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n")
        status, headers, _ = read_response(s)
        assert status == 400 and headers["connection"] == "close"
    with tls_client(port) as s:
        s.sendall(b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                  b"Content-Length: 5\r\n\r\nabcde")
        status, headers, _ = read_response(s)
        assert status == 400 and headers["connection"] == "close"
    assert_healthy(port)
