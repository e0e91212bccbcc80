#!/usr/bin/env bash
# The Python package against the command line: requests per second of
# `Model.generate` (iterated bare, and with every field read), of `generate_batches`
# (numpy columns, and lists), and of `tracesynth generate` writing the same requests
# to a file; and the resident memory of the Python process after 100k and 1M requests
# (flat: the run holds its open sessions, never the requests returned).
#
#   bench/python.sh                 # 1M requests of the default model, seed 0
#   N=200000 bench/python.sh        # fewer
#
# Needs the package installed in a virtual environment: VENV (default: the one
# python/check.sh leaves, ~/.cache/tracesynth/venv-python-fresh). Each measurement is a
# process of its own. Prints one line per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
VENV=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tracesynth/venv-python-fresh}
py="$VENV/bin/python"
[[ -x "$py" && -x "$VENV/bin/tracesynth" ]] || {
    echo "bench/python.sh: no package in $VENV: run python/check.sh first (or set VENV)" >&2
    exit 2
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

start=$(date +%s.%N)
"$VENV/bin/tracesynth" generate -q --requests "$N" -o "$TMP/cli.jsonl"
end=$(date +%s.%N)
lines=$(wc -l <"$TMP/cli.jsonl")
bytes=$(stat -c %s "$TMP/cli.jsonl")
rm -f "$TMP/cli.jsonl"
awk -v n="$lines" -v b="$bytes" -v s="$start" -v e="$end" 'BEGIN {
    printf "cli: tracesynth generate --requests %d -o FILE: %.2f s, %.0f requests/s, %.2f GB\n",
        n, e - s, n / (e - s), b / 1e9 }'

for mode in bare fields batches-numpy batches-lists; do
    "$py" - "$N" "$mode" <<'PY'
import sys, time
import tracesynth

n, mode = int(sys.argv[1]), sys.argv[2]

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")

model = tracesynth.Model.load("qwen-trace-a")
marks = {}
count = 0
t0 = time.perf_counter()
if mode.startswith("batches"):
    numpy = mode == "batches-numpy"
    for b in model.generate_batches(batch_size=4096, requests=n, numpy=numpy):
        before = count
        count += len(b["chat_id"])
        total = b["hash_ids"][-1]  # touch the columns
        for mark in (100_000, 1_000_000):
            if before < mark <= count:
                marks[mark] = rss_mb()
else:
    fields = mode == "fields"
    for r in model.generate(requests=n):
        count += 1
        if fields:
            r.chat_id, r.parent_chat_id, r.timestamp, r.input_length
            r.output_length, r.type, r.turn, len(r.hash_ids)
        if count == 100_000 or count == 1_000_000:
            marks[count] = rss_mb()
elapsed = time.perf_counter() - t0
shown = ", ".join(f"RSS {mark // 1000}k {mb:.0f} MB" for mark, mb in sorted(marks.items()))
print(f"python {mode}: {count} requests in {elapsed:.2f} s, {count / elapsed:.0f} requests/s"
      + (f", {shown}" if shown else ""))
PY
done
