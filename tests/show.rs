//! `tracesynth show`: what a model learned, as text and as JSON, on every shipped model.

mod util;

use std::path::{Path, PathBuf};

use tracesynth::model::Model;
use util::TestDir;

const SHIPPED: [&str; 4] = [
    "azure-conversation",
    "mooncake-conversation",
    "qwen-trace-a",
    "qwen-trace-b",
];

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(format!("{name}.json"))
}

#[test]
fn show_names_the_types_and_the_expected_requests_per_hour_of_each_shipped_model() {
    let dir = TestDir::new();
    for name in SHIPPED {
        let path = shipped(name);
        let model = Model::load(&path).unwrap();
        let run = dir.run(&["show", path.to_str().unwrap()]);
        run.expect_code(0);
        let text = run.stdout();
        assert!(
            text.contains(&format!("types: {}", model.types.join(", "))),
            "{name}:\n{text}"
        );
        let per_hour = text
            .lines()
            .find_map(|l| l.trim().strip_suffix(" MB per hour"))
            .and_then(|l| l.split(" requests per hour").next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name}: no requests per hour:\n{text}"));
        assert!(per_hour > 0.0, "{name}: {per_hour}");
        if let Some(st) = &model.provenance.stability {
            assert!(
                (per_hour - st.requests_per_hour).abs() <= 0.5,
                "{name}: {per_hour} vs the stability report's {}",
                st.requests_per_hour
            );
        }
    }
}

#[test]
fn show_json_holds_the_models_own_quantiles() {
    let dir = TestDir::new();
    for name in SHIPPED {
        let path = shipped(name);
        let model = Model::load(&path).unwrap();
        let run = dir.run(&["show", path.to_str().unwrap(), "--json"]);
        run.expect_code(0);
        let json = run.json();
        let lengths = json["lengths"].as_array().unwrap();
        assert_eq!(lengths.len(), model.types.len(), "{name}");
        for (t, l) in model.lengths.per_type.iter().enumerate() {
            let shown = &lengths[t];
            assert_eq!(shown["type_name"], model.types[t].as_str());
            let p50 = |key: &str| shown[key]["p50"].as_f64().unwrap();
            assert_eq!(p50("root_own_input"), l.root.own_input.at(0.5), "{name}");
            assert_eq!(p50("root_output"), l.root.output.at(0.5), "{name}");
            assert_eq!(
                shown["followup_new_tokens_p50"].as_f64().unwrap(),
                l.followup.new_tokens.at(0.5),
                "{name}"
            );
        }
        assert!(json["expected"]["requests_per_hour"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn show_by_name_is_the_built_in_default_model() {
    let dir = TestDir::new();
    let by_name = dir.run(&["show", "qwen-trace-a"]);
    by_name.expect_code(0);
    let by_path = dir.run(&["show", shipped("qwen-trace-a").to_str().unwrap()]);
    assert_eq!(by_name.stdout, by_path.stdout);
}

#[test]
fn show_report_writes_the_text_to_show_md() {
    let dir = TestDir::new();
    let path = shipped("mooncake-conversation");
    let run = dir.run(&["show", path.to_str().unwrap(), "--report", "out"]);
    run.expect_code(0);
    let md = String::from_utf8(dir.read("out/show.md")).unwrap();
    assert!(md.contains(&run.stdout()), "{md}");
}

#[test]
fn show_of_a_missing_or_invalid_model_fails_naming_the_file() {
    let dir = TestDir::new();
    let run = dir.run(&["show", "no-such-model.json"]);
    run.expect_clean_failure();
    assert!(run.stderr.contains("no-such-model.json"), "{}", run.stderr);
    let bad = dir.write("bad.json", "{\"format_version\": 1}");
    let run = dir.run(&["show", bad.to_str().unwrap()]);
    run.expect_clean_failure();
    assert!(run.stderr.contains("bad.json"), "{}", run.stderr);
}
