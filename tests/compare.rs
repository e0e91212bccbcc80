//! `tracesynth compare` end to end: a real trace against itself passes every row, and
//! deliberately broken copies of it fail the rows that measure what was broken, and only
//! those.

mod util;

use std::collections::BTreeSet;

use serde_json::Value;
use tracesynth::compare::{CompareOptions, Verdict, compare};
use tracesynth::trace::read_trace;
use util::{TestDir, excerpt, mooncake, records};

/// Rewrite every record of `src` with `edit` and write the result as `name`.
fn broken(dir: &TestDir, src: &std::path::Path, name: &str, mut edit: impl FnMut(&mut Value)) {
    let text = std::fs::read(src).unwrap();
    let mut out = String::new();
    for mut r in records(&text) {
        edit(&mut r);
        out.push_str(&serde_json::to_string(&r).unwrap());
        out.push('\n');
    }
    dir.write(name, out);
}

/// Names of the rows with the given result in `--json` output.
fn rows_with(json: &Value, result: &str) -> BTreeSet<String> {
    json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == result)
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

fn compare_json(
    dir: &TestDir,
    real: &std::path::Path,
    synth: &str,
    extra: &[&str],
) -> (i32, Value) {
    let mut args = vec![
        "compare".to_string(),
        real.display().to_string(),
        synth.to_string(),
        "--json".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let run = dir.run(&args);
    (run.code.expect("exited"), run.json())
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Small deterministic generator, so the shuffles are the same on every run.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn a_trace_compared_with_itself_passes_every_row() {
    let dir = TestDir::new();
    for (real, expected_rows) in [
        (
            mooncake(),
            &["input.ks", "rate", "idc.60s", "lru.25pct", "reuse_gap.ks"][..],
        ),
        (
            excerpt(),
            &[
                "input.ks",
                "turns.tv",
                "think_time.ks",
                "type_mix.tv",
                "same_session_hit_share",
            ][..],
        ),
    ] {
        let path = real.display().to_string();
        let (code, json) = compare_json(&dir, &real, &path, &[]);
        assert_eq!(code, 0, "{json:#}");
        assert_eq!(json["all_pass"], true);
        assert_eq!(json["failed"], 0);
        let passed = rows_with(&json, "pass");
        for name in expected_rows {
            assert!(passed.contains(*name), "{name} missing from {passed:?}");
        }
        for r in json["rows"].as_array().unwrap() {
            assert_eq!(r["distance"], 0.0, "{r}");
        }
    }
}

#[test]
fn doubled_lengths_fail_the_length_rows_only() {
    let dir = TestDir::new();
    // Ids stay as they are, so the cache rows see the same trace: only lengths moved.
    broken(&dir, &mooncake(), "double.jsonl", |r| {
        for f in ["input_length", "output_length"] {
            r[f] = (r[f].as_u64().unwrap() * 2).into();
        }
    });
    let (code, json) = compare_json(&dir, &mooncake(), "double.jsonl", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        rows_with(&json, "fail"),
        // The classifier test sees the doubled lengths too.
        set(&[
            "input.ks",
            "input.w1_log",
            "output.ks",
            "output.w1_log",
            "c2st.auc"
        ])
    );
}

#[test]
fn compressed_time_fails_the_rate_dispersion_and_gap_rows() {
    let dir = TestDir::new();
    broken(&dir, &mooncake(), "fast.jsonl", |r| {
        r["timestamp"] = (r["timestamp"].as_u64().unwrap() / 2).into();
    });
    let (code, json) = compare_json(&dir, &mooncake(), "fast.jsonl", &[]);
    assert_eq!(code, 1);
    let failed = rows_with(&json, "fail");
    for name in ["rate", "inter_arrival.ks", "idc.60s", "reuse_gap.ks"] {
        assert!(failed.contains(name), "{name} should fail: {failed:?}");
    }
    for name in ["input.ks", "output.ks", "ideal_hit_ratio", "lru.10pct"] {
        assert!(!failed.contains(name), "{name} should pass: {failed:?}");
    }

    // Told the synthetic trace runs at twice the rate, the same file is faithful: the
    // rate is as expected, gaps line up once scaled back, and burstiness and reuse gaps
    // are only informational.
    let (code, json) = compare_json(&dir, &mooncake(), "fast.jsonl", &["--scale", "2"]);
    assert_eq!(code, 0, "{:?}", rows_with(&json, "fail"));
    let info = rows_with(&json, "info");
    for name in ["idc.10s", "idc.60s", "reuse_gap.ks"] {
        assert!(info.contains(name), "{name} should be info: {info:?}");
    }
    assert!(rows_with(&json, "pass").contains("rate"));
}

#[test]
fn compressed_time_in_sessions_fails_the_think_time() {
    let dir = TestDir::new();
    broken(&dir, &excerpt(), "fast.jsonl", |r| {
        r["timestamp"] = (r["timestamp"].as_f64().unwrap() / 2.0).into();
    });
    let (code, json) = compare_json(&dir, &excerpt(), "fast.jsonl", &[]);
    assert_eq!(code, 1);
    let failed = rows_with(&json, "fail");
    for name in ["rate", "think_time.ks", "inter_arrival.ks"] {
        assert!(failed.contains(name), "{name} should fail: {failed:?}");
    }
    assert!(!failed.contains("turns.tv") && !failed.contains("input.ks"));
}

#[test]
fn shuffled_prefixes_fail_the_hit_ratio_rows() {
    let dir = TestDir::new();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    // Each request keeps its blocks but in a random order: the prefixes no longer line up.
    broken(&dir, &mooncake(), "shuffled.jsonl", |r| {
        let ids = r["hash_ids"].as_array_mut().unwrap();
        for i in (1..ids.len()).rev() {
            ids.swap(i, rng.below(i + 1));
        }
    });
    let (code, json) = compare_json(&dir, &mooncake(), "shuffled.jsonl", &[]);
    assert_eq!(code, 1);
    let failed = rows_with(&json, "fail");
    for name in [
        "ideal_hit_ratio",
        "lru.1pct",
        "lru.5pct",
        "lru.10pct",
        "lru.25pct",
    ] {
        assert!(failed.contains(name), "{name} should fail: {failed:?}");
    }
    for name in ["input.ks", "output.ks", "rate", "inter_arrival.cv"] {
        assert!(!failed.contains(name), "{name} should pass: {failed:?}");
    }
}

#[test]
fn a_tolerance_file_overrides_the_defaults() {
    let dir = TestDir::new();
    broken(&dir, &mooncake(), "double.jsonl", |r| {
        for f in ["input_length", "output_length"] {
            r[f] = (r[f].as_u64().unwrap() * 2).into();
        }
    });
    dir.write(
        "tol.json",
        r#"{"input.ks": 0.5, "input.w1_log": null, "output.ks": 0.6, "output.w1_log": 1.0,
            "c2st.auc": 0.5}"#,
    );
    let (code, json) = compare_json(
        &dir,
        &mooncake(),
        "double.jsonl",
        &["--tolerances", "tol.json"],
    );
    assert_eq!(code, 0, "{:?}", rows_with(&json, "fail"));
    assert!(rows_with(&json, "info").contains("input.w1_log"));

    dir.write("typo.json", r#"{"input_ks": 0.5}"#);
    let path = mooncake().display().to_string();
    dir.run(&["compare", &path, &path, "--tolerances", "typo.json"])
        .expect_code(2)
        .expect_clean_failure();
}

#[test]
fn unreadable_input_exits_2() {
    let dir = TestDir::new();
    let path = mooncake().display().to_string();
    dir.run(&["compare", &path, "missing.jsonl"])
        .expect_code(2)
        .expect_clean_failure();
    dir.write("junk.jsonl", "not a trace\n");
    dir.run(&["compare", "junk.jsonl", &path])
        .expect_code(2)
        .expect_clean_failure();
}

#[test]
fn the_table_is_aligned_and_ends_with_the_verdict() {
    let dir = TestDir::new();
    let path = excerpt().display().to_string();
    let run = dir.run(&["compare", &path, &path]);
    run.expect_code(0);
    let out = run.stdout();
    assert!(out.trim_end().ends_with("ALL PASS"), "{out}");
    // Every row line ends with its result in the same column.
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.ends_with(" pass") || l.ends_with(" info"))
        .collect();
    assert!(rows.len() > 20, "{out}");
    assert!(rows.iter().all(|l| l.len() == rows[0].len()), "{out}");
    for group in ["lengths", "arrivals", "sessions", "prefix cache"] {
        assert!(out.lines().any(|l| l == group), "missing {group}:\n{out}");
    }
}

#[test]
fn the_report_is_self_contained() {
    let dir = TestDir::new();
    broken(&dir, &excerpt(), "fast.jsonl", |r| {
        r["timestamp"] = (r["timestamp"].as_f64().unwrap() / 2.0).into();
    });
    let real = excerpt().display().to_string();
    dir.run(&["-q", "compare", &real, "fast.jsonl", "--report", "out"])
        .expect_code(1);
    let svgs = [
        "cdf_input",
        "cdf_output",
        "cdf_inter_arrival",
        "cdf_think_time",
        "cdf_reuse_gap",
        "rate",
        "turns",
        "lru_curve",
        "policies",
    ];
    for stem in svgs {
        let svg = String::from_utf8(dir.read(&format!("out/{stem}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{stem}");
    }
    let html = String::from_utf8(dir.read("out/index.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), svgs.len());
    assert!(html.contains("<table id=\"rows\">"));
    for row in ["input.ks", "think_time.ks", "lru.10pct", "rate"] {
        assert!(html.contains(&format!("<code>{row}</code>")), "{row}");
    }
    assert!(
        html.contains("class=\"fail\""),
        "the broken rows are marked"
    );
    // Nothing fetched from elsewhere: no scripts, stylesheets, images or links out.
    for bad in ["<script", "<link", "<img", "src=", "href=", "url("] {
        assert!(!html.contains(bad), "{bad}");
    }
}

#[test]
fn the_library_call_matches_the_command() {
    let trace = read_trace(excerpt().to_str().unwrap(), None).unwrap();
    let c = compare(&trace, &trace, &CompareOptions::default());
    assert!(c.all_pass());
    assert_eq!(c.failures().count(), 0);
    assert!(c.rows.iter().any(|r| r.verdict == Verdict::Info));
    assert_eq!(c.row("type_mix.tv").unwrap().distance, Some(0.0));
    let lru = &c.real.stats.cache.as_ref().unwrap().lru;
    let percents: Vec<f64> = lru.iter().map(|p| p.percent).collect();
    assert_eq!(percents, tracesynth::compare::CURVE_PERCENTS);
}
