#!/usr/bin/env python3
# Usage: shifted_copies.py TRACE.jsonl K SEED OUT.jsonl, then `tracesynth stats --json OUT.jsonl`
# (arrivals.dispersion): the IDC that K independent copies of a service, each on its own
# clock phase, show, for judging `generate --tenants K` on a coarse-clock source. (K times
# the users of one service share its one clock: `--rate-scale K` keeps it, as the whole
# Mooncake trace's ticks hold four times those of a quarter of its sessions.)
"""IDC at 1 s of K randomly time-shifted copies of a Mooncake trace (wrapped into its span),
as `tracesynth stats` measures it."""
import json, random, subprocess, sys
src, k, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = [json.loads(l) for l in open(src)]
t0 = min(r["timestamp"] for r in rows)
span = max(r["timestamp"] for r in rows) - t0 + 3000
rng = random.Random(seed)
copies = []
for c in range(k):
    shift = rng.uniform(0, span)
    for r in rows:
        t = (r["timestamp"] - t0 + shift) % span
        copies.append(dict(r, timestamp=int(t)))
copies.sort(key=lambda r: r["timestamp"])
with open(out, "w") as f:
    for r in copies:
        f.write(json.dumps(r) + "\n")
