//! Every robustness window with blocks (the vendored Mooncake trace, the reference and the
//! hard cases) judged at 1x on seeds 1..=SEEDS (default 3): each row's mean distance over
//! the seeds against its tolerance. The suite judges one seed, whose noise on a 15-minute
//! window is as large as most changes of the fit; decide a change on these means.
//!
//! `cargo run --release --example robustness_seeds` (about a minute); `SEEDS=6`,
//! `ONLY=shared-mooncake,reference-a`. Prints each window's failing rows, the failures by
//! row, and a score: the sum over rows and windows of min(distance / tolerance, 3).
//! A failure whose mean distance is also beyond the window's noise floor
//! (`validate::noise`) is marked `*` and counted apart. `SHOW=row` also prints that row's real value and mean synthetic value per window.
use std::collections::BTreeMap;
use tracesynth::validate::noise::{SPLITS, noise_floor};
use tracesynth::validate::robustness::{Cut, scenario_subjects, window};
use tracesynth::validate::scenarios::SCENARIO_SECONDS;
use tracesynth::validate::{as_written, fit, same_scale};

fn main() {
    let seeds: u64 = std::env::var("SEEDS")
        .ok()
        .map_or(3, |s| s.parse().unwrap());
    let seeds: Vec<u64> = (1..=seeds).collect();
    let mut subjects = vec![
        tracesynth::validate::mooncake(std::path::Path::new("validation/data")).unwrap(),
        tracesynth::validate::reference_a(tracesynth::validate::REFERENCE_SECONDS),
    ];
    subjects.extend(scenario_subjects(SCENARIO_SECONDS));
    let only = std::env::var("ONLY").ok();
    let mut by_row: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut fails, mut score, mut windows, mut clean) = (0, 0.0, 0, 0);
    let mut beyond = 0;
    let mut beyond_by_row: BTreeMap<String, usize> = BTreeMap::new();
    for s in &subjects {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|k| k == s.key))
        {
            continue;
        }
        for m in [15, 30, 60] {
            for cut in [Cut::Start, Cut::Middle] {
                let Some(w) = window(&s.trace, m, cut) else {
                    continue;
                };
                let model = fit(&w, s.key);
                let runs = same_scale(&w, &model, &seeds).unwrap();
                let floor = noise_floor(&as_written(&w), SPLITS);
                let mut mean: BTreeMap<String, (f64, f64, usize)> = BTreeMap::new();
                if let Ok(show) = std::env::var("SHOW") {
                    let (mut real, mut synth) = (0.0, 0.0);
                    for run in &runs {
                        if let Some(r) = run.comparison.row(&show) {
                            real = r.real.unwrap_or(f64::NAN);
                            synth += r.synth.unwrap_or(f64::NAN) / runs.len() as f64;
                        }
                    }
                    println!("  {show}: real {real:.4} synthetic (mean) {synth:.4}");
                }
                for run in &runs {
                    for r in &run.comparison.rows {
                        if let (Some(d), Some(t)) = (r.distance, r.tolerance) {
                            let e = mean.entry(r.name.clone()).or_insert((0.0, t, 0));
                            e.0 += d;
                            e.2 += 1;
                        }
                    }
                }
                windows += 1;
                let mut bad = Vec::new();
                for (name, (d, t, n)) in mean {
                    let d = d / n as f64;
                    score += (d / t).min(3.0);
                    let e = by_row.entry(name.clone()).or_default();
                    e.0 += 1;
                    if d > t {
                        e.1 += 1;
                        fails += 1;
                        if floor.beyond(&name, d, t) {
                            beyond += 1;
                            *beyond_by_row.entry(name.clone()).or_default() += 1;
                            bad.push(format!("{name} {d:.4}*"));
                        } else {
                            bad.push(format!("{name} {d:.4}"));
                        }
                    }
                }
                if bad.is_empty() {
                    clean += 1;
                }
                println!("{} {m}/{}: {}", s.key, cut.label(), bad.join(", "));
            }
        }
    }
    let rows: Vec<String> = by_row
        .iter()
        .filter(|e| e.1.1 > 0)
        .map(|(k, v)| format!("{k}={}", v.1))
        .collect();
    println!("{}", rows.join(" "));
    let rows: Vec<String> = beyond_by_row
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!("beyond the noise floor: {}", rows.join(" "));
    println!(
        "windows {windows} clean {clean} fails {fails} score {score:.2} beyond-noise {beyond}"
    );
}
