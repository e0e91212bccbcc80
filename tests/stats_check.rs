//! `tracesynth stats --check`: one pass that validates as `check` does and measures as
//! `stats` does. A clean trace prints exactly what `stats` prints; a trace with
//! violations prints check's report on stderr, nothing on stdout, and exits 1 as `check`.

mod util;

use util::{TestDir, excerpt, mooncake};

/// The excerpt's first `n` lines.
fn excerpt_lines(n: usize) -> Vec<String> {
    std::fs::read_to_string(excerpt())
        .unwrap()
        .lines()
        .take(n)
        .map(str::to_string)
        .collect()
}

#[test]
fn a_clean_trace_gives_the_stats_and_exit_0() {
    let dir = TestDir::new();
    for trace in [excerpt(), mooncake()] {
        let trace = trace.to_str().unwrap();
        for json in [true, false] {
            let mut args = vec!["stats", trace];
            if json {
                args.push("--json");
            }
            let plain = dir.run(&args);
            plain.expect_code(0);
            args.push("--check");
            let checked = dir.run(&args);
            checked.expect_code(0);
            assert_eq!(checked.stdout(), plain.stdout(), "{trace} json={json}");
            assert!(!checked.stdout.is_empty());
            assert_eq!(checked.stderr, "", "{trace}");
        }
    }
}

#[test]
fn a_bad_trace_gives_checks_report_its_exit_code_and_no_stats() {
    let dir = TestDir::new();
    let mut lines = excerpt_lines(8);
    // Line 4 cut short, line 6's turn a string: `stats` alone stops at line 4.
    lines[3].truncate(20);
    lines[5] = lines[5].replacen("\"turn\": ", "\"turn\": \"x\", \"was\": ", 1);
    dir.write("bad.jsonl", lines.join("\n") + "\n");

    let check = dir.run(&["check", "bad.jsonl"]);
    check.expect_code(1);
    for json in [false, true] {
        let mut args = vec!["stats", "bad.jsonl", "--check"];
        if json {
            args.push("--json");
        }
        let run = dir.run(&args);
        run.expect_code(1);
        assert!(run.stdout.is_empty(), "half an output: {}", run.stdout());
        // check's own report, word for word, then one line saying why nothing printed.
        assert!(
            run.stderr.starts_with(&check.stdout()),
            "--- stats --check\n{}\n--- check\n{}",
            run.stderr,
            check.stdout()
        );
        let report = &run.stderr;
        assert!(report.starts_with("bad.jsonl: 8 records"), "{report}");
        assert!(report.contains("line 4: "), "{report}");
        assert!(report.contains("line 6: field `turn`"), "{report}");
        assert!(
            report
                .lines()
                .last()
                .unwrap()
                .contains("no statistics printed"),
            "{report}"
        );
    }
}

/// A record that reads well but breaks a rule (time runs backwards): `stats` measures it
/// with a warning, `stats --check` refuses it as `check` does.
#[test]
fn a_rule_violation_fails_the_check_but_not_plain_stats() {
    let dir = TestDir::new();
    let mut lines = excerpt_lines(6);
    lines.swap(2, 4);
    dir.write("unsorted.jsonl", lines.join("\n") + "\n");
    let check = dir.run(&["check", "unsorted.jsonl"]);
    check.expect_code(1);
    let plain = dir.run(&["stats", "unsorted.jsonl", "--json"]);
    plain.expect_code(0);
    assert!(plain.stderr.contains("warning: "), "{}", plain.stderr);
    let run = dir.run(&["stats", "unsorted.jsonl", "--json", "--check"]);
    run.expect_code(1);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.starts_with(&check.stdout()), "{}", run.stderr);
}

#[test]
fn an_unreadable_file_is_exit_2() {
    let dir = TestDir::new();
    let run = dir.run(&["stats", "--check", "missing.jsonl"]);
    run.expect_code(2);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("missing.jsonl"), "{}", run.stderr);
}
