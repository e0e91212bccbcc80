//! `tracesynth calibrate`: clear errors for bad target files, and a model that says it
//! was calibrated.

mod util;

use util::TestDir;

#[test]
fn bad_targets_name_the_file_line_and_key() {
    let dir = TestDir::new();
    dir.write("t.toml", "rate = 5\n[cache]\nideal_hit_ratio = 57.9\n");
    let out = dir.run(&["calibrate", "t.toml", "-o", "m.json"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("t.toml:3: `cache.ideal_hit_ratio`: 57.9 is not a fraction"),
        "{}",
        out.stderr
    );
    dir.write("u.toml", "rate = 5\n[input]\nmedian = 900\n");
    let out = dir.run(&["calibrate", "u.toml", "-o", "m.json"]);
    out.expect_code(2);
    assert!(
        out.stderr.starts_with("tracesynth: error: u.toml:3: ")
            && out.stderr.contains("median")
            && out.stderr.lines().count() == 1,
        "{}",
        out.stderr
    );
    assert!(!dir.path("m.json").exists());
}

#[test]
fn writes_a_calibrated_model_with_its_distances() {
    let dir = TestDir::new();
    dir.write(
        "t.toml",
        "prior = \"api\"\nduration_s = 120\niterations = 2\nrate = 20\n[types]\napi = 0.8\n",
    );
    let out = dir.run(&["calibrate", "t.toml", "-o", "m.json"]);
    // Exit 1 exactly when a target is missed; the model is written either way.
    let missed = out.stderr.contains(" OFF");
    out.expect_code(if missed { 1 } else { 0 });
    assert!(out.stderr.contains("final distances"), "{}", out.stderr);
    let model: serde_json::Value = serde_json::from_slice(&dir.read("m.json")).unwrap();
    let p = &model["provenance"];
    assert_eq!(
        p["note"],
        "calibrated to published statistics, not fitted to the file"
    );
    assert_eq!(p["source"], "t.toml");
    let figures = p["calibration"]["figures"].as_array().unwrap();
    assert_eq!(figures.len(), 2);
    assert!(figures.iter().all(|f| f["distance"].is_number()));
    // It drives `generate`.
    dir.run(&[
        "generate",
        "-m",
        "m.json",
        "--duration",
        "10s",
        "-o",
        "g.jsonl",
    ])
    .expect_code(0);
}

#[test]
fn an_empty_targets_file_is_refused() {
    let dir = TestDir::new();
    dir.write("empty.toml", "");
    dir.write("only-settings.toml", "iterations = 2\nseed = 4\n");
    for file in ["empty.toml", "only-settings.toml"] {
        let out = dir.run(&["calibrate", file, "-o", "m.json"]);
        out.expect_code(2);
        assert!(out.stderr.contains("no targets"), "{}", out.stderr);
        assert!(!dir.path("m.json").exists());
    }
}
