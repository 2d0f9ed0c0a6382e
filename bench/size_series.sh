#!/usr/bin/env bash
# Issue 22 item 4: is the cost flat in disk size and file count? The tools on the guests of
# bench/mk-size-series.sh (2, 20, 200 GiB with 10^3 files; 20 GiB with 10^5 and 10^6 files,
# compressed qcow2): `vinspect -a`, `vfish --ro -i cat /etc/hostname`, `vsysprep --dry-run`,
# and two writing runs on a fresh copy each time (`vfish --rw -i touch /etc/bench`, whose cost
# is the checks before the first write plus the commit, and a whole `vsysprep`). CPU time
# (user + system, from wait4) median of RUNS runs after 2 warm-ups; peak RSS from /usr/bin/time.
# Usage: bench/size_series.sh [BINDIR] (default target/release, built first).
set -euo pipefail
cd "$(dirname "$0")/.."
bench/mk-size-series.sh >/dev/null
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release -q --bin vinspect --bin vsysprep
  cargo build --release -q -p vfish
  bin=${CARGO_TARGET_DIR:-target}/release
fi
RUNS=${RUNS:-9} python3 - "$bin" <<'PY'
import os, shutil, statistics, subprocess, sys, tempfile
bindir, runs = sys.argv[1], int(os.environ["RUNS"])
tmp = tempfile.mkdtemp()
def cpu(argv, img, copy):
    """Median CPU ms over `runs` runs (after 2 warm-ups) and peak RSS KiB; None if it fails.
    With `copy`, each run gets a fresh copy of the image (not timed)."""
    times, rss = [], 0
    for i in range(runs + 2):
        target = img
        if copy:
            target = os.path.join(tmp, "copy.qcow2")
            shutil.copyfile(img, target)
        cmd = ["/usr/bin/time", "-f", "%M", "-o", os.path.join(tmp, "rss")] + argv(target)
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        if status != 0:
            return None
        if i >= 2:
            times.append((ru.ru_utime + ru.ru_stime) * 1e3)
        rss = max(rss, int(open(os.path.join(tmp, "rss")).read().split()[-1]))
    return statistics.median(times), rss
tools = [
    ("vinspect -a IMG", False, lambda img: [f"{bindir}/vinspect", "-a", img]),
    ("vfish --ro -a IMG -i cat /etc/hostname", False, lambda img: [f"{bindir}/vfish", "--ro", "-a", img, "-i", "cat", "/etc/hostname"]),
    ("vsysprep --dry-run IMG", False, lambda img: [f"{bindir}/vsysprep", "-q", "--dry-run", img]),
    ("vfish --rw -a COPY -i touch /etc/bench", True, lambda img: [f"{bindir}/vfish", "--rw", "-a", img, "-i", "touch", "/etc/bench"]),
    ("vsysprep COPY", True, lambda img: [f"{bindir}/vsysprep", "-q", img]),
]
guests = ["s2g-1k", "s20g-1k", "s200g-1k", "s20g-100k", "s20g-1m"]
print("| command | " + " | ".join(guests) + " |")
print("|:---|" + "---:|" * len(guests))
for name, copy, argv in tools:
    cells = []
    for g in guests:
        r = cpu(argv, f"bench/build/size/{g}.qcow2", copy)
        cells.append("fails" if r is None else f"{r[0]:.1f} ms / {r[1] // 1024} MiB")
    print(f"| `{name}` | " + " | ".join(cells) + " |")
sizes = [f"{g}: {os.path.getsize(f'bench/build/size/{g}.qcow2') >> 20} MiB" for g in guests]
print("\nImage files (compressed qcow2): " + ", ".join(sizes))
shutil.rmtree(tmp)
PY
