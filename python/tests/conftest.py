"""Shared helpers: the repository, the `tracesynth` command of the installed package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXCERPT = ROOT / "validation/data/qwen-bailian-excerpt/traceA_excerpt.jsonl"
MOONCAKE = ROOT / "validation/data/mooncake/conversation_trace.jsonl"


def command() -> str:
    """The `tracesynth` console script of the environment running the tests."""
    script = Path(sys.executable).parent / "tracesynth"
    found = str(script) if script.exists() else shutil.which("tracesynth")
    assert found, "the package installed no `tracesynth` command"
    return found


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [command(), *args], capture_output=True, text=True, env={**os.environ}
    )


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path
