//! Diagnostic for the robustness scenario: fit one window of a hard-case trace, generate
//! its span and split the input-length mismatch by where a request sits in its session.
//!
//! `cargo run --release --example window_lengths -- agentic-warm 60 middle [seed]`
//!
//! Both traces are read through the fit's own lineage ([`Prepared`]), so roots, orphans
//! (follow-ups whose parent is outside the file) and turns are counted the same way on
//! either side. For each group it prints the share of requests, the input p50 on both
//! sides and the KS distance of the group's input lengths; then the same for outputs.
//! `mooncake` as the key reads the vendored Mooncake trace from `../shared/data`.
//!
//! More, by environment variable: `WINDOW_PROBS=1` the fitted follow-up probabilities by
//! turn row and input bucket; `WINDOW_GROWTH=1` the new tokens per inferred link on both
//! sides; `WINDOW_CHAIN=1` the real window's deepest parent chain; `WINDOW_TURNS=1`
//! requests and input p50 by turn; `WINDOW_LINKS=path` every request's inferred parent
//! (to diff two builds of the lineage inference).

use tracesynth::fit::prepared::Prepared;
use tracesynth::generate::GenerateOptions;
use tracesynth::metrics::distance::ks_distance;
use tracesynth::trace::Trace;
use tracesynth::validate::robustness::{Cut, scenario_subjects, window};
use tracesynth::validate::scenarios::SCENARIO_SECONDS;
use tracesynth::validate::{covering_span, fit, synthesize};

/// Groups of requests by lineage: a label and a test on (root, orphan, turn).
type Group = (&'static str, fn(bool, bool, u32) -> bool);

const GROUPS: [Group; 8] = [
    ("all", |_, _, _| true),
    ("roots", |root, _, _| root),
    ("orphans", |_, orphan, _| orphan),
    ("follow-ups", |root, orphan, _| !root && !orphan),
    ("turn 2-3", |root, orphan, t| {
        !root && !orphan && (2..=3).contains(&t)
    }),
    ("turn 4-8", |root, orphan, t| {
        !root && !orphan && (4..=8).contains(&t)
    }),
    ("turn 9-16", |root, orphan, t| {
        !root && !orphan && (9..=16).contains(&t)
    }),
    ("turn 17+", |root, orphan, t| !root && !orphan && t >= 17),
];

fn lengths(p: &Prepared, keep: fn(bool, bool, u32) -> bool) -> (Vec<f64>, Vec<f64>) {
    p.requests
        .iter()
        .filter(|r| keep(r.is_root(), r.orphan, r.turn))
        .map(|r| (r.input as f64, r.output as f64))
        .unzip()
}

fn p50(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

fn table(real: &Prepared, synth: &Prepared, column: usize) {
    println!(
        "{:<11} {:>7} {:>7} {:>8} {:>8} {:>7}",
        "group", "share", "share'", "p50", "p50'", "ks"
    );
    for (name, keep) in GROUPS {
        let (r, s) = (lengths(real, keep), lengths(synth, keep));
        let (r, s) = if column == 0 { (r.0, s.0) } else { (r.1, s.1) };
        let ks = ks_distance(&r, &s).unwrap_or(f64::NAN);
        println!(
            "{name:<11} {:>7.3} {:>7.3} {:>8.0} {:>8.0} {ks:>7.4}",
            r.len() as f64 / real.requests.len() as f64,
            s.len() as f64 / synth.requests.len() as f64,
            p50(&r),
            p50(&s),
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let key = args.get(1).map_or("agentic-warm", String::as_str);
    let minutes: u32 = args.get(2).map_or(60, |m| m.parse().expect("minutes"));
    let cut = args
        .get(3)
        .and_then(|c| Cut::from_label(c))
        .unwrap_or(Cut::Middle);
    let seed: u64 = args.get(4).map_or(1, |s| s.parse().expect("seed"));
    let subject = if key == "mooncake" {
        tracesynth::validate::mooncake(std::path::Path::new("../shared/data")).expect("data")
    } else if key == "reference-a" {
        tracesynth::validate::reference_a(tracesynth::validate::REFERENCE_SECONDS)
    } else {
        scenario_subjects(SCENARIO_SECONDS)
            .into_iter()
            .find(|s| s.key == key)
            .expect("a scenario key: agentic-bailian, agentic-mooncake, agentic-warm, ...")
    };
    let real: Trace = window(&subject.trace, minutes, cut).expect("window fits the trace");
    let model = fit(&real, key);
    let options = GenerateOptions {
        seed,
        duration: Some(covering_span(&real, &model)),
        ..Default::default()
    };
    let synth = synthesize(&model, options, &real).expect("ids suffice");
    println!(
        "{key} {minutes}/{} seed {seed}: {} real, {} generated, warm_up {:.0} s",
        cut.label(),
        real.requests.len(),
        synth.requests.len(),
        model.warm_up
    );
    if std::env::var_os("WINDOW_PROBS").is_some() {
        for (ty, t) in model.sessions.per_type.iter().enumerate() {
            println!("type {} bounds {:?}", model.types[ty], t.input_bounds);
            for (row, p) in t.child_prob.iter().enumerate() {
                let p: Vec<String> = p.iter().map(|x| format!("{x:.3}")).collect();
                println!("  turn {:>2}: {}", row + 1, p.join(" "));
            }
        }
    }
    let (real, synth) = (Prepared::new(real, 0), Prepared::new(synth, 0));
    for (side, p) in [("real", &real), ("generated", &synth)] {
        let truncated = p
            .requests
            .iter()
            .filter(|r| r.kept_blocks.is_some())
            .count();
        let max_turn = p.requests.iter().map(|r| r.turn).max().unwrap_or(0);
        println!("{side}: {truncated} truncated continuations, deepest turn {max_turn}");
    }
    println!("input (' = generated)");
    table(&real, &synth, 0);
    println!("output");
    table(&real, &synth, 1);
    if let Some(path) = std::env::var_os("WINDOW_LINKS") {
        links(&real, &path.to_string_lossy());
    }
    if std::env::var_os("WINDOW_GROWTH").is_some() {
        growth(&real);
        growth(&synth);
    }
    if std::env::var_os("WINDOW_CHAIN").is_some() {
        deepest_chain(&real);
    }
    if std::env::var_os("WINDOW_TURNS").is_some() {
        by_turn(&real, &synth);
    }
    if std::env::var_os("WINDOW_KINDS").is_some() {
        by_kind(&real, &synth);
    }
}

/// Roots by where the blocks fit says their prefix came from, both sides read by the
/// same fit (`WINDOW_KINDS=1`): share of roots, input and shared-token p50s and KS.
pub fn by_kind(real: &Prepared, synth: &Prepared) {
    use tracesynth::model::blocks::{BlockModel, PrefixKind};
    let (fr, fs) = (BlockModel::fit(real), BlockModel::fit(synth));
    // Share of roots that the fit calls births, by tenth of the span: the last tenths
    // show births whose first reuse fell after the end (they read as unshared).
    for (side, p, f) in [("real", real, &fr), ("generated", synth, &fs)] {
        let mut births = [0usize; 10];
        let mut nones = [0usize; 10];
        let mut roots = [0usize; 10];
        for (i, r) in p.requests.iter().enumerate() {
            if !r.is_root() {
                continue;
            }
            let d = ((r.t / p.span.max(1e-9)) * 10.0).floor().clamp(0.0, 9.0) as usize;
            roots[d] += 1;
            births[d] += usize::from(f.kinds[i] == PrefixKind::Birth);
            nones[d] += usize::from(f.kinds[i] == PrefixKind::None);
        }
        let cells: Vec<String> = (0..10)
            .map(|d| {
                format!(
                    "{:.2}/{:.2}",
                    births[d] as f64 / roots[d].max(1) as f64,
                    nones[d] as f64 / roots[d].max(1) as f64
                )
            })
            .collect();
        println!("{side:<9} birth/none share by tenth: {}", cells.join(" "));
    }
    println!(
        "{:<11} {:>6} {:>6} {:>7} {:>7} {:>6} {:>7} {:>7} {:>6} {:>7} {:>7} {:>6}",
        "kind",
        "share",
        "share'",
        "in50",
        "in50'",
        "ks",
        "sh50",
        "sh50'",
        "ks",
        "own50",
        "own50'",
        "ks"
    );
    for kind in PrefixKind::ALL {
        let of = |p: &Prepared, f: &tracesynth::model::blocks::BlockFit| {
            let mut v = (Vec::new(), Vec::new(), Vec::new());
            let mut n = 0usize;
            for (i, r) in p.requests.iter().enumerate() {
                if !r.is_root() {
                    continue;
                }
                n += 1;
                if f.kinds[i] == kind {
                    v.0.push(r.input as f64);
                    v.1.push(f.shared_tokens[i] as f64);
                    v.2.push(r.input.saturating_sub(f.shared_tokens[i]) as f64);
                }
            }
            (v, n)
        };
        let ((r, nr), (s, ns)) = (of(real, &fr), of(synth, &fs));
        let ks = |a: &[f64], b: &[f64]| ks_distance(a, b).unwrap_or(f64::NAN);
        // The real roots' inputs had their own tokens been independent of their shared
        // prefix: shared plus a rotated own (a fixed derangement, deterministic).
        let n = r.1.len();
        let independent: Vec<f64> = (0..n)
            .map(|i| r.1[i] + r.2[(i + n / 2) % n.max(1)])
            .collect();
        println!(
            "  {kind:?}: input KS had own been independent of the prefix {:.3}",
            ks(&r.0, &independent)
        );
        println!(
            "{:<11} {:>6.3} {:>6.3} {:>7.0} {:>7.0} {:>6.3} {:>7.0} {:>7.0} {:>6.3} {:>7.0} {:>7.0} {:>6.3}",
            format!("{kind:?}"),
            r.0.len() as f64 / nr.max(1) as f64,
            s.0.len() as f64 / ns.max(1) as f64,
            p50(&r.0),
            p50(&s.0),
            ks(&r.0, &s.0),
            p50(&r.1),
            p50(&s.1),
            ks(&r.1, &s.1),
            p50(&r.2),
            p50(&s.2),
            ks(&r.2, &s.2),
        );
    }
}

/// Requests and input p50 by turn, both sides (`WINDOW_TURNS=1` prints it).
pub fn by_turn(real: &Prepared, synth: &Prepared) {
    println!(
        "{:>4} {:>6} {:>6} {:>8} {:>8}",
        "turn", "n", "n'", "p50", "p50'"
    );
    let max = real
        .requests
        .iter()
        .chain(&synth.requests)
        .map(|r| r.turn)
        .max()
        .unwrap_or(1);
    for t in 1..=max {
        let of = |p: &Prepared| -> Vec<f64> {
            p.requests
                .iter()
                .filter(|r| r.turn == t && !r.orphan)
                .map(|r| r.input as f64)
                .collect()
        };
        let (r, s) = (of(real), of(synth));
        println!(
            "{t:>4} {:>6} {:>6} {:>8.0} {:>8.0}",
            r.len(),
            s.len(),
            p50(&r),
            p50(&s)
        );
    }
}

/// The parent chain of the deepest request (`WINDOW_CHAIN=1`): when each request came,
/// its input, blocks, how many leading blocks it shares with its parent, and how many
/// children the parent has.
pub fn deepest_chain(p: &Prepared) {
    let Some(mut i) = (0..p.requests.len()).max_by_key(|&i| p.requests[i].turn) else {
        return;
    };
    loop {
        let r = &p.requests[i];
        let common = r.parent.map_or(0, |j| {
            p.ids(i).zip(p.ids(j)).take_while(|(a, b)| a == b).count()
        });
        println!(
            "turn {:>3} t {:>8.1} input {:>6} out {:>5} blocks {:>3} shared-with-parent {:>3} parent-children {}",
            r.turn,
            r.t,
            r.input,
            r.output,
            r.blocks,
            common,
            r.parent.map_or(0, |j| p.requests[j].children)
        );
        match r.parent {
            Some(j) => i = j,
            None => break,
        }
    }
}

/// How inferred links grow the context (`WINDOW_GROWTH=1`): a follow-up's input less its
/// parent's input and output (the new tokens; the brief's growth rule says >= 0 for chat).
pub fn growth(p: &Prepared) {
    let mut new: Vec<f64> = p
        .requests
        .iter()
        .filter(|r| r.kept_blocks.is_none())
        .filter_map(|r| {
            let q = &p.requests[r.parent?];
            Some(r.input as f64 - q.input as f64 - q.output as f64)
        })
        .collect();
    new.sort_by(f64::total_cmp);
    let n = new.len().max(1) as f64;
    let below = |x: f64| new.iter().filter(|&&v| v < x).count() as f64 / n;
    let shrink = p
        .requests
        .iter()
        .filter(|r| r.kept_blocks.is_none())
        .filter(|r| r.parent.is_some_and(|j| r.input < p.requests[j].input))
        .count() as f64
        / n;
    println!(
        "links {}: new tokens < 0 {:.3}, < -512 {:.3}; input below the parent's {shrink:.3}; \
         new p10/p50/mean {:.0}/{:.0}/{:.0}, parent output mean {:.0}",
        new.len(),
        below(0.0),
        below(-512.0),
        new.get(new.len() / 10).copied().unwrap_or(f64::NAN),
        new.get(new.len() / 2).copied().unwrap_or(f64::NAN),
        new.iter().sum::<f64>() / n,
        p.requests
            .iter()
            .filter(|r| r.kept_blocks.is_none())
            .filter_map(|r| Some(p.requests[r.parent?].output as f64))
            .sum::<f64>()
            / n,
    );
}

/// Every request's inferred parent, one line each (`WINDOW_LINKS=path`), to diff two
/// builds of the lineage inference.
pub fn links(p: &Prepared, path: &str) {
    use std::fmt::Write;
    let mut s = String::new();
    for (i, r) in p.requests.iter().enumerate() {
        let (pi, pin, plen) = r.parent.map_or((-1, 0, 0), |j| {
            let q = &p.requests[j];
            (j as i64, q.input, q.blocks)
        });
        writeln!(
            s,
            "{i} parent {pi} kept {:?} input {} parent_input {pin} blocks {} parent_blocks {plen} t {:.1}",
            r.kept_blocks,
            r.input,
            r.blocks,
            r.t
        )
        .expect("write to a string");
    }
    std::fs::write(path, s).expect("writable path");
}
