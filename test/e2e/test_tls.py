"""The three TLS modes against real peers: curl and openssl s_client."""

import re

from conftest import CERTS, GET_WHOAMI, curl, demo_psk, free_port, s_client


def start_site(site, crl_check=True):
    ports = {"cert": free_port(), "mtls": free_port(), "psk": free_port()}
    site.add("edge4.yaml", interface="EDGE-4", port=ports["cert"], mode="server-cert", role="ecs")
    site.add("edge6.yaml", interface="EDGE-6", port=ports["mtls"], mode="mtls", role="ecs",
             tls_extra="crl_check: true\n" if crl_check else "")
    site.add("edge1.yaml", interface="EDGE-1", port=ports["psk"], mode="psk", role="ees")
    site.start()
    return ports


def failures(site, interface):
    return [e for e in site.events("tls_handshake_failed") if e["interface"] == interface]


# ---- server-cert -------------------------------------------------------------------------

def test_server_cert_serves_a_verifying_client_over_tls13(site):
    ports = start_site(site)
    rc, out = curl(f"https://localhost:{ports['cert']}/whoami", "-v")
    assert rc == 0, out
    assert '"tls":"server-cert"' in out and '"kind":"none"' in out
    assert "TLSv1.3" in out


def test_server_cert_tls12_client_gets_an_aead_suite(site):
    ports = start_site(site)
    rc, out = s_client(ports["cert"], ["-tls1_2"], stdin=GET_WHOAMI)
    assert rc == 0, out
    cipher = re.search(r"Cipher is (\S+)", out).group(1)
    assert "GCM" in cipher or "CHACHA20" in cipher, cipher
    assert '"tls":"server-cert"' in out


def test_server_cert_refuses_cbc_only_and_old_protocols(site):
    ports = start_site(site)
    rc, out = s_client(ports["cert"], ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"])
    assert rc != 0 and "handshake failure" in out, out
    rc, out = s_client(ports["cert"], ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
    assert rc != 0, out
    assert len(failures(site, "EDGE-4")) >= 2


# ---- mutual TLS ------------------------------------------------------------------------

def test_mtls_serves_the_right_certificate_with_its_identity(site):
    ports = start_site(site)
    rc, out = curl(f"https://localhost:{ports['mtls']}/whoami",
                   "--cert", f"{CERTS}/ees1-client.pem", "--key", f"{CERTS}/ees1-client.key")
    assert rc == 0, out
    assert '"peer":{"kind":"uri","id":"spiffe://site1/ees/ees1"}' in out
    rc, out = curl(f"https://localhost:{ports['mtls']}/whoami",
                   "--cert", f"{CERTS}/cn-only.pem", "--key", f"{CERTS}/cn-only.key")
    assert '"kind":"cn","id":"cn-only-client"' in out, out


def test_mtls_refuses_a_client_without_certificate(site):
    ports = start_site(site)
    rc, out = s_client(ports["mtls"], [], stdin=GET_WHOAMI)
    assert "alert certificate required" in out, out
    assert "HTTP/1.1" not in out
    rc, out = curl(f"https://localhost:{ports['mtls']}/whoami")
    assert rc != 0 and "alert" in out, out
    f = failures(site, "EDGE-6")[0]
    assert f["reason"] == "no client certificate" and f["alert"] == "certificate_required"
    assert f["tls"] == "mtls" and f["peer_addr"].startswith("127.0.0.1:")


def test_mtls_refuses_a_certificate_from_another_ca(site):
    ports = start_site(site)
    rc, out = s_client(ports["mtls"], ["-cert", f"{CERTS}/rogue-eec.pem",
                                       "-key", f"{CERTS}/rogue-eec.key"], stdin=GET_WHOAMI)
    assert "alert unknown ca" in out, out
    assert "HTTP/1.1" not in out
    assert failures(site, "EDGE-6")[0]["alert"] == "unknown_ca"


def test_mtls_refuses_an_expired_certificate(site):
    ports = start_site(site)
    rc, out = curl(f"https://localhost:{ports['mtls']}/whoami",
                   "--cert", f"{CERTS}/eec-expired.pem", "--key", f"{CERTS}/eec-expired.key")
    assert rc != 0 and "certificate expired" in out, out
    f = failures(site, "EDGE-6")[0]
    assert f["alert"] == "certificate_expired" and "expired" in f["reason"]


def test_mtls_refuses_a_revoked_certificate_when_crls_are_checked(site):
    ports = start_site(site)
    rc, out = curl(f"https://localhost:{ports['mtls']}/whoami",
                   "--cert", f"{CERTS}/eec-revoked.pem", "--key", f"{CERTS}/eec-revoked.key")
    assert rc != 0 and "certificate revoked" in out, out
    assert failures(site, "EDGE-6")[0]["alert"] == "certificate_revoked"


def test_mtls_without_crl_check_accepts_the_revoked_certificate(site):
    ports = start_site(site, crl_check=False)
    rc, out = curl(f"https://localhost:{ports['mtls']}/whoami",
                   "--cert", f"{CERTS}/eec-revoked.pem", "--key", f"{CERTS}/eec-revoked.key")
    assert rc == 0 and '"kind":"uri"' in out, out


# ---- TLS-PSK ---------------------------------------------------------------------------

def test_psk_serves_the_right_key_with_chacha20_first(site):
    ports = start_site(site)
    identity, key = demo_psk()
    rc, out = s_client(ports["psk"], ["-tls1_2", "-psk_identity", identity, "-psk", key],
                       stdin=GET_WHOAMI)
    assert "ECDHE-PSK-CHACHA20-POLY1305" in out, out
    assert f'"peer":{{"kind":"psk","id":"{identity}"}}' in out, out
    assert '"tls":"psk"' in out


def test_psk_refuses_a_wrong_key(site):
    ports = start_site(site)
    identity, key = demo_psk()
    wrong = ("0" if key[0] != "0" else "1") + key[1:]
    rc, out = s_client(ports["psk"], ["-tls1_2", "-psk_identity", identity, "-psk", wrong],
                       stdin=GET_WHOAMI)
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert failures(site, "EDGE-1")


def test_psk_refuses_an_unknown_identity_and_logs_it_without_keys(site):
    ports = start_site(site)
    identity, key = demo_psk()
    rc, out = s_client(ports["psk"], ["-tls1_2", "-psk_identity", "mallory", "-psk", key],
                       stdin=GET_WHOAMI)
    assert rc != 0 and "HTTP/1.1" not in out, out
    assert re.search(r"unknown.psk.identity", out, re.I), out
    f = failures(site, "EDGE-1")[0]
    assert f["reason"] == "unknown PSK identity" and f["psk_identity"] == "mallory"
    assert f["alert"] == "unknown_psk_identity"
    assert key not in site.log_path.read_text()


def test_a_refused_handshake_does_not_disturb_other_listeners(site):
    ports = start_site(site)
    for _ in range(5):
        s_client(ports["mtls"], ["-cert", f"{CERTS}/rogue-eec.pem", "-key", f"{CERTS}/rogue-eec.key"])
    rc, out = curl(f"https://localhost:{ports['cert']}/healthz")
    assert rc == 0 and '"ok"' in out
