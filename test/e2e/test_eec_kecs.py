"""The EEC client's KECS-PSK flow: `edgegw eec call --auth kecs --msk HEX` asks the ECS for a
counter over mutual TLS (kecs-counter), derives KECS-PSK from the MSK, the ECS id and the
counter, then opens TLS 1.2 PSK as "kecs:<eecId>:<counter>" and GETs /whoami (psk-call).
The site is test_psk_kecs's (sim-dnaaa behind the ECS's ecs.kecs); the key the ECS must
hold is computed here with Python's hmac."""

import json
import subprocess

from conftest import BIN, ROOT
from test_psk_kecs import EEC_ID, MSK, kecs_psk, start


def eec(*args, timeout=60):
    p = subprocess.run([BIN, "eec", *args], capture_output=True, timeout=timeout, cwd=ROOT)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def kecs_args(ports, msk_hex, *extra):
    return ["--ecs", f"https://127.0.0.1:{ports['edge4']}", "--psk-url",
            f"https://127.0.0.1:{ports['psk']}", "--eec-id", EEC_ID, "--msk", msk_hex, *extra]


def test_eec_call_with_kecs(site):
    ports = start(site)
    rc, out, err = eec("call", "--auth", "kecs", "--json", *kecs_args(ports, MSK.hex()))
    assert rc == 0, out + err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(s["step"], s["status"]) for s in lines] == [("kecs-counter", 201), ("psk-call", 200)]
    counter = lines[0]["body"]["kecsCounter"]
    identity = f"kecs:{EEC_ID}:{counter}"
    assert lines[1]["body"]["peer"] == {"kind": "psk", "id": identity}, lines[1]
    assert MSK.hex() not in out + err and kecs_psk(counter).hex() not in out + err
    # A wrong MSK: the counter comes, the handshake fails, exit 1.
    rc, out, err = eec("call", "--auth", "kecs", "--json", *kecs_args(ports, "22" * 64))
    assert rc == 1, out + err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(s["step"], s["status"]) for s in lines] == [("kecs-counter", 201), ("psk-call", 0)]
    assert lines[1]["error"] == "the TLS-PSK handshake failed", lines[1]
    # provision stops after the counter (readable output names the identity).
    rc, out, err = eec("provision", "--auth", "kecs", *kecs_args(ports, MSK.hex()))
    assert rc == 0 and "kecs-counter" in out and f"kecs:{EEC_ID}:" in out, out + err
    assert "psk-call" not in out


def test_eec_kecs_refused_and_bad_options(site):
    ports = start(site)
    # An eecId the certificate (eec1) does not prove: 403, no PSK attempt, exit 1.
    args = kecs_args(ports, MSK.hex())
    args[args.index(EEC_ID)] = "spiffe://site1/eec/other"
    rc, out, err = eec("call", "--auth", "kecs", "--json", *args)
    assert rc == 1, out + err
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert line["step"] == "kecs-counter" and line["status"] == 403, line
    # Usage errors: exit 2 with a message.
    rc, out, err = eec("call", "--auth", "kecs")
    assert rc == 2 and "needs --msk" in err, err
    rc, out, err = eec("call", "--auth", "kecs", *kecs_args(ports, "ab" * 31))
    assert rc == 2 and "--msk must be 64 to 128 hex digits" in err, err
    rc, out, err = eec("call", "--auth", "kecs", *kecs_args(ports, "zz" * 32))
    assert rc == 2 and "--msk must be 64 to 128 hex digits" in err, err
    rc, out, err = eec("call", "--msk", MSK.hex())
    assert rc == 2 and "--msk goes with --auth kecs" in err, err
    rc, out, err = eec("deregister", "--auth", "kecs", "--msk", MSK.hex(), "--registration", "x")
    assert rc == 2 and "goes with provision or call" in err, err
