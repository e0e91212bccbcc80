//! `--format mooncake-sessions`: Mooncake rows with `session_id`, follow-ups a `delay`
//! after the session's previous row. The sessions and arrival times of a run must be
//! those of the same run written as Bailian.

mod util;

use std::collections::BTreeMap;

use util::{TestDir, records};

/// The same run as Bailian and as mooncake-sessions (with `extra` flags).
fn twins(dir: &TestDir, extra: &[&str]) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let run = ["generate", "--duration", "5m", "--seed", "4", "-q"];
    dir.run(&[&run[..], &["-o", "b.jsonl"]].concat())
        .expect_code(0);
    dir.run(
        &[
            &run[..],
            &["--format", "mooncake-sessions", "-o", "s.jsonl"],
            extra,
        ]
        .concat(),
    )
    .expect_code(0);
    (records(&dir.read("b.jsonl")), records(&dir.read("s.jsonl")))
}

#[test]
fn sessions_and_arrivals_are_those_of_the_bailian_run() {
    let dir = TestDir::new();
    let (bailian, sessions) = twins(&dir, &[]);
    assert_eq!(bailian.len(), sessions.len());
    // Root of every Bailian chat id, and each session's arrivals in ms, in file order.
    let mut root = BTreeMap::new();
    let mut want: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in &bailian {
        let chat = r["chat_id"].as_u64().unwrap();
        let parent = r["parent_chat_id"].as_i64().unwrap();
        let top = u64::try_from(parent)
            .ok()
            .and_then(|p| root.get(&p).copied())
            .unwrap_or(chat);
        root.insert(chat, top);
        let ms = (r["timestamp"].as_f64().unwrap() * 1000.0).round() as u64;
        want.entry(top.to_string()).or_default().push(ms);
    }
    let mut got: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut follow_ups = 0;
    for (s, b) in sessions.iter().zip(&bailian) {
        assert_eq!(s["input_length"], b["input_length"]);
        assert_eq!(s["output_length"], b["output_length"]);
        let id = s["session_id"]
            .as_str()
            .expect("session_id is a string")
            .to_string();
        let at = got.entry(id).or_default();
        match (s.get("timestamp"), s.get("delay")) {
            (Some(t), None) => {
                assert!(
                    at.is_empty(),
                    "a timestamp after a session's first row: {s}"
                );
                at.push(t.as_u64().unwrap());
            }
            (None, Some(d)) => {
                follow_ups += 1;
                let last = *at.last().expect("a delay on a session's first row");
                at.push(last + d.as_u64().unwrap());
            }
            _ => panic!("exactly one of timestamp and delay: {s}"),
        }
        assert!(s.get("turn").is_none() && s.get("type").is_none(), "{s}");
    }
    assert!(follow_ups > 100, "{follow_ups} follow-ups");
    assert_eq!(got, want);
}

#[test]
fn optional_fields_come_on_request() {
    let dir = TestDir::new();
    let (bailian, sessions) = twins(&dir, &["--field", "turn,type"]);
    for (s, b) in sessions.iter().zip(&bailian) {
        assert_eq!(s["turn"], b["turn"]);
        assert_eq!(s["type"], b["type"]);
    }
    dir.run(&[
        "generate", "-q", "--format", "mooncake", "--field", "turn", "-o", "x",
    ])
    .expect_code(2);
    dir.run(&[
        "generate",
        "-q",
        "--format",
        "mooncake-sessions",
        "--field",
        "client",
        "-o",
        "x",
    ])
    .expect_code(2);
}

#[test]
fn is_read_back_with_its_sessions_and_times() {
    let dir = TestDir::new();
    twins(&dir, &["--field", "turn,type"]);
    let stats = |file: &str| {
        let run = dir.run(&["stats", "--json", file]);
        run.expect_code(0);
        run.json()
    };
    let (b, s) = (stats("b.jsonl"), stats("s.jsonl"));
    assert_eq!(s["format"], "mooncake-sessions");
    assert_eq!(s["requests"], b["requests"]);
    assert_eq!(s["duration_s"], b["duration_s"]);
    for key in [
        "sessions",
        "follow_up_share",
        "orphans",
        "session_sizes",
        "turns",
    ] {
        assert_eq!(s["sessions"][key], b["sessions"][key], "{key}");
    }
    // Per type, the requests and lengths (the cache figures differ with the blocks).
    let types = b["types"].as_object().unwrap();
    assert!(types.len() > 1);
    for (ty, want) in types {
        for key in ["requests", "input", "output"] {
            assert_eq!(s["types"][ty][key], want[key], "{ty} {key}");
        }
    }
    dir.run(&["check", "s.jsonl"]).expect_code(0);
    // Read and written again, it stays the same (session ids are renumbered once, to
    // the chat ids the reader gives the roots).
    let args = |from: &str, to: &str| {
        [
            "convert",
            from,
            "--to",
            "mooncake-sessions",
            "--field",
            "turn,type",
            "-o",
            to,
        ]
        .map(String::from)
    };
    dir.run(&args("s.jsonl", "s2.jsonl")).expect_code(0);
    dir.run(&args("s2.jsonl", "s3.jsonl")).expect_code(0);
    assert!(dir.read("s2.jsonl") == dir.read("s3.jsonl"), "not stable");
}

#[test]
fn a_sharded_run_is_refused() {
    let dir = TestDir::new();
    let run = dir.run(&[
        "generate",
        "-q",
        "--format",
        "mooncake-sessions",
        "--shard",
        "0/2",
        "-o",
        "part.jsonl",
    ]);
    run.expect_code(2);
    assert!(run.stderr.contains("cannot be merged"), "{}", run.stderr);
}
