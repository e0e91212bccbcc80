"""Check tracesynth output with NVIDIA AIPerf's own trace code (run by check_aiperf.sh).

    python aiperf_check.py --bailian A.jsonl ... --mooncake B.jsonl ... \
        --sessions TWIN.jsonl C.jsonl ...

For every Bailian record:
  * `BailianTrace.model_validate(record)`: what AIPerf's Bailian loader
    (`aiperf.dataset.loader.bailian_trace`, `_parse_trace`) does to each line. The model
    is lax (it takes 1.0 for an int and defaults missing fields), so each record is also
    validated with `strict=True`, which rejects floats in int fields.
  * the loader's session grouping (`_group_into_sessions`): every non-root record's
    parent must be in the file; otherwise AIPerf replays it as a new session with no
    context.
For every Mooncake record: `MooncakeTrace.model_validate(record)` (the Mooncake loader's
`_parse_trace`; `aiperf validate mooncake-trace` runs the same model).
For every mooncake-sessions file (`--sessions TWIN FILE`: FILE written as
`--format mooncake-sessions`, TWIN the same run as `--format bailian`):
  * `MooncakeTrace.model_validate` and the block rule, as for Mooncake;
  * the Mooncake loader's own session grouping (`_group_traces`) against the Bailian
    loader's (`_group_into_sessions`) on the twin: the same sessions under the same ids,
    of the same sizes;
  * AIPerf's turn timing (`_build_turn`: the first turn a `timestamp`, every later one a
    `delay` and no timestamp), and the arrivals the delays add up to (first timestamp
    plus the delays, in ms) equal to the twin's arrivals in that session, rounded to ms.
For every record of all formats, the block rule AIPerf applies when it builds prompts:
  * `PromptGenerator._build_token_sequence` (aiperf.dataset.generator.prompt), called as
    the loaders call it, with the loader's block size (16 Bailian, 512 Mooncake) and one
    block cache per file. It raises if the last block's fill is outside (0, block] or if
    a hash id comes back at a different size. Only the tokenizer and the corpus sampling
    are stubbed (they need a downloaded tokenizer); the checks are AIPerf's code.
  * len(hash_ids) == ceil(input_length / block) exactly (BRIEF section 2). AIPerf 0.13
    accepts fewer ids ("prefix only": it pads with uncached tokens), which would
    silently change the cache behaviour being replayed, so it is checked separately.
Records are visited in the loaders' order (Bailian: sessions, turns; Mooncake: file).

Exits 1 if any record fails, 2 if AIPerf's code cannot be imported or the checker cannot
catch known-bad records (a self-test runs first).
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

try:
    import aiperf.dataset.generator.prompt as prompt_mod
    from aiperf.common.exceptions import ConfigurationError
    from aiperf.dataset.generator.prompt import PromptGenerator
    from aiperf.dataset.loader.bailian_trace import BailianTraceDatasetLoader
    from aiperf.dataset.loader.models import BailianTrace, MooncakeTrace
    from aiperf.dataset.loader.mooncake_trace import MooncakeTraceDatasetLoader
    from pydantic import ValidationError
except ImportError as e:  # pragma: no cover - reported by the shell script
    print(f"aiperf_check: cannot import AIPerf's trace code: {e}", file=sys.stderr)
    sys.exit(2)

BAILIAN_BLOCK = 16
MOONCAKE_BLOCK = 512
SHOW = 5  # failures printed per file and kind


def _stub_sample(_corpus, n, _rng, _sep):
    # The real function draws n tokens from the tokenized corpus; only the count
    # matters to the checks, and a bytes object is a compact sequence of n ints.
    return bytes(n)


prompt_mod.sample_tokens_from_corpus = _stub_sample


class BlockChecker:
    """AIPerf's PromptGenerator block logic with one cache per trace file."""

    def __init__(self, block: int):
        self.block = block
        self.gen = SimpleNamespace(
            _cache={},
            _hash_id_corpus_rng=SimpleNamespace(reseed_for_hash_id=lambda _id: None),
            _tokenized_corpus=None,
            tokenizer=SimpleNamespace(block_separation_token_id=None),
            _sample_tokens=lambda n: bytes(n),
        )

    def check(self, input_length: int, hash_ids: list[int]) -> str | None:
        want = -(-input_length // self.block)
        if len(hash_ids) != want:
            return (f"{len(hash_ids)} hash ids for input_length {input_length}, "
                    f"ceil({input_length}/{self.block}) = {want}")
        try:
            tokens = PromptGenerator._build_token_sequence(
                self.gen, input_length, hash_ids, self.block
            )
        except ConfigurationError as e:
            return str(e)[:300]
        if len(tokens) != input_length:
            return f"prompt of {len(tokens)} tokens for input_length {input_length}"
        return None


class Report:
    def __init__(self, path: Path):
        self.path = path
        self.failures: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}

    def fail(self, kind: str, line: int, msg: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        shown = self.failures.setdefault(kind, [])
        if len(shown) < SHOW:
            shown.append(f"line {line}: {msg}")

    def total(self) -> int:
        return sum(self.counts.values())

    def print(self, summary: str) -> None:
        status = "ok" if self.total() == 0 else "FAILED"
        print(f"  {status}: {self.path.name}: {summary}")
        for kind, shown in self.failures.items():
            print(f"    {self.counts[kind]} record(s) fail {kind}:")
            for s in shown:
                print(f"      {s}")


def read_jsonl(path: Path, report: Report):
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                report.fail("JSON parsing", n, str(e))


def check_bailian(path: Path) -> Report:
    report = Report(path)
    traces: list[BailianTrace] = []
    line_of: dict[int, int] = {}
    n = 0
    for n_line, rec in read_jsonl(path, report):
        n += 1
        try:
            trace = BailianTrace.model_validate(rec)
        except ValidationError as e:
            report.fail("BailianTrace.model_validate", n_line, _short(e))
            continue
        try:
            BailianTrace.model_validate(rec, strict=True)
        except ValidationError as e:
            report.fail("BailianTrace.model_validate(strict=True)", n_line, _short(e))
        traces.append(trace)
        line_of[id(trace)] = n_line

    chat_ids = {t.chat_id for t in traces}
    for t in traces:
        if t.parent_chat_id != -1 and t.parent_chat_id not in chat_ids:
            report.fail(
                "session grouping (parent in file)",
                line_of[id(t)],
                f"parent_chat_id {t.parent_chat_id} of chat {t.chat_id} is not in the file",
            )
    # The loader's own grouping; it uses no loader state.
    sessions = BailianTraceDatasetLoader._group_into_sessions(None, traces)

    blocks = BlockChecker(BAILIAN_BLOCK)
    for session in sessions.values():
        for t in session:
            err = blocks.check(t.input_length, t.hash_ids)
            if err:
                report.fail(f"the {BAILIAN_BLOCK}-token block rule", line_of[id(t)], err)
    report.print(f"{n} records, {len(sessions)} sessions, {len(blocks.gen._cache)} ids")
    return report


def check_mooncake_blocks(path: Path) -> Report:
    report = Report(path)
    blocks = BlockChecker(MOONCAKE_BLOCK)
    n = 0
    for n_line, rec in read_jsonl(path, report):
        n += 1
        try:
            trace = MooncakeTrace.model_validate(rec)  # the loader's _parse_trace
        except ValidationError as e:
            report.fail("MooncakeTrace.model_validate", n_line, _short(e))
            continue
        if trace.input_length is None:
            report.fail("input_length present", n_line, "no input_length")
            continue
        err = blocks.check(trace.input_length, trace.hash_ids or [])
        if err:
            report.fail(f"the {MOONCAKE_BLOCK}-token block rule", n_line, err)
    report.print(f"{n} records, {len(blocks.gen._cache)} ids")
    return report


def check_sessions(twin: Path, path: Path) -> Report:
    report = Report(path)
    blocks = BlockChecker(MOONCAKE_BLOCK)
    traces: list[MooncakeTrace] = []
    line_of: dict[int, int] = {}
    for n_line, rec in read_jsonl(path, report):
        try:
            trace = MooncakeTrace.model_validate(rec)
        except ValidationError as e:
            report.fail("MooncakeTrace.model_validate", n_line, _short(e))
            continue
        if trace.session_id is None:
            report.fail("session_id present", n_line, "no session_id")
            continue
        err = blocks.check(trace.input_length or 0, trace.hash_ids or [])
        if err:
            report.fail(f"the {MOONCAKE_BLOCK}-token block rule", n_line, err)
        traces.append(trace)
        line_of[id(trace)] = n_line
    # The loaders' own grouping; the Mooncake one only asks for ids of rows without one.
    unnamed = SimpleNamespace(session_id_generator=SimpleNamespace(next=lambda: None))
    sessions = MooncakeTraceDatasetLoader._group_traces(unnamed, traces)
    twins = BailianTraceDatasetLoader._group_into_sessions(
        None, [BailianTrace.model_validate(r) for _, r in read_jsonl(twin, report)]
    )
    if sessions.keys() != twins.keys():
        only = sorted(sessions.keys() ^ twins.keys())[:SHOW]
        report.fail("the same sessions as the Bailian twin", 0,
                    f"{len(sessions)} vs {len(twins)} sessions; in one only: {only}")
    for sid, turns in sessions.items():
        first = line_of[id(turns[0])]
        if turns[0].timestamp is None:
            report.fail("first turn has a timestamp", first, f"session {sid}")
            continue
        at = [float(turns[0].timestamp)]
        late = [t for t in turns[1:] if t.delay is None or t.timestamp is not None]
        if late:
            t = late[0]
            report.fail("later turns have a delay, no timestamp", line_of[id(t)],
                        f"session {sid}: timestamp {t.timestamp}, delay {t.delay}")
            continue
        for t in turns[1:]:
            at.append(at[-1] + t.delay)
        twin_turns = sorted(twins.get(sid, []), key=lambda t: t.timestamp)
        want = [round(t.timestamp * 1000) for t in twin_turns]
        if at != want or [t.input_length for t in turns] != [
            t.input_length for t in twin_turns
        ]:
            report.fail("arrivals equal the twin's", first,
                        f"session {sid}: {at[:4]} vs {want[:4]}")
    report.print(f"{len(traces)} records, {len(sessions)} sessions "
                 f"({sum(len(t) > 1 for t in sessions.values())} multi-turn) "
                 f"as in {twin.name}")
    return report


def _short(e: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, err['loc']))}: {err['msg']} (got {err['input']!r:.40})"
        for err in e.errors()
    )


def self_test(tmp: Path) -> None:
    """The checker must catch known-bad records, or a passing run means nothing."""
    good = {"chat_id": 1, "parent_chat_id": -1, "timestamp": 1.0, "input_length": 20,
            "output_length": 3, "type": "text", "turn": 1, "hash_ids": [1, 2]}
    bad = [
        dict(good, chat_id=2, input_length=40),  # 3 blocks of 16 needed, 2 given
        dict(good, chat_id=3, input_length=24, hash_ids=[1, 2]),  # id 2 filled 8, not 4
        dict(good, chat_id=4, turn=2.0),  # lax accepts, strict rejects
        dict(good, chat_id=5, parent_chat_id=99, turn=2),  # parent missing
        dict(good, chat_id=6, input_length="x"),  # the model rejects
    ]
    path = tmp / "aiperf-check-selftest.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [good, *bad]))
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        report = check_bailian(path)
    path.unlink()
    want = {
        "BailianTrace.model_validate": 1,
        "BailianTrace.model_validate(strict=True)": 1,
        "session grouping (parent in file)": 1,
        f"the {BAILIAN_BLOCK}-token block rule": 2,
    }
    # Record 2 (2 ids for 40 tokens) breaks the exact count (AIPerf alone would take it
    # as a prefix plus fresh tokens); record 3 refills id 2 at 8 tokens (AIPerf raises).
    if report.counts != want:
        print(f"aiperf_check: self-test failed: got {report.counts}, want {want}",
              file=sys.stderr)
        sys.exit(2)

    # Sessions: 1 (the twin's follow-up came 1.5 s after its root, the file says 1.4 s),
    # 3 (a follow-up with a timestamp instead of a delay), 5 (right).
    row = {"input_length": 20, "output_length": 3, "hash_ids": [1]}
    twin_rows, rows = [], []
    for root, delay, late in [(1, 1400, None), (3, None, 4500), (5, 1500, None)]:
        twin_rows += [dict(good, chat_id=root, timestamp=float(root)),
                      dict(good, chat_id=root + 1, parent_chat_id=root,
                           timestamp=root + 1.5, turn=2)]
        follow = {"delay": delay} if late is None else {"timestamp": late}
        rows += [dict(row, session_id=str(root), timestamp=root * 1000),
                 dict(row, session_id=str(root), **follow)]
    twin, path = tmp / "aiperf-check-twin.jsonl", tmp / "aiperf-check-sessions.jsonl"
    twin.write_text("".join(json.dumps(r) + "\n" for r in twin_rows))
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with contextlib.redirect_stdout(io.StringIO()):
        report = check_sessions(twin, path)
    twin.unlink()
    path.unlink()
    want = {"arrivals equal the twin's": 1, "later turns have a delay, no timestamp": 1}
    if report.counts != want:
        print(f"aiperf_check: sessions self-test failed: got {report.counts}, want {want}",
              file=sys.stderr)
        sys.exit(2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bailian", nargs="*", default=[], type=Path)
    ap.add_argument("--mooncake", nargs="*", default=[], type=Path)
    ap.add_argument("--sessions", nargs="*", default=[], type=Path,
                    help="pairs: a Bailian twin, then its mooncake-sessions file")
    ap.add_argument("--tmp", type=Path, default=Path("."))
    args = ap.parse_args()

    self_test(args.tmp)
    print(f"aiperf {metadata.version('aiperf')}: BailianTrace model, Bailian session "
          "grouping, prompt block rule (self-test passed)")
    failed = 0
    for p in args.bailian:
        failed += check_bailian(p).total()
    for p in args.mooncake:
        failed += check_mooncake_blocks(p).total()
    if len(args.sessions) % 2:
        ap.error("--sessions takes pairs: TWIN.jsonl SESSIONS.jsonl")
    for twin, p in zip(args.sessions[::2], args.sessions[1::2]):
        failed += check_sessions(twin, p).total()
    if failed:
        print(f"aiperf_check: {failed} record failure(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
