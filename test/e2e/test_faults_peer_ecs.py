"""A peer ECS (TR 33.739 solution 27 forwarding) answering garbage to a forwarded token
request: invalid JSON, a wrong content type, a truncated answer, HTTP/0.9-style junk, an
unexpected status. (A 200 JSON object is relayed unparsed by design, see
src/roles/ecs/forward.c relayable().) Each is 502 server_error (an OAuth
answer, no-store) for the requesting EES, one ecs_forward_failed log line, and the ECS
still signs local tokens. (Down, refusing and hung: test_multi_ecs.py.)"""

import pytest

from test_faults_ausf import FakeAusf, answer
from test_multi_ecs import ECS1, ask, ecses, peer_at, token_form  # noqa: F401 (fixture)

GARBAGE = {
    "invalid_json": answer("200 OK", "application/json", b'{"access_token": "ab'),
    "wrong_content_type": answer("200 OK", "text/html", b"<html>token</html>"),
    "truncated": answer("200 OK", "application/json", b'{"access_token":', length=500),
    "http09_junk": b"hello, this is not HTTP at all\n",
    "status_500": answer("500 Internal Server Error", "application/json", b'{"error":"x"}'),
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_peer_ecs_answering_garbage_is_502_and_local_tokens_still_work(ecses, name):
    peer = FakeAusf(GARBAGE[name], cert="ecs2")
    try:
        e1 = ecses(ECS1, "ecs1")
        e1.configure(peers=[peer_at(peer.port, [token_form()["targetNfInstanceId"]])]).start()
        status, headers, body = ask(e1, token_form())
        assert status == 502 and body["error"] == "server_error", f"{name}: {status} {body}"
        assert headers["cache-control"] == "no-store"
        failed = e1.site.events("ecs_forward_failed")
        assert len(failed) == 1, failed
        status, _, body = ask(e1, token_form(target="eas1.site1.example"))
        assert status == 200 and body["access_token"], body
    finally:
        peer.close()
