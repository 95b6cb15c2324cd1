"""The ECS's EDGE modules under valgrind memcheck: registrations written through the
store, merge-patch, provisioning with tokens, subscriptions and their notifications
(one delivered, one refused), expiry purge, bad bodies, a client that leaves before its
write is durable, and SIGTERM with a notification in flight. No invalid access, no leak,
clean exit."""

import json
import time

from conftest import Site, free_port, tls_client
from test_ecs_edge import (EEC, EES2, PROV, REG, call, make_site, raw_call, reg_id, register,
                           registration)
from test_ecs_edge_subscriptions import Receiver, subscribe, subscription


def test_memcheck_clean_through_ecs_edge_traffic(tmp_path):
    site = Site(tmp_path / "policies", valgrind=True)
    ports = make_site(site)
    receiver = Receiver()
    site.start(timeout=30)
    try:
        e6, e4 = ports["edge6"], ports["edge4"]
        sid, _ = subscribe(e4, subscription(receiver.url, requestTestNotification=True))
        subscribe(e4, subscription(f"https://127.0.0.1:{free_port()}/gone", acs=[]))
        headers, _ = register(e6)
        rid = reg_id(headers)
        assert receiver.next(timeout=30)[2]["subId"] == sid
        status, _, _ = call(e6, "PATCH", f"{REG}/{rid}", {"eesProf": {"easIds": ["app1", "x"]}},
                            cert="ees1", ctype="application/merge-patch+json")
        assert status == 200
        register(e6, registration(EES2, exp=int(time.time()) + 2), cert="ees2")
        status, _, body = call(e4, "POST", f"{PROV}/request",
                               {"eecId": EEC, "acProfs": [{"acId": "app1"}]})
        assert status == 200 and body["ednCnfgInfo"][0]["eess"][0]["eesAccessToken"]
        assert raw_call(e6, "POST", REG, b"{broken", cert="ees1")[0] == 400
        assert raw_call(e6, "PUT", f"{REG}/{rid}", json.dumps(registration(EES2)).encode(),
                        cert="ees1")[0] == 403
        q = f"/eecs-targeteesdiscovery/v1/ees-profiles?ees-id={EES2}&eas-id=app1"
        assert call(e6, "GET", q, cert="ees2")[0] == 200
        # A client that sends a registration and leaves at once.
        s = tls_client(e6, cert="ees1")
        data = json.dumps(registration(eas=["gone"])).encode()
        s.sendall(f"POST {REG} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        s.close()
        site.wait_log(lambda e: e.get("event") == "record_expired", timeout=30)
        assert call(e6, "DELETE", f"{REG}/{rid}", cert="ees1")[0] == 204
        # A change whose notifications are still in flight when SIGTERM arrives.
        register(e6, registration(eas=["app1"]))
    finally:
        rc = site.stop(timeout=30)
        receiver.close()
    report = (site.dir / "valgrind.txt").read_text()
    assert rc == 0, f"exit {rc}\n{report}\n{site.log_path.read_text()}"
    assert "Invalid" not in report and "definitely lost" not in report, report
