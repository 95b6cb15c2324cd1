"""HTTPS clients, the upstream application and the recording proxies of the EDGEAPP
end-to-end harness (edgeapp.py). Every EDGEAPP call made through api() has its request
and response bodies checked against the 3GPP OpenAPI files (schemas.py)."""

import http.client
import http.server
import json
import socketserver
import ssl
import threading
import urllib.parse

import jwt

from conftest import CA, CERTS
import schemas

# API root path -> the 3GPP file describing it.
API_FILES = {
    "/eecs-serviceprovisioning/v1": "TS24558_Eecs_ServiceProvisioning.yaml",
    "/eecs-eesregistration/v1": "TS29558_Eecs_EESRegistration.yaml",
    "/eecs-targeteesdiscovery/v1": "TS29558_Eecs_TargetEESDiscovery.yaml",
    "/eees-eecregistration/v1": "TS24558_Eees_EECRegistration.yaml",
    "/eees-easdiscovery/v1": "TS24558_Eees_EASDiscovery.yaml",
    "/eees-easregistration/v1": "TS29558_Eees_EASRegistration.yaml",
    "/eees-eeccontextreloc/v1": "TS29558_Eees_EECContextRelocation.yaml",
}
TOKEN_FILE = "TS29510_Nnrf_AccessToken.yaml"


def spec_for(path):
    """The OpenAPI file of an EDGEAPP path, or None for paths outside those APIs."""
    p = urllib.parse.urlsplit(path).path
    return next((f for root, f in API_FILES.items() if p.startswith(root + "/")), None)


# ---- HTTPS clients ---------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names; repeated headers joined by ", "
        self.body = body
        self.json = None

    def __repr__(self):
        return f"<{self.status} {self.headers.get('content-type')} {self.body[:600]!r}>"


def client_context(cert=None):
    ctx = ssl.create_default_context(cafile=CA)
    if cert:
        ctx.load_cert_chain(CERTS / f"{cert}.pem", CERTS / f"{cert}.key")
    return ctx


def https(port, method, path, body=None, *, cert=None, token=None, headers=None,
          server_name="localhost", content_type=None, timeout=10):
    """One request on a fresh verified TLS connection (client certificate |cert| from
    certs/out, Bearer |token|). A dict or list |body| is sent as JSON."""
    hdrs = {"Accept": "application/json, application/problem+json"}
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs["Content-Type"] = content_type or "application/json"
    elif isinstance(body, str):
        body = body.encode()
    if body is not None and content_type:
        hdrs["Content-Type"] = content_type
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    hdrs.update(headers or {})
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                       context=client_context(cert))
    try:
        conn.putrequest(method, path, skip_accept_encoding=True, skip_host=True)
        conn.putheader("Host", f"{server_name}:{port}")
        for k, v in hdrs.items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        headers = {}
        for k, v in r.getheaders():
            k = k.lower()
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        return Response(r.status, headers, r.read())
    finally:
        conn.close()


def api(port, method, path, body=None, *, cert=None, token=None, content_type=None,
        headers=None, seen=None):
    """An EDGEAPP call whose request and response are validated against the 3GPP file of
    |path| (schemas.py). Returns the Response with .json set (None for an empty body).
    |seen| (a set) collects access tokens found in the response, for the log checks."""
    spec = spec_for(path)
    assert spec, f"{path}: not an EDGEAPP API path"
    if body is not None:
        schemas.validate_request(spec, path, method, body, content_type=content_type)
    r = https(port, method, path, body, cert=cert, token=token, content_type=content_type,
              headers=headers)
    r.json = schemas.validate_response(spec, path, method, r.status, r.body,
                                       r.headers.get("content-type"))
    if r.body:
        ctype = r.headers.get("content-type", "")
        assert ctype.split(";")[0] in ("application/json", "application/problem+json"), r
        if r.status >= 400:
            assert ctype.startswith("application/problem+json"), r
            assert r.json.get("status") in (None, r.status), r
    if seen is not None:
        seen.update(tokens_in(r.json))
    return r


def tokens_in(value):
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "access_token" and isinstance(v, str):
                yield v
            else:
                yield from tokens_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from tokens_in(v)


def token_request(port, cert, fields, seen=None):
    """POST /oauth2/token (form) over mTLS with |cert|. A 200 answer is checked against
    TS 29.510 AccessTokenRsp; returns the Response with .json."""
    body = urllib.parse.urlencode(fields).encode()
    r = https(port, "POST", "/oauth2/token", body, cert=cert,
              content_type="application/x-www-form-urlencoded")
    r.json = json.loads(r.body) if r.body else None
    if r.status == 200:
        schemas.validate(r.json, TOKEN_FILE, "AccessTokenRsp")
        assert r.headers.get("cache-control") == "no-store", r
        if seen is not None:
            seen.add(r.json["access_token"])
    return r


def jwks(port, cert):
    r = https(port, "GET", "/.well-known/jwks.json", cert=cert)
    assert r.status == 200, r
    return json.loads(r.body)


def verify_jwt(token, keys, audience, issuer):
    """Verifies |token| with nothing but the issuer's JWKS |keys| (PyJWT); returns the
    claims."""
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next((k for k in keys["keys"] if k["kid"] == kid), None)
    assert jwk, f"kid {kid} not in the JWKS {[k['kid'] for k in keys['keys']]}"
    return jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["ES256"], audience=audience,
                      issuer=issuer, options={"require": ["exp", "iat", "sub", "aud", "iss"]})


# ---- upstream application and recording proxies ----------------------------------------

def _read_body(rfile, headers):
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = b""
        while True:
            size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return out
            out += rfile.read(size)
            rfile.readline()
    n = int(headers.get("Content-Length") or 0)
    return rfile.read(n) if n else b""


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Upstream:
    """The application behind the EAS sidecar: plain HTTP on 127.0.0.1, answers every
    request with JSON {method, path, headers: [[name, value], ...], body} and keeps
    them in .requests."""

    def __init__(self):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one_request(self):
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline:
                    self.close_connection = True
                    return
                if not self.parse_request():
                    return
                body = _read_body(self.rfile, self.headers)
                seen = {"method": self.command, "path": self.path,
                        "headers": [[k.lower(), v] for k, v in self.headers.items()],
                        "body": body.decode("utf-8", "replace")}
                outer.requests.append(seen)
                data = json.dumps(seen).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# DNS identity of a node certificate -> its certs/out name.
_NODE_CERTS = {f"{role}{i}.site{i}.example": f"{role}{i}" for i in (1, 2) for role in ("ecs", "ees", "eas")}
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


class Exchange:
    def __init__(self, peer, method, path, req_headers, req_body):
        self.peer, self.method, self.path = peer, method, path
        self.req_headers, self.req_body = req_headers, req_body
        self.status, self.resp_headers, self.resp_body, self.error = None, {}, b"", None

    def __repr__(self):
        return f"<{self.peer} {self.method} {self.path} -> {self.status} {self.resp_body[:300]!r}>"


class RecordingProxy:
    """A TLS man in the middle for one hop between two edgegw processes: it serves the
    target node's certificate, asks for a client certificate, and forwards each request
    to the target with the certificate of the same node the client presented. Every
    exchange is kept in .exchanges (bodies included)."""

    def __init__(self, name, target_port, target_cert):
        self.name, self.exchanges, self.target_port = name, [], target_port
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(CERTS / f"{target_cert}.pem", CERTS / f"{target_cert}.key")
        server_ctx.load_verify_locations(CA)
        server_ctx.verify_mode = ssl.CERT_REQUIRED
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                self.request = server_ctx.wrap_socket(self.request, server_side=True)
                cert = self.request.getpeercert()
                sans = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
                self.peer = sans[0] if sans else "?"
                super().setup()

            def handle_one_request(self):
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline:
                    self.close_connection = True
                    return
                if not self.parse_request():
                    return
                body = _read_body(self.rfile, self.headers)
                x = Exchange(self.peer, self.command, self.path, dict(self.headers.items()), body)
                outer.exchanges.append(x)
                try:
                    status, headers, data = outer._forward(self.peer, x)
                except (OSError, ssl.SSLError, http.client.HTTPException) as e:
                    x.error = repr(e)
                    status, headers, data = 502, [("Content-Type", "text/plain")], b"proxy: " + repr(e).encode()
                x.status, x.resp_headers, x.resp_body = status, {k.lower(): v for k, v in headers}, data
                self.send_response_only(status)
                for k, v in headers:
                    if k.lower() not in _HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def _forward(self, peer, x):
        cert = _NODE_CERTS.get(peer)
        assert cert, f"proxy {self.name}: no client certificate for peer {peer}"
        conn = http.client.HTTPSConnection("127.0.0.1", self.target_port, timeout=30,
                                           context=client_context(cert))
        try:
            conn.putrequest(x.method, x.path, skip_host=True, skip_accept_encoding=True)
            for k, v in x.req_headers.items():
                if k.lower() not in _HOP and k.lower() != "content-length":
                    conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(x.req_body)))
            conn.endheaders(x.req_body)
            r = conn.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            conn.close()

    def find(self, method=None, prefix=""):
        return [x for x in list(self.exchanges)
                if (method is None or x.method == method) and x.path.startswith(prefix)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def validate_exchange(x):
    """Checks a recorded exchange between two processes against its 3GPP file."""
    spec = spec_for(x.path)
    assert x.error is None, f"proxied call failed: {x!r}: {x.error}"
    if spec is None:
        if urllib.parse.urlsplit(x.path).path == "/oauth2/token" and x.status == 200:
            schemas.validate(x.resp_body, TOKEN_FILE, "AccessTokenRsp")
        return
    if x.req_body:
        schemas.validate_request(spec, x.path, x.method, x.req_body, x.req_headers.get("Content-Type")
                                 or x.req_headers.get("content-type"))
    schemas.validate_response(spec, x.path, x.method, x.status, x.resp_body, x.resp_headers.get("content-type"))
