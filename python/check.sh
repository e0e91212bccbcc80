#!/usr/bin/env bash
# Build the Python package (`pip install .`) in a fresh virtual environment and run its
# tests (python/tests).
#
#   python/check.sh
#
# 1. Installs the pinned tools (requirements-test.txt: maturin, pytest, numpy) into a
#    cached virtual environment under ~/.cache/tracesynth.
# 2. Makes a fresh virtual environment (at a fixed path beside it) that sees those tools (a .pth file), and runs
#    `pip install --no-build-isolation --no-index .` in it: one maturin release build,
#    in this repository's target/, without the network.
# 3. Runs pytest on python/tests with that environment's Python: its `tracesynth`
#    command is the package's.
#
# Exit 0: the tests passed, or the check was skipped because the tools could not be
# installed (printed as "skipped: <reason>"; set PYTHON_CHECK_REQUIRED=1 to make that a
# failure). Otherwise the build's or pytest's failure.
#
# Environment: TRACESYNTH_PY_TOOLS (default: $XDG_CACHE_HOME or ~/.cache, then
# tracesynth/venv-python-<hash of the requirements>), PYTHON (default python3),
# PYTHON_CHECK_REQUIRED.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
reqs="$here/requirements-test.txt"
python="${PYTHON:-python3}"
started=$SECONDS

skip() {
    echo "check_python: skipped: $*"
    if [[ "${PYTHON_CHECK_REQUIRED:-0}" == 1 ]]; then
        echo "check_python: PYTHON_CHECK_REQUIRED=1: a skip is a failure" >&2
        exit 2
    fi
    exit 0
}

# --- 1. the tools ----------------------------------------------------------------------
command -v "$python" >/dev/null || skip "no $python on PATH"
"$python" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 15)))' ||
    skip "the pinned numpy needs Python >=3.11; $python is $("$python" -V 2>&1)"
key="$(sha256sum "$reqs" | cut -c1-12)"
tools="${TRACESYNTH_PY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/tracesynth/venv-python-$key}"
stamp="$tools/.tracesynth-installed-$key"
if [[ -f "$stamp" && -x "$tools/bin/python" ]]; then
    echo "check_python: using the cached tools $tools"
else
    echo "check_python: installing maturin, pytest and numpy into $tools"
    rm -rf "$tools"
    mkdir -p "$(dirname "$tools")"
    log="$(mktemp)"
    if ! "$python" -m venv "$tools" >"$log" 2>&1; then
        cat "$log" >&2
        rm -rf "$tools" "$log"
        skip "cannot create a virtual environment with $python -m venv"
    fi
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$tools/bin/pip" install --quiet --timeout 60 \
        --retries 3 -r "$reqs" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        rm -rf "$tools" "$log"
        skip "pip install of $reqs failed (output above)"
    fi
    rm -f "$log"
    touch "$stamp"
fi

# --- 2. the package, in a fresh environment --------------------------------------------
# Made anew each run, at one path: the build's fingerprint holds the interpreter's path,
# so that a new path each time would rebuild the extension even when nothing changed.
venv="$(dirname "$tools")/venv-python-fresh"
rm -rf "$venv"
"$python" -m venv "$venv"
purelib() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
purelib "$tools/bin/python" >"$(purelib "$venv/bin/python")/_tracesynth_tools.pth"
# maturin's build backend runs the `maturin` program from PATH.
export PATH="$venv/bin:$tools/bin:$PATH"
t0=$SECONDS
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install --quiet --no-build-isolation \
    --no-index "$root"
echo "check_python: pip install . in $((SECONDS - t0)) s"

# --- 3. the tests ------------------------------------------------------------------------
cd "$root"
"$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
echo "check_python: ok ($((SECONDS - started)) s)"
