# Types of the extension module (src/python.rs).
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

__version__: str
#: The models compiled into the package, loadable by name with `Model.load`.
SHIPPED_MODELS: List[str]

_Path = Union[str, "os.PathLike[str]"]
#: Seconds, or a text such as "2h", "30m", "86400s", "1d", "1h30m".
_Seconds = Union[float, int, str]
#: One column of a batch: a numpy array when numpy is used, else a list.
_Column = Any

class Request:
    """One generated request, as a Bailian line holds it (`timestamp` in seconds rounded
    to the millisecond; `hash_ids` in the model's block size)."""

    @property
    def chat_id(self) -> int: ...
    @property
    def parent_chat_id(self) -> int: ...
    @property
    def timestamp(self) -> float: ...
    @property
    def input_length(self) -> int: ...
    @property
    def output_length(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def turn(self) -> int: ...
    @property
    def hash_ids(self) -> List[int]: ...
    def to_dict(self) -> Dict[str, Any]: ...

class Requests(Iterator[Request]):
    """The requests of one run, planned as they are asked for."""

    def __iter__(self) -> "Requests": ...
    def __next__(self) -> Request: ...
    def batches(self, batch_size: int = 4096, *, numpy: Optional[bool] = None) -> "Batches":
        """The rest of the run in columns (see `Model.generate_batches`)."""

class Batches(Iterator[Dict[str, _Column]]):
    """A run in columns: dicts with `chat_id`, `parent_chat_id`, `timestamp`,
    `input_length`, `output_length`, `turn` (int64/float64 numpy arrays, or lists),
    `type` (a list of str), `hash_ids` (every request's ids end to end) and
    `hash_ids_offsets` (request i's ids are hash_ids[offsets[i]:offsets[i + 1]])."""

    def __iter__(self) -> "Batches": ...
    def __next__(self) -> Dict[str, _Column]: ...

class Model:
    @staticmethod
    def load(name_or_path: _Path) -> "Model":
        """A model file (from `fit`), or when no such file exists a shipped model by
        name (`SHIPPED_MODELS`)."""
    def save(self, path: _Path) -> None:
        """Write the model as JSON, as `tracesynth fit -o PATH` does."""
    def to_json(self) -> str: ...
    @property
    def block_size(self) -> int: ...
    @property
    def types(self) -> List[str]: ...
    @property
    def span(self) -> float: ...
    def generate(
        self,
        *,
        duration: Optional[_Seconds] = None,
        requests: Optional[int] = None,
        sessions: Optional[int] = None,
        rate_scale: float = 1.0,
        time_scale: float = 1.0,
        rate_profile: Union[str, Sequence[Tuple[float, float]], None] = None,
        seed: int = 0,
        start_id: int = 0,
        start_at: Optional[_Seconds] = None,
        tenants: int = 1,
        shard: Union[str, Tuple[int, int], None] = None,
        prefix_scale: float = 1.0,
        input_scale: float = 1.0,
        output_scale: float = 1.0,
        min_input: Optional[int] = None,
        max_input: Optional[int] = None,
        max_output: Optional[int] = None,
        peak_cap: Optional[float] = None,
        max_context: Optional[int] = None,
        context_policy: Optional[str] = None,
    ) -> Requests:
        """The requests of a run, streaming: those `tracesynth generate` writes with the
        same options (the flags' names with `_` for `-`). The options are checked at the
        call: a bad one raises ValueError with the library's message."""
    def generate_batches(
        self, batch_size: int = 4096, *, numpy: Optional[bool] = None, **options: Any
    ) -> Batches:
        """`generate(**options)` in columns of `batch_size` requests (numpy arrays when
        numpy imports, or `numpy=True`; lists with `numpy=False`)."""

def stats(path: _Path, format: Optional[str] = None) -> str: ...
def fit(path: _Path, format: Optional[str] = None, seed: int = 0) -> Model:
    """Fit a model to the trace at `path`, as `tracesynth fit` does."""
def main(argv: List[str]) -> int: ...
