//! How well block-inheritance lineage inference (`fit::prepared`) recovers sessions.
//!
//! On the Mooncake hard cases of `validate::scenarios` the builder knows every request's
//! true parent, so the inferred parent links get a precision (inferred links that are
//! true) and a recall (true links inside the trace that were inferred), on the whole
//! two-hour trace and on each robustness window. The real Mooncake trace has no truth:
//! it gets the counts of inferred turns, of exact repeats (a request whose ids equal an
//! earlier one's) and of parents with several children.
//!
//! ```sh
//! cargo run --release --example lineage                 # inference only (seconds)
//! cargo run --release --example lineage -- --robustness  # + the robustness rows of every
//!                                                        #   shared/agentic window, fitted
//!                                                        #   on inferred and on true sessions
//! ```

use std::collections::HashMap;
use std::path::Path;

use tracesynth::compare::Verdict;
use tracesynth::fit::prepared::Prepared;
use tracesynth::trace::{Trace, read_trace};
use tracesynth::validate::robustness::{Cut, SCENARIO_SEED, WINDOW_MINUTES, run_window, window};
use tracesynth::validate::scenarios::{SCENARIO_SECONDS, build_with_sessions, presets};

const KEYS: [&str; 4] = [
    "shared-mooncake",
    "shared-trend",
    "agentic-mooncake",
    "agentic-warm",
];

/// Inference against the truth on one trace.
#[derive(Default)]
struct Score {
    requests: usize,
    /// True follow-ups whose parent is in the trace.
    true_links: usize,
    inferred_links: usize,
    correct: usize,
    /// Inferred follow-ups that are true roots (or whose parent is outside the trace).
    on_roots: usize,
    /// Inferred follow-ups attached to the wrong request of the trace.
    misattached: usize,
    truncated: usize,
    true_max_turn: u32,
    inferred_max_turn: u32,
    /// Requests whose inferred turn exceeds the largest true turn.
    beyond_max_turn: usize,
    true_sessions: usize,
    inferred_sessions: usize,
}

fn score(with_sessions: &Trace) -> Score {
    let index: HashMap<u64, usize> = with_sessions
        .requests
        .iter()
        .enumerate()
        .map(|(i, r)| (r.session.as_ref().expect("truth").chat_id, i))
        .collect();
    let truth: Vec<Option<usize>> = with_sessions
        .requests
        .iter()
        .map(|r| {
            r.session
                .as_ref()
                .and_then(|s| s.parent())
                .and_then(|p| index.get(&p).copied())
        })
        .collect();
    let mut bare = with_sessions.clone();
    for r in &mut bare.requests {
        r.session = None;
    }
    let p = Prepared::new(bare, 0);
    let mut s = Score {
        requests: truth.len(),
        ..Score::default()
    };
    for (i, r) in p.requests.iter().enumerate() {
        let real_turn = with_sessions.requests[i].session.as_ref().unwrap().turn;
        s.true_max_turn = s.true_max_turn.max(real_turn);
        s.inferred_max_turn = s.inferred_max_turn.max(r.turn);
        s.true_links += usize::from(truth[i].is_some());
        s.true_sessions += usize::from(
            with_sessions.requests[i]
                .session
                .as_ref()
                .unwrap()
                .is_root(),
        );
        s.inferred_sessions += usize::from(r.is_root());
        if let Some(parent) = r.parent {
            s.inferred_links += 1;
            s.truncated += usize::from(r.kept_blocks.is_some());
            match truth[i] {
                Some(t) if t == parent => s.correct += 1,
                Some(_) => s.misattached += 1,
                None => s.on_roots += 1,
            }
        }
    }
    s.beyond_max_turn = p
        .requests
        .iter()
        .filter(|r| r.turn > s.true_max_turn)
        .count();
    s
}

fn print_score_header() {
    println!(
        "| trace | window | requests | true links | inferred | precision | recall | on roots | misattached | truncated | max turn true/inferred | beyond true max | sessions true/inferred |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|");
}

fn print_score(key: &str, label: &str, s: &Score) {
    println!(
        "| {key} | {label} | {} | {} | {} | {:.4} | {:.4} | {} | {} | {} | {}/{} | {} ({:.2} %) | {}/{} |",
        s.requests,
        s.true_links,
        s.inferred_links,
        s.correct as f64 / s.inferred_links.max(1) as f64,
        s.correct as f64 / s.true_links.max(1) as f64,
        s.on_roots,
        s.misattached,
        s.truncated,
        s.true_max_turn,
        s.inferred_max_turn,
        s.beyond_max_turn,
        100.0 * s.beyond_max_turn as f64 / s.requests.max(1) as f64,
        s.true_sessions,
        s.inferred_sessions,
    );
}

/// Lineage counts of a trace without truth.
fn describe(key: &str, trace: &Trace) {
    let p = Prepared::new(trace.clone(), 0);
    let mut turns: Vec<usize> = Vec::new();
    for r in &p.requests {
        let t = r.turn as usize;
        if turns.len() < t {
            turns.resize(t, 0);
        }
        turns[t - 1] += 1;
    }
    let mut seen: HashMap<Vec<u64>, usize> = HashMap::new();
    let (mut repeats, mut repeats_linked) = (0, 0);
    for (i, r) in p.requests.iter().enumerate() {
        if r.blocks == 0 {
            continue;
        }
        if seen.insert(p.ids(i).collect(), i).is_some() {
            repeats += 1;
            repeats_linked += usize::from(r.parent.is_some());
        }
    }
    let links = p.requests.iter().filter(|r| r.parent.is_some()).count();
    let truncated = p
        .requests
        .iter()
        .filter(|r| r.kept_blocks.is_some())
        .count();
    let branching = p.requests.iter().filter(|r| r.children >= 2).count();
    println!(
        "{key}: {} requests, {links} inferred links ({truncated} truncated), {} sessions, \
         {repeats} exact repeats ({repeats_linked} of them inferred follow-ups), {branching} \
         requests with >= 2 children",
        p.requests.len(),
        p.roots().count(),
    );
    let shown: Vec<String> = turns
        .iter()
        .enumerate()
        .map(|(t, n)| format!("{}:{n}", t + 1))
        .collect();
    println!("{key}: requests by inferred turn {}", shown.join(" "));
}

fn main() {
    let robustness = std::env::args().any(|a| a == "--robustness");
    let scenarios: Vec<_> = presets(SCENARIO_SEED, SCENARIO_SECONDS)
        .into_iter()
        .filter(|s| KEYS.contains(&s.key))
        .map(|s| (s.key, build_with_sessions(&s.config)))
        .collect();
    let cuts = [Cut::Start, Cut::Middle];
    print_score_header();
    for (key, trace) in &scenarios {
        print_score(key, "whole", &score(trace));
        for m in WINDOW_MINUTES {
            for cut in cuts {
                if let Some(w) = window(trace, m, cut) {
                    print_score(key, &format!("{m}/{}", cut.label()), &score(&w));
                }
            }
        }
    }
    println!();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("validation/data");
    let path = data.join("mooncake/conversation_trace.jsonl");
    let moon = read_trace(&path.to_string_lossy(), None).expect("the vendored Mooncake trace");
    describe("mooncake", &moon);
    for (key, trace) in &scenarios {
        let mut bare = trace.clone();
        for r in &mut bare.requests {
            r.session = None;
        }
        describe(key, &bare);
    }
    if !robustness {
        return;
    }
    println!();
    println!("| trace | window | lineage | fail | failing rows |");
    println!("|---|---|---|---:|---|");
    for (key, trace) in &scenarios {
        for m in WINDOW_MINUTES {
            for cut in cuts {
                let Some(w) = window(trace, m, cut) else {
                    continue;
                };
                let mut bare = w.clone();
                for r in &mut bare.requests {
                    r.session = None;
                }
                for (lineage, t) in [("inferred", &bare), ("true", &w)] {
                    let r = run_window(key, m, cut, t, 1).expect("generating");
                    // The true-session fit is judged on the rows the inferred one has, so
                    // the two lines compare like with like.
                    let failing: Vec<String> = r
                        .run
                        .comparison
                        .rows
                        .iter()
                        .filter(|row| row.verdict == Verdict::Fail)
                        .filter(|row| !SESSION_ROWS.contains(&row.name.as_str()))
                        .map(|row| format!("{} {:.4}", row.name, row.distance.unwrap_or(f64::NAN)))
                        .collect();
                    println!(
                        "| {key} | {m}/{} | {lineage} | {} | {} |",
                        cut.label(),
                        failing.len(),
                        failing.join(", ")
                    );
                }
            }
        }
    }
}

/// Rows only a trace with session fields is judged on.
const SESSION_ROWS: [&str; 8] = [
    "root_share",
    "single_request_sessions",
    "children.tv",
    "turns.tv",
    "think_time.ks",
    "new_tokens.ks",
    "type_mix.tv",
    "type_transitions.tv",
];
