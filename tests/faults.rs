//! Faults and hostile input (issue 14): absurd values, signals, mismatched parts and
//! options. Every case ends in a clear one-line error or a valid result: never a panic,
//! a runaway, a leftover file or a silent wrong answer.

mod util;

use util::TestDir;

fn moon(ts: &str) -> String {
    format!(r#"{{"timestamp": {ts}, "input_length": 10, "output_length": 1, "hash_ids": [0]}}"#)
}

fn moon_trace(times: &[&str]) -> String {
    times.iter().map(|t| moon(t) + "\n").collect()
}

// Group 1: sizes derived from data are bounded.

#[test]
fn absurd_timestamps_are_refused_with_file_line_and_field() {
    for (name, times, says) in [
        ("1e30", vec!["0", "1e30"], "exceeds the limit"),
        ("1e15", vec!["0", "1000000000000000"], "exceeds the limit"),
        // 63 days in milliseconds: each time is plausible, the span is not.
        ("span", vec!["0", "1000", "5443200000"], "at most 62 days"),
    ] {
        let dir = TestDir::new();
        dir.write("t.jsonl", moon_trace(&times));
        for cmd in ["stats", "fit", "compare", "convert"] {
            let args: Vec<&str> = match cmd {
                "stats" => vec!["stats", "t.jsonl"],
                "fit" => vec!["fit", "t.jsonl", "-o", "m.json"],
                "compare" => vec!["compare", "t.jsonl", "t.jsonl"],
                _ => vec!["convert", "t.jsonl", "--to", "bailian", "-o", "o.jsonl"],
            };
            let run = dir.run(&args);
            run.expect_clean_failure();
            assert!(
                run.stderr
                    .contains(&format!("t.jsonl:{}: field `timestamp`", times.len())),
                "{name} {cmd}: {}",
                run.stderr
            );
            assert!(run.stderr.contains(says), "{name} {cmd}: {}", run.stderr);
            assert_eq!(dir.files(), ["t.jsonl"], "{name} {cmd}: left files");
        }
        let run = dir.run(&["check", "t.jsonl", "--json"]);
        run.expect_code(1);
        let report = run.json();
        let kinds: Vec<&str> = report["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["invalid_field"], "{name}: {report}");
    }
}

#[test]
fn one_absurd_time_does_not_make_later_records_errors() {
    let dir = TestDir::new();
    dir.write("t.jsonl", moon_trace(&["0", "1e13", "1000", "2000"]));
    let report = dir.run(&["check", "t.jsonl", "--json"]).json();
    let violations = report["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1, "{report}");
    assert_eq!(violations[0]["count"], 1, "{report}");
}

#[test]
fn a_long_but_allowed_span_is_read_quickly_and_small() {
    // 61 days between two records: every per-second series over that span must stay
    // small enough for these commands to finish at once.
    let dir = TestDir::new();
    dir.write("t.jsonl", moon_trace(&["0", "5270400000"]));
    dir.run(&["stats", "t.jsonl"]).expect_code(0);
    dir.run(&["compare", "t.jsonl", "t.jsonl"]).expect_code(0);
    dir.run(&["fit", "t.jsonl", "-o", "m.json"]).expect_code(0);
    dir.run(&[
        "generate",
        "-m",
        "m.json",
        "--duration",
        "10m",
        "-o",
        "g.jsonl",
    ])
    .expect_code(0);
}

#[test]
fn azure_dates_that_do_not_fit_are_refused_not_wrapped() {
    let dir = TestDir::new();
    dir.write(
        "a.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n\
         2023-11-16 18:15:46.6805900,374,44\n\
         9999-12-31 23:59:59.0000000,10,2\n",
    );
    let run = dir.run(&["convert", "a.csv", "--to", "mooncake", "-o", "o.jsonl"]);
    run.expect_clean_failure();
    assert!(
        run.stderr.contains("a.csv:3: field `TIMESTAMP`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("out of range"), "{}", run.stderr);
    assert_eq!(dir.files(), ["a.csv"]);
    // Within the i64 range but years apart: refused by the span.
    dir.write(
        "b.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n\
         2023-11-16 18:15:46.6805900,374,44\n\
         2200-01-01 00:00:00.0000000,10,2\n",
    );
    let run = dir.run(&["convert", "b.csv", "--to", "mooncake", "-o", "o.jsonl"]);
    run.expect_clean_failure();
    assert!(run.stderr.contains("at most 62 days"), "{}", run.stderr);
}

// Group 2: no leftovers, signals included.

/// Start `args`, wait until its hidden temporary file exists, send `signal`, and return
/// the exit code.
#[cfg(unix)]
fn interrupted(dir: &TestDir, args: &[&str], signal: &str) -> Option<i32> {
    use std::process::Stdio;
    let mut child = dir
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !dir.files().iter().any(|f| f.ends_with(".tmp")) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{args:?} ended before writing"
        );
        assert!(
            started.elapsed().as_secs() < 60,
            "no temporary file appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap().code()
}

#[cfg(unix)]
#[test]
fn a_signal_removes_the_temporary_file_and_exits_128_plus_its_number() {
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        for out in ["g.jsonl", "g.jsonl.gz"] {
            let dir = TestDir::new();
            let got = interrupted(&dir, &["generate", "--duration", "30d", "-o", out], signal);
            assert_eq!(got, Some(code), "{signal} {out}");
            assert!(dir.files().is_empty(), "{signal} {out}: {:?}", dir.files());
        }
    }
}
