//! How far two samples of one service fall apart, and whether `validate::noise` (the
//! split-half floor measured from one window) says so.
//!
//! Each hard case is built once, long (`HOURS`, default 9), so its content (prompts,
//! documents) is one service's; pairs of disjoint warm windows of it (15 and 60 minutes,
//! one window-length apart, from the first hour on) are compared row by row, as a
//! faithful model's output would be against the real window. For every row: how often
//! the pair fails the default tolerance, and how often its distance is beyond the
//! split-half floor of the first window, and beyond both (the floor is the 90th
//! percentile, so a calibrated floor is passed by about one pair in ten).
//!
//! `cargo run --release --example noise_floor` (a few minutes); `ONLY=agentic-warm`.
use std::collections::BTreeMap;
use tracesynth::compare::{CompareOptions, compare};
use tracesynth::validate::as_written;
use tracesynth::validate::noise::{SPLITS, noise_floor};
use tracesynth::validate::robustness::{SCENARIO_SEED, stretch};
use tracesynth::validate::scenarios::{build, presets};

#[derive(Default)]
struct Tally {
    judged: usize,
    over_tolerance: usize,
    over_floor: usize,
    over_both: usize,
}

fn main() {
    let hours: f64 = std::env::var("HOURS")
        .ok()
        .map_or(9.0, |s| s.parse().expect("HOURS"));
    let only = std::env::var("ONLY").ok();
    let mut by_trace: BTreeMap<(String, u32, String), Tally> = BTreeMap::new();
    let mut by_row: BTreeMap<String, Tally> = BTreeMap::new();
    for s in presets(SCENARIO_SEED, hours * 3600.0) {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|k| k == s.key))
        {
            continue;
        }
        let trace = build(&s.config);
        for minutes in [15u32, 60] {
            let seconds = f64::from(minutes) * 60.0;
            let mut from = 3600.0;
            while from + 3.0 * seconds <= hours * 3600.0 {
                let (Some(a), Some(b)) = (
                    stretch(&trace, from, seconds),
                    stretch(&trace, from + 2.0 * seconds, seconds),
                ) else {
                    break;
                };
                let (a, b) = (as_written(&a).into_owned(), as_written(&b).into_owned());
                from += 4.0 * seconds;
                let floor = noise_floor(&a, SPLITS);
                for r in compare(&a, &b, &CompareOptions::default()).rows {
                    let (Some(d), Some(t)) = (r.distance, r.tolerance) else {
                        continue;
                    };
                    let f = floor.of(&r.name).unwrap_or(0.0);
                    for tally in [
                        by_trace
                            .entry((s.key.to_string(), minutes, r.name.clone()))
                            .or_default(),
                        by_row.entry(r.name.clone()).or_default(),
                    ] {
                        tally.judged += 1;
                        tally.over_tolerance += usize::from(d > t);
                        tally.over_floor += usize::from(d > f);
                        tally.over_both += usize::from(d > t.max(f));
                    }
                }
            }
        }
    }
    println!("trace minutes row: pairs failing the tolerance / pairs (rows that fail any)");
    for ((key, minutes, row), t) in &by_trace {
        if t.over_tolerance > 0 {
            println!("  {key} {minutes} {row}: {}/{}", t.over_tolerance, t.judged);
        }
    }
    println!("row: pairs, over the tolerance, over the floor, over both");
    for (row, t) in &by_row {
        println!(
            "  {row}: {} {} {} {}",
            t.judged, t.over_tolerance, t.over_floor, t.over_both
        );
    }
}
