#!/usr/bin/env python3
# Usage: shifted_copies.py TRACE.jsonl K SEED OUT.jsonl, then `tracesynth stats --json OUT.jsonl`
# (arrivals.dispersion): the IDC that K times the users of a service on the same clock
# would show, for judging `generate --rate-scale K` on a coarse-clock source.
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
