#!/usr/bin/env bash
# Steady state of a model over a day: generate 24 h with several seeds, cut the output
# into 2-hour windows and compare the first window with the later ones (requests, and
# the follow-up share as a window cut from the stream shows it: a follow-up whose parent
# came before the window counts as a root, as in the generator's own first window).
# A model in its steady state has no drift; issue #10 asks it of the calibrated default.
#
#   bench/drift.sh                        # models/qwen-trace-a.json, seeds 1-6
#   bench/drift.sh MODEL.json [SEEDS]     # e.g. bench/drift.sh a.json "1 2 3"
#
# Needs python3 for the windowing. Prints one line.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-models/qwen-trace-a.json}
SEEDS=${2:-1 2 3 4 5 6}
cargo build --release --quiet
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
files=()
for s in $SEEDS; do
    target/release/tracesynth generate -q -m "$MODEL" --duration 24h --seed "$s" -o "$TMP/s$s.jsonl"
    files+=("$TMP/s$s.jsonl")
done
python3 - "${files[@]}" <<'PY'
import json, statistics as st, sys
from collections import Counter
WINDOW = 7200.0
first, later, first_share, later_share = [], [], [], []
for path in sys.argv[1:]:
    count, linked, window_of = Counter(), Counter(), {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            w = int(r["timestamp"] // WINDOW)
            window_of[r["chat_id"]] = w
            count[w] += 1
            p = r["parent_chat_id"]
            linked[w] += p != -1 and window_of.get(p) == w
    windows = [w for w in sorted(count) if (w + 1) * WINDOW <= 86400.0]
    first.append(count[0])
    first_share.append(linked[0] / count[0])
    later += [count[w] for w in windows[1:]]
    later_share += [linked[w] / count[w] for w in windows[1:]]
print(
    f"{len(sys.argv) - 1} seeds: first 2 h {st.mean(first):.0f} requests "
    f"(sd {st.stdev(first) if len(first) > 1 else 0:.0f}), follow-up share {st.mean(first_share):.3f}; "
    f"later 2 h windows {st.mean(later):.0f} (sd {st.stdev(later):.0f}), "
    f"follow-up share {st.mean(later_share):.3f}; drift {st.mean(later) / st.mean(first) - 1:+.1%}"
)
PY
