//! `tracesynth stats` from the outside: JSON that reads back as TraceStats, a table with
//! every section, and exit code 2 on a bad input.

use std::process::Command;

use tracesynth::metrics::TraceStats;

const EXCERPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/validation/data/qwen-bailian-excerpt/traceA_excerpt.jsonl"
);

fn stats(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tracesynth"))
        .arg("stats")
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn json_output_is_trace_stats() {
    let out = stats(&[EXCERPT, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: TraceStats = serde_json::from_slice(&out.stdout).expect("TraceStats JSON");
    // The excerpt holds 32 records, 12 of them follow-ups whose parents are all present
    // (checked by reading the file), so 20 sessions and no orphans.
    assert_eq!(s.requests, 32);
    let sessions = s.sessions.unwrap();
    assert_eq!((sessions.sessions, sessions.orphans), (20, 0));
    assert_eq!(s.types.unwrap()["text"].requests, 27);
}

#[test]
fn table_has_every_section() {
    let out = stats(&[EXCERPT]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for heading in [
        "lengths (tokens)",
        "arrivals",
        "sessions",
        "prefix cache",
        "per type",
    ] {
        assert!(
            text.lines().any(|l| l == heading),
            "missing {heading}:\n{text}"
        );
    }
}

#[test]
fn a_missing_file_is_an_error_with_exit_code_2() {
    let out = stats(&["/nonexistent/trace.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/trace.jsonl"));
}
