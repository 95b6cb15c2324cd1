"""Attacks on the HTTP/1.1 framing toward the EAS upstream: request smuggling (CL+TE,
duplicate Content-Length, obs-fold, bad chunk sizes, TE variants) and header injection
(CR, LF, NUL in values, spoofed x-eec-id). The application behind the sidecar is a raw
socket server that records every byte it gets: a smuggled second request must never
reach it. Each test ends with a normal call served through the same gateway.
(The same smuggling at a plain route is test_http.py::test_smuggling_with_content_length_and_transfer_encoding_is_refused
and ::test_obs_fold_and_duplicate_content_length_are_refused.)"""

import json
import threading

import pytest

from conftest import RawServer, peer_closed, read_response, tls_client
from test_eas_proxy import EEC, cli_token, make_site


class RawUpstream(RawServer):
    """An HTTP/1.1 application that answers every request it can frame (Content-Length
    bodies only) with 200 and a JSON echo of its head, and keeps every byte it got."""

    def __init__(self):
        self.raw = bytearray()
        self.lock = threading.Lock()
        super().__init__()

    def serve(self, c):
        buf = b""
        c.settimeout(10)
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    with self.lock:
                        self.raw += d
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                n = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        n = int(v.strip())
                while len(buf) < n:
                    d = c.recv(65536)
                    if not d:
                        return
                    with self.lock:
                        self.raw += d
                    buf += d
                buf = buf[n:]
                out = json.dumps({"head": head.decode("latin-1")}).encode()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: " + str(len(out)).encode() + b"\r\n\r\n" + out)
        except OSError:
            pass
        finally:
            c.close()

    def got(self):
        with self.lock:
            return bytes(self.raw)


@pytest.fixture
def upstream():
    u = RawUpstream()
    yield u
    u.close()


def raw_call(port, data):
    with tls_client(port) as s:
        s.sendall(data)
        status, headers, body = read_response(s)
        return status, headers, body, peer_closed(s)


def served_normally(site, token):
    with tls_client(site.port) as s:
        s.sendall(f"GET /after HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        status, _, body = read_response(s)
    assert status == 200, body
    assert json.loads(body)["head"].startswith("GET /after HTTP/1.1")


SMUGGLE = {
    "cl_te": b"POST /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {t}\r\nContent-Length: 44\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    "te_cl": b"POST /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {t}\r\nTransfer-Encoding: chunked\r\n"
             b"Content-Length: 3\r\n\r\n2a\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n0\r\n\r\n",
    "dup_cl": b"POST /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {t}\r\nContent-Length: 0\r\n"
              b"Content-Length: 38\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    "obs_fold_te": b"POST /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {t}\r\nContent-Length: 38\r\n"
                   b"X-Pad: a\r\n Transfer-Encoding: chunked\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    "bad_chunk_size": b"POST /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {t}\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nGET /smuggled HTTP/1.1\r\n\r\n",
    "te_obfuscated": b"POST /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {t}\r\nContent-Length: 38\r\n"
                     b"Transfer-Encoding: xchunked\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    "cl_with_sign": b"POST /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {t}\r\nContent-Length: +38\r\n"
                    b"\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLE))
def test_smuggling_through_the_eas_proxy_never_reaches_the_application(site, upstream, name):
    make_site(site, upstream.port).start()
    token = cli_token(site)
    status, headers, body, closed = raw_call(site.port, SMUGGLE[name].replace(b"{t}", token.encode()))
    assert status in (400, 501), f"{name}: {status} {body}"
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == status
    assert closed, "the connection closes after a framing error"
    served_normally(site, token)
    got = upstream.got()
    assert b"/smuggled" not in got, got
    assert b"POST /x" not in got, "a request refused at framing is not half-forwarded"


INJECT = {
    "bare_cr": b"X-A: v\rX-Injected: 1",
    "nul": b"X-A: v\x00X-Injected: 1",
    "cr_in_name": b"X-A\r: v",
    "space_before_colon_eecid": b"x-eec-id : spiffe://site1/eec/mallory",
}


@pytest.mark.parametrize("name", sorted(INJECT))
def test_header_injection_toward_the_application_is_refused(site, upstream, name):
    make_site(site, upstream.port).start()
    token = cli_token(site)
    req = (b"GET /inject HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + token.encode() +
           b"\r\n" + INJECT[name] + b"\r\n\r\n")
    status, headers, body, closed = raw_call(site.port, req)
    assert status == 400, f"{name}: {status} {body}"
    assert headers["content-type"] == "application/problem+json"
    assert closed
    served_normally(site, token)
    got = upstream.got()
    assert b"/inject" not in got and b"X-Injected" not in got and b"mallory" not in got


def test_spoofed_eec_identity_in_any_case_and_number_is_replaced(site, upstream):
    make_site(site, upstream.port).start()
    token = cli_token(site)
    req = (b"GET /who HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + token.encode() + b"\r\n"
           b"X-EEC-ID: spiffe://site1/eec/mallory\r\nx-eec-id: spiffe://site1/eec/eve\r\n"
           b"X-Eec-Id: ,spiffe://site1/eec/trudy\r\n\r\n")
    status, _, body, _ = raw_call(site.port, req)
    assert status == 200, body
    head = json.loads(body)["head"]
    ids = [line.partition(":")[2].strip() for line in head.split("\r\n")
           if line.lower().startswith("x-eec-id:")]
    assert ids == [EEC], head
    for who in ("mallory", "eve", "trudy"):
        assert who not in head
