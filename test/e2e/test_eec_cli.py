"""edgegw eec: the EEC client against a stub ECS, EES and EAS (Python HTTPS servers on
loopback with the site's node certificates). The stubs record what the client sends; the
tests check methods, paths, Authorization headers, the bodies against the TS 24.558
OpenAPI schemas, the client's output (JSON lines and readable), token refresh on 401 and
the exit status."""

import functools
import http.server
import json
import pathlib
import re
import ssl
import subprocess
import threading
import time
import urllib.parse

import jsonschema
import pytest
import yaml

from conftest import BIN, CA, CERTS, ROOT, free_port

EEC_ID = "spiffe://site1/eec/eec1"
EES_ID = "ees1.site1.example"
EAS_ID = "eas1.site1.example"
OPENAPI = ROOT.parent / "shared" / "3gpp-openapi"
if not OPENAPI.exists():
    OPENAPI = pathlib.Path("/work/shared/3gpp-openapi")


# ---- the 3GPP schemas --------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _openapi(name):
    return yaml.safe_load((OPENAPI / name).read_text())


def _resolver(doc_name):
    def load(uri):
        return _openapi(pathlib.Path(urllib.parse.urlparse(uri).path).name)
    base = (OPENAPI / doc_name).as_uri()
    return jsonschema.RefResolver(base, _openapi(doc_name), handlers={"file": load})


def check_schema(doc_name, schema_name, value):
    """Validates |value| against components/schemas/|schema_name| of |doc_name|."""
    schema = {"$ref": f"#/components/schemas/{schema_name}"}
    jsonschema.Draft4Validator(schema, resolver=_resolver(doc_name),
                               format_checker=jsonschema.FormatChecker()).validate(value)


PROVISIONING = "TS24558_Eecs_ServiceProvisioning.yaml"
REGISTRATION = "TS24558_Eees_EECRegistration.yaml"
DISCOVERY = "TS24558_Eees_EASDiscovery.yaml"


# ---- stub servers ------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        peer = self.connection.getpeercert() if self.server.mtls else None
        req = {"server": self.server.name, "method": self.command, "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "body": json.loads(body) if body else None, "peer": peer}
        self.server.site.requests.append(req)
        status, headers, payload = self.server.app(req)
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve


class TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site, name, cert, app, mtls=False):
        super().__init__(("127.0.0.1", free_port()), Handler)
        self.site, self.name, self.app, self.mtls = site, name, app, mtls
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(CERTS / f"{cert}.pem", CERTS / f"{cert}.key")
        if mtls:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(CA)
        self.socket = ctx.wrap_socket(self.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


def problem(status, title, cause=None):
    body = {"type": "about:blank", "title": title, "status": status}
    if cause:
        body["cause"] = cause
    return body


class StubSite:
    """A stub ECS (EDGE-4, server-cert), EES (EDGE-1, mutual TLS) and EAS (app,
    server-cert) that hand tokens on the way the demo site does: eesAccessToken in each
    EESInfo, easAccessToken in each DiscoveredEas."""

    def __init__(self, eas_ttl=3600, eas_expires=True, bad_first_ees_token=False,
                 provision_status=200, eas_status=200, register_location=True,
                 ecs_cert="ecs1"):
        self.requests = []
        self.eas_ttl, self.eas_expires = eas_ttl, eas_expires
        self.bad_first_ees_token = bad_first_ees_token
        self.provision_status, self.eas_status = provision_status, eas_status
        self.register_location = register_location
        self.ees_tokens, self.eas_tokens = [], {}
        self.registrations = {}
        self.ecs = TLSServer(self, "ecs", ecs_cert, self.ecs_app)
        self.ees = TLSServer(self, "ees", "ees1", self.ees_app, mtls=True)
        self.eas = TLSServer(self, "eas", "eas1", self.eas_app)
        self.responses = []

    def close(self):
        for s in (self.ecs, self.ees, self.eas):
            s.shutdown()
            s.server_close()

    def of(self, server):
        return [r for r in self.requests if r["server"] == server]

    # -- ECS
    def ecs_app(self, req):
        assert (req["method"], req["path"]) == ("POST", "/eecs-serviceprovisioning/v1/request")
        if self.provision_status != 200:
            return self.provision_status, {}, None
        token = f"ees-token-{len(self.ees_tokens) + 1}-" + "x" * 40
        self.ees_tokens.append(token)
        resp = {"ednCnfgInfo": [{"ednConInfo": {"dnn": "edge"}, "eess": [{
            "eesId": EES_ID, "endPt": {"uri": self.ees.url}, "eecRegConf": True,
            "eesAuthMethods": ["TLS_CLIENT_SERVER_CERTIFICATE"],
            "eesAccessToken": {"access_token": token, "token_type": "Bearer",
                               "expires_in": 3600,
                               "scope": "eees-eecregistration eees-easdiscovery"}}]}]}
        check_schema(PROVISIONING, "ECSServProvResp", resp)
        self.responses.append(resp)
        return 200, {}, resp

    # -- EES
    def ees_token_ok(self, req):
        auth = req["headers"].get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.ees_tokens:
            return False
        return not (self.bad_first_ees_token and auth[7:] == self.ees_tokens[0])

    def ees_app(self, req):
        if not self.ees_token_ok(req):
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"',
                         "Content-Type": "application/problem+json"}, \
                problem(401, "Unauthorized", "INVALID_TOKEN")
        collection = "/eees-eecregistration/v1/registrations"
        if (req["method"], req["path"]) == ("POST", collection):
            rid = f"reg{len(self.registrations) + 1}"
            self.registrations[rid] = req["body"]
            headers = {"Location": f"{self.ees.url}{collection}/{rid}"} \
                if self.register_location else {}
            return 201, headers, req["body"]
        if req["method"] == "DELETE" and req["path"].startswith(collection + "/"):
            rid = req["path"].rsplit("/", 1)[1]
            if self.registrations.pop(rid, None) is None:
                return 404, {}, problem(404, "Not Found")
            return 204, {}, None
        if (req["method"], req["path"]) == ("POST",
                                            "/eees-easdiscovery/v1/eas-profiles/request-discovery"):
            token = f"eas-token-{len(self.eas_tokens) + 1}-" + "y" * 40
            self.eas_tokens[token] = time.time() + self.eas_ttl
            resp = {"discoveredEas": [{
                "eas": {"easId": EAS_ID, "endPt": {"uri": self.eas.url}, "provId": "demo"},
                "lifeTime": "2030-01-01T00:00:00Z",
                "easAccessToken": {"access_token": token, "token_type": "Bearer",
                                   "expires_in": self.eas_ttl, "scope": "eas-app"}}]}
            check_schema(DISCOVERY, "EasDiscoveryResp", resp)
            self.responses.append(resp)
            return 200, {}, resp
        return 404, {}, problem(404, "Not Found")

    # -- EAS
    def eas_app(self, req):
        auth = req["headers"].get("authorization", "")
        exp = self.eas_tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if exp is None or (self.eas_expires and time.time() >= exp):
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, \
                problem(401, "Unauthorized", "INVALID_TOKEN")
        if self.eas_status != 200:
            return self.eas_status, {}, problem(self.eas_status, "Upstream failed")
        return 200, {}, {"app": "stub", "path": req["path"], "x-eec-id": EEC_ID}


@pytest.fixture
def stub():
    sites = []

    def make(**kw):
        s = StubSite(**kw)
        sites.append(s)
        return s
    yield make
    for s in sites:
        s.close()


def eec(site, *args, timeout=60):
    cmd = [BIN, "eec", *args]
    if site is not None:
        cmd += ["--ecs", site.ecs.url]
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=ROOT)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def steps(out):
    return [json.loads(line) for line in out.splitlines()]


def summary(lines):
    return [(s["step"], s["status"]) for s in lines]


def no_token_in(text, site):
    for token in site.ees_tokens + list(site.eas_tokens):
        assert token not in text
        assert token[:20] not in text


def bearer(req):
    return req["headers"].get("authorization", "").removeprefix("Bearer ")


# ---- the demo ----------------------------------------------------------------------------

def test_demo_json_runs_the_flow_and_refreshes_the_expired_eas_token(stub):
    site = stub(eas_ttl=2)
    t0 = time.time()
    rc, out, err = eec(site, "demo", "--json")
    assert rc == 0, out + err
    lines = steps(out)
    assert summary(lines) == [("provision", 200), ("register", 201), ("discover", 200),
                              ("eas-call", 200), ("eas-call-expired", 401), ("refresh", 200),
                              ("eas-call-retry", 200), ("deregister", 204)]
    assert time.time() - t0 >= 3  # waited expires_in + 1 s before the expired call
    assert all(set(s) == {"step", "status", "body"} for s in lines
               if s["step"] != "register")
    no_token_in(out + err, site)

    # Bodies printed: the answers as JSON, access tokens replaced.
    prov = lines[0]["body"]
    assert prov["ednCnfgInfo"][0]["eess"][0]["eesAccessToken"]["access_token"] == "<redacted>"
    assert prov["ednCnfgInfo"][0]["eess"][0]["eesAccessToken"]["expires_in"] == 3600
    assert lines[2]["body"]["discoveredEas"][0]["easAccessToken"]["access_token"] == "<redacted>"
    assert lines[3]["body"] == {"app": "stub", "path": "/", "x-eec-id": EEC_ID}
    assert lines[4]["body"]["status"] == 401
    assert lines[1]["location"].endswith("/eees-eecregistration/v1/registrations/reg1")
    assert lines[7]["body"] is None

    # What the client sent, in order, to whom, with which token.
    reqs = site.requests
    assert [(r["server"], r["method"], r["path"]) for r in reqs] == [
        ("ecs", "POST", "/eecs-serviceprovisioning/v1/request"),
        ("ees", "POST", "/eees-eecregistration/v1/registrations"),
        ("ees", "POST", "/eees-easdiscovery/v1/eas-profiles/request-discovery"),
        ("eas", "GET", "/"),
        ("eas", "GET", "/"),
        ("ees", "POST", "/eees-easdiscovery/v1/eas-profiles/request-discovery"),
        ("eas", "GET", "/"),
        ("ees", "DELETE", "/eees-eecregistration/v1/registrations/reg1"),
    ]
    ees_token = site.ees_tokens[0]
    eas1, eas2 = list(site.eas_tokens)
    assert "authorization" not in reqs[0]["headers"]
    assert [bearer(r) for r in reqs[1:]] == [ees_token, ees_token, eas1, eas1, ees_token, eas2,
                                             ees_token]
    assert all(r["headers"]["authorization"].startswith("Bearer ") for r in reqs[1:])
    # EDGE-1 is mutual TLS with the EEC certificate.
    for r in site.of("ees"):
        assert ("URI", EEC_ID) in r["peer"]["subjectAltName"]

    # Request bodies: the TS 24.558 shapes, with the eecId.
    for r in reqs:
        assert (r["body"] is not None) == (r["method"] == "POST")
        if r["method"] == "POST":
            assert r["headers"]["content-type"] == "application/json"
    check_schema(PROVISIONING, "ECSServProvReq", reqs[0]["body"])
    assert reqs[0]["body"] == {"eecId": EEC_ID}
    check_schema(REGISTRATION, "EECRegistration", reqs[1]["body"])
    assert reqs[1]["body"]["eecId"] == EEC_ID
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", reqs[1]["body"]["expTime"])
    check_schema(DISCOVERY, "EasDiscoveryReq", reqs[2]["body"])
    assert reqs[2]["body"] == {"requestorId": {"eecId": EEC_ID}}
    assert site.registrations == {}


def test_demo_readable_shows_steps_and_redacted_tokens(stub):
    site = stub(eas_ttl=1)
    rc, out, err = eec(site, "demo")
    assert rc == 0, out + err
    no_token_in(out + err, site)
    for name in ("provision", "register", "discover", "eas-call", "eas-call-expired",
                 "refresh", "eas-call-retry", "deregister"):
        assert re.search(rf"^{name} +\d{{3}} ", out, re.M), out
    assert f"EES {EES_ID} at {site.ees.url}; EDGE-1 token ees-token-...(" in out
    assert f"EAS {EAS_ID} at {site.eas.url}; EAS token eas-token-...(" in out
    assert "waiting 2 s for the EAS token to expire" in out
    assert '"access_token":"<redacted>"' in out
    assert "FAILED" not in out
    assert out.rstrip().endswith("demo: every step answered as expected")


def test_demo_fails_when_the_eas_token_is_still_accepted_but_deregisters(stub):
    site = stub(eas_ttl=1, eas_expires=False)
    rc, out, _ = eec(site, "demo", "--json")
    assert rc == 1
    lines = steps(out)
    assert summary(lines) == [("provision", 200), ("register", 201), ("discover", 200),
                              ("eas-call", 200), ("eas-call-expired", 200), ("deregister", 204)]
    assert "short EAS token lifetime" in lines[4]["error"]
    assert site.registrations == {}


def test_demo_stops_after_a_failed_call_and_still_deregisters(stub):
    site = stub(eas_status=502)
    rc, out, _ = eec(site, "demo", "--json")
    assert rc == 1
    assert summary(steps(out)) == [("provision", 200), ("register", 201), ("discover", 200),
                                   ("eas-call", 502), ("deregister", 204)]
    assert site.registrations == {}


def test_demo_without_a_location_header_cannot_deregister(stub):
    site = stub(register_location=False)
    rc, out, _ = eec(site, "demo", "--json")
    assert rc == 1
    lines = steps(out)
    assert summary(lines) == [("provision", 200), ("register", 201)]
    assert "no Location header" in lines[1]["error"]


# ---- single steps ------------------------------------------------------------------------

def test_provision_only(stub):
    site = stub()
    rc, out, _ = eec(site, "provision", "--json")
    assert rc == 0
    assert summary(steps(out)) == [("provision", 200)]
    assert len(site.requests) == 1


def test_provision_204_is_a_failure(stub):
    site = stub(provision_status=204)
    rc, out, _ = eec(site, "provision", "--json")
    assert rc == 1
    assert steps(out) == [{"step": "provision", "status": 204, "body": None}]


def test_call_refreshes_an_expired_eas_token_once(stub):
    site = stub(eas_ttl=0)  # every EAS token is already expired when used
    rc, out, _ = eec(site, "call", "--json", "--path", "/v1/hello?x=1")
    assert rc == 1  # the retry with the fresh (also expired) token fails
    assert summary(steps(out)) == [("provision", 200), ("discover", 200), ("eas-call", 401),
                                   ("refresh", 200), ("eas-call-retry", 401)]
    assert [r["path"] for r in site.of("eas")] == ["/v1/hello?x=1"] * 2
    assert [bearer(r) for r in site.of("eas")] == list(site.eas_tokens)


def test_call_succeeds_after_refresh(stub):
    site = stub(eas_ttl=3600)
    orig = site.eas_app
    refused = []

    def first_refused(req):
        if not refused:
            refused.append(req)
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, None
        return orig(req)
    site.eas.app = first_refused
    rc, out, _ = eec(site, "call", "--json")
    assert rc == 0, out
    assert summary(steps(out)) == [("provision", 200), ("discover", 200), ("eas-call", 401),
                                   ("refresh", 200), ("eas-call-retry", 200)]


def test_register_reprovisions_when_the_edge1_token_is_refused(stub):
    site = stub(bad_first_ees_token=True)
    rc, out, _ = eec(site, "register", "--json")
    assert rc == 0, out
    lines = steps(out)
    assert summary(lines) == [("provision", 200), ("register", 401), ("reprovision", 200),
                              ("register-retry", 201)]
    assert [bearer(r) for r in site.of("ees")] == site.ees_tokens
    location = lines[-1]["location"]
    assert location == f"{site.ees.url}/eees-eecregistration/v1/registrations/reg1"
    assert list(site.registrations) == ["reg1"]  # register leaves it in place

    rc, out, _ = eec(site, "deregister", "--json", "--registration", location)
    assert rc == 0, out
    assert summary(steps(out)) == [("provision", 200), ("deregister", 204)]
    assert site.registrations == {}
    assert site.requests[-1]["method"] == "DELETE"


def test_discover_with_eas_id_sends_the_filters(stub):
    site = stub()
    rc, out, _ = eec(site, "discover", "--json", "--eas-id", EAS_ID)
    assert rc == 0, out
    prov, disc = site.requests
    check_schema(PROVISIONING, "ECSServProvReq", prov["body"])
    assert prov["body"]["acProfs"][0]["eass"] == [{"easId": EAS_ID}]
    check_schema(DISCOVERY, "EasDiscoveryReq", disc["body"])
    assert disc["body"]["easDiscoveryFilter"] == {"easChars": [{"easId": EAS_ID}]}

    rc, out, _ = eec(site, "discover", "--json", "--eas-id", "other.example")
    assert rc == 1
    assert "no discoveredEas with the wanted easId" in steps(out)[-1]["error"]


def test_unknown_ees_id_fails_at_provisioning(stub):
    site = stub()
    rc, out, _ = eec(site, "register", "--json", "--ees-id", "ees9.example")
    assert rc == 1
    lines = steps(out)
    assert summary(lines) == [("provision", 200)]
    assert "no EESInfo with the wanted eesId" in lines[0]["error"]


# ---- transport and usage -----------------------------------------------------------------

def test_server_certificate_is_verified(stub):
    site = stub(ecs_cert="rogue-eec")
    rc, out, _ = eec(site, "provision", "--json")
    assert rc == 1
    line = steps(out)[0]
    assert (line["status"], line["body"]) == (0, None)
    assert line["error"].startswith("certificate verify failed")
    assert site.requests == []


def test_connection_refused():
    rc, out, _ = eec(None, "provision", "--json", "--ecs", f"https://127.0.0.1:{free_port()}")
    assert rc == 1
    assert steps(out) == [{"step": "provision", "status": 0, "body": None,
                           "error": "connection refused"}]


@pytest.mark.parametrize("args", [
    [], ["bogus"], ["deregister"], ["provision", "--registration", "https://x/y"],
    ["provision", "--timeout-ms", "0"], ["provision", "--ecs"], ["provision", "extra"],
])
def test_usage_errors_exit_2(args):
    rc, _, err = eec(None, *args)
    assert rc == 2
    assert err


def test_help():
    rc, out, _ = eec(None, "--help")
    assert rc == 0
    for word in ("demo", "provision", "register", "discover", "call", "deregister", "--json"):
        assert word in out


def test_missing_ca_file_exits_2():
    rc, _, err = eec(None, "provision", "--ca", "/nonexistent/ca.pem")
    assert rc == 2
    assert "/nonexistent/ca.pem" in err


def test_demo_under_memcheck(stub, tmp_path):
    """The client's loop, TLS and refresh paths leak nothing and touch no freed memory."""
    site = stub(eas_ttl=1)
    report = tmp_path / "valgrind.txt"
    p = subprocess.run(["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
                        "--show-leak-kinds=definite,indirect",
                        "--errors-for-leak-kinds=definite,indirect", f"--log-file={report}",
                        BIN, "eec", "demo", "--json", "--ecs", site.ecs.url, "--timeout-ms",
                        "20000"], capture_output=True, timeout=180, cwd=ROOT)
    assert p.returncode == 0, p.stdout.decode() + report.read_text()
    assert [s["step"] for s in steps(p.stdout.decode())][-1] == "deregister"
