//! `generate --tenants K` (independent copies of the service) and the size guard that
//! refuses an output too large to mean.

mod util;

use std::collections::HashSet;
use std::path::PathBuf;

use util::{TestDir, assert_checks_clean, ids, records};

fn shipped(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

fn generate(dir: &TestDir, out: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let model = shipped("mooncake-conversation.json");
    let mut args = vec!["generate", "-q", "-m", model.to_str().unwrap(), "-o", out];
    args.extend_from_slice(extra);
    dir.run(&args).expect_code(0);
    records(&dir.read(out))
}

/// Share of blocks that hit an infinite cache on their request's longest cached prefix.
fn ideal_hit_ratio(recs: &[&serde_json::Value]) -> f64 {
    let mut seen = HashSet::new();
    let (mut hits, mut total) = (0usize, 0usize);
    for r in recs {
        let ids = ids(r);
        hits += ids.iter().take_while(|id| seen.contains(*id)).count();
        total += ids.len();
        seen.extend(ids);
    }
    hits as f64 / total as f64
}

/// The ids of copy 1 of 2 start at half the space a Mooncake model written in 16-token
/// blocks can use.
const COPY_1_START: u64 = (1u64 << 32) / 32 / 2 * 32;

#[test]
fn two_tenants_are_two_disjoint_copies_of_one_run() {
    let dir = TestDir::new();
    let one = generate(&dir, "one.jsonl", &["--duration", "20m", "--seed", "4"]);
    let two = generate(
        &dir,
        "two.jsonl",
        &["--duration", "20m", "--seed", "4", "--tenants", "2"],
    );
    assert_checks_clean(&dir, &dir.path("two.jsonl"));
    let copy = |r: &serde_json::Value| usize::from(ids(r)[0] >= COPY_1_START);
    let mut parts: [Vec<&serde_json::Value>; 2] = [Vec::new(), Vec::new()];
    let mut copy_of = Vec::new();
    for (i, r) in two.iter().enumerate() {
        assert_eq!(
            r["chat_id"].as_u64(),
            Some(i as u64),
            "chat ids in output order"
        );
        let c = copy(r);
        assert!(
            ids(r)
                .iter()
                .all(|&id| usize::from(id >= COPY_1_START) == c),
            "a request mixes the copies' ids"
        );
        let parent = r["parent_chat_id"].as_i64().unwrap();
        if parent >= 0 {
            assert_eq!(copy_of[parent as usize], c, "a follow-up changed copies");
        }
        copy_of.push(c);
        parts[c].push(r);
    }
    // Copy 0 is the single-tenant run with the run's seed, field for field.
    let fields = |r: &serde_json::Value| {
        (
            r["timestamp"].as_f64(),
            r["input_length"].as_u64(),
            r["output_length"].as_u64(),
            r["turn"].as_u64(),
            ids(r),
        )
    };
    assert_eq!(parts[0].len(), one.len());
    assert!(
        parts[0]
            .iter()
            .zip(&one)
            .all(|(a, b)| fields(a) == fields(b))
    );
    // Copy 1 is another run of the same service: about as many requests, the same
    // sharing, and the whole keeps one copy's hit ratio (no content crosses copies).
    let n = one.len() as f64;
    assert!(
        (parts[1].len() as f64 / n - 1.0).abs() < 0.15,
        "{} vs {n}",
        parts[1].len()
    );
    let single = ideal_hit_ratio(&one.iter().collect::<Vec<_>>());
    let other = ideal_hit_ratio(&parts[1]);
    let whole = ideal_hit_ratio(&two.iter().collect::<Vec<_>>());
    assert!((other - single).abs() < 0.05, "copy 1 {other} vs {single}");
    assert!((whole - single).abs() < 0.03, "both {whole} vs {single}");
}

#[test]
fn tenant_shards_merge_into_the_whole_run() {
    let dir = TestDir::new();
    let args = ["--duration", "10m", "--tenants", "3", "--rate-scale", "2"];
    generate(&dir, "whole.jsonl", &args);
    for part in ["0/2", "1/2"] {
        let name = format!("part{}.jsonl", &part[..1]);
        let mut a = args.to_vec();
        a.extend_from_slice(&["--shard", part]);
        generate(&dir, &name, &a);
    }
    dir.run(&["merge", "part0.jsonl", "part1.jsonl", "-o", "merged.jsonl"])
        .expect_code(0);
    assert_eq!(dir.read("merged.jsonl"), dir.read("whole.jsonl"));
}

#[test]
fn too_many_tenants_for_32_bit_ids_are_refused() {
    let dir = TestDir::new();
    let model = shipped("mooncake-conversation.json");
    let run = dir.run(&[
        "generate",
        "-m",
        model.to_str().unwrap(),
        "--tenants",
        "4000000",
        "-o",
        "out.jsonl",
    ]);
    run.expect_clean_failure();
    assert!(run.stderr.contains("--tenants 4000000"), "{}", run.stderr);
    assert!(!dir.path("out.jsonl").exists());
}

#[test]
fn an_output_over_the_limit_is_refused_unless_forced_or_bounded() {
    let dir = TestDir::new();
    let model = shipped("mooncake-conversation.json");
    let m = model.to_str().unwrap();
    let base = [
        "generate",
        "-m",
        m,
        "--duration",
        "10m",
        "--max-bytes",
        "100K",
    ];
    let run = dir.run(&[&base[..], &["-o", "out.jsonl"]].concat());
    run.expect_clean_failure();
    assert!(run.stderr.contains("--max-bytes"), "{}", run.stderr);
    assert!(!dir.path("out.jsonl").exists());
    dir.run(&[&base[..], &["-q", "--force", "-o", "forced.jsonl"]].concat())
        .expect_code(0);
    assert!(dir.read("forced.jsonl").len() > 100_000);
    dir.run(
        &[
            &base[..],
            &["-q", "--requests", "50", "-o", "bounded.jsonl"],
        ]
        .concat(),
    )
    .expect_code(0);
    assert_eq!(records(&dir.read("bounded.jsonl")).len(), 50);
}

fn timestamps(recs: &[serde_json::Value]) -> Vec<f64> {
    recs.iter()
        .map(|r| r["timestamp"].as_f64().unwrap())
        .collect()
}

/// The Mooncake source's 3 s clock: stretched with time; at four times the users the same
/// one clock (each tick holds about four times the requests, as the whole real trace's
/// ticks do against a quarter of its sessions); four tenants on clocks of their own.
#[test]
fn the_source_clock_scales_with_time_and_is_shared_by_users_not_tenants() {
    let dir = TestDir::new();
    let on_grid = |ts: &[f64], period: f64| {
        ts.iter()
            .all(|t| (t / period - (t / period).round()).abs() < 1e-6)
    };
    let slow = timestamps(&generate(
        &dir,
        "slow.jsonl",
        &["--duration", "20m", "--time-scale", "2"],
    ));
    assert!(on_grid(&slow, 6.0));
    let one = timestamps(&generate(&dir, "one.jsonl", &["--duration", "20m"]));
    let users = timestamps(&generate(
        &dir,
        "users.jsonl",
        &["--duration", "20m", "--rate-scale", "4"],
    ));
    let tenants = timestamps(&generate(
        &dir,
        "tenants.jsonl",
        &["--duration", "20m", "--tenants", "4"],
    ));
    for ts in [&users, &tenants] {
        assert!(
            ts.windows(2).all(|w| w[0] <= w[1]),
            "timestamps out of order"
        );
    }
    assert!(on_grid(&users, 3.0), "x4 users left the source's clock");
    let distinct = |ts: &[f64]| {
        let mut v: Vec<u64> = ts.iter().map(|t| (t * 1000.0).round() as u64).collect();
        v.dedup();
        v.len() as f64
    };
    let per_tick = |ts: &[f64]| ts.len() as f64 / distinct(ts);
    let users_ratio = per_tick(&users) / per_tick(&one);
    assert!(
        users_ratio > 2.5,
        "x4 users put only {users_ratio:.2} times the requests on a tick"
    );
    let tenants_ratio = per_tick(&tenants) / per_tick(&one);
    assert!(
        tenants_ratio < 1.6,
        "four tenants pile {tenants_ratio:.2} times the requests on a tick"
    );
}
