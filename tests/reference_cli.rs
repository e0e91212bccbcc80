//! `tracesynth reference`: the hidden command that writes reference traces for the
//! validation scripts.

mod util;

use util::{TestDir, records};

#[test]
fn writes_a_clean_deterministic_trace_for_each_preset() {
    let dir = TestDir::new();
    for preset in ["trace-a", "api"] {
        let args = |out: &str| {
            [
                "reference",
                "--preset",
                preset,
                "--duration",
                "2m",
                "--seed",
                "4",
                "-o",
                out,
            ]
            .map(str::to_string)
        };
        dir.run(&args("a.jsonl")).expect_code(0);
        dir.run(&args("b.jsonl")).expect_code(0);
        assert_eq!(dir.read("a.jsonl"), dir.read("b.jsonl"), "{preset}");
        let lines = records(&dir.read("a.jsonl"));
        assert!(lines.len() > 100, "{preset}: {} records", lines.len());
        let check = dir.run(&["check", "a.jsonl", "--json"]);
        check.expect_code(0);
        assert_eq!(check.json()["clean"], true, "{preset}");
    }
    // 2 minutes at 24 requests/s, sampled to an exact count like trace B.
    assert_eq!(records(&dir.read("a.jsonl")).len(), 2880);
}

#[test]
fn is_hidden_but_says_what_it_builds() {
    let dir = TestDir::new();
    let top = dir.run(&["--help"]);
    assert!(!top.stdout().contains("reference"));
    let help = dir.run(&["reference", "--help"]);
    help.expect_code(0);
    assert!(help.stdout().contains("NOT real data"));
}
