"""The server under valgrind memcheck through a mix of good and bad traffic on every TLS
mode: no invalid access, no leak, clean exit on SIGTERM."""

from conftest import (CERTS, GET_WHOAMI, Site, curl, demo_psk, free_port, read_response, request,
                      s_client, tls_client)
from test_jwks_fetch import PEER, JwksServer, jwk_of
from test_tokens import AUD, ECS_ID, EES1, form_post, get_token, site_yaml, whoami


def peer_signed(key_name, kid, aud):
    import time

    import jwt
    now = int(time.time())
    c = {"iss": PEER, "sub": EES1, "aud": aud, "scope": "eees-whoami", "iat": now,
         "exp": now + 300}
    return jwt.encode(c, (CERTS / f"{key_name}.key").read_bytes(), algorithm="ES256",
                      headers={"kid": kid})


def test_memcheck_clean_through_good_and_bad_traffic(tmp_path):
    site = Site(tmp_path / "policies", valgrind=True)
    cert, mtls, psk = free_port(), free_port(), free_port()
    site.add("edge4.yaml", interface="EDGE-4", port=cert, mode="server-cert", role="ecs",
             limits="header_bytes: 2048\nheader_timeout_ms: 2000")
    site.add("edge6.yaml", interface="EDGE-6", port=mtls, mode="mtls", role="ecs",
             tls_extra="crl_check: true\n",
             authz="mode: static\nrules:\n  - path: /whoami\n    allow: [spiffe://site1/ees/*]")
    site.add("edge1.yaml", interface="EDGE-1", port=psk, mode="psk", role="ees")
    # Tokens: the ECS issues, a resource server verifies (cache miss, hit, forged,
    # revoked), the revocation goes through the store's worker thread.
    ecs, ees = free_port(), free_port()
    # A peer issuer whose keys are fetched over HTTPS (the outbound client, a request
    # waiting for the fetch).
    jwks_server = JwksServer()
    jwks_server.keys = [jwk_of("jwt-es256-k2", "peer-a")]
    # The ECS is also asked by a resource server in remote mode (RFC 7662), as ees1.
    remote = free_port()
    site.write("site.yaml", site_yaml(site.dir).replace(
        "tokens:\n  issuers:\n",
        f"tokens:\n  client:\n    cert: {CERTS}/ees1-client.pem\n    key: {CERTS}/ees1-client.key\n"
        f"  issuers:\n    - id: {PEER}\n      jwks_uri: "
        f"https://127.0.0.1:{jwks_server.port}/jwks\n      jwks_refresh_min_s: 1\n").replace(
        "      local: true\n",
        f"      local: true\n      introspection_uri: https://127.0.0.1:{ecs}/oauth2/introspect\n"))
    site.add("edge10.yaml", interface="EDGE-10", port=remote, mode="mtls", role="ees",
             authz=f"mode: token\naudience: {AUD}\nremote: true\nissuers: [{ECS_ID}]\n"
                   "rules:\n  - path: /whoami\n    scope: [eees-whoami]")
    site.add("edge7.yaml", interface="EDGE-7", port=ecs, mode="mtls", role="ecs",
             mount="[health, ecs]",
             authz="mode: static\nrules:\n  - path: /\n    allow: [spiffe://site1/ees/*]")
    site.add("edge9.yaml", interface="EDGE-9", port=ees, mode="mtls", role="ees",
             authz=f"mode: token\naudience: {AUD}\nrules:\n  - path: /whoami\n    scope: [eees-whoami]")
    site.start(timeout=30)
    try:
        with tls_client(cert) as s:
            assert request(s)[0] == 200
            s.sendall(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /whoami HTTP/1.1\r\nHost: a\r\n\r\n")
            assert read_response(s, timeout=20)[0] == 404
            assert read_response(s, timeout=20)[0] == 200
            s.sendall(b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"3\r\nabc\r\n0\r\n\r\n")
            assert read_response(s, timeout=20)[0] == 405
            assert request(s, headers={"X-Big": "b" * 3000})[0] == 431
        with tls_client(cert) as s:
            s.sendall(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
            assert read_response(s, timeout=20)[0] == 400
        slow = tls_client(cert)
        slow.sendall(b"GET /healthz HTTP/1.1\r\n")
        assert read_response(slow, timeout=20)[0] == 408
        slow.close()
        for who in ("ees1-client", "eec1", "rogue-eec", "eec-revoked"):
            curl(f"https://localhost:{mtls}/whoami", "--cert", f"{CERTS}/{who}.pem",
                 "--key", f"{CERTS}/{who}.key", timeout=30)
        s_client(mtls, [], timeout=30)
        identity, key = demo_psk()
        rc, out = s_client(psk, ["-tls1_2", "-psk_identity", identity, "-psk", key],
                           stdin=GET_WHOAMI, timeout=30)
        assert "HTTP/1.1 200" in out, out
        s_client(psk, ["-tls1_2", "-psk_identity", "nobody", "-psk", key], timeout=30)
        token = get_token(ecs)[2]["access_token"]
        assert whoami(remote, token)[0] == 200
        assert whoami(remote, "opaque-token")[0] == 401
        assert whoami(ees, token)[0] == 200
        assert whoami(ees, token)[0] == 200
        assert whoami(ees, token[:-3] + "abc")[0] == 401
        assert form_post(ecs, "/oauth2/introspect", {"token": token})[0] == 200
        assert form_post(ecs, "/oauth2/revoke", {"token": token})[0] == 200
        assert whoami(ees, token)[0] == 401
        peer_token = peer_signed("jwt-es256-k2", "peer-a", AUD)
        assert whoami(ees, peer_token)[0] == 200
        left_open = tls_client(cert)
        assert request(left_open)[0] == 200
    finally:
        rc = site.stop(timeout=30)
        jwks_server.stop()
    report = (site.dir / "valgrind.txt").read_text()
    assert rc == 0, f"exit {rc}\n{report}\n{site.log_path.read_text()}"
    assert "Invalid" not in report and "definitely lost" not in report, report
