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
fn show_report_draws_a_default_run_and_the_content_population() {
    let dir = TestDir::new();
    for name in ["qwen-trace-a", "mooncake-conversation"] {
        let out = format!("{name}-report");
        dir.run(&["show", name, "--report", &out]).expect_code(0);
        let md = String::from_utf8(dir.read(&format!("{out}/show.md"))).unwrap();
        let model = Model::resolve(name).unwrap();
        // A chart per type and length, and the run's own.
        let mut stems = vec!["rate", "session-sizes", "think-time", "turns"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        for ty in &model.types {
            stems.push(format!("input-{ty}"));
            stems.push(format!("output-{ty}"));
        }
        for stem in &stems {
            let svg = String::from_utf8(dir.read(&format!("{out}/{stem}.svg"))).unwrap();
            // A drawn series: a line, or the turns' bars.
            assert!(
                svg.starts_with("<svg")
                    && svg.trim_end().ends_with("</svg>")
                    && (svg.contains("<polyline") || stem == "turns" && svg.contains("<rect")),
                "{name}: {stem}"
            );
            assert!(
                md.contains(&format!("![{stem}]({stem}.svg)")),
                "{name}: {stem}"
            );
        }
        // The charts' run is what `generate` writes by default.
        let file = format!("{name}.jsonl");
        dir.run(&["generate", "-m", name, "-o", &file])
            .expect_code(0);
        let lines = dir.read(&file).iter().filter(|&&b| b == b'\n').count();
        assert!(
            md.contains(&format!(": {lines} requests.")),
            "{name}: {lines} requests\n{md}"
        );
        // The population's fitted growth, where the model has one.
        let population = model.blocks.population.iter().flatten().next();
        assert_eq!(
            md.contains("## Content population"),
            population.is_some(),
            "{name}"
        );
        if let Some(p) = population {
            let at_one = p.growth.iter().find(|g| g.0 == 1.0).unwrap();
            let row = format!(
                "| 1 | {:.0} | {:.0} | {:.0} |",
                at_one.1,
                at_one.2,
                p.shared(1.0)
            );
            assert!(md.contains(&row), "{name}: no row {row}\n{md}");
        }
    }
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
