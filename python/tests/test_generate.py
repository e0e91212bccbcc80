"""`Model.generate` and `generate_batches`: the requests of `tracesynth generate`."""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

import tracesynth
from conftest import cli, read_jsonl


def as_records(requests: "tracesynth.Requests") -> List[Dict[str, Any]]:
    return [r.to_dict() for r in requests]


def from_batches(batches: "tracesynth.Batches") -> List[Dict[str, Any]]:
    out = []
    for b in batches:
        offsets = list(b["hash_ids_offsets"])
        ids = list(b["hash_ids"])
        for i in range(len(b["chat_id"])):
            out.append(
                {
                    "chat_id": int(b["chat_id"][i]),
                    "parent_chat_id": int(b["parent_chat_id"][i]),
                    "timestamp": float(b["timestamp"][i]),
                    "input_length": int(b["input_length"][i]),
                    "output_length": int(b["output_length"][i]),
                    "type": b["type"][i],
                    "turn": int(b["turn"][i]),
                    "hash_ids": [int(x) for x in ids[offsets[i] : offsets[i + 1]]],
                }
            )
    return out


RUNS = [
    ("qwen-trace-a", ["--duration", "5m", "--seed", "3"], dict(duration="5m", seed=3)),
    (
        "qwen-trace-b",
        ["--duration", "3m", "--rate-scale", "2", "--seed", "1"],
        dict(duration=180, rate_scale=2, seed=1),
    ),
    (
        "qwen-trace-a",
        ["--requests", "3000", "--tenants", "2", "--max-context", "4000",
         "--context-policy", "end", "--start-id", "100", "--time-scale", "0.5"],
        dict(requests=3000, tenants=2, max_context=4000, context_policy="end",
             start_id=100, time_scale=0.5),
    ),
    (
        "qwen-trace-a",
        ["--duration", "10m", "--rate-profile", "flat", "--max-input", "2000",
         "--output-scale", "1.5", "--start-at", "14h", "--shard", "1/3"],
        dict(duration="10m", rate_profile="flat", max_input=2000, output_scale=1.5,
             start_at="14h", shard="1/3"),
    ),
]


@pytest.mark.parametrize("name,flags,options", RUNS)
def test_the_iterator_yields_the_lines_generate_writes(
    tmp: Path, name: str, flags: List[str], options: Dict[str, Any]
) -> None:
    out = tmp / "cli.jsonl"
    run = cli("generate", "-q", "--model", name, *flags, "-o", str(out))
    assert run.returncode == 0, run.stderr
    expected = read_jsonl(out)
    assert len(expected) > 100
    model = tracesynth.Model.load(name)
    assert as_records(model.generate(**options)) == expected
    assert from_batches(model.generate_batches(batch_size=1000, **options)) == expected


def test_batches_in_numpy_and_in_lists() -> None:
    np = pytest.importorskip("numpy")
    model = tracesynth.Model.load("qwen-trace-a")
    batches = list(model.generate_batches(batch_size=700, requests=2000, seed=5))
    assert [len(b["chat_id"]) for b in batches] == [700, 700, 600]
    b = batches[0]
    for key in ("chat_id", "parent_chat_id", "input_length", "output_length", "turn",
                "hash_ids", "hash_ids_offsets"):
        assert isinstance(b[key], np.ndarray) and b[key].dtype == np.int64, key
    assert b["timestamp"].dtype == np.float64
    assert b["hash_ids_offsets"][0] == 0 and len(b["hash_ids_offsets"]) == 701
    assert b["hash_ids_offsets"][-1] == len(b["hash_ids"])
    b["chat_id"][0] = 99  # writable
    blocks = np.diff(b["hash_ids_offsets"])
    assert (blocks == -(-b["input_length"] // 16)).all()
    lists = list(model.generate_batches(batch_size=700, requests=2000, seed=5, numpy=False))
    assert isinstance(lists[0]["chat_id"], list)
    assert from_batches(iter(lists)) == from_batches(
        model.generate_batches(batch_size=2000, requests=2000, seed=5)
    )


def test_without_numpy_batches_are_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # `import numpy` now fails
    model = tracesynth.Model.load("qwen-trace-a")
    b = next(model.generate_batches(batch_size=10, requests=10))
    assert isinstance(b["chat_id"], list) and isinstance(b["hash_ids"], list)
    with pytest.raises(ImportError):
        model.generate_batches(requests=10, numpy=True)


def test_the_rest_of_a_run_in_batches() -> None:
    model = tracesynth.Model.load("qwen-trace-a")
    whole = as_records(model.generate(requests=50, seed=2))
    run = model.generate(requests=50, seed=2)
    head = [r.to_dict() for r in itertools.islice(run, 20)]
    assert head + from_batches(run.batches(8)) == whole
    assert list(run) == []


@pytest.mark.parametrize(
    "options,message",
    [
        (dict(duration="-5s"), "duration `-5s` must not be negative"),
        (dict(duration=-5), "duration: -5 s is outside (0, 62 days]"),
        (dict(duration="2x"), "unknown unit `x` in `2x`"),
        (dict(duration="1.2.3h"), "is not a duration like"),
        (dict(rate_scale=0), "rate_scale: 0 is outside"),
        (dict(rate_scale=1e9), "rate_scale: 1e9 is outside"),
        (dict(requests=-1), "requests: -1 is outside"),
        (dict(tenants=0), "tenants: 0 copies"),
        (dict(start_id=2**32), "start_id: 4294967296 is at or above 2^32"),
        (dict(context_policy="end"), "context_policy: end: says what --max-context does"),
        (dict(context_policy="drop", max_context=10), "truncate or end"),
        (dict(max_context=0), "max_context: 0 tokens is outside"),
        (dict(min_input=500, max_input=100), "min_input: 500 is above --max-input 100"),
        (dict(peak_cap=1e-9), "peak_cap: "),
        (dict(peak_cap=5, tenants=2), "peak_cap: caps one service's rate"),
        (dict(shard="3/2"), "shard: shard 3/2: the part must be"),
        (dict(rate_profile="steep"), "rate_profile: `steep` is neither"),
        (dict(rate_profile=[(60, 1), (0, 2)]), "rate_profile: the steps must be sorted"),
        (dict(rate_profile=[(0, 0)]), "rate_profile: no step with a positive multiplier"),
    ],
)
def test_options_are_refused_at_the_call(options: Dict[str, Any], message: str) -> None:
    model = tracesynth.Model.load("qwen-trace-a")
    with pytest.raises(ValueError) as e:
        model.generate(**options)  # not iterated: the call itself raises
    assert message in str(e.value)
    with pytest.raises(ValueError):
        model.generate_batches(**options)


def test_a_clients_model_keeps_its_rates(tmp: Path) -> None:
    from conftest import ROOT

    out = tmp / "sg.json"
    src = ROOT / "validation/data/servegen/reason/deepseek-r1"
    run = cli("import-servegen", "-q", str(src), "-o", str(out))
    assert run.returncode == 0, run.stderr
    model = tracesynth.Model.load(out)
    with pytest.raises(ValueError, match="rate_profile: a model of ServeGen clients"):
        model.generate(rate_profile="flat")
    assert next(model.generate(rate_scale=0.5)).turn == 1
    run = cli("generate", "--model", str(out), "--rate-profile", "flat", "-o", "-")
    assert run.returncode == 2 and "a model of ServeGen clients" in run.stderr


def test_a_mooncake_model_has_512_token_blocks() -> None:
    model = tracesynth.Model.load("mooncake-conversation")
    assert model.block_size == 512
    for r in itertools.islice(model.generate(seed=1), 500):
        assert len(r.hash_ids) == math.ceil(r.input_length / 512)


def test_requests_fields() -> None:
    model = tracesynth.Model.load("qwen-trace-a")
    seen_followup = False
    for r in itertools.islice(model.generate(duration="30m"), 5000):
        assert r.type in model.types
        assert len(r.hash_ids) == math.ceil(r.input_length / 16)
        assert round(r.timestamp, 3) == r.timestamp
        if r.parent_chat_id >= 0:
            seen_followup = True
            assert r.turn >= 2
        else:
            assert r.turn == 1
    assert seen_followup
    assert "chat_id=" in repr(r)
