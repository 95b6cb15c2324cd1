"""TLS attacks, each refused with a TLS alert and a tls_handshake_failed line while the
listener goes on serving good clients: a client certificate from a rogue CA made here
(with the identity of a real client, and even the real CA's name), expired and revoked
certificates (certs/gen.sh), and PSK identity probing by timing. (The fixed rogue-eec
certificate, expired and revoked ones one at a time: test_tls.py.)"""

import datetime
import statistics
import subprocess
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import BIN, CA, CERTS, GET_WHOAMI, curl, demo_psk, free_port, s_client

import pathlib

LOAD = pathlib.Path(BIN).parent / "egw-psk-load"


def start_site(site):
    ports = {"mtls": free_port(), "psk": free_port()}
    site.add("edge6.yaml", interface="EDGE-6", port=ports["mtls"], mode="mtls", role="ecs",
             tls_extra="crl_check: true\n")
    site.add("edge1.yaml", interface="EDGE-1", port=ports["psk"], mode="psk", role="ees")
    site.start()
    return ports


def failures(site, interface):
    return [e for e in site.events("tls_handshake_failed") if e["interface"] == interface]


def good_client_served(port):
    rc, out = curl(f"https://localhost:{port}/whoami", "--cert", f"{CERTS}/ees1-client.pem",
                   "--key", f"{CERTS}/ees1-client.key")
    assert rc == 0 and "spiffe://site1/ees/ees1" in out, out


def make_rogue(tmp_path, ca_name):
    """A CA of our own named |ca_name| and a client certificate it signs for the real
    client identity spiffe://site1/ees/ees1."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ees1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier("spiffe://site1/ees/ees1")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem, kpem = tmp_path / "rogue.pem", tmp_path / "rogue.key"
    # The chain with the rogue CA: a client may send its CA along, it must not help.
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) +
                    ca.public_bytes(serialization.Encoding.PEM))
    kpem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return pem, kpem


def test_client_certificate_from_a_rogue_ca_is_refused(site, tmp_path):
    ports = start_site(site)
    rogue = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rogue Edge CA")])
    real = x509.load_pem_x509_certificate(pathlib.Path(CA).read_bytes()).subject
    for name in (rogue, real):  # a stranger, then an impostor of the real CA's name
        pem, key = make_rogue(tmp_path, name)
        rc, out = s_client(ports["mtls"], ["-cert", str(pem), "-key", str(key)], stdin=GET_WHOAMI)
        assert "HTTP/1.1" not in out, out
        assert rc != 0 or "alert" in out, out
    fails = failures(site, "EDGE-6")
    assert len(fails) == 2, fails
    assert fails[0]["alert"] == "unknown_ca"
    assert fails[1]["alert"] in ("unknown_ca", "decrypt_error", "bad_certificate"), fails[1]
    good_client_served(ports["mtls"])


def test_expired_and_revoked_certificates_are_refused_and_good_clients_still_served(site):
    ports = start_site(site)
    for name, alert in (("eec-expired", "certificate_expired"), ("eec-revoked", "certificate_revoked")):
        rc, out = curl(f"https://localhost:{ports['mtls']}/whoami",
                       "--cert", f"{CERTS}/{name}.pem", "--key", f"{CERTS}/{name}.key")
        assert rc != 0, out
        assert failures(site, "EDGE-6")[-1]["alert"] == alert
        good_client_served(ports["mtls"])


def refusal_ms(port, keys):
    """Wall time of one refused handshake made by a fresh egw-psk-load (the process start
    is the same on both sides and cancels out of the difference)."""
    t0 = time.perf_counter()
    p = subprocess.run([str(LOAD), "--port", str(port), "--keys", str(keys), "--timeout-ms", "5000"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    took = (time.perf_counter() - t0) * 1000
    out = p.stdout.decode()
    assert p.returncode != 0 and "ok=0 failed=1" in out, out
    return took


def test_psk_identity_probing_shows_no_timing_difference(site, tmp_path):
    """A prober sends the ClientKeyExchange with a known identity (wrong key) or an
    unknown one and times the refusal. Both are answered at the same point of the
    handshake (the client's first flight after ServerHelloDone), so the only difference
    is the key derivation for the known id: microseconds against a handshake of about a
    millisecond. Noise bound: 40 probes per side, alternating (so load changes hit both
    sides alike); the medians may differ by at most max(1 ms, 25 % of the faster median,
    the larger interquartile range): on a loaded 2-core machine single probes move by
    tens of percent, and an identity oracle worth the name (a key fetch, a disk read, a
    sleep) costs milliseconds per handshake."""
    assert LOAD.exists(), f"{LOAD} not built"
    ports = start_site(site)
    identity, key = demo_psk()
    wrong = "00" * 32
    known, unknown = tmp_path / "known.txt", tmp_path / "unknown.txt"
    known.write_text(f"{identity} {wrong}\n")
    unknown.write_text(f"probe-no-such-id {wrong}\n")
    refusal_ms(ports["psk"], known)  # warm up both paths
    refusal_ms(ports["psk"], unknown)
    k, u = [], []
    for _ in range(40):
        k.append(refusal_ms(ports["psk"], known))
        u.append(refusal_ms(ports["psk"], unknown))
    mk, mu = statistics.median(k), statistics.median(u)

    def iqr(xs):
        q = statistics.quantiles(xs, n=4)
        return q[2] - q[0]

    bound = max(1.0, 0.25 * min(mk, mu), iqr(k), iqr(u))
    print(f"known {mk:.3f} ms, unknown {mu:.3f} ms per refused handshake, bound {bound:.3f} ms")
    assert abs(mk - mu) <= bound, (k, u)
    # Both refusals were logged, without the key.
    reasons = {e["reason"] for e in failures(site, "EDGE-1")}
    assert "unknown PSK identity" in reasons and len(reasons) >= 2, reasons
    assert wrong not in site.log_path.read_text()
    rc, out = s_client(ports["psk"], ["-tls1_2", "-psk_identity", identity, "-psk", key],
                       stdin=GET_WHOAMI)
    assert "HTTP/1.1 200" in out, out
