#!/usr/bin/env python3
"""Prints a Markdown row per libFuzzer log (fuzz/logs/TARGET-DATE.log): time, executions, exec/s,
edges and features at INITED and at the end, corpus size, and the artifact written, if any."""
import re, sys, os
for path in sys.argv[1:]:
    t = open(path, 'rb').read().decode('utf-8', 'replace')
    name = re.sub(r'-\d{4}-\d\d-\d\d.*$', '', os.path.basename(path))
    day = re.search(r'(\d{4}-\d\d-\d\d)', os.path.basename(path))
    day = day.group(1) if day else '?'
    done = re.findall(r'^Done (\d+) runs in (\d+) second', t, re.M)
    status = [l for l in re.findall(r'^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/\S+.*?exec/s: (\d+)', t, re.M)]
    inited = re.search(r'INITED cov: (\d+) ft: (\d+)', t)
    eps = re.findall(r'stat::average_exec_per_sec:\s+(\d+)', t)
    art = re.findall(r'Test unit written to (\S+)', t)
    kind = re.findall(r'^==\d+== ERROR: libFuzzer: (\S+)|^SUMMARY: (\S+)', t, re.M)
    if done:
        runs, secs = done[-1]
    elif status:
        runs, secs = status[-1][0], '?'
    else:
        runs, secs = '0', '?'
    runs = int(runs)
    last = status[-1] if status else None
    cov = f"{inited.group(1)} → {last[1]}" if inited and last else '—'
    ft = f"{inited.group(2)} → {last[2]}" if inited and last else '—'
    corp = last[3] if last else '—'
    rate = eps[-1] if eps else (last[4] if last else '—')
    crash = ', '.join(os.path.basename(a) for a in art) or 'none'
    print(f"| `{name}` | {day} | {secs} s | {runs:,} | {rate} | {cov} | {ft} | {corp} | {crash} |")
