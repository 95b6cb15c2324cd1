"""The audit trail: one JSON line per authorization decision, where the policy says,
and never the token."""

import json
import time

from conftest import free_port, listener_yaml, request, tls_client
from test_tokens import AUD, claims, sign, site_yaml

RULES = (f"mode: token\naudience: {AUD}\nrules:\n"
         "  - path: /healthz\n    allow: any\n"
         "  - path: /whoami\n    methods: [GET]\n    scope: [eees-whoami]")


def start(site, audit_file):
    p = {"ees": free_port(), "quiet": free_port(), "logged": free_port(), "ecs": free_port()}
    site.write("site.yaml", site_yaml(site.dir).replace(
        "  drain_timeout_ms: 3000\n", f"  drain_timeout_ms: 3000\n  audit:\n    file: {audit_file}\n"))
    site.add("edge9.yaml", interface="EDGE-9", port=p["ees"], mode="mtls", role="ees", authz=RULES)
    site.write("quiet.yaml", listener_yaml("quiet", p["quiet"], "mtls", authz=RULES)
               + "  audit:\n    stream: off\n")
    site.write("logged.yaml", listener_yaml("logged", p["logged"], "mtls", authz=RULES)
               + "  audit:\n    stream: log\n")
    site.start()
    return p


def get(port, path, token=None):
    with tls_client(port, cert="ees1-client") as s:
        return request(s, "GET", path,
                       headers={"Authorization": f"Bearer {token}"} if token else None)[0]


def audit_lines(path, n, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= n:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)
    raise AssertionError(f"{n} audit lines not written in {timeout}s: {path.read_text()}")


def test_decisions_go_to_the_policy_file_without_the_token(site, tmp_path):
    audit_file = tmp_path / "audit.log"
    p = start(site, audit_file)
    token = sign(claims())
    bad = sign(claims(aud="someone.else"))
    assert get(p["ees"], "/whoami", token) == 200
    assert get(p["ees"], "/whoami", bad) == 401
    assert get(p["ees"], "/whoami") == 401
    assert get(p["quiet"], "/whoami", token) == 200
    assert get(p["logged"], "/whoami", token) == 200

    lines = audit_lines(audit_file, 3)
    time.sleep(0.3)
    lines = audit_lines(audit_file, 3)
    assert len(lines) == 3, lines  # quiet is off, logged goes to the log
    allow, wrong_aud, missing = lines
    assert allow["event"] == "authz" and allow["decision"] == "allow"
    assert (allow["interface"], allow["provider"], allow["route"], allow["method"]) == \
        ("EDGE-9", "token", "/whoami", "GET")
    assert allow["peer"] == "spiffe://site1/ees/ees1" and allow["subject"] == "spiffe://site1/ees/ees1"
    assert allow["reason"] == "token valid for this route"
    assert allow["time"].endswith("Z") and len(allow["time"]) == 24
    assert wrong_aud["decision"] == "deny" and wrong_aud["status"] == 401
    assert "aud" in wrong_aud["reason"]
    assert missing["decision"] == "deny" and missing["reason"] == "a Bearer access token is required"
    text = audit_file.read_text()
    for t in (token, bad):
        assert t not in text and t.split(".")[2] not in text and t.split(".")[1] not in text
    # The file is the audit trail of EDGE-9: its decisions are not in the log too.
    logged = site.events("authz")
    assert [e["interface"] for e in logged] == ["logged"]
    assert token not in site.log_path.read_text()


def test_unwritable_audit_file_is_a_policy_error(site, tmp_path):
    site.write("site.yaml", site_yaml(site.dir).replace(
        "  drain_timeout_ms: 3000\n", "  drain_timeout_ms: 3000\n  audit:\n    file: /nonexistent/dir/a.log\n"))
    site.add("edge9.yaml", interface="EDGE-9", port=free_port(), mode="mtls", role="ees", authz=RULES)
    import subprocess
    r = subprocess.run(site.command(), capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "site.yaml:" in r.stdout + r.stderr and "site.audit.file" in r.stdout + r.stderr
