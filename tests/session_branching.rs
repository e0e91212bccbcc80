//! Session fits on traces drawn from a known branching process, unlike the vendored ones:
//! long agentic chains with seconds of think time (cut warm from a running process or
//! started cold, 15- and 60-minute windows, Mooncake format so that sessions are inferred
//! from block inheritance), ATC'25-like chat sessions with minutes of think time (Bailian
//! format, explicit lineage), and forking sessions whose inferred lineage gives several
//! follow-ups per parent. The fitted follow-up probability per turn must be near the
//! truth and never saturate, the implied process subcritical, and the implied requests
//! per session within 10 % of the truth.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tracesynth::fit::prepared::Prepared;
use tracesynth::model::sessions::SessionModel;
use tracesynth::trace::{Format, Request, Session, Trace};

/// A session process: P(at least one follow-up) by turn, the number of follow-ups given
/// at least one, and think times.
struct Truth {
    p: fn(u32) -> f64,
    /// P(n follow-ups | >= 1), index 0: one.
    children: Vec<f64>,
    think: fn(&mut ChaCha8Rng) -> f64,
    /// Output tokens of a request and new user tokens of a follow-up: ranges.
    output: (u64, u64),
    new_tokens: (u64, u64),
}

impl Truth {
    /// Expected requests per session, root included: sum over turns of the expected
    /// number of requests at that turn.
    fn session_size(&self) -> f64 {
        let mean: f64 = self
            .children
            .iter()
            .enumerate()
            .map(|(i, w)| (i + 1) as f64 * w)
            .sum();
        let (mut size, mut reach) = (0.0, 1.0);
        for turn in 1..=10_000 {
            size += reach;
            reach *= (self.p)(turn) * mean;
            if reach < 1e-12 {
                break;
            }
        }
        size
    }
}

struct Node {
    t: f64,
    parent: Option<usize>,
    turn: u32,
    input: u64,
    output: u64,
}

fn uniform(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> u64 {
    lo + (rng.random::<f64>() * (hi - lo + 1) as f64) as u64
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let (u, v): (f64, f64) = (rng.random(), rng.random());
    (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Roots at `rate` per second from `start` until `end`, each session run to its end;
/// requests at or after `end` are dropped. Sorted by time.
fn simulate(truth: &Truth, rate: f64, start: f64, end: f64, seed: u64) -> Vec<Node> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut nodes: Vec<Node> = Vec::new();
    let mut t = start;
    loop {
        t += -(1.0 - rng.random::<f64>()).ln() / rate;
        if t >= end {
            break;
        }
        nodes.push(Node {
            t,
            parent: None,
            turn: 1,
            input: uniform(&mut rng, 1600, 4000),
            output: uniform(&mut rng, truth.output.0, truth.output.1),
        });
    }
    let mut i = 0;
    while i < nodes.len() {
        let (pt, turn, input, output) =
            (nodes[i].t, nodes[i].turn, nodes[i].input, nodes[i].output);
        if rng.random::<f64>() < (truth.p)(turn) {
            let mut u = rng.random::<f64>();
            let mut n = truth.children.len();
            for (k, w) in truth.children.iter().enumerate() {
                if u < *w {
                    n = k + 1;
                    break;
                }
                u -= w;
            }
            for _ in 0..n {
                let ct = pt + (truth.think)(&mut rng);
                if ct < end {
                    nodes.push(Node {
                        t: ct,
                        parent: Some(i),
                        turn: turn + 1,
                        input: input
                            + output
                            + uniform(&mut rng, truth.new_tokens.0, truth.new_tokens.1),
                        output: uniform(&mut rng, truth.output.0, truth.output.1),
                    });
                }
            }
        }
        i += 1;
    }
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by(|&a, &b| nodes[a].t.total_cmp(&nodes[b].t));
    let mut new_index = vec![0; nodes.len()];
    for (k, &o) in order.iter().enumerate() {
        new_index[o] = k;
    }
    let mut sorted: Vec<Option<Node>> = (0..nodes.len()).map(|_| None).collect();
    for (o, node) in nodes.into_iter().enumerate() {
        let parent = node.parent.map(|p| new_index[p]);
        sorted[new_index[o]] = Some(Node { parent, ..node });
    }
    sorted
        .into_iter()
        .map(|n| n.expect("a permutation"))
        .collect()
}

/// The requests at or after `from`, in Mooncake form: a follow-up's ids are its parent's
/// minus the last block, then fresh ones; every root opens with one of three shared
/// system-prompt blocks (one shared block is not inheritance).
fn mooncake(nodes: &[Node], from: f64) -> Trace {
    let mut ids: Vec<Vec<u64>> = Vec::with_capacity(nodes.len());
    let mut next = 10u64;
    let mut requests = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let blocks = n.input.div_ceil(512) as usize;
        let mut own: Vec<u64> = match n.parent {
            Some(p) => {
                let parent = &ids[p];
                parent[..parent.len() - 1].to_vec()
            }
            None => vec![(i % 3) as u64],
        };
        while own.len() < blocks {
            own.push(next);
            next += 1;
        }
        if n.t >= from {
            requests.push(Request {
                timestamp: ((n.t - from) * 1000.0).round() / 1000.0,
                input_length: n.input,
                output_length: n.output,
                hash_ids: Some(own.clone()),
                session: None,
            });
        }
        ids.push(own);
    }
    Trace {
        format: Format::Mooncake,
        block_size: Some(512),
        requests,
    }
}

/// The requests at or after `from`, in Bailian form; a follow-up whose parent came
/// earlier names a chat id the file does not hold, as a window cut from a running
/// service shows.
fn bailian(nodes: &[Node], from: f64) -> Trace {
    let requests = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.t >= from)
        .map(|(i, n)| Request {
            timestamp: ((n.t - from) * 1000.0).round() / 1000.0,
            input_length: n.input,
            output_length: n.output,
            hash_ids: Some(vec![i as u64]),
            session: Some(Session {
                chat_id: i as u64,
                parent_chat_id: n.parent.map_or(-1, |p| p as i64),
                turn: n.turn,
                req_type: "text".into(),
            }),
        })
        .collect();
    Trace {
        format: Format::Bailian,
        block_size: Some(16),
        requests,
    }
}

/// Fitted P(follow-up) per turn row, buckets weighed by the trace's mix.
fn fitted_rows(model: &SessionModel) -> Vec<f64> {
    let t = &model.per_type[0];
    t.child_prob
        .iter()
        .zip(&t.input_mix)
        .map(|(p, w)| {
            let total: f64 = w.iter().sum();
            p.iter().zip(w).map(|(p, w)| p * w).sum::<f64>() / total
        })
        .collect()
}

/// The truth of a pooled last row: the share of requests at its turns or later that
/// continue, for a chain process with P(continue) `p(turn)` and one follow-up each.
fn pooled_tail(p: fn(u32) -> f64, from: u32) -> f64 {
    let (mut requests, mut continued, mut reach) = (0.0, 0.0, 1.0);
    for turn in from..10_000 {
        requests += reach;
        continued += reach * p(turn);
        reach *= p(turn);
        if reach < 1e-12 {
            break;
        }
    }
    continued / requests
}

fn check(name: &str, model: &SessionModel, truth: &Truth, rows_truth: &[f64], tol: f64) {
    let rows = fitted_rows(model);
    let b = model.branching();
    let size = truth.session_size();
    eprintln!(
        "{name}: fitted p by turn {rows:.3?}; implied size {:.3} (truth {size:.3}); \
         mean offspring {:.3?}; warnings {:?}",
        b.expected_size, b.mean_offspring, model.fit_warnings
    );
    for (row, (&fit, &want)) in rows.iter().zip(rows_truth).enumerate() {
        assert!(
            (fit - want).abs() <= tol,
            "{name}: turn row {} fitted {fit:.3}, truth {want:.3}",
            row + 1
        );
    }
    let t = &model.per_type[0];
    assert!(
        t.child_prob.iter().flatten().all(|&p| p < 0.99),
        "{name}: saturated {:?}",
        t.child_prob
    );
    assert!(model.is_subcritical(), "{name}: supercritical");
    assert!(
        b.expected_size.is_finite() && (b.expected_size / size - 1.0).abs() <= 0.10,
        "{name}: implied size {} against {size}",
        b.expected_size
    );
    assert!(
        model.fit_warnings.is_empty(),
        "{name}: {:?}",
        model.fit_warnings
    );
}

fn agentic() -> Truth {
    Truth {
        p: |turn| if turn < 30 { 0.9 } else { 0.0 },
        children: vec![1.0],
        think: |rng| 1.0 + 5.0 * rng.random::<f64>(),
        output: (100, 400),
        new_tokens: (50, 200),
    }
}

#[test]
fn long_agentic_chains_in_warm_and_cold_windows() {
    let truth = agentic();
    let tail = pooled_tail(truth.p, 8);
    let mut rows_truth = vec![0.9; 7];
    rows_truth.push(tail);
    for (window, rate) in [(900.0, 1.0), (3600.0, 0.4)] {
        for warm in [false, true] {
            let start = if warm { -1800.0 } else { 0.0 };
            let nodes = simulate(&truth, rate, start, window, 7 + window as u64);
            let p = Prepared::new(mooncake(&nodes, 0.0), 1);
            let model = SessionModel::fit(&p, &[]);
            let name = format!("agentic {window} s {}", if warm { "warm" } else { "cold" });
            check(&name, &model, &truth, &rows_truth, 0.04);
        }
    }
}

#[test]
fn atc_like_chat_with_minutes_of_think_time() {
    let truth = Truth {
        p: |turn| if turn == 1 { 0.5 } else { 0.8 },
        children: vec![1.0],
        // Log-normal, median 2 minutes.
        think: |rng| 120.0 * (0.8 * normal(rng)).exp(),
        output: (100, 800),
        new_tokens: (10, 200),
    };
    let mut rows_truth = vec![0.5];
    rows_truth.extend([0.8; 7]);
    for warm in [false, true] {
        let start = if warm { -4.0 * 3600.0 } else { 0.0 };
        let nodes = simulate(&truth, 1.0, start, 3600.0, 11);
        let p = Prepared::new(bailian(&nodes, 0.0), 1);
        let model = SessionModel::fit(&p, &[]);
        let name = format!("atc-like {}", if warm { "warm" } else { "cold" });
        check(&name, &model, &truth, &rows_truth, 0.05);
    }
}

#[test]
fn inferred_lineage_with_several_follow_ups_per_parent() {
    // Each request forks into one to three follow-ups (parallel tool calls, regenerated
    // answers); each adds at least two blocks, so siblings are told apart by their ids.
    let truth = Truth {
        p: |_| 0.45,
        children: vec![0.5, 0.3, 0.2],
        think: |rng| -20.0 * (1.0 - rng.random::<f64>()).ln(),
        output: (700, 1200),
        new_tokens: (400, 800),
    };
    let nodes = simulate(&truth, 1.0, 0.0, 1800.0, 5);
    let p = Prepared::new(mooncake(&nodes, 0.0), 1);
    let model = SessionModel::fit(&p, &[]);
    let mean = model.per_type[0].mean_children();
    assert!((mean - 1.7).abs() < 0.1, "mean children {mean}");
    check("forking", &model, &truth, &[0.45; 8], 0.05);
}

#[test]
fn a_supercritical_model_file_is_refused() {
    let truth = agentic();
    let nodes = simulate(&truth, 1.0, 0.0, 900.0, 3);
    let trace = mooncake(&nodes, 0.0);
    let model = tracesynth::fit::fit_trace(
        trace,
        tracesynth::fit::SourceInfo {
            name: "chains".into(),
            sha256: String::new(),
        },
        &Default::default(),
    );
    model.validate().expect("the fitted model is valid");
    let mut bad = model.clone();
    let t = &mut bad.sessions.per_type[0];
    t.children_count = vec![0.0, 1.0];
    for p in t.child_prob.last_mut().unwrap() {
        *p = 0.6;
    }
    let err = tracesynth::model::Model::from_json(&bad.to_json(), "bad.json")
        .expect_err("supercritical")
        .to_string();
    assert!(
        err.contains("sessions.per_type[0].child_prob") && err.contains("below 1"),
        "{err}"
    );
}

#[test]
fn a_window_of_a_supercritical_process_still_fits_a_subcritical_model() {
    // Forks with mean offspring 0.7 * 1.7 = 1.19: every window of it grows. The fit must
    // say so and hand back a process whose sessions end.
    let truth = Truth {
        p: |_| 0.7,
        children: vec![0.5, 0.3, 0.2],
        think: |rng| -20.0 * (1.0 - rng.random::<f64>()).ln(),
        output: (700, 1200),
        new_tokens: (400, 800),
    };
    let nodes = simulate(&truth, 0.2, 0.0, 400.0, 9);
    let p = Prepared::new(mooncake(&nodes, 0.0), 1);
    let model = SessionModel::fit(&p, &[]);
    eprintln!("{:?}", model.fit_warnings);
    assert!(!model.fit_warnings.is_empty());
    assert!(model.is_subcritical(), "{:?}", model.branching());
    assert!(model.expected_session_size().is_finite());
    model.validate(1).expect("a valid session model");
}

/// Figures for the report, on a trace file: `TS_REPORT_TRACE=path [TS_REPORT_OLD=model]
/// cargo test --release --test session_branching report -- --ignored --nocapture`. The
/// old model, if given, is judged with the new fit's input mix (it has none of its own).
#[test]
#[ignore]
fn report_fitted_sessions_of_a_trace() {
    let Ok(path) = std::env::var("TS_REPORT_TRACE") else {
        return;
    };
    let trace = tracesynth::trace::read_trace(&path, None).expect("readable trace");
    let p = Prepared::new(trace, 0);
    let model = SessionModel::fit(&p, &[]);
    let observed = tracesynth::model::sessions::ObservedSessions::of(&p);
    let show = |name: &str, m: &SessionModel| {
        let b = m.branching();
        eprintln!(
            "{name}: mean offspring by turn {:.3?}; implied size {:.3}; tail radius {:.3} \
             (worst bucket {:.3}); subcritical {}",
            b.mean_offspring,
            b.expected_size,
            b.tail_radius,
            b.worst_tail_radius,
            m.is_subcritical()
        );
        for t in &m.per_type {
            let rows: Vec<f64> = t
                .child_prob
                .iter()
                .zip(&t.input_mix)
                .map(|(p, w)| {
                    let total: f64 = w.iter().sum::<f64>().max(1e-12);
                    p.iter().zip(w).map(|(p, w)| p * w).sum::<f64>() / total
                })
                .collect();
            let max = t.child_prob.iter().flatten().copied().fold(0.0, f64::max);
            eprintln!(
                "  p by turn {rows:.3?}; max cell {max:.3}; mean children {:.3}",
                t.mean_children()
            );
        }
    };
    eprintln!(
        "observed: mean offspring {:.3?} (horizon {:.0} s); size {:.3}; histogram tail {:.3}",
        observed.mean_offspring, observed.horizon, observed.size, observed.histogram_tail
    );
    show("new", &model);
    eprintln!("warnings: {:?}", model.fit_warnings);
    if let Ok(old) = std::env::var("TS_REPORT_OLD") {
        let mut old = tracesynth::model::Model::load(std::path::Path::new(&old))
            .expect("old model")
            .sessions;
        for (o, n) in old.per_type.iter_mut().zip(&model.per_type) {
            if o.input_bounds.len() == n.input_bounds.len()
                && o.child_prob.len() == n.child_prob.len()
            {
                o.input_mix = n.input_mix.clone();
            }
        }
        show("old", &old);
    }
}
