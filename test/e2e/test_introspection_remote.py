"""Remote mode: a resource server that asks the token's issuer (RFC 7662) instead of
verifying locally, here the site's own ECS over mutual TLS, and opaque tokens sent to the
issuer named for them."""

import time

from conftest import CERTS, free_port, request, site_block, tls_client
from test_tokens import AUD, ECS_ID, form_post, get_token


def start(site, introspection_port=None):
    ecs, ees = free_port(), free_port()
    introspection_port = introspection_port or ecs
    site.write("site.yaml", site_block(site.dir) + f"""tokens:
  client:
    cert: {CERTS}/ees1-client.pem
    key: {CERTS}/ees1-client.key
  issuers:
    - id: {ECS_ID}
      local: true
      introspection_uri: https://127.0.0.1:{introspection_port}/oauth2/introspect
ecs:
  id: {ECS_ID}
  signing_keys:
    - kid: ecs-k1
      key: {CERTS}/jwt-es256-k1.key
  clients:
    - id: spiffe://site1/ees/*
      scopes: [eees-whoami]
      audiences: any
""")
    site.add("edge6.yaml", interface="EDGE-6", port=ecs, mode="mtls", role="ecs",
             mount="[health, ecs]",
             authz="mode: static\nrules:\n  - path: /oauth2/\n    allow: [spiffe://site1/ees/*]")
    site.add("edge9.yaml", interface="EDGE-9", port=ees, mode="mtls", role="ees",
             authz=f"mode: token\naudience: {AUD}\nremote: true\nremote_cache_s: 1\n"
                   f"opaque_issuer: {ECS_ID}\nrules:\n  - path: /whoami\n    scope: [eees-whoami]")
    site.start()
    return ecs, ees


def whoami(port, tok):
    with tls_client(port, cert="ees1-client") as s:
        return request(s, path="/whoami", headers={"Authorization": f"Bearer {tok}"})


def test_remote_mode_asks_the_issuer_and_sees_a_revocation(site):
    ecs, ees = start(site)
    token = get_token(ecs)[2]["access_token"]
    status, _, body = whoami(ees, token)
    assert status == 200, body
    assert whoami(ees, token)[0] == 200  # from the remote-answer cache
    assert form_post(ecs, "/oauth2/revoke", {"token": token})[0] == 200
    time.sleep(2.2)  # remote_cache_s: 1 (whole seconds: the answer may live into the next)
    status, headers, _ = whoami(ees, token)
    assert status == 401 and "invalid_token" in headers["www-authenticate"]
    # The introspection calls went to the ECS listener as the ees1 client (mTLS).
    calls = [e for e in site.events("authz")
             if e["interface"] == "EDGE-6" and e["path"] == "/oauth2/introspect"]
    assert len(calls) == 2 and all(c["decision"] == "allow" for c in calls)


def test_opaque_token_is_refused_when_the_issuer_does_not_know_it(site):
    ecs, ees = start(site)
    status, headers, _ = whoami(ees, "opaque-entitlement-token-123")
    assert status == 401 and "invalid_token" in headers["www-authenticate"]


def test_unreachable_issuer_fails_closed_and_is_logged(site):
    ecs, ees = start(site, introspection_port=free_port())  # nothing listens there
    token = get_token(ecs)[2]["access_token"]
    status, headers, _ = whoami(ees, token)
    assert status == 401 and "invalid_token" in headers["www-authenticate"]
    failed = site.wait_log(lambda e: e.get("event") == "introspection_failed")
    assert failed["error"] == "connection refused"
    assert token not in site.log_path.read_text()
