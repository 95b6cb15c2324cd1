"""The schema validator the EDGEAPP tests rely on (schemas.py), checked on its own: bodies
written from the 3GPP schemas (in the shape edgegw sends them) pass, and each kind of
mistake (a required member missing, a wrong type, a value outside an enumeration, a bad
date-time, an EndPoint with two alternatives) fails naming the JSON path."""

import copy
import json
import os
import subprocess
import sys

import pytest

import schemas
from schemas import validate, validate_request, validate_response

PROV = "TS24558_Eecs_ServiceProvisioning.yaml"
EESREG = "TS29558_Eecs_EESRegistration.yaml"
EECREG = "TS24558_Eees_EECRegistration.yaml"
DISC = "TS24558_Eees_EASDiscovery.yaml"
EASREG = "TS29558_Eees_EASRegistration.yaml"
RELOC = "TS29558_Eees_EECContextRelocation.yaml"
TEES = "TS29558_Eecs_TargetEESDiscovery.yaml"
COMMON = "TS29122_CommonData.yaml"
EDGEAPP_FILES = [PROV, EESREG, EECREG, DISC, EASREG, RELOC, TEES]

EEC = "spiffe://site1/eec/eec1"
TOKEN = {"access_token": "eyJ.x.y", "token_type": "Bearer", "expires_in": 3600,
         "scope": "eees-eecregistration eees-easdiscovery"}
EAS_PROFILE = {"easId": "eas1.site1.example", "endPt": {"uri": "https://127.0.0.1:8450"},
               "provId": "demo-provider", "flexEasType": "demo", "acIds": ["ac1"],
               "permLvl": ["GOLD"], "svcKpi": {"maxReqRate": 100, "avail": 99}}

# One known-good body per schema, each with the members edgegw fills in.
GOOD = {
    (PROV, "ECSServProvReq"): {
        "eecId": EEC, "ueId": "msisdn-15551234567",
        "acProfs": [{"acId": "ac1", "eass": [{"easId": "eas1.site1.example"}]}],
        "eecSvcContSupp": ["EEC_INITIATED"], "ecspIds": ["demo-provider"]},
    (PROV, "ECSServProvResp"): {"ednCnfgInfo": [{
        "ednConInfo": {"dnn": "edge.example"},
        "eess": [{"eesId": "ees1.site1.example", "endPt": {"uri": "https://127.0.0.1:8441"},
                  "easIds": ["eas1.site1.example"], "eecRegConf": True,
                  "eesAuthMethods": ["TLS_CLIENT_SERVER_CERTIFICATE"],
                  "eesAccessToken": TOKEN}],  # project choice: extra member, schema allows it
        "lifeTime": "2030-01-01T00:00:00Z"}]},
    (EESREG, "EESRegistration"): {
        "eesProf": {"eesId": "ees1.site1.example", "endPt": {"uri": "https://127.0.0.1:8441"},
                    "easIds": ["eas1.site1.example"], "eecRegConf": True,
                    "svcContSupp": ["EEC_EXECUTED_VIA_SOURCE_EES"],
                    "easInstInfo": {"eas1.site1.example": {"easId": "eas1.site1.example",
                                                           "status": "INSTANTIATED"}}},
        "expTime": "2030-01-01T00:00:00.250+02:00"},
    (EECREG, "EECRegistration"): {
        "eecId": EEC, "ueId": "msisdn-15551234567", "expTime": "2030-01-01T00:00:00Z",
        "acProfs": [{"acId": "ac1", "acSvcContSupp": ["EEC_INITIATED"]}],
        "ueType": "NORMAL_UE", "ueMobilityReq": False},
    (DISC, "EasDiscoveryReq"): {
        "requestorId": {"eecId": EEC}, "ueId": "msisdn-15551234567",
        "easDiscoveryFilter": {"acChars": [{"acProf": {"acId": "ac1"}}],
                               "easChars": [{"easId": "eas1.site1.example",
                                             "easProvId": "demo-provider"}]},
        "eecSvcContinuity": ["EEC_INITIATED"]},
    (DISC, "EasDiscoveryResp"): {"discoveredEas": [{
        "eas": EAS_PROFILE, "lifeTime": "2030-01-01T00:00:00Z",
        "easAccessToken": dict(TOKEN, scope="eas-app")}]},
    (EASREG, "EASRegistration"): {"easProf": EAS_PROFILE, "expTime": "2030-01-01T00:00:00Z"},
    (COMMON, "ProblemDetails"): {
        "type": "https://edgegw.example/problems/invalid-param", "title": "Bad request",
        "status": 400, "detail": "eecId is missing", "cause": "MANDATORY_IE_MISSING",
        "invalidParams": [{"param": "eecId", "reason": "required"}]},
}


def drop(*path):
    def f(body):
        node = body
        for p in path[:-1]:
            node = node[p]
        del node[path[-1]]
    return f


def put(value, *path):
    def f(body):
        node = body
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value
    return f


def both(*mutations):
    def f(body):
        for m in mutations:
            m(body)
    return f


# (file, schema, mutation, JSON path the error must name, what the message says)
BAD = [
    (PROV, "ECSServProvReq", drop("eecId"), "$", "'eecId' is a required property"),
    (PROV, "ECSServProvReq", put(7, "eecId"), "$.eecId", "not of type 'string'"),
    (PROV, "ECSServProvReq", put(["EEC_STARTED"], "eecSvcContSupp"), "$.eecSvcContSupp[0]", "is not one of"),
    (PROV, "ECSServProvResp", put([], "ednCnfgInfo"), "$.ednCnfgInfo", "too short"),
    (PROV, "ECSServProvResp", drop("ednCnfgInfo", 0, "eess", 0, "eecRegConf"), "$.ednCnfgInfo[0].eess[0]",
     "'eecRegConf' is a required property"),
    (PROV, "ECSServProvResp", put("true", "ednCnfgInfo", 0, "eess", 0, "eecRegConf"),
     "$.ednCnfgInfo[0].eess[0].eecRegConf", "not of type 'boolean'"),
    (PROV, "ECSServProvResp", put(["TLS_CLIENT_CERT"], "ednCnfgInfo", 0, "eess", 0, "eesAuthMethods"),
     "$.ednCnfgInfo[0].eess[0].eesAuthMethods[0]", "is not one of"),
    (PROV, "ECSServProvResp", put("in an hour", "ednCnfgInfo", 0, "lifeTime"), "$.ednCnfgInfo[0].lifeTime",
     "is not a 'date-time'"),
    (PROV, "ECSServProvResp", put({"uri": "https://a", "fqdn": "a.example"}, "ednCnfgInfo", 0, "eess", 0,
                                  "endPt"), "$.ednCnfgInfo[0].eess[0].endPt", "is valid under each of"),
    (EESREG, "EESRegistration", drop("eesProf", "endPt"), "$.eesProf", "'endPt' is a required property"),
    (EESREG, "EESRegistration", put("ees1", "eesProf", "easIds"), "$.eesProf.easIds", "not of type 'array'"),
    (EESREG, "EESRegistration", put("RUNNING", "eesProf", "easInstInfo", "eas1.site1.example", "status"),
     "$.eesProf.easInstInfo.eas1.site1.example.status", "is not one of"),
    (EESREG, "EESRegistration", put(None, "expTime"), "$.expTime", "not of type 'string'"),
    (EECREG, "EECRegistration", drop("eecId"), "$", "'eecId' is a required property"),
    (EECREG, "EECRegistration", put({"acId": "ac1"}, "acProfs"), "$.acProfs", "not of type 'array'"),
    (EECREG, "EECRegistration", put("BIG_UE", "ueType"), "$.ueType", "is not one of"),
    (DISC, "EasDiscoveryReq", drop("requestorId"), "$", "'requestorId' is a required property"),
    (DISC, "EasDiscoveryReq", put({"eecId": EEC, "eesId": "ees1"}, "requestorId"), "$.requestorId",
     "is valid under each of"),
    (DISC, "EasDiscoveryReq", put(["EEC_LATER"], "eecSvcContinuity"), "$.eecSvcContinuity[0]", "is not one of"),
    (DISC, "EasDiscoveryResp", drop("discoveredEas", 0, "eas", "easId"), "$.discoveredEas[0].eas",
     "'easId' is a required property"),
    (DISC, "EasDiscoveryResp", put({"eas": EAS_PROFILE}, "discoveredEas"), "$.discoveredEas",
     "not of type 'array'"),
    # A project-defined EAS type belongs in flexEasType: EASCategory is a 3GPP enumeration.
    (DISC, "EasDiscoveryResp", both(drop("discoveredEas", 0, "eas", "flexEasType"),
                                    put("demo", "discoveredEas", 0, "eas", "type")),
     "$.discoveredEas[0].eas.type", "is not one of"),
    (EASREG, "EASRegistration", drop("easProf"), "$", "'easProf' is a required property"),
    (EASREG, "EASRegistration", put("100", "easProf", "svcKpi", "maxReqRate"), "$.easProf.svcKpi.maxReqRate",
     "not of type 'integer'"),
    (EASREG, "EASRegistration", put(["PLATINUM"], "easProf", "permLvl"), "$.easProf.permLvl[0]",
     "is not one of"),
    (COMMON, "ProblemDetails", put("400", "status"), "$.status", "not of type 'integer'"),
    (COMMON, "ProblemDetails", drop("invalidParams", 0, "param"), "$.invalidParams[0]",
     "'param' is a required property"),
    (COMMON, "ProblemDetails", put([], "invalidParams"), "$.invalidParams", "too short"),
]


@pytest.mark.parametrize("name,schema", list(GOOD), ids=[s for _, s in GOOD])
def test_known_good_bodies_pass(name, schema):
    body = GOOD[(name, schema)]
    assert validate(body, name, schema) == body
    # The same body as it arrives on the wire.
    assert validate(json.dumps(body).encode(), name, schema) == body


@pytest.mark.parametrize("name,schema,mutate,path,says", BAD,
                         ids=[f"{b[1]}-{b[3]}-{b[4][:20]}" for b in BAD])
def test_mutated_bodies_fail_naming_the_path(name, schema, mutate, path, says):
    body = copy.deepcopy(GOOD[(name, schema)])
    mutate(body)
    with pytest.raises(AssertionError) as e:
        validate(body, name, schema)
    first = str(e.value).splitlines()[0]
    assert first.startswith(f"{name}#{schema}: {path}: "), first
    assert says in first, first


def test_open_enumerations_accept_new_values_when_not_strict():
    body = copy.deepcopy(GOOD[(PROV, "ECSServProvResp")])
    body["ednCnfgInfo"][0]["eess"][0]["eesAuthMethods"] = ["TLS_WITH_SOMETHING_NEW"]
    validate(body, PROV, "ECSServProvResp", strict_enums=False)
    with pytest.raises(AssertionError):
        validate(body, PROV, "ECSServProvResp")
    with pytest.raises(AssertionError, match="3 is not valid under any of"):  # still a string
        body["ednCnfgInfo"][0]["eess"][0]["eesAuthMethods"] = [3]
        validate(body, PROV, "ECSServProvResp", strict_enums=False)


def test_nullable_follows_openapi_3_0():
    # EESRegistrationPatch.expTime is DateTimeRm (nullable: true): null removes it.
    validate({"expTime": None}, EESREG, "EESRegistrationPatch")
    validate({"expTime": "2030-01-01T00:00:00Z"}, EESREG, "EESRegistrationPatch")
    with pytest.raises(AssertionError, match=r"\$\.expTime: 5 is not of type"):
        validate({"expTime": 5}, EESREG, "EESRegistrationPatch")


def test_every_ref_of_the_edgeapp_files_resolves():
    """Walks each $ref reachable from the EDGEAPP files (across files), so that a body
    using a member nobody tested yet still finds its schema."""
    seen, todo = set(), [(f, "") for f in EDGEAPP_FILES]
    while todo:
        name, pointer = todo.pop()
        if (name, pointer) in seen:
            continue
        seen.add((name, pointer))
        stack = [schemas._pointer_get(schemas.spec(name), pointer)]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str):
                    target, _, frag = ref.partition("#")
                    schemas._pointer_get(schemas.spec(target or name), frag)  # KeyError if dangling
                    todo.append((target or name, frag))
                stack.extend(v for k, v in node.items() if k != "$ref")
            elif isinstance(node, list):
                stack.extend(node)
    files = {n for n, _ in seen}
    assert {"TS29571_CommonData.yaml", COMMON, "TS29572_Nlmf_Location.yaml"} <= files
    assert len(seen) > 100


# ---- operations ------------------------------------------------------------------------

def test_request_and_response_found_from_the_paths_section():
    reg = GOOD[(EESREG, "EESRegistration")]
    validate_request(EESREG, "/eecs-eesregistration/v1/registrations", "POST", reg)
    assert validate_response(EESREG, "/registrations", "POST", 201, reg) == reg
    validate_request(EESREG, "/registrations/r-1", "PATCH", {"expTime": None},
                     content_type="application/merge-patch+json")
    validate_response(EESREG, "/registrations/r-1", "DELETE", 204, b"")
    validate_response(PROV, "/request", "POST", 204, b"")
    validate_response(TEES, "/eecs-targeteesdiscovery/v1/ees-profiles?ees-id=a&eas-id=b", "GET", 200,
                      GOOD[(PROV, "ECSServProvResp")])
    validate_response(RELOC, "/eec-contexts?ees-id=a&eec-cntx-id=c", "GET", 200,
                      {"eecId": EEC, "cntxId": "c"})
    # Errors: listed statuses through TS 29.122's responses, others as ProblemDetails.
    problem = GOOD[(COMMON, "ProblemDetails")]
    validate_response(EECREG, "/registrations", "POST", 400, problem, "application/problem+json")
    validate_response(EECREG, "/registrations/x", "DELETE", 409, problem, "application/problem+json")


@pytest.mark.parametrize("call,says", [
    (lambda: validate_request(EESREG, "/registrations", "POST", {"expTime": "2030-01-01T00:00:00Z"}),
     "TS29558_Eecs_EESRegistration.yaml POST /registrations request: $: 'eesProf' is a required"),
    (lambda: validate_request(EESREG, "/registrations", "POST", b""), "a body is required"),
    (lambda: validate_response(EESREG, "/registrations", "POST", 201, b""), "describes a body"),
    (lambda: validate_response(PROV, "/request", "POST", 204, b"{}"), "describes no body"),
    (lambda: validate_response(PROV, "/request", "POST", 200, b"{\"ednCnfgInfo\": 1"), "is not JSON"),
    (lambda: validate_response(PROV, "/request", "POST", 400, {"status": 400}, "application/json"),
     "content type application/json is not one of application/problem+json"),
    (lambda: validate_response(PROV, "/request", "POST", 500, {"status": "500"}), "$.status: '500'"),
    (lambda: validate_response(EECREG, "/registrations/x", "DELETE", 409, b"{}", "text/plain"),
     "not application/problem+json"),
    (lambda: validate_response(EECREG, "/registrations/x", "GET", 200, {}), "GET /registrations/{registrationId}"
     " is not in the API (it has DELETE, PATCH, PUT)"),
    (lambda: validate_response(EECREG, "/nothing", "GET", 200, {}), "no path matches /nothing"),
    (lambda: validate({}, PROV, "NoSuchSchema"), "no schema at #/components/schemas/NoSuchSchema"),
])
def test_operation_errors_are_named(call, says):
    with pytest.raises(AssertionError) as e:
        call()
    assert says in str(e.value), str(e.value)


def test_missing_openapi_directory_fails_loudly(tmp_path):
    """Without the files the validator raises (a test that used it would fail, not skip)."""
    code = ("import schemas\ntry:\n    schemas.validate({}, 'TS29122_CommonData.yaml', 'ProblemDetails')\n"
            "except AssertionError as e:\n    print('RAISED', e)\n")
    env = dict(os.environ, EDGEGW_OPENAPI_DIR=str(tmp_path / "none"))
    p = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(schemas.__file__), env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.stdout.startswith(f"RAISED EDGEGW_OPENAPI_DIR={tmp_path}/none: no 3GPP OpenAPI files"), \
        p.stdout + p.stderr
