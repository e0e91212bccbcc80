//! Bad input to `convert` and `check`: every problem is one clear line naming the file,
//! the line and the field, a non-zero exit and no panic; a failed `convert` leaves no
//! output or temporary file behind.

mod util;

use util::{TestDir, excerpt};

/// The excerpt's first two lines, then its third line altered by `edit`, then a root (its
/// fourth line is the third's follow-up, which would lose its parent).
fn with_bad_third_line(edit: impl Fn(&str) -> String) -> String {
    let text = std::fs::read_to_string(excerpt()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let bad = edit(lines[2]);
    assert_ne!(bad, lines[2], "the edit must change the line");
    format!("{}\n{}\n{bad}\n{}\n", lines[0], lines[1], lines[4])
}

fn replace(from: &'static str, to: &'static str) -> impl Fn(&str) -> String {
    move |l: &str| l.replacen(from, to, 1)
}

/// (name, content, field named in the error, words the message must contain)
fn record_cases() -> Vec<(&'static str, String, &'static str, &'static str)> {
    vec![
        (
            "truncated",
            with_bad_third_line(|l| l[..200].to_string()),
            "hash_ids",
            "truncated line",
        ),
        (
            "string-for-number",
            with_bad_third_line(replace(
                "\"input_length\": 742",
                "\"input_length\": \"742\"",
            )),
            "input_length",
            "found string \"742\"",
        ),
        (
            "negative-length",
            with_bad_third_line(replace("\"output_length\": 48", "\"output_length\": -48")),
            "output_length",
            "negative",
        ),
        (
            "nan-timestamp",
            with_bad_third_line(replace("\"timestamp\": 64.263", "\"timestamp\": NaN")),
            "timestamp",
            "NaN",
        ),
        (
            "20-gb-input",
            with_bad_third_line(replace(
                "\"input_length\": 742",
                "\"input_length\": 20000000000",
            )),
            "input_length",
            "20000000000 exceeds the limit",
        ),
        (
            "binary-line",
            with_bad_third_line(|_| "\u{0}\u{1}\u{2}\u{3}\u{7f}".to_string()),
            "",
            "invalid JSON",
        ),
    ]
}

#[test]
fn convert_stops_at_a_bad_record_with_one_line_and_no_output() {
    for (name, content, field, says) in record_cases() {
        for out in ["out.jsonl", "out.jsonl.gz"] {
            let dir = TestDir::new();
            let input = format!("{name}.jsonl");
            dir.write(&input, &content);
            let run = dir.run(&["convert", &input, "-o", out, "--to", "mooncake"]);
            run.expect_code(2).expect_clean_failure();
            let err = &run.stderr;
            assert!(err.contains(&format!("{input}:3: ")), "{name}: {err}");
            if !field.is_empty() {
                assert!(err.contains(&format!("field `{field}`")), "{name}: {err}");
            }
            assert!(err.contains(says), "{name}: {err}");
            assert_eq!(dir.files(), [input], "{name}: left files behind");
        }
    }
}

#[test]
fn check_reports_a_bad_record_with_its_line_and_field() {
    for (name, content, field, says) in record_cases() {
        let dir = TestDir::new();
        let input = format!("{name}.jsonl");
        dir.write(&input, &content);
        let run = dir.run(&["check", &input, "--json"]);
        run.expect_code(1);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        let report = run.json();
        assert_eq!(report["records"], 4, "{name}");
        let violations = report["violations"].as_array().unwrap();
        assert_eq!(violations.len(), 1, "{name}: {report}");
        let first = &violations[0]["first"][0];
        assert_eq!(first["line"], 3, "{name}");
        let message = first["message"].as_str().unwrap();
        assert!(message.contains(field), "{name}: {message}");
        assert!(message.contains(says), "{name}: {message}");
    }
}

#[test]
fn unreadable_files_fail_convert_cleanly() {
    let dir = TestDir::new();
    dir.write("empty.jsonl", "");
    let mut binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    binary.insert(0, 0xff);
    dir.write("binary.bin", &binary);
    let partial = util::gzip(&std::fs::read(util::mooncake()).unwrap());
    dir.write("cut.jsonl.gz", &partial[..partial.len() / 2]);
    let inputs = ["binary.bin", "cut.jsonl.gz", "empty.jsonl"];
    for (file, says) in [
        ("missing.jsonl", "No such file"),
        ("empty.jsonl", "empty file"),
        ("binary.bin", "binary.bin:1: not UTF-8"),
        // Fails after thousands of records were written to the temporary file.
        ("cut.jsonl.gz", "corrupt or truncated gzip"),
    ] {
        let run = dir.run(&["convert", file, "-o", "out.jsonl", "--to", "bailian"]);
        run.expect_code(2).expect_clean_failure();
        assert!(run.stderr.contains(file), "{}", run.stderr);
        assert!(run.stderr.contains(says), "{}", run.stderr);
        assert_eq!(dir.files(), inputs, "{file}: left files behind");
    }
}

#[test]
fn a_bad_record_on_stdin_names_stdin() {
    let dir = TestDir::new();
    let content = with_bad_third_line(replace("\"turn\": 1", "\"turn\": -1"));
    let run = dir.run_with_stdin(
        &["convert", "-", "-o", "-", "--to", "bailian"],
        content.as_bytes(),
    );
    run.expect_code(2).expect_clean_failure();
    assert!(run.stderr.contains("-:3: field `turn`"), "{}", run.stderr);
}
