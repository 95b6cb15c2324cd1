"""Harness for the EDGEAPP end-to-end tests: N edge sites on loopback, each an ECS and an
EES process (site 1 also an EAS sidecar in front of a Python upstream), with complete
policy directories written from the keys in the issue 4 brief, ports chosen free at run
time. Traffic between the processes goes through recording TLS proxies (same server and
client certificates as the real peer, so identities and certificate-bound tokens are
unchanged) so that the tests can validate the bodies the processes send each other.
Clients, proxies and the upstream are in edgeapp_http.py.

Layout of site i (ids from certs/gen.sh; tmp dir per node):
  ecs{i}  EDGE-4 mtls (the EEC's certificate proves its eecId), authz none, [health, ecs-provisioning]
          EDGE-6 mtls, static,            [health, whoami, ecs, ecs-registration]
  ees{i}  EDGE-1 mtls, token (aud ees{i}, sub_is_peer false), [health, ees-eec]
          EDGE-3 mtls, static (eas{i}),   [health, ees-eas]
          EDGE-9 mtls, token (scope eees-eeccontextreloc), [health, whoami, ees-reloc]
  eas{i}  app server-cert, token (aud eas{i}, scope eas-app), [eas]  (site 1 only)
"""

import base64
import datetime
import hashlib
import json
import os
import signal
import ssl
import subprocess
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from conftest import BIN, CA, CERTS, free_port
from edgeapp_http import RecordingProxy, Upstream

EEC_ID = "spiffe://site1/eec/eec1"  # identity of certs/out/eec1.pem, the demo eecId
EEC_SCOPES = "eees-eecregistration eees-easdiscovery"
RELOC_SCOPE = "eees-eeccontextreloc"
EAS_SCOPE = "eas-app"
PROVISIONING_LIFETIME_S = 3600


def ids(i):
    return {"ecs": f"ecs{i}.site{i}.example", "ees": f"ees{i}.site{i}.example",
            "eas": f"eas{i}.site{i}.example"}


def utc(seconds_from_now):
    """An RFC 3339 date-time |seconds_from_now| from now (UTC, whole seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_from_now))


def parse_utc(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def thumbprint(cert_name):
    """RFC 8705 x5t#S256 of certs/out/<cert_name>.pem."""
    cert = x509.load_pem_x509_certificate((CERTS / f"{cert_name}.pem").read_bytes())
    der = cert.public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def wait_for(what, fn, timeout=10, interval=0.1):
    """Calls |fn| until it returns something true; returns it, or fails naming |what|
    and the last value (or exception) seen."""
    deadline, last = time.time() + timeout, None
    while True:
        try:
            last = fn()
            if last:
                return last
        except (AssertionError, OSError, ssl.SSLError) as e:
            last = e
        if time.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s; last: {last!r:.1500}")
        time.sleep(interval)

# ---- edgegw processes ------------------------------------------------------------------

class Node:
    """One edgegw process with its policy directory; the log is kept across restarts."""

    def __init__(self, path, name):
        self.dir, self.name = path, name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "edgegw.log"
        self.proc, self.log, self.mark = None, None, 0

    def write(self, name, text):
        (self.dir / name).write_text(text)

    def lines(self, since=0):
        if not self.log_path.exists():
            return []
        out = []
        for raw in self.log_path.read_text(errors="replace").splitlines()[since:]:
            try:
                out.append(json.loads(raw))
            except ValueError:
                out.append({"event": "<not json>", "raw": raw})
        return out

    def events(self, name, since=0):
        return [e for e in self.lines(since) if e.get("event") == name]

    def wait_log(self, pred, timeout=10, since=None):
        since = self.mark if since is None else since
        deadline = time.time() + timeout
        while True:
            for e in self.lines(since):
                if pred(e):
                    return e
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.tail()}")
            if time.time() > deadline:
                raise AssertionError(f"{self.name}: log line not seen in {timeout}s:\n{self.tail()}")
            time.sleep(0.05)

    def tail(self, n=60):
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def start(self, timeout=15):
        """Starts the process and waits for its "ready" line (of this run)."""
        self.mark = len(self.lines())
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([BIN, "serve", "--policies", str(self.dir)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_log(lambda e: e.get("event") == "ready", timeout=timeout)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15):
        """SIGTERM; returns the exit code (None when not running)."""
        if not self.running():
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "did not stop on SIGTERM"
        self.log.close()
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def restart(self, timeout=15):
        if self.running():
            self.stop()
        return self.start(timeout)


def _list(items):
    return "[" + ", ".join(items) + "]"


def listener(interface, role, port, mode, cert, mount, authz):
    """One listener file; |authz| is YAML at column 0 (indented here)."""
    text = (f"listener:\n  interface: {interface}\n  role: {role}\n  listen: 127.0.0.1:{port}\n"
            f"  mount: {_list(mount)}\n  tls:\n    mode: {mode}\n"
            f"    cert: {CERTS}/{cert}.pem\n    key: {CERTS}/{cert}.key\n")
    return text + "  authz:\n" + "".join(f"    {line}\n" for line in authz.strip().splitlines())


def static_rules(rules):
    """authz YAML for mode static from [(path prefix, [patterns] or "any")]."""
    out = "mode: static\nrules:\n"
    for path, allow in rules:
        out += f"  - path: {path}\n    allow: {allow if allow == 'any' else _list(allow)}\n"
    return out


def token_rules(audience, issuer, rules, sub_is_peer=None, leeway_s=None):
    """authz YAML for mode token from [(path prefix, [scopes] or "any")]."""
    out = f"mode: token\naudience: {audience}\nissuers: [{issuer}]\n"
    if leeway_s is not None:
        out += f"leeway_s: {leeway_s}\n"
    if sub_is_peer is not None:
        out += f"sub_is_peer: {'true' if sub_is_peer else 'false'}\n"
    out += "rules:\n"
    for path, scopes in rules:
        out += f"  - path: {path}\n" + ("    allow: any\n" if scopes == "any" else f"    scope: {_list(scopes)}\n")
    return out


class EdgeSite:
    """Site i: its ids, ports and the nodes (ecs, ees, and eas when |with_eas|)."""

    def __init__(self, i, root, with_eas):
        if i not in (1, 2):
            raise AssertionError(f"site {i}: certs/gen.sh makes node certificates for sites 1 and 2 only")
        self.i, self.id, self.with_eas = i, ids(i), with_eas
        self.port = {k: free_port() for k in ("edge4", "edge6", "edge1", "edge3", "edge9", "app")}
        self.ecs = Node(root / f"site{i}" / "ecs", f"ecs{i}")
        self.ees = Node(root / f"site{i}" / "ees", f"ees{i}")
        self.eas = Node(root / f"site{i}" / "eas", f"eas{i}") if with_eas else None
        self.upstream = None

    def nodes(self):
        return [n for n in (self.ecs, self.ees, self.eas) if n]


def site_header(node, site_name, issuers=""):
    return (f"site:\n  id: {site_name}\n  state_dir: {node.dir}/state\n  drain_timeout_ms: 3000\n"
            f"  trust:\n    ca: {CA}\n    crl: {CERTS}/crl.pem\n" + issuers)


def remote_issuer(ecs_id, i):
    """tokens: trusting site i's ECS with its public key file (kid as the ECS signs)."""
    return (f"tokens:\n  issuers:\n    - id: {ecs_id}\n      keys:\n"
            f"        - file: {CERTS}/jwt-es256-k{i}.pub.pem\n          kid: ecs{i}-k1\n")


class Deployment:
    """N sites (site 1 with the EAS and the upstream), recording proxies on every hop
    between processes, and the tokens the tests saw (.tokens) for the log checks."""

    def __init__(self, root, n_sites=2, ees_registration_ttl_s=3600, ees_token_ttl_s=3):
        self.root = root
        self.sites = [EdgeSite(i, root, with_eas=(i == 1)) for i in range(1, n_sites + 1)]
        self.tokens = set()
        self.proxies = {}
        self.ees_registration_ttl_s = ees_registration_ttl_s
        # The tokens an EES gets from its ECS (EAS tokens, EDGE-9) live 3 s, as on the
        # demo site: `edgegw eec demo` waits for the EAS token to expire.
        self.ees_token_ttl_s = ees_token_ttl_s
        self.upstream = Upstream()
        for s in self.sites:
            # ees -> its ecs (EDGE-6), eas -> its ees (EDGE-3), ees -> peer ees (EDGE-9),
            # ecs -> peer ecs (token forwarding).
            self._proxy(f"ees{s.i}->ecs{s.i}", s.port["edge6"], f"ecs{s.i}")
            if s.with_eas:
                self._proxy(f"eas{s.i}->ees{s.i}", s.port["edge3"], f"ees{s.i}")
            for o in self.sites:
                if o is not s:
                    self._proxy(f"ees{s.i}->ees{o.i}", o.port["edge9"], f"ees{o.i}")
                    self._proxy(f"ecs{s.i}->ecs{o.i}", o.port["edge6"], f"ecs{o.i}")
        for s in self.sites:
            self.write(s)

    def _proxy(self, name, target_port, cert):
        self.proxies[name] = RecordingProxy(name, target_port, cert)

    def via(self, name):
        return f"https://127.0.0.1:{self.proxies[name].port}"

    def site(self, i):
        return self.sites[i - 1]

    def write(self, s):
        others = [o for o in self.sites if o is not s]
        cid = s.id
        # ---- ECS
        peers = "".join(
            f"    - id: {o.id['ecs']}\n      token_url: {self.via(f'ecs{s.i}->ecs{o.i}')}/oauth2/token\n"
            f"      identity: DNS:{o.id['ecs']}\n      ees: [{o.id['ees']}]\n" for o in others)
        s.ecs.write("site.yaml", site_header(s.ecs, f"site{s.i}-ecs",
                                             f"tokens:\n  issuers:\n    - id: {cid['ecs']}\n      local: true\n") + f"""ecs:
  id: {cid['ecs']}
  token_ttl_s: 3600
  signing_keys: [{{kid: ecs{s.i}-k1, key: {CERTS}/jwt-es256-k{s.i}.key}}]
  clients:
    - id: DNS:{cid['ees']}
      scopes: [{EAS_SCOPE}, {RELOC_SCOPE}]
      audiences: any
      may_name_eec: true
      token_ttl_s: {self.ees_token_ttl_s}
""" + "".join(f"""    - id: DNS:{o.id['ees']}
      scopes: [{RELOC_SCOPE}]
      audiences: [{cid['ees']}]
      may_name_eec: true
""" for o in others) + f"""  provisioning: {{lifetime_s: {PROVISIONING_LIFETIME_S}, eec_scopes: [eees-eecregistration, eees-easdiscovery]}}
  ees_auth: [{{ees: "*", methods: [TLS_CLIENT_SERVER_CERTIFICATE]}}]
  registration: {{max_s: 86400, eec_ca: [{CA}]}}
  client: {{cert: {CERTS}/ecs{s.i}.pem, key: {CERTS}/ecs{s.i}.key}}
""" + (f"  peers:\n{peers}" if peers else "") + "  max_hops: 3\n")
        ees_allow = [f"DNS:{cid['ees']}"]
        s.ecs.write("edge4.yaml", listener("EDGE-4", "ecs", s.port["edge4"], "mtls", f"ecs{s.i}",
                                           ["health", "ecs-provisioning"], "mode: none"))
        s.ecs.write("edge6.yaml", listener("EDGE-6", "ecs", s.port["edge6"], "mtls", f"ecs{s.i}",
                                           ["health", "whoami", "ecs", "ecs-registration"], static_rules([
                                               ("/healthz", "any"), ("/.well-known/", "any"), ("/whoami", "any"),
                                               ("/oauth2/", ees_allow + [f"DNS:{o.id['ecs']}" for o in others]),
                                               # spiffe://site1/ees/*: ees1-client, the tests' hand-made EES
                                               ("/eecs-eesregistration/", ees_allow + ["spiffe://site1/ees/*"]),
                                               ("/eecs-targeteesdiscovery/", ees_allow)])))
        # ---- EES
        ees_peers = "".join(f"    - {{id: {o.id['ees']}, url: {self.via(f'ees{s.i}->ees{o.i}')}}}\n" for o in others)
        s.ees.write("site.yaml", site_header(s.ees, f"site{s.i}-ees", remote_issuer(cid["ecs"], s.i)) + f"""ees:
  id: {cid['ees']}
  endpoint: https://127.0.0.1:{s.port['edge1']}
  ecs_url: {self.via(f'ees{s.i}->ecs{s.i}')}
  client: {{cert: {CERTS}/ees{s.i}.pem, key: {CERTS}/ees{s.i}.key}}
  registration_ttl_s: {self.ees_registration_ttl_s}
  eec_registration_max_s: 86400
  eas_token_scopes: [{EAS_SCOPE}]
""" + (f"  peers:\n{ees_peers}" if ees_peers else ""))
        s.ees.write("edge1.yaml", listener("EDGE-1", "ees", s.port["edge1"], "mtls", f"ees{s.i}",
                                           ["health", "ees-eec"], token_rules(cid["ees"], cid["ecs"], [
                                               ("/healthz", "any"),
                                               ("/eees-eecregistration/", ["eees-eecregistration"]),
                                               ("/eees-easdiscovery/", ["eees-easdiscovery"])], sub_is_peer=False)))
        s.ees.write("edge3.yaml", listener("EDGE-3", "ees", s.port["edge3"], "mtls", f"ees{s.i}",
                                           ["health", "ees-eas"], static_rules([
                                               ("/healthz", "any"), ("/eees-easregistration/", [f"DNS:{cid['eas']}"])])))
        s.ees.write("edge9.yaml", listener("EDGE-9", "ees", s.port["edge9"], "mtls", f"ees{s.i}",
                                           ["health", "whoami", "ees-reloc"], token_rules(cid["ees"], cid["ecs"], [
                                               ("/healthz", "any"), ("/", [RELOC_SCOPE])])))
        # ---- EAS sidecar
        if s.eas:
            s.eas.write("site.yaml", site_header(s.eas, f"site{s.i}-eas", remote_issuer(cid["ecs"], s.i)) + f"""eas:
  id: {cid['eas']}
  endpoint: https://127.0.0.1:{s.port['app']}
  upstream: 127.0.0.1:{self.upstream.port}
  upstream_timeout_ms: 5000
  identity_header: x-eec-id
  ees_url: {self.via(f'eas{s.i}->ees{s.i}')}
  client: {{cert: {CERTS}/eas{s.i}.pem, key: {CERTS}/eas{s.i}.key}}
  registration_ttl_s: 3600
  provider: demo-provider
  type: OTHER
""")
            s.eas.write("app.yaml", listener("app", "eas", s.port["app"], "server-cert", f"eas{s.i}", ["eas"],
                                             token_rules(cid["eas"], cid["ecs"], [("/", [EAS_SCOPE])],
                                                         leeway_s=0)))

    # ---- processes

    def start(self):
        """ECSes first (the EESes register with them at start), then EESes, then EASes."""
        for s in self.sites:
            s.ecs.start()
        for s in self.sites:
            s.ees.start()
        for s in self.sites:
            if s.eas:
                s.eas.start()
        return self

    def nodes(self):
        return [n for s in self.sites for n in s.nodes()]

    def stop(self):
        """SIGTERM to every process; returns {name: exit code} of those not exiting 0."""
        bad = {}
        for n in reversed(self.nodes()):
            rc = n.stop()
            if rc not in (None, 0):
                bad[n.name] = rc
        for p in self.proxies.values():
            p.close()
        self.upstream.close()
        return bad

    def exchanges(self):
        return [x for p in self.proxies.values() for x in p.exchanges]


# ---- the EEC side ----------------------------------------------------------------------

def eec_demo_command(site):
    """`edgegw eec demo --json` aimed at |site| (an EdgeSite with an EAS); options as in
    `edgegw eec --help` (eec branch)."""
    return [BIN, "eec", "demo", "--json",
            "--ecs", f"https://127.0.0.1:{site.port['edge4']}",
            "--ca", CA,
            "--cert", str(CERTS / "eec1.pem"), "--key", str(CERTS / "eec1.key"),
            "--eec-id", EEC_ID]


def run_eec_demo(site, timeout=60):
    p = subprocess.run(eec_demo_command(site), capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ))
    steps = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line:
            try:
                steps.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"eec demo --json printed a line that is not JSON: {line!r}\n"
                                     f"stderr: {p.stderr}") from None
    return p.returncode, steps, p.stderr

