//! Faults and hostile input (issue 14): absurd values, signals, mismatched parts and
//! options. Every case ends in a clear one-line error or a valid result: never a panic,
//! a runaway, a leftover file or a silent wrong answer.

mod util;

use util::TestDir;

fn moon(ts: &str) -> String {
    format!(r#"{{"timestamp": {ts}, "input_length": 10, "output_length": 1, "hash_ids": [0]}}"#)
}

fn moon_trace(times: &[&str]) -> String {
    times.iter().map(|t| moon(t) + "\n").collect()
}

// Group 1: sizes derived from data are bounded.

#[test]
fn absurd_timestamps_are_refused_with_file_line_and_field() {
    for (name, times, says) in [
        ("1e30", vec!["0", "1e30"], "exceeds the limit"),
        ("1e15", vec!["0", "1000000000000000"], "exceeds the limit"),
        // 63 days in milliseconds: each time is plausible, the span is not.
        ("span", vec!["0", "1000", "5443200000"], "at most 62 days"),
    ] {
        let dir = TestDir::new();
        dir.write("t.jsonl", moon_trace(&times));
        for cmd in ["stats", "fit", "compare", "convert"] {
            let args: Vec<&str> = match cmd {
                "stats" => vec!["stats", "t.jsonl"],
                "fit" => vec!["fit", "t.jsonl", "-o", "m.json"],
                "compare" => vec!["compare", "t.jsonl", "t.jsonl"],
                _ => vec!["convert", "t.jsonl", "--to", "bailian", "-o", "o.jsonl"],
            };
            let run = dir.run(&args);
            run.expect_clean_failure();
            assert!(
                run.stderr
                    .contains(&format!("t.jsonl:{}: field `timestamp`", times.len())),
                "{name} {cmd}: {}",
                run.stderr
            );
            assert!(run.stderr.contains(says), "{name} {cmd}: {}", run.stderr);
            assert_eq!(dir.files(), ["t.jsonl"], "{name} {cmd}: left files");
        }
        let run = dir.run(&["check", "t.jsonl", "--json"]);
        run.expect_code(1);
        let report = run.json();
        let kinds: Vec<&str> = report["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["invalid_field"], "{name}: {report}");
    }
}

#[test]
fn one_absurd_time_does_not_make_later_records_errors() {
    let dir = TestDir::new();
    dir.write("t.jsonl", moon_trace(&["0", "1e13", "1000", "2000"]));
    let report = dir.run(&["check", "t.jsonl", "--json"]).json();
    let violations = report["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1, "{report}");
    assert_eq!(violations[0]["count"], 1, "{report}");
}

#[test]
fn a_long_but_allowed_span_is_read_quickly_and_small() {
    // 61 days between two records: every per-second series over that span must stay
    // small enough for these commands to finish at once.
    let dir = TestDir::new();
    dir.write("t.jsonl", moon_trace(&["0", "5270400000"]));
    dir.run(&["stats", "t.jsonl"]).expect_code(0);
    dir.run(&["compare", "t.jsonl", "t.jsonl"]).expect_code(0);
    dir.run(&["fit", "t.jsonl", "-o", "m.json"]).expect_code(0);
    dir.run(&[
        "generate",
        "-m",
        "m.json",
        "--duration",
        "10m",
        "-o",
        "g.jsonl",
    ])
    .expect_code(0);
}

#[test]
fn azure_dates_that_do_not_fit_are_refused_not_wrapped() {
    let dir = TestDir::new();
    dir.write(
        "a.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n\
         2023-11-16 18:15:46.6805900,374,44\n\
         9999-12-31 23:59:59.0000000,10,2\n",
    );
    let run = dir.run(&["convert", "a.csv", "--to", "mooncake", "-o", "o.jsonl"]);
    run.expect_clean_failure();
    assert!(
        run.stderr.contains("a.csv:3: field `TIMESTAMP`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("out of range"), "{}", run.stderr);
    assert_eq!(dir.files(), ["a.csv"]);
    // Within the i64 range but years apart: refused by the span.
    dir.write(
        "b.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n\
         2023-11-16 18:15:46.6805900,374,44\n\
         2200-01-01 00:00:00.0000000,10,2\n",
    );
    let run = dir.run(&["convert", "b.csv", "--to", "mooncake", "-o", "o.jsonl"]);
    run.expect_clean_failure();
    assert!(run.stderr.contains("at most 62 days"), "{}", run.stderr);
}

// Group 2: no leftovers, signals included.

/// Start `args`, wait until its hidden temporary file exists, send `signal`, and return
/// the exit code.
#[cfg(unix)]
fn interrupted(dir: &TestDir, args: &[&str], signal: &str) -> Option<i32> {
    use std::process::Stdio;
    let child = dir
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    signal_once_writing(dir, child, signal, args)
}

/// Waits until `child` holds its temporary output in `dir`, sends it `signal`, and
/// returns its exit code.
#[cfg(unix)]
fn signal_once_writing(
    dir: &TestDir,
    mut child: std::process::Child,
    signal: &str,
    args: &[&str],
) -> Option<i32> {
    let started = std::time::Instant::now();
    while !dir.files().iter().any(|f| f.ends_with(".tmp")) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{args:?} ended before writing"
        );
        assert!(
            started.elapsed().as_secs() < 60,
            "{args:?}: no temporary file appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap().code()
}

#[cfg(unix)]
#[test]
fn a_signal_removes_the_temporary_file_and_exits_128_plus_its_number() {
    for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        for out in ["g.jsonl", "g.jsonl.gz"] {
            let dir = TestDir::new();
            let got = interrupted(&dir, &["generate", "--duration", "30d", "-o", out], signal);
            assert_eq!(got, Some(code), "{signal} {out}");
            assert!(dir.files().is_empty(), "{signal} {out}: {:?}", dir.files());
        }
    }
}

/// `convert`, `merge` and `fit` reading a trace from a pipe that stays open (the rest
/// of a long input still to come): each holds its temporary output when the signal
/// comes, and none may leave it.
#[cfg(unix)]
#[test]
fn a_signal_while_reading_removes_the_temporary_file_too() {
    use std::io::Write;
    use std::process::Stdio;
    let lines: String = std::fs::read_to_string(util::excerpt())
        .unwrap()
        .lines()
        .take(20)
        .map(|l| format!("{l}\n"))
        .collect();
    for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        for args in [
            vec!["convert", "-", "--to", "mooncake", "-o", "c.jsonl"],
            vec!["convert", "-", "--to", "bailian", "-o", "c.jsonl.gz"],
            vec!["merge", "--no-manifest", "-", "-o", "m.jsonl"],
            vec!["fit", "-", "-o", "f.json"],
        ] {
            let dir = TestDir::new();
            let mut child = dir
                .command(&args)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            // Kept open until the child is done: the input is still to come.
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(lines.as_bytes()).unwrap();
            stdin.flush().unwrap();
            let got = signal_once_writing(&dir, child, signal, &args);
            drop(stdin);
            assert_eq!(got, Some(code), "{signal} {args:?}");
            assert!(
                dir.files().is_empty(),
                "{signal} {args:?}: {:?}",
                dir.files()
            );
        }
    }
}

// Group 3: no runaways. Models and options out of any sensible range are refused
// before anything is written.

/// A shipped model with one change made by `edit`, written to `name`.
fn edited_model(dir: &TestDir, name: &str, edit: impl Fn(&mut serde_json::Value)) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/qwen-trace-a.json");
    let mut model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut model);
    dir.write(name, serde_json::to_string(&model).unwrap());
}

#[test]
fn model_parameters_out_of_range_are_refused_naming_the_file_and_field() {
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "gamma-shape",
            Box::new(|m| {
                m["arrivals"]["gaps"] = serde_json::json!({"kind": "gamma", "shape": 1e-300})
            }),
            "gap shape",
        ),
        (
            "warm-up",
            Box::new(|m| m["warm_up"] = serde_json::json!(1e300)),
            "warm_up",
        ),
        (
            "rate",
            Box::new(|m| m["arrivals"]["rates"][0] = serde_json::json!(1e30)),
            "rates",
        ),
        (
            "think-time",
            Box::new(|m| {
                let knots = &mut m["sessions"]["per_type"][0]["think_time"]["buckets"][0]["knots"];
                for k in knots.as_array_mut().unwrap() {
                    *k = serde_json::json!(k.as_f64().unwrap() - 1e6);
                }
            }),
            "think_time",
        ),
        (
            "span",
            Box::new(|m| m["span"] = serde_json::json!(1e12)),
            "span",
        ),
        // Found by the property tests: root lengths scaled by 1e6 loaded, and the size
        // estimate of a 2,000-record plan took 264 s and 9.6 GB formatting its lines.
        (
            "length-knots",
            Box::new(|m| {
                let q = &mut m["lengths"]["per_type"][0]["root"]["own_input"];
                for k in q["knots"].as_array_mut().unwrap() {
                    *k = serde_json::json!(k.as_f64().unwrap() * 1e6);
                }
            }),
            "root.own_input",
        ),
        (
            "length-tail",
            Box::new(|m| {
                m["lengths"]["per_type"][0]["followup"]["output"]["tail_scale"] =
                    serde_json::json!(1e12)
            }),
            "followup.output",
        ),
        // Every prefix 4M blocks: each alone is within the 6.25M blocks of 1e8 tokens of
        // 16, but a prefix extending another is not.
        (
            "prefix-chain",
            Box::new(|m| {
                for node in m["blocks"]["prefixes"].as_array_mut().unwrap() {
                    node["blocks"] = serde_json::json!(4_000_000);
                }
            }),
            "chain of prefixes",
        ),
        (
            "template",
            Box::new(|m| {
                m["blocks"]["ephemeral"][0]["templates"][0]["blocks"] =
                    serde_json::json!(4_000_000_000u32)
            }),
            "templates[0].blocks",
        ),
    ];
    for (name, edit, says) in cases {
        let dir = TestDir::new();
        let file = format!("{name}.json");
        edited_model(&dir, &file, edit);
        let run = dir.run(&["generate", "-m", &file, "-o", "out.jsonl"]);
        run.expect_code(2).expect_clean_failure();
        assert!(
            run.stderr.contains(&format!("{file}: invalid model")),
            "{name}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(says), "{name}: {}", run.stderr);
        assert_eq!(dir.files(), [file.as_str()], "{name}: left files");
    }
}

/// The vendored ServeGen clients imported into `dir` as `servegen.json`, then every
/// client's rates set to `rate` (and each window made a Gamma one of `shape`), written
/// to `name`.
fn servegen_model(dir: &TestDir, name: &str, rate: f64, shape: f64) {
    let source = util::data("servegen/reason/deepseek-r1");
    let source = source.to_str().unwrap();
    dir.run(&["import-servegen", source, "-o", "servegen.json", "--quiet"])
        .expect_code(0);
    let mut model: serde_json::Value = serde_json::from_slice(&dir.read("servegen.json")).unwrap();
    std::fs::remove_file(dir.path("servegen.json")).unwrap();
    for c in model["clients"]["clients"].as_array_mut().unwrap() {
        let n = c["rate"].as_array().unwrap().len();
        c["rate"] = serde_json::json!(vec![rate; n]);
        c["pattern"] = serde_json::json!("G".repeat(n));
        c["shape"] = serde_json::json!(vec![shape; n]);
        c["cv"] = serde_json::json!(vec![1.0 / shape.sqrt(); n]);
    }
    dir.write(name, serde_json::to_string(&model).unwrap());
}

/// Per-client rates at both ends of what a model may hold. A rate of 1e-300 per second
/// puts each client's next arrival near 1e300 s: with a count bound and no duration the
/// estimate indexed a window by that time and panicked. The largest rates with the
/// burstiest gaps and the largest --rate-scale are refused by the size estimate at once.
#[test]
fn extreme_client_rates_end_quickly_with_a_result_or_a_clear_error() {
    let dir = TestDir::new();
    servegen_model(&dir, "tiny.json", 1e-300, 0.5);
    for bound in [
        ["--requests", "10"],
        ["--sessions", "10"],
        ["--duration", "1h"],
    ] {
        let run = dir.run(&[
            "generate",
            "-m",
            "tiny.json",
            "-o",
            "out.jsonl",
            bound[0],
            bound[1],
        ]);
        run.expect_code(0);
        assert!(
            run.stderr.contains("wrote 0 requests"),
            "{bound:?}: {}",
            run.stderr
        );
        assert!(dir.read("out.jsonl").is_empty(), "{bound:?}");
    }
    let dir = TestDir::new();
    servegen_model(&dir, "huge.json", 1e6, 1e-3);
    let started = std::time::Instant::now();
    let run = dir.run(&[
        "generate",
        "-m",
        "huge.json",
        "-o",
        "out.jsonl",
        "--duration",
        "10m",
        "--rate-scale",
        "1000",
    ]);
    run.expect_code(2).expect_clean_failure();
    // Refused for its size or for the chat ids it would need, both naming the count.
    assert!(run.stderr.contains("G requests"), "{}", run.stderr);
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    assert_eq!(dir.files(), ["huge.json"]);
    servegen_model(&dir, "over.json", 1.1e6, 0.5);
    let run = dir.run(&["generate", "-m", "over.json", "-o", "out.jsonl"]);
    run.expect_code(2).expect_clean_failure();
    assert!(
        run.stderr.contains("window 0: rate must lie in"),
        "{}",
        run.stderr
    );
}

#[test]
fn absurd_option_values_are_refused_before_any_output() {
    let dir = TestDir::new();
    dir.write("steps.csv", "start_seconds,multiplier\n0,1e300\n");
    dir.write("three.csv", "0,1,5\n");
    for (args, says) in [
        (
            vec!["--time-scale", "1e-9"],
            "--time-scale: 1e-9 is outside",
        ),
        (vec!["--rate-scale", "1e9"], "--rate-scale: 1e9 is outside"),
        (
            vec!["--duration", "99999999999999999999d"],
            "at most 62 days",
        ),
        (vec!["--duration", "-5m"], "must not be negative"),
        (vec!["--start-at", "1000d"], "--start-at"),
        (
            vec!["--rate-profile", "steps.csv"],
            "multiplier 1e300 is outside",
        ),
        (vec!["--rate-profile", "three.csv"], "expected 2 columns"),
        (
            vec!["--start-id", "18446744073709551615"],
            "at or above 2^32",
        ),
        (vec!["--start-id", "4294967000"], "at or above 2^32"),
    ] {
        let mut all = vec!["generate", "-o", "out.jsonl"];
        all.extend(&args);
        let run = dir.run(&all);
        assert!(matches!(run.code, Some(c) if c != 0), "{args:?}: {run:?}");
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert_eq!(dir.files(), ["steps.csv", "three.csv"], "{args:?}");
    }
}

#[test]
fn durations_combine_units() {
    let dir = TestDir::new();
    let run = dir.run(&[
        "generate",
        "--duration",
        "1m30s",
        "--seed",
        "3",
        "-o",
        "a.jsonl",
    ]);
    run.expect_code(0);
    let run = dir.run(&[
        "generate",
        "--duration",
        "90",
        "--seed",
        "3",
        "-o",
        "b.jsonl",
    ]);
    run.expect_code(0);
    assert_eq!(dir.read("a.jsonl"), dir.read("b.jsonl"));
}

#[test]
fn chat_ids_stay_below_2_pow_32() {
    let dir = TestDir::new();
    let start = (1u64 << 32) - 3;
    let run = dir.run(&[
        "generate",
        "--start-id",
        &start.to_string(),
        "--requests",
        "3",
        "-o",
        "ok.jsonl",
    ]);
    run.expect_code(0);
    let ids: Vec<u64> = util::records(&dir.read("ok.jsonl"))
        .iter()
        .map(|r| r["chat_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [start, start + 1, start + 2]);
    let run = dir.run(&[
        "generate",
        "--start-id",
        &start.to_string(),
        "--requests",
        "4",
        "-o",
        "bad.jsonl",
    ]);
    run.expect_code(2).expect_clean_failure();
    assert!(run.stderr.contains("2^32"), "{}", run.stderr);
    assert!(
        !dir.files()
            .iter()
            .any(|f| f.starts_with(".bad") || f == "bad.jsonl")
    );
}

// Group 5 (part): models are read as traces are.

#[test]
fn models_are_read_gzipped_from_stdin_and_with_a_bom() {
    let dir = TestDir::new();
    let text = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/qwen-trace-b.json"),
    )
    .unwrap();
    dir.write("m.json.gz", util::gzip(&text));
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend(&text);
    dir.write("bom.json", &bom);
    dir.write("m.json", &text);
    let args = |m: &str| {
        vec!["generate", "-m", m, "--requests", "50", "-o", "-"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let plain = dir.run(&args("m.json"));
    plain.expect_code(0);
    for m in ["m.json.gz", "bom.json"] {
        let run = dir.run(&args(m));
        run.expect_code(0);
        assert_eq!(run.stdout, plain.stdout, "{m}");
    }
    let run = dir.run_with_stdin(&args("-"), &text);
    run.expect_code(0);
    assert_eq!(run.stdout, plain.stdout, "stdin");
}

/// README: every input is read as traces are. Target and tolerance files and rate-profile
/// CSVs were read with a plain file read: gzipped they failed as invalid UTF-8, `-` as a
/// missing file, and a byte order mark spoilt their first key.
#[test]
fn target_tolerance_and_rate_profile_files_are_read_like_traces() {
    let dir = TestDir::new();
    let variants = |name: &str, text: &[u8]| {
        let (stem, ext) = name.split_once('.').unwrap();
        dir.write(name, text);
        dir.write(&format!("{name}.gz"), util::gzip(text));
        dir.write(&format!("{stem}-z.{ext}"), util::zstd(text));
        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend(text);
        dir.write(&format!("{stem}-bom.{ext}"), bom);
        [
            name.to_string(),
            format!("{name}.gz"),
            format!("{stem}-z.{ext}"),
            format!("{stem}-bom.{ext}"),
        ]
    };
    let targets = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("validation/targets/qwen-trace-a.toml"),
    )
    .unwrap();
    let names = variants("targets.toml", &targets);
    let plain =
        tracesynth::calibrate::targets::Targets::load(dir.path(&names[0]).to_str().unwrap())
            .unwrap();
    for name in &names[1..] {
        let t = tracesynth::calibrate::targets::Targets::load(dir.path(name).to_str().unwrap());
        assert_eq!(t.as_ref().ok(), Some(&plain), "{name}: {t:?}");
    }

    for seed in ["1", "2"] {
        dir.run(&[
            "generate",
            "--requests",
            "300",
            "--seed",
            seed,
            "-o",
            &format!("s{seed}.jsonl"),
        ])
        .expect_code(0);
    }
    let names = variants("tol.json", br#"{"input.ks": 0.5, "output.ks": 0}"#);
    let compare = |tol: &str| {
        let run = dir.run(&["compare", "s1.jsonl", "s2.jsonl", "--tolerances", tol]);
        (run.code, run.stdout())
    };
    let plain = compare(&names[0]);
    // output.ks of two seeds is above 0: the file was read when the row fails.
    assert_eq!(plain.0, Some(1), "{}", plain.1);
    for name in &names[1..] {
        assert_eq!(compare(name), plain, "{name}");
    }
    let run = dir.run_with_stdin(
        &["compare", "s1.jsonl", "s2.jsonl", "--tolerances", "-"],
        br#"{"input.ks": 0.5, "output.ks": 0}"#,
    );
    assert_eq!((run.code, run.stdout()), plain, "stdin");

    let names = variants("steps.csv", b"start_seconds,multiplier\n0,1\n30,4\n");
    let generate = |steps: &str| {
        let run = dir.run(&[
            "generate",
            "--duration",
            "1m",
            "--rate-profile",
            steps,
            "-o",
            "-",
        ]);
        run.expect_code(0);
        run.stdout
    };
    let plain = generate(&names[0]);
    for name in &names[1..] {
        assert!(generate(name) == plain, "{name}");
    }
}

// Group 4: no silent wrong answers.

fn parts(dir: &TestDir, args: &[&str], n: u64, prefix: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let name = format!("{prefix}{i}.jsonl");
            let shard = format!("{i}/{n}");
            let mut all = vec!["generate", "-q", "-o", &name, "--shard", &shard];
            all.extend_from_slice(args);
            dir.run(&all).expect_code(0);
            name
        })
        .collect()
}

#[test]
fn merge_refuses_missing_repeated_or_foreign_parts() {
    let dir = TestDir::new();
    let a = parts(&dir, &["--duration", "2m", "--seed", "1"], 3, "a");
    let b = parts(&dir, &["--duration", "2m", "--seed", "2"], 3, "b");
    for (given, says) in [
        (vec![&a[0], &a[2]], "missing part 1"),
        (vec![&a[0], &a[1], &a[1], &a[2]], "given twice"),
        (vec![&a[0], &b[1], &a[2]], "another run"),
    ] {
        let mut args = vec!["merge", "-o", "m.jsonl"];
        args.extend(given.iter().map(|s| s.as_str()));
        let run = dir.run(&args);
        run.expect_code(2).expect_clean_failure();
        assert!(run.stderr.contains(says), "{given:?}: {}", run.stderr);
        assert!(!dir.path("m.jsonl").exists());
    }
    // All three parts merge; without manifests only with --no-manifest.
    dir.run(&["merge", "-o", "m.jsonl", &a[0], &a[1], &a[2]])
        .expect_code(0);
    std::fs::copy(dir.path(&a[0]), dir.path("hand.jsonl")).unwrap();
    let run = dir.run(&["merge", "-o", "n.jsonl", "hand.jsonl", &a[1], &a[2]]);
    run.expect_clean_failure();
    assert!(run.stderr.contains("--no-manifest"), "{}", run.stderr);
    dir.run(&[
        "merge",
        "--no-manifest",
        "-o",
        "n.jsonl",
        "hand.jsonl",
        &a[1],
        &a[2],
    ])
    .expect_code(0);
    assert_eq!(dir.read("m.jsonl"), dir.read("n.jsonl"));
    // A CRLF part is refused even without manifests.
    let crlf = String::from_utf8(dir.read(&a[0]))
        .unwrap()
        .replace('\n', "\r\n");
    dir.write("crlf.jsonl", crlf);
    let run = dir.run(&["merge", "--no-manifest", "-o", "c.jsonl", "crlf.jsonl"]);
    run.expect_clean_failure();
    assert!(run.stderr.contains("CRLF"), "{}", run.stderr);
}

#[test]
fn an_output_that_is_the_input_is_refused_before_work() {
    let dir = TestDir::new();
    let trace = std::fs::read(util::excerpt()).unwrap();
    dir.write("t.jsonl", &trace);
    #[cfg(unix)]
    std::os::unix::fs::symlink("t.jsonl", dir.path("link.jsonl")).unwrap();
    for out in ["t.jsonl", "./t.jsonl", "link.jsonl"] {
        if cfg!(not(unix)) && out == "link.jsonl" {
            continue;
        }
        for args in [
            vec!["fit", "t.jsonl", "-o", out],
            vec!["convert", "t.jsonl", "--to", "mooncake", "-o", out],
        ] {
            let run = dir.run(&args);
            run.expect_clean_failure();
            assert!(
                run.stderr.contains("is the input"),
                "{args:?}: {}",
                run.stderr
            );
            assert_eq!(dir.read("t.jsonl"), trace, "{args:?}");
        }
    }
}

#[test]
fn bad_outputs_are_refused_before_work() {
    let dir = TestDir::new();
    std::fs::create_dir(dir.path("sub")).unwrap();
    let input = util::excerpt();
    let input = input.to_str().unwrap();
    for (out, says) in [
        ("sub", "is a directory"),
        ("m.json.zst", "zstd is not supported"),
    ] {
        for args in [
            vec!["fit", input, "-o", out],
            vec!["generate", "--duration", "1m", "-o", out],
        ] {
            let run = dir.run(&args);
            run.expect_clean_failure();
            assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        }
    }
    assert_eq!(dir.files(), ["sub"]);
    assert!(std::fs::read_dir(dir.path("sub")).unwrap().next().is_none());
}

#[cfg(unix)]
#[test]
fn a_symlinked_output_is_written_through() {
    let dir = TestDir::new();
    std::fs::create_dir(dir.path("real")).unwrap();
    dir.write("real/g.jsonl", "old\n");
    std::os::unix::fs::symlink("real/g.jsonl", dir.path("g.jsonl")).unwrap();
    dir.run(&["generate", "--requests", "5", "-o", "g.jsonl"])
        .expect_code(0);
    let meta = std::fs::symlink_metadata(dir.path("g.jsonl")).unwrap();
    assert!(meta.file_type().is_symlink(), "the link was replaced");
    assert_eq!(util::records(&dir.read("real/g.jsonl")).len(), 5);
}

#[test]
fn messages_say_what_is_wrong() {
    let dir = TestDir::new();
    dir.write(
        "big.jsonl",
        r#"{"timestamp": 0, "input_length": 18446744073709551616, "output_length": 1, "hash_ids": [0]}
"#,
    );
    let run = dir.run(&["check", "big.jsonl"]);
    run.expect_code(1);
    assert!(run.stdout().contains("too large"), "{}", run.stdout());
    assert!(
        run.stdout().starts_with("big.jsonl: 1 record, "),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains("1 violation of 1 kind\n"),
        "{}",
        run.stdout()
    );
}

// Group 6: the end of a run says what it wrote.

#[test]
fn generate_ends_with_a_summary_unless_quiet() {
    let dir = TestDir::new();
    let run = dir.run(&[
        "generate",
        "--duration",
        "1h",
        "--requests",
        "40",
        "-o",
        "g.jsonl",
    ]);
    run.expect_code(0);
    let size = dir.read("g.jsonl").len();
    assert!(run.stderr.contains("wrote 40 requests"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--requests 40 ended the run before --duration"),
        "{}",
        run.stderr
    );
    assert!(size > 1000, "{size}");
    let quiet = dir.run(&["-q", "generate", "--requests", "40", "-o", "q.jsonl"]);
    quiet.expect_code(0);
    assert_eq!(quiet.stderr, "");
}

// Group 4: readable traces that `check` would flag are not taken without a word.

fn bailian(chat: i64, parent: i64, ts: f64, turn: u32) -> String {
    format!(
        r#"{{"chat_id": {chat}, "parent_chat_id": {parent}, "timestamp": {ts}, "input_length": 20, "output_length": 3, "type": "text", "turn": {turn}, "hash_ids": [{chat}, {}]}}"#,
        chat + 1000
    ) + "\n"
}

#[test]
fn stats_fit_and_convert_warn_about_what_check_flags() {
    let dir = TestDir::new();
    // Line 2 is earlier than line 1, line 3 repeats chat 0, line 4 is its own parent.
    let unsorted = [
        bailian(0, -1, 1.0, 1),
        bailian(1, -1, 0.5, 1),
        bailian(0, -1, 2.0, 1),
        bailian(3, 3, 3.0, 2),
        bailian(4, -1, 4.0, 1),
    ]
    .concat();
    dir.write("u.jsonl", unsorted);
    for args in [
        vec!["stats", "u.jsonl"],
        vec!["fit", "u.jsonl", "-o", "m.json"],
        vec!["convert", "u.jsonl", "--to", "mooncake", "-o", "o.jsonl"],
    ] {
        let run = dir.run(&args);
        run.expect_code(0);
        for (what, line) in [
            ("timestamp before the previous record's", 2),
            ("duplicate chat_id", 3),
            ("parent not on an earlier line", 4),
        ] {
            let expected = format!("warning: u.jsonl: 1 record with {what} (first at line {line}");
            assert!(run.stderr.contains(&expected), "{args:?}: {}", run.stderr);
        }
        assert!(
            run.stderr.contains("`tracesynth check u.jsonl`"),
            "{}",
            run.stderr
        );
    }
    let clean = [bailian(0, -1, 0.0, 1), bailian(1, 0, 1.0, 2)].concat();
    dir.write("c.jsonl", clean);
    let run = dir.run(&["stats", "c.jsonl"]);
    run.expect_code(0);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

// Group 5: compare says when the pair itself makes its rows misleading.

#[test]
fn compare_refuses_one_stream_for_both_traces_and_a_single_record() {
    let dir = TestDir::new();
    dir.write("one.jsonl", moon_trace(&["0"]));
    dir.write("two.jsonl", moon_trace(&["0", "1000"]));
    let run = dir.run_with_stdin(&["compare", "-", "-"], b"");
    run.expect_clean_failure();
    assert!(
        run.stderr.contains("standard input is one stream"),
        "{}",
        run.stderr
    );
    for args in [
        ["compare", "one.jsonl", "two.jsonl"],
        ["compare", "two.jsonl", "one.jsonl"],
    ] {
        let run = dir.run(&args);
        run.expect_clean_failure();
        assert!(
            run.stderr
                .contains("one.jsonl: 1 record; compare needs at least 2"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn compare_hints_at_a_missing_scale_and_at_different_block_sizes() {
    let dir = TestDir::new();
    let real = util::mooncake();
    let real = real.to_str().unwrap();
    dir.run(&["fit", real, "-o", "m.json"]).expect_code(0);
    let generate = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "generate",
            "-m",
            "m.json",
            "--duration",
            "20m",
            "--seed",
            "3",
            "-o",
            name,
        ];
        args.extend_from_slice(extra);
        dir.run(&args).expect_code(0);
    };
    generate("x4.jsonl", &["--rate-scale", "4", "--format", "mooncake"]);
    generate("b.jsonl", &["--format", "bailian"]);
    let notes = |synth: &str, extra: &[&str]| -> Vec<String> {
        let mut args = vec!["compare", real, synth, "--json"];
        args.extend_from_slice(extra);
        let json = dir.run(&args).json();
        json["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    };
    // The first 20 minutes of a x4 run: about 3-4.5 times the real hour's mean rate.
    let unscaled = notes("x4.jsonl", &[]);
    let implied: f64 = unscaled
        .iter()
        .find_map(|n| n.split("pass --scale ").nth(1))
        .unwrap_or_else(|| panic!("{unscaled:?}"))
        .parse()
        .unwrap();
    assert!((3.0..4.5).contains(&implied), "{unscaled:?}");
    let scaled = notes("x4.jsonl", &["--scale", "4"]);
    assert!(!scaled.iter().any(|n| n.contains("--scale")), "{scaled:?}");
    let blocks = notes("b.jsonl", &[]);
    assert!(
        blocks
            .iter()
            .any(|n| n.contains("block sizes differ (512 tokens in the real trace, 16")),
        "{blocks:?}"
    );
}

#[test]
fn a_tolerance_given_twice_is_refused_naming_the_file() {
    let dir = TestDir::new();
    dir.write("t.jsonl", moon_trace(&["0", "1000", "2000"]));
    dir.write("tol.json", r#"{"input.ks": 0.1, "input.ks": 0.2}"#);
    let run = dir.run(&["compare", "t.jsonl", "t.jsonl", "--tolerances", "tol.json"]);
    run.expect_clean_failure();
    assert!(
        run.stderr
            .contains("tol.json: tolerances: `input.ks` is given twice"),
        "{}",
        run.stderr
    );
}

/// A run bounded only by `--requests` ends at the 62 days a trace may span: it says so,
/// and its estimate extrapolates over those days (it was the planned stretch alone, so a
/// count past 2^32 chat ids passed the guard and the progress bar ended at 100,000).
#[test]
fn a_run_that_ends_before_requests_says_why() {
    let dir = TestDir::new();
    let run = dir.run(&[
        "generate",
        "--rate-scale",
        "0.002",
        "--requests",
        "10000000",
        "-o",
        "g.jsonl",
    ]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(
            "note: the 62 days a trace may span ended the run before --requests 10000000"
        ),
        "{}",
        run.stderr
    );
    let run = dir.run(&[
        "generate",
        "--duration",
        "1m",
        "--requests",
        "100000",
        "-o",
        "g.jsonl",
    ]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("note: --duration ended the run before --requests 100000"),
        "{}",
        run.stderr
    );
    let run = dir.run(&["generate", "--requests", "1", "-o", "g.jsonl"]);
    assert!(run.stderr.contains("wrote 1 request,"), "{}", run.stderr);
    assert!(!run.stderr.contains("note:"), "{}", run.stderr);
    // Sixty-two days of a 24 requests/s model at x1000 hold about 1.3e11 requests.
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/qwen-trace-b.json");
    let run = dir.run(&[
        "generate",
        "-m",
        model.to_str().unwrap(),
        "--rate-scale",
        "1000",
        "--requests",
        "5000000000",
        "-o",
        "big.jsonl",
    ]);
    run.expect_code(2).expect_clean_failure();
    assert!(run.stderr.contains("at or above 2^32"), "{}", run.stderr);
    assert_eq!(dir.files(), ["g.jsonl"]);
}

/// A calibration's targets are bounded as a model's parameters are: `rate = 1e30` was
/// accepted and made every round slower than the last.
#[test]
fn calibrate_refuses_targets_no_model_can_hold() {
    let dir = TestDir::new();
    dir.write("t.toml", "iterations = 1\nrate = 1e30\n");
    let run = dir.run(&["calibrate", "t.toml", "-o", "m.json"]);
    run.expect_code(2).expect_clean_failure();
    assert!(
        run.stderr.contains("t.toml:2: `rate`: 1e30 is above"),
        "{}",
        run.stderr
    );
    assert_eq!(dir.files(), ["t.toml"]);
}

/// `compare --report` and `validate --out` name a directory: a file of that name failed
/// only after all the work, with "File exists (os error 17)".
#[test]
fn a_report_directory_that_is_a_file_is_refused_before_work() {
    let dir = TestDir::new();
    dir.write("t.jsonl", moon_trace(&["0", "1000", "2000"]));
    dir.write("rep", "not a directory\n");
    let run = dir.run(&["compare", "t.jsonl", "t.jsonl", "--report", "rep"]);
    run.expect_code(2).expect_clean_failure();
    assert!(
        run.stderr
            .contains("rep: is a file; --report takes a directory"),
        "{}",
        run.stderr
    );
    let run = dir.run(&["compare", "t.jsonl", "t.jsonl", "--report", "rep/sub"]);
    run.expect_code(2).expect_clean_failure();
    assert!(
        run.stderr.contains("rep/sub: `rep` is a file"),
        "{}",
        run.stderr
    );
    // validate refuses at once, before it looks for its data.
    let run = dir.run(&["validate", "--quick", "--data", "nowhere", "--out", "rep"]);
    run.expect_code(2).expect_clean_failure();
    assert!(
        run.stderr
            .contains("rep: is a file; --out takes a directory"),
        "{}",
        run.stderr
    );
    assert_eq!(dir.files(), ["rep", "t.jsonl"]);
    dir.run(&["compare", "t.jsonl", "t.jsonl", "--report", "new/rep"])
        .expect_code(0);
    assert!(dir.path("new/rep/index.html").exists());
    // Each report file is written whole through a temporary file renamed into place.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path("new/rep"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::write(dir.path("new/rep/index.html"), "old").unwrap();
    dir.run(&["compare", "t.jsonl", "t.jsonl", "--report", "new/rep"])
        .expect_code(0);
    let page = String::from_utf8(dir.read("new/rep/index.html")).unwrap();
    assert!(page.contains("<html") && page.len() > 100, "{page}");
}
