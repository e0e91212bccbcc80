//! `generate -m a -m b [--mix W,W]`: several models in one trace, each with its own
//! content and chat ids, interleaved by time; the shares asked for are the shares written.

mod util;

use std::collections::{HashMap, HashSet};

use util::{TestDir, assert_checks_clean, assert_one_fill_per_id, records};

/// The chat service and the API service of the Qwen traces (both 16-token blocks).
const CHAT: &str = "qwen-trace-a";
const API: &str = "qwen-trace-b";

/// Ids per model of a mix of two 16-token-block models: the 2^32 ids in halves.
const STRIDE: u64 = (1 << 32) / 2;

fn generate(dir: &TestDir, out: &str, extra: &[&str]) -> String {
    let mut args = vec!["generate", "--duration", "30m", "-o", out];
    if !extra.contains(&"--seed") {
        args.extend(["--seed", "1"]);
    }
    args.extend_from_slice(extra);
    let run = dir.run(&args);
    run.expect_code(0);
    assert_checks_clean(dir, &dir.path(out));
    assert_one_fill_per_id(&dir.path(out), 16);
    run.stderr.clone()
}

#[derive(Debug, PartialEq)]
struct Rec {
    part: u64,
    chat: i64,
    parent: i64,
    timestamp: f64,
    input: u64,
    output: u64,
    ty: String,
    ids: Vec<u64>,
}

/// The records, each with the model its ids belong to.
fn read(dir: &TestDir, name: &str) -> Vec<Rec> {
    records(&dir.read(name))
        .iter()
        .map(|r| {
            let ids = util::ids(r);
            let part = ids[0] / STRIDE;
            assert!(
                ids.iter().all(|id| id / STRIDE == part),
                "a request with ids of two models"
            );
            Rec {
                part,
                chat: r["chat_id"].as_i64().unwrap(),
                parent: r["parent_chat_id"].as_i64().unwrap(),
                timestamp: r["timestamp"].as_f64().unwrap(),
                input: r["input_length"].as_u64().unwrap(),
                output: r["output_length"].as_u64().unwrap(),
                ty: r["type"].as_str().unwrap().to_string(),
                ids,
            }
        })
        .collect()
}

/// `mix: NAME n requests (..), NAME n requests (..)` in stderr -> the n.
fn reported(stderr: &str) -> Vec<u64> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("mix: "))
        .unwrap_or_else(|| panic!("no mix line in:\n{stderr}"));
    line["mix: ".len()..]
        .split(", ")
        .map(|part| part.split(' ').nth(1).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_mix_writes_the_shares_asked_with_disjoint_ids_and_sessions() {
    let dir = TestDir::new();
    let mix = ["-m", CHAT, "-m", API, "--mix", "0.7,0.3"];
    let stderr = generate(&dir, "mix.jsonl", &mix);
    let recs = read(&dir, "mix.jsonl");
    let chat = recs.iter().filter(|r| r.part == 0).count();
    let share = chat as f64 / recs.len() as f64;
    assert!(recs.len() > 20_000, "{} requests", recs.len());
    assert!(
        (share - 0.7).abs() <= 0.01,
        "the chat model's share {share:.4}"
    );
    assert_eq!(
        reported(&stderr),
        [chat as u64, (recs.len() - chat) as u64],
        "{stderr}"
    );
    // Chat ids are one numbering in output order; every follow-up's parent is an earlier
    // request of its own model.
    let by_chat: HashMap<i64, &Rec> = recs.iter().map(|r| (r.chat, r)).collect();
    assert_eq!(by_chat.len(), recs.len());
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.chat, i as i64);
        if r.parent >= 0 {
            let p = by_chat[&r.parent];
            assert!(p.chat < r.chat && p.part == r.part);
        }
    }
    assert!(recs.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    // Each model's types: the API model writes `api`, which the chat model has not.
    let types = |part: u64| -> HashSet<&str> {
        recs.iter()
            .filter(|r| r.part == part)
            .map(|r| r.ty.as_str())
            .collect()
    };
    assert!(types(1).contains("api") && !types(0).contains("api"));
    assert!(types(0).contains("search") && !types(1).contains("search"));
    // The same seed writes the same bytes; another seed, others.
    generate(&dir, "again.jsonl", &mix);
    assert_eq!(dir.read("mix.jsonl"), dir.read("again.jsonl"));
    let mut other = mix.to_vec();
    other.extend(["--seed", "2"]);
    generate(&dir, "other.jsonl", &other);
    assert_ne!(dir.read("mix.jsonl"), dir.read("other.jsonl"));
    // Other weights, other shares.
    generate(&dir, "even.jsonl", &["-m", CHAT, "-m", API, "--mix", "1,1"]);
    let even = read(&dir, "even.jsonl");
    let share = even.iter().filter(|r| r.part == 0).count() as f64 / even.len() as f64;
    assert!(
        (share - 0.5).abs() <= 0.01,
        "the chat model's share {share:.4}"
    );
}

#[test]
fn without_weights_each_model_keeps_its_own_run() {
    let dir = TestDir::new();
    generate(&dir, "mix.jsonl", &["-m", CHAT, "-m", API]);
    generate(&dir, "chat.jsonl", &["-m", CHAT]);
    let (mix, chat) = (read(&dir, "mix.jsonl"), read(&dir, "chat.jsonl"));
    // The first model runs on the run's seed: its requests are its own run's, renumbered.
    let first: Vec<_> = mix
        .iter()
        .filter(|r| r.part == 0)
        .map(|r| (r.timestamp, r.input, r.output, &r.ty, &r.ids))
        .collect();
    let alone: Vec<_> = chat
        .iter()
        .map(|r| (r.timestamp, r.input, r.output, &r.ty, &r.ids))
        .collect();
    assert_eq!(first, alone);
    assert!(mix.iter().filter(|r| r.part == 1).count() > 1000);
}

#[test]
fn a_mix_of_one_model_is_its_tenants() {
    let dir = TestDir::new();
    generate(&dir, "mix.jsonl", &["-m", CHAT, "-m", CHAT]);
    generate(&dir, "tenants.jsonl", &["-m", CHAT, "--tenants", "2"]);
    assert_eq!(dir.read("mix.jsonl"), dir.read("tenants.jsonl"));
}

#[test]
fn a_mix_refuses_what_it_cannot_honour() {
    let dir = TestDir::new();
    for args in [
        &["-m", CHAT, "--mix", "1"][..],
        &["-m", CHAT, "-m", API, "--mix", "1,2,3"],
        &["-m", CHAT, "-m", "mooncake-conversation"],
        &["-m", CHAT, "-m", API, "--tenants", "2"],
        &["-m", CHAT, "-m", API, "--sessions", "10"],
        &["-m", CHAT, "-m", API, "--peak-cap", "50"],
    ] {
        let mut all = vec!["generate", "--requests", "10", "-o", "x.jsonl"];
        all.extend_from_slice(args);
        dir.run(&all).expect_clean_failure();
        assert!(!dir.path("x.jsonl").exists(), "{args:?} wrote a file");
    }
}
