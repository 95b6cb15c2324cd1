"""edgegw-bench against a real edgegw: every scenario for about a second at low concurrency
must complete requests and report no errors. This guards the load generator (its TLS
modes, request shapes, response parsing and report); it asserts no timing. The bench
scripts' own arithmetic (bench/compare's ratios, bench/handshake-profile's split of
samples) is checked on recorded and canned data: their peers and perf are not in CI."""

import importlib.machinery
import importlib.util
import json
import os
import pathlib
import re
import subprocess

import pytest

from conftest import BIN, CA, CERTS, ROOT, Site, demo_psk, free_port, site_block

BENCH = os.environ.get("EDGEGW_BENCH_BIN", str(pathlib.Path(BIN).parent / "edgegw-bench"))
AUD = "bench.site1.example"


def run_bench(*args, timeout=60):
    r = subprocess.run([BENCH, *args, "--json"], capture_output=True, text=True,
                       timeout=timeout)
    assert r.stdout.strip(), f"no report (exit {r.returncode}): {r.stderr}"
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["errors"]["total"] == 0, out
    assert out["completed"] > 0, out
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("bench"))
    ports = {k: free_port() for k in ("cert", "mtls", "psk", "token", "ecs")}
    s.write("site.yaml", site_block(s.dir) + f"""tokens:
  issuers:
    - id: ecs1.site1.example
      local: true
ecs:
  id: ecs1.site1.example
  token_ttl_s: 600
  signing_keys:
    - kid: k1
      key: {CERTS}/jwt-es256-k1.key
  clients:
    - id: spiffe://site1/ees/*
      scopes: [eees-whoami]
      audiences: any
""")
    s.add("cert.yaml", interface="cert", port=ports["cert"], mode="server-cert")
    s.add("mtls.yaml", interface="mtls", port=ports["mtls"], mode="mtls")
    s.add("psk.yaml", interface="psk", port=ports["psk"], mode="psk")
    s.add("token.yaml", interface="token", port=ports["token"], mode="server-cert",
          authz=f"mode: token\naudience: {AUD}\nsub_is_peer: false\nrules:\n"
                "  - path: /healthz\n    scope: [bench-read]")
    s.add("ecs.yaml", interface="EDGE-6", port=ports["ecs"], mode="mtls", role="ecs",
          mount="[health, ecs]",
          authz="mode: static\nrules:\n  - path: /oauth2/\n    allow: [spiffe://site1/ees/*]")
    s.ports = ports
    s.start()
    yield s
    s.stop()


SHORT = ["--duration", "1", "--warmup", "0.2", "--conns", "2"]
MTLS = ["--cert", str(CERTS / "ees1-client.pem"), "--key", str(CERTS / "ees1-client.key")]


def target(site, name):
    return ["--target", f"127.0.0.1:{site.ports[name]}"]


def test_handshake_cert(site):
    out = run_bench("handshake", "--tls", "cert", "--ca", CA, *target(site, "cert"), *SHORT,
                    "--server-pid", str(site.proc.pid))
    assert out["scenario"] == "handshake" and out["mode"] == "closed"
    assert out["server_rss_kb"]["before"] > 0 and out["server_rss_kb"]["after"] > 0
    assert 0 < out["latency_ms"]["p50"] <= out["latency_ms"]["p99"] <= out["latency_ms"]["max"]


def test_handshake_mtls(site):
    run_bench("handshake", "--tls", "mtls", "--ca", CA, *MTLS, *target(site, "mtls"), *SHORT)


def test_handshake_psk_open_loop(site):
    identity, key = demo_psk()
    out = run_bench("handshake", "--tls", "psk", "--psk-identity", identity, "--psk-key", key,
                    *target(site, "psk"), *SHORT, "--rate", "50")
    assert out["mode"] == "open" and out["completed"] >= 20


def test_handshake_psk_file(site):
    run_bench("handshake", "--tls", "psk", "--psk-file", str(CERTS / "demo.psk"),
              *target(site, "psk"), *SHORT)


def test_keepalive_token(site, tmp_path):
    tok = subprocess.run([BIN, "token", "issue", "--sub", "spiffe://site1/eec/eec1", "--aud", AUD,
                          "--scope", "bench-read", "--policies", str(site.dir)],
                         capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / "token").write_text(tok + "\n")
    run_bench("keepalive-token", "--token-file", str(tmp_path / "token"),
              *target(site, "token"), *SHORT)


def test_keepalive_token_refused_is_an_error(site):
    """A token the server refuses is counted as a status error, not as a completion."""
    r = subprocess.run([BENCH, "keepalive-token", "--token", "not.a.token",
                        *target(site, "token"), *SHORT, "--json"],
                       capture_output=True, text=True, timeout=60)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert r.returncode == 1
    assert out["completed"] == 0 and out["errors"]["status"] > 0


def test_token_issue(site):
    run_bench("token-issue", "--ca", CA, *MTLS, *target(site, "ecs"), *SHORT)


def test_idle(site):
    out = run_bench("idle", "200", "--tls", "cert", *target(site, "cert"), "--conns", "20",
                    "--duration", "0.5", "--src-addrs", "2", "--server-pid", str(site.proc.pid))
    assert out["established"] == 200
    assert out["bytes_per_conn"] > 0


# ---- the EEC flow against the demo site (policies/, on free ports) -----------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench-demo")
    upstream = free_port()
    ports = {}
    for f in sorted((ROOT / "policies").glob("*.yaml")):
        text = f.read_text().replace("../certs/out", str(CERTS))
        text = text.replace("../state", str(d / "state"))
        for old in sorted(set(re.findall(r"127\.0\.0\.1:(84\d\d)", text))):
            if old == "8480":
                ports[old] = upstream
            ports.setdefault(old, free_port())
        (d / f.name).write_text(text)
    for f in d.glob("*.yaml"):
        text = f.read_text()
        for old, new in ports.items():
            text = text.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
        f.write_text(text)
    resp = subprocess.Popen([BENCH, "responder", "--port", str(upstream)],
                            stdout=subprocess.PIPE, text=True)
    assert "listening" in resp.stdout.readline()
    s = Site.__new__(Site)
    s.dir, s.valgrind, s.proc, s.log_path = d, False, None, d / "edgegw.log"
    s.start()
    s.ecs_port = ports["8443"]
    yield s
    s.stop()
    resp.terminate()
    resp.wait(5)


def test_eec_flow(demo):
    ecs = ["--ecs", f"https://127.0.0.1:{demo.ecs_port}", "--ca", CA,
           "--cert", str(CERTS / "eec1.pem"), "--key", str(CERTS / "eec1.key"),
           "--path", "/hello"]
    out = None
    for _ in range(50):  # until the EAS has registered at the EES (discovery finds it)
        r = subprocess.run([BENCH, "eec-flow", "1", *ecs, "--json"], capture_output=True,
                           text=True, timeout=60)
        if r.returncode == 0:
            break
        subprocess.run(["sleep", "0.2"])
    assert r.returncode == 0, r.stdout + r.stderr
    out = run_bench("eec-flow", "6", *ecs, "--conns", "2")
    assert out["completed"] == 6


def load_script(name):
    """A bench/ script (no .py suffix) as a module."""
    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), str(ROOT / "bench" / name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def test_handshake_profile_splits_samples_by_primitive_library_and_system_call():
    """bench/handshake-profile's split of `perf script` samples (perf itself is not in
    CI's packages): a primitive anywhere on the stack wins, an inlined frame takes the
    library of the next real one, and kernel time goes to the system call entered."""
    hp = load_script("handshake-profile")

    def sample(*frames):
        return "edgegw 1 2.0: 1000000 cpu-clock:pppH:\n" + "\n".join(
            f"\t{i:x} {f}" for i, f in enumerate(frames, 1))

    lib, ssl, k = "(/usr/lib/libcrypto.so.0)", "(/usr/lib/libssl.so.0)", "([kernel.kallsyms])"
    text = "\n\n".join([
        sample(f"[unknown] {lib}", f"ECDSA_do_sign+0x1 {lib}", f"SSL_do_handshake+0x2 {ssl}"),
        sample(f"_int_malloc+0x3 (/lib/libc.so.6)", f"OPENSSL_malloc+0x1 {lib}",
               f"X25519_public_from_private+0x9 {lib}"),
        sample(f"[unknown] {lib}", f"X25519+0x4 {lib}"),
        sample(f"[unknown] {lib}", f"SHA256_Update+0x4 {lib}", f"SSL_do_handshake+0x2 {ssl}"),
        sample(f"tcp_v4_rcv+0x1 {k}", f"process_backlog+0x2 {k}", f"tcp_sendmsg+0x3 {k}",
               f"ksys_write+0x1 {k}", f"do_syscall_64+0x1 {k}", "write (/lib/libc.so.6)"),
        sample(f"_copy_to_iter+0x1 {k}", f"ksys_read+0x1 {k}", f"x64_sys_call+0x1 {k}",
               f"do_syscall_64+0x1 {k}", "read (/lib/libc.so.6)"),
        sample(f"native_write_msr+0x1 {k}", f"asm_sysvec_apic_timer_interrupt+0x1 {k}"),
        sample("write_now (inlined)", "flush+0x1 (/usr/bin/edgegw)"),
    ]) + "\n"
    parts, total = hp.split_samples(text)
    assert total == 8
    assert parts == {"ECDSA sign": 1, "X25519 key share": 1, "X25519 shared secret": 1,
                     "rest of BoringSSL": 1,
                     "kernel: loopback delivery to the peer socket": 1, "kernel: read": 1,
                     "kernel: interrupts": 1, "edgegw": 1}, parts


def test_compare_recomputes_the_recorded_ratios_and_prints_every_json_key():
    """bench/compare's ratios and table from the raw figures of a recorded full run
    (bench/results/compare-2026-11-23-3.md): the same ratios come out, each ceiling ratio
    against the ceiling measured beside its run, and --json has the keys the issue names."""
    compare = load_script("compare")
    text = (ROOT / "bench" / "results" / "compare-2026-11-23-3.md").read_text()
    recorded = json.loads(re.search(r"```json\n(.*?)\n```", text, re.S).group(1))
    raw = {k: recorded[k] for k in ("quick", "duration_s", "warmup_s", "crypto", "edgegw", "peers")}
    compare.ratios(raw)
    for key in ("keepalive-token-vs-haproxy", "handshake-cert-vs-nginx", "handshake-mtls-vs-nginx",
                "handshake-psk-vs-stunnel", "token-issue-vs-ceiling", "idle-conn-bytes",
                "handshake-cert-vs-ceiling", "handshake-mtls-vs-ceiling"):
        assert raw[key] == recorded[key], key
    beside = recorded["edgegw"]["hs_cert"]["crypto"]["handshake_cert_ceiling_per_s"]
    assert beside != recorded["crypto"]["handshake_cert_ceiling_per_s"]
    assert raw["handshake-cert-vs-ceiling"] == round(
        recorded["edgegw"]["hs_cert"]["per_server_core"] / beside, 3)
    table = compare.table(raw)
    assert f"**{recorded['handshake-cert-vs-ceiling']}**" in table
    assert "beside edgegw hs_cert (before / after)" in table
