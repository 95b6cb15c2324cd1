"""EDGE-9 EEC context relocation between two EES processes: ees1 (with the site's ECS)
and ees2 (which asks ees1's ECS for its tokens). Pull: an EEC registering at ees2 names
the context it had at ees1 (srcEesId, eecCntxId) and ees2 fetches it. Push: the EEC leaves
ees1 with DELETE ?target-ees-id=ees2 and ees1 hands the context over first."""

import json
import urllib.parse

import jwt
import pytest

from conftest import free_port
from test_ees import (AC, CTX, CTX_YAML, EEC1, EECREG, EES1, EES2, EEC_YAML, EesSite, api,
                      check_response, is_problem, no_token_logged, register_eec)


def ports():
    return {k: free_port() for k in ("edge1", "edge3", "edge9", "edge6")}


@pytest.fixture
def pair(tmp_path):
    p1, p2 = ports(), ports()
    one = EesSite(tmp_path / "ees1", ports=p1,
                  peers=[(EES2, f"https://127.0.0.1:{p2['edge9']}")])
    two = EesSite(tmp_path / "ees2", ees_id=EES2, cert="ees2", with_ecs=False, ports=p2,
                  ecs_url=f"https://127.0.0.1:{p1['edge6']}",
                  peers=[(EES1, f"https://127.0.0.1:{p1['edge9']}")])
    one.start()
    two.start()
    yield one, two
    for s in (two, one):
        if s.site.proc and s.site.proc.poll() is None:
            assert s.stop() == 0


def reloc_token(ecs_site, source_cert, source, target, eec_id=None):
    """An EDGE-9 token as the source EES gets it from the ECS (its own certificate)."""
    fields = {"grant_type": "client_credentials", "nfInstanceId": source,
              "targetNfInstanceId": target, "scope": "eees-eeccontextreloc"}
    if eec_id:
        fields["eecId"] = eec_id
    body = urllib.parse.urlencode(fields).encode()
    r = api(ecs_site.port["edge6"], "POST", "/oauth2/token", body, cert=source_cert,
            content_type="application/x-www-form-urlencoded")
    assert r.status == 200, r
    return r.json["access_token"]


def test_ees2_pulls_the_context_when_the_eec_registers_there(pair):
    one, two = pair
    r1, ctx_id = register_eec(one.port["edge1"], one.eec_token(), ueId="msisdn-7", ueMobilityReq=True)
    token2 = one.eec_token(aud=EES2)  # what ecs1 hands out for ees2 at provisioning
    r, reg2 = register_eec(two.port["edge1"], token2, acProfs=None, srcEesId=EES1,
                           eecCntxId=ctx_id)
    # ees2 took the context over: the ACs, UE id and mobility need of the registration at
    # ees1, and says where it came from; the context here is the new registration.
    assert r.json["srcEesId"] == EES1
    assert r.json["acProfs"] == [AC] and r.json["ueId"] == "msisdn-7"
    assert r.json["ueMobilityReq"] is True
    assert r.json["eecCntxId"] == reg2 != ctx_id
    pulled = two.site.wait_log(lambda e: e.get("event") == "ees_context_pulled")
    assert (pulled["peer"], pulled["eec_id"]) == (EES1, EEC1)
    # ees1 saw ees2's certificate and a token for it on EDGE-9.
    seen = one.site.wait_log(lambda e: e.get("event") == "authz" and e.get("interface") == "EDGE-9")
    assert (seen["decision"], seen["peer"], seen["method"]) == ("allow", EES2, "GET")
    no_token_logged(two.site, token2)


def test_a_context_that_cannot_be_had_leaves_a_plain_registration(pair):
    one, two = pair
    token2 = one.eec_token(aud=EES2)
    r, _ = register_eec(two.port["edge1"], token2, srcEesId=EES1, eecCntxId="no-such-context")
    assert "srcEesId" not in r.json and r.json["acProfs"] == [AC]
    failed = two.site.wait_log(lambda e: e.get("event") == "ees_context_pull_failed")
    assert failed["status"] == 404
    # Another EEC naming eec1's context: ees2 asks with that EEC's id in the token and
    # ees1 refuses to hand eec1's context to it.
    _, ctx_id = register_eec(one.port["edge1"], one.eec_token(), ueId="msisdn-7")
    other = "spiffe://site1/eec/other"
    r = api(two.port["edge1"], "POST", EECREG, {"eecId": other, "srcEesId": EES1, "eecCntxId": ctx_id},
            token=one.eec_token(sub=other, aud=EES2))
    assert r.status == 201, r
    assert "srcEesId" not in r.json and "ueId" not in r.json
    two.site.wait_log(lambda e: e.get("event") == "ees_context_pull_failed" and e.get("status") == 403)
    # An unknown source EES is not asked at all.
    r, _ = register_eec(two.port["edge1"], token2, srcEesId="ees9.elsewhere", eecCntxId=ctx_id)
    assert "srcEesId" not in r.json


def test_ees1_pushes_the_context_when_the_eec_leaves_for_ees2(pair):
    one, two = pair
    token1 = one.eec_token()
    _, ctx_id = register_eec(one.port["edge1"], token1, ueId="msisdn-8")
    path = f"{EECREG}/{ctx_id}"
    # Not a peer of ees1: 400, nothing deleted.
    p = is_problem(api(one.port["edge1"], "DELETE", f"{path}?target-ees-id=ees9.elsewhere",
                       token=token1), 400)
    assert p["invalidParams"][0]["param"] == "target-ees-id"
    r = api(one.port["edge1"], "DELETE", f"{path}?target-ees-id={urllib.parse.quote(EES2)}",
            token=token1)
    assert r.status == 204, r
    pushed = one.site.wait_log(lambda e: e.get("event") == "ees_context_pushed")
    assert (pushed["peer"], pushed["eec_id"]) == (EES2, EEC1)
    is_problem(api(one.port["edge1"], "DELETE", path, token=token1), 404)
    stored = two.site.wait_log(lambda e: e.get("event") == "ees_stored" and e["kind"] == "ees.ctx")
    assert stored["durable"] and stored["id"] == f"{EES1}|{ctx_id}"
    # The EEC registers at ees2 naming that context: ees2 has it already, no pull.
    r, _ = register_eec(two.port["edge1"], one.eec_token(aud=EES2), acProfs=None, srcEesId=EES1,
                        eecCntxId=ctx_id)
    assert r.json["srcEesId"] == EES1 and r.json["ueId"] == "msisdn-8"
    assert r.json["acProfs"] == [AC]
    assert not two.site.events("ees_context_pulled")
    assert not two.site.events("ees_context_pull_failed")


def test_push_to_a_target_that_is_down_keeps_the_registration(pair):
    one, two = pair
    token1 = one.eec_token()
    _, ctx_id = register_eec(one.port["edge1"], token1)
    assert two.stop() == 0
    path = f"{EECREG}/{ctx_id}"
    p = is_problem(api(one.port["edge1"], "DELETE", f"{path}?target-ees-id={EES2}", token=token1), 503)
    assert p["detail"].startswith(f"the EEC context could not be relocated to {EES2}")
    # Still registered at ees1.
    r = api(one.port["edge1"], "PATCH", path, {"ueType": "NORMAL_UE"}, token=token1,
            content_type="application/merge-patch+json")
    assert r.status == 200, r


def test_edge9_endpoints_check_the_peer_and_the_token(pair):
    one, two = pair
    _, ctx_id = register_eec(one.port["edge1"], one.eec_token(), ueId="msisdn-9")
    q = urllib.parse.urlencode({"ees-id": EES2, "eec-cntx-id": ctx_id})
    pull = reloc_token(one, "ees2", EES2, EES1)
    r = api(one.port["edge9"], "GET", f"{CTX}?{q}", cert="ees2", token=pull)
    assert r.status == 200, r
    check_response(CTX_YAML, "/eec-contexts", "GET", 200, r.json)
    assert (r.json["eecId"], r.json["cntxId"], r.json["ueId"]) == (EEC1, ctx_id, "msisdn-9")
    assert r.json["acProfs"] == [AC]
    c = jwt.decode(pull, options={"verify_signature": False})
    assert (c["sub"], c["aud"]) == (EES2, EES1)
    # No token, a token for the other direction, ees-id not the token's EES, unknown id.
    assert api(one.port["edge9"], "GET", f"{CTX}?{q}", cert="ees2").status == 401
    assert api(one.port["edge9"], "GET", f"{CTX}?{q}", cert="ees1",
               token=reloc_token(one, "ees1", EES1, EES2)).status == 401
    q1 = urllib.parse.urlencode({"ees-id": EES1, "eec-cntx-id": ctx_id})
    p = is_problem(api(one.port["edge9"], "GET", f"{CTX}?{q1}", cert="ees2", token=pull), 403)
    assert p["detail"] == "the EES is not a peer of this EES"
    q404 = urllib.parse.urlencode({"ees-id": EES2, "eec-cntx-id": "nope"})
    is_problem(api(one.port["edge9"], "GET", f"{CTX}?{q404}", cert="ees2", token=pull), 404)
    p = is_problem(api(one.port["edge9"], "GET", CTX, cert="ees2", token=pull), 400)
    assert p["invalidParams"][0]["param"] == "ees-id"
    # A token naming another EEC may not pull eec1's context.
    other = reloc_token(one, "ees2", EES2, EES1, eec_id="spiffe://site1/eec/other")
    is_problem(api(one.port["edge9"], "GET", f"{CTX}?{q}", cert="ees2", token=other), 403)
    # Push: eesId must be the token's EES.
    push = reloc_token(one, "ees1", EES1, EES2)
    ctx = {"eecId": EEC1, "cntxId": "c1"}
    p = is_problem(api(two.port["edge9"], "POST", CTX, {"eesId": "ees9.elsewhere", "eecCntx": ctx},
                       cert="ees1", token=push), 403)
    r = api(two.port["edge9"], "POST", CTX, {"eesId": EES1, "eecCntx": ctx}, cert="ees1", token=push)
    assert r.status == 204 and r.raw == b"", r
    p = is_problem(api(two.port["edge9"], "POST", CTX, {"eesId": EES1, "eecCntx": {"eecId": EEC1}},
                       cert="ees1", token=push), 400)
    assert p["invalidParams"][0]["param"] == "/eecCntx/cntxId"


def test_registration_answer_is_schema_valid_after_relocation(pair):
    one, two = pair
    _, ctx_id = register_eec(one.port["edge1"], one.eec_token())
    r, _ = register_eec(two.port["edge1"], one.eec_token(aud=EES2), srcEesId=EES1, eecCntxId=ctx_id)
    check_response(EEC_YAML, "/registrations", "POST", 201, r.json)
    assert r.json["srcEesId"] == EES1


def test_memcheck_clean_through_the_ees_flows(tmp_path):
    """Both EESes under valgrind: registrations, discovery (token fetched, then cached),
    pull, push, refused and broken requests, a client gone while its discovery waits for
    the ECS; clean exit on SIGTERM with no leak."""
    p1, p2 = ports(), ports()
    one = EesSite(tmp_path / "ees1", ports=p1, valgrind=True,
                  peers=[(EES2, f"https://127.0.0.1:{p2['edge9']}")])
    two = EesSite(tmp_path / "ees2", ees_id=EES2, cert="ees2", with_ecs=False, ports=p2,
                  ecs_url=f"https://127.0.0.1:{p1['edge6']}", valgrind=True,
                  peers=[(EES1, f"https://127.0.0.1:{p1['edge9']}")])
    one.start()
    two.start()
    try:
        token1 = one.eec_token()
        from test_ees import DISC, EASREG, discover, register_eas
        register_eas(one.port["edge3"])
        # A client that leaves while its discovery waits for the ECS.
        from conftest import tls_client
        with tls_client(one.port["edge1"], cert="eec1") as s:
            body = json.dumps({"requestorId": {"eecId": EEC1}}).encode()
            s.sendall(f"POST {DISC} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token1}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                      .encode() + body)
        r = discover(one.port["edge1"], token1)
        assert r.status == 200 and r.json["discoveredEas"][0]["easAccessToken"], r
        assert discover(one.port["edge1"], token1).status == 200
        _, ctx_id = register_eec(one.port["edge1"], token1, ueId="msisdn-1")
        r = api(one.port["edge1"], "PATCH", f"{EECREG}/{ctx_id}", {"ueType": "NORMAL_UE"},
                token=token1, content_type="application/merge-patch+json")
        assert r.status == 200, r
        r, _ = register_eec(two.port["edge1"], one.eec_token(aud=EES2), acProfs=None,
                            srcEesId=EES1, eecCntxId=ctx_id)
        assert r.json["srcEesId"] == EES1
        assert api(one.port["edge1"], "DELETE", f"{EECREG}/{ctx_id}?target-ees-id={EES2}",
                   token=token1).status == 204
        is_problem(api(one.port["edge1"], "POST", EECREG, b"{", token=token1), 400)
        is_problem(api(one.port["edge3"], "POST", EASREG, {"easProf": {}}, cert="eas1"), 400)
        is_problem(api(two.port["edge1"], "POST", EECREG, {"eecId": "x"}, token=one.eec_token(aud=EES2)),
                   403)
    finally:
        rc2 = two.stop()
        rc1 = one.stop()
    assert rc1 == 0, (one.site.dir / "valgrind.txt").read_text()
    assert rc2 == 0, (two.site.dir / "valgrind.txt").read_text()
