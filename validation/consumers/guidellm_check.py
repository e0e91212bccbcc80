"""Check tracesynth Mooncake output with GuideLLM's own trace loader (check_guidellm.sh).

    python guidellm_check.py FILE.jsonl ...

For every file, GuideLLM's `mooncake` data kind (`TraceDatasetDeserializer` with
`MooncakeTraceFormatArgs`: 512-token hash ids, what `guidellm run --data kind=mooncake,...`
builds) loads the file and builds every request, prompt included:
  * its row checks (`_validate_api_row`: non-negative lengths, and
    ceil(input_length / 512) == len(hash_ids) exactly, `MooncakeTraceFormat.validate_row`);
  * one request per row, in timestamp order, each with the row's input and output
    lengths and its `relative_timestamp` (ms from the first row: `time_scale=0.001`
    turns it into the seconds GuideLLM schedules by);
  * the prompt GuideLLM synthesizes from the hash ids is exactly input_length tokens,
    and two rows that share their first k hash ids share the first k blocks of prompt
    tokens (the prefix reuse the trace describes reaches the server).
The tokenizer is a byte-level one built here (no download): one token per byte, so a
prompt's token count is exact. GuideLLM's sibling-distinct block generation needs
varied tokens, which it gives.

Exits 1 if a file fails, 2 if GuideLLM cannot be imported or the self-test (a row with
one hash id too few must be refused) does not fail.
"""

from __future__ import annotations

import json
import sys
import tempfile
from importlib import metadata
from pathlib import Path

try:
    from guidellm.data.deserializers.trace_common import TraceDatasetDeserializer
    from guidellm.schemas.data.deserializers import FileDataArgs, MooncakeTraceFormatArgs
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
except ImportError as e:  # pragma: no cover - reported by the shell script
    print(f"guidellm_check: cannot import GuideLLM: {e}", file=sys.stderr)
    sys.exit(2)

BLOCK = 512


def byte_tokenizer() -> PreTrainedTokenizerFast:
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok)


def check(path: Path, proc) -> list[str]:
    rows = [json.loads(line) for line in path.open() if line.strip()]
    # GuideLLM sorts by timestamp (a stable sort: file order among equal times).
    rows.sort(key=lambda r: r["timestamp"])
    cfg = MooncakeTraceFormatArgs(
        source=FileDataArgs(kind="json_file", path=path), hash_id_block_size=BLOCK
    )
    problems: list[str] = []
    try:
        requests = list(TraceDatasetDeserializer()(cfg, processor_factory=lambda: proc))
    except Exception as e:  # GuideLLM refuses the file
        return [f"GuideLLM refused the file: {type(e).__name__}: {str(e)[:300]}"]
    if len(requests) != len(rows):
        problems.append(f"{len(requests)} requests for {len(rows)} rows")
    first = rows[0]["timestamp"] if rows else 0
    blocks_of: dict[int, tuple] = {}
    for i, (req, row) in enumerate(zip(requests, rows)):
        turn = json.loads(req["conversation_turns"])["turns"]
        cols = turn[0]["columns"]
        tokens = proc.encode(cols["text_column"][0])
        want = {
            "turns": 1,
            "prompt tokens": row["input_length"],
            "prompt_tokens_count": row["input_length"],
            "output_tokens_count": row["output_length"],
            "relative_timestamp": row["timestamp"] - first,
        }
        got = {
            "turns": len(turn),
            "prompt tokens": len(tokens),
            "prompt_tokens_count": cols["prompt_tokens_count_column"][0],
            "output_tokens_count": cols["output_tokens_count_column"][0],
            "relative_timestamp": cols["relative_timestamp_column"][0],
        }
        for key in want:
            if want[key] != got[key]:
                problems.append(f"request {i}: {key} {got[key]}, the row says {want[key]}")
        for k, hid in enumerate(row["hash_ids"]):
            block = tuple(tokens[k * BLOCK : (k + 1) * BLOCK])
            full = len(block) == BLOCK
            seen = blocks_of.setdefault(hid, block) if full else None
            if full and seen != block:
                problems.append(f"request {i}: hash id {hid} has other tokens than before")
        if len(problems) > 20:
            break
    return problems


def self_test(proc) -> None:
    bad = {"timestamp": 0, "input_length": 1100, "output_length": 5, "hash_ids": [1, 2]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bad.jsonl"
        path.write_text(json.dumps(bad) + "\n")
        if not check(path, proc):
            print("guidellm_check: self-test failed: a row with too few ids passed",
                  file=sys.stderr)
            sys.exit(2)


def main() -> int:
    proc = byte_tokenizer()
    self_test(proc)
    print(f"guidellm {metadata.version('guidellm')}: mooncake data kind, prompts from "
          "hash ids (self-test passed)")
    failed = 0
    for arg in sys.argv[1:]:
        path = Path(arg)
        problems = check(path, proc)
        n = sum(1 for line in path.open() if line.strip())
        print(f"  {'ok' if not problems else 'FAILED'}: {path.name}: {n} rows")
        for p in problems[:5]:
            print(f"    {p}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
