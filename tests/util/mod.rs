//! A small harness for the command-line tests: a temporary directory to run the
//! `tracesynth` binary in, and its captured exit code, stdout and stderr.

// Each test crate compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::io::Write;

/// The property tests' configuration (a fixed seed), shared with the unit tests.
#[path = "../../src/proptest_seed.rs"]
pub mod proptest_seed;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The binary cargo built for these tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tracesynth")
}

/// A vendored real data file.
pub fn data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("validation/data")
        .join(relative)
}

pub fn excerpt() -> PathBuf {
    data("qwen-bailian-excerpt/traceA_excerpt.jsonl")
}

pub fn mooncake() -> PathBuf {
    data("mooncake/conversation_trace.jsonl")
}

/// Fit the vendored Mooncake trace into `dir/model.json` and return its path.
pub fn mooncake_model(dir: &TestDir) -> PathBuf {
    dir.run(&[
        "fit",
        mooncake().to_str().unwrap(),
        "-o",
        "model.json",
        "-q",
    ])
    .expect_code(0);
    dir.path("model.json")
}

pub fn azure() -> PathBuf {
    data("azure-llm-2023/AzureLLMInferenceTrace_conv.csv")
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Assert the exit code, showing the run's output when it differs.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr
        );
        self
    }

    /// A failure reported the way users should see it: a non-zero exit, one line on
    /// stderr, no panic.
    pub fn expect_clean_failure(&self) -> &Self {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a non-zero exit: {self:?}"
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "expected a one-line error, got:\n{}",
            self.stderr
        );
        self
    }

    /// The parsed `--json` output.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout()))
    }
}

/// A temporary directory that the binary runs in; removed when dropped.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> Self {
        TestDir {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content).expect("writing a test file");
        path
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
    }

    /// Names of the entries in the directory, hidden ones included, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("listing the test directory")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A command for the binary with `args`, run in this directory.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args).current_dir(self.dir.path());
        cmd
    }

    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Run {
        self.run_with_stdin(args, &[])
    }

    /// Run with `stdin` fed from another thread, so a large input cannot deadlock
    /// against a full stdout pipe.
    pub fn run_with_stdin<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], stdin: &[u8]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning tracesynth");
        let mut pipe = child.stdin.take().unwrap();
        let input = stdin.to_vec();
        let feeder = std::thread::spawn(move || {
            // The binary may exit before reading everything (a bad first line): a broken
            // pipe here is its business, not the test's.
            let _ = pipe.write_all(&input);
        });
        let out = child.wait_with_output().expect("waiting for tracesynth");
        feeder.join().unwrap();
        Run {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The JSON records of a JSONL text.
pub fn records(jsonl: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(jsonl)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line ({e}): {l}")))
        .collect()
}

/// Every hash id of a record, as integers.
pub fn ids(record: &serde_json::Value) -> Vec<u64> {
    record["hash_ids"]
        .as_array()
        .expect("hash_ids is an array")
        .iter()
        .map(|v| v.as_u64().expect("hash ids are integers"))
        .collect()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

/// Assert that one id always stands for one block content as consumers assume: an id
/// that ends a request with a partial block has one fill everywhere, and an id seen as a
/// full block is never a partial last block elsewhere.
pub fn assert_one_fill_per_id(path: &Path, block: u64) {
    use std::collections::HashMap;
    let trace = tracesynth::trace::read_trace(path.to_str().unwrap(), None).expect("readable");
    let mut fill: HashMap<u64, u64> = HashMap::new();
    for (line, req) in trace.requests.iter().enumerate() {
        let ids = req.ids();
        for (i, &id) in ids.iter().enumerate() {
            let f = if i + 1 == ids.len() {
                req.input_length - (ids.len() as u64 - 1) * block
            } else {
                block
            };
            let seen = *fill.entry(id).or_insert(f);
            assert_eq!(
                seen,
                f,
                "line {}: id {id} holds {f} tokens here, {seen} elsewhere",
                line + 1
            );
        }
    }
}

/// `tracesynth check` on a file must pass.
pub fn assert_checks_clean(dir: &TestDir, file: &Path) {
    let run = dir.run(&["check", file.to_str().unwrap()]);
    assert_eq!(
        run.code,
        Some(0),
        "check failed:\n{}{}",
        run.stdout(),
        run.stderr
    );
}

/// Every named row is present and judged in every comparison (runs of one scenario on
/// different seeds), and its mean distance is within its tolerance: a claim about the
/// model rather than about one draw, for rows whose one-seed noise is near the tolerance.
pub fn assert_mean_rows(what: &str, runs: &[tracesynth::compare::Comparison], names: &[&str]) {
    assert!(!runs.is_empty(), "{what}: no runs");
    let mut bad = Vec::new();
    for name in names {
        let rows: Vec<_> = runs.iter().filter_map(|c| c.row(name)).collect();
        let distances: Vec<f64> = rows.iter().filter_map(|r| r.distance).collect();
        let tolerance = rows.first().and_then(|r| r.tolerance);
        match tolerance {
            Some(t) if distances.len() == runs.len() => {
                let mean = distances.iter().sum::<f64>() / distances.len() as f64;
                if mean.is_nan() || mean > t {
                    bad.push(format!(
                        "{name}: mean distance {mean:.4} > tolerance {t} (each {distances:.4?})"
                    ));
                }
            }
            _ => bad.push(format!("{name}: missing or not judged on some run")),
        }
    }
    assert!(bad.is_empty(), "{what}:\n  {}", bad.join("\n  "));
}

/// Every named row is present, judged, and passes; the message shows all of them.
pub fn assert_rows(what: &str, c: &tracesynth::compare::Comparison, names: &[&str]) {
    let mut bad = Vec::new();
    for name in names {
        match c.row(name) {
            Some(r) if r.verdict == tracesynth::compare::Verdict::Pass => {}
            Some(r) => bad.push(format!(
                "{name}: real {:?}, synthetic {:?}, distance {:?} > tolerance {:?} ({:?})",
                r.real, r.synth, r.distance, r.tolerance, r.verdict
            )),
            None => bad.push(format!("{name}: no such row")),
        }
    }
    assert!(
        bad.is_empty(),
        "{what}:\n  {}\n(all failing rows: {:?})",
        bad.join("\n  "),
        c.failures().map(|r| &r.name).collect::<Vec<_>>()
    );
}
