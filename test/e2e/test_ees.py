"""The EES role end to end: EEC registration (EDGE-1) with tokens from `edgegw token
issue`, EAS registration (EDGE-3) by the EAS's certificate, discovery with EAS access
tokens from the site's ECS (verified here with PyJWT and the ECS's public key), the ECS
down, broken bodies, and registrations that survive kill -9.

The helpers at the top build EES sites; test_ees_reloc.py and test_ees_ecs.py use them."""

import json
import signal
import subprocess
import time
import urllib.parse

import jwt

from conftest import BIN, CA, CERTS, Site, free_port, request, site_block, tls_client

import schemas  # the 3GPP schema validator of the EDGEAPP e2e suite

ECS1 = "ecs1.site1.example"
EES1 = "ees1.site1.example"
EES2 = "ees2.site2.example"
EAS1 = "eas1.site1.example"
EEC1 = "spiffe://site1/eec/eec1"
EECREG = "/eees-eecregistration/v1/registrations"
DISC = "/eees-easdiscovery/v1/eas-profiles/request-discovery"
EASREG = "/eees-easregistration/v1/registrations"
CTX = "/eees-eeccontextreloc/v1/eec-contexts"
EEC_SCOPES = "eees-eecregistration eees-easdiscovery"

EEC_YAML = "TS24558_Eees_EECRegistration.yaml"
DISC_YAML = "TS24558_Eees_EASDiscovery.yaml"
EAS_YAML = "TS29558_Eees_EASRegistration.yaml"
CTX_YAML = "TS29558_Eees_EECContextRelocation.yaml"


def check_response(yaml_name, path, method, status, body):
    """The body against the operation's response schema."""
    schemas.validate_response(yaml_name, path, method, status, body)


def check_request(yaml_name, path, method, body, content_type=None):
    schemas.validate_request(yaml_name, path, method, body, content_type=content_type)


# ---- sites ------------------------------------------------------------------------------

def listener(interface, port, cert, role, mount, authz):
    text = (f"listener:\n  interface: {interface}\n  role: {role}\n  listen: 127.0.0.1:{port}\n"
            f"  mount: [{', '.join(mount)}]\n  tls:\n    mode: mtls\n"
            f"    cert: {CERTS}/{cert}.pem\n    key: {CERTS}/{cert}.key\n  authz:\n")
    return text + "".join(f"    {line}\n" for line in authz.strip("\n").splitlines())


def token_authz(audience, rules):
    text = f"mode: token\naudience: {audience}\nsub_is_peer: false\nrules:\n"
    text += "  - path: /healthz\n    allow: any\n"
    for path, scope in rules:
        text += f"  - path: {path}\n    scope: [{scope}]\n"
    return text


def static_authz(rules):
    text = "mode: static\nrules:\n  - path: /healthz\n    allow: any\n"
    for path, who in rules:
        text += f"  - path: {path}\n    allow: [{', '.join(who)}]\n"
    return text


ECS_CLIENTS = f"""  clients:
    - id: DNS:{EES1}
      scopes: [eas-app, eees-eeccontextreloc]
      audiences: any
      may_name_eec: true
    - id: DNS:{EES2}
      scopes: [eas-app, eees-eeccontextreloc]
      audiences: any
      may_name_eec: true
"""


class EesSite:
    """One edgegw process with an EES (listeners EDGE-1, EDGE-3, EDGE-9) and, when
    |with_ecs|, the site's ECS (EDGE-6 with /oauth2/token) that it gets tokens from.
    Without an ECS of its own it trusts ecs1's tokens through the public key and asks
    |ecs_url| (which may be another process's ECS, or nothing listening)."""

    def __init__(self, path, ees_id=EES1, cert="ees1", with_ecs=True, ecs_url=None,
                 peers=(), ports=None, eec_max_s=86400, reg_ttl_s=3600, valgrind=False):
        self.site = Site(path, valgrind=valgrind)
        self.ees_id = ees_id
        self.port = ports or {k: free_port() for k in ("edge1", "edge3", "edge9", "edge6")}
        if ecs_url is None and with_ecs:
            ecs_url = f"https://127.0.0.1:{self.port['edge6']}"
        self.ecs_url = ecs_url
        text = site_block(self.site.dir) + "tokens:\n  issuers:\n"
        if with_ecs:
            text += f"    - id: {ECS1}\n      local: true\n"
            text += (f"ecs:\n  id: {ECS1}\n  token_ttl_s: 600\n  signing_keys:\n"
                     f"    - kid: ecs1-k1\n      key: {CERTS}/jwt-es256-k1.key\n" + ECS_CLIENTS)
        else:
            text += (f"    - id: {ECS1}\n      keys:\n        - file: {CERTS}/jwt-es256-k1.pub.pem\n"
                     "          kid: ecs1-k1\n")
        text += (f"ees:\n  id: {ees_id}\n  endpoint: https://127.0.0.1:{self.port['edge1']}\n"
                 f"  client: {{cert: {CERTS}/{cert}.pem, key: {CERTS}/{cert}.key}}\n"
                 f"  eec_registration_max_s: {eec_max_s}\n  registration_ttl_s: {reg_ttl_s}\n"
                 "  eas_token_scopes: [eas-app]\n")
        if ecs_url:
            text += f"  ecs_url: {ecs_url}\n"
        if peers:
            text += "  peers:\n" + "".join(f"    - id: {pid}\n      url: {url}\n" for pid, url in peers)
        self.site.write("site.yaml", text)
        self.site.write("edge1.yaml", listener("EDGE-1", self.port["edge1"], cert, "ees",
                                               ["health", "ees-eec"], token_authz(ees_id, [
                                                   ("/eees-eecregistration/", "eees-eecregistration"),
                                                   ("/eees-easdiscovery/", "eees-easdiscovery")])))
        self.site.write("edge3.yaml", listener("EDGE-3", self.port["edge3"], cert, "ees",
                                               ["health", "ees-eas"], static_authz([
                                                   ("/eees-easregistration/",
                                                    [f"DNS:{EAS1}", "DNS:ecs2.site2.example"])])))
        self.site.write("edge9.yaml", listener("EDGE-9", self.port["edge9"], cert, "ees",
                                               ["health", "ees-reloc"], token_authz(ees_id, [
                                                   ("/eees-eeccontextreloc/", "eees-eeccontextreloc")])))
        if with_ecs:
            self.site.write("edge6.yaml", listener("EDGE-6", self.port["edge6"], "ecs1", "ecs",
                                                   ["health", "ecs"], static_authz([
                                                       ("/oauth2/", [f"DNS:{EES1}", f"DNS:{EES2}"])])))

    def start(self):
        self.site.start(timeout=30 if self.site.valgrind else 10)
        return self

    def stop(self):
        return self.site.stop()

    def kill9(self):
        self.site.proc.send_signal(signal.SIGKILL)
        self.site.proc.wait()
        self.site.log.close()

    def eec_token(self, sub=EEC1, aud=None, scope=EEC_SCOPES):
        """An EDGE-1 token as the ECS hands them out at provisioning (sub = eecId)."""
        p = subprocess.run([BIN, "token", "issue", "--policies", str(self.site.dir), "--sub", sub,
                            "--aud", aud or self.ees_id, "--scope", scope, "--ttl", "600"],
                           capture_output=True, timeout=10)
        assert p.returncode == 0, p.stderr
        return p.stdout.decode().strip()


class Resp:
    def __init__(self, status, headers, raw):
        self.status, self.headers, self.raw = status, headers, raw
        self.json = json.loads(raw) if raw else None

    def __repr__(self):
        return f"{self.status} {self.raw[:400]!r}"


def api(port, method, path, body=None, cert="eec1", token=None, content_type="application/json"):
    headers = {"Connection": "close"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = b""
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = content_type
        headers["Content-Length"] = str(len(data))
    with tls_client(port, cert=cert) as s:
        return Resp(*request(s, method, path, headers=headers, body=data))


def utc(seconds_from_now):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_from_now))


def parse_utc(text):
    import calendar
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def is_problem(r, status):
    assert r.status == status, r
    assert r.headers["content-type"] == "application/problem+json", r.headers
    assert r.json["status"] == status
    return r.json


AC = {"acId": "ac1", "eass": [{"easId": EAS1}]}


def register_eec(port, token, **extra):
    body = {"eecId": EEC1, "acProfs": [AC]}
    body.update(extra)
    body = {k: v for k, v in body.items() if v is not None}  # acProfs=None: none sent
    check_request(EEC_YAML, "/registrations", "POST", body)
    r = api(port, "POST", EECREG, body, token=token)
    assert r.status == 201, r
    check_response(EEC_YAML, "/registrations", "POST", 201, r.json)
    reg_id = urllib.parse.urlsplit(r.headers["location"]).path.rsplit("/", 1)[1]
    assert urllib.parse.urlsplit(r.headers["location"]).path == f"{EECREG}/{reg_id}"
    return r, reg_id


def eas_registration(eas_id=EAS1, **prof):
    p = {"easId": eas_id, "endPt": {"uri": "https://127.0.0.1:8450"}, "acIds": ["ac1"],
         "provId": "demo-provider", "flexEasType": "demo"}
    p.update(prof)
    return {"easProf": p}


def register_eas(port, body=None, cert="eas1"):
    body = body or eas_registration()
    check_request(EAS_YAML, "/registrations", "POST", body)
    r = api(port, "POST", EASREG, body, cert=cert)
    assert r.status == 201, r
    check_response(EAS_YAML, "/registrations", "POST", 201, r.json)
    return r, urllib.parse.urlsplit(r.headers["location"]).path


def discover(port, token, requestor=None, flt=None):
    body = {"requestorId": {"eecId": EEC1} if requestor is None else requestor}
    if flt is not None:
        body["easDiscoveryFilter"] = flt
    if requestor is None:
        check_request(DISC_YAML, "/eas-profiles/request-discovery", "POST", body)
    return api(port, "POST", DISC, body, token=token)


def ecs_public_key():
    return (CERTS / "jwt-es256-k1.pub.pem").read_bytes()


def token_calls(site):
    """How many times the ECS's token endpoint was called (its listener's audit lines)."""
    return len([e for e in site.lines() if e.get("event") == "authz" and e.get("path") == "/oauth2/token"])


def no_token_logged(site, *tokens):
    text = site.log_path.read_text()
    for t in tokens:
        assert t.split(".")[2] not in text, "a token signature appears in the log"


# ---- tests ------------------------------------------------------------------------------

def test_eec_registration_create_update_patch_delete(tmp_path):
    s = EesSite(tmp_path / "s1", eec_max_s=3600).start()
    try:
        token = s.eec_token()
        port = s.port["edge1"]
        r, reg_id = register_eec(port, token, expTime=utc(7200), ueId="msisdn-123")
        # The answer is the registration as granted: expTime capped at 3600 s, and the id
        # of the EEC context kept here.
        assert r.json["eecId"] == EEC1 and r.json["ueId"] == "msisdn-123"
        assert abs(parse_utc(r.json["expTime"]) - (time.time() + 3600)) < 5
        assert r.json["eecCntxId"] == reg_id
        assert "srcEesId" not in r.json
        assert r.headers["location"] == f"https://localhost{EECREG}/{reg_id}"

        path = f"{EECREG}/{reg_id}"
        patch = {"ueMobilityReq": True, "acProfs": [{"acId": "ac2"}]}
        check_request(EEC_YAML, "/registrations/{registrationId}", "PATCH", patch,
                      content_type="application/merge-patch+json")
        r = api(port, "PATCH", path, patch, token=token, content_type="application/merge-patch+json")
        assert r.status == 200, r
        check_response(EEC_YAML, "/registrations/{registrationId}", "PATCH", 200, r.json)
        assert r.json["ueMobilityReq"] is True and r.json["acProfs"] == [{"acId": "ac2"}]
        assert r.json["ueId"] == "msisdn-123"  # merged, not replaced
        # EECRegistrationPatch has no nullable member: nothing can be removed.
        p = is_problem(api(port, "PATCH", path, {"acProfs": None}, token=token,
                           content_type="application/merge-patch+json"), 400)
        assert p["invalidParams"] == [{"param": "/acProfs", "reason": "cannot be null (it is not removable)"}]

        body = {"eecId": EEC1, "acProfs": [AC], "expTime": utc(300)}
        r = api(port, "PUT", path, body, token=token)
        assert r.status == 200, r
        check_response(EEC_YAML, "/registrations/{registrationId}", "PUT", 200, r.json)
        assert "ueMobilityReq" not in r.json and "ueId" not in r.json  # replaced
        assert abs(parse_utc(r.json["expTime"]) - (time.time() + 300)) < 5

        # PATCH needs the merge-patch media type.
        r = api(port, "PATCH", path, {"ueType": "NORMAL_UE"}, token=token)
        is_problem(r, 415)
        r = api(port, "DELETE", path, token=token)
        assert r.status == 204 and r.raw == b"", r
        is_problem(api(port, "DELETE", path, token=token), 404)
        is_problem(api(port, "PUT", path, body, token=token), 404)
        is_problem(api(port, "PATCH", path, {"ueType": "NORMAL_UE"}, token=token,
                       content_type="application/merge-patch+json"), 404)
        # The collection takes POST only; an id takes PUT, PATCH, DELETE.
        r = api(port, "GET", EECREG, token=token)
        assert r.status == 405
        r = api(port, "POST", path, body, token=token)
        assert r.status == 405 and r.headers["allow"] == "PUT, PATCH, DELETE"
        events = [e for e in s.site.events("ees_stored") if e["kind"] == "ees.eec"]
        assert events and all(e["durable"] for e in events)
        no_token_logged(s.site, token)
    finally:
        assert s.stop() == 0


def test_eec_registration_is_for_the_tokens_eec_only(tmp_path):
    s = EesSite(tmp_path / "s1").start()
    try:
        port = s.port["edge1"]
        token = s.eec_token()
        # No token: the listener's token authorization answers.
        assert api(port, "POST", EECREG, {"eecId": EEC1}).status == 401
        # A token whose sub is another EEC.
        other = s.eec_token(sub="spiffe://site1/eec/other")
        p = is_problem(api(port, "POST", EECREG, {"eecId": EEC1}, token=other), 403)
        assert p["detail"] == "the access token was not issued to this eecId"
        # Another EEC may not touch eec1's registration.
        _, reg_id = register_eec(port, token)
        path = f"{EECREG}/{reg_id}"
        is_problem(api(port, "DELETE", path, token=other), 403)
        is_problem(api(port, "PUT", path, {"eecId": "spiffe://site1/eec/other"}, token=other), 403)
        is_problem(api(port, "PATCH", path, {"ueType": "NORMAL_UE"}, token=other,
                       content_type="application/merge-patch+json"), 403)
        # Nor may eec1 hand its registration to another eecId.
        is_problem(api(port, "PUT", path, {"eecId": "spiffe://site1/eec/other"}, token=token), 403)
        # A token for another EES.
        assert api(port, "POST", EECREG, {"eecId": EEC1}, token=s.eec_token(aud=EES2)).status == 401
        assert api(port, "DELETE", path, token=token).status == 204
    finally:
        assert s.stop() == 0


def test_broken_bodies_are_400_problems_naming_the_member(tmp_path):
    s = EesSite(tmp_path / "s1").start()
    try:
        port = s.port["edge1"]
        token = s.eec_token()
        p = is_problem(api(port, "POST", EECREG, b"{\"eecId\": ", token=token), 400)
        assert p["invalidParams"] == [{"param": "/", "reason": "the body is not a JSON object"}]
        p = is_problem(api(port, "POST", EECREG, {"ueId": "x"}, token=token), 400)
        assert p["invalidParams"] == [{"param": "/eecId", "reason": "is required"}]
        assert p["cause"] == "MANDATORY_IE_MISSING"
        p = is_problem(api(port, "POST", EECREG, {"eecId": EEC1, "acProfs": [{"acType": "x"}]},
                           token=token), 400)
        assert p["invalidParams"][0]["param"] == "/acProfs/0/acId"
        p = is_problem(api(port, "POST", EECREG, {"eecId": EEC1, "expTime": "2001-01-01T00:00:00Z"},
                           token=token), 400)
        assert p["invalidParams"] == [{"param": "/expTime", "reason": "is not in the future"}]
        is_problem(api(port, "POST", EECREG, [1, 2], token=token), 400)
        is_problem(api(port, "POST", EECREG, {"eecId": EEC1}, token=token, content_type="text/plain"),
                   415)
        p = is_problem(discover(port, token, requestor={}), 400)
        assert p["invalidParams"][0]["param"] == "/requestorId"
        p = is_problem(api(s.port["edge3"], "POST", EASREG, {"easProf": {"easId": EAS1}}, cert="eas1"),
                       400)
        assert p["invalidParams"] == [{"param": "/easProf/endPt", "reason": "is required"}]
    finally:
        assert s.stop() == 0


def test_eas_registration_by_the_eas_certificate(tmp_path):
    s = EesSite(tmp_path / "s1").start()
    try:
        port = s.port["edge3"]
        r, path = register_eas(port)
        assert path.startswith(EASREG + "/")
        assert r.json["easProf"]["easId"] == EAS1 and "expTime" in r.json
        # The EAS reads, patches and replaces its registration.
        got = api(port, "GET", path, cert="eas1")
        assert got.status == 200 and got.json == r.json
        check_response(EAS_YAML, "/registrations/{registrationId}", "GET", 200, got.json)
        patch = {"easProf": {"easId": EAS1, "endPt": {"uri": "https://127.0.0.1:8450"},
                             "acIds": ["ac1", "ac2"]}, "expTime": None}
        check_request(EAS_YAML, "/registrations/{registrationId}", "PATCH", patch,
                      content_type="application/merge-patch+json")
        r = api(port, "PATCH", path, patch, cert="eas1", content_type="application/merge-patch+json")
        assert r.status == 200, r
        assert r.json["easProf"]["acIds"] == ["ac1", "ac2"] and r.json["easProf"]["provId"] == "demo-provider"
        r = api(port, "PUT", path, eas_registration(status="ENABLED"), cert="eas1")
        assert r.status == 200 and r.json["easProf"]["status"] == "ENABLED", r
        # Another node allowed on EDGE-3 may neither register eas1 nor touch its registration.
        p = is_problem(api(port, "POST", EASREG, eas_registration(), cert="ecs2"), 403)
        assert p["detail"] == "easProf.easId is not the identity of the client certificate"
        is_problem(api(port, "GET", path, cert="ecs2"), 403)
        is_problem(api(port, "DELETE", path, cert="ecs2"), 403)
        # Nor may eas1 rename its registration.
        is_problem(api(port, "PUT", path, eas_registration("ecs2.site2.example"), cert="eas1"), 403)
        # A new registration of eas1 replaces the old one.
        _, path2 = register_eas(port)
        is_problem(api(port, "GET", path, cert="eas1"), 404)
        assert api(port, "DELETE", path2, cert="eas1").status == 204
        is_problem(api(port, "GET", path2, cert="eas1"), 404)
    finally:
        assert s.stop() == 0


def test_discovery_hands_out_an_eas_token_from_the_ecs(tmp_path):
    s = EesSite(tmp_path / "s1").start()
    try:
        token = s.eec_token()
        register_eas(s.port["edge3"])
        register_eas(s.port["edge3"], eas_registration("ecs2.site2.example", acIds=["ac2"],
                                                       flexEasType="other"), cert="ecs2")
        r = discover(s.port["edge1"], token)
        assert r.status == 200, r
        check_response(DISC_YAML, "/eas-profiles/request-discovery", "POST", 200, r.json)
        assert r.headers["cache-control"] == "no-store"
        assert [d["eas"]["easId"] for d in r.json["discoveredEas"]] == [EAS1, "ecs2.site2.example"]
        found = r.json["discoveredEas"][0]
        assert found["lifeTime"] and found["eas"]["endPt"] == {"uri": "https://127.0.0.1:8450"}
        tok = found["easAccessToken"]
        schemas.validate(tok, "TS29510_Nnrf_AccessToken.yaml", "AccessTokenRsp")
        assert tok["token_type"] == "Bearer" and tok["scope"] == "eas-app"
        assert 500 < tok["expires_in"] <= 600
        c = jwt.decode(tok["access_token"], ecs_public_key(), algorithms=["ES256"], audience=EAS1,
                       issuer=ECS1)
        assert (c["sub"], c["eecId"], c["scope"]) == (EES1, EEC1, "eas-app")
        assert "cnf" not in c  # named for an EEC: not bound to the EES's certificate
        # Cached per (EAS, EEC): a second discovery gets the same tokens, no new ECS call.
        assert token_calls(s.site) == 2
        r2 = discover(s.port["edge1"], token)
        assert r2.json["discoveredEas"][0]["easAccessToken"]["access_token"] == tok["access_token"]
        assert token_calls(s.site) == 2
        # Filters: by AC, by EAS characteristics.
        f = {"acChars": [{"acProf": {"acId": "ac2"}}]}
        r = discover(s.port["edge1"], token, flt=f)
        assert [d["eas"]["easId"] for d in r.json["discoveredEas"]] == ["ecs2.site2.example"]
        f = {"easChars": [{"easProvId": "demo-provider", "easType": "demo"}]}
        r = discover(s.port["edge1"], token, flt=f)
        assert [d["eas"]["easId"] for d in r.json["discoveredEas"]] == [EAS1]
        r = discover(s.port["edge1"], token, flt={"easChars": [{"easId": "nobody"}]})
        assert r.status == 200 and r.json == {"discoveredEas": []}
        # The requestor must be the token's EEC.
        p = is_problem(discover(s.port["edge1"], token, requestor={"eecId": "spiffe://site1/eec/x"}), 403)
        assert p["detail"] == "the access token was not issued to the requestor"
        no_token_logged(s.site, token, tok["access_token"])
    finally:
        assert s.stop() == 0


def test_discovery_answers_503_when_the_ecs_is_down(tmp_path):
    dead = free_port()
    s = EesSite(tmp_path / "s1", with_ecs=False, ecs_url=f"https://127.0.0.1:{dead}").start()
    try:
        # With no ECS of its own the site trusts ecs1's key: mint an EDGE-1 token here.
        token = jwt.encode({"iss": ECS1, "sub": EEC1, "aud": EES1, "scope": EEC_SCOPES,
                            "iat": int(time.time()), "exp": int(time.time()) + 300},
                           (CERTS / "jwt-es256-k1.key").read_bytes(), algorithm="ES256",
                           headers={"kid": "ecs1-k1"})
        register_eas(s.port["edge3"])
        p = is_problem(discover(s.port["edge1"], token), 503)
        assert p["detail"] == "the ECS cannot be reached for EAS access tokens"
        assert s.site.events("ees_token_failed")[-1]["target"] == EAS1
        assert s.site.events("ees_discovery_failed")
        # Without a filter matching any EAS no token is needed: the empty list.
        r = discover(s.port["edge1"], token, flt={"easChars": [{"easId": "nobody"}]})
        assert r.status == 200 and r.json == {"discoveredEas": []}
        # The EES keeps trying to register at the ECS meanwhile.
        s.site.wait_log(lambda e: e.get("event") == "ees_registration_failed")
    finally:
        assert s.stop() == 0


def test_registrations_survive_kill_9_and_restart(tmp_path):
    s = EesSite(tmp_path / "s1")
    s.start()
    token = s.eec_token()
    _, eec_id = register_eec(s.port["edge1"], token, ueId="msisdn-9")
    _, eas_path = register_eas(s.port["edge3"])
    _, gone = register_eec(s.port["edge1"], token)
    assert api(s.port["edge1"], "DELETE", f"{EECREG}/{gone}", token=token).status == 204
    s.kill9()
    s.start()
    try:
        loaded = {e["kind"]: e["count"] for e in s.site.events("records_loaded")}
        assert loaded == {"ees.eec": 1, "ees.eas": 1, "ees.ctx": 0}
        got = api(s.port["edge3"], "GET", eas_path, cert="eas1")
        assert got.status == 200 and got.json["easProf"]["easId"] == EAS1
        r = api(s.port["edge1"], "PATCH", f"{EECREG}/{eec_id}", {"ueType": "NORMAL_UE"}, token=token,
                content_type="application/merge-patch+json")
        assert r.status == 200 and r.json["ueId"] == "msisdn-9", r
        is_problem(api(s.port["edge1"], "DELETE", f"{EECREG}/{gone}", token=token), 404)
        r = discover(s.port["edge1"], token)
        assert [d["eas"]["easId"] for d in r.json["discoveredEas"]] == [EAS1]
    finally:
        assert s.stop() == 0


def test_expired_registrations_are_gone(tmp_path):
    s = EesSite(tmp_path / "s1").start()
    try:
        token = s.eec_token()
        _, reg_id = register_eec(s.port["edge1"], token, expTime=utc(2))
        body = eas_registration()
        body["expTime"] = utc(2)
        _, eas_path = register_eas(s.port["edge3"], body)
        time.sleep(2.5)
        is_problem(api(s.port["edge1"], "DELETE", f"{EECREG}/{reg_id}", token=token), 404)
        is_problem(api(s.port["edge3"], "GET", eas_path, cert="eas1"), 404)
        assert discover(s.port["edge1"], token).json == {"discoveredEas": []}
        # The purge drops them from memory and the store.
        s.site.wait_log(lambda e: e.get("event") == "record_expired" and e["kind"] == "ees.eec"
                        and e["owner"] == EEC1, timeout=15)
        s.site.wait_log(lambda e: e.get("event") == "record_expired" and e["kind"] == "ees.eas"
                        and e["owner"] == EAS1, timeout=15)
    finally:
        assert s.stop() == 0
