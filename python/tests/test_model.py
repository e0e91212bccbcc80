"""Models by name and by path, `fit`, `save` and `stats`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import tracesynth
from conftest import EXCERPT, MOONCAKE, cli


def test_every_shipped_model_loads_by_name() -> None:
    assert "qwen-trace-a" in tracesynth.SHIPPED_MODELS
    for name in tracesynth.SHIPPED_MODELS:
        model = tracesynth.Model.load(name)
        assert model.types and model.span > 0
        assert next(model.generate(seed=1)).chat_id == 0


def test_a_missing_model_is_a_file_not_found() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        tracesynth.Model.load("no-such-model")


def test_a_file_that_is_not_a_model_is_a_value_error(tmp: Path) -> None:
    bad = tmp / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="not a tracesynth model"):
        tracesynth.Model.load(bad)


def test_fit_is_the_commands_fit(tmp: Path) -> None:
    out = tmp / "cli.json"
    run = cli("fit", "-q", str(EXCERPT), "-o", str(out))
    assert run.returncode == 0, run.stderr
    model = tracesynth.fit(EXCERPT)
    assert model.to_json() == out.read_text()
    saved = tmp / "py.json"
    model.save(saved)
    assert saved.read_bytes() == out.read_bytes()
    again = tracesynth.Model.load(saved)
    assert again.to_json() == model.to_json()
    assert [r.to_dict() for r in again.generate(duration="10m")] == [
        r.to_dict() for r in model.generate(duration="10m")
    ]


def test_fit_with_a_format_and_seed(tmp: Path) -> None:
    out = tmp / "cli.json"
    run = cli("fit", "-q", str(MOONCAKE), "--seed", "3", "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert tracesynth.fit(MOONCAKE, format="mooncake", seed=3).to_json() == out.read_text()
    with pytest.raises(ValueError, match="format: `nope` is not a trace format"):
        tracesynth.fit(MOONCAKE, format="nope")
    with pytest.raises(FileNotFoundError):
        tracesynth.fit(tmp / "missing.jsonl")


@pytest.mark.parametrize("trace", [EXCERPT, MOONCAKE])
def test_stats_are_the_figures_of_stats_json(trace: Path) -> None:
    run = cli("stats", "--json", str(trace))
    assert run.returncode == 0, run.stderr
    assert tracesynth.stats(trace) == json.loads(run.stdout)


def test_stats_of_a_generated_trace_and_violations(tmp: Path) -> None:
    out = tmp / "t.jsonl"
    assert cli("generate", "-q", "--duration", "5m", "-o", str(out)).returncode == 0
    run = cli("stats", "--json", str(out))
    figures = tracesynth.stats(str(out))
    assert figures == json.loads(run.stdout)
    assert figures["requests"] == len(out.read_text().splitlines())
    # A record that breaks the block rule: a warning, as on the command line's stderr.
    lines = out.read_text().splitlines()
    record = json.loads(lines[0])
    record["hash_ids"] = record["hash_ids"][:1]
    bad = tmp / "bad.jsonl"
    bad.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracesynth.stats(bad)
    assert any("tracesynth check" in str(w.message) for w in caught)
