"""The ECS's EDGE modules: EES registration over EDGE-6 (ecs-registration), target EES
discovery, and EDGE-4 service provisioning (ecs-provisioning), driven over real mTLS and
server-certificate TLS. Bodies are checked against the 3GPP OpenAPI schemas, tokens with
PyJWT against the ECS's own JWKS."""

import datetime
import functools
import json
import os
import pathlib
import time
import urllib.parse

import jsonschema
import jwt
import pytest
import yaml

from conftest import CERTS, ROOT, free_port, request, site_block, tls_client

ECS_ID = "ecs1.site1.example"
EES1 = "ees1.site1.example"
EES2 = "ees2.site2.example"
EEC = "spiffe://site1/eec/eec1"
REG = "/eecs-eesregistration/v1/registrations"
PROV = "/eecs-serviceprovisioning/v1"
DISCO = "/eecs-targeteesdiscovery/v1/ees-profiles"
DEFAULT_SCOPE = "eees-eecregistration eees-easdiscovery"

OPENAPI = next((p for p in (pathlib.Path(os.environ.get("EDGEGW_OPENAPI", "/nonexistent")),
                             ROOT.parent / "shared" / "3gpp-openapi",
                             pathlib.Path("/work/shared/3gpp-openapi")) if p.is_dir()),
               ROOT.parent / "shared" / "3gpp-openapi")


# ---- schemas ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _spec(path):
    return yaml.safe_load(pathlib.Path(path).read_text())


def validate(doc, file, schema):
    """Validates |doc| against components/schemas/|schema| of the 3GPP OpenAPI |file|,
    following $refs into the other files of the set."""
    if not (OPENAPI / file).exists():
        pytest.fail(f"3GPP OpenAPI files not found in {OPENAPI} (set EDGEGW_OPENAPI)")
    path = OPENAPI / file
    resolver = jsonschema.RefResolver(
        path.as_uri(), _spec(str(path)),
        handlers={"file": lambda uri: _spec(urllib.parse.urlparse(uri).path)})
    jsonschema.Draft4Validator({"$ref": f"#/components/schemas/{schema}"},
                               resolver=resolver).validate(doc)


def problem(status, headers, body, expect):
    assert status == expect, body
    assert headers["content-type"] == "application/problem+json"
    doc = json.loads(body)
    validate(doc, "TS29122_CommonData.yaml", "ProblemDetails")
    assert doc["status"] == expect
    return doc


# ---- the site --------------------------------------------------------------------------

def site_yaml(dir_, ecs_extra=""):
    return site_block(dir_) + f"""tokens:
  issuers:
    - id: {ECS_ID}
      local: true
ecs:
  id: {ECS_ID}
  signing_keys:
    - kid: ecs1-k1
      key: {CERTS}/jwt-es256-k1.key
  clients:
    - id: DNS:{EES1}
      scopes: [eas-app]
      audiences: any
{ecs_extra}"""


EDGE6_AUTHZ = ("mode: static\nrules:\n"
               "  - path: /.well-known/\n    allow: any\n"
               "  - path: /healthz\n    allow: any\n"
               f"  - path: /eecs-eesregistration/\n    allow: [DNS:{EES1}, DNS:{EES2}]\n"
               f"  - path: /eecs-targeteesdiscovery/\n    allow: [DNS:{EES1}, DNS:{EES2}]\n"
               f"  - path: /oauth2/\n    allow: [DNS:{EES1}]")


# EDGE-4 listeners of the sites below: mutual TLS, where an EEC always presents its
# certificate (call() and raw_call() use eec1 there unless told otherwise).
EDGE4_PORTS = set()


def make_site(site, ecs_extra=""):
    ports = {"edge6": free_port(), "edge4": free_port()}
    EDGE4_PORTS.add(ports["edge4"])
    site.write("site.yaml", site_yaml(site.dir, ecs_extra))
    site.add("edge6.yaml", interface="EDGE-6", port=ports["edge6"], mode="mtls", role="ecs",
             mount="[health, ecs, ecs-registration]", authz=EDGE6_AUTHZ)
    site.add("edge4.yaml", interface="EDGE-4", port=ports["edge4"], mode="mtls",
             role="ecs", mount="[health, ecs-provisioning]", authz="mode: none")
    return ports


@pytest.fixture
def ecs(site):
    ports = make_site(site)
    site.start()
    return ports


def call(port, method, path, body=None, cert=None, ctype="application/json", raw=None):
    """One request; returns (status, headers, parsed JSON body or None)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    headers = {"Content-Type": ctype} if data else {}
    if cert is None and port in EDGE4_PORTS:
        cert = "eec1"
    with tls_client(port, cert=cert) as s:
        status, hdrs, out = request(s, method, path, headers=headers, body=data)
    ct = hdrs.get("content-type", "")
    return status, hdrs, (json.loads(out) if out and "json" in ct else out)


def raw_call(port, method, path, data, cert=None, ctype="application/json"):
    if cert is None and port in EDGE4_PORTS:
        cert = "eec1"
    with tls_client(port, cert=cert) as s:
        return request(s, method, path, headers={"Content-Type": ctype}, body=data)


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def registration(ees=EES1, eas=("app1",), exp=None, **prof):
    p = {"eesId": ees, "endPt": {"uri": f"https://{ees}:8441"}, "easIds": list(eas)}
    p.update(prof)
    doc = {"eesProf": p}
    if exp is not None:
        doc["expTime"] = rfc3339(exp)
    return doc


def register(port, doc=None, cert="ees1"):
    doc = doc or registration()
    status, headers, body = call(port, "POST", REG, doc, cert=cert)
    assert status == 201, body
    return headers, body


def reg_id(headers):
    loc = headers["location"]
    assert loc.startswith("https://") and REG + "/" in loc
    return loc.rsplit("/", 1)[1]


def provision(port, eec=EEC, **extra):
    body = {"eecId": eec}
    body.update(extra)
    validate(body, "TS24558_Eecs_ServiceProvisioning.yaml", "ECSServProvReq")
    return call(port, "POST", f"{PROV}/request", body)


def jwks_keys(port):
    status, _, doc = call(port, "GET", "/.well-known/jwks.json", cert="ees1")
    assert status == 200
    return {k["kid"]: jwt.PyJWK(k).key for k in doc["keys"]}


def verify_token(port, token, aud):
    kid = jwt.get_unverified_header(token)["kid"]
    return jwt.decode(token, jwks_keys(port)[kid], algorithms=["ES256"], audience=aud,
                      issuer=ECS_ID)


# ---- EDGE-6 registration ---------------------------------------------------------------

def test_register_read_replace_patch_delete(ecs):
    port = ecs["edge6"]
    before = time.time()
    headers, created = register(port)
    validate(created, "TS29558_Eecs_EESRegistration.yaml", "EESRegistration")
    rid = reg_id(headers)
    assert len(rid) >= 22
    assert created["eesProf"]["eesId"] == EES1
    assert created["eesProf"]["eecRegConf"] is False  # the schema's default, made explicit
    # No expTime asked: the longest the policy allows (default one day), echoed.
    assert abs(parse_time(created["expTime"]) - (before + 86400)) < 5
    # The CA certificates EEC client certificates chain to (default: the site's CA).
    assert created["eecCaCerts"] == [(CERTS / "ca.pem").read_text().strip() + "\n"]

    status, _, got = call(port, "GET", f"{REG}/{rid}", cert="ees1")
    assert status == 200 and got["eesProf"] == created["eesProf"]
    validate(got, "TS29558_Eecs_EESRegistration.yaml", "EESRegistration")

    doc = registration(eas=["app1", "app2"], eecRegConf=True)
    status, _, put = call(port, "PUT", f"{REG}/{rid}", doc, cert="ees1")
    assert status == 200, put
    assert put["eesProf"]["easIds"] == ["app1", "app2"] and put["eesProf"]["eecRegConf"] is True

    exp = int(time.time()) + 600
    patch = {"eesProf": {"easIds": ["app3"], "provId": "sp1"}, "expTime": rfc3339(exp)}
    status, _, patched = call(port, "PATCH", f"{REG}/{rid}", patch, cert="ees1",
                              ctype="application/merge-patch+json")
    assert status == 200, patched
    validate(patched, "TS29558_Eecs_EESRegistration.yaml", "EESRegistration")
    assert patched["eesProf"]["easIds"] == ["app3"]
    assert patched["eesProf"]["provId"] == "sp1"
    assert patched["eesProf"]["endPt"] == {"uri": f"https://{EES1}:8441"}  # kept
    assert patched["eesProf"]["eecRegConf"] is True
    assert patched["expTime"] == rfc3339(exp)
    # RFC 7396: null removes a member.
    status, _, patched = call(port, "PATCH", f"{REG}/{rid}", {"eesProf": {"provId": None}},
                              cert="ees1", ctype="application/merge-patch+json")
    assert status == 200 and "provId" not in patched["eesProf"]
    # PATCH wants application/merge-patch+json.
    status, headers, body = raw_call(port, "PATCH", f"{REG}/{rid}", b"{}", cert="ees1")
    problem(status, headers, body, 415)

    status, _, body = call(port, "DELETE", f"{REG}/{rid}", cert="ees1")
    assert status == 204 and not body
    status, headers, body = raw_call(port, "GET", f"{REG}/{rid}", b"", cert="ees1")
    problem(status, headers, body, 404)
    status, headers, body = raw_call(port, "DELETE", f"{REG}/{rid}", b"", cert="ees1")
    problem(status, headers, body, 404)


def test_expiry_asked_is_capped_and_echoed(ecs):
    exp = int(time.time()) + 120
    _, body = register(ecs["edge6"], registration(exp=exp))
    assert body["expTime"] == rfc3339(exp)
    _, body = register(ecs["edge6"], registration(exp=int(time.time()) + 10 * 86400))
    assert parse_time(body["expTime"]) <= time.time() + 86400 + 1


def test_identity_must_be_the_ees(ecs):
    port = ecs["edge6"]
    # ees2 authenticates, and claims to be ees1.
    status, headers, body = raw_call(port, "POST", REG, json.dumps(registration()).encode(),
                                     cert="ees2")
    assert problem(status, headers, body, 403)["cause"] == "IDENTITY_MISMATCH"
    headers, _ = register(port)
    rid = reg_id(headers)
    for method, data in (("GET", b""), ("DELETE", b""),
                         ("PUT", json.dumps(registration(EES2)).encode())):
        status, hdrs, body = raw_call(port, method, f"{REG}/{rid}", data, cert="ees2")
        problem(status, hdrs, body, 403)
    # The owner may not hand its registration to another EES either.
    status, hdrs, body = raw_call(port, "PUT", f"{REG}/{rid}",
                                  json.dumps(registration(EES2)).encode(), cert="ees1")
    assert problem(status, hdrs, body, 403)["cause"] == "IDENTITY_MISMATCH"
    status, _, got = call(port, "GET", f"{REG}/{rid}", cert="ees1")
    assert status == 200 and got["eesProf"]["eesId"] == EES1


@pytest.mark.parametrize("data,param", [
    (b"{not json", "/"),
    (b"[1, 2]", "/"),
    (json.dumps({"expTime": "2999-01-01T00:00:00Z"}).encode(), "/eesProf"),
    (json.dumps({"eesProf": {"endPt": {"uri": "https://x"}}}).encode(), "/eesProf/eesId"),
    (json.dumps({"eesProf": {"eesId": EES1}}).encode(), "/eesProf/endPt"),
    (json.dumps({"eesProf": {"eesId": 7, "endPt": {"uri": "https://x"}}}).encode(),
     "/eesProf/eesId"),
    (json.dumps({"eesProf": {"eesId": EES1, "endPt": {"uri": "https://x"},
                             "easIds": "app1"}}).encode(), "/eesProf/easIds"),
    (json.dumps({"eesProf": {"eesId": EES1, "endPt": {"uri": "https://x"},
                             "eecRegConf": "yes"}}).encode(), "/eesProf/eecRegConf"),
    (json.dumps({"eesProf": {"eesId": EES1, "endPt": {"uri": "https://x"}},
                 "expTime": "tomorrow"}).encode(), "/expTime"),
    (json.dumps({"eesProf": {"eesId": EES1, "endPt": {"uri": "https://x"}},
                 "expTime": "2001-01-01T00:00:00Z"}).encode(), "/expTime"),
])
def test_bad_registration_bodies(ecs, data, param):
    status, headers, body = raw_call(ecs["edge6"], "POST", REG, data, cert="ees1")
    doc = problem(status, headers, body, 400)
    assert param in [p["param"] for p in doc["invalidParams"]], doc


def test_wrong_media_type_and_methods(ecs):
    port = ecs["edge6"]
    status, headers, body = raw_call(port, "POST", REG, json.dumps(registration()).encode(),
                                     cert="ees1", ctype="text/plain")
    problem(status, headers, body, 415)
    status, headers, body = raw_call(port, "GET", REG, b"", cert="ees1")
    problem(status, headers, body, 405)
    assert headers["allow"] == "POST"


def test_ees_not_in_the_allow_list_is_refused(ecs):
    status, headers, body = raw_call(ecs["edge6"], "POST", REG,
                                     json.dumps(registration("eas1.site1.example")).encode(),
                                     cert="eas1")
    problem(status, headers, body, 403)


# ---- EDGE-4 provisioning ---------------------------------------------------------------

def test_provisioning_with_tokens(ecs, site):
    register(ecs["edge6"], registration(eas=["app1"], ednInfoSets={"dnn": "edge.example"}))
    register(ecs["edge6"], registration(EES2, eas=["app2"]), cert="ees2")
    status, headers, body = provision(ecs["edge4"], acProfs=[{"acId": "app1"}])
    assert status == 200, body
    assert headers["cache-control"] == "no-store"
    validate(body, "TS24558_Eecs_ServiceProvisioning.yaml", "ECSServProvResp")
    [edn] = body["ednCnfgInfo"]
    assert edn["ednConInfo"] == {"dnn": "edge.example"}
    assert abs(parse_time(edn["lifeTime"]) - (time.time() + 3600)) < 5
    [info] = edn["eess"]
    assert info["eesId"] == EES1 and info["endPt"] == {"uri": f"https://{EES1}:8441"}
    assert info["easIds"] == ["app1"] and info["eecRegConf"] is False
    assert info["eesAuthMethods"] == ["TLS_CLIENT_SERVER_CERTIFICATE"]
    tok = info["eesAccessToken"]
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 3600
    assert tok["scope"] == DEFAULT_SCOPE
    claims = verify_token(ecs["edge6"], tok["access_token"], EES1)
    assert claims["sub"] == EEC and claims["aud"] == EES1 and claims["scope"] == DEFAULT_SCOPE
    assert abs(claims["exp"] - (time.time() + 3600)) < 5
    assert "cnf" not in claims

    # No acProfs: every EES, grouped by DNN (ees2 names none: "edge"), one token each.
    status, _, body = provision(ecs["edge4"])
    assert status == 200
    validate(body, "TS24558_Eecs_ServiceProvisioning.yaml", "ECSServProvResp")
    by_dnn = {e["ednConInfo"]["dnn"]: [i["eesId"] for i in e["eess"]] for e in body["ednCnfgInfo"]}
    assert by_dnn == {"edge.example": [EES1], "edge": [EES2]}
    ees2 = body["ednCnfgInfo"][1]["eess"][0]
    assert verify_token(ecs["edge6"], ees2["eesAccessToken"]["access_token"], EES2)["sub"] == EEC
    # Tokens never reach the log.
    log = site.log_path.read_text()
    assert tok["access_token"] not in log and ees2["eesAccessToken"]["access_token"] not in log

    # An AC that names an EAS of ees2 in its eass.
    status, _, body = provision(ecs["edge4"], acProfs=[{"acId": "x", "eass": [{"easId": "app2"}]}])
    assert status == 200 and [i["eesId"] for i in body["ednCnfgInfo"][0]["eess"]] == [EES2]

    # Nothing serves this AC.
    status, _, body = provision(ecs["edge4"], acProfs=[{"acId": "nobody"}])
    assert status == 204 and not body


def test_provisioning_location_filter(ecs):
    tai = {"plmnId": {"mcc": "001", "mnc": "01"}, "tac": "000001"}
    register(ecs["edge6"], registration(svcArea={"topServAr": {"tais": [tai]}}))
    here = {"userLocation": {"nrLocation": {"tai": tai, "ncgi": {
        "plmnId": {"mcc": "001", "mnc": "01"}, "nrCellId": "000000001"}}}}
    status, _, body = provision(ecs["edge4"], locInf=here)
    assert status == 200 and body["ednCnfgInfo"][0]["eess"][0]["eesId"] == EES1
    elsewhere = json.loads(json.dumps(here).replace("000001", "000099"))
    status, _, _ = provision(ecs["edge4"], locInf=elsewhere)
    assert status == 204


def test_provisioning_bad_requests(ecs):
    status, headers, body = raw_call(ecs["edge4"], "POST", f"{PROV}/request",
                                     json.dumps({"ueId": "msisdn-1"}).encode())
    assert problem(status, headers, body, 400)["invalidParams"][0]["param"] == "/eecId"
    status, headers, body = raw_call(ecs["edge4"], "POST", f"{PROV}/request",
                                     json.dumps({"eecId": EEC, "acProfs": [{}]}).encode())
    assert problem(status, headers, body, 400)["invalidParams"][0]["param"] == "/acProfs"
    status, headers, body = raw_call(ecs["edge4"], "POST", f"{PROV}/request", b"{")
    problem(status, headers, body, 400)


def test_expired_registration_is_not_provisioned(ecs, site):
    headers, _ = register(ecs["edge6"], registration(exp=int(time.time()) + 2))
    rid = reg_id(headers)
    status, _, _ = provision(ecs["edge4"])
    assert status == 200
    time.sleep(2.2)
    # Expired: not provisioned, not readable (whether or not the purge ran yet).
    status, _, _ = provision(ecs["edge4"])
    assert status == 204
    status, _, _ = call(ecs["edge6"], "GET", f"{REG}/{rid}", cert="ees1")
    assert status == 404
    site.wait_log(lambda e: e.get("event") == "record_expired" and e.get("id") == rid)


def test_registrations_survive_kill_9(site):
    ports = make_site(site)
    site.start()
    headers, _ = register(ports["edge6"])
    rid = reg_id(headers)
    h2, _ = register(ports["edge6"], registration(EES2, exp=int(time.time()) + 2), cert="ees2")
    site.proc.kill()
    site.proc.wait()
    time.sleep(3)  # the second one expires while the ECS is down
    site.start()
    loaded = site.wait_log(lambda e: e.get("event") == "records_loaded"
                           and e.get("kind") == "ecs.ees")
    assert loaded["count"] == 1
    status, _, got = call(ports["edge6"], "GET", f"{REG}/{rid}", cert="ees1")
    assert status == 200 and got["eesProf"]["eesId"] == EES1
    status, _, _ = call(ports["edge6"], "GET", f"{REG}/{reg_id(h2)}", cert="ees2")
    assert status == 404
    status, _, body = provision(ports["edge4"])
    assert status == 200 and [i["eesId"] for e in body["ednCnfgInfo"] for i in e["eess"]] == [EES1]


# ---- target EES discovery --------------------------------------------------------------

def test_target_ees_discovery(ecs):
    register(ecs["edge6"], registration(eas=["app1"], appLocs=["dnai-1"]))
    register(ecs["edge6"], registration(EES2, eas=["app1", "app2"], appLocs=["dnai-2"]),
             cert="ees2")
    q = urllib.parse.urlencode({"ees-id": EES1, "eas-id": "app1"})
    status, _, body = call(ecs["edge6"], "GET", f"{DISCO}?{q}", cert="ees1")
    assert status == 200, body
    validate(body, "TS24558_Eecs_ServiceProvisioning.yaml", "ECSServProvResp")
    [info] = body["ednCnfgInfo"][0]["eess"]
    assert info["eesId"] == EES2 and info["dnais"] == ["dnai-2"]
    assert "eesAccessToken" not in info
    q = urllib.parse.urlencode({"ees-id": EES1, "eas-id": "app1", "target-dnai": "dnai-9"})
    status, headers, body = raw_call(ecs["edge6"], "GET", f"{DISCO}?{q}", b"", cert="ees1")
    problem(status, headers, body, 404)
    status, headers, body = raw_call(ecs["edge6"], "GET", f"{DISCO}?ees-id={EES1}", b"",
                                     cert="ees1")
    assert problem(status, headers, body, 400)["invalidParams"][0]["param"] == "eas-id"
    # The S-EES is the one asking.
    status, headers, body = raw_call(ecs["edge6"], "GET", f"{DISCO}?ees-id={EES1}&eas-id=app1",
                                     b"", cert="ees2")
    problem(status, headers, body, 403)


# ---- policy ----------------------------------------------------------------------------

POLICY = f"""  provisioning:
    lifetime_s: 120
    eec_scopes: [eees-eecregistration]
  ees_auth:
    - ees: {EES2}
      methods: [TLS_WITH_AKMA, TLS_CLIENT_SERVER_CERTIFICATE]
    - ees: "*"
      methods: [SERVER_SIDE_CERTIFICATE_BASED]
  registration:
    max_s: 300
    eec_ca: [{CERTS}/ca.pem, {CERTS}/rogue-ca.pem]
"""


def test_policy_shapes_registration_and_provisioning(site):
    ports = make_site(site, POLICY)
    site.start()
    _, body = register(ports["edge6"], registration(exp=int(time.time()) + 3600))
    assert abs(parse_time(body["expTime"]) - (time.time() + 300)) < 5  # ecs.registration.max_s
    assert body["eecCaCerts"] == [(CERTS / "ca.pem").read_text().strip() + "\n",
                                  (CERTS / "rogue-ca.pem").read_text().strip() + "\n"]
    register(ports["edge6"], registration(EES2), cert="ees2")
    status, _, body = provision(ports["edge4"])
    assert status == 200
    validate(body, "TS24558_Eecs_ServiceProvisioning.yaml", "ECSServProvResp")
    [edn] = body["ednCnfgInfo"]
    assert abs(parse_time(edn["lifeTime"]) - (time.time() + 120)) < 5
    by_id = {i["eesId"]: i for i in edn["eess"]}
    assert by_id[EES1]["eesAuthMethods"] == ["SERVER_SIDE_CERTIFICATE_BASED"]
    assert by_id[EES2]["eesAuthMethods"] == ["TLS_WITH_AKMA", "TLS_CLIENT_SERVER_CERTIFICATE"]
    for ees, info in by_id.items():
        tok = info["eesAccessToken"]
        assert tok["expires_in"] == 120 and tok["scope"] == "eees-eecregistration"
        claims = verify_token(ports["edge6"], tok["access_token"], ees)
        assert claims["scope"] == "eees-eecregistration"
        assert abs(claims["exp"] - (time.time() + 120)) < 5


def test_eec_identity_must_match_on_mtls(site):
    """On an mTLS EDGE-4 listener the EEC's certificate names the only eecId it may ask
    for."""
    ports = make_site(site)
    site.start()
    register(ports["edge6"])
    status, _, body = call(ports["edge4"], "POST", f"{PROV}/request", {"eecId": EEC}, cert="eec1")
    assert status == 200
    assert verify_token(ports["edge6"], body["ednCnfgInfo"][0]["eess"][0]["eesAccessToken"]
                        ["access_token"], EES1)["sub"] == EEC
    status, headers, body = raw_call(ports["edge4"], "POST", f"{PROV}/request",
                                     json.dumps({"eecId": "spiffe://site1/eec/other"}).encode(),
                                     cert="eec1")
    assert problem(status, headers, body, 403)["cause"] == "IDENTITY_MISMATCH"


def test_anonymous_eec_gets_no_tokens(site):
    """Attack: on an anonymous (server-cert) EDGE-4 anyone may name any eecId. The ECS
    still answers with the EDN configuration, but mints no EDGE-1 token for an eecId
    nobody proved: otherwise the caller could act as that EEC at the EES and, through the
    EAS tokens it would then get, at the application."""
    ports = make_site(site)
    anon = free_port()
    site.add("edge4a.yaml", interface="EDGE-4-anon", port=anon, mode="server-cert", role="ecs",
             mount="[ecs-provisioning]", authz="mode: none")
    site.start()
    register(ports["edge6"])
    status, _, body = call(anon, "POST", f"{PROV}/request", {"eecId": EEC})
    assert status == 200
    validate(body, "TS24558_Eecs_ServiceProvisioning.yaml", "ECSServProvResp")
    [info] = body["ednCnfgInfo"][0]["eess"]
    assert info["eesId"] == EES1 and "eesAccessToken" not in info
    line = site.wait_log(lambda e: e.get("event") == "ecs_provisioned_without_tokens")
    assert line["eec"] == EEC
