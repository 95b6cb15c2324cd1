"""Reload on SIGHUP against the real binary: a new snapshot is built beside the running
one; a broken one leaves the old one serving; listeners, certificates, CAs/CRLs, PSK
files and signing keys change; registrations and connections survive."""

import json
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import (CA, CERTS, listener_yaml, read_response, request, s_client, site_block,
                      tls_client, free_port)


def reloads(site):
    return site.events("reload")


def sighup(site, timeout=10):
    """Sends SIGHUP and returns the reload line it caused."""
    before = len(reloads(site))
    site.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = reloads(site)
        if len(lines) > before:
            return lines[before]
        assert site.proc.poll() is None, site.log_path.read_text()
        time.sleep(0.02)
    raise AssertionError("no reload line:\n" + site.log_path.read_text())


def get(port, path="/healthz", cert=None, **kw):
    with tls_client(port, cert=cert, **kw) as s:
        return request(s, path=path)


def serial(sock):
    return sock.getpeercert()["serialNumber"]


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


# ---- snapshots and listeners -------------------------------------------------------------

def test_unchanged_policies_reload_and_keep_every_listener(site):
    port = free_port()
    site.add("edge4.yaml", interface="EDGE-4", port=port, mode="server-cert", role="ecs")
    site.start()
    with tls_client(port) as old:
        assert request(old)[0] == 200
        line = sighup(site)
        assert line["result"] == "ok", line
        assert (line["listeners_added"], line["listeners_removed"], line["listeners_kept"]) == \
            (0, 0, 1)
        assert request(old)[0] == 200, "a keep-alive connection goes on"
    assert get(port)[0] == 200
    assert len(site.events("listening")) == 1, "the kept listener was not bound again"


def test_listeners_are_added_and_removed_as_the_policies_say(site):
    a, b = free_port(), free_port()
    site.add("a.yaml", interface="A", port=a, mode="server-cert")
    site.start()
    with tls_client(a) as on_a:
        assert request(on_a)[0] == 200
        (site.dir / "a.yaml").unlink()
        site.add("b.yaml", interface="B", port=b, mode="server-cert")
        line = sighup(site)
        assert line["result"] == "ok", line
        assert (line["listeners_added"], line["listeners_removed"], line["listeners_kept"]) == \
            (1, 1, 0)
        assert get(b, "/whoami")[0] == 200
        assert refused(a), "the removed listener no longer accepts"
        status, _, body = request(on_a, path="/whoami")
        assert status == 200 and b'"interface":"A"' in body, \
            "a connection of the removed listener keeps its snapshot"
    # Back again: a listener can return on the address it left.
    site.add("a.yaml", interface="A2", port=a, mode="server-cert")
    assert sighup(site)["result"] == "ok"
    status, _, body = get(a, "/whoami")
    assert status == 200 and b'"interface":"A2"' in body


@pytest.mark.parametrize("name,breakage,where", [
    ("syntax", lambda s: s.write("bad.yaml", "listener:\n  interface: [oops\n"), "bad.yaml:"),
    ("unknown_key", lambda s: s.write("edge4.yaml", s.text + "  colour: blue\n"), "edge4.yaml:"),
    ("missing_cert", lambda s: s.write("edge4.yaml", s.text.replace(f"{CERTS}/ecs.pem",
                                                                   "/nonexistent/ecs.pem")),
     "edge4.yaml:"),
])
def test_a_broken_policy_keeps_the_old_site(site, name, breakage, where):
    port = free_port()
    site.text = listener_yaml(interface="EDGE-4", port=port, mode="server-cert", role="ecs")
    site.write("edge4.yaml", site.text)
    site.start()
    with tls_client(port) as old:
        breakage(site)
        line = sighup(site)
        assert line["result"] == "failed", line
        assert line["level"] == "error"
        assert where in line["error"] and line["error"].split(where)[1][:1].isdigit(), line
        assert request(old, path="/whoami")[0] == 200
    status, _, body = get(port, "/whoami")
    assert status == 200 and b'"interface":"EDGE-4"' in body
    # Fixed, it reloads.
    site.write("edge4.yaml", site.text)
    (site.dir / "bad.yaml").unlink(missing_ok=True)
    assert sighup(site)["result"] == "ok"


def test_a_rotated_server_certificate_goes_to_new_connections_only(site, tmp_path):
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    shutil.copy(CERTS / "ees.pem", cert)
    shutil.copy(CERTS / "ees.key", key)
    port = free_port()
    text = listener_yaml(interface="EDGE-1", port=port, mode="server-cert")
    site.write("edge1.yaml", text.replace(f"{CERTS}/ees.pem", str(cert))
               .replace(f"{CERTS}/ees.key", str(key)))
    site.start()
    with tls_client(port) as old:
        first = serial(old)
        shutil.copy(CERTS / "ecs.pem", cert)
        shutil.copy(CERTS / "ecs.key", key)
        assert sighup(site)["result"] == "ok"
        with tls_client(port) as new:
            assert serial(new) != first
            assert request(new)[0] == 200
        assert request(old)[0] == 200
        assert serial(old) == first
