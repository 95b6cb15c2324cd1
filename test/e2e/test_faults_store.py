"""Faults of the state store during EES registrations: SQLite busy (another process
holds an exclusive lock on the state DB), and kill -9 in the middle of a burst of
registrations. The outcome a client sees is checked (503 ProblemDetails, the loop still
serving), then what a restart finds: no half-written registration, every 201 present."""

import json
import sqlite3
import threading
import time

import pytest

from conftest import read_response, request, tls_client
from test_ees import AC, EEC1, EECREG, EesSite, Resp, api, is_problem, register_eec


@pytest.fixture
def ees(tmp_path):
    """A started EES site, killed at teardown if a failed test left it running."""
    s = EesSite(tmp_path / "s1").start()
    yield s
    if s.site.proc and s.site.proc.poll() is None:
        s.site.proc.kill()
        s.site.proc.wait()


def db_path(s):
    return s.site.dir / "state" / "edgegw.db"


def present(s, token, reg):
    """The registration as the EES has it (EEC registrations have no GET: an empty merge
    patch answers the whole resource)."""
    return api(s.port["edge1"], "PATCH", f"{EECREG}/{reg}", {}, token=token,
               content_type="application/merge-patch+json")


def test_sqlite_busy_during_a_registration_is_503_and_leaves_nothing(ees):
    s = ees
    token = s.eec_token()
    _, kept = register_eec(s.port["edge1"], token, ueId="before")
    lock = sqlite3.connect(str(db_path(s)), timeout=1, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        result = {}

        def post():
            t0 = time.time()
            body = json.dumps({"eecId": EEC1, "acProfs": [AC], "ueId": "during-lock"}).encode()
            with tls_client(s.port["edge1"], cert="eec1") as c:
                c.sendall(f"POST {EECREG} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                          .encode() + body)
                # The store waits for the lock (its busy timeout) before giving up.
                result["r"] = Resp(*read_response(c, timeout=30))
            result["s"] = time.time() - t0

        th = threading.Thread(target=post)
        th.start()
        # The loop is not blocked while the store waits for the lock.
        time.sleep(0.5)
        with tls_client(s.port["edge1"], cert="eec1") as c:
            t0 = time.time()
            assert request(c, path="/healthz")[0] == 200
            assert time.time() - t0 < 1.0
        th.join(timeout=30)
        assert not th.is_alive()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    problem = is_problem(result["r"], 503)
    failed = s.site.wait_log(lambda e: e.get("event") == "store_write_failed")
    assert "lock" in failed["error"].lower() or "busy" in failed["error"].lower(), failed
    assert problem.get("detail"), problem
    assert result["s"] < 15
    # Once the lock is gone, the same registration works.
    _, after = register_eec(s.port["edge1"], token, ueId="after")
    assert s.stop() == 0
    s.start()
    try:
        loaded = {e["kind"]: e["count"] for e in s.site.events("records_loaded")}
        assert loaded["ees.eec"] == 2, loaded  # "before" and "after", not "during-lock"
        for reg in (kept, after):
            assert present(s, token, reg).status == 200
    finally:
        assert s.stop() == 0


def test_kill_9_during_a_burst_of_registrations_keeps_every_answered_one(ees):
    s = ees
    token = s.eec_token()
    created, lock = [], threading.Lock()
    stop = threading.Event()

    def burst(n):
        for i in range(n):
            if stop.is_set():
                return
            try:
                r = api(s.port["edge1"], "POST", EECREG,
                        {"eecId": EEC1, "acProfs": [AC], "ueId": f"burst-{i}"}, token=token)
            except OSError:
                return
            if r.status == 201:
                with lock:
                    created.append((r.headers["location"].rsplit("/", 1)[1], r.json["ueId"]))

    threads = [threading.Thread(target=burst, args=(200,)) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.time() + 20
    while len(created) < 20 and time.time() < deadline:
        time.sleep(0.02)
    s.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(created) >= 20, "the burst did not get going"
    s.start()
    try:
        loaded = {e["kind"]: e["count"] for e in s.site.events("records_loaded")}
        # Every answered 201 is there; at most the 4 requests in flight were written
        # without their answer reaching the client.
        assert len(created) <= loaded["ees.eec"] <= len(created) + 4, (loaded, len(created))
        for reg, ue in created:
            r = present(s, token, reg)
            assert r.status == 200 and r.json["ueId"] == ue and r.json["eecId"] == EEC1, r
        # The store still takes writes after the crash.
        register_eec(s.port["edge1"], token, ueId="after-crash")
    finally:
        assert s.stop() == 0
