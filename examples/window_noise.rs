//! How far apart two windows of the same process are: the input and output KS between
//! the same window of hard-case traces built from different seeds (the process is the
//! same, only its draw differs). A fitted model's 1x run cannot be judged more finely
//! than this noise floor. The same for the index of dispersion of counts at 10 and 60 s
//! (relative distance, as `compare` judges it).
//!
//! `cargo run --release --example window_noise -- agentic-bailian 15 start`

use tracesynth::metrics::arrivals::index_of_dispersion;
use tracesynth::metrics::distance::ks_distance;
use tracesynth::validate::robustness::{Cut, window};
use tracesynth::validate::scenarios::{SCENARIO_SECONDS, build, presets};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let key = args.get(1).map_or("agentic-bailian", String::as_str);
    let minutes: u32 = args.get(2).map_or(15, |m| m.parse().expect("minutes"));
    let cut = args
        .get(3)
        .and_then(|c| Cut::from_label(c))
        .unwrap_or(Cut::Start);
    let windows: Vec<_> = (11..19)
        .map(|seed| {
            let preset = presets(seed, SCENARIO_SECONDS)
                .into_iter()
                .find(|p| p.key == key)
                .expect("a preset of that name");
            window(&build(&preset.config), minutes, cut).expect("the window fits")
        })
        .collect();
    let lengths = |i: usize, input: bool| -> Vec<f64> {
        windows[i]
            .requests
            .iter()
            .map(|r| {
                if input {
                    r.input_length as f64
                } else {
                    r.output_length as f64
                }
            })
            .collect()
    };
    let (mut input, mut output) = (Vec::new(), Vec::new());
    for i in 0..windows.len() {
        for j in i + 1..windows.len() {
            input.push(ks_distance(&lengths(i, true), &lengths(j, true)).unwrap_or(f64::NAN));
            output.push(ks_distance(&lengths(i, false), &lengths(j, false)).unwrap_or(f64::NAN));
        }
    }
    let idc = |i: usize, w: f64| -> f64 {
        let times: Vec<f64> = windows[i].requests.iter().map(|r| r.timestamp).collect();
        index_of_dispersion(&times, w).unwrap_or(f64::NAN)
    };
    let (mut idc10, mut idc60) = (Vec::new(), Vec::new());
    for i in 0..windows.len() {
        for j in 0..windows.len() {
            if i != j {
                idc10.push((idc(j, 10.0) - idc(i, 10.0)).abs() / idc(i, 10.0));
                idc60.push((idc(j, 60.0) - idc(i, 60.0)).abs() / idc(i, 60.0));
            }
        }
    }
    for (name, mut v, tolerance) in [
        ("input.ks", input, 0.03),
        ("output.ks", output, 0.03),
        ("idc.10s", idc10, 0.25),
        ("idc.60s", idc60, 0.25),
    ] {
        v.sort_by(f64::total_cmp);
        let over = v.iter().filter(|&&x| x > tolerance).count();
        println!(
            "{key} {minutes}/{}: {name} between seeds 11-18 ({} pairs): p50 {:.4}, p90 {:.4}, \
             over {tolerance} in {over}",
            cut.label(),
            v.len(),
            v[v.len() / 2],
            v[v.len() * 9 / 10],
        );
    }
}
