"""Start-up, policy errors, readiness, IPv6, drain on SIGTERM."""

import subprocess
import time

import pytest

from conftest import (BIN, Site, free_port, peer_closed, read_response, request, site_block,
                      tls_client)


def test_one_listening_line_per_listener_then_ready(site):
    p4, p6, p1 = free_port(), free_port(), free_port()
    site.add("edge4.yaml", interface="EDGE-4", port=p4, mode="server-cert", role="ecs")
    site.add("edge6.yaml", interface="EDGE-6", port=p6, mode="mtls", role="ecs")
    site.add("edge1.yaml", interface="EDGE-1", port=p1, mode="psk", role="ees",
             authz="mode: static\nrules:\n  - path: /\n    allow: [PSK:demo-eec1]")
    site.start()
    listening = {e["interface"]: e for e in site.events("listening")}
    e4 = listening["EDGE-4"]
    assert (e4["role"], e4["addr"], e4["tls"], e4["authz"]) == \
        ("ecs", f"127.0.0.1:{p4}", "server-cert", "none")
    assert listening["EDGE-6"]["tls"] == "mtls"
    assert listening["EDGE-1"]["tls"] == "psk" and listening["EDGE-1"]["authz"] == "static"
    assert list(site.lines()[0].keys())[0] == "event"
    ready = site.events("ready")
    assert ready and ready[0]["listeners"] == 3
    with tls_client(p4) as s:
        assert request(s, path="/readyz")[0] == 200


def test_listens_on_ipv6_loopback(site):
    port = free_port()
    site.add("v6.yaml", interface="EDGE-4", port=port, mode="server-cert", role="ecs", host="::1")
    site.start()
    assert site.events("listening")[0]["addr"] == f"[::1]:{port}"
    with tls_client(port, host="::1") as s:
        status, _, body = request(s)
        assert status == 200 and b'"ok"' in body


def test_policy_error_refuses_to_start_with_file_and_line(tmp_path):
    s = Site(tmp_path / "bad")
    s.write("edge4.yaml", "listener:\n  interface: EDGE-4\n  role: ecs\n  listen: 127.0.0.1:1\n"
            "  tls:\n    mode: tls-please\n  authz:\n    mode: none\n")
    p = subprocess.run([BIN, "serve", "--policies", str(s.dir)], capture_output=True, timeout=10)
    assert p.returncode == 2
    err = p.stderr.decode()
    assert f"{s.dir}/edge4.yaml:6: listener.tls.mode:" in err, err
    assert "tls-please" in err
    assert b'"event":"policy_error"' in p.stdout


@pytest.mark.parametrize("module,section,other", [("sim-ausf", "sim.ausf", "aanf"),
                                                   ("sim-aanf", "sim.aanf", "ausf")])
def test_a_simulated_peer_without_its_site_section_refuses_to_start(tmp_path, module, section,
                                                                     other):
    """A simulated AUSF or AAnF mounted without its subscribers section (another sim's
    section does not count) names what is missing and where."""
    s = Site(tmp_path / "sim")
    subs = s.dir / "subscribers"
    subs.write_text("001010000000001 " + "11" * 32 + "\n")
    s.write("site.yaml", site_block(s.dir) + f"sim:\n  {other}:\n    subscribers: {subs}\n")
    s.add("n12.yaml", interface="N12", port=free_port(), mode="mtls", role="sim",
          mount=f"[{module}]")
    p = subprocess.run([BIN, "serve", "--policies", str(s.dir)], capture_output=True, timeout=10)
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode != 0, out
    assert f'the {module} module needs \\"{section}\\" (subscribers) in {s.dir}/site.yaml' in out, out


def test_port_in_use_is_reported_and_exits_nonzero(tmp_path):
    import socket
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    s = Site(tmp_path / "busy")
    s.add("edge4.yaml", interface="EDGE-4", port=port, mode="server-cert", role="ecs")
    p = subprocess.run([BIN, "serve", "--policies", str(s.dir)], capture_output=True, timeout=10)
    blocker.close()
    assert p.returncode == 1
    assert b'"event":"listen_failed"' in p.stdout and b"address already in use" in p.stdout


def test_sigterm_drains_a_request_in_flight_and_exits_zero(site):
    port = free_port()
    site.add("edge4.yaml", interface="EDGE-4", port=port, mode="server-cert", role="ecs")
    site.start()
    idle = tls_client(port)
    busy = tls_client(port)
    # A request whose body is still arriving when SIGTERM comes: it must be answered.
    busy.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
    time.sleep(0.2)
    site.proc.send_signal(15)
    site.wait_log(lambda e: e.get("event") == "draining")
    busy.sendall(b"cd")
    status, headers, _ = read_response(busy)
    assert status == 405 and headers.get("connection") == "close"
    assert peer_closed(idle)
    assert site.proc.wait(timeout=10) == 0
    assert site.events("stopped")
