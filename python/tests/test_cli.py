"""The package's `tracesynth` command is the command line of the Rust binary."""

from __future__ import annotations

from pathlib import Path

from conftest import EXCERPT, cli, command, read_jsonl


def test_the_command_is_on_the_environments_path() -> None:
    assert Path(command()).exists()
    run = cli("--version")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("tracesynth ")


def test_exit_codes_and_errors_are_the_binarys() -> None:
    run = cli("generate", "--duration", "-5s", "-o", "x.jsonl")
    assert run.returncode == 2
    assert "duration `-5s` must not be negative" in run.stderr
    run = cli("generate", "--requests", "5", "--rate-scale", "1e9", "-o", "-")
    assert run.returncode == 2
    assert "--rate-scale: 1e9 is outside" in run.stderr
    run = cli("check", str(EXCERPT))
    assert run.returncode == 0, run.stderr


def test_generate_writes_a_trace(tmp: Path) -> None:
    out = tmp / "t.jsonl"
    run = cli("generate", "-q", "--duration", "2m", "--seed", "4", "-o", str(out))
    assert run.returncode == 0, run.stderr
    records = read_jsonl(out)
    assert records and all(len(r["hash_ids"]) == -(-r["input_length"] // 16) for r in records)
    # Deterministic: the same options write the same bytes.
    again = tmp / "u.jsonl"
    cli("generate", "-q", "--duration", "2m", "--seed", "4", "-o", str(again))
    assert out.read_bytes() == again.read_bytes()


def test_stdout_and_help() -> None:
    run = cli("generate", "-q", "--requests", "3", "-o", "-")
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == 3
    run = cli("--help")
    assert run.returncode == 0 and "generate" in run.stdout
