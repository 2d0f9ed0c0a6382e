#!/usr/bin/env bash
# Issue 22: the tools on compressed qcow2 guests beside their uncompressed twins
# (bench/mk-compressed.sh): `vinspect -a`, `vfish --ro -a IMG -i cat /etc/hostname`,
# `vsysprep --dry-run`; CPU time (user + system, from wait4) median of RUNS runs, peak RSS
# (/usr/bin/time: a child forked from python would inherit python's high-water mark).
# Usage: bench/compressed.sh [BINDIR] (default target/release, built first).
set -euo pipefail
cd "$(dirname "$0")/.."
bench/mk-compressed.sh >/dev/null
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release -q --workspace --bins
  bin=${CARGO_TARGET_DIR:-target}/release
fi
RUNS=${RUNS:-15} python3 - "$bin" <<'PY'
import os, statistics, subprocess, sys
bindir, runs = sys.argv[1], int(os.environ["RUNS"])
def cpu(argv):
    """Median CPU ms of `runs` runs (after 2 warm-up runs) and peak RSS KiB; None if it fails."""
    times = []
    for i in range(runs + 2):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        if status != 0:
            return None
        if i >= 2:
            times.append((ru.ru_utime + ru.ru_stime) * 1e3)
    t = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return statistics.median(times), int(t.stderr.split()[-1])
tools = [
    ("vinspect -a IMG", lambda img: [f"{bindir}/vinspect", "-a", img]),
    ("vfish --ro -a IMG -i cat /etc/hostname", lambda img: [f"{bindir}/vfish", "--ro", "-a", img, "-i", "cat", "/etc/hostname"]),
    ("vsysprep --dry-run IMG", lambda img: [f"{bindir}/vsysprep", "-q", "--dry-run", img]),
]
for guest in ["cloud-ubuntu", "guest-ubuntu", "guest-el9", "demo"]:
    c, u = f"bench/build/{guest}-c.qcow2", f"bench/build/{guest}-u.qcow2"
    if not os.path.exists(c):
        continue
    print(f"\n### {guest}: compressed {os.path.getsize(c)} bytes, uncompressed {os.path.getsize(u)} bytes\n")
    print("| command | compressed [ms CPU] | uncompressed [ms CPU] | ratio | peak RSS c/u [KiB] |\n|:---|---:|---:|---:|---:|")
    for name, argv in tools:
        rc, ru = cpu(argv(c)), cpu(argv(u))
        if rc is None or ru is None:
            print(f"| `{name}` | fails | fails | | |")
            continue
        (tc, mc), (tu, mu) = rc, ru
        print(f"| `{name}` | {tc:.1f} | {tu:.1f} | {tc / tu:.2f}× | {mc} / {mu} |")
PY
