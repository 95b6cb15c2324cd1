"""The AUSF answering garbage when the ECS fetches Kedge for POST
/edgegw-psk/v1/authentications: invalid JSON, a wrong or missing content type, a
truncated answer, HTTP/0.9-style junk, an unexpected status, a key of the wrong size,
an expired key. Each is 502 ProblemDetails for the EEC, one ecs_kedge_failed log line with
the reason and never the key, and the ECS goes on serving. (Down, slow and refusing:
test_psk_kedge.py and test_psk_direct.py.)"""

import json
import ssl

import pytest

from conftest import CA, CERTS, RawServer, request, tls_client
from test_psk_kedge import AUTH, EEC, KEDGE, KEDGE_ID, post_json, start

GOOD = json.dumps({"kedge": KEDGE.hex(), "expiry": "2099-01-01T00:00:00Z"}).encode()


def answer(status_line, ctype, body, length=None):
    head = f"HTTP/1.1 {status_line}\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    head += f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


class FakeAusf(RawServer):
    """A mutual-TLS server with the AUSF's certificate (or |cert|) that answers every
    request with |reply| and closes."""

    def __init__(self, reply, cert="ees"):
        self.reply = reply
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(CERTS / f"{cert}.pem", CERTS / f"{cert}.key")
        self.ctx.load_verify_locations(CA)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.calls = 0
        super().__init__(backlog=8)

    def serve(self, raw):
        try:
            raw.settimeout(5)
            c = self.ctx.wrap_socket(raw, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                d = c.recv(65536)
                if not d:
                    return
                data += d
            self.calls += 1
            c.sendall(self.reply)
            c.close()
        except (OSError, ssl.SSLError):
            pass
        finally:
            raw.close()


GARBAGE = {
    "invalid_json": answer("200 OK", "application/json", b'{"kedge": "00'),
    "not_an_object": answer("200 OK", "application/json", b'["x"]'),
    "wrong_content_type": answer("200 OK", "text/html", b"<html>hello</html>"),
    "good_body_wrong_content_type": answer("200 OK", "text/plain", GOOD),
    "good_body_no_content_type": answer("200 OK", None, GOOD),
    "truncated": answer("200 OK", "application/json", GOOD[:20], length=len(GOOD)),
    "http09_junk": b"hello, this is not HTTP at all\n",
    "status_500": answer("500 Internal Server Error", "application/problem+json", b'{"status":500}'),
    "status_301": answer("301 Moved", "text/plain", b""),
    "short_key": answer("200 OK", "application/json",
                        json.dumps({"kedge": "00" * 16, "expiry": "2099-01-01T00:00:00Z"}).encode()),
    "expired_key": answer("200 OK", "application/json",
                          json.dumps({"kedge": KEDGE.hex(), "expiry": "2001-01-01T00:00:00Z"}).encode()),
    "kedge_not_hex": answer("200 OK", "application/json",
                            json.dumps({"kedge": "zz" * 32, "expiry": "2099-01-01T00:00:00Z"}).encode()),
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_ausf_answering_garbage_is_502_and_the_ecs_keeps_serving(site, name):
    ausf = FakeAusf(GARBAGE[name])
    try:
        ports = start(site, ausf_port=ausf.port, timeout_ms=1500)
        status, headers, body = post_json(ports["edge4"], AUTH, {"eecId": EEC, "kedgeId": KEDGE_ID})
        assert status == 502, f"{name}: {status} {body}"
        assert headers["content-type"] == "application/problem+json"
        p = json.loads(body)
        assert p["status"] == 502 and "AUSF" in p["detail"], p
        assert ausf.calls >= 1 or name == "http09_junk"
        failed = site.wait_log(lambda e: e.get("event") == "ecs_kedge_failed")
        assert failed.get("error") or failed.get("reason"), failed
        assert KEDGE.hex() not in site.log_path.read_text()
        with tls_client(ports["edge4"]) as s:
            assert request(s, "GET", "/healthz")[0] == 200
    finally:
        ausf.close()
