//! One robustness window judged over seeds 1-6: each row's distance per seed and its mean,
//! to tell a change of the fit from the noise of the one seed the suite and tests use.
//!
//! `cargo run --release --example window_seeds -- agentic-bailian 15 start rate,lru.5pct`

use tracesynth::validate::robustness::{Cut, run_window, scenario_subjects, window};
use tracesynth::validate::scenarios::SCENARIO_SECONDS;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let key = args.get(1).map_or("agentic-bailian", String::as_str);
    let minutes: u32 = args.get(2).map_or(15, |m| m.parse().expect("minutes"));
    let cut = args
        .get(3)
        .and_then(|c| Cut::from_label(c))
        .unwrap_or(Cut::Start);
    let rows: Vec<&str> = args
        .get(4)
        .map_or("input.ks,turns.tv,rate,lru.5pct,lru.10pct", String::as_str)
        .split(',')
        .collect();
    let subject = scenario_subjects(SCENARIO_SECONDS)
        .into_iter()
        .find(|s| s.key == key)
        .expect("a scenario key");
    let w = window(&subject.trace, minutes, cut).expect("the window fits");
    let mut sums = vec![0.0; rows.len() + 1];
    let seeds = 1..=6u64;
    for seed in seeds.clone() {
        let r = run_window(subject.key, minutes, cut, &w, seed).expect("generating");
        let mut line = format!("seed {seed}:");
        for (i, name) in rows.iter().enumerate() {
            let d = r.run.comparison.row(name).and_then(|x| x.distance);
            sums[i] += d.unwrap_or(f64::NAN);
            line += &format!(" {name} {:.4}", d.unwrap_or(f64::NAN));
        }
        sums[rows.len()] += r.drift.relative().abs();
        println!("{line} |drift| {:.3}", r.drift.relative().abs());
    }
    let n = seeds.count() as f64;
    let means: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, name)| format!("{name} {:.4}", sums[i] / n))
        .collect();
    println!(
        "mean: {} |drift| {:.3}",
        means.join(" "),
        sums[rows.len()] / n
    );
}
