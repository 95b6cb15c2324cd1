"""The EEC client's TLS-PSK flow (issue 5): `edgegw eec call --auth psk --supi --kausf`
derives Kedge and the Kedge-ID, sends the authentication request to the ECS over
server-certificate TLS (psk-auth), then opens TLS 1.2 PSK at the PSK listener and GETs
/whoami (psk-call). The site is test_psk_direct's (sim-ausf behind the ECS's ecs.ausf);
the expected Kedge-ID is computed here with Python's hmac."""

import json
import subprocess

from conftest import BIN, ROOT
from test_psk_direct import start, subscriber


def eec(*args, timeout=60):
    p = subprocess.run([BIN, "eec", *args], capture_output=True, timeout=timeout, cwd=ROOT)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def psk_args(ports, i, *extra):
    supi, kausf, _, _ = subscriber(i)
    return ["--ecs", f"https://127.0.0.1:{ports['edge4']}", "--psk-url",
            f"https://127.0.0.1:{ports['psk']}", "--supi", supi, "--kausf", kausf.hex(),
            "--eec-id", "eec-psk-1", *extra]


def test_eec_call_with_psk(site):
    ports, relay = start(site, relay=False)
    _, kausf, kedge, kedge_id = subscriber(1)
    rc, out, err = eec("call", "--auth", "psk", "--json", *psk_args(ports, 1))
    assert rc == 0, out + err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(s["step"], s["status"]) for s in lines] == [("psk-auth", 200), ("psk-call", 200)]
    assert lines[0]["body"]["kedgeId"] == kedge_id and lines[0]["body"]["eecId"] == "eec-psk-1"
    assert lines[1]["body"]["peer"] == {"kind": "psk", "id": kedge_id}, lines[1]
    assert kedge.hex() not in out + err and kausf.hex() not in out + err
    # Readable output names the Kedge-ID; provision stops after psk-auth.
    rc, out, err = eec("provision", "--auth", "psk", *psk_args(ports, 1))
    assert rc == 0 and "psk-auth" in out and kedge_id in out and "psk-call" not in out, out + err


def test_eec_psk_unknown_subscriber_and_bad_options(site):
    ports, relay = start(site, relay=False)
    # A subscriber the AUSF does not know: 404 at psk-auth, no PSK attempt, exit 1.
    rc, out, err = eec("call", "--auth", "psk", "--json", *psk_args(ports, 7))
    assert rc == 1, out + err
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert line["step"] == "psk-auth" and line["status"] == 404, line
    assert line["body"]["cause"] == "KEDGE_ID_NOT_FOUND", line
    # Usage errors: exit 2 with a message.
    rc, out, err = eec("call", "--auth", "psk", "--supi", "262011")
    assert rc == 2 and "--kausf" in err, err
    rc, out, err = eec("call", "--auth", "psk", *psk_args(ports, 1)[:-2], "--kausf", "zz")
    assert rc == 2 and "--kausf must be 64 hex digits" in err, err
    rc, out, err = eec("call", "--supi", "26201")
    assert rc == 2 and "go with --auth psk" in err, err
