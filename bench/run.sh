#!/usr/bin/env bash
# Performance benchmark of tracesynth: generate throughput, fit/stats/compare on a
# 100 MB Bailian trace, and peak memory of long generations. Self-contained: builds the
# release binary, makes a trace-A-like model and the inputs in a temporary directory,
# and prints a Markdown table.
#
#   bench/run.sh            # everything (a few minutes on 2 cores)
#   bench/run.sh --quick    # skip the 10M-request memory run
#
# Environment: GEN_REQUESTS (default 1000000) requests for the throughput run,
# BIG_MB (default 100) size of the fit/stats/compare input, SHARDS (default 4) parts of
# the sharded run, KEEP=1 keeps the temp dir.
#
# Times are wall-clock seconds from /usr/bin/time on one thread; CPU is user+sys. On a
# shared machine the CPU column is the steadier of the two. "MB" is 10^6 bytes.
set -euo pipefail

cd "$(dirname "$0")/.."
QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
GEN_REQUESTS=${GEN_REQUESTS:-1000000}
BIG_MB=${BIG_MB:-100}

if [[ ! -x /usr/bin/time ]]; then
    echo "bench/run.sh needs GNU time (/usr/bin/time)" >&2
    exit 2
fi

echo "building release..." >&2
cargo build --release --quiet
[[ -c /dev/null ]] || { echo "/dev/null is not a character device: cannot measure" >&2; exit 2; }
BIN=$PWD/target/release/tracesynth

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tracesynth-bench.XXXXXX")
if [[ "${KEEP:-0}" != 1 ]]; then
    trap 'rm -rf "$TMP"' EXIT
else
    echo "keeping $TMP" >&2
fi

ROWS=()
# measure NAME BYTES RECORDS -- command...: runs the command under /usr/bin/time and
# appends a table row. BYTES/RECORDS (0: not applicable) give the MB/s and records/s.
measure() {
    local name=$1 bytes=$2 records=$3
    shift 4
    local tf="$TMP/time.txt"
    /usr/bin/time -f "%e %U %S %M" -o "$tf" "$@" > "$TMP/stdout.txt" || {
        local rc=$?
        # compare exits 1 when a row fails its tolerance: still a completed run.
        [[ $rc == 1 && "$name" == compare* ]] || { echo "$name failed ($rc)" >&2; exit 1; }
    }
    # Another process running an old tracesynth with `-o /dev/null` (which renamed a
    # regular file over the device) would make every later number meaningless.
    [[ -c /dev/null ]] || { echo "/dev/null is no longer a character device" >&2; exit 1; }
    local wall user sys rss
    read -r wall user sys rss < <(tail -n 1 "$tf")
    local cpu mbs mbc rps
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    mbs=$(awk -v b="$bytes" -v w="$wall" 'BEGIN { if (b > 0) printf "%.0f", b / 1e6 / w; else printf "-" }')
    mbc=$(awk -v b="$bytes" -v c="$cpu" 'BEGIN {
        if (b > 0) printf "%.0f", b / 1e6 / (c > 0 ? c : 0.01); else printf "-" }')
    rps=$(awk -v r="$records" -v w="$wall" 'BEGIN { if (r > 0) printf "%.0f", r / w; else printf "-" }')
    ROWS+=("| $name | $wall | $cpu | $mbs | $mbc | $rps | $((rss / 1024)) |")
    echo "  $name: ${wall}s wall, ${cpu}s CPU, ${mbs} MB/s, $((rss / 1024)) MB peak" >&2
    LAST_WALL=$wall
}

echo "making the trace-A-like model..." >&2
"$BIN" --quiet reference --preset trace-a --duration 2h -o "$TMP/ref.jsonl"
"$BIN" --quiet fit "$TMP/ref.jsonl" -o "$TMP/bench-model.json"
MODEL=$TMP/bench-model.json

echo "generate throughput ($GEN_REQUESTS requests)..." >&2
"$BIN" --quiet generate -m "$MODEL" --requests "$GEN_REQUESTS" -o "$TMP/gen.jsonl"
GEN_BYTES=$(stat -c %s "$TMP/gen.jsonl")
GEN_LINES=$(wc -l < "$TMP/gen.jsonl")
BYTES_PER_REQ=$(awk -v b="$GEN_BYTES" -v n="$GEN_LINES" 'BEGIN { printf "%.0f", b / n }')
# Mean hash ids per record, over the first 100k records.
IDS_PER_REQ=$(head -n 100000 "$TMP/gen.jsonl" | awk -F'"hash_ids": ' '{ n++; ids += gsub(/,/, ",", $2) + 1 }
    END { printf "%.0f", ids / n }')
measure "generate ${GEN_REQUESTS} req -> /dev/null" "$GEN_BYTES" "$GEN_LINES" -- \
    "$BIN" --quiet generate -m "$MODEL" --requests "$GEN_REQUESTS" -o /dev/null
GEN_WALL=$LAST_WALL
measure "wc -l (same output, page cache)" "$GEN_BYTES" "$GEN_LINES" -- \
    wc -l "$TMP/gen.jsonl"
WC_WALL=$LAST_WALL
measure "generate ${GEN_REQUESTS} req -> file" "$GEN_BYTES" "$GEN_LINES" -- \
    "$BIN" --quiet generate -m "$MODEL" --requests "$GEN_REQUESTS" -o "$TMP/gen2.jsonl"
cmp -s "$TMP/gen.jsonl" "$TMP/gen2.jsonl" || { echo "generate is not deterministic" >&2; exit 1; }
rm -f "$TMP/gen2.jsonl"
for threads in 2 $(( $(nproc) > 2 ? $(nproc) : 0 )); do
    [[ $threads == 0 ]] && continue
    measure "generate ${GEN_REQUESTS} req --threads $threads -> /dev/null" "$GEN_BYTES" "$GEN_LINES" -- \
        "$BIN" --quiet generate -m "$MODEL" --requests "$GEN_REQUESTS" --threads "$threads" -o /dev/null
done
"$BIN" --quiet generate -m "$MODEL" --requests "$GEN_REQUESTS" --threads 2 -o "$TMP/gen2.jsonl"
cmp -s "$TMP/gen.jsonl" "$TMP/gen2.jsonl" || { echo "--threads 2 changed the output" >&2; exit 1; }
rm -f "$TMP/gen2.jsonl"

echo "sharded generation: ${SHARDS:=4} parts, one after the other..." >&2
PARTS=()
for ((i = 0; i < SHARDS; i++)); do
    measure "generate --shard $i/$SHARDS -> /dev/null" 0 0 -- \
        "$BIN" --quiet generate -m "$MODEL" --requests "$GEN_REQUESTS" --shard "$i/$SHARDS" \
        -o /dev/null
    "$BIN" --quiet generate -m "$MODEL" --requests "$GEN_REQUESTS" --shard "$i/$SHARDS" \
        -o "$TMP/part-$i.jsonl"
    PARTS+=("$TMP/part-$i.jsonl")
done
measure "merge $SHARDS parts -> file" "$GEN_BYTES" "$GEN_LINES" -- \
    "$BIN" --quiet merge "${PARTS[@]}" -o "$TMP/merged.jsonl"
cmp -s "$TMP/gen.jsonl" "$TMP/merged.jsonl" || { echo "merged parts differ from one run" >&2; exit 1; }
rm -f "${PARTS[@]}" "$TMP/merged.jsonl"

echo "making the ${BIG_MB} MB input..." >&2
head -c "$((BIG_MB * 1000000))" "$TMP/gen.jsonl" | head -n -1 > "$TMP/big.jsonl"
rm -f "$TMP/gen.jsonl"
"$BIN" --quiet generate -m "$MODEL" --requests "$GEN_REQUESTS" --seed 1 -o - \
    | head -c "$((BIG_MB * 1000000))" | head -n -1 > "$TMP/big2.jsonl" || true
BIG_BYTES=$(stat -c %s "$TMP/big.jsonl")
BIG_LINES=$(wc -l < "$TMP/big.jsonl")
BIG2_BYTES=$(stat -c %s "$TMP/big2.jsonl")
BIG2_LINES=$(wc -l < "$TMP/big2.jsonl")

measure "fit ${BIG_MB} MB" "$BIG_BYTES" "$BIG_LINES" -- \
    "$BIN" --quiet fit "$TMP/big.jsonl" -o "$TMP/big-model.json"
measure "stats ${BIG_MB} MB" "$BIG_BYTES" "$BIG_LINES" -- \
    "$BIN" --quiet stats "$TMP/big.jsonl"
measure "compare ${BIG_MB} MB vs ${BIG_MB} MB" "$((BIG_BYTES + BIG2_BYTES))" \
    "$((BIG_LINES + BIG2_LINES))" -- \
    "$BIN" --quiet compare "$TMP/big.jsonl" "$TMP/big2.jsonl"

echo "peak memory of long generations..." >&2
measure "generate 1M req, peak memory" 0 1000000 -- \
    "$BIN" --quiet generate -m "$MODEL" --requests 1000000 -o /dev/null
if [[ $QUICK == 0 ]]; then
    measure "generate 10M req, peak memory" 0 10000000 -- \
        "$BIN" --quiet generate -m "$MODEL" --requests 10000000 -o /dev/null
fi

echo
echo "tracesynth $(git describe --always --dirty 2>/dev/null || echo '?'), $(nproc) cores," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "generate output: $GEN_LINES records, $((GEN_BYTES / 1000000)) MB, $BYTES_PER_REQ bytes and $IDS_PER_REQ ids per record;" \
    "fit/stats input: $BIG_LINES records, $((BIG_BYTES / 1000000)) MB"
awk -v g="$GEN_WALL" -v w="$WC_WALL" 'BEGIN {
    printf "generate -> /dev/null takes %.1fx the time of wc -l over its output\n", g / w }'
echo
echo "| measurement | wall s | CPU s | MB/s (wall) | MB per CPU-s | records/s (wall) | peak RSS MB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
