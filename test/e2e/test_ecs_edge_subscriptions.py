"""EDGE-4 service provisioning subscriptions at the ECS: CRUD, persistence, and the
ServProvNotification a subscriber's HTTPS endpoint (a Python server with a certificate
of the dev PKI) receives when the table of registered EESes changes."""

import http.server
import json
import queue
import ssl
import threading
import time

import pytest

from conftest import CA, CERTS, free_port
from test_ecs_edge import (EEC, EES1, EES2, PROV, call, make_site, problem, raw_call, reg_id,
                           register, registration, validate)

SUBS = f"{PROV}/subscriptions"
SPEC = "TS24558_Eecs_ServiceProvisioning.yaml"


class Receiver:
    """An HTTPS notification endpoint: records every POST body, answers 204."""

    def __init__(self, require_client_cert=False):
        self.port = free_port()
        self.bodies = queue.Queue()
        self.bodies.peers = []  # first DNS SAN of each client certificate (None: none)
        received = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                peer = self.connection.getpeercert() or {}
                dns = [v for k, v in peer.get("subjectAltName", ()) if k == "DNS"]
                received.peers.append(dns[0] if dns else None)
                received.put((self.path, self.headers.get("Content-Type"),
                              json.loads(self.rfile.read(length))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(CERTS / "eas1.pem", CERTS / "eas1.key")
        ctx.load_verify_locations(CA)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}/notify"

    def next(self, timeout=5):
        return self.bodies.get(timeout=timeout)

    def quiet(self, wait=0.7):
        try:
            got = self.bodies.get(timeout=wait)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected notification {got}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def ecs(site):
    ports = make_site(site)
    site.start()
    return ports


def subscription(dest, acs=("app1",), **extra):
    doc = {"eecId": EEC, "acProfs": [{"acId": a} for a in acs], "notificationDestination": dest}
    doc.update(extra)
    validate(doc, SPEC, "ECSServProvSubscription")
    return doc


def subscribe(port, doc):
    status, headers, body = call(port, "POST", SUBS, doc)
    assert status == 201, body
    loc = headers["location"]
    assert loc.startswith("https://") and f"{SUBS}/" in loc
    validate(body, SPEC, "ECSServProvSubscription")
    return loc.rsplit("/", 1)[1], body


def test_notification_on_registration_changes(ecs, receiver):
    sid, _ = subscribe(ecs["edge4"], subscription(receiver.url))
    headers, _ = register(ecs["edge6"], registration(eas=["app1"]))
    path, ctype, note = receiver.next()
    assert path == "/notify" and ctype == "application/json"
    validate(note, SPEC, "ServProvNotification")
    assert note["subId"] == sid
    [info] = note["ednCnfgInfo"][0]["eess"]
    assert info["eesId"] == EES1 and info["easIds"] == ["app1"]
    assert "eesAccessToken" not in info  # tokens only answer the EEC's own request

    # An EES that serves none of the subscription's ACs: nothing to say.
    register(ecs["edge6"], registration(EES2, eas=["app2"]), cert="ees2")
    receiver.quiet()

    # ees1 adds app2, still serving app1: notified again.
    status, _, _ = call(ecs["edge6"], "PATCH", f"/eecs-eesregistration/v1/registrations/"
                        f"{reg_id(headers)}", {"eesProf": {"easIds": ["app1", "app2"]}},
                        cert="ees1", ctype="application/merge-patch+json")
    assert status == 200
    _, _, note = receiver.next()
    assert note["ednCnfgInfo"][0]["eess"][0]["easIds"] == ["app1", "app2"]


def test_subscription_crud(ecs, receiver):
    port = ecs["edge4"]
    sid, created = subscribe(port, subscription(receiver.url))
    assert created["eecId"] == EEC and "expTime" in created

    status, _, got = call(port, "GET", f"{SUBS}/{sid}")
    assert status == 200 and got == created

    status, _, put = call(port, "PUT", f"{SUBS}/{sid}", subscription(receiver.url, acs=["app2"]))
    assert status == 200, put
    validate(put, SPEC, "ECSServProvSubscription")
    assert put["acProfs"] == [{"acId": "app2"}]

    status, _, patched = call(port, "PATCH", f"{SUBS}/{sid}", {"acProfs": [{"acId": "app3"}]},
                              ctype="application/merge-patch+json")
    assert status == 200 and patched["acProfs"] == [{"acId": "app3"}]
    assert patched["notificationDestination"] == receiver.url
    # ECSServProvSubscriptionPatch has no eecId.
    status, headers, body = raw_call(port, "PATCH", f"{SUBS}/{sid}",
                                     json.dumps({"eecId": "someone"}).encode(),
                                     ctype="application/merge-patch+json")
    assert problem(status, headers, body, 400)["invalidParams"][0]["param"] == "/eecId"
    # Nor may PUT change it.
    other = subscription(receiver.url)
    other["eecId"] = "spiffe://site1/eec/other"
    status, headers, body = raw_call(port, "PUT", f"{SUBS}/{sid}", json.dumps(other).encode())
    problem(status, headers, body, 400)

    status, _, _ = call(port, "DELETE", f"{SUBS}/{sid}")
    assert status == 204
    status, headers, body = raw_call(port, "GET", f"{SUBS}/{sid}", b"")
    problem(status, headers, body, 404)
    # Gone: a new registration notifies nobody.
    register(ecs["edge6"], registration(eas=["app3"]))
    receiver.quiet()


@pytest.mark.parametrize("doc,param", [
    ({"notificationDestination": "https://127.0.0.1:1/n"}, "/eecId"),
    ({"eecId": EEC}, "/notificationDestination"),
    ({"eecId": EEC, "notificationDestination": "http://127.0.0.1:1/n"},
     "/notificationDestination"),
    ({"eecId": EEC, "notificationDestination": "https://127.0.0.1:1/n", "expTime": "soon"},
     "/expTime"),
])
def test_bad_subscriptions(ecs, doc, param):
    status, headers, body = raw_call(ecs["edge4"], "POST", SUBS, json.dumps(doc).encode())
    doc = problem(status, headers, body, 400)
    assert param in [p["param"] for p in doc["invalidParams"]]


def test_test_notification_and_restart(site, receiver):
    ports = make_site(site)
    site.start()
    register(ports["edge6"], registration(eas=["app1"]))
    sid, _ = subscribe(ports["edge4"], subscription(receiver.url, requestTestNotification=True))
    _, _, note = receiver.next()
    assert note["subId"] == sid and note["ednCnfgInfo"][0]["eess"][0]["eesId"] == EES1

    site.proc.kill()
    site.proc.wait()
    site.start()
    status, _, got = call(ports["edge4"], "GET", f"{SUBS}/{sid}")
    assert status == 200 and got["notificationDestination"] == receiver.url
    # Still notified after the restart.
    register(ports["edge6"], registration(EES2, eas=["app1"]), cert="ees2")
    _, _, note = receiver.next()
    assert note["subId"] == sid
    assert {i["eesId"] for e in note["ednCnfgInfo"] for i in e["eess"]} == {EES1, EES2}


def test_unreachable_subscriber_is_logged(ecs, site):
    dead = f"https://127.0.0.1:{free_port()}/notify"
    sid, _ = subscribe(ecs["edge4"], subscription(dead))
    t0 = time.time()
    register(ecs["edge6"], registration(eas=["app1"]))
    assert time.time() - t0 < 2  # the registration did not wait for the notification
    e = site.wait_log(lambda e: e.get("event") == "ecs_notification" and e.get("subscription") == sid)
    assert e["status"] == 0 and e["error"] == "connection refused"
    status, _, _ = call(ecs["edge4"], "GET", f"{SUBS}/{sid}")
    assert status == 200


def test_notifications_present_the_ecs_client_certificate(site):
    """A subscriber that asks for mutual TLS sees ecs.client's certificate."""
    receiver = Receiver(require_client_cert=True)
    try:
        ports = make_site(site, f"  client:\n    cert: {CERTS}/ecs1.pem\n"
                                f"    key: {CERTS}/ecs1.key\n")
        site.start()
        sid, _ = subscribe(ports["edge4"], subscription(receiver.url))
        register(ports["edge6"])
        _, _, note = receiver.next()
        assert note["subId"] == sid
        assert receiver.bodies.peers == ["ecs1.site1.example"]
    finally:
        receiver.close()
