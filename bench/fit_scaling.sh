#!/usr/bin/env bash
# Fit time against input size: `fit` on 1x, 2x, 5x and 10x the vendored Mooncake trace
# (copies laid end to end in time, every copy's ids offset past the previous copy's, so
# each copy is new content and new sessions, not repeats), timed with /usr/bin/time.
# Linear fitting gives a per-record time that stays flat down the table.
#
#   bench/fit_scaling.sh              # 1 2 5 10
#   FACTORS="1 10" bench/fit_scaling.sh
#
# Environment: INPUT (default the vendored Mooncake trace; any Mooncake JSONL with
# millisecond integer timestamps), FACTORS, KEEP=1 keeps the temp dir.
set -euo pipefail

cd "$(dirname "$0")/.."
INPUT=${INPUT:-validation/data/mooncake/conversation_trace.jsonl}
FACTORS=${FACTORS:-"1 2 5 10"}

if [[ ! -x /usr/bin/time ]]; then
    echo "bench/fit_scaling.sh needs GNU time (/usr/bin/time)" >&2
    exit 2
fi
echo "building release..." >&2
cargo build --release --quiet
BIN=$PWD/target/release/tracesynth

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tracesynth-fitscale.XXXXXX")
if [[ "${KEEP:-0}" != 1 ]]; then
    trap 'rm -rf "$TMP"' EXIT
else
    echo "keeping $TMP" >&2
fi

# One copy's length in time (last timestamp plus one 3 s step, so copies do not
# overlap) and in ids (largest id plus one).
read -r SHIFT OFFSET < <(awk '
    { if (match($0, /"timestamp": *[0-9]+/)) { s = substr($0, RSTART, RLENGTH); sub(/.*: */, "", s); if (s + 0 > t) t = s + 0 }
      if (match($0, /\[[0-9, ]*\]/)) { n = split(substr($0, RSTART + 1, RLENGTH - 2), a, /, */)
        for (i = 1; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0 } }
    END { printf "%d %d\n", t + 3000, m + 1 }' "$INPUT")

# copy K: the input with timestamps + K * SHIFT and ids + K * OFFSET.
copy() {
    awk -v k="$1" -v shift="$SHIFT" -v off="$OFFSET" '
    {
        line = $0
        if (match(line, /"timestamp": *[0-9]+/)) {
            s = substr(line, RSTART, RLENGTH); sub(/.*: */, "", s)
            line = substr(line, 1, RSTART - 1) "\"timestamp\": " (s + k * shift) substr(line, RSTART + RLENGTH)
        }
        if (k > 0 && match(line, /\[[0-9, ]*\]/)) {
            n = split(substr(line, RSTART + 1, RLENGTH - 2), a, /, */)
            ids = ""
            for (i = 1; i <= n; i++) ids = ids (i > 1 ? ", " : "") (a[i] + k * off)
            line = substr(line, 1, RSTART) ids substr(line, RSTART + RLENGTH - 1)
        }
        print line
    }' "$INPUT"
}

echo "| input | records | MB | wall s | CPU s | us/record (CPU) | CPU vs 1x | peak MB |"
echo "|---|---|---|---|---|---|---|---|"
BASE_CPU=""
for f in $FACTORS; do
    in="$TMP/x$f.jsonl"
    for ((k = 0; k < f; k++)); do copy "$k"; done > "$in"
    records=$(wc -l < "$in")
    bytes=$(stat -c %s "$in")
    /usr/bin/time -f "%e %U %S %M" -o "$TMP/time.txt" \
        "$BIN" --quiet fit "$in" -o "$TMP/model-x$f.json"
    read -r wall user sys rss < <(tail -n 1 "$TMP/time.txt")
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    [[ -z "$BASE_CPU" ]] && BASE_CPU=$cpu
    awk -v f="$f" -v r="$records" -v b="$bytes" -v w="$wall" -v c="$cpu" -v b1="$BASE_CPU" -v m="$rss" \
        'BEGIN { printf "| %sx | %d | %.1f | %s | %s | %.1f | %.2f | %d |\n", f, r, b / 1e6, w, c, c / r * 1e6, c / (b1 > 0 ? b1 : 0.01), m / 1024 }'
done
