//! `tracesynth validate`: the suite runs end to end and writes a report whose charts
//! exist and stay small.

mod util;

use util::{TestDir, data};

#[test]
fn quick_suite_writes_the_report_and_its_charts() {
    let dir = TestDir::new();
    let data_dir = data("");
    let run = dir.run(&[
        "validate",
        "--quick",
        "-q",
        "--out",
        "out",
        "--data",
        data_dir.to_str().unwrap(),
    ]);
    run.expect_code(0);
    let report = String::from_utf8(dir.read("out/REPORT.md")).unwrap();
    for heading in [
        "## Summary",
        "## 1. Same scale",
        "## 2. Scale up",
        "## 3. Extend",
        "## 4. Round trip",
        "NOT real data",
        "`tracesynth validate --quick -q --out out --data ",
        "quick",
    ] {
        assert!(report.contains(heading), "missing `{heading}`");
    }
    for trace in ["(`mooncake`)", "(`azure`)", "(`reference-a`)"] {
        assert!(report.contains(trace), "missing {trace}");
    }
    // Every chart the report shows is there, and none is large.
    let mut charts = 0;
    for part in report.split("](plots/").skip(1) {
        let name = &part[..part.find(')').unwrap()];
        let size = std::fs::metadata(dir.path("out/plots").join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .len();
        assert!(size < 100_000, "{name} is {size} bytes");
        charts += 1;
    }
    assert!((10..=30).contains(&charts), "{charts} charts");
}

#[test]
fn missing_data_is_a_clean_error() {
    let dir = TestDir::new();
    let run = dir.run(&["validate", "--quick", "--out", "out", "--data", "nowhere"]);
    run.expect_code(2);
    assert!(run.stderr.contains("nowhere"), "{}", run.stderr);
    assert!(!dir.path("out/REPORT.md").exists());
}
