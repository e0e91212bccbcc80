#!/usr/bin/env bash
# Check tracesynth Mooncake output with GuideLLM's own trace loader, once (not in CI:
# `pip install guidellm` pulls torch and CUDA libraries, 5.9 GB).
#
#   validation/consumers/check_guidellm.sh
#
# 1. Installs GuideLLM (GUIDELLM_VERSION, default 0.8.1) into a cached virtual
#    environment.
# 2. Generates a Mooncake trace from every shipped model and from a ServeGen import.
# 3. Runs guidellm_check.py: GuideLLM's `mooncake` data kind loads each file and builds
#    every request and prompt (see its docstring for what is checked).
#
# Exit 0: every file passed. Exit 1: a file failed. Exit 2: the check itself is broken or
# GuideLLM could not be installed. Record a run in validation/CONSUMERS.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
version="${GUIDELLM_VERSION:-0.8.1}"
venv="${GUIDELLM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tracesynth/venv-guidellm-$version}"
started=$SECONDS

if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import guidellm' 2>/dev/null; then
    echo "check_guidellm: installing guidellm==$version into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install --quiet --timeout 60 \
        "guidellm==$version" || { echo "check_guidellm: pip install failed" >&2; exit 2; }
fi

(cd "$root" && cargo build --release --quiet)
ts="$root/target/release/tracesynth"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

files=()
for model in qwen-trace-a qwen-trace-b mooncake-conversation azure-conversation; do
    "$ts" generate -q -m "$root/models/$model.json" --format mooncake --duration 10m \
        -o "$model.jsonl"
    files+=("$model.jsonl")
done
"$ts" import-servegen -q "$root/validation/data/servegen/reason/deepseek-r1" -o servegen.json
"$ts" generate -q -m servegen.json --format mooncake --duration 1h -o servegen.jsonl
files+=(servegen.jsonl)

rc=0
"$venv/bin/python" "$here/guidellm_check.py" "${files[@]}" 2> >(grep -v -E \
    'WARNING|FutureWarning|return options_class|Generating train split' >&2) || rc=$?
if [[ $rc -ne 0 ]]; then
    echo "check_guidellm: FAILED (exit $rc)" >&2
    exit "$rc"
fi
echo "check_guidellm: ok: ${#files[@]} Mooncake files load in GuideLLM $version" \
    "($((SECONDS - started)) s)"
