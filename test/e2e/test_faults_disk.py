"""Disk full during an EES registration: the state directory is a small tmpfs (mounted
here, as root, and unmounted afterwards) filled to the last byte while the server runs.
The registration gets 503 ProblemDetails, the server goes on serving, and once space is
back a registration works; after a restart the refused one is absent and the others are
there."""

import json
import os
import subprocess

import pytest

from test_ees import AC, EEC1, EECREG, api, is_problem, register_eec
from test_faults_store import ees, present  # noqa: F401 (fixture)


@pytest.fixture
def small_state(tmp_path):
    state = tmp_path / "s1" / "state"
    state.mkdir(parents=True)
    assert os.geteuid() == 0, "mounting a tmpfs needs root (CI and developers run as root)"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(state)], check=True)
    yield state
    subprocess.run(["umount", "-l", str(state)], check=False)


def fill(path):
    """Writes a filler file until the filesystem is full; returns it."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_disk_full_during_a_registration_is_503_and_leaves_nothing(small_state, ees):
    s = ees
    try:
        token = s.eec_token()
        _, before = register_eec(s.port["edge1"], token, ueId="before")
        filler = fill(small_state)
        r = api(s.port["edge1"], "POST", EECREG, {"eecId": EEC1, "acProfs": [AC], "ueId": "disk-full"},
                token=token)
        problem = is_problem(r, 503)
        assert problem.get("detail"), problem
        failed = s.site.wait_log(lambda e: e.get("event") == "store_write_failed")
        assert "full" in failed["error"].lower(), failed
        stored = s.site.wait_log(lambda e: e.get("event") == "ees_stored" and not e["durable"])
        assert stored["level"] == "error"
        assert api(s.port["edge1"], "GET", "/healthz").status == 200
        filler.unlink()
        _, after = register_eec(s.port["edge1"], token, ueId="after")
    finally:
        assert s.stop() == 0
    s.start()
    try:
        loaded = {e["kind"]: e["count"] for e in s.site.events("records_loaded")}
        assert loaded["ees.eec"] == 2, loaded
        for reg, ue in ((before, "before"), (after, "after")):
            r = present(s, token, reg)
            assert r.status == 200 and r.json["ueId"] == ue, r
    finally:
        assert s.stop() == 0
