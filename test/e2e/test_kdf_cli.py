"""edgegw kdf kedge | akma | kecs: outputs equal the SPEC-NOTES formulas computed here with
Python's hmac (not by our code); usage errors exit 2 and name the option."""

import hashlib
import hmac
import subprocess

import pytest

from conftest import BIN

KAUSF = bytes(range(32))
SUPI = "262019876543210"


def kdf(key, fc, *params):
    """TS 33.220 Annex B.2: S = FC || P0 || L0 || P1 || L1 ...; HMAC-SHA-256(key, S)."""
    s = bytes([fc])
    for p in params:
        s += p + len(p).to_bytes(2, "big")
    return hmac.new(key, s, hashlib.sha256).digest()


def run(*args):
    p = subprocess.run([BIN, "kdf", *args], capture_output=True, timeout=10)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def fields(out):
    return dict(line.split(": ", 1) for line in out.strip().splitlines())


def test_kedge_defaults():
    rc, out, err = run("kedge", "--kausf", KAUSF.hex(), "--supi", SUPI)
    assert rc == 0, err
    f = fields(out)
    assert f["kedge"] == kdf(KAUSF, 0xE0, b"EDGE", SUPI.encode()).hex()
    tid = kdf(KAUSF, 0xE1, b"E-TID", SUPI.encode())
    # MCC 262 and MNC 01 (padded to 001) from the SUPI; routing indicator 0.
    assert f["kedge-id"] == f"0.{tid[:16].hex()}@5gc.mnc001.mcc262.3gppnetwork.org"


def test_kedge_rid_mcc_mnc():
    rc, out, err = run("kedge", "--kausf", KAUSF.hex().upper(), "--supi", SUPI, "--rid", "42",
                       "--mcc", "310", "--mnc", "410")
    assert rc == 0, err
    tid = kdf(KAUSF, 0xE1, b"E-TID", SUPI.encode())
    assert fields(out)["kedge-id"] == f"42.{tid[:16].hex()}@5gc.mnc410.mcc310.3gppnetwork.org"


@pytest.mark.parametrize("proto,ua", [(["--cipher", "0xC0A7"], b"\x01\x00\x01\xc0\xa7"),
                                      (["--tls13"], b"\x01\x00\x00\x00\x07")])
def test_akma(proto, ua):
    rc, out, err = run("akma", "--kausf", KAUSF.hex(), "--supi", SUPI, "--af-fqdn",
                       "af1.example.com", *proto)
    assert rc == 0, err
    f = fields(out)
    k_akma = kdf(KAUSF, 0x80, b"AKMA", SUPI.encode())
    a_tid = kdf(KAUSF, 0x81, b"A-TID", SUPI.encode())
    assert f["k-akma"] == k_akma.hex()
    assert f["a-tid"] == a_tid.hex()
    assert f["a-kid"] == f"0.{a_tid.hex()}@5gc.mnc001.mcc262.3gppnetwork.org"
    assert f["k-af"] == kdf(k_akma, 0x82, b"af1.example.com" + ua).hex()


def test_kecs():
    msk = bytes(range(100, 164))
    rc, out, err = run("kecs", "--msk", msk.hex(), "--ecs-id", "ecs1.site1.example",
                       "--counter", "4294967295")
    assert rc == 0, err
    expect = kdf(msk[:32], 0xE2, b"ecs1.site1.example", (4294967295).to_bytes(4, "big"))
    assert fields(out) == {"kecs-psk": expect.hex()}


@pytest.mark.parametrize("args,needle", [
    ([], "usage:"),
    (["frobnicate"], "unknown derivation"),
    (["kedge"], "usage:"),
    (["kedge", "--kausf", KAUSF.hex()], "usage:"),
    (["kedge", "--kausf", KAUSF.hex(), "--supi"], "missing value for '--supi'"),
    (["kedge", "--kausf", "zz" * 32, "--supi", SUPI], "--kausf"),
    (["kedge", "--kausf", KAUSF.hex()[:-2], "--supi", SUPI], "--kausf"),
    (["kedge", "--kausf", KAUSF.hex(), "--supi", "1234"], "--supi"),
    (["kedge", "--kausf", KAUSF.hex(), "--supi", "imsi-" + SUPI], "--supi"),
    (["kedge", "--kausf", KAUSF.hex(), "--supi", SUPI, "--mnc", "1"], "--mnc"),
    (["kedge", "--kausf", KAUSF.hex(), "--supi", SUPI, "--mcc", "2620"], "--mcc"),
    (["kedge", "--kausf", KAUSF.hex(), "--supi", SUPI, "--rid", "12345"], "--rid"),
    (["kedge", "--kausf", KAUSF.hex(), "--supi", SUPI, "--bogus"], "unexpected argument"),
    (["akma", "--kausf", KAUSF.hex(), "--supi", SUPI, "--af-fqdn", "af"], "--tls13"),
    (["akma", "--kausf", KAUSF.hex(), "--supi", SUPI, "--af-fqdn", "af", "--tls13",
      "--cipher", "0xC0A7"], "exactly one"),
    (["akma", "--kausf", KAUSF.hex(), "--supi", SUPI, "--af-fqdn", "af", "--cipher",
      "0x1C0A7"], "--cipher"),
    (["kecs", "--msk", "00" * 31, "--ecs-id", "e", "--counter", "1"], "--msk"),
    (["kecs", "--msk", "00" * 32, "--ecs-id", "e", "--counter", "4294967296"], "--counter"),
    (["kecs", "--msk", "00" * 32, "--ecs-id", "e", "--counter", "-1"], "--counter"),
    (["kecs", "--msk", "00" * 32, "--ecs-id", "e"], "usage:"),
])
def test_usage_errors_exit_2(args, needle):
    rc, out, err = run(*args)
    assert rc == 2
    assert out == ""
    assert needle in err


def test_help():
    rc, out, _ = run("--help")
    assert rc == 0 and "edgegw kdf kedge" in out
