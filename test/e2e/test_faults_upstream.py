"""The EAS application (the upstream behind the sidecar) answering garbage: HTTP/0.9-style
junk, a truncated head, a body shorter than its Content-Length, a bad status line, a
response smuggling a second one, a slow trickle of its head, or closing at once. Each gives the
client a 502/504 ProblemDetails and one upstream_error log line, and the gateway goes on
serving. (Down and slow: test_eas_proxy.py::test_application_down_is_502 and
::test_slow_application_is_504.)"""

import json
import time

import pytest

from conftest import RawServer, read_response, tls_client
from test_eas_proxy import cli_token, make_site, problem


class JunkUpstream(RawServer):
    """Reads a request head, then answers |reply| (bytes, or a callable given the socket)
    and closes."""

    def __init__(self, reply):
        self.reply = reply
        self.good = False  # once set, answers a normal 200
        super().__init__()

    def serve(self, c):
        try:
            c.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                d = c.recv(65536)
                if not d:
                    return
                data += d
            if self.good:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}")
            elif callable(self.reply):
                self.reply(c)
            else:
                c.sendall(self.reply)
        except OSError:
            pass
        finally:
            c.close()


def trickle(c):
    for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n":
        c.sendall(bytes([b]))
        time.sleep(0.2)


JUNK = {
    "http09_junk": b"hello, this is not HTTP\n",
    "binary": bytes(range(256)) * 4,
    "truncated_head": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Le",
    "bad_status_line": b"HTTP/1.1 abc Weird\r\nContent-Length: 0\r\n\r\n",
    "status_out_of_range": b"HTTP/1.1 999 Nine\r\nContent-Length: 0\r\n\r\n",
    "invalid_header": b"HTTP/1.1 200 OK\r\nBad Header Name: x\r\nContent-Length: 0\r\n\r\n",
    "cl_and_te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "closed_at_once": b"",
    "trickled_head": trickle,
}


@pytest.mark.parametrize("name", sorted(JUNK))
def test_application_answering_garbage_is_a_problem_for_the_client(site, name):
    up = JunkUpstream(JUNK[name])
    try:
        make_site(site, up.port, timeout_ms=1500).start()
        token = cli_token(site)
        with tls_client(site.port) as s:
            s.sendall(f"GET /junk HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
            status, headers, body = read_response(s, timeout=10)
        assert status in (502, 504), f"{name}: {status} {body[:200]}"
        p = problem(headers, body)
        assert p["status"] == status and p["cause"] in ("UPSTREAM_UNAVAILABLE", "UPSTREAM_TIMEOUT",
                                                        "UPSTREAM_INVALID_RESPONSE"), p
        err = site.wait_log(lambda e: e.get("event") == "upstream_error")
        assert err["status"] == status and err["reason"], err
        # The gateway still serves, through the same upstream once it behaves.
        up.good = True
        with tls_client(site.port) as s:
            s.sendall(f"GET /ok HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
            status, _, body = read_response(s)
        assert status == 200 and json.loads(body) == {"ok": True}
    finally:
        up.close()


def test_a_bad_chunk_after_the_head_cuts_the_streamed_answer_off(site):
    """The head was passed on already (answers stream): the client sees the body end
    without its last chunk, so it knows the answer is incomplete, and a log line says why."""
    up = JunkUpstream(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n")
    try:
        make_site(site, up.port, timeout_ms=1500).start()
        token = cli_token(site)
        with tls_client(site.port) as s:
            s.sendall(f"GET /junk HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
            s.settimeout(10)
            data = b""
            while True:
                try:
                    d = s.recv(65536)
                except OSError:
                    break
                if not d:
                    break
                data += d
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), data
        assert b"transfer-encoding: chunked" in head.lower(), head
        assert not body.endswith(b"0\r\n\r\n"), "the answer must not look complete"
        err = site.wait_log(lambda e: e.get("event") == "upstream_error")
        assert err["reason"], err
        up.good = True
        with tls_client(site.port) as s:
            s.sendall(f"GET /ok HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
            assert read_response(s)[0] == 200
    finally:
        up.close()
