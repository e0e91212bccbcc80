#!/usr/bin/env bash
# Check tracesynth output with a real consumer: NVIDIA AIPerf, installed from PyPI.
#
#   validation/consumers/check_aiperf.sh
#
# 1. Installs the pinned AIPerf (aiperf-requirements.txt, `--no-deps`: only the modules
#    the checks import, ~300 MB and about a minute instead of 1.2 GB and 7 minutes for
#    the full dependency tree) into a cached virtual environment.
# 2. Generates Bailian, Mooncake and mooncake-sessions traces with the release binary
#    (each mooncake-sessions file beside a Bailian twin: the same model, seed and options).
# 3. Runs `aiperf validate mooncake-trace --input FILE` on every Mooncake and
#    mooncake-sessions file, and aiperf_check.py (AIPerf's BailianTrace and MooncakeTrace
#    models, both loaders' session grouping, the turn timing, the prompt block rule) on
#    all.
#
# Exit 0: every record passed, or the check was skipped because AIPerf could not be
# installed (printed as "skipped: <reason>"; set AIPERF_CHECK_REQUIRED=1 to make that a
# failure). Exit 1: a record failed. Exit 2: the check itself is broken.
#
# Environment: AIPERF_VENV (default: $XDG_CACHE_HOME or ~/.cache, then
# tracesynth/venv-aiperf-<hash of the requirements>), PYTHON (default python3),
# AIPERF_CHECK_REQUIRED.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
reqs="$here/aiperf-requirements.txt"
python="${PYTHON:-python3}"
started=$SECONDS

skip() {
    echo "check_aiperf: skipped: $*"
    if [[ "${AIPERF_CHECK_REQUIRED:-0}" == 1 ]]; then
        echo "check_aiperf: AIPERF_CHECK_REQUIRED=1: a skip is a failure" >&2
        exit 2
    fi
    exit 0
}

# --- 1. the virtual environment ------------------------------------------------------
command -v "$python" >/dev/null || skip "no $python on PATH"
"$python" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 14)))' ||
    skip "aiperf 0.13.0 needs Python >=3.11,<3.14; $python is $("$python" -V 2>&1)"

key="$(sha256sum "$reqs" | cut -c1-12)"
venv="${AIPERF_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tracesynth/venv-aiperf-$key}"
stamp="$venv/.tracesynth-installed-$key"
if [[ -f "$stamp" && -x "$venv/bin/python" ]]; then
    echo "check_aiperf: using the cached venv $venv"
else
    echo "check_aiperf: installing AIPerf into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    log="$(mktemp)"
    if ! "$python" -m venv "$venv" >"$log" 2>&1; then
        cat "$log" >&2
        rm -rf "$venv" "$log"
        skip "cannot create a virtual environment with $python -m venv"
    fi
    t0=$SECONDS
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install --quiet --no-deps \
        --timeout 60 --retries 3 -r "$reqs" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        rm -rf "$venv" "$log"
        skip "pip install of the pinned AIPerf failed (output above)"
    fi
    rm -f "$log"
    touch "$stamp"
    echo "check_aiperf: installed in $((SECONDS - t0)) s, $(du -sh "$venv" | cut -f1)"
fi
vpy="$venv/bin/python"

# --- 2. traces -----------------------------------------------------------------------
(cd "$root" && cargo build --release --quiet)
ts="$root/target/release/tracesynth"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

bailian=() mooncake=() sessions=() sessionfiles=()
gen() { # gen NAME FORMAT ARGS...: generate NAME.jsonl
    local name="$1" format="$2"
    shift 2
    "$ts" generate -q --format "$format" -o "$name.jsonl" "$@"
    case "$format" in
    bailian) bailian+=("$name.jsonl") ;;
    mooncake) mooncake+=("$name.jsonl") ;;
    mooncake-sessions)
        # Its Bailian twin: the same run, so that the sessions and times can be compared.
        "$ts" generate -q --format bailian -o "$name.twin.jsonl" "$@"
        sessions+=("$name.twin.jsonl" "$name.jsonl")
        sessionfiles+=("$name.jsonl")
        ;;
    esac
}
# The built-in default model (calibrated trace A), models fitted on the vendored real
# Bailian excerpt and on a reference trace, one imported from ServeGen client data, and
# the fitted Mooncake model as merged shards.
"$ts" reference -q --preset trace-a --duration 30m -o reference-trace-a.jsonl
bailian+=(reference-trace-a.jsonl)
"$ts" fit -q reference-trace-a.jsonl -o reference-model.json
"$ts" fit -q "$root/validation/data/qwen-bailian-excerpt/traceA_excerpt.jsonl" \
    -o excerpt-model.json

gen default bailian --duration 10m
gen default-seed7-rate2 bailian --duration 5m --seed 7 --rate-scale 2
gen default-seed3-time0.5-startid bailian --duration 5m --seed 3 --time-scale 0.5 \
    --start-id 4000000000
gen reference-model bailian --model reference-model.json --duration 10m
gen excerpt-model bailian --model excerpt-model.json --duration 1h
gen default-mc mooncake --duration 10m
gen reference-model-mc mooncake --model reference-model.json --duration 10m
gen excerpt-model-mc mooncake --model excerpt-model.json --duration 1h
"$ts" import-servegen -q "$root/validation/data/servegen/reason/deepseek-r1" -o servegen-model.json
gen servegen-model bailian --model servegen-model.json --duration 2h
gen default-sessions mooncake-sessions --duration 10m
# AIPerf keeps unknown fields: `turn` passes (`type` is AIPerf's own and would not).
"$ts" generate -q --format mooncake-sessions --field turn --duration 10m -o sessions-turn.jsonl
sessionfiles+=(sessions-turn.jsonl)
gen excerpt-model-sessions mooncake-sessions --model excerpt-model.json --duration 1h
gen mooncake-sessions mooncake-sessions --model "$root/models/mooncake-conversation.json" \
    --duration 20m
gen servegen-model-sessions mooncake-sessions --model servegen-model.json --duration 2h
for i in 0 1 2; do
    "$ts" generate -q --model "$root/models/mooncake-conversation.json" --format mooncake \
        --duration 20m --shard "$i/3" -o "mc-part-$i.jsonl"
done
"$ts" merge -q mc-part-0.jsonl mc-part-1.jsonl mc-part-2.jsonl -o mooncake-merged.jsonl
mooncake+=(mooncake-merged.jsonl)

# --- 3. the checks -------------------------------------------------------------------
"$vpy" -c 'import aiperf.cli, aiperf.cli_commands.validate' 2>"$work/import.err" || {
    cat "$work/import.err" >&2
    echo "check_aiperf: AIPerf is installed but its CLI does not import:" \
        "aiperf-requirements.txt misses a module" >&2
    exit 2
}

failed=0
for f in "${mooncake[@]}" "${sessionfiles[@]}"; do
    echo "check_aiperf: aiperf validate mooncake-trace --input $f"
    # pipefail: a failed validation (exit 1) fails the pipeline.
    if ! "$venv/bin/aiperf" validate mooncake-trace --input "$f" 2>&1 | sed 's/^/  /'; then
        failed=1
    fi
done

echo "check_aiperf: aiperf_check.py (BailianTrace, session grouping, block rule)"
rc=0
"$vpy" "$here/aiperf_check.py" --tmp "$work" --bailian "${bailian[@]}" \
    --mooncake "${mooncake[@]}" --sessions "${sessions[@]}" || rc=$?
if [[ $rc -eq 2 ]]; then
    echo "check_aiperf: the checker itself failed (see above)" >&2
    exit 2
elif [[ $rc -ne 0 ]]; then
    failed=1
fi

if [[ $failed -ne 0 ]]; then
    echo "check_aiperf: FAILED: AIPerf rejects records of tracesynth output (see above)" >&2
    exit 1
fi
echo "check_aiperf: ok: ${#bailian[@]} Bailian, ${#mooncake[@]} Mooncake and" \
    "${#sessionfiles[@]} mooncake-sessions files pass" \
    "AIPerf ($((SECONDS - started)) s)"
