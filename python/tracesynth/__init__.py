"""tracesynth: learn the statistics of LLM-serving request traces and generate new,
faithful traces at any scale.

    import tracesynth
    model = tracesynth.Model.load("qwen-trace-a")   # a shipped model by name, or a path
    for req in model.generate(duration="1h", rate_scale=2, seed=7):
        ...                                        # req.chat_id, req.timestamp, req.hash_ids
    figures = tracesynth.stats("trace.jsonl")       # what `tracesynth stats --json` prints
    model = tracesynth.fit("my_trace.jsonl")

The work is done by the Rust library that the `tracesynth` command is built on, in the
extension module `tracesynth._tracesynth`; this module adds only what is easier said in
Python.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, Optional, Union

from . import _tracesynth
from ._tracesynth import (
    SHIPPED_MODELS,
    Batches,
    Model,
    Request,
    Requests,
    __version__,
    fit,
)

__all__ = [
    "SHIPPED_MODELS",
    "Batches",
    "Model",
    "Request",
    "Requests",
    "__version__",
    "fit",
    "stats",
]


def stats(
    path: Union[str, "os.PathLike[str]"], format: Optional[str] = None
) -> Dict[str, Any]:
    """The figures `tracesynth stats --json PATH` prints, as a dict.

    `format` forces the input format (`bailian`, `mooncake`, `azure`, ...) instead of
    detecting it. Records that break the trace rules are reported as warnings, as the
    command line prints them on stderr.
    """
    result: Dict[str, Any] = json.loads(_tracesynth.stats(path, format))
    return result


def _main() -> None:
    """The `tracesynth` command: the command line of the Rust binary, run in-process."""
    sys.exit(_tracesynth.main(["tracesynth", *sys.argv[1:]]))
