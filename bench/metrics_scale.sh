#!/usr/bin/env bash
# Metrics at scale: wall time and peak memory of `check`, `stats --json`,
# `stats --check --json` (both in one pass), `fit` and `compare` on a large trace from
# the built-in default model (issue 13's targets: stats within 3x the time of check and
# under 600 MB, compare of two such traces under 1.2 GB, fit under 1 GB and within 11x
# the time at 10x the input). Self-contained: builds the release binary and generates
# the traces in a temporary directory outside the repository.
#
#   bench/metrics_scale.sh                      # 1M requests
#   REQUESTS=100000 bench/metrics_scale.sh      # a quicker run
#
# Environment: REQUESTS (default 1000000) requests per trace, SKIP_FIT=1 leaves out
# `fit`, SKIP_COMPARE=1 leaves out `compare` and its second trace (for a 10M-request
# run: `REQUESTS=10000000 SKIP_FIT=1 SKIP_COMPARE=1`, about 17 GB of disk; TMPDIR picks
# where), KEEP=1 keeps the temp dir, BIN=path measures that binary instead of building
# this checkout's (to measure an older build on the same traces and machine). The two
# traces differ only in --seed (1 and 2).
# For fit's growth with the input, `fit` also runs on a trace of REQUESTS / 10 from the
# same generator (seed 1) and the script prints the ratio of the two fits' times;
# FIT_RUNS=N (default 1) runs each of those two fits N times and keeps the fastest run
# (wall and CPU alike), which steadies the ratio on a busy machine.
#
# Times are wall-clock seconds from /usr/bin/time; CPU is user+sys. On a shared machine
# compare the ratios of one run rather than figures across runs. "MB" is 2^20 bytes of
# peak resident set size (GNU time's %M is in KiB).
set -euo pipefail

cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-1000000}

if [[ ! -x /usr/bin/time ]]; then
    echo "bench/metrics_scale.sh needs GNU time (/usr/bin/time)" >&2
    exit 2
fi

if [[ -z "${BIN:-}" ]]; then
    echo "building release..." >&2
    cargo build --release --quiet
    BIN=$PWD/target/release/tracesynth
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tracesynth-metrics.XXXXXX")
if [[ "${KEEP:-0}" != 1 ]]; then
    trap 'rm -rf "$TMP"' EXIT
else
    echo "keeping $TMP" >&2
fi

echo "generating the traces of $REQUESTS requests (seeds 1 and 2)..." >&2
"$BIN" --quiet generate --requests "$REQUESTS" --seed 1 -o "$TMP/a.jsonl"
if [[ "${SKIP_COMPARE:-0}" != 1 ]]; then
    "$BIN" --quiet generate --requests "$REQUESTS" --seed 2 -o "$TMP/b.jsonl"
fi
BYTES=$(stat -c %s "$TMP/a.jsonl")

ROWS=()
declare -A WALL CPU
# measure NAME [RUNS] -- command...: runs the command under /usr/bin/time RUNS times
# (default 1), appends a table row with the fastest run's wall and CPU time and the
# largest peak, and keeps those times in WALL[NAME] and CPU[NAME].
measure() {
    local name=$1 runs=1
    shift
    if [[ $1 != -- ]]; then
        runs=$1
        shift
    fi
    shift
    local tf="$TMP/time.txt" best_wall="" best_cpu="" peak=0 run
    for ((run = 0; run < runs; run++)); do
        /usr/bin/time -f "%e %U %S %M" -o "$tf" "$@" > "$TMP/stdout.txt" || {
            local rc=$?
            # compare exits 1 when a row fails its tolerance, check when it finds a
            # violation: still completed runs.
            [[ $rc == 1 && ( "$name" == compare* || "$name" == check* ) ]] \
                || { echo "$name failed ($rc)" >&2; exit 1; }
        }
        local wall user sys rss cpu
        read -r wall user sys rss < <(tail -n 1 "$tf")
        cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
        best_wall=$(awk -v a="$wall" -v b="${best_wall:-$wall}" 'BEGIN { print (a < b ? a : b) }')
        best_cpu=$(awk -v a="$cpu" -v b="${best_cpu:-$cpu}" 'BEGIN { print (a < b ? a : b) }')
        ((rss > peak)) && peak=$rss
    done
    ROWS+=("| \`$name\` | $best_wall | $best_cpu | $((peak / 1024)) |")
    echo "  $name: ${best_wall}s wall, ${best_cpu}s CPU, $((peak / 1024)) MB peak" >&2
    WALL[$name]=$best_wall
    CPU[$name]=$best_cpu
}

measure "check" -- "$BIN" --quiet check "$TMP/a.jsonl"
measure "stats --json" -- "$BIN" --quiet stats --json "$TMP/a.jsonl"
cp "$TMP/stdout.txt" "$TMP/stats.json"
measure "stats --check --json" -- "$BIN" --quiet stats --check --json "$TMP/a.jsonl"
cmp -s "$TMP/stdout.txt" "$TMP/stats.json" \
    || { echo "stats --check printed other statistics than stats" >&2; exit 1; }
FIT_RUNS=${FIT_RUNS:-1}
SMALL=$((REQUESTS / 10))
if [[ "${SKIP_FIT:-0}" != 1 ]]; then
    measure "fit" "$FIT_RUNS" -- "$BIN" --quiet fit "$TMP/a.jsonl" -o "$TMP/model.json"
    "$BIN" --quiet generate --requests "$SMALL" --seed 1 -o "$TMP/small.jsonl"
    measure "fit (1/10 input)" "$FIT_RUNS" -- \
        "$BIN" --quiet fit "$TMP/small.jsonl" -o "$TMP/model-small.json"
    rm -f "$TMP/small.jsonl"
fi
if [[ "${SKIP_COMPARE:-0}" != 1 ]]; then
    measure "compare" -- "$BIN" --quiet compare "$TMP/a.jsonl" "$TMP/b.jsonl"
fi

echo
echo "tracesynth $("$BIN" --version 2>/dev/null | head -n 1) at $BIN," \
    "checkout $(git describe --always --dirty 2>/dev/null || echo '?'), $(nproc) cores," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "input: $REQUESTS requests per trace, $((BYTES / 1000000)) MB (default model, seed 1$([[ "${SKIP_COMPARE:-0}" != 1 ]] && echo ' and 2'))"
echo
echo "| command | wall s | CPU s | peak MB |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
awk -v s="${WALL[stats --json]}" -v k="${WALL[stats --check --json]}" -v c="${WALL[check]}" 'BEGIN {
    c = c > 0 ? c : 0.01
    printf "stats / check wall time: %.2fx\n", s / c
    printf "stats --check / (check + stats) wall time: %.2fx\n", k / (c + s) }'
if [[ "${SKIP_FIT:-0}" != 1 ]]; then
    awk -v w="${WALL[fit]}" -v w1="${WALL[fit (1/10 input)]}" \
        -v c="${CPU[fit]}" -v c1="${CPU[fit (1/10 input)]}" -v n="$REQUESTS" -v m="$SMALL" \
        -v runs="$FIT_RUNS" 'BEGIN {
        printf "fit at %d vs %d requests (fastest of %d): %.2fx the wall time, %.2fx the CPU time\n",
            n, m, runs, w / (w1 > 0 ? w1 : 0.01), c / (c1 > 0 ? c1 : 0.01) }'
fi
