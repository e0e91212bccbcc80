//! `generate --shard I/N` and `merge`: the parts are disjoint whole sessions whose ids
//! never collide, and merging them gives exactly the bytes of the one-run output, for
//! any number of parts, threads, formats and limits.

mod util;

use std::collections::{HashMap, HashSet};

use util::{TestDir, records};

/// Generate the whole run and its `n` parts with `args`; return the whole output and the
/// part file names.
fn whole_and_parts(dir: &TestDir, args: &[&str], n: u64) -> (Vec<u8>, Vec<String>) {
    let mut whole = vec!["generate", "-q", "-o", "whole.jsonl"];
    whole.extend_from_slice(args);
    dir.run(&whole).expect_code(0);
    let mut names = Vec::new();
    for i in 0..n {
        let name = format!("part-{i}.jsonl");
        let shard = format!("{i}/{n}");
        let mut part = vec!["generate", "-q", "-o", &name, "--shard", &shard];
        part.extend_from_slice(args);
        dir.run(&part).expect_code(0);
        names.push(name);
    }
    (dir.read("whole.jsonl"), names)
}

fn merge(dir: &TestDir, parts: &[String]) -> Vec<u8> {
    let mut args = vec!["merge", "-q", "-o", "merged.jsonl"];
    args.extend(parts.iter().map(String::as_str));
    dir.run(&args).expect_code(0);
    dir.read("merged.jsonl")
}

#[test]
fn merged_parts_are_the_one_run_output() {
    let mooncake_model = util::data("../../models/mooncake-conversation.json");
    let mooncake_model = mooncake_model.to_str().unwrap();
    let cases: [(&[&str], u64); 5] = [
        (&["--duration", "20m", "--seed", "3"], 3),
        (
            &["--sessions", "1500", "--seed", "7", "--rate-scale", "3"],
            5,
        ),
        (&["--requests", "4000", "--seed", "2", "--threads", "3"], 2),
        (
            &["-m", mooncake_model, "--format", "mooncake", "--seed", "4"],
            4,
        ),
        (
            &["-m", mooncake_model, "--duration", "10m", "--seed", "1"],
            3,
        ),
    ];
    for (args, n) in cases {
        let dir = TestDir::new();
        let (whole, mut parts) = whole_and_parts(&dir, args, n);
        assert!(!whole.is_empty());
        // The order parts are named in does not matter.
        parts.reverse();
        let merged = merge(&dir, &parts);
        assert!(merged == whole, "{args:?} in {n} parts: merge differs");
        let total: usize = parts.iter().map(|p| records(&dir.read(p)).len()).sum();
        assert_eq!(total, records(&whole).len(), "{args:?}: parts overlap");
    }
}

#[test]
fn parts_hold_whole_sessions_and_share_only_shared_prefixes() {
    let dir = TestDir::new();
    let (_, parts) = whole_and_parts(&dir, &["--duration", "30m", "--seed", "11"], 3);
    let mut part_of_chat = HashMap::new();
    let mut ids_of_part: Vec<HashSet<u64>> = Vec::new();
    for (p, name) in parts.iter().enumerate() {
        let recs = records(&dir.read(name));
        assert!(recs.len() > 1000, "part {p} has {} records", recs.len());
        let mut ids = HashSet::new();
        for r in &recs {
            part_of_chat.insert(r["chat_id"].as_u64().unwrap(), p);
            ids.extend(util::ids(r));
        }
        // Every follow-up's parent is in the same part (or fell in the warm-up, when the
        // follow-up shows as a new session).
        for r in &recs {
            let parent = r["parent_chat_id"].as_i64().unwrap();
            if parent >= 0 {
                assert_eq!(part_of_chat.get(&(parent as u64)), Some(&p), "{r}");
            }
        }
        ids_of_part.push(ids);
    }
    // Parts share ids only through shared prefixes (system prompts, shared documents),
    // never through new content: most of each part's ids are its own.
    for (p, ids) in ids_of_part.iter().enumerate() {
        let elsewhere: HashSet<u64> = ids_of_part
            .iter()
            .enumerate()
            .filter(|&(q, _)| q != p)
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        let shared = ids.intersection(&elsewhere).count();
        assert!(
            (shared as f64) < 0.2 * ids.len() as f64,
            "part {p}: {shared} of {} ids also elsewhere",
            ids.len()
        );
    }
}

#[test]
fn bad_shards_and_parts_fail_cleanly() {
    let dir = TestDir::new();
    for bad in ["3/3", "1/0", "x/2", "2"] {
        dir.run(&["generate", "-q", "--duration", "1m", "--shard", bad])
            .expect_code(2);
    }
    // 16-token blocks written as Mooncake are numbered across the whole trace.
    dir.run(&[
        "generate",
        "-q",
        "--duration",
        "1m",
        "--format",
        "mooncake",
        "--shard",
        "0/2",
    ])
    .expect_clean_failure();

    let (_, parts) = whole_and_parts(&dir, &["--duration", "5m", "--seed", "1"], 2);
    // A part merged with itself: the same chat ids twice.
    let same = dir
        .run(&[
            "merge",
            "-q",
            "--no-manifest",
            "-o",
            "m.jsonl",
            &parts[0],
            &parts[0],
        ])
        .expect_clean_failure()
        .stderr
        .clone();
    assert!(same.contains("not parts of one run"), "{same}");
    // A part out of order: line 4 now holds line 8, so line 5 goes back in time.
    let text = String::from_utf8(dir.read(&parts[1])).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(3, 7);
    dir.write("shuffled.jsonl", lines.join("\n") + "\n");
    let err = dir
        .run(&[
            "merge",
            "-q",
            "--no-manifest",
            "-o",
            "m.jsonl",
            &parts[0],
            "shuffled.jsonl",
        ])
        .expect_clean_failure()
        .stderr
        .clone();
    assert!(err.contains("shuffled.jsonl:5: out of order"), "{err}");
    // Something else entirely, and a cut-off part.
    dir.write("junk.jsonl", "hello\n");
    let err = dir
        .run(&[
            "merge",
            "-q",
            "--no-manifest",
            "-o",
            "m.jsonl",
            &parts[0],
            "junk.jsonl",
        ])
        .expect_clean_failure()
        .stderr
        .clone();
    assert!(err.contains("junk.jsonl:1:"), "{err}");
    dir.write("cut.jsonl", &text[..text.len() - 5]);
    let err = dir
        .run(&["merge", "-q", "--no-manifest", "-o", "m.jsonl", "cut.jsonl"])
        .expect_clean_failure()
        .stderr
        .clone();
    assert!(err.contains("no newline"), "{err}");
    assert!(!dir.files().contains(&"m.jsonl".to_string()));
}
