//! Round trip: a trace generated from a known model, fitted again, gives back the
//! model's parameters within sampling error.

use tracesynth::fit::{FitOptions, SourceInfo, fit_trace};
use tracesynth::generate::{GenerateOptions, Generator};
use tracesynth::model::Model;
use tracesynth::trace::{Format, Trace, read_trace, writer_for};

/// Generate `hours` from `model` as Mooncake JSONL (the model's own block size), read it
/// back through the reader as a user's file would be, and fit it.
fn refit(model: &Model, hours: f64, seed: u64) -> Model {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("round.jsonl");
    let mut bytes = Vec::new();
    {
        let mut w = writer_for(Format::Mooncake, &mut bytes, Some(model.block_size)).unwrap();
        let options = GenerateOptions {
            seed,
            duration: Some(hours * 3600.0),
            ..Default::default()
        };
        for req in Generator::new(model, options) {
            w.write(&req.unwrap()).unwrap();
        }
    }
    std::fs::write(&path, bytes).unwrap();
    let trace: Trace = read_trace(path.to_str().unwrap(), None).unwrap();
    let source = SourceInfo {
        name: "round.jsonl".into(),
        sha256: String::new(),
    };
    fit_trace(trace, source, &FitOptions::default())
}

fn close(what: &str, got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs().max(1e-9),
        "{what}: recovered {got:.4}, true {want:.4} (allowed {:.0} %)",
        rel * 100.0
    );
}

#[test]
fn a_fitted_model_recovers_the_parameters_it_was_generated_from() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mooncake-conversation.json");
    let truth = Model::load(&path).unwrap();
    // Ten hours: the first hour starts cold (as the fitted trace did), later hours are
    // in their steady state, so compare against a model fitted on the same kind of
    // window: the truth's first hour repeated is what the rate profile describes.
    let fitted = refit(&truth, 10.0, 21);

    // Arrivals: the root rate (the profile repeats, so its mean is the truth's) and the
    // burstiness of gaps.
    close(
        "mean root rate",
        fitted.arrivals.mean_rate(),
        truth.arrivals.mean_rate(),
        0.08,
    );
    assert_eq!(fitted.time_quantum, truth.time_quantum, "time grid");

    // Lengths of roots: own input and output medians and their dependence.
    let (t, f) = (
        &truth.lengths.per_type[0].root,
        &fitted.lengths.per_type[0].root,
    );
    close(
        "root own-input median",
        f.own_input.median(),
        t.own_input.median(),
        0.08,
    );
    close(
        "root output median",
        f.output.median(),
        t.output.median(),
        0.05,
    );
    assert!(
        (f.dependence.rho - t.dependence.rho).abs() < 0.05,
        "root copula rho"
    );

    // Follow-ups: the growth rule and the think time.
    let (t, f) = (
        &truth.lengths.per_type[0].followup,
        &fitted.lengths.per_type[0].followup,
    );
    assert_eq!(f.carried_output, t.carried_output);
    close(
        "new tokens median",
        f.new_tokens.median(),
        t.new_tokens.median(),
        0.25,
    );
    close(
        "follow-up output median",
        f.output.median(),
        t.output.median(),
        0.05,
    );
    let (t, f) = (&truth.sessions.per_type[0], &fitted.sessions.per_type[0]);
    // The think time's split by parent output may differ (a weak dependence can fall
    // under the split threshold), so compare it over the parents' output distribution.
    let outputs = &truth.lengths.per_type[0].root.output;
    let mixed = |s: &tracesynth::model::sessions::TypeSessions, q: f64| {
        let mut v: Vec<f64> = (0..300)
            .flat_map(|i| {
                let out = outputs.at((i as f64 + 0.5) / 300.0) as u64;
                (0..301).map(move |j| (out, (j as f64 + 0.5) / 301.0))
            })
            .map(|(out, u)| s.think_time.at(out, u))
            .collect();
        v.sort_by(f64::total_cmp);
        v[(q * v.len() as f64) as usize]
    };
    close("think time median", mixed(f, 0.5), mixed(t, 0.5), 0.10);
    close("think time p90", mixed(f, 0.9), mixed(t, 0.9), 0.12);

    // Sessions: the probability of a follow-up after turn 1 in each context-size bucket.
    let p = |s: &tracesynth::model::sessions::TypeSessions, input: u64| s.child_prob(1, input);
    for input in [2_000, 6_000, 12_000, 40_000] {
        let (pt, pf) = (p(t, input), p(f, input));
        assert!(
            (pt - pf).abs() < 0.05,
            "P(follow-up | turn 1, {input} tokens): {pf:.3} vs {pt:.3}"
        );
    }

    // Blocks: every root still shares the one system-prompt block, and new shared
    // prefixes are born at the same rate per root.
    assert_eq!(
        fitted.blocks.prefixes[0].blocks,
        truth.blocks.prefixes[0].blocks
    );
    let births = |m: &Model| {
        let c = &m.blocks.root_choice[0];
        c.birth.iter().map(|e| e.1).sum::<f64>() / c.total()
    };
    close(
        "ephemeral prefix births per root",
        births(&fitted),
        births(&truth),
        0.2,
    );
}
