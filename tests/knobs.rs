//! The what-if knobs of `generate` (`--prefix-scale`, `--input-scale`, `--output-scale`,
//! `--min-input`, `--max-input`, `--max-output`, `--peak-cap`): each does what it says on
//! the generated output, against a run without it on the same seed, and the output stays
//! a valid trace (block-count rule, one content per id).

mod util;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use util::{TestDir, assert_checks_clean, assert_one_fill_per_id, mooncake_model, records};

/// Bailian tokens per block (the fitted Mooncake model is written as 16-token blocks).
const BLOCK: u64 = 16;

/// A knob that moves no length: a run with it is the reference for runs with knobs (a run
/// with knobs draws its ids' tails from a stream of its own, so it has the sessions and
/// times of every other run with knobs on its seed, not quite those of the run without).
const REFERENCE: [&str; 2] = ["--max-input", "100000000"];

/// A 30-minute run of the model on seed 4 with `extra` options; its stderr.
fn generate(dir: &TestDir, model: &Path, out: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--seed",
        "4",
        "--duration",
        "30m",
        "-o",
        out,
    ];
    args.extend_from_slice(extra);
    let run = dir.run(&args);
    run.expect_code(0);
    assert_checks_clean(dir, &dir.path(out));
    assert_one_fill_per_id(&dir.path(out), BLOCK);
    run.stderr.clone()
}

#[derive(Debug)]
struct Rec {
    chat: i64,
    parent: i64,
    timestamp: f64,
    input: u64,
    output: u64,
    ids: Vec<u64>,
}

fn read(dir: &TestDir, name: &str) -> Vec<Rec> {
    records(&dir.read(name))
        .iter()
        .map(|r| Rec {
            chat: r["chat_id"].as_i64().unwrap(),
            parent: r["parent_chat_id"].as_i64().unwrap(),
            timestamp: r["timestamp"].as_f64().unwrap(),
            input: r["input_length"].as_u64().unwrap(),
            output: r["output_length"].as_u64().unwrap(),
            ids: util::ids(r),
        })
        .collect()
}

/// The same sessions at the same times: the knobs change lengths and ids only.
fn assert_same_requests(a: &[Rec], b: &[Rec]) {
    assert_eq!(a.len(), b.len(), "the knob changed the number of requests");
    for (x, y) in a.iter().zip(b) {
        assert_eq!((x.chat, x.parent), (y.chat, y.parent));
        assert_eq!(x.timestamp, y.timestamp);
    }
}

/// Per follow-up: its new tokens (input minus the parent's input and output; the fitted
/// Mooncake model carries the whole output).
fn new_tokens(recs: &[Rec]) -> Vec<i64> {
    let by_id: HashMap<i64, &Rec> = recs.iter().map(|r| (r.chat, r)).collect();
    recs.iter()
        .filter(|r| r.parent >= 0)
        .filter_map(|r| {
            let p = by_id.get(&r.parent)?;
            Some(r.input as i64 - p.input as i64 - p.output as i64)
        })
        .collect()
}

/// Per root: its leading blocks seen in earlier requests (its shared prefix).
fn root_shared_blocks(recs: &[Rec]) -> Vec<u64> {
    let mut seen = HashSet::new();
    let mut shared = Vec::new();
    for r in recs {
        if r.parent < 0 {
            shared.push(r.ids.iter().take_while(|id| seen.contains(*id)).count() as u64);
        }
        seen.extend(r.ids.iter().copied());
    }
    shared
}

/// Share of follow-ups whose new tokens are the same in both runs (a truncated follow-up
/// keeps a share of its parent's context instead, which is not "input minus parent").
fn same_share(a: &[i64], b: &[i64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

/// Median over follow-ups with new tokens in the base run of scaled / base.
fn median_ratio(base: &[i64], scaled: &[i64]) -> f64 {
    let mut r: Vec<f64> = base
        .iter()
        .zip(scaled)
        .filter(|(b, _)| **b > 0)
        .map(|(&b, &s)| s as f64 / b as f64)
        .collect();
    r.sort_by(f64::total_cmp);
    r[r.len() / 2]
}

fn ratio(scaled: f64, base: f64) -> f64 {
    assert!(base > 0.0, "nothing to compare");
    scaled / base
}

fn sum<T: Copy + Into<f64>>(xs: impl IntoIterator<Item = T>) -> f64 {
    xs.into_iter().map(Into::into).sum()
}

#[test]
fn defaults_and_ones_change_nothing() {
    let dir = TestDir::new();
    let model = mooncake_model(&dir);
    generate(&dir, &model, "base.jsonl", &[]);
    generate(
        &dir,
        &model,
        "ones.jsonl",
        &[
            "--prefix-scale",
            "1",
            "--input-scale",
            "1",
            "--output-scale",
            "1",
        ],
    );
    assert_eq!(dir.read("base.jsonl"), dir.read("ones.jsonl"));
}

#[test]
fn output_scale_scales_outputs_and_the_context_they_carry() {
    let dir = TestDir::new();
    let model = mooncake_model(&dir);
    generate(&dir, &model, "base.jsonl", &REFERENCE);
    generate(&dir, &model, "x2.jsonl", &["--output-scale", "2"]);
    let (base, x2) = (read(&dir, "base.jsonl"), read(&dir, "x2.jsonl"));
    assert_same_requests(&base, &x2);
    let r = ratio(
        sum(x2.iter().map(|r| r.output as f64)),
        sum(base.iter().map(|r| r.output as f64)),
    );
    assert!((r - 2.0).abs() <= 0.04, "outputs scaled {r:.4}, not 2");
    // The new tokens of each turn are unchanged: the growth is the carried output.
    let same = same_share(&new_tokens(&base), &new_tokens(&x2));
    assert!(
        same > 0.95,
        "new tokens unchanged in {same:.3} of follow-ups"
    );
    assert!(sum(x2.iter().map(|r| r.input as f64)) > sum(base.iter().map(|r| r.input as f64)));
}

#[test]
fn input_scale_scales_the_users_tokens() {
    let dir = TestDir::new();
    let model = mooncake_model(&dir);
    generate(&dir, &model, "base.jsonl", &REFERENCE);
    generate(&dir, &model, "x3.jsonl", &["--input-scale", "3"]);
    let (base, x3) = (read(&dir, "base.jsonl"), read(&dir, "x3.jsonl"));
    assert_same_requests(&base, &x3);
    let (nb, n3) = (new_tokens(&base), new_tokens(&x3));
    assert!(nb.len() > 100, "too few follow-ups: {}", nb.len());
    let r = median_ratio(&nb, &n3);
    assert!((r - 3.0).abs() <= 0.06, "new tokens scaled {r:.4}, not 3");
    // Outputs are the model's; shared prefixes keep their blocks.
    assert_eq!(
        base.iter().map(|r| r.output).collect::<Vec<_>>(),
        x3.iter().map(|r| r.output).collect::<Vec<_>>()
    );
    // Shared prefixes keep their blocks (but for the odd root: a reuse sees as much of a
    // born document as earlier requests carried, and those were longer).
    let (sb, s3) = (root_shared_blocks(&base), root_shared_blocks(&x3));
    let differ = sb.iter().zip(&s3).filter(|(a, b)| a != b).count();
    assert!(
        differ * 200 <= sb.len(),
        "{differ} of {} roots changed prefix",
        sb.len()
    );
    let r = ratio(
        sum(s3.iter().map(|&x| x as f64)),
        sum(sb.iter().map(|&x| x as f64)),
    );
    assert!(
        (r - 1.0).abs() <= 0.01,
        "shared prefix blocks scaled {r:.4}"
    );
    // A root's own tokens (beyond its shared prefix; a born document, which is prefix,
    // keeps its length) grow.
    let own = |recs: &[Rec], shared: &[u64]| {
        sum(recs
            .iter()
            .filter(|r| r.parent < 0)
            .zip(shared)
            .map(|(r, s)| (r.input - s * BLOCK) as f64))
    };
    assert!(own(&x3, &s3) > 1.5 * own(&base, &sb));
}

#[test]
fn prefix_scale_lengthens_shared_prefixes() {
    let dir = TestDir::new();
    let model = mooncake_model(&dir);
    generate(&dir, &model, "base.jsonl", &REFERENCE);
    generate(&dir, &model, "x2.jsonl", &["--prefix-scale", "2"]);
    let (base, x2) = (read(&dir, "base.jsonl"), read(&dir, "x2.jsonl"));
    assert_same_requests(&base, &x2);
    let (sb, s2) = (root_shared_blocks(&base), root_shared_blocks(&x2));
    let r = ratio(
        sum(s2.iter().map(|&x| x as f64)),
        sum(sb.iter().map(|&x| x as f64)),
    );
    assert!(
        (r - 2.0).abs() <= 0.04,
        "shared prefix blocks scaled {r:.4}, not 2"
    );
    // The user's tokens and the outputs are the model's.
    let same = same_share(&new_tokens(&base), &new_tokens(&x2));
    assert!(
        same > 0.95,
        "new tokens unchanged in {same:.3} of follow-ups"
    );
    assert_eq!(
        base.iter().map(|r| r.output).collect::<Vec<_>>(),
        x2.iter().map(|r| r.output).collect::<Vec<_>>()
    );
}

/// `--flag N: n of m requests (..)` in stderr -> n.
fn reported(stderr: &str, flag: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(flag))
        .unwrap_or_else(|| panic!("no {flag} line in:\n{stderr}"));
    line.split(": ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn clipping_holds_the_bounds_and_reports_the_share() {
    let dir = TestDir::new();
    let model = mooncake_model(&dir);
    generate(&dir, &model, "base.jsonl", &REFERENCE);
    let stderr = generate(
        &dir,
        &model,
        "clip.jsonl",
        &[
            "--min-input",
            "1000",
            "--max-input",
            "20000",
            "--max-output",
            "300",
        ],
    );
    let (base, clip) = (read(&dir, "base.jsonl"), read(&dir, "clip.jsonl"));
    assert_same_requests(&base, &clip);
    for r in &clip {
        assert!((1000..=20000).contains(&r.input), "input {}", r.input);
        assert!(r.output <= 300, "output {}", r.output);
    }
    // Outputs are drawn as without the cap: exactly those above it were cut.
    let over = base.iter().filter(|r| r.output > 300).count() as u64;
    assert!(over > 0);
    assert_eq!(reported(&stderr, "--max-output"), over);
    // Roots' inputs do not depend on their parents: every base root out of range was
    // clipped, and every clipped input sits on its bound.
    let roots_over = base
        .iter()
        .filter(|r| r.parent < 0 && r.input > 20000)
        .count() as u64;
    let roots_under = base
        .iter()
        .filter(|r| r.parent < 0 && r.input < 1000)
        .count() as u64;
    let at_max = clip.iter().filter(|r| r.input == 20000).count() as u64;
    let at_min = clip.iter().filter(|r| r.input == 1000).count() as u64;
    let (cut, raised) = (
        reported(&stderr, "--max-input"),
        reported(&stderr, "--min-input"),
    );
    assert!(
        roots_over <= cut && cut <= at_max,
        "{roots_over} <= {cut} <= {at_max}"
    );
    assert!(
        roots_under <= raised && raised <= at_min,
        "{roots_under} <= {raised} <= {at_min}"
    );
    assert!(cut > 0 && raised > 0, "{stderr}");
    assert!(
        stderr.contains(&format!("of {} requests", clip.len())),
        "{stderr}"
    );
}

#[test]
fn peak_cap_bounds_every_window() {
    let dir = TestDir::new();
    let model = mooncake_model(&dir);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    let width = json["arrivals"]["bin_width"].as_f64().unwrap();
    let windows = |recs: &[Rec]| {
        let mut n: HashMap<i64, u64> = HashMap::new();
        for r in recs {
            let w = ((r.timestamp * 1000.0).round() / (width * 1000.0)).floor() as i64;
            *n.entry(w).or_default() += 1;
        }
        n
    };
    generate(&dir, &model, "base.jsonl", &["--rate-scale", "2"]);
    let base = read(&dir, "base.jsonl");
    let peak = *windows(&base).values().max().unwrap() as f64 / width;
    // A cap below the run's peak rate, but above its quietest windows.
    let cap = 0.8 * peak;
    let stderr = generate(
        &dir,
        &model,
        "cap.jsonl",
        &["--rate-scale", "2", "--peak-cap", &format!("{cap}")],
    );
    let capped = read(&dir, "cap.jsonl");
    let budget = (cap * width).floor() as u64;
    for (w, n) in windows(&capped) {
        assert!(n <= budget, "window {w}: {n} requests > {budget}");
    }
    assert!(capped.len() < base.len());
    assert!(stderr.contains("--peak-cap"), "{stderr}");
    assert!(!stderr.contains("dropped 0 session starts"), "{stderr}");
    // A cap above the peak changes nothing.
    generate(
        &dir,
        &model,
        "high.jsonl",
        &[
            "--rate-scale",
            "2",
            "--peak-cap",
            &format!("{}", 2.0 * peak),
        ],
    );
    assert_eq!(dir.read("base.jsonl"), dir.read("high.jsonl"));
}

#[test]
fn absurd_knobs_are_refused() {
    let dir = TestDir::new();
    for args in [
        &["--min-input", "500", "--max-input", "100"][..],
        &["--max-input", "0"],
        &["--prefix-scale", "1e9"],
        &["--peak-cap", "1e-9"],
        &["--peak-cap", "5", "--tenants", "2"],
        &["--max-context", "0"],
        &["--min-input", "500", "--max-context", "100"],
        &["--context-policy", "end"],
    ] {
        let mut all = vec!["generate", "--requests", "10", "-o", "x.jsonl"];
        all.extend_from_slice(args);
        dir.run(&all).expect_clean_failure();
        assert!(!dir.path("x.jsonl").exists(), "{args:?} wrote a file");
    }
    let run = dir.run(&[
        "generate",
        "--max-context",
        "100",
        "--context-policy",
        "drop",
        "-o",
        "x.jsonl",
    ]);
    run.expect_code(2);
    assert!(run.stderr.contains("truncate or end"), "{}", run.stderr);
}

#[test]
fn the_library_refuses_what_the_command_refuses() {
    use tracesynth::generate::{GenerateOptions, Knobs};
    let with = |knobs: Knobs| GenerateOptions {
        knobs,
        ..GenerateOptions::default()
    };
    let option = |o: &GenerateOptions| o.validate().map_err(|e| e.option);
    assert_eq!(option(&with(Knobs::default())), Ok(()));
    let crossed = Knobs {
        min_input: Some(500),
        max_input: Some(100),
        ..Knobs::default()
    };
    assert_eq!(option(&with(crossed)), Err("--min-input"));
    let nan = Knobs {
        output_scale: f64::NAN,
        ..Knobs::default()
    };
    assert_eq!(option(&with(nan)), Err("--output-scale"));
    let window = Knobs {
        min_input: Some(500),
        max_context: Some(100),
        ..Knobs::default()
    };
    assert_eq!(option(&with(window)), Err("--min-input"));
    let empty = Knobs {
        max_context: Some(0),
        ..Knobs::default()
    };
    assert_eq!(option(&with(empty)), Err("--max-context"));
    let tenants = GenerateOptions {
        tenants: 2,
        ..with(Knobs {
            peak_cap: Some(5.0),
            ..Knobs::default()
        })
    };
    assert_eq!(option(&tenants), Err("--peak-cap"));
    // A cap below one request per window of the model's rate profile.
    let model = tracesynth::model::Model::default_model();
    let tiny = with(Knobs {
        peak_cap: Some(1e-6),
        ..Knobs::default()
    });
    assert_eq!(tiny.validate(), Ok(()));
    assert_eq!(
        tiny.validate_for(&model).map_err(|e| e.option),
        Err("--peak-cap")
    );
}

/// The whole numbers of the `--max-context` line in stderr, in order (the percentage
/// left out).
fn context_line(stderr: &str) -> (String, Vec<u64>) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("--max-context"))
        .unwrap_or_else(|| panic!("no --max-context line in:\n{stderr}"));
    let after = line.split_once("): ").unwrap().1;
    let numbers = after
        .split(' ')
        .filter_map(|w| w.trim_matches(|c| "(),:".contains(c)).parse().ok())
        .collect();
    (line.to_string(), numbers)
}

/// The context window of the `--max-context` tests, in tokens (a fifth of the fitted
/// Mooncake model's requests are above it).
const WINDOW: u64 = 16000;

#[test]
fn max_context_truncate_keeps_every_request_under_the_window() {
    let dir = TestDir::new();
    let model = mooncake_model(&dir);
    generate(&dir, &model, "base.jsonl", &REFERENCE);
    let n = WINDOW.to_string();
    let stderr = generate(&dir, &model, "cut.jsonl", &["--max-context", &n]);
    let (base, cut) = (read(&dir, "base.jsonl"), read(&dir, "cut.jsonl"));
    // The same requests at the same times: the policy changes lengths only.
    assert_same_requests(&base, &cut);
    assert!(cut.iter().all(|r| r.input <= WINDOW));
    assert!(base.iter().filter(|r| r.input > WINDOW).count() * 10 > base.len());
    let (line, numbers) = context_line(&stderr);
    let [hit, sessions, roots, truncated] = numbers[..] else {
        panic!("{line}")
    };
    // Each cut or truncated request is WINDOW long and was above it without the limit;
    // a request is only shorter for the limit, so the converse fails only where one
    // whose history an ancestor's truncation shortened lands on WINDOW exactly.
    let at_window = base
        .iter()
        .zip(&cut)
        .filter(|(b, c)| c.input == WINDOW && b.input > WINDOW)
        .count() as u64;
    assert!(
        roots + truncated <= at_window,
        "{line}: {at_window} at the window"
    );
    assert!(
        (roots + truncated) * 100 >= at_window * 99,
        "{line}: {at_window} at the window"
    );
    // A follow-up whose parent has the lengths of the run without the limit carries the
    // same context: it is truncated exactly when it was above the window there.
    let index: HashMap<i64, usize> = cut.iter().enumerate().map(|(i, r)| (r.chat, i)).collect();
    let plain = cut
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            let Some(&p) = index.get(&c.parent) else {
                return false;
            };
            (cut[p].input, cut[p].output) == (base[p].input, base[p].output)
                && base[*i].input > WINDOW
        })
        .count() as u64;
    assert!(plain > 0 && truncated >= plain, "{line}: {plain}");
    // A truncated follow-up keeps a leading part of its parent's blocks, then new ones.
    for (c, b) in cut.iter().zip(&base) {
        if let Some(&p) = index.get(&c.parent)
            && c.input == WINDOW
            && b.input > WINDOW
        {
            let kept = c
                .ids
                .iter()
                .zip(&cut[p].ids)
                .take_while(|(x, y)| x == y)
                .count();
            let seen: HashSet<u64> = cut[p].ids.iter().copied().collect();
            assert!(c.ids[kept..].iter().all(|id| !seen.contains(id)));
        }
    }
    assert!(hit > 0 && hit <= sessions, "{line}");
    let share = format!("({:.2} %)", 100.0 * hit as f64 / sessions as f64);
    assert!(line.contains(&share), "{line}");
    // The branches the other policy ends are the ones this one truncates first: the
    // same sessions meet the limit.
    let stderr = generate(
        &dir,
        &model,
        "end.jsonl",
        &["--max-context", &n, "--context-policy", "end"],
    );
    let (_, end) = context_line(&stderr);
    assert_eq!(end[..2], [hit, sessions]);
}

#[test]
fn max_context_end_drops_the_branches_that_pass_the_window() {
    let dir = TestDir::new();
    let model = mooncake_model(&dir);
    generate(&dir, &model, "base.jsonl", &REFERENCE);
    let n = WINDOW.to_string();
    let stderr = generate(
        &dir,
        &model,
        "end.jsonl",
        &["--max-context", &n, "--context-policy", "end"],
    );
    let (base, end) = (read(&dir, "base.jsonl"), read(&dir, "end.jsonl"));
    assert!(end.iter().all(|r| r.input <= WINDOW));
    let (line, numbers) = context_line(&stderr);
    let [hit, sessions, roots, ended, unwritten] = numbers[..] else {
        panic!("{line}")
    };
    // The run's other requests are the run's own: the output is the run without the
    // limit less the unwritten requests, in order.
    let mut rest = end.iter().peekable();
    let mut missing = 0;
    for b in &base {
        match rest.peek() {
            Some(e) if (e.timestamp, e.output) == (b.timestamp, b.output) => {
                rest.next();
            }
            _ => missing += 1,
        }
    }
    assert!(rest.next().is_none(), "the output is not a part of the run");
    assert_eq!(missing, unwritten, "{line}");
    assert!(ended > 0 && ended <= unwritten, "{line}");
    // Every written request whose branch was not ended keeps its parent.
    let chats: HashSet<i64> = end.iter().map(|r| r.chat).collect();
    assert!(
        end.iter()
            .all(|r| r.parent < 0 || chats.contains(&r.parent))
    );
    assert!(roots > 0 && hit <= sessions, "{line}");
}
