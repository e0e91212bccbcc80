//! `tracesynth reference`: the command that writes reference traces for the
//! validation scripts.

mod util;

use util::{TestDir, records};

#[test]
fn writes_a_clean_deterministic_trace_for_each_preset() {
    let dir = TestDir::new();
    for preset in ["trace-a", "api", "documents"] {
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
}

#[test]
fn api_traffic_is_sampled_to_an_exact_count() {
    let dir = TestDir::new();
    let run = |users: &str, out: &str| {
        dir.run(&[
            "reference",
            "--preset",
            "api",
            "--duration",
            "2m",
            "--users",
            users,
            "-o",
            out,
        ])
        .expect_code(0);
        records(&dir.read(out)).len()
    };
    // 2 minutes at 24 requests/s, sampled to an exact count like trace B; twice the users
    // make twice the count.
    assert_eq!(run("1", "a.jsonl"), 2880);
    assert_eq!(run("2", "b.jsonl"), 5760);
}

#[test]
fn more_users_of_the_documents_service_make_more_sessions() {
    let dir = TestDir::new();
    let run = |users: &str, out: &str| {
        dir.run(&[
            "reference",
            "--preset",
            "documents",
            "--duration",
            "10m",
            "--users",
            users,
            "-o",
            out,
        ])
        .expect_code(0);
        records(&dir.read(out)).len() as f64
    };
    let (one, four) = (run("1", "a.jsonl"), run("4", "b.jsonl"));
    assert!(
        (3.0..5.0).contains(&(four / one)),
        "{one} -> {four} records"
    );
    for bad in ["0", "-1", "nan", "2000", "x"] {
        let out = dir.run(&["reference", "--preset", "documents", "--users", bad]);
        out.expect_code(2);
        assert!(out.stderr.contains("--users"), "{bad}: {}", out.stderr);
    }
}

#[test]
fn is_listed_and_says_what_it_builds() {
    let dir = TestDir::new();
    // The README uses it, so --help lists it (issue 14), saying it is not real data.
    let top = dir.run(&["--help"]);
    assert!(top.stdout().contains("reference"));
    assert!(top.stdout().contains("not real data"));
    let help = dir.run(&["reference", "--help"]);
    help.expect_code(0);
    assert!(help.stdout().contains("NOT real data"));
}
