//! `tracesynth import-servegen` on real ServeGen client data (four deepseek-r1 clients in
//! `validation/data/servegen/`): the model it writes, and what the per-client sampler the
//! generator calls makes of it.

mod util;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tracesynth::model::Model;
use tracesynth::model::clients::{ClientClock, ClientMix, NO_TRAFFIC};
use tracesynth::model::copula::spearman;
use util::{TestDir, data};

fn vendored() -> PathBuf {
    data("servegen/reason/deepseek-r1")
}

const CLIENTS: [&str; 4] = ["13", "14", "41", "70"];

/// Import `dir` with the command line and load the model, checking it re-serializes to
/// the very bytes written.
fn import(t: &TestDir, dir: &Path, extra: &[&str]) -> Model {
    let mut args = vec![
        "import-servegen".to_string(),
        dir.display().to_string(),
        "-o".into(),
        "model.json".into(),
        "--quiet".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let run = t.run(&args);
    run.expect_code(0);
    assert!(run.stderr.is_empty(), "--quiet: {}", run.stderr);
    let text = String::from_utf8(t.read("model.json")).unwrap();
    let model = Model::from_json(&text, "model.json").expect("the imported model loads");
    assert_eq!(
        model.to_json(),
        text,
        "the model re-serializes byte for byte"
    );
    model
}

/// A copy of the vendored clients in `t`'s directory `name`, datasets only for `with_data`.
fn copy_clients(t: &TestDir, name: &str, with_data: &[&str]) -> PathBuf {
    let dir = t.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    for c in CLIENTS {
        let trace = format!("chunk-{c}-trace.csv");
        std::fs::copy(vendored().join(&trace), dir.join(&trace)).unwrap();
        if with_data.contains(&c) {
            let dataset = format!("chunk-{c}-dataset.json");
            std::fs::copy(vendored().join(&dataset), dir.join(&dataset)).unwrap();
        }
    }
    dir
}

/// A source PMF, parsed here independently of the importer (the real files hold plain
/// `{int: float, ...}` literals).
fn source_pmf(literal: &str) -> Vec<(u64, f64)> {
    let inner = literal.trim().trim_start_matches('{').trim_end_matches('}');
    inner
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p.split_once(':').unwrap();
            (k.trim().parse().unwrap(), v.trim().parse().unwrap())
        })
        .collect()
}

/// `window start -> field -> PMF` of a vendored client.
fn source_dataset(client: &str) -> BTreeMap<u64, BTreeMap<String, Vec<(u64, f64)>>> {
    let text =
        std::fs::read_to_string(vendored().join(format!("chunk-{client}-dataset.json"))).unwrap();
    let doc: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(&text).unwrap();
    doc.into_iter()
        .map(|(w, fields)| {
            (
                w.parse().unwrap(),
                fields
                    .into_iter()
                    .filter(|(f, _)| f.ends_with("_tokens"))
                    .map(|(f, s)| (f, source_pmf(&s)))
                    .collect(),
            )
        })
        .collect()
}

/// `(rate, cv)` per window of a vendored client's trace CSV.
fn source_rates(client: &str) -> Vec<(f64, f64)> {
    std::fs::read_to_string(vendored().join(format!("chunk-{client}-trace.csv")))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect()
}

/// KS distance between draws and a PMF.
fn ks(draws: &mut [u64], pmf: &[(u64, f64)]) -> f64 {
    draws.sort_unstable();
    let n = draws.len() as f64;
    let total: f64 = pmf.iter().map(|p| p.1).sum();
    let (mut f, mut worst, mut i) = (0.0, 0.0_f64, 0);
    for &(v, p) in pmf {
        // Below the value: the CDF just before it.
        let below = draws.partition_point(|&d| d < v) as f64 / n;
        worst = worst.max((below - f).abs());
        f += p / total;
        while i < draws.len() && draws[i] <= v {
            i += 1;
        }
        worst = worst.max((i as f64 / n - f).abs());
    }
    worst.max(1.0 - i as f64 / n)
}

fn mix(model: &Model) -> &ClientMix {
    model
        .clients
        .as_ref()
        .expect("an imported model has clients")
}

/// Arrival counts per client and window over `days` days from time 0.
fn counts(mix: &ClientMix, days: usize, seed: u64) -> Vec<Vec<f64>> {
    let windows = mix.windows() * days;
    let mut counts = vec![vec![0.0; windows]; mix.clients.len()];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut clock = ClientClock::new(mix, 1.0, 0.0);
    let mut last = 0.0;
    while let Some((t, c)) = clock.next(&mut rng) {
        assert!(t >= last, "arrivals out of order: {t} after {last}");
        last = t;
        let w = (t / mix.window) as usize;
        if w >= windows {
            break;
        }
        counts[c][w] += 1.0;
    }
    counts
}

#[test]
fn imports_the_vendored_clients_as_a_complete_model() {
    let t = TestDir::new();
    let model = import(&t, &vendored(), &[]);
    let m = mix(&model);
    let ids: Vec<&str> = m.clients.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, CLIENTS);
    assert_eq!(model.types, ["text"]);
    assert_eq!(model.span, 86_400.0);
    assert_eq!(m.window, 600.0);
    assert_eq!(m.length_window, 21_600.0);
    assert_eq!(model.block_size, 16);
    let p = &model.provenance;
    assert_eq!(p.source, "deepseek-r1");
    assert_eq!(serde_json::to_value(p.source_format).unwrap(), "servegen");
    assert_eq!(p.source_sha256.len(), 64);
    let note = p.note.as_deref().unwrap();
    assert!(
        note.starts_with("imported from ServeGen client data"),
        "{note}"
    );
    assert!(note.contains("reason_ratio ignored"), "{note}");
    assert!(
        !note.contains("pooled"),
        "every client has its own lengths: {note}"
    );
    // The aggregate: summed rates on the 600 s windows, no follow-ups, no shared blocks.
    let mut total = vec![0.0; 144];
    for c in CLIENTS {
        for (w, (rate, _)) in source_rates(c).into_iter().enumerate() {
            total[w] += rate;
        }
    }
    assert_eq!(model.arrivals.rates.len(), 144);
    for (ours, theirs) in model.arrivals.rates.iter().zip(&total) {
        assert!((ours - theirs).abs() <= 1e-5 * theirs, "{ours} vs {theirs}");
    }
    let expected: f64 = total.iter().sum::<f64>() * 600.0;
    assert!(
        (p.records as f64 - expected).abs() < 1.0,
        "{} vs {expected}",
        p.records
    );
    assert!(
        model.sessions.per_type[0]
            .child_prob
            .iter()
            .flatten()
            .all(|&p| p == 0.0)
    );
    assert!(model.blocks.prefixes.is_empty());
    // Importing again gives the same bytes.
    let first = t.read("model.json");
    import(&t, &vendored(), &[]);
    assert_eq!(t.read("model.json"), first);
    // The file stays small: four clients, a day.
    assert!(first.len() < 150_000, "{} bytes", first.len());
}

/// (a) Each client's generated lengths follow its own PMFs, window by window.
#[test]
fn generated_lengths_match_each_clients_pmfs() {
    let t = TestDir::new();
    let model = import(&t, &vendored(), &[]);
    let m = mix(&model);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut checked = 0;
    for (i, c) in CLIENTS.iter().enumerate() {
        for (start, fields) in source_dataset(c) {
            if fields["input_tokens"].is_empty() {
                continue;
            }
            let at = start as f64 + 3600.0;
            let (mut ins, mut outs): (Vec<u64>, Vec<u64>) = (0..100_000)
                .map(|_| m.sample_lengths(i, at, &mut rng))
                .unzip();
            let ks_in = ks(&mut ins, &fields["input_tokens"]);
            let ks_out = ks(&mut outs, &fields["output_tokens"]);
            assert!(
                ks_in <= 0.01,
                "client {c} window {start}: input KS {ks_in:.4}"
            );
            assert!(
                ks_out <= 0.01,
                "client {c} window {start}: output KS {ks_out:.4}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked} windows checked");
}

/// (b) Input and output keep the configured rank correlation, not ServeGen's 1.
#[test]
fn input_and_output_keep_the_configured_rank_correlation() {
    let t = TestDir::new();
    for (flag, want) in [(None, 0.1), (Some("0.6"), 0.6), (Some("-0.3"), -0.3)] {
        let extra: Vec<&str> = flag.map(|f| vec!["--io-spearman", f]).unwrap_or_default();
        let model = import(&t, &vendored(), &extra);
        let m = mix(&model);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for (i, c) in CLIENTS.iter().enumerate() {
            // Within one window, where the marginals are fixed.
            let start = *source_dataset(c)
                .iter()
                .find(|(_, f)| !f["input_tokens"].is_empty())
                .unwrap()
                .0;
            let (xs, ys): (Vec<f64>, Vec<f64>) = (0..40_000)
                .map(|_| {
                    let (a, b) = m.sample_lengths(i, start as f64 + 60.0, &mut rng);
                    (a as f64, b as f64)
                })
                .unzip();
            let rs = spearman(&xs, &ys);
            // Ties of the discrete PMFs pull the rank correlation a little towards 0.
            assert!(
                (rs - want).abs() < 0.04,
                "client {c}: Spearman {rs:.3}, configured {want}"
            );
        }
    }
}

/// A one-client directory with a constant rate, written for the test.
fn constant_client(t: &TestDir, name: &str, pattern: &str, shape: f64, cv: f64) -> PathBuf {
    let dir = t.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    let rows: String = (0..144)
        .map(|w| format!("{},1.0,{cv},{pattern},{shape},1.0\n", w * 600))
        .collect();
    std::fs::write(dir.join("chunk-1-trace.csv"), rows).unwrap();
    std::fs::write(
        dir.join("chunk-1-dataset.json"),
        r#"{"0": {"input_tokens": "{100: 0.5, 200: 0.5}", "output_tokens": "{10: 1.0}"}}"#,
    )
    .unwrap();
    dir
}

/// (c) A client at a constant 1/s: window counts average 600 and vary as a renewal
/// process's (index of dispersion near the gaps' squared CV), where ServeGen's rescaled
/// windows would hold exactly 600 each.
#[test]
fn constant_rate_counts_vary_as_a_renewal_process() {
    let t = TestDir::new();
    // Gamma of CV 2 (shape 1/4) and a Weibull of shape 0.6 (CV 1.76, squared 3.09).
    for (pattern, shape, cv2) in [("Gamma", 0.25, 4.0_f64), ("Weibull", 0.6, 3.09)] {
        let dir = constant_client(&t, pattern, pattern, shape, cv2.sqrt());
        let model = import(&t, &dir, &[]);
        let c = &counts(mix(&model), 7, 3)[0];
        let n = c.len() as f64;
        let mean = c.iter().sum::<f64>() / n;
        let var = c.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        assert!(
            (mean - 600.0).abs() < 8.0,
            "{pattern}: mean count {mean:.1}"
        );
        let idc = var / mean;
        assert!(
            (idc - cv2).abs() < 0.2 * cv2,
            "{pattern}: index of dispersion {idc:.2}, squared CV {cv2}"
        );
        let exact = c.iter().filter(|&&x| x == 600.0).count();
        assert!(exact < c.len() / 20, "{exact} windows with exactly 600");
    }
}

/// (d) and (e): over many days the clients' arrivals per window average their summed
/// rates, and a client sends nothing in its zero-rate windows.
#[test]
fn arrivals_follow_the_clients_rates_and_skip_their_silent_windows() {
    let t = TestDir::new();
    let model = import(&t, &vendored(), &[]);
    let m = mix(&model);
    let days = 20;
    let counts = counts(m, days, 7);
    let mut z2 = Vec::new();
    for w in 0..144 {
        let (mut observed, mut expected, mut variance) = (0.0, 0.0, 0.0);
        for (i, c) in CLIENTS.iter().enumerate() {
            let (rate, cv) = source_rates(c)[w];
            let sent: f64 = (0..days).map(|d| counts[i][d * 144 + w]).sum();
            if rate == 0.0 {
                assert_eq!(sent, 0.0, "client {c} sent {sent} in silent window {w}");
                continue;
            }
            observed += sent;
            expected += days as f64 * rate * 600.0;
            // A renewal process's count variance, about CV^2 times the mean.
            variance += days as f64 * rate * 600.0 * cv.max(0.3).powi(2);
        }
        if expected > 0.0 {
            let z = (observed - expected) / variance.sqrt();
            assert!(
                z.abs() < 6.0,
                "window {w}: {observed} arrivals, {expected:.0} expected (z {z:.1})"
            );
            z2.push(z * z);
        } else {
            assert_eq!(observed, 0.0);
        }
    }
    let mean_z2 = z2.iter().sum::<f64>() / z2.len() as f64;
    assert!(
        (0.3..3.0).contains(&mean_z2),
        "mean z^2 {mean_z2:.2} over {} windows",
        z2.len()
    );
    // Silent windows exist in this data, so the check above did something.
    let silent = m
        .clients
        .iter()
        .flat_map(|c| c.pattern.chars())
        .filter(|&p| p == NO_TRAFFIC)
        .count();
    assert!(silent > 100, "{silent}");
}

/// Clients without a dataset JSON keep their arrivals and draw lengths from the others',
/// pooled by requests; the model says which.
#[test]
fn clients_without_a_dataset_use_the_pooled_lengths() {
    let t = TestDir::new();
    let dir = copy_clients(&t, "partial", &["13", "70"]);
    let model = import(&t, &dir, &[]);
    let m = mix(&model);
    let note = model.provenance.note.as_deref().unwrap();
    assert!(
        note.contains("for the 2 without one: clients 14, 41"),
        "{note}"
    );
    assert!(m.clients[1].lengths.is_none() && m.clients[2].lengths.is_none());
    assert!(m.clients[0].lengths.is_some() && m.clients[3].lengths.is_some());
    // Their arrivals are their own.
    assert_eq!(m.clients[1].rate.len(), 144);
    let r14: f64 = source_rates("14").iter().map(|r| r.0).sum();
    assert!((m.clients[1].rate.iter().sum::<f64>() - r14).abs() < 1e-4 * r14);
    // The pooled PMF of a window: the two clients' mixed by their requests there.
    let (d13, d70) = (source_dataset("13"), source_dataset("70"));
    let volume = |c: &str, lw: usize| -> f64 {
        source_rates(c)[lw * 36..(lw + 1) * 36]
            .iter()
            .map(|r| r.0 * 600.0)
            .sum()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for lw in 0..4 {
        let start = lw as u64 * 21_600;
        let mut pooled: BTreeMap<u64, f64> = BTreeMap::new();
        for (c, d) in [("13", &d13), ("70", &d70)] {
            for &(v, p) in &d[&start]["input_tokens"] {
                *pooled.entry(v).or_default() += p * volume(c, lw);
            }
        }
        if pooled.is_empty() {
            continue;
        }
        let pmf: Vec<(u64, f64)> = pooled.into_iter().collect();
        let mut draws: Vec<u64> = (0..100_000)
            .map(|_| m.sample_lengths(2, start as f64 + 100.0, &mut rng).0)
            .collect();
        let d = ks(&mut draws, &pmf);
        assert!(d <= 0.01, "window {lw}: pooled input KS {d:.4}");
    }
    // --clients keeps the largest clients (13 and 70 send the most).
    let model = import(&t, &vendored(), &["--clients", "2"]);
    let ids: Vec<&str> = mix(&model).clients.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["13", "70"]);
    assert!(
        model
            .provenance
            .note
            .as_deref()
            .unwrap()
            .contains("kept the 2 of 4 clients")
    );
}

/// (f) Bad input: one line on stderr naming the file (and line and field), no output.
#[test]
fn bad_input_is_a_clean_error() {
    let t = TestDir::new();
    let run = t.run(&["import-servegen", "no-such-dir", "-o", "m.json"]);
    run.expect_clean_failure();
    assert!(run.stderr.contains("no-such-dir"), "{}", run.stderr);

    std::fs::create_dir_all(t.path("empty")).unwrap();
    let run = t.run(&["import-servegen", "empty", "-o", "m.json"]);
    run.expect_clean_failure();
    assert!(
        run.stderr.contains("no chunk-<client>-trace.csv"),
        "{}",
        run.stderr
    );

    // A malformed CSV line: line 7's rate.
    let dir = copy_clients(&t, "badcsv", &CLIENTS);
    let path = dir.join("chunk-70-trace.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut f: Vec<&str> = lines[6].split(',').collect();
    f[1] = "0.1x";
    lines[6] = f.join(",");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let run = t.run(&["import-servegen", "badcsv", "-o", "m.json"]);
    run.expect_clean_failure();
    assert!(
        run.stderr.contains("chunk-70-trace.csv:7: field `rate`"),
        "{}",
        run.stderr
    );

    // A malformed PMF: a probability that is not a number, in window 21600.
    let dir = copy_clients(&t, "badpmf", &CLIENTS);
    let path = dir.join("chunk-41-dataset.json");
    let mut doc: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let pmf = doc
        .get_mut("21600")
        .unwrap()
        .get_mut("input_tokens")
        .unwrap();
    *pmf = pmf.replacen(": 0.", ": O.", 1);
    std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();
    let run = t.run(&["import-servegen", "badpmf", "-o", "m.json"]);
    run.expect_clean_failure();
    for part in [
        "chunk-41-dataset.json",
        "window `21600`",
        "field `input_tokens`",
    ] {
        assert!(run.stderr.contains(part), "{part}: {}", run.stderr);
    }

    // A dataset without its trace, and a truncated JSON file.
    let dir = copy_clients(&t, "orphan", &CLIENTS);
    std::fs::write(dir.join("chunk-99-dataset.json"), "{}").unwrap();
    let run = t.run(&["import-servegen", "orphan", "-o", "m.json"]);
    run.expect_clean_failure();
    assert!(
        run.stderr.contains("chunk-99-dataset.json"),
        "{}",
        run.stderr
    );
    let dir = copy_clients(&t, "truncated", &CLIENTS);
    std::fs::write(dir.join("chunk-13-dataset.json"), "{\"0\": {").unwrap();
    let run = t.run(&["import-servegen", "truncated", "-o", "m.json"]);
    run.expect_clean_failure();
    assert!(
        run.stderr.contains("chunk-13-dataset.json"),
        "{}",
        run.stderr
    );

    // An impossible rank correlation is refused by the command line.
    let run = t.run(&[
        "import-servegen",
        "orphan",
        "-o",
        "m.json",
        "--io-spearman",
        "1",
    ]);
    assert_eq!(run.code, Some(2));
    assert!(
        !t.files().contains(&"m.json".to_string()),
        "no output after a failure"
    );
}

/// (g) Models without clients load and re-serialize byte for byte, as before.
#[test]
fn shipped_models_are_unchanged() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut seen = 0;
    for entry in std::fs::read_dir(models).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let model = Model::from_json(&text, &path.display().to_string()).unwrap();
        assert!(model.clients.is_none());
        assert!(!text.contains("\"clients\""));
        // The fitted models (written by `to_json`) come back byte for byte; the calibrated
        // ones were written compactly by an older tracesynth (some fields defaulted), so
        // for them the model survives a round trip through `to_json`.
        if text.starts_with("{\n") {
            assert_eq!(model.to_json(), text, "{}", path.display());
        }
        let again = Model::from_json(&model.to_json(), "again").unwrap();
        assert_eq!(again, model, "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 4);
}

/// The figures of the import's report on the full ServeGen snapshot (not vendored; run
/// by hand): `cargo test --release --test import_servegen -- --ignored --nocapture`.
/// Looks for the data in `TRACESYNTH_SERVEGEN` or `../shared/data/servegen`.
#[test]
#[ignore]
fn measure_on_the_full_servegen_data() {
    let root = std::env::var_os("TRACESYNTH_SERVEGEN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/servegen"),
        PathBuf::from,
    );
    for (model, days) in [
        ("reason/deepseek-r1", 1),
        ("multimodal/mm-image", 1),
        ("language/m-large", 2),
    ] {
        let dir = root.join(model);
        let started = std::time::Instant::now();
        let imported = tracesynth::servegen::import_dir(&dir, &Default::default()).unwrap();
        let took = started.elapsed().as_secs_f64();
        let json = imported.model.to_json();
        let m = mix(&imported.model);
        println!(
            "{model}: import {took:.2} s (library, release), {} bytes, {} clients ({} pooled)",
            json.len(),
            m.clients.len(),
            imported.pooled.len()
        );
        measure_clock(m, days);
    }
}

/// Per-window gap CV and count dispersion of the clock over `days` days.
fn measure_clock(m: &ClientMix, days: usize) {
    let n = m.windows();
    let windows = n.min(144 * days);
    let horizon = windows as f64 * m.window;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut clock = ClientClock::new(m, 1.0, 0.0);
    // Per client: arrival times, window by window.
    let mut times: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); windows]; m.clients.len()];
    let started = std::time::Instant::now();
    let mut arrivals = 0u64;
    while let Some((t, c)) = clock.next(&mut rng) {
        if t >= horizon {
            break;
        }
        times[c][(t / m.window) as usize].push(t);
        arrivals += 1;
    }
    let took = started.elapsed().as_secs_f64();
    let (mut err_data, mut err_data_g, mut err_data_w, mut err_shape) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut ratio, mut exact, mut judged) = (Vec::new(), 0, 0);
    for (c, client) in m.clients.iter().enumerate() {
        let generated_cv = client.generated_cv();
        let mut active = 0;
        for (w, p) in client.pattern.chars().enumerate() {
            if p == NO_TRAFFIC {
                continue;
            }
            let k = active;
            active += 1;
            if w >= windows {
                continue;
            }
            let expected = client.rate[w] * m.window;
            let count = times[c][w].len() as f64;
            let cv2 = generated_cv[k].powi(2);
            if expected >= 50.0 {
                judged += 1;
                if count == expected.round() {
                    exact += 1;
                }
                ratio.push((count - expected).powi(2) / (cv2 * expected));
            }
            if times[c][w].len() >= 51 {
                let gaps: Vec<f64> = times[c][w].windows(2).map(|x| x[1] - x[0]).collect();
                let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
                let var =
                    gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (gaps.len() - 1) as f64;
                let cv = var.sqrt() / mean;
                let rel = |want: f64| (cv - want).abs() / want;
                err_data.push(rel(client.cv[k]));
                if p == 'G' {
                    err_data_g.push(rel(client.cv[k]));
                } else {
                    err_data_w.push(rel(client.cv[k]));
                }
                err_shape.push(rel(generated_cv[k]));
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            f64::NAN
        } else {
            v[v.len() / 2]
        }
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "  clock: {arrivals} arrivals over {windows} windows in {took:.2} s; gap CV vs the data's cv, \
         median relative error over {} client-windows with >= 51 arrivals: {:.3} (Gamma {} windows: {:.3}, \
         Weibull {} windows: {:.3}); vs the CV the shape implies: {:.3}",
        err_data.len(),
        median(&mut err_data.clone()),
        err_data_g.len(),
        median(&mut err_data_g),
        err_data_w.len(),
        median(&mut err_data_w),
        median(&mut err_shape),
    );
    println!(
        "  window counts ({judged} client-windows expecting >= 50): (n - e)^2 / (CV^2 e) mean {:.2}, median {:.2}; \
         exactly the expected count in {exact} ({:.1} %)",
        mean(&ratio),
        median(&mut ratio.clone()),
        100.0 * exact as f64 / judged.max(1) as f64
    );
}

/// End to end: `generate` from an imported model draws each root from the client clock:
/// the trace passes `check`, every request is a single-request session of the clients'
/// type, a day's arrivals per 10-minute window follow the summed client rates, and
/// shards merge back into the one-run bytes.
#[test]
fn generate_follows_the_imported_clients() {
    let t = TestDir::new();
    let model = import(&t, &vendored(), &[]);
    let m = mix(&model);
    t.run(&[
        "generate",
        "-q",
        "-m",
        "model.json",
        "--duration",
        "1d",
        "--seed",
        "3",
        "-o",
        "day.jsonl",
    ])
    .expect_code(0);
    util::assert_checks_clean(&t, &t.path("day.jsonl"));
    let trace = tracesynth::trace::read_trace(t.path("day.jsonl").to_str().unwrap(), None)
        .expect("readable");
    assert!(trace.requests.iter().all(|r| {
        let s = r.session.as_ref().unwrap();
        s.parent_chat_id == -1 && s.turn == 1 && s.req_type == "text"
    }));
    let mut per_window = vec![0.0; 144];
    for r in &trace.requests {
        per_window[(r.timestamp / 600.0) as usize] += 1.0;
    }
    let expected: Vec<f64> = m.total_rates().iter().map(|r| r * 600.0).collect();
    let (seen, wanted): (f64, f64) = (per_window.iter().sum(), expected.iter().sum());
    assert!(
        (seen / wanted - 1.0).abs() < 0.05,
        "{seen} requests in a day, the clients' rates give {wanted:.0}"
    );
    // The daily swing is kept: the busiest and the quietest hours differ as in the data.
    let hourly = |v: &[f64]| -> Vec<f64> { v.chunks(6).map(|c| c.iter().sum()).collect() };
    let (ours, theirs) = (hourly(&per_window), hourly(&expected));
    let spread = |h: &[f64]| {
        h.iter().cloned().fold(f64::MIN, f64::max) / h.iter().cloned().fold(f64::MAX, f64::min)
    };
    assert!(
        (spread(&ours) / spread(&theirs) - 1.0).abs() < 0.3,
        "busiest/quietest hour {:.2} vs {:.2} in the data",
        spread(&ours),
        spread(&theirs)
    );
    // Sharding works for client models too.
    for i in 0..2 {
        t.run(&[
            "generate",
            "-q",
            "-m",
            "model.json",
            "--duration",
            "2h",
            "--seed",
            "3",
            "--shard",
            &format!("{i}/2"),
            "-o",
            &format!("p{i}.jsonl"),
        ])
        .expect_code(0);
    }
    t.run(&["merge", "-q", "p0.jsonl", "p1.jsonl", "-o", "merged.jsonl"])
        .expect_code(0);
    t.run(&[
        "generate",
        "-q",
        "-m",
        "model.json",
        "--duration",
        "2h",
        "--seed",
        "3",
        "-o",
        "whole.jsonl",
    ])
    .expect_code(0);
    assert!(t.read("merged.jsonl") == t.read("whole.jsonl"));
}

/// `--start-at` begins the output that far into the clients' daily profile: ten minutes
/// from a busy hour and from a quiet one hold the counts the rates of those hours give,
/// and timestamps still start at 0.
#[test]
fn start_at_begins_inside_the_daily_profile() {
    let t = TestDir::new();
    let model = import(&t, &vendored(), &[]);
    let rates = mix(&model).total_rates();
    let hourly: Vec<f64> = rates
        .chunks(6)
        .map(|c| c.iter().sum::<f64>() * 600.0)
        .collect();
    let busiest = (0..24)
        .max_by(|&a, &b| hourly[a].total_cmp(&hourly[b]))
        .unwrap();
    let quietest = (0..24)
        .min_by(|&a, &b| hourly[a].total_cmp(&hourly[b]))
        .unwrap();
    assert!(hourly[busiest] > 2.0 * hourly[quietest], "{hourly:?}");
    for hour in [busiest, quietest] {
        let start = format!("{hour}h");
        t.run(&[
            "generate",
            "-q",
            "-m",
            "model.json",
            "--start-at",
            &start,
            "--duration",
            "1h",
            "--seed",
            "5",
            "-o",
            "hour.jsonl",
        ])
        .expect_code(0);
        let recs = util::records(&t.read("hour.jsonl"));
        let n = recs.len() as f64;
        assert!(
            (n / hourly[hour] - 1.0).abs() < 0.25,
            "hour {hour}: {n} requests, the rates give {:.0}",
            hourly[hour]
        );
        assert!(recs.iter().all(|r| {
            let ts = r["timestamp"].as_f64().unwrap();
            (0.0..3600.0).contains(&ts)
        }));
    }
}
