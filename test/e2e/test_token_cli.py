"""edgegw token issue | inspect | verify, and a CLI-issued token used on a listener."""

import json
import subprocess

import jwt

from conftest import BIN, Site, free_port, request, tls_client
from test_tokens import AUD, ECS_ID, EES1, site_yaml


def run(*args):
    p = subprocess.run([BIN, "token", *args], capture_output=True, timeout=10)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def make_site(tmp_path):
    s = Site(tmp_path / "policies")
    s.write("site.yaml", site_yaml(s.dir))
    s.port = free_port()
    s.add("edge9.yaml", interface="EDGE-9", port=s.port, mode="mtls", role="ees",
          authz=f"mode: token\naudience: {AUD}\nrules:\n  - path: /whoami\n    scope: [eees-whoami]")
    return s


def test_issue_inspect_verify(tmp_path):
    s = make_site(tmp_path)
    rc, out, err = run("issue", "--policies", str(s.dir), "--sub", EES1, "--aud", AUD,
                       "--scope", "eees-whoami", "--ttl", "120")
    assert rc == 0, err
    token = out.strip()
    c = jwt.decode(token, options={"verify_signature": False})
    assert (c["iss"], c["sub"], c["aud"], c["scope"]) == (ECS_ID, EES1, AUD, "eees-whoami")
    assert c["exp"] - c["iat"] == 120
    assert jwt.get_unverified_header(token)["kid"] == "ecs-k2"

    rc, out, _ = run("inspect", token)
    shown = json.loads(out)
    assert rc == 0 and shown["verified"] is False and shown["payload"]["sub"] == EES1

    rc, out, _ = run("verify", token, "--policies", str(s.dir), "--aud", AUD)
    assert rc == 0 and out.startswith("valid: iss=ecs.site1.example sub=" + EES1)
    rc, out, _ = run("verify", token, "--policies", str(s.dir), "--aud", "someone-else")
    assert rc == 1 and out.startswith("invalid:")
    rc, out, _ = run("verify", token[:-4] + "AAAA", "--policies", str(s.dir))
    assert rc == 1 and "signature" in out


def test_cli_token_is_accepted_by_a_resource_server(tmp_path):
    s = make_site(tmp_path)
    rc, out, err = run("issue", "--policies", str(s.dir), "--sub", EES1, "--aud", AUD,
                       "--scope", "eees-whoami")
    assert rc == 0, err
    s.start()
    try:
        with tls_client(s.port, cert="ees1-client") as c:
            status, _, body = request(c, path="/whoami",
                                      headers={"Authorization": "Bearer " + out.strip()})
            assert status == 200, body
    finally:
        assert s.stop() == 0


def test_usage_and_policy_errors_exit_2(tmp_path):
    assert run("issue", "--sub", "x")[0] == 2
    assert run("frobnicate")[0] == 2
    rc, _, err = run("issue", "--policies", str(tmp_path / "missing"), "--sub", "a", "--aud", "b",
                     "--scope", "c")
    assert rc == 2 and "edgegw:" in err
