"""The appliance: the systemd unit (verified by systemd-analyze when the machine has it,
and its essential keys checked in any case) and the Type=notify readiness protocol
spoken by the real binary."""

import shutil
import socket
import subprocess

import pytest

from conftest import BIN, ROOT, free_port

UNIT = ROOT / "packaging" / "systemd" / "edgegw.service"


def unit_keys():
    keys = {}
    section = None
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        k, _, v = line.partition("=")
        keys.setdefault((section, k), []).append(v)
    return keys


def test_unit_declares_notify_reload_and_hardening():
    k = unit_keys()
    assert k[("Service", "Type")] == ["notify"]
    assert k[("Service", "ExecStart")] == ["/usr/bin/edgegw serve --policies /etc/edgegw/policies"]
    assert k[("Service", "ExecReload")] == ["/bin/kill -HUP $MAINPID"]
    assert k[("Service", "DynamicUser")] == ["yes"]
    assert k[("Service", "NoNewPrivileges")] == ["yes"]
    assert k[("Service", "ProtectSystem")] == ["strict"]
    assert k[("Service", "CapabilityBoundingSet")] == [""]
    assert "/var/lib/edgegw" in k[("Service", "ReadWritePaths")][0].split()
    assert k[("Service", "StateDirectory")] == ["edgegw"]
    assert k[("Install", "WantedBy")] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_unit_passes_systemd_analyze_verify(tmp_path):
    # The binary is not installed in /usr/bin on a build machine: point at the built one.
    unit = tmp_path / "edgegw.service"
    unit.write_text(UNIT.read_text().replace("/usr/bin/edgegw", BIN))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stderr


def test_ready_and_stopping_are_sent_to_notify_socket(site, tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    site.add("edge6.yaml", interface="EDGE-6", port=free_port(), mode="mtls", role="ecs")
    site.start()
    assert sock.recv(256) == b"READY=1"
    assert site.stop() == 0
    assert sock.recv(256) == b"STOPPING=1"
    sock.close()
