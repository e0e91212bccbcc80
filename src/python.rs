//! The Python module `tracesynth._tracesynth` (feature `python`, built by maturin from
//! `pyproject.toml`). A thin front end like the command line: every rule is the
//! library's, and its errors become Python exceptions with the library's message
//! (`ValueError` for an option or input no run can honour, `OSError` and its subclasses
//! for files). `python/tracesynth/_tracesynth.pyi` types what is defined here.

use std::ffi::{CString, OsString};
use std::sync::Arc;

use pyo3::exceptions::{
    PyFileNotFoundError, PyOSError, PyOverflowError, PyPermissionError, PyUserWarning, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict, PyList, PyString};

use crate::check::CheckReport;
use crate::fit::{FitOptions, fit_file_with};
use crate::generate::{
    ContextPolicy, GenerateOptions, Knobs, MAX_CHAT_ID, OptionError, OutputError, Planned,
    RateProfileChoice, Records, Shard, parse_duration, parse_offset, records,
};
use crate::model::{Model, SHIPPED_MODELS};
use crate::trace::Format;

#[pymodule]
fn _tracesynth(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModel>()?;
    m.add_class::<PyRequest>()?;
    m.add_class::<PyRequests>()?;
    m.add_class::<PyBatches>()?;
    m.add_function(wrap_pyfunction!(stats, m)?)?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "SHIPPED_MODELS",
        SHIPPED_MODELS
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>(),
    )?;
    Ok(())
}

/// The command line with `argv` (program name first); returns its exit status. The GIL
/// is released meanwhile.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<OsString>) -> u8 {
    let code = py.detach(|| crate::cli_main::run(argv));
    // `ExitCode` does not tell its value (stably); it can be compared.
    (0..=u8::MAX)
        .find(|&c| std::process::ExitCode::from(c) == code)
        .unwrap_or(1)
}

/// A library error as the Python exception of its kind: a file that cannot be read or
/// written is an `OSError` (`FileNotFoundError`, `PermissionError`), anything else a
/// `ValueError`. The message is the library's.
fn py_err(e: &(dyn std::error::Error + 'static)) -> PyErr {
    let message = e.to_string();
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
                std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
                _ => PyOSError::new_err(message),
            };
        }
        cause = c.source();
    }
    PyValueError::new_err(message)
}

/// An option error named by its keyword argument (`rate_scale: ...`, not `--rate-scale:
/// ...`), with the library's message.
fn option_err(e: OptionError) -> PyErr {
    let name = e.option.trim_start_matches('-').replace('-', "_");
    PyValueError::new_err(format!("{name}: {}", e.message))
}

fn warn(py: Python<'_>, message: &str) -> PyResult<()> {
    let text = CString::new(message.replace('\0', " ")).expect("no NUL left");
    PyErr::warn(py, &py.get_type::<PyUserWarning>(), &text, 1)
}

/// What `warn_violations` of the command line prints on stderr, as Python warnings.
fn warn_violations(py: Python<'_>, report: &CheckReport) -> PyResult<()> {
    for v in &report.violations {
        let first = v.first.first().map_or(String::new(), |e| {
            format!(" (first at line {}: {})", e.line, e.message)
        });
        warn(
            py,
            &format!(
                "{}: {} record{} with {}{first}; `tracesynth check {}` lists them",
                report.path,
                v.count,
                if v.count == 1 { "" } else { "s" },
                v.description,
                report.path
            ),
        )?;
    }
    Ok(())
}

fn format_arg(format: Option<&str>) -> PyResult<Option<Format>> {
    format
        .map(|name| {
            Format::named(name).ok_or_else(|| {
                let known: Vec<&str> = Format::all().map(Format::name).collect();
                PyValueError::new_err(format!(
                    "format: `{name}` is not a trace format ({})",
                    known.join(", ")
                ))
            })
        })
        .transpose()
}

/// The figures of `tracesynth stats --json` for the trace at `path`, as a JSON text.
/// Violations of the trace rules are warnings, as on the command line.
#[pyfunction]
#[pyo3(signature = (path, format = None))]
fn stats(py: Python<'_>, path: std::path::PathBuf, format: Option<&str>) -> PyResult<String> {
    let format = format_arg(format)?;
    let path = path.to_string_lossy().into_owned();
    let (stats, check) = py
        .detach(|| crate::metrics::stats_file(&path, format))
        .map_err(|e| py_err(&e))?;
    warn_violations(py, &check)?;
    Ok(serde_json::to_string(&stats).expect("stats always serialize"))
}

/// Fit a model to the trace at `path`, as `tracesynth fit` does.
#[pyfunction]
#[pyo3(signature = (path, format = None, seed = 0))]
fn fit(
    py: Python<'_>,
    path: std::path::PathBuf,
    format: Option<&str>,
    seed: u64,
) -> PyResult<PyModel> {
    let format = format_arg(format)?;
    let path = path.to_string_lossy().into_owned();
    let (model, check) = py
        .detach(|| fit_file_with(&path, format, &FitOptions { seed }, &|_| {}))
        .map_err(|e| py_err(&e))?;
    warn_violations(py, &check)?;
    for w in &model.sessions.fit_warnings {
        warn(py, w)?;
    }
    Ok(PyModel {
        model: Arc::new(model),
    })
}

/// A model: loaded from a file, one of the shipped ones by name, or fitted.
#[pyclass(name = "Model", module = "tracesynth", frozen)]
struct PyModel {
    model: Arc<Model>,
}

/// A count option: a Python int that must be at least 0 (a negative one is a
/// `ValueError`, as a flag's would be an error, not an `OverflowError`).
fn count(name: &str, value: Option<i128>) -> PyResult<Option<u64>> {
    value
        .map(|v| {
            u64::try_from(v).map_err(|_| {
                PyValueError::new_err(format!("{name}: {v} is outside [0, {}]", u64::MAX))
            })
        })
        .transpose()
}

/// Seconds: a number, or a text such as `"2h"`, `"30m"`, `"1h30m"` (`zero_ok`: `"0"`
/// is allowed, as for `start_at`).
fn seconds(value: Option<&Bound<'_, PyAny>>, zero_ok: bool) -> PyResult<Option<f64>> {
    let Some(v) = value else { return Ok(None) };
    if let Ok(text) = v.extract::<String>() {
        let parsed = if zero_ok {
            parse_offset(&text)
        } else {
            parse_duration(&text)
        };
        return parsed.map(Some).map_err(|e| PyValueError::new_err(e.0));
    }
    Ok(Some(v.extract::<f64>()?))
}

fn rate_profile(value: &Bound<'_, PyAny>) -> PyResult<RateProfileChoice> {
    if let Ok(text) = value.extract::<String>() {
        return match text.as_str() {
            "repeat" => Ok(RateProfileChoice::Repeat),
            "flat" => Ok(RateProfileChoice::Flat),
            _ => Err(PyValueError::new_err(format!(
                "rate_profile: `{text}` is neither \"repeat\", \"flat\" nor a list of \
                 (start_seconds, multiplier) steps"
            ))),
        };
    }
    Ok(RateProfileChoice::Steps(
        value.extract::<Vec<(f64, f64)>>()?,
    ))
}

fn shard(value: Option<&Bound<'_, PyAny>>) -> PyResult<Shard> {
    let Some(v) = value else {
        return Ok(Shard::WHOLE);
    };
    if let Ok(text) = v.extract::<String>() {
        return Shard::parse(&text).map_err(option_err);
    }
    let (index, count) = v.extract::<(u64, u64)>()?;
    Shard::new(index, count).map_err(option_err)
}

#[pymethods]
impl PyModel {
    /// A model file (JSON from `fit`), or when no file of that name exists a shipped
    /// model by name.
    #[staticmethod]
    fn load(py: Python<'_>, name_or_path: std::path::PathBuf) -> PyResult<PyModel> {
        let arg = name_or_path.to_string_lossy().into_owned();
        let model = py.detach(|| Model::resolve(&arg)).map_err(|e| py_err(&e))?;
        Ok(PyModel {
            model: Arc::new(model),
        })
    }

    /// Write the model as JSON, as `tracesynth fit -o PATH` does.
    fn save(&self, path: std::path::PathBuf) -> PyResult<()> {
        std::fs::write(&path, self.model.to_json()).map_err(|e| {
            let error = crate::error::WriteError {
                path: path.clone(),
                source: e,
            };
            py_err(&error)
        })
    }

    fn to_json(&self) -> String {
        self.model.to_json()
    }

    /// Tokens per hash id of the requests it generates.
    #[getter]
    fn block_size(&self) -> u32 {
        self.model.block_size
    }

    /// The request types (the values of `Request.type`).
    #[getter]
    fn types(&self) -> Vec<String> {
        self.model.types.clone()
    }

    /// The fitted span in seconds: what a run without duration, requests or sessions
    /// covers.
    #[getter]
    fn span(&self) -> f64 {
        self.model.span
    }

    fn __repr__(&self) -> String {
        format!(
            "<tracesynth.Model: {} types, {}-token blocks, {:.0} s span>",
            self.model.types.len(),
            self.model.block_size,
            self.model.span
        )
    }

    /// The requests of a run, streaming, in arrival order: the same requests (and, in
    /// Bailian, the same values) as `tracesynth generate` writes with the same options.
    /// The options are checked now: a bad one raises `ValueError` here.
    #[pyo3(signature = (
        *, duration = None, requests = None, sessions = None, rate_scale = 1.0,
        time_scale = 1.0, rate_profile = None, seed = 0, start_id = 0, start_at = None,
        tenants = 1, shard = None, prefix_scale = 1.0, input_scale = 1.0,
        output_scale = 1.0, min_input = None, max_input = None, max_output = None,
        peak_cap = None, max_context = None, context_policy = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        duration: Option<&Bound<'_, PyAny>>,
        requests: Option<i128>,
        sessions: Option<i128>,
        rate_scale: f64,
        time_scale: f64,
        rate_profile: Option<&Bound<'_, PyAny>>,
        seed: i128,
        start_id: i128,
        start_at: Option<&Bound<'_, PyAny>>,
        tenants: i128,
        shard: Option<&Bound<'_, PyAny>>,
        prefix_scale: f64,
        input_scale: f64,
        output_scale: f64,
        min_input: Option<i128>,
        max_input: Option<i128>,
        max_output: Option<i128>,
        peak_cap: Option<f64>,
        max_context: Option<i128>,
        context_policy: Option<&str>,
    ) -> PyResult<PyRequests> {
        let context_policy = context_policy
            .map(|p| {
                p.parse::<ContextPolicy>()
                    .map_err(|e| PyValueError::new_err(format!("context_policy: {e}")))
            })
            .transpose()?;
        let max_context = count("max_context", max_context)?;
        let tenants = u32::try_from(tenants).map_err(|_| {
            PyValueError::new_err(format!("tenants: {tenants} is outside [1, {}]", u32::MAX))
        })?;
        let options = GenerateOptions {
            seed: count("seed", Some(seed))?.unwrap_or(0),
            duration: seconds(duration, false)?,
            requests: count("requests", requests)?,
            sessions: count("sessions", sessions)?,
            rate_scale,
            time_scale,
            rate_profile: match rate_profile {
                Some(p) => self::rate_profile(p)?,
                None => RateProfileChoice::Repeat,
            },
            start_id: count("start_id", Some(start_id))?.unwrap_or(0),
            start_at: seconds(start_at, true)?.unwrap_or(0.0),
            shard: self::shard(shard)?,
            tenants,
            knobs: Knobs {
                prefix_scale,
                input_scale,
                output_scale,
                min_input: count("min_input", min_input)?,
                max_input: count("max_input", max_input)?,
                max_output: count("max_output", max_output)?,
                peak_cap,
                max_context,
                context_policy: ContextPolicy::given(context_policy, max_context)
                    .map_err(option_err)?,
            },
        };
        options.validate_for(&self.model).map_err(option_err)?;
        Ok(PyRequests::new(self.model.clone(), options))
    }

    /// [`generate`](Self::generate) in columns: dicts of `batch_size` requests each.
    #[pyo3(signature = (batch_size = 4096, *, numpy = None, **options))]
    fn generate_batches<'py>(
        slf: &Bound<'py, Self>,
        batch_size: usize,
        numpy: Option<bool>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<PyBatches> {
        let requests = slf.call_method("generate", (), options)?;
        let requests: Bound<'py, PyRequests> = requests.cast_into()?;
        PyBatches::new(requests, batch_size, numpy)
    }
}

/// One generated request. `hash_ids` are in the model's block size (16 tokens for the
/// Bailian models), `timestamp` in seconds rounded to the millisecond, as a Bailian
/// line holds it.
#[pyclass(name = "Request", module = "tracesynth", frozen, get_all)]
struct PyRequest {
    chat_id: u64,
    parent_chat_id: i64,
    timestamp: f64,
    input_length: u64,
    output_length: u64,
    #[pyo3(name = "type")]
    ty: Py<PyString>,
    turn: u32,
    hash_ids: Vec<u64>,
}

#[pymethods]
impl PyRequest {
    /// The request as a Bailian record: a dict with the fields in the file's order.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("chat_id", self.chat_id)?;
        d.set_item("parent_chat_id", self.parent_chat_id)?;
        d.set_item("timestamp", self.timestamp)?;
        d.set_item("input_length", self.input_length)?;
        d.set_item("output_length", self.output_length)?;
        d.set_item("type", self.ty.bind(py))?;
        d.set_item("turn", self.turn)?;
        d.set_item("hash_ids", &self.hash_ids)?;
        Ok(d)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Request(chat_id={}, parent_chat_id={}, timestamp={}, input_length={}, \
             output_length={}, type={:?}, turn={}, hash_ids=[{} ids])",
            self.chat_id,
            self.parent_chat_id,
            self.timestamp,
            self.input_length,
            self.output_length,
            self.ty.bind(py).to_string(),
            self.turn,
            self.hash_ids.len()
        )
    }
}

type BoxedRecords<'m> = Box<dyn Records + 'm>;

self_cell::self_cell!(
    /// A run and the model it borrows.
    struct Run {
        owner: Arc<Model>,
        #[not_covariant]
        dependent: BoxedRecords,
    }
);

/// The requests of one run, planned as they are asked for: memory holds the open
/// sessions, never the requests already returned.
#[pyclass(name = "Requests", module = "tracesynth", unsendable)]
struct PyRequests {
    run: Run,
    /// The model's types, as Python strings made once.
    types: Option<Vec<Py<PyString>>>,
    done: bool,
}

impl PyRequests {
    fn new(model: Arc<Model>, options: GenerateOptions) -> PyRequests {
        PyRequests {
            run: Run::new(model, |m| records(m, options)),
            types: None,
            done: false,
        }
    }

    fn types(&mut self, py: Python<'_>) -> &[Py<PyString>] {
        let model = self.run.borrow_owner();
        self.types.get_or_insert_with(|| {
            model
                .types
                .iter()
                .map(|t| PyString::intern(py, t).unbind())
                .collect()
        })
    }

    /// The next record, or `None` at the end; an error ends the run.
    fn next_planned(&mut self) -> PyResult<Option<Planned>> {
        if self.done {
            return Ok(None);
        }
        let next = self.run.with_dependent_mut(|_, records| records.next());
        let result = match next {
            None => Ok(None),
            Some(Err(e)) => Err(PyOverflowError::new_err(e.to_string())),
            Some(Ok(p)) if p.chat_id >= MAX_CHAT_ID => Err(PyOverflowError::new_err(
                OutputError::ChatIds(p.chat_id).to_string(),
            )),
            Some(Ok(p)) => Ok(Some(p)),
        };
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }
}

/// Seconds as a Bailian line prints them: rounded to the millisecond.
fn millis(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

#[pymethods]
impl PyRequests {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<PyRequest>> {
        let Some(p) = self.next_planned()? else {
            return Ok(None);
        };
        let mut hash_ids = Vec::with_capacity(p.ids.len());
        p.ids.expand_into(&mut hash_ids);
        Ok(Some(PyRequest {
            chat_id: p.chat_id,
            parent_chat_id: p.parent_chat_id,
            timestamp: millis(p.timestamp),
            input_length: p.input_length,
            output_length: p.output_length,
            ty: self.types(py)[p.ty].clone_ref(py),
            turn: p.turn,
            hash_ids,
        }))
    }

    /// The rest of the run in columns (see `Model.generate_batches`).
    #[pyo3(signature = (batch_size = 4096, *, numpy = None))]
    fn batches(
        slf: Bound<'_, Self>,
        batch_size: usize,
        numpy: Option<bool>,
    ) -> PyResult<PyBatches> {
        PyBatches::new(slf, batch_size, numpy)
    }
}

/// A run's requests in columns, `batch_size` requests a batch (the last may be
/// shorter): a dict of `chat_id`, `parent_chat_id`, `timestamp`, `input_length`,
/// `output_length`, `turn` (int64 / float64 numpy arrays, or lists without numpy),
/// `type` (a list of str), and the hash ids of all the batch's requests end to end in
/// `hash_ids`, request `i`'s being `hash_ids[hash_ids_offsets[i]:hash_ids_offsets[i+1]]`.
#[pyclass(name = "Batches", module = "tracesynth", unsendable)]
struct PyBatches {
    requests: Py<PyRequests>,
    batch_size: usize,
    /// `numpy.frombuffer`, when the columns are numpy arrays.
    frombuffer: Option<Py<PyAny>>,
    /// The batch's ids, kept between batches: growing a fresh vector of megabytes each
    /// batch cost a third of the throughput at 4096 requests a batch.
    ids: Vec<u64>,
}

impl PyBatches {
    fn new(
        requests: Bound<'_, PyRequests>,
        batch_size: usize,
        numpy: Option<bool>,
    ) -> PyResult<PyBatches> {
        if batch_size == 0 {
            return Err(PyValueError::new_err(
                "batch_size: 0: a batch holds at least 1",
            ));
        }
        let py = requests.py();
        let frombuffer = match numpy {
            Some(false) => None,
            // Asked for: numpy must import. Otherwise numpy when it is installed.
            Some(true) => Some(py.import("numpy")?.getattr("frombuffer")?.unbind()),
            None => py
                .import("numpy")
                .and_then(|np| np.getattr("frombuffer"))
                .ok()
                .map(Bound::unbind),
        };
        Ok(PyBatches {
            requests: requests.unbind(),
            batch_size,
            frombuffer,
            ids: Vec::new(),
        })
    }
}

/// A column as a numpy array of `dtype` (the values' native bytes, written once into a
/// bytearray, so that the array is writable), or a list.
fn column<'py, T: Copy + IntoPyObject<'py>, const N: usize>(
    py: Python<'py>,
    frombuffer: Option<&Py<PyAny>>,
    values: &[T],
    bytes: fn(T) -> [u8; N],
    dtype: &str,
) -> PyResult<Bound<'py, PyAny>> {
    match frombuffer {
        Some(f) => {
            let buffer = PyByteArray::new_with(py, values.len() * N, |raw| {
                for (to, &v) in raw.chunks_exact_mut(N).zip(values) {
                    to.copy_from_slice(&bytes(v));
                }
                Ok(())
            })?;
            f.bind(py).call1((buffer, dtype))
        }
        None => Ok(PyList::new(py, values.iter().copied())?.into_any()),
    }
}

#[pymethods]
impl PyBatches {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let mut requests = self.requests.bind(py).borrow_mut();
        let n = self.batch_size;
        let mut chat_id = Vec::with_capacity(n);
        let mut parent = Vec::with_capacity(n);
        let mut timestamp = Vec::with_capacity(n);
        let mut input = Vec::with_capacity(n);
        let mut output = Vec::with_capacity(n);
        let mut turn = Vec::with_capacity(n);
        let mut ty = Vec::with_capacity(n);
        let ids = &mut self.ids;
        ids.clear();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0i64);
        while chat_id.len() < n {
            let Some(p) = requests.next_planned()? else {
                break;
            };
            chat_id.push(p.chat_id as i64);
            parent.push(p.parent_chat_id);
            timestamp.push(millis(p.timestamp));
            input.push(p.input_length as i64);
            output.push(p.output_length as i64);
            turn.push(i64::from(p.turn));
            ty.push(p.ty);
            p.ids.expand_into(ids);
            offsets.push(ids.len() as i64);
        }
        if chat_id.is_empty() {
            return Ok(None);
        }
        let f = self.frombuffer.as_ref();
        let ints = |v: &[i64]| column(py, f, v, i64::to_ne_bytes, "int64");
        let types = requests.types(py);
        let d = PyDict::new(py);
        d.set_item("chat_id", ints(&chat_id)?)?;
        d.set_item("parent_chat_id", ints(&parent)?)?;
        d.set_item(
            "timestamp",
            column(py, f, &timestamp, f64::to_ne_bytes, "float64")?,
        )?;
        d.set_item("input_length", ints(&input)?)?;
        d.set_item("output_length", ints(&output)?)?;
        d.set_item(
            "type",
            PyList::new(py, ty.iter().map(|&t| types[t].bind(py)))?,
        )?;
        d.set_item("turn", ints(&turn)?)?;
        // Ids are below 2^32 (the planner stops before), so int64 holds them.
        d.set_item(
            "hash_ids",
            column(py, f, ids, |i: u64| (i as i64).to_ne_bytes(), "int64")?,
        )?;
        d.set_item("hash_ids_offsets", ints(&offsets)?)?;
        Ok(Some(d))
    }
}
