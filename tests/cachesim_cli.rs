//! `tracesynth cachesim` from the outside: every policy's curve on the vendored Mooncake
//! trace, LRU's equal to the LRU figures of `stats`, sizes in bytes, and clean errors.

mod util;

use util::{TestDir, azure, excerpt, mooncake};

#[test]
fn lru_column_is_the_lru_of_stats_and_every_policy_has_a_curve() {
    let dir = TestDir::new();
    let m = mooncake();
    let path = m.to_str().unwrap();
    let sim = dir.run(&["cachesim", path, "--json", "-q"]);
    let sim = sim.expect_code(0).json();
    let stats = dir.run(&["stats", path, "--json", "-q"]);
    let stats = stats.expect_code(0).json();
    let lru: Vec<&serde_json::Value> = stats["cache"]["lru"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["hit_ratio"])
        .collect();
    let policies = sim["policies"].as_array().unwrap();
    let names: Vec<&str> = policies
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lru", "fifo", "lfu", "s3fifo", "ttl", "category"]);
    let sim_lru: Vec<&serde_json::Value> = policies[0]["hit_ratios"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(sim_lru, lru);
    assert_eq!(sim["unique_blocks"], stats["cache"]["unique_blocks"]);
    let ideal = stats["cache"]["ideal_hit_ratio"].as_f64().unwrap();
    for p in policies {
        let r: Vec<f64> = p["hit_ratios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(r.len(), 5);
        assert!(
            r.iter().all(|&x| x > 0.0 && x <= ideal + 1e-12),
            "{}: {r:?}",
            p["name"]
        );
    }
    // The table prints the same figures to three decimals.
    let table = dir.run(&["cachesim", path, "-q"]).expect_code(0).stdout();
    let row = table
        .lines()
        .find(|l| l.starts_with("5%"))
        .expect("a 5% row");
    let lru5 = format!("{:.3}", lru[1].as_f64().unwrap());
    assert_eq!(
        row.split_whitespace().nth(2),
        Some(lru5.as_str()),
        "{table}"
    );
}

#[test]
fn sizes_in_bytes_follow_the_kv_model() {
    let dir = TestDir::new();
    let e = excerpt();
    let path = e.to_str().unwrap();
    // Qwen2-7B: 0.875 MiB per 16-token block, so 7 MiB is 8 blocks; 2 MB at 100 kB a
    // token is 1 block of 16 tokens (1.6 MB).
    let out = dir.run(&[
        "cachesim",
        path,
        "--json",
        "-q",
        "--capacities",
        "7MiB,8",
        "--kv-model",
        "qwen2-7b",
        "--policies",
        "lru",
    ]);
    let json = out.expect_code(0).json();
    let caps = json["capacities"].as_array().unwrap();
    assert_eq!(caps[0]["blocks"], 8);
    assert_eq!(caps[0]["bytes"], 7 << 20);
    assert_eq!(
        json["policies"][0]["hit_ratios"][0],
        json["policies"][0]["hit_ratios"][1]
    );
    let out = dir.run(&[
        "cachesim",
        path,
        "--json",
        "-q",
        "--capacities",
        "2M",
        "--kv-bytes-per-token",
        "100000",
    ]);
    assert_eq!(out.expect_code(0).json()["capacities"][0]["blocks"], 1);
}

#[test]
fn bad_requests_fail_with_one_line() {
    let dir = TestDir::new();
    let e = excerpt();
    let path = e.to_str().unwrap();
    dir.run(&["cachesim", path, "--capacities", "1G", "-q"])
        .expect_clean_failure();
    dir.run(&["cachesim", path, "--policies", "arc", "-q"])
        .expect_clean_failure();
    dir.run(&[
        "cachesim",
        path,
        "--kv-model",
        "gpt-9",
        "--capacities",
        "1G",
        "-q",
    ])
    .expect_clean_failure();
    let a = azure();
    dir.run(&["cachesim", a.to_str().unwrap(), "-q"])
        .expect_clean_failure();
}
