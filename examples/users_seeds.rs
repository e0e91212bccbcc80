//! The users scenario (section 2c of `validation/REPORT.md`) on seeds 1..=SEEDS (default
//! 3): per trace, case and judged row, the mean and worst distance over the seeds and
//! the seeds that failed. `ONLY=mooncake,documents`, `CASES=0,1` (indices of
//! `users::Case::ALL`). Decide a change of the scaled law on these, not on one seed.
use std::collections::BTreeMap;
use tracesynth::validate::users::{self, Case};

fn main() {
    let seeds: u64 = std::env::var("SEEDS")
        .ok()
        .map_or(3, |s| s.parse().unwrap());
    let only = std::env::var("ONLY").ok();
    let cases: Vec<Case> = match std::env::var("CASES") {
        Ok(c) => c
            .split(',')
            .map(|i| Case::ALL[i.parse::<usize>().unwrap()])
            .collect(),
        Err(_) => Case::ALL.to_vec(),
    };
    let moon = tracesynth::validate::mooncake(std::path::Path::new("validation/data")).unwrap();
    let (docs, config) = users::documents(users::DOCUMENTS_SECONDS);
    let (mut fails, mut score) = (0, 0.0);
    for (subject, config) in [(&moon, None), (&docs, Some(&config))] {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|k| k == subject.key))
        {
            continue;
        }
        for &case in &cases {
            // row -> (sum, worst, failed, n, tolerance)
            let mut rows: BTreeMap<String, (f64, f64, usize, usize, f64)> = BTreeMap::new();
            for seed in 1..=seeds {
                let Some(run) = users::run_case(subject, config, case, seed).unwrap() else {
                    continue;
                };
                for r in run.comparison.rows.iter().filter(|r| users::judged(r)) {
                    if let (Some(d), Some(t)) = (r.distance, r.tolerance) {
                        let e = rows.entry(r.name.clone()).or_insert((0.0, 0.0, 0, 0, t));
                        e.0 += d;
                        e.1 = e.1.max(d);
                        e.2 += usize::from(d > t);
                        e.3 += 1;
                    }
                }
            }
            if rows.is_empty() {
                continue;
            }
            println!("{} {}:", subject.key, case.label());
            for (name, (sum, worst, failed, n, t)) in rows {
                let mean = sum / n as f64;
                score += (mean / t).min(3.0);
                fails += usize::from(mean > t);
                let mark = if mean > t { " FAIL" } else { "" };
                println!(
                    "  {name:28} tol {t:.4} mean {mean:.4} worst {worst:.4} failed {failed}/{n}{mark}"
                );
            }
        }
    }
    println!("failing means {fails} score {score:.2}");
}
