//! The suite's results as `REPORT.md` and a few SVG charts per trace.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Extend, Run, ScaleUp, Subject};
use crate::compare::report::{ReportError, charts, format_value};
use crate::compare::{Comparison, Row, Verdict};
use crate::error::WriteError;
use crate::validate::round_trip::{ErrorKind, RoundTrip};

/// What a run of the suite was, for the report's header.
#[derive(Debug, Clone)]
pub struct Meta {
    /// `YYYY-MM-DD HH:MM UTC`.
    pub date: String,
    /// As `tracesynth --version` prints it.
    pub version: String,
    /// Commit of the checkout, when it is one.
    pub commit: Option<String>,
    pub command: String,
    pub quick: bool,
    pub elapsed_s: f64,
}

/// The results for one trace.
#[derive(Debug, Clone)]
pub struct SubjectResults {
    pub key: &'static str,
    pub title: String,
    pub origin: String,
    pub requests: usize,
    pub span_s: f64,
    pub same_scale: Vec<Run>,
    pub scale_up: ScaleUp,
    /// The whole trace at `--rate-scale share` against a `share` sample of its sessions
    /// (traces with blocks).
    pub scale_down: Option<ScaleUp>,
    pub extend: Extend,
}

impl SubjectResults {
    pub fn new(subject: &Subject, same_scale: Vec<Run>, scale_up: ScaleUp, extend: Extend) -> Self {
        SubjectResults {
            key: subject.key,
            title: subject.title.clone(),
            origin: subject.origin.clone(),
            requests: subject.trace.requests.len(),
            span_s: subject.trace.span(),
            same_scale,
            scale_up,
            scale_down: None,
            extend,
        }
    }

    pub fn with_scale_down(mut self, down: ScaleUp) -> Self {
        self.scale_down = Some(down);
        self
    }

    /// Every judged run with its scenario's name: each same-scale seed, then scale up and
    /// extend.
    pub fn runs(&self) -> impl Iterator<Item = (&'static str, &Run)> {
        self.same_scale
            .iter()
            .map(|r| ("same scale", r))
            .chain([("scale up", &self.scale_up.run)])
            .chain(self.scale_down.iter().map(|d| ("scale down", &d.run)))
            .chain([("extend", &self.extend.run)])
    }
}

#[derive(Debug, Clone)]
pub struct Suite {
    pub meta: Meta,
    pub subjects: Vec<SubjectResults>,
    /// The round trip, and the key of the trace whose model was the known one.
    pub round_trip: (String, RoundTrip),
    /// The calibrated Qwen models against the published figures (empty when the models
    /// were not found).
    pub qwen: Vec<crate::validate::qwen::QwenCheck>,
    /// Scenario 6: fits on short windows of every trace and of the hard cases.
    pub robustness: crate::validate::robustness::Robustness,
    /// Section 2c: `--rate-scale K` as K times the users, on the traces with blocks.
    pub users: Vec<crate::validate::users::UsersResults>,
}

/// Charts kept per scenario (file stems of [`crate::compare::report::charts`]): enough
/// to see each claim, few enough to keep the committed files small.
const SAME_SCALE_CHARTS: [&str; 7] = [
    "cdf_input",
    "cdf_output",
    "cdf_inter_arrival",
    "cdf_think_time",
    "rate",
    "lru_curve",
    "policies",
];
/// Scale-up is about what more sessions do to the cache; without ids, to the rate.
const SCALE_UP_CHARTS: [&str; 2] = ["lru_curve", "rate"];
/// Extending is about the second half's rate.
const EXTEND_CHARTS: [&str; 1] = ["rate"];

/// Write the charts under `dir/plots/` (clearing the SVGs of earlier runs there) and
/// `dir/REPORT.md`; returns the files written.
pub fn write(suite: &Suite, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let fail = |path: &Path, source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).map_err(|e| fail(&plots, e))?;
    if let Ok(entries) = std::fs::read_dir(&plots) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "svg") {
                std::fs::remove_file(e.path()).map_err(|err| fail(&e.path(), err))?;
            }
        }
    }
    let mut written = Vec::new();
    let mut figures: Vec<Vec<String>> = Vec::new();
    for s in &suite.subjects {
        let mut names = Vec::new();
        let sets: [(&str, &Comparison, &[&str], usize); 3] = [
            ("same", &s.same_scale[0].comparison, &SAME_SCALE_CHARTS, 7),
            ("scaleup", &s.scale_up.run.comparison, &SCALE_UP_CHARTS, 1),
            ("extend", &s.extend.run.comparison, &EXTEND_CHARTS, 1),
        ];
        for (scenario, c, wanted, at_most) in sets {
            let all = charts(c)?;
            let mut kept = 0;
            for stem in wanted {
                if kept == at_most {
                    break;
                }
                let Some((_, svg)) = all.iter().find(|(n, _)| n == stem) else {
                    continue;
                };
                let name = format!("{}-{scenario}-{stem}.svg", s.key);
                let path = plots.join(&name);
                crate::trace::write_whole(&path, svg.as_bytes())?;
                written.push(path);
                names.push(name);
                kept += 1;
            }
        }
        figures.push(names);
    }
    let path = dir.join("REPORT.md");
    crate::trace::write_whole(&path, markdown(suite, &figures).as_bytes())?;
    written.push(path);
    Ok(written)
}

fn v(x: Option<f64>) -> String {
    format_value(x)
}

fn verdict_cell(r: &Row) -> String {
    match r.verdict {
        Verdict::Pass => "pass".into(),
        Verdict::Fail => "**FAIL**".into(),
        Verdict::Info => "info".into(),
    }
}

/// A distance cell, in bold when the row failed.
fn distance_cell(r: &Row) -> String {
    let d = v(r.distance);
    if r.verdict == Verdict::Fail {
        format!("**{d}**")
    } else {
        d
    }
}

fn failures(c: &Comparison) -> String {
    let f: Vec<String> = c
        .failures()
        .map(|r| format!("`{}` {} > {}", r.name, v(r.distance), v(r.tolerance)))
        .collect();
    if f.is_empty() {
        "-".into()
    } else {
        f.join(", ")
    }
}

fn counts(c: &Comparison) -> (usize, usize, usize) {
    c.counts()
}

/// The whole report.
pub fn markdown(suite: &Suite, figures: &[Vec<String>]) -> String {
    let m = &suite.meta;
    let mut h = String::new();
    let _ = writeln!(h, "# tracesynth fidelity report\n");
    let _ = writeln!(
        h,
        "Produced by `{}` on {} with `{}`{}, in {:.0} s{}. Re-run the same command \
         (from the repository root, release build) to refresh it; the run is deterministic \
         for a given version.\n",
        m.command,
        m.date,
        m.version,
        m.commit
            .as_ref()
            .map(|c| format!(" (commit {c})"))
            .unwrap_or_default(),
        m.elapsed_s,
        if m.quick {
            " in **quick** mode (shorter reference trace, one seed, shorter round trip): \
             not the committed report"
        } else {
            ""
        },
    );
    h.push_str(
        "Each row is one figure of the fidelity brief (section 7), computed by `tracesynth \
         compare` with its **default tolerances**: a row passes when its distance is at most \
         its tolerance; `info` rows have no tolerance. Distances of failing rows are in \
         bold. The charts are those of `compare --report`, for the first seed. `cargo test` \
         runs a reduced version (`tests/fidelity.rs`: one seed, the key rows that pass on \
         most seeds, asserted with these tolerances).\n\n",
    );

    // Traces.
    h.push_str("## Traces\n\n| trace | requests | span | origin |\n|---|---:|---:|---|\n");
    for s in &suite.subjects {
        let _ = writeln!(
            h,
            "| {} (`{}`) | {} | {:.0} s | {} |",
            s.title,
            s.key,
            v(Some(s.requests as f64)),
            s.span_s,
            s.origin
        );
    }
    h.push_str(
        "\nThe trace-A-like reference is **not real data**: `reference::build` draws it from \
         the brief's rules (published trace-A statistics, the structure of the 32 real \
         records). It stands in for the real Qwen-Bailian trace A, which cannot be downloaded \
         here; passing on it shows the model can follow a trace of that structure, not that \
         it matches trace A.\n\n",
    );

    // Summary.
    h.push_str("## Summary\n\n");
    h.push_str(
        "| scenario | trace | seed | pass | fail | info | failing rows (distance > tolerance) \
         |\n|---|---|---:|---:|---:|---:|---|\n",
    );
    let line = |h: &mut String, scenario: &str, key: &str, run: &Run| {
        let (p, f, i) = counts(&run.comparison);
        let _ = writeln!(
            h,
            "| {scenario} | {key} | {} | {p} | {f} | {i} | {} |",
            run.seed,
            failures(&run.comparison)
        );
    };
    for s in &suite.subjects {
        for run in &s.same_scale {
            line(&mut h, "1 same scale", s.key, run);
        }
    }
    for s in &suite.subjects {
        line(&mut h, "2 scale up", s.key, &s.scale_up.run);
    }
    for s in &suite.subjects {
        if let Some(d) = &s.scale_down {
            line(&mut h, "2b scale down", s.key, &d.run);
        }
    }
    for s in &suite.subjects {
        line(&mut h, "3 extend", s.key, &s.extend.run);
    }
    failing_rows(&mut h, suite);
    let (rt_key, rt) = &suite.round_trip;
    let worst: Vec<String> = {
        let mut rows: Vec<_> = rt
            .rows
            .iter()
            .filter(|r| r.kind == ErrorKind::Relative)
            .filter_map(|r| r.relative_error().map(|e| (e.abs(), r)))
            .collect();
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        rows.iter()
            .take(3)
            .map(|(e, r)| format!("{} {} ({:+.1} %)", r.group, r.name, e * 100.0))
            .collect()
    };
    let _ = writeln!(
        h,
        "\nRound trip ({rt_key} model, {} h): largest relative errors: {}.\n",
        rt.hours,
        worst.join("; ")
    );
    for c in &suite.qwen {
        let _ = writeln!(
            h,
            "Calibrated `{}` against the published figures (2 h, seed 1): {} of {} within \
             tolerance (section 5).\n",
            c.name,
            c.passed(),
            c.rows.len()
        );
    }

    h.push_str(&crate::validate::robustness::summary(&suite.robustness));

    // Scenario 1.
    h.push_str("## 1. Same scale\n\n");
    h.push_str(
        "Fit each trace, generate its span once per seed, compare with the trace. \
         `pass` counts the seeds on which the row passed.\n\n",
    );
    for (s, figs) in suite.subjects.iter().zip(figures) {
        let _ = writeln!(h, "### {} (`{}`)\n", s.title, s.key);
        same_scale_table(&mut h, &s.same_scale);
        notes(&mut h, &s.same_scale[0].comparison);
        images(&mut h, figs, "-same-");
    }

    // Scenario 2.
    h.push_str("## 2. Scale up\n\n");
    h.push_str(
        "Keep a share of the sessions at random (whole sessions, by the lineage the fit \
         uses: `parent_chat_id`, block inheritance for Mooncake, none for Azure, where \
         every request is its own session), fit on that, generate the full span at \
         `--rate-scale 1/share`, compare with the **full** trace. The synthetic trace then \
         runs at the full trace's rate, so it is compared at scale 1 (same rate, same \
         gaps, IDC rows judged); the factor itself is shown as the synthetic rate over the \
         thinned trace's rate. Comparing with `--scale 4` against the full trace would \
         expect four times the full rate, which is not the claim.\n\n",
    );
    for (s, figs) in suite.subjects.iter().zip(figures) {
        let u = &s.scale_up;
        let _ = writeln!(h, "### {} (`{}`)\n", s.title, s.key);
        let _ = writeln!(
            h,
            "Kept {} of {} sessions ({:.1} %, target {:.0} %), {} requests; rate scale {}; \
             synthetic rate / thinned rate = {:.3} (expected {}); seed {}.\n",
            v(Some(u.kept_sessions as f64)),
            v(Some(u.sessions as f64)),
            100.0 * u.kept_sessions as f64 / u.sessions.max(1) as f64,
            100.0 * u.share,
            v(Some(u.kept_requests as f64)),
            u.rate_scale,
            u.synth_rate / u.thinned_rate,
            u.rate_scale,
            u.run.seed
        );
        single_table(&mut h, &u.run.comparison);
        notes(&mut h, &u.run.comparison);
        images(&mut h, figs, "-scaleup-");
    }

    h.push_str("## 2b. Scale down\n\n");
    h.push_str(
        "Fit the whole trace, generate its span at `--rate-scale share` (a share of the \
         users of the same service), compare with a random share of its sessions (whole \
         sessions, as in scale up), which is what fewer users would have produced. Traces \
         with blocks only.\n\n",
    );
    for s in &suite.subjects {
        let Some(d) = &s.scale_down else { continue };
        let _ = writeln!(h, "### {} (`{}`)\n", s.title, s.key);
        let _ = writeln!(
            h,
            "Sample: {} of {} sessions ({:.1} %), {} requests; rate scale {}; synthetic \
             rate / sample rate = {:.3}; seed {}.\n",
            v(Some(d.kept_sessions as f64)),
            v(Some(d.sessions as f64)),
            100.0 * d.kept_sessions as f64 / d.sessions.max(1) as f64,
            v(Some(d.kept_requests as f64)),
            d.rate_scale,
            d.synth_rate / d.thinned_rate,
            d.run.seed
        );
        single_table(&mut h, &d.run.comparison);
        notes(&mut h, &d.run.comparison);
    }

    // Scenario 3.
    h.push_str(&crate::validate::users::markdown(&suite.users));
    h.push_str("## 3. Extend\n\n");
    h.push_str(
        "Fit on the first half of the span, generate the whole span, compare with the \
         whole trace, with the same default tolerances. Where a row fails here but not in \
         scenario 1, the reason is principled rather than a defect of the generator: the \
         model only saw the first half, so (a) its rate profile is the first half's, \
         repeated, and a second half with another rate level or swing shows up in `rate`, \
         the IDC rows and the rate chart; (b) think times and reuse lags are fitted from a \
         window half as long, so their longest values are less well seen (the fit corrects \
         for the window edge, but with fewer samples). The tolerances are kept as they are \
         and such rows are listed as failures rather than excused.\n\n",
    );
    for (s, figs) in suite.subjects.iter().zip(figures) {
        let e = &s.extend;
        let _ = writeln!(h, "### {} (`{}`)\n", s.title, s.key);
        let _ = writeln!(
            h,
            "Fitted on {} requests over {:.0} s; generated {:.0} s; seed {}.\n",
            v(Some(e.fitted_requests as f64)),
            e.fitted_span,
            e.generated_span,
            e.run.seed
        );
        single_table(&mut h, &e.run.comparison);
        notes(&mut h, &e.run.comparison);
        images(&mut h, figs, "-extend-");
    }

    // Scenario 4.
    round_trip_section(&mut h, rt_key, rt);
    qwen_section(&mut h, &suite.qwen);
    h.push_str(&crate::validate::robustness::markdown(&suite.robustness));
    h
}

fn qwen_section(h: &mut String, checks: &[crate::validate::qwen::QwenCheck]) {
    if checks.is_empty() {
        return;
    }
    h.push_str(
        "## 5. Calibrated Qwen models vs the published figures\n\n\
         The shipped `models/qwen-trace-a.json` (the built-in default) and \
         `models/qwen-trace-b.json` are **calibrated to published statistics, not fitted to \
         the file** (`tracesynth calibrate validation/targets/NAME.toml`; the public files \
         cannot be downloaded here). Two hours generated from each (`tracesynth generate -m \
         MODEL --duration 2h --seed 1`, and seed 2 beside it), every published figure of \
         BRIEF section 4 next to ours. `validation/QWEN.md` has the same tables with what \
         each earlier miss was and the structure that fixed it.\n\n",
    );
    for c in checks {
        h.push_str(&crate::validate::qwen::table(c, "###"));
    }
}

/// Every row that failed anywhere, with where and by how much: the list to work from.
fn failing_rows(h: &mut String, suite: &Suite) {
    use std::collections::BTreeMap;
    // (row, trace) -> (scenario, seed, distance, tolerance) of each failure.
    let mut by_row: BTreeMap<(String, &str), Vec<String>> = BTreeMap::new();
    let mut judged: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for s in &suite.subjects {
        for (scenario, run) in s.runs() {
            for r in &run.comparison.rows {
                if r.verdict == Verdict::Info {
                    continue;
                }
                let key = (r.name.clone(), s.key);
                *judged.entry(key.clone()).or_default() += 1;
                if r.verdict == Verdict::Fail {
                    by_row.entry(key).or_default().push(format!(
                        "{scenario} seed {}: {}",
                        run.seed,
                        v(r.distance)
                    ));
                }
            }
        }
    }
    if by_row.is_empty() {
        h.push_str("\nNo row failed.\n");
        return;
    }
    h.push_str(
        "\nRows that failed, by trace: failures over runs judged (same scale per seed, \
         scale up, extend), and the distances.\n\n\
         | row | trace | failed | tolerance | where (distance) |\n|---|---|---:|---:|---|\n",
    );
    for ((name, key), fails) in &by_row {
        let tolerance = suite
            .subjects
            .iter()
            .find(|s| s.key == *key)
            .and_then(|s| s.same_scale[0].comparison.row(name))
            .and_then(|r| r.tolerance);
        let _ = writeln!(
            h,
            "| `{name}` | {key} | {}/{} | {} | {} |",
            fails.len(),
            judged[&(name.clone(), *key)],
            v(tolerance),
            fails.join("; ")
        );
    }
}

fn same_scale_table(h: &mut String, runs: &[Run]) {
    let _ = write!(h, "| row | metric | tolerance | real |");
    for r in runs {
        let _ = write!(h, " synthetic (seed {0}) | distance (seed {0}) |", r.seed);
    }
    h.push_str(" pass |\n|---|---|---:|---:|");
    for _ in runs {
        h.push_str("---:|---:|");
    }
    h.push_str("---:|\n");
    let first = &runs[0].comparison;
    for (i, row) in first.rows.iter().enumerate() {
        let _ = write!(
            h,
            "| `{}` | {} | {} | {} |",
            row.name,
            row.metric.name(),
            v(row.tolerance),
            v(row.real)
        );
        let mut passed = 0;
        let mut judged = 0;
        for r in runs {
            // Per-type rows depend on which types have enough requests in each synthetic
            // trace, so rows are matched by name, not position.
            let other = if r.comparison.rows.get(i).is_some_and(|o| o.name == row.name) {
                r.comparison.rows.get(i)
            } else {
                r.comparison.row(&row.name)
            };
            match other {
                Some(o) => {
                    let _ = write!(h, " {} | {} |", v(o.synth), distance_cell(o));
                    if o.verdict != Verdict::Info {
                        judged += 1;
                        passed += usize::from(o.verdict == Verdict::Pass);
                    }
                }
                None => h.push_str(" - | - |"),
            }
        }
        if judged == 0 {
            h.push_str(" info |\n");
        } else if passed == judged {
            let _ = writeln!(h, " {passed}/{judged} |");
        } else {
            let _ = writeln!(h, " **{passed}/{judged}** |");
        }
    }
    h.push('\n');
}

fn single_table(h: &mut String, c: &Comparison) {
    h.push_str(
        "| row | metric | real | synthetic | distance | tolerance | result |\n\
         |---|---|---:|---:|---:|---:|---|\n",
    );
    for r in &c.rows {
        let _ = writeln!(
            h,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.metric.name(),
            v(r.real),
            v(r.synth),
            distance_cell(r),
            v(r.tolerance),
            verdict_cell(r)
        );
    }
    h.push('\n');
}

fn notes(h: &mut String, c: &Comparison) {
    for n in &c.notes {
        let _ = writeln!(h, "- {n}");
    }
    if !c.notes.is_empty() {
        h.push('\n');
    }
}

fn images(h: &mut String, figs: &[String], scenario: &str) {
    let mut any = false;
    for f in figs.iter().filter(|f| f.contains(scenario)) {
        let alt = f.trim_end_matches(".svg");
        let _ = write!(h, "![{alt}](plots/{f}) ");
        any = true;
    }
    if any {
        h.push_str("\n\n");
    }
}

fn round_trip_section(h: &mut String, key: &str, rt: &RoundTrip) {
    h.push_str("## 4. Round trip\n\n");
    let _ = writeln!(
        h,
        "The model fitted on the `{key}` trace is the known model. It generated {} h \
         (seed {}, {} requests), which was fitted again. Magnitudes are judged by their \
         relative error, probabilities, shares and correlations by their difference. \
         Conditional parameters (follow-up probability by context size, think time by \
         parent output) are averaged over the known model's own distribution of the \
         condition, since the refit may split the condition into other buckets. Root \
         gaps: known {}, recovered {}.\n",
        rt.hours,
        rt.seed,
        v(Some(rt.requests as f64)),
        rt.truth_gaps,
        rt.recovered_gaps
    );
    h.push_str(
        "| component | parameter | true | recovered | difference | relative error |\n\
         |---|---|---:|---:|---:|---:|\n",
    );
    for r in &rt.rows {
        let rel = r
            .relative_error()
            .map_or("-".to_string(), |e| format!("{:+.1} %", e * 100.0));
        let (diff, rel) = match r.kind {
            ErrorKind::Relative => (format!("{:+.4}", r.difference()), format!("**{rel}**")),
            ErrorKind::Absolute => (format!("**{:+.4}**", r.difference()), rel),
        };
        let _ = writeln!(
            h,
            "| {} | {} | {} | {} | {} | {} |",
            r.group,
            r.name,
            v(Some(r.truth)),
            v(Some(r.recovered)),
            diff,
            rel
        );
    }
    h.push_str("\nThe error that judges each row is in bold.\n");
}
