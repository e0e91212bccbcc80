//! What real consumers require of a line (BRIEF section 2), checked strictly at the JSON
//! text level on generated output:
//! - trace-replayer: all eight Bailian fields, strictly typed (ints are JSON integers,
//!   `timestamp` a float with a decimal point), non-empty `hash_ids`, rows replayed in
//!   file order, so file order must be time order;
//! - Dynamo's mocker: hash ids below 2^32;
//! - AIPerf, trace-replayer, GuideLLM: `len(hash_ids) == ceil(input_length / B)` (B = 16
//!   Bailian, 512 Mooncake) and one id = one block content and fill;
//! - Mooncake: integer millisecond timestamps, exactly its four fields.
//!
//! `validation/consumers/check_aiperf.sh` runs AIPerf itself on the same kinds of files.

mod util;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use util::{TestDir, assert_checks_clean, assert_one_fill_per_id};

const MAX_ID: u64 = 1 << 32;

/// A JSON object's members in text order, duplicates kept (`serde_json::Map` would keep
/// only the last of two equal keys).
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = map.next_entry::<String, Value>()? {
                    out.push(kv);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// One line's members as a map, after checking it has exactly the fields `want` (in any
/// order, none twice).
fn fields(line: &str, want: &[&str], at: &str) -> serde_json::Map<String, Value> {
    let Members(members) =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{at}: not a JSON object: {e}"));
    let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    let mut wanted = want.to_vec();
    wanted.sort_unstable();
    assert_eq!(keys, wanted, "{at}: fields");
    members.into_iter().collect()
}

/// A JSON integer (`5`, `-1`; not `5.0`).
fn int(rec: &serde_json::Map<String, Value>, key: &str, at: &str) -> i128 {
    match &rec[key] {
        Value::Number(n) if n.is_u64() => i128::from(n.as_u64().unwrap()),
        Value::Number(n) if n.is_i64() => i128::from(n.as_i64().unwrap()),
        v => panic!("{at}: {key} is {v}, not a JSON integer"),
    }
}

/// The raw text of the number after `"key":` in a line. A key cannot occur inside a
/// JSON string, whose quotes are escaped.
fn raw_number<'a>(line: &'a str, key: &str, at: &str) -> &'a str {
    let pat = format!("\"{key}\"");
    let start = line.find(&pat).unwrap_or_else(|| panic!("{at}: no {key}")) + pat.len();
    let rest = line[start..]
        .trim_start()
        .strip_prefix(':')
        .unwrap()
        .trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Non-empty hash ids, each a JSON integer below 2^32, `ceil(input_length / block)` of
/// them.
fn check_ids(ids: &Value, input_length: i128, block: i128, at: &str) {
    let ids = ids
        .as_array()
        .unwrap_or_else(|| panic!("{at}: hash_ids is not an array"));
    assert!(!ids.is_empty(), "{at}: empty hash_ids");
    for id in ids {
        let ok = id.as_u64().is_some_and(|v| v < MAX_ID);
        assert!(ok, "{at}: hash id {id} is not an integer below 2^32");
    }
    let want = (input_length + block - 1) / block;
    assert_eq!(
        ids.len() as i128,
        want,
        "{at}: {} hash ids for input_length {input_length} ({block}-token blocks)",
        ids.len()
    );
}

const BAILIAN_FIELDS: [&str; 8] = [
    "chat_id",
    "parent_chat_id",
    "timestamp",
    "input_length",
    "output_length",
    "type",
    "turn",
    "hash_ids",
];

/// The trace-replayer rules on every line of a Bailian file, and the session structure
/// consumers rebuild from it: chat ids sequential in file order, a parent before its
/// child, `turn` the parent's + 1. Returns the number of records.
fn assert_strict_bailian(path: &Path) -> usize {
    use std::collections::HashMap;
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    let mut prev_ts = f64::NEG_INFINITY;
    let mut first_chat = None;
    let mut turns: HashMap<i128, i128> = HashMap::new();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", i + 1);
        let rec = fields(line, &BAILIAN_FIELDS, &at);
        let chat = int(&rec, "chat_id", &at);
        let parent = int(&rec, "parent_chat_id", &at);
        let input = int(&rec, "input_length", &at);
        let output = int(&rec, "output_length", &at);
        let turn = int(&rec, "turn", &at);
        assert!(input >= 1 && output >= 1, "{at}: lengths {input}, {output}");

        let raw = raw_number(line, "timestamp", &at);
        let ts = rec["timestamp"].as_f64().unwrap();
        assert!(
            rec["timestamp"].is_f64() && raw.contains('.') && !raw.contains(['e', 'E']),
            "{at}: timestamp {raw} is not a float written with a decimal point"
        );
        let decimals = raw.len() - raw.find('.').unwrap() - 1;
        assert!(
            decimals <= 3,
            "{at}: timestamp {raw} finer than a millisecond"
        );
        assert!(ts >= 0.0, "{at}: negative timestamp {raw}");
        assert!(
            ts >= prev_ts,
            "{at}: timestamp {ts} before {prev_ts}: file order is not time order"
        );
        prev_ts = ts;

        let ty = rec["type"].as_str();
        assert!(
            ty.is_some_and(|t| !t.is_empty()),
            "{at}: type {}",
            rec["type"]
        );
        check_ids(&rec["hash_ids"], input, 16, &at);

        let first = *first_chat.get_or_insert(chat);
        assert_eq!(
            chat,
            first + i as i128,
            "{at}: chat ids not sequential in file order"
        );
        if parent == -1 {
            assert_eq!(turn, 1, "{at}: a root's turn");
        } else {
            let parent_turn = turns
                .get(&parent)
                .unwrap_or_else(|| panic!("{at}: parent {parent} is not earlier in the file"));
            assert_eq!(turn, parent_turn + 1, "{at}: turn after the parent's");
        }
        turns.insert(chat, turn);
        n += 1;
    }
    n
}

/// Mooncake rules on every line: the four fields, integer millisecond timestamps in
/// file order, 512-token blocks, non-empty ids below 2^32.
fn assert_strict_mooncake(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    let mut prev = -1;
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", i + 1);
        let rec = fields(
            line,
            &["timestamp", "input_length", "output_length", "hash_ids"],
            &at,
        );
        let ts = int(&rec, "timestamp", &at);
        assert!(ts >= 0, "{at}: negative timestamp");
        assert!(ts >= prev, "{at}: timestamp {ts} ms before {prev} ms");
        prev = ts;
        let input = int(&rec, "input_length", &at);
        let output = int(&rec, "output_length", &at);
        assert!(input >= 1 && output >= 1, "{at}: lengths {input}, {output}");
        check_ids(&rec["hash_ids"], input, 512, &at);
        n += 1;
    }
    n
}

/// Every rule on one file of `format`, and `tracesynth check`.
fn assert_consumable(dir: &TestDir, path: &Path, mooncake: bool) {
    let n = if mooncake {
        assert_strict_mooncake(path)
    } else {
        assert_strict_bailian(path)
    };
    assert!(n > 50, "{}: only {n} records", path.display());
    assert_one_fill_per_id(path, if mooncake { 512 } else { 16 });
    assert_checks_clean(dir, path);
}

fn run_ok(dir: &TestDir, args: &[&str]) {
    dir.run(args).expect_code(0);
}

/// Generate `name` with `args` (after `generate -q -o name`).
fn generate(dir: &TestDir, name: &str, args: &[&str]) -> PathBuf {
    let mut all = vec!["generate", "-q", "-o", name];
    all.extend_from_slice(args);
    run_ok(dir, &all);
    dir.path(name)
}

fn fit(dir: &TestDir, input: &str, model: &str) -> String {
    run_ok(dir, &["fit", "-q", input, "-o", model]);
    dir.path(model).to_str().unwrap().to_string()
}

#[test]
fn the_default_model_across_seeds_and_scales() {
    let dir = TestDir::new();
    let cases: &[(&str, &[&str])] = &[
        ("s1.jsonl", &["--seed", "1", "--duration", "5m"]),
        ("s2.jsonl", &["--seed", "2", "--duration", "5m"]),
        (
            "s3.jsonl",
            &["--seed", "3", "--duration", "5m", "--rate-profile", "flat"],
        ),
        (
            "rate4.jsonl",
            &["--seed", "4", "--duration", "3m", "--rate-scale", "4"],
        ),
        (
            "time05.jsonl",
            &["--seed", "5", "--duration", "5m", "--time-scale", "0.5"],
        ),
        (
            "s1.mc.jsonl",
            &["--seed", "1", "--duration", "5m", "--format", "mooncake"],
        ),
        (
            "rate4.mc.jsonl",
            &[
                "--seed",
                "4",
                "--duration",
                "3m",
                "--rate-scale",
                "4",
                "--format",
                "mooncake",
            ],
        ),
        (
            "time05.mc.jsonl",
            &[
                "--seed",
                "5",
                "--duration",
                "10m",
                "--time-scale",
                "0.5",
                "--format",
                "mooncake",
            ],
        ),
    ];
    for (name, args) in cases {
        let path = generate(&dir, name, args);
        assert_consumable(&dir, &path, name.ends_with(".mc.jsonl"));
    }
}

#[test]
fn a_large_start_id_keeps_lines_strict() {
    let dir = TestDir::new();
    // Chat ids end just below 2^32 (the most consumers hold; generate refuses to cross
    // it); hash ids must not follow them.
    let start = (1u64 << 32) - 2000;
    let path = generate(
        &dir,
        "big.jsonl",
        &[
            "--seed",
            "6",
            "--requests",
            "2000",
            "--start-id",
            &start.to_string(),
        ],
    );
    assert_consumable(&dir, &path, false);
    let text = std::fs::read_to_string(&path).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(first["chat_id"].as_u64(), Some(start));
    assert_eq!(last["chat_id"].as_u64(), Some(start + 1999));
}

#[test]
fn models_fitted_on_mooncake_reference_and_excerpt() {
    let dir = TestDir::new();
    let moon = fit(&dir, util::mooncake().to_str().unwrap(), "moon.json");
    run_ok(
        &dir,
        &[
            "reference",
            "-q",
            "--preset",
            "trace-a",
            "--duration",
            "30m",
            "-o",
            "ref.jsonl",
        ],
    );
    assert_consumable(&dir, &dir.path("ref.jsonl"), false);
    let reference = fit(&dir, "ref.jsonl", "ref.json");
    let excerpt = fit(&dir, util::excerpt().to_str().unwrap(), "excerpt.json");
    for (model, tag, duration) in [
        (&moon, "moon", "10m"),
        (&reference, "ref", "10m"),
        (&excerpt, "excerpt", "2h"),
    ] {
        for (seed, format) in [("7", "bailian"), ("8", "mooncake")] {
            let name = format!("{tag}-{format}.jsonl");
            let path = generate(
                &dir,
                &name,
                &[
                    "--model",
                    model,
                    "--seed",
                    seed,
                    "--duration",
                    duration,
                    "--format",
                    format,
                ],
            );
            assert_consumable(&dir, &path, format == "mooncake");
        }
    }
    let path = generate(
        &dir,
        "ref-rate4.jsonl",
        &[
            "--model",
            &reference,
            "--seed",
            "9",
            "--duration",
            "3m",
            "--rate-scale",
            "4",
        ],
    );
    assert_consumable(&dir, &path, false);
}

#[test]
fn reference_traces_in_both_formats() {
    let dir = TestDir::new();
    for preset in ["trace-a", "api"] {
        for format in ["bailian", "mooncake"] {
            let name = format!("{preset}-{format}.jsonl");
            run_ok(
                &dir,
                &[
                    "reference",
                    "-q",
                    "--preset",
                    preset,
                    "--duration",
                    "20m",
                    "--format",
                    format,
                    "-o",
                    &name,
                ],
            );
            assert_consumable(&dir, &dir.path(&name), format == "mooncake");
        }
    }
}

/// `convert` shares the writers: the refine (Mooncake -> Bailian), coarsen (Bailian ->
/// Mooncake) and fresh-id (Azure) paths must keep the same rules.
#[test]
fn converted_output_follows_the_same_rules() {
    let dir = TestDir::new();
    // The first 1500 Mooncake lines keep the refined file small (its ids are 16-token).
    let head: String = std::fs::read_to_string(util::mooncake())
        .unwrap()
        .lines()
        .take(1500)
        .map(|l| format!("{l}\n"))
        .collect();
    let moon = dir.write("moon-head.jsonl", head);
    let (azure, reference) = (util::azure(), dir.path("ref.jsonl"));
    run_ok(
        &dir,
        &[
            "reference",
            "-q",
            "--preset",
            "trace-a",
            "--duration",
            "20m",
            "-o",
            "ref.jsonl",
        ],
    );
    let cases = [
        (moon.as_path(), "bailian"),
        (azure.as_path(), "bailian"),
        (azure.as_path(), "mooncake"),
        (reference.as_path(), "mooncake"),
    ];
    for (i, (input, to)) in cases.iter().enumerate() {
        let name = format!("conv{i}-{to}.jsonl");
        run_ok(
            &dir,
            &[
                "convert",
                "-q",
                input.to_str().unwrap(),
                "--to",
                to,
                "-o",
                &name,
            ],
        );
        assert_consumable(&dir, &dir.path(&name), *to == "mooncake");
    }
}

/// The checks above must reject what consumers reject, or passing them means nothing.
#[test]
fn the_strict_checks_catch_each_violation() {
    let good = r#"{"chat_id": 0, "parent_chat_id": -1, "timestamp": 0.5, "input_length": 17, "output_length": 1, "type": "text", "turn": 1, "hash_ids": [0, 1]}"#;
    let bad = [
        (good.replace("0.5", "1"), "decimal point"),
        (good.replace("0.5", "5e-1"), "decimal point"),
        (good.replace("0.5", "0.5004"), "millisecond"),
        (
            good.replace(r#""turn": 1"#, r#""turn": 1.0"#),
            "not a JSON integer",
        ),
        (good.replace("[0, 1]", "[]"), "empty hash_ids"),
        (good.replace("[0, 1]", "[0, 4294967296]"), "below 2^32"),
        (good.replace("[0, 1]", "[0]"), "1 hash ids"),
        (good.replace(r#", "turn": 1"#, ""), "fields"),
        (
            good.replace(r#""type": "text""#, r#""type": "text", "turn": 1"#),
            "fields",
        ),
        (
            format!(
                "{good}\n{}",
                good.replace("0.5", "0.25")
                    .replace(r#""chat_id": 0"#, r#""chat_id": 1"#)
            ),
            "not time order",
        ),
    ];
    let dir = TestDir::new();
    for (i, (text, want)) in bad.iter().enumerate() {
        let p = dir.write(&format!("bad{i}.jsonl"), format!("{text}\n"));
        let err = std::panic::catch_unwind(|| assert_strict_bailian(&p))
            .expect_err(&format!("accepted: {text}"));
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains(want), "{text}: wanted {want:?}, got {msg:?}");
    }
    let mc = r#"{"timestamp": 1000, "input_length": 513, "output_length": 1, "hash_ids": [0, 1]}"#;
    for (text, want) in [
        (mc.replace("1000", "1000.0"), "not a JSON integer"),
        (mc.replace("513", "512"), "2 hash ids for input_length 512"),
        (mc.replace(", \"output_length\": 1", ""), "fields"),
    ] {
        let p = dir.write("badmc.jsonl", format!("{text}\n"));
        let err = std::panic::catch_unwind(|| assert_strict_mooncake(&p))
            .expect_err(&format!("accepted: {text}"));
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains(want), "{text}: wanted {want:?}, got {msg:?}");
    }
}
