"""EDGE-6 from the EES's side: it registers its profile at its ECS, re-registers when its
set of EASes changes or the ECS forgot it, retries while the ECS is down, and takes the
CA certificates the ECS names for EEC client certificates ("eecCaCerts") into its trust
store: an EEC with a certificate of that CA gets through the EDGE-1 handshake afterwards.
The ECS here is a scripted mutual-TLS server that records what it is sent."""

import http.server
import json
import ssl
import threading
import time

from conftest import CA, CERTS, free_port, request, tls_client
from test_ees import EAS1, EES1, EesSite, api, eas_registration, parse_utc, register_eas

import schemas

REG = "/eecs-eesregistration/v1/registrations"


class FakeEcs:
    """A mutual-TLS ECS that answers EES registrations and records them."""

    def __init__(self, port):
        self.port = port
        self.calls = []
        self.put_status = 200
        self.grant_s = None  # the ECS caps expTime at now + grant_s
        self.server = None
        self.next_id = 1

    def start(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body=None, headers=()):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_one(self, method):
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length)) if length else None
                sans = self.connection.getpeercert().get("subjectAltName", ())
                dns = [v for k, v in sans if k == "DNS"]
                fake.calls.append({"method": method, "path": self.path, "body": body,
                                   "peer": dns[0] if dns else None})
                granted = dict(body or {})
                if fake.grant_s is not None:
                    granted["expTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                       time.gmtime(time.time() + fake.grant_s))
                if method == "POST" and self.path == REG:
                    rid = f"reg-{fake.next_id}"
                    fake.next_id += 1
                    out = dict(granted, eecCaCerts=[(CERTS / "rogue-ca.pem").read_text()])
                    self.reply(201, out, [("Location", f"https://127.0.0.1:{fake.port}{REG}/{rid}")])
                elif method == "PUT" and self.path.startswith(REG + "/"):
                    self.reply(fake.put_status, granted if fake.put_status == 200 else
                               {"status": fake.put_status, "title": "Not Found"})
                else:
                    self.reply(404, {"status": 404})

            def do_POST(self):
                self.handle_one("POST")

            def do_PUT(self):
                self.handle_one("PUT")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(CERTS / "ecs1.pem", CERTS / "ecs1.key")
        ctx.load_verify_locations(CA)
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def wait(self, pred, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for c in list(self.calls):
                if pred(c):
                    return c
            time.sleep(0.05)
        raise AssertionError(f"call not seen: {self.calls}")


def rogue_eec_gets_in(port):
    """Whether a client with a certificate of the rogue CA completes the handshake."""
    try:
        with tls_client(port, cert="rogue-eec") as s:
            status, _, _ = request(s, path="/healthz", headers={"Connection": "close"})
            return status == 200
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return False


def test_ees_registers_at_its_ecs_and_trusts_the_eec_cas_it_names(tmp_path):
    ecs_port = free_port()
    s = EesSite(tmp_path / "s1", with_ecs=False, ecs_url=f"https://127.0.0.1:{ecs_port}",
                reg_ttl_s=600).start()
    fake = FakeEcs(ecs_port)
    try:
        # The ECS is down: the EES says so and retries; EECs of the rogue CA are refused.
        failed = s.site.wait_log(lambda e: e.get("event") == "ees_registration_failed")
        assert failed["error"] == "connection refused" and failed["retry_ms"] >= 1000
        assert not rogue_eec_gets_in(s.port["edge1"])
        fake.start()
        reg = s.site.wait_log(lambda e: e.get("event") == "ees_registered", timeout=15)
        assert reg["registration_id"] == "reg-1" and reg["renewal"] is False
        post = fake.wait(lambda c: c["method"] == "POST")
        assert post["path"] == REG and post["peer"] == EES1
        body = post["body"]
        schemas.validate_request("TS29558_Eecs_EESRegistration.yaml", "/registrations", "POST", body)
        assert body["eesProf"] == {"eesId": EES1, "eecRegConf": False,
                                   "endPt": {"uri": f"https://127.0.0.1:{s.port['edge1']}"}}
        assert abs(parse_utc(body["expTime"]) - (time.time() + 600)) < 10
        added = s.site.wait_log(lambda e: e.get("event") == "ees_eec_ca_added")
        assert added["certificates"] == 1
        assert rogue_eec_gets_in(s.port["edge1"])
        # Learned for EDGE-1 only: the same certificate is still refused on EDGE-3, where
        # it could otherwise pose as an EAS.
        assert not rogue_eec_gets_in(s.port["edge3"])

        # A new EAS: the profile is sent again (PUT of the same registration) with easIds.
        register_eas(s.port["edge3"])
        put = fake.wait(lambda c: c["method"] == "PUT")
        assert put["path"] == f"{REG}/reg-1"
        assert put["body"]["eesProf"]["easIds"] == [EAS1]
        schemas.validate_request("TS29558_Eecs_EESRegistration.yaml", "/registrations/{registrationId}",
                                 "PUT", put["body"])

        # The ECS forgot the registration: the next update is a new POST.
        fake.put_status = 404
        register_eas(s.port["edge3"], eas_registration("ecs2.site2.example"), cert="ecs2")
        again = fake.wait(lambda c: c["method"] == "POST" and c is not post)
        assert sorted(again["body"]["eesProf"]["easIds"]) == [EAS1, "ecs2.site2.example"]
        s.site.wait_log(lambda e: e.get("event") == "ees_registered" and e["registration_id"] == "reg-2")
    finally:
        assert s.stop() == 0
        fake.stop()


def test_deleting_the_last_eas_sends_a_profile_without_eas_ids(tmp_path):
    ecs_port = free_port()
    fake = FakeEcs(ecs_port).start()
    s = EesSite(tmp_path / "s1", with_ecs=False, ecs_url=f"https://127.0.0.1:{ecs_port}").start()
    try:
        s.site.wait_log(lambda e: e.get("event") == "ees_registered")
        _, path = register_eas(s.port["edge3"])
        fake.wait(lambda c: c["method"] == "PUT" and c["body"]["eesProf"].get("easIds") == [EAS1])
        n = len(fake.calls)
        assert api(s.port["edge3"], "DELETE", path, cert="eas1").status == 204
        last = fake.wait(lambda c: c["method"] == "PUT" and fake.calls.index(c) >= n)
        assert "easIds" not in last["body"]["eesProf"]  # minItems 1: left out when none
    finally:
        assert s.stop() == 0
        fake.stop()


def test_registration_is_renewed_at_half_the_granted_lifetime(tmp_path):
    ecs_port = free_port()
    fake = FakeEcs(ecs_port)
    fake.grant_s = 4  # far less than the 3600 s asked
    fake.start()
    s = EesSite(tmp_path / "s1", with_ecs=False, ecs_url=f"https://127.0.0.1:{ecs_port}").start()
    try:
        first = s.site.wait_log(lambda e: e.get("event") == "ees_registered")
        renewed = s.site.wait_log(lambda e: e.get("event") == "ees_registered" and e["renewal"], timeout=8)
        assert renewed["registration_id"] == first["registration_id"] == "reg-1"
        put = fake.wait(lambda c: c["method"] == "PUT")
        assert put["path"] == f"{REG}/reg-1" and put["peer"] == EES1
        assert abs(parse_utc(put["body"]["expTime"]) - (time.time() + 3600)) < 10
    finally:
        assert s.stop() == 0
        fake.stop()
