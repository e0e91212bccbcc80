//! `tracesynth check`: the vendored traces pass, and every kind of violation is found on
//! its line in small hand-made files.

mod util;

use util::{TestDir, excerpt, mooncake};

/// A Bailian line with hash ids consistent with `input` unless `ids` says otherwise.
fn line(chat: u64, parent: i64, turn: u32, t: f64, input: u64, ids: Option<&str>) -> String {
    let ids = ids.map_or_else(
        || {
            (0..input.div_ceil(16))
                .map(|i| (chat * 100 + i).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        },
        str::to_string,
    );
    format!(
        r#"{{"chat_id": {chat}, "parent_chat_id": {parent}, "timestamp": {t:?}, "input_length": {input}, "output_length": 7, "type": "text", "turn": {turn}, "hash_ids": [{ids}]}}"#
    )
}

/// Three clean lines: a root, its follow-up, another root.
fn base() -> Vec<String> {
    vec![
        line(1, -1, 1, 1.0, 40, None),
        line(2, 1, 2, 2.0, 60, None),
        line(3, -1, 1, 3.0, 16, None),
    ]
}

fn check_json(dir: &TestDir, name: &str, lines: &[String]) -> (util::Run, serde_json::Value) {
    dir.write(name, lines.join("\n") + "\n");
    let run = dir.run(&["check", name, "--json"]);
    let json = run.json();
    (run, json)
}

fn kinds(report: &serde_json::Value) -> Vec<String> {
    report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_vendored_traces_pass() {
    let dir = TestDir::new();
    for (file, records) in [(excerpt(), 32), (mooncake(), 12_031)] {
        let run = dir.run(&["check", file.to_str().unwrap()]);
        run.expect_code(0);
        let out = run.stdout();
        assert!(out.contains(&format!("{records} records")), "{out}");
        assert!(out.contains("no violations"), "{out}");
        assert_eq!(run.stderr, "");
    }
}

#[test]
fn the_hand_made_base_is_clean() {
    let dir = TestDir::new();
    let (run, report) = check_json(&dir, "base.jsonl", &base());
    run.expect_code(0);
    assert_eq!(report["clean"], true);
    assert_eq!(report["records"], 3);
    assert_eq!(kinds(&report), Vec::<String>::new());
}

#[test]
fn each_violation_kind_is_reported_on_its_line() {
    // Each case appends one line (line 4) to the clean base; some break two rules.
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "unparsable",
            "{\"chat_id\": 4, oops".into(),
            &["unparsable"],
        ),
        (
            "missing turn",
            line(4, -1, 1, 4.0, 16, None).replace("\"turn\": 1, ", ""),
            &["missing_field"],
        ),
        (
            "string length",
            line(4, -1, 1, 4.0, 16, None)
                .replace("\"input_length\": 16", "\"input_length\": \"16\""),
            &["invalid_field"],
        ),
        (
            "block count",
            line(4, -1, 1, 4.0, 40, Some("1, 2")),
            &["block_count"],
        ),
        (
            "empty ids",
            line(4, -1, 1, 4.0, 10, Some("")),
            &["empty_hash_ids"],
        ),
        (
            "id of 2^32",
            line(4, -1, 1, 4.0, 16, Some("4294967296")),
            &["id_too_large"],
        ),
        (
            "time goes back",
            line(4, -1, 1, 2.5, 16, None),
            &["timestamp_decreasing"],
        ),
        (
            "duplicate chat id",
            line(3, -1, 1, 4.0, 16, None),
            &["duplicate_chat_id"],
        ),
        (
            "unknown parent",
            line(4, 99, 2, 4.0, 16, None),
            &["parent_missing"],
        ),
        (
            "parent later",
            // The parent (line 3, t = 3.0) precedes it in the file but not in time, so
            // the file is also out of order.
            line(4, 3, 2, 2.5, 16, None),
            &["timestamp_decreasing", "parent_later"],
        ),
        ("root turn", line(4, -1, 2, 4.0, 16, None), &["turn"]),
        ("turn skips", line(4, 2, 4, 4.0, 16, None), &["turn"]),
    ];
    let dir = TestDir::new();
    for (name, bad, expected) in cases {
        let mut lines = base();
        lines.push(bad);
        let (run, report) = check_json(&dir, "case.jsonl", &lines);
        run.expect_code(1);
        assert_eq!(kinds(&report), expected, "{name}");
        for v in report["violations"].as_array().unwrap() {
            assert_eq!(v["count"], 1, "{name}: {v}");
            assert_eq!(v["first"][0]["line"], 4, "{name}: {v}");
        }
        assert_eq!(report["records"], 4, "{name}");
    }
}

#[test]
fn a_parent_after_its_child_in_the_file_is_missing() {
    let dir = TestDir::new();
    let lines = vec![line(2, 1, 2, 1.0, 16, None), line(1, -1, 1, 1.0, 16, None)];
    let (run, report) = check_json(&dir, "late-parent.jsonl", &lines);
    run.expect_code(1);
    assert_eq!(kinds(&report), ["parent_missing"]);
    assert_eq!(report["violations"][0]["first"][0]["line"], 1);
}

#[test]
fn the_summary_names_kinds_counts_lines_and_fields() {
    let dir = TestDir::new();
    let mut lines = base();
    for i in 0..7 {
        lines.push(line(10 + i, -1, 1, 5.0, 40, Some("1")));
    }
    lines.push(line(20, -1, 1, 6.0, 16, None).replace("\"timestamp\": 6.0", "\"timestamp\": NaN"));
    dir.write("many.jsonl", lines.join("\n"));
    let run = dir.run(&["check", "many.jsonl"]);
    run.expect_code(1);
    let out = run.stdout();
    assert!(out.contains("11 records"), "{out}");
    // Seven block-count violations: the count, and only the first five lines.
    assert!(out.contains(": 7 (lines 4, 5, 6, 7, 8, ...)"), "{out}");
    assert!(
        out.contains("line 4: 1 hash_ids, expected ceil(40 / 16) = 3"),
        "{out}"
    );
    assert!(out.contains("line 11: field `timestamp`"), "{out}");
    assert!(out.contains("NaN"), "{out}");
    assert_eq!(run.stderr, "");
}

#[test]
fn mistyped_fields_are_tallied_by_field() {
    let dir = TestDir::new();
    let mut lines = base();
    lines.push(line(4, -1, 1, 4.0, 16, None).replace("\"turn\": 1", "\"turn\": \"1\""));
    lines.push(line(5, -1, 1, 4.0, 16, None).replace("\"turn\": 1", "\"turn\": 1.5"));
    lines.push(
        line(6, -1, 1, 4.0, 16, None).replace("\"output_length\": 7", "\"output_length\": -7"),
    );
    let (run, report) = check_json(&dir, "typed.jsonl", &lines);
    run.expect_code(1);
    let v = &report["violations"][0];
    assert_eq!(v["kind"], "invalid_field");
    assert_eq!(v["count"], 3);
    assert_eq!(v["fields"]["turn"], 2);
    assert_eq!(v["fields"]["output_length"], 1);
}

#[test]
fn the_block_size_follows_the_format() {
    let dir = TestDir::new();
    // 600 tokens are 2 Mooncake blocks but 38 Bailian ones.
    dir.write(
        "moon.jsonl",
        "{\"timestamp\": 0, \"input_length\": 600, \"output_length\": 1, \"hash_ids\": [0, 1]}\n",
    );
    dir.run(&["check", "moon.jsonl"]).expect_code(0);
    let run = dir.run(&["check", "moon.jsonl", "--format", "bailian", "--json"]);
    run.expect_code(1);
    assert_eq!(kinds(&run.json()), ["missing_field"]);
    assert_eq!(run.json()["violations"][0]["fields"]["chat_id"], 1);
}

#[test]
fn unreadable_inputs_exit_2_with_one_line() {
    let dir = TestDir::new();
    dir.write("empty.jsonl", "");
    dir.write("blank.jsonl", "\n\n  \n");
    dir.write("header.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n");
    dir.write("binary.bin", [0u8, 159, 146, 150, 0xff, 0xfe, 10, 1, 2, 3]);
    dir.write("words.txt", "hello world\n");
    dir.write("corrupt.gz", [0x1f, 0x8b, 0, 1, 2, 3, 4, 5]);
    let truncated = util::gzip(&std::fs::read(mooncake()).unwrap());
    dir.write("truncated.gz", &truncated[..truncated.len() / 2]);
    for (file, says) in [
        ("missing.jsonl", "No such file"),
        ("empty.jsonl", "empty file"),
        ("blank.jsonl", "empty file"),
        ("header.csv", "a header line and no records"),
        ("binary.bin", "not UTF-8"),
        ("words.txt", "cannot detect the format"),
        ("corrupt.gz", "corrupt or truncated gzip"),
        ("truncated.gz", "corrupt or truncated gzip"),
    ] {
        let run = dir.run(&["check", file]);
        run.expect_code(2).expect_clean_failure();
        assert!(run.stderr.contains(file), "{file}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{file}: {}", run.stderr);
        assert_eq!(run.stdout(), "", "{file}");
    }
}
