"""The whole EDGEAPP flow of issue 4 on loopback, with two sites: site 1 = ecs1, ees1, eas1
(sidecar in front of a Python upstream), site 2 = ecs2, ees2, each in its own edgegw
process. What an EEC sees (EDGE-4 provisioning with a token per EES, EDGE-1 registration
and discovery with an EAS token, the application through the sidecar), what the EESes do
between themselves (EDGE-9 pull and push, tokens forwarded from one ECS to the other),
expiry, and registrations that survive kill -9. Every body the tests send or receive,
and every body the processes send each other (through recording proxies), is checked
against the 3GPP OpenAPI files (schemas.py)."""

import json
import pathlib
import time
import urllib.parse

import jwt
import pytest

import schemas
from conftest import CA as CA_FILE
from edgeapp import (EAS_SCOPE, EEC_ID, EEC_SCOPES, PROVISIONING_LIFETIME_S, RELOC_SCOPE, Deployment, ids,
                     parse_utc, run_eec_demo, thumbprint, utc, wait_for)
from edgeapp_http import api, https, jwks, token_request, tokens_in, validate_exchange, verify_jwt

ID1, ID2 = ids(1), ids(2)
PROV = "/eecs-serviceprovisioning/v1/request"
EESREG = "/eecs-eesregistration/v1/registrations"
TEES = "/eecs-targeteesdiscovery/v1/ees-profiles"
EECREG = "/eees-eecregistration/v1/registrations"
DISC = "/eees-easdiscovery/v1/eas-profiles/request-discovery"
CTX = "/eees-eeccontextreloc/v1/eec-contexts"
AC = {"acId": "ac1", "eass": [{"easId": ID1["eas"]}]}
HAND_MADE_EES = "spiffe://site1/ees/ees1"  # identity of certs/out/ees1-client.pem
CA_PEM = pathlib.Path(CA_FILE)


@pytest.fixture(scope="module")
def dep(tmp_path_factory):
    d = Deployment(tmp_path_factory.mktemp("edgeapp"))
    try:
        d.start()
    except BaseException:
        d.stop()
        raise
    yield d
    bad = d.stop()
    assert not bad, f"exit codes on SIGTERM: {bad}"


# ---- steps of an EEC (each validated against the 3GPP files by api()) ------------------

def provision(dep, i=1, body=None):
    s = dep.site(i)
    return api(s.port["edge4"], "POST", PROV, body or {"eecId": EEC_ID}, cert="eec1",
               seen=dep.tokens)


def ees_entries(resp):
    assert resp.status == 200, resp
    return [e for cfg in resp.json["ednCnfgInfo"] for e in cfg["eess"]]


def listed_ees(dep, i=1, body=None):
    r = provision(dep, i, body)
    return [] if r.status == 204 else [e["eesId"] for e in ees_entries(r)]


def eec_token(dep, i=1):
    """Provisions at ecs{i} (waiting until ees{i} is listed) and returns the EDGE-1 token
    for ees{i}."""
    s = dep.site(i)
    wait_for(f"ees{i} in provisioning at ecs{i}", lambda: s.id["ees"] in listed_ees(dep, i))
    entry = next(e for e in ees_entries(provision(dep, i)) if e["eesId"] == s.id["ees"])
    return entry["eesAccessToken"]["access_token"]


def register_eec(dep, token, i=1, **extra):
    body = {"eecId": EEC_ID, "acProfs": [AC], "expTime": utc(600), **extra}
    r = api(dep.site(i).port["edge1"], "POST", EECREG, body, cert="eec1", token=token)
    assert r.status == 201, r
    location = r.headers["location"]
    assert urllib.parse.urlsplit(location).path.startswith(EECREG + "/"), location
    return r, location.rstrip("/").rsplit("/", 1)[1]


def discover(dep, token, i=1):
    body = {"requestorId": {"eecId": EEC_ID}, "easDiscoveryFilter": {"acChars": [{"acProf": AC}]}}
    return api(dep.site(i).port["edge1"], "POST", DISC, body, cert="eec1", token=token, seen=dep.tokens)


def discovered_eas1(dep, token):
    def found():
        r = discover(dep, token)
        assert r.status == 200, r
        return next((d for d in r.json["discoveredEas"] if d["eas"]["easId"] == ID1["eas"]), None)
    return wait_for("eas1 in discovery at ees1", found)


def eas_token(dep):
    return discovered_eas1(dep, eec_token(dep))["easAccessToken"]["access_token"]


def context_id(reg_resp, reg_id):
    """The id of the EEC context the EES holds: eecCntxId of the registration answer,
    the registration id (what a later EES names to relocate it)."""
    assert reg_resp.json["eecCntxId"] == reg_id, reg_resp.json
    return reg_id


def ees_token(dep, source, target):
    """An EDGE-9 token asked by ees{source} (its certificate) at its own ECS for
    ees{target}."""
    s, t = dep.site(source), dep.site(target)
    r = token_request(s.port["edge6"], f"ees{source}", {
        "grant_type": "client_credentials", "nfInstanceId": s.id["ees"],
        "targetNfInstanceId": t.id["ees"], "scope": RELOC_SCOPE}, seen=dep.tokens)
    assert r.status == 200, r
    return r.json


# ---- EDGE-6: the EESes register themselves --------------------------------------------

def test_each_ees_registers_itself_at_its_own_ecs(dep):
    for s in dep.sites:
        other = dep.site(3 - s.i)
        wait_for(f"ees{s.i} in provisioning at ecs{s.i}", lambda: s.id["ees"] in listed_ees(dep, s.i))
        assert other.id["ees"] not in listed_ees(dep, s.i)
        posted = [x for x in dep.proxies[f"ees{s.i}->ecs{s.i}"].find("POST", EESREG) if x.status == 201]
        assert posted, dep.proxies[f"ees{s.i}->ecs{s.i}"].exchanges
        x = posted[0]
        validate_exchange(x)
        reg = json.loads(x.req_body)
        assert reg["eesProf"]["eesId"] == s.id["ees"]
        assert reg["eesProf"]["endPt"] == {"uri": f"https://127.0.0.1:{s.port['edge1']}"}
        assert urllib.parse.urlsplit(x.resp_headers["location"]).path.startswith(EESREG + "/")
        granted = json.loads(x.resp_body)
        assert granted["eesProf"]["eesId"] == s.id["ees"]
        assert parse_utc(granted["expTime"]) <= time.time() + dep.ees_registration_ttl_s + 5
        # The CAs EEC client certificates chain to (ecs.registration.eec_ca), for EDGE-1 mTLS.
        assert granted["eecCaCerts"] == [CA_PEM.read_text().strip() + "\n"]
        # The ECS saw ees{i}'s own certificate (the proxy keeps identities).
        s.ecs.wait_log(lambda e: e.get("event") == "authz" and e.get("interface") == "EDGE-6"
                       and e.get("path") == EESREG and e.get("peer") == s.id["ees"]
                       and e.get("decision") == "allow", since=0)


def test_target_ees_discovery_knows_no_other_ees_for_eas1(dep):
    s = dep.site(1)
    wait_for("ees1 registered", lambda: ID1["ees"] in listed_ees(dep))
    # ees1 is the only EES serving eas1 at ecs1 and the requester is never its own
    # target (ees2 is registered at ecs2): 404 with a ProblemDetails.
    q = urllib.parse.urlencode({"ees-id": ID1["ees"], "eas-id": ID1["eas"]})
    assert api(s.port["edge6"], "GET", f"{TEES}?{q}", cert="ees1").status == 404
    # ees-id must be the caller; both query parameters are required.
    q = urllib.parse.urlencode({"ees-id": ID2["ees"], "eas-id": ID1["eas"]})
    assert api(s.port["edge6"], "GET", f"{TEES}?{q}", cert="ees1").status == 403
    r = api(s.port["edge6"], "GET", TEES, cert="ees1")
    assert r.status == 400 and {p["param"] for p in r.json["invalidParams"]} == {"ees-id", "eas-id"}, r


# ---- EDGE-4: provisioning ---------------------------------------------------------------

def test_provisioning_lists_ees1_with_a_token_verifiable_with_the_ecs_jwks(dep):
    s = dep.site(1)
    wait_for("ees1 registered", lambda: ID1["ees"] in listed_ees(dep))
    r = provision(dep)
    cfg = r.json["ednCnfgInfo"]
    assert len(cfg) == 1
    assert abs(parse_utc(cfg[0]["lifeTime"]) - (time.time() + PROVISIONING_LIFETIME_S)) < 60
    (entry,) = ees_entries(r)
    assert entry["eesId"] == ID1["ees"]
    assert entry["endPt"] == {"uri": f"https://127.0.0.1:{s.port['edge1']}"}
    assert entry["eesAuthMethods"] == ["TLS_CLIENT_SERVER_CERTIFICATE"]
    assert isinstance(entry["eecRegConf"], bool)
    tok = schemas.validate(entry["eesAccessToken"], "TS29510_Nnrf_AccessToken.yaml", "AccessTokenRsp")
    assert tok["token_type"] == "Bearer" and tok["scope"] == EEC_SCOPES
    assert PROVISIONING_LIFETIME_S - 5 <= tok["expires_in"] <= PROVISIONING_LIFETIME_S
    c = verify_jwt(tok["access_token"], jwks(s.port["edge6"], "ees1"), ID1["ees"], ID1["ecs"])
    assert (c["sub"], c["scope"]) == (EEC_ID, EEC_SCOPES)
    assert c["exp"] - c["iat"] == PROVISIONING_LIFETIME_S
    assert "cnf" not in c  # the EEC uses it over EDGE-1 with its own certificate


def test_provisioning_answers_204_when_no_ees_matches_and_400_without_eec_id(dep):
    wait_for("ees1 registered", lambda: ID1["ees"] in listed_ees(dep))
    # An ACProfile whose acId and EASes no registered EES serves matches nothing.
    nobody = {"eecId": EEC_ID, "acProfs": [{"acId": "x", "eass": [{"easId": "nobody.example"}]}]}
    r = provision(dep, body=nobody)
    assert r.status == 204 and r.body == b"", r
    r = https(dep.site(1).port["edge4"], "POST", PROV, {"ueId": "msisdn-1"}, cert="eec1")
    assert r.status == 400, r
    problem = schemas.validate_response("TS24558_Eecs_ServiceProvisioning.yaml", PROV, "POST", 400,
                                        r.body, r.headers.get("content-type"))
    assert problem["status"] == 400
    assert [p["param"] for p in problem.get("invalidParams", [])] in ([], ["eecId"], ["/eecId"])


# ---- EDGE-1: registration and discovery -------------------------------------------------

def test_eec_registration_create_update_delete(dep):
    token = eec_token(dep)
    port = dep.site(1).port["edge1"]
    r, reg_id = register_eec(dep, token)
    assert r.json["eecId"] == EEC_ID
    assert parse_utc(r.json["expTime"]) <= time.time() + 600 + 5
    path = f"{EECREG}/{reg_id}"
    r = api(port, "PATCH", path, {"ueMobilityReq": True}, cert="eec1", token=token,
            content_type="application/merge-patch+json")
    assert r.status in (200, 204), r
    if r.status == 200:
        assert r.json["ueMobilityReq"] is True and r.json["eecId"] == EEC_ID
    r = api(port, "PUT", path, {"eecId": EEC_ID, "acProfs": [AC], "expTime": utc(300)}, cert="eec1", token=token)
    assert r.status in (200, 204), r
    if r.status == 200:  # replaced, not merged
        assert r.json["eecId"] == EEC_ID and r.json.get("ueMobilityReq") in (None, False)
    assert api(port, "DELETE", path, cert="eec1", token=token).status == 204
    assert api(port, "DELETE", path, cert="eec1", token=token).status == 404


def test_eec_registration_needs_the_token_for_this_ees_and_eec(dep):
    token = eec_token(dep)
    port = dep.site(1).port["edge1"]
    body = {"eecId": EEC_ID, "acProfs": [AC]}
    assert api(port, "POST", EECREG, body, cert="eec1").status == 401
    # The token's sub is the EEC: a registration for another eecId is refused.
    assert api(port, "POST", EECREG, dict(body, eecId="spiffe://site1/eec/other"), cert="eec1",
               token=token).status == 403
    # A token for ees1 is no good at ees2 (aud, and another issuer).
    assert api(dep.site(2).port["edge1"], "POST", EECREG, body, cert="eec1", token=token).status == 401


def test_discovery_returns_eas1_with_an_eas_token_from_ecs1(dep):
    token = eec_token(dep)
    found = discovered_eas1(dep, token)
    assert found["eas"]["endPt"] == {"uri": f"https://127.0.0.1:{dep.site(1).port['app']}"}
    assert found["eas"]["provId"] == "demo-provider"
    assert found["eas"]["type"] == "OTHER"  # eas.type of the policy, an EASCategory
    tok = schemas.validate(found["easAccessToken"], "TS29510_Nnrf_AccessToken.yaml", "AccessTokenRsp")
    assert tok["scope"] == EAS_SCOPE and tok["token_type"] == "Bearer"
    # What is left of the token's life (the EEC waits on it), never 0 for a fresh one.
    assert 1 <= tok["expires_in"] <= dep.ees_token_ttl_s, tok["expires_in"]
    c = verify_jwt(tok["access_token"], jwks(dep.site(1).port["edge6"], "ees1"), ID1["eas"], ID1["ecs"])
    assert (c["sub"], c["eecId"], c["scope"]) == (ID1["ees"], EEC_ID, EAS_SCOPE)
    assert "cnf" not in c  # named for an EEC: not bound to the EES's certificate
    # ees1 asked ecs1 for it over mTLS, as itself, naming the EEC.
    asked = [urllib.parse.parse_qs(x.req_body.decode())
             for x in dep.proxies["ees1->ecs1"].find("POST", "/oauth2/token") if x.status == 200]
    assert {"grant_type": ["client_credentials"], "nfInstanceId": [ID1["ees"]],
            "targetNfInstanceId": [ID1["eas"]], "scope": [EAS_SCOPE], "eecId": [EEC_ID]} in \
        [{k: v for k, v in a.items() if k in ("grant_type", "nfInstanceId", "targetNfInstanceId", "scope",
                                              "eecId")} for a in asked], asked


def test_eas1_registered_at_ees1_over_edge3(dep):
    token = eec_token(dep)
    discovered_eas1(dep, token)
    posted = [x for x in dep.proxies["eas1->ees1"].find("POST", "/eees-easregistration/v1/registrations")
              if x.status == 201]
    assert posted, dep.proxies["eas1->ees1"].exchanges
    validate_exchange(posted[0])
    prof = json.loads(posted[0].req_body)["easProf"]
    assert prof["easId"] == ID1["eas"]
    assert prof["endPt"] == {"uri": f"https://127.0.0.1:{dep.site(1).port['app']}"}
    assert prof["provId"] == "demo-provider"


def test_ees1_profile_at_ecs1_lists_eas1_once_registered(dep):
    # The EES updates its EDGE-6 registration (EESProfile.easIds: "EASs that are
    # registered with EES", TS 29.558) when an EAS registers with it.
    def eas_ids():
        return next((e.get("easIds", []) for e in ees_entries(provision(dep)) if e["eesId"] == ID1["ees"]), [])
    wait_for("eas1 in ees1's easIds at ecs1", lambda: ID1["eas"] in eas_ids())
    # An EEC asking for the services of ac1 (served by eas1) is now given ees1.
    assert listed_ees(dep, body={"eecId": EEC_ID, "acProfs": [AC]}) == [ID1["ees"]]


# ---- the application through the EAS sidecar --------------------------------------------

def test_eas_call_reaches_the_upstream_with_the_eec_identity(dep):
    token = eas_token(dep)
    app = dep.site(1).port["app"]
    r = https(app, "GET", "/hello?x=1", token=token, headers={"x-eec-id": "spiffe://evil/eec"},
              server_name=ID1["eas"])
    assert r.status == 200, r
    seen = json.loads(r.body)
    assert (seen["method"], seen["path"]) == ("GET", "/hello?x=1")
    assert [v for k, v in seen["headers"] if k == "x-eec-id"] == [EEC_ID]  # set, client's copy removed
    payload = json.dumps({"n": list(range(2000))})
    r = https(app, "POST", "/echo", payload, token=token, content_type="application/json")
    assert r.status == 200 and json.loads(r.body)["body"] == payload, r
    assert all(k != "authorization" for req in dep.upstream.requests for k, _ in req["headers"])
    assert https(app, "GET", "/hello").status == 401
    assert https(app, "GET", "/hello", token=eec_token(dep)).status == 401  # aud ees1, not eas1
    assert len(dep.upstream.requests) >= 2


# ---- multi-ECS and EDGE-9 -----------------------------------------------------------------

def test_token_for_ees2_asked_at_ecs1_is_signed_by_ecs2(dep):
    tok = ees_token(dep, 1, 2)
    assert tok["scope"] == RELOC_SCOPE
    assert jwt.get_unverified_header(tok["access_token"])["kid"] == "ecs2-k1"
    c = verify_jwt(tok["access_token"], jwks(dep.site(2).port["edge6"], "ees2"), ID2["ees"], ID2["ecs"])
    assert (c["sub"], c["scope"]) == (ID1["ees"], RELOC_SCOPE)
    # Bound to the certificate ees1 showed ecs1 (ecs2 never saw it).
    assert c["cnf"] == {"x5t#S256": thumbprint("ees1")}
    forwarded = [x for x in dep.proxies["ecs1->ecs2"].find("POST", "/oauth2/token") if x.status == 200]
    assert forwarded and forwarded[-1].peer == ID1["ecs"], dep.proxies["ecs1->ecs2"].exchanges
    fwd = dep.site(1).ecs.wait_log(lambda e: e.get("event") == "ecs_forwarded" and e.get("target") == ID2["ees"],
                                   since=0)
    assert (fwd["peer"], fwd["source"], fwd["status"]) == (ID2["ecs"], ID1["ees"], 200)
    issued = dep.site(2).ecs.wait_log(lambda e: e.get("event") == "ecs_token_for_peer", since=0)
    assert (issued["via"], issued["source"], issued["bound"]) == (ID1["ecs"], ID1["ees"], True)
    # And the other way round.
    c = jwt.decode(ees_token(dep, 2, 1)["access_token"], options={"verify_signature": False})
    assert (c["iss"], c["sub"], c["aud"]) == (ID1["ecs"], ID2["ees"], ID1["ees"])


def test_edge9_pull_and_push_between_ees1_and_ees2(dep):
    token = eec_token(dep)
    reg, reg_id = register_eec(dep, token)
    cntx = context_id(reg, reg_id)
    ees1_9, ees2_9 = dep.site(1).port["edge9"], dep.site(2).port["edge9"]
    # Pull: ees2 (its certificate, a token from ecs2 forwarded to ecs1) asks ees1.
    pull = ees_token(dep, 2, 1)["access_token"]
    q = urllib.parse.urlencode({"ees-id": ID2["ees"], "eec-cntx-id": cntx})
    r = api(ees1_9, "GET", f"{CTX}?{q}", cert="ees2", token=pull)
    assert r.status == 200, r
    assert (r.json["eecId"], r.json["cntxId"]) == (EEC_ID, cntx)
    assert [p["acId"] for p in r.json.get("acProfs", [])] == ["ac1"]
    context = r.json
    q404 = urllib.parse.urlencode({"ees-id": ID2["ees"], "eec-cntx-id": "no-such-context"})
    assert api(ees1_9, "GET", f"{CTX}?{q404}", cert="ees2", token=pull).status == 404
    # A token for ees2 (aud) is refused at ees1.
    assert api(ees1_9, "GET", f"{CTX}?{q}", cert="ees1", token=ees_token(dep, 1, 2)["access_token"]).status == 401
    # Push: ees1 (its certificate, a token from ecs1 forwarded to ecs2) hands the context
    # to ees2, which keeps it until the EEC registers there (204, no implicit registration).
    push = ees_token(dep, 1, 2)["access_token"]
    r = api(ees2_9, "POST", CTX, {"eesId": ID1["ees"], "eecCntx": context}, cert="ees1", token=push)
    assert r.status == 204 and r.body == b"", r
    # A token for ees1 (aud) is refused at ees2.
    r = api(ees2_9, "POST", CTX, {"eesId": ID1["ees"], "eecCntx": context}, cert="ees1",
            token=ees_token(dep, 2, 1)["access_token"])
    assert r.status == 401, r


def test_ees2_pulls_the_context_from_ees1_when_the_eec_moves(dep):
    reg, reg_id = register_eec(dep, eec_token(dep))
    cntx = context_id(reg, reg_id)
    # The UE is now served by site 2: provisioning at ecs2, registration at ees2 naming the
    # context it had at ees1 (eecCntxId, srcEesId); ees2 pulls it over EDGE-9 meanwhile.
    token2 = eec_token(dep, 2)
    r, _ = register_eec(dep, token2, i=2, eecCntxId=cntx, srcEesId=ID1["ees"])
    assert r.json["eecId"] == EEC_ID and r.json["srcEesId"] == ID1["ees"]  # relocated
    pulls = [x for x in dep.proxies["ees2->ees1"].find("GET", CTX)
             if urllib.parse.parse_qs(urllib.parse.urlsplit(x.path).query).get("eec-cntx-id") == [cntx]]
    assert pulls and pulls[-1].status == 200, dep.proxies["ees2->ees1"].exchanges
    validate_exchange(pulls[-1])
    assert pulls[-1].peer == ID2["ees"]
    auth = pulls[-1].req_headers.get("Authorization") or pulls[-1].req_headers.get("authorization")
    c = jwt.decode(auth.split()[1], options={"verify_signature": False})
    assert (c["iss"], c["sub"], c["aud"]) == (ID1["ecs"], ID2["ees"], ID1["ees"])


def test_ees1_pushes_the_context_to_ees2_on_deregistration_towards_it(dep):
    token = eec_token(dep)
    reg, reg_id = register_eec(dep, token)
    cntx = context_id(reg, reg_id)
    # Project choice (ees branch): DELETE ...?target-ees-id= pushes the context to that
    # peer first and deletes the registration once the peer took it.
    q = urllib.parse.urlencode({"target-ees-id": ID2["ees"]})
    r = api(dep.site(1).port["edge1"], "DELETE", f"{EECREG}/{reg_id}?{q}", cert="eec1", token=token)
    assert r.status == 204, r
    pushes = [x for x in dep.proxies["ees1->ees2"].find("POST", CTX)
              if json.loads(x.req_body)["eecCntx"]["cntxId"] == cntx]
    assert len(pushes) == 1 and pushes[0].status == 204 and pushes[0].peer == ID1["ees"], pushes
    validate_exchange(pushes[0])
    assert json.loads(pushes[0].req_body)["eesId"] == ID1["ees"]
    # The EEC registers at ees2 naming that context: taken from the push, nothing pulled.
    r, _ = register_eec(dep, eec_token(dep, 2), i=2, eecCntxId=cntx, srcEesId=ID1["ees"])
    assert r.json["srcEesId"] == ID1["ees"]
    assert not [x for x in dep.proxies["ees2->ees1"].find("GET", CTX) if cntx in x.path]


# ---- EDGE-6 by hand: CRUD and expiry ------------------------------------------------------

def hand_made_registration(exp_s):
    return {"eesProf": {"eesId": HAND_MADE_EES, "endPt": {"uri": "https://127.0.0.1:9"},
                        "eecRegConf": False}, "expTime": utc(exp_s)}


def test_ees_registration_read_update_delete(dep):
    port = dep.site(1).port["edge6"]
    r = api(port, "POST", EESREG, hand_made_registration(1200), cert="ees1-client")
    assert r.status == 201, r
    path = urllib.parse.urlsplit(r.headers["location"]).path
    assert path.startswith(EESREG + "/")
    got = api(port, "GET", path, cert="ees1-client")
    assert got.status == 200 and got.json["eesProf"] == r.json["eesProf"]
    assert HAND_MADE_EES in listed_ees(dep)
    r = api(port, "PATCH", path, {"eesProf": {"eesId": HAND_MADE_EES, "endPt": {"uri": "https://127.0.0.1:10"},
                                              "eecRegConf": True}},
            cert="ees1-client", content_type="application/merge-patch+json")
    assert r.status in (200, 204), r
    got = api(port, "GET", path, cert="ees1-client").json
    assert got["eesProf"]["endPt"] == {"uri": "https://127.0.0.1:10"} and got["eesProf"]["eecRegConf"] is True
    r = api(port, "PUT", path, hand_made_registration(600), cert="ees1-client")
    assert r.status in (200, 204), r
    assert api(port, "GET", path, cert="ees1-client").json["eesProf"]["eecRegConf"] is False
    # Another EES may not touch it.
    assert api(port, "DELETE", path, cert="ees1").status == 403
    assert api(port, "DELETE", path, cert="ees1-client").status == 204
    assert api(port, "GET", path, cert="ees1-client").status == 404
    assert HAND_MADE_EES not in listed_ees(dep)


def test_expired_ees_registration_is_no_longer_provisioned(dep):
    port = dep.site(1).port["edge6"]
    r = api(port, "POST", EESREG, hand_made_registration(3), cert="ees1-client")
    assert r.status == 201, r
    path = urllib.parse.urlsplit(r.headers["location"]).path
    assert parse_utc(r.json["expTime"]) <= time.time() + 4
    assert HAND_MADE_EES in listed_ees(dep)
    wait_for("expired registration gone from provisioning", lambda: HAND_MADE_EES not in listed_ees(dep),
             timeout=15, interval=0.5)
    assert api(port, "GET", path, cert="ees1-client").status == 404


def test_expired_eec_registration_is_gone(dep):
    token = eec_token(dep)
    port = dep.site(1).port["edge1"]
    _, reg_id = register_eec(dep, token, expTime=utc(2))
    path = f"{EECREG}/{reg_id}"

    def status():
        return api(port, "PATCH", path, {"ueMobilityReq": True}, cert="eec1", token=token,
                   content_type="application/merge-patch+json").status
    assert status() in (200, 204)
    wait_for("expired EEC registration gone", lambda: status() == 404, timeout=15, interval=0.5)


# ---- the EEC client -------------------------------------------------------------------

def test_eec_demo_runs_the_flow_against_site1(dep):
    eec_token(dep)  # ees1 registered
    rc, steps, err = run_eec_demo(dep.site(1))
    assert rc == 0, f"{steps}\n{err}"
    assert [(s["step"], s["status"]) for s in steps] == [
        ("provision", 200), ("register", 201), ("discover", 200), ("eas-call", 200),
        ("eas-call-expired", 401), ("refresh", 200), ("eas-call-retry", 200), ("deregister", 204)], steps
    by_step = {s["step"]: s for s in steps}
    schemas.validate_response("TS24558_Eecs_ServiceProvisioning.yaml", PROV, "POST", 200, by_step["provision"]["body"])
    schemas.validate_response("TS24558_Eees_EECRegistration.yaml", EECREG, "POST", 201, by_step["register"]["body"])
    disc = schemas.validate_response("TS24558_Eees_EASDiscovery.yaml", DISC, "POST", 200, by_step["discover"]["body"])
    assert ID1["eas"] in [d["eas"]["easId"] for d in disc["discoveredEas"]]
    echoed = by_step["eas-call"]["body"]
    assert [v for k, v in echoed["headers"] if k == "x-eec-id"] == [EEC_ID]
    # Tokens are shown redacted, never in full.
    assert {t for s in steps for t in tokens_in(s.get("body"))} == {"<redacted>"}
    schemas.validate_response("TS24558_Eees_EASDiscovery.yaml", DISC, "POST", 200, by_step["refresh"]["body"])


# ---- what crossed between the processes, and the logs -------------------------------------

def test_every_exchange_between_processes_follows_the_3gpp_apis(dep):
    eas_token(dep)  # at least one discovery (EAS token asked of the ECS) when run alone
    seen = set()
    for x in dep.exchanges():
        validate_exchange(x)
        seen.add((x.method, urllib.parse.urlsplit(x.path).path))
    for needed in [("POST", EESREG), ("POST", "/eees-easregistration/v1/registrations"),
                   ("POST", "/oauth2/token")]:
        assert needed in seen, sorted(seen)


def test_no_token_appears_in_any_log(dep):
    eas_token(dep)
    assert dep.tokens, "the tests saw no tokens"
    for n in dep.nodes():
        text = n.log_path.read_text(errors="replace")
        leaked = [t[:16] + "..." for t in dep.tokens if t in text]
        assert not leaked, f"{n.name} logged tokens {leaked}"


# ---- durability ---------------------------------------------------------------------------

def test_registrations_survive_kill_9_and_restart(tmp_path):
    d = Deployment(tmp_path, n_sites=1)
    try:
        d.start()
        s = d.site(1)
        token = eec_token(d)
        eas_before = discovered_eas1(d, token)["eas"]
        _, reg_id = register_eec(d, token, expTime=utc(3600))
        r = api(s.port["edge6"], "POST", EESREG, hand_made_registration(3600), cert="ees1-client")
        assert r.status == 201, r
        hand = urllib.parse.urlsplit(r.headers["location"]).path
        s.ecs.kill9()
        s.ees.kill9()
        # The ECS alone first: what it holds came from its store (ees1 is down and cannot
        # have registered again).
        s.ecs.start()
        got = api(s.port["edge6"], "GET", hand, cert="ees1-client")
        assert got.status == 200 and got.json["eesProf"]["eesId"] == HAND_MADE_EES, got
        assert set(listed_ees(d)) == {ID1["ees"], HAND_MADE_EES}
        s.ees.start()
        # The EEC's registration and eas1's are still at ees1 (eas1 renews only at half
        # its TTL), and the old token still works (same signing key).
        r = api(s.port["edge1"], "PATCH", f"{EECREG}/{reg_id}", {"ueMobilityReq": True}, cert="eec1",
                token=token, content_type="application/merge-patch+json")
        assert r.status in (200, 204), r
        r = discover(d, token)
        assert r.status == 200 and [x["eas"] for x in r.json["discoveredEas"]
                                    if x["eas"]["easId"] == ID1["eas"]] == [eas_before], r
    finally:
        bad = d.stop()
    assert not bad, f"exit codes on SIGTERM: {bad}"
