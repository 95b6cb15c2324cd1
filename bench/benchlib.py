"""What bench/compare and bench/handshake-profile share: the build, ports, core pinning,
a process's CPU time, bssl-tool's rates and where a result is recorded."""
import datetime
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
CERTS = ROOT / "certs" / "out"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(core):
    """taskset prefix: the server on core 0, the load on core 1 (none on one core)."""
    if os.cpu_count() and os.cpu_count() >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(core)]
    return []


def cpu_seconds(pid):
    """utime + stime of |pid| (all threads), seconds."""
    try:
        f = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def build(log):
    """edgegw and edgegw-bench: EDGEGW_BIN and EDGEGW_BENCH_BIN when both are given, else
    a ReleaseSafe build into PREFIX (/tmp/edgegw-bench-compare). Returns (edgegw,
    edgegw-bench, what the build is)."""
    bin_ = os.environ.get("EDGEGW_BIN")
    bench = os.environ.get("EDGEGW_BENCH_BIN")
    if bin_ and bench:
        return bin_, bench, "given (EDGEGW_BIN, EDGEGW_BENCH_BIN)"
    prefix = os.environ.get("PREFIX", "/tmp/edgegw-bench-compare")
    log(f"building edgegw and edgegw-bench (ReleaseSafe, -Drelease=true) into {prefix}")
    if subprocess.run(["zig", "build", "-Drelease=true", "--prefix", prefix], cwd=ROOT).returncode:
        sys.exit("zig build failed")
    return f"{prefix}/bin/edgegw", f"{prefix}/bin/edgegw-bench", "ReleaseSafe (-Drelease=true)"


def bssl_rates(timeout_s, need):
    """Operations per second of every `bssl-tool speed` benchmark for P-256 and
    Curve25519, on core 0, by bssl-tool's description; exits when one of |need| is not
    among them."""
    rates = {}
    for flt in ("P-256", "Curve25519"):
        r = subprocess.run(pin(0) + ["bssl-tool", "speed", "-filter", flt, "-timeout",
                                     str(timeout_s), "-json"], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"bssl-tool speed -filter {flt}: {r.stderr[-300:]}")
        for row in json.loads(r.stdout):
            us = row.get("microseconds", row.get("timeInMicroseconds"))
            rates[row["description"]] = row["numCalls"] * 1e6 / us
    missing = [k for k in need if k not in rates]
    if missing:
        sys.exit(f"bssl-tool speed printed no {missing}")
    return rates


def commit():
    return subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip() or "unknown"


def today():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def result_path(stem):
    """RESULTS_DIR (bench/results)/<stem>.md, or <stem>-2.md, -3.md...: a recorded
    result is never overwritten."""
    d = pathlib.Path(os.environ.get("RESULTS_DIR", ROOT / "bench" / "results"))
    d.mkdir(parents=True, exist_ok=True)
    out, n = d / f"{stem}.md", 2
    while out.exists():
        out, n = d / f"{stem}-{n}.md", n + 1
    return out
