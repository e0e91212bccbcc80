//! `--report DIR`: the charts as SVG files, and a self-contained `index.html` that holds
//! the same SVGs inline and the comparison table (no scripts, styles or images fetched
//! from anywhere, so the page can be archived or mailed as one file).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::plot::{self, PlotError};
use super::{Comparison, RATE_WINDOW_S, Verdict};
use crate::error::WriteError;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// The CDF charts: sample name, file stem, title, x axis.
const CDFS: [(&str, &str, &str, &str); 5] = [
    ("input", "cdf_input", "Input length", "tokens"),
    ("output", "cdf_output", "Output length", "tokens"),
    (
        "inter_arrival",
        "cdf_inter_arrival",
        "Inter-arrival gap",
        "seconds",
    ),
    (
        "think_time",
        "cdf_think_time",
        "Think time (parent -> child gap)",
        "seconds",
    ),
    (
        "reuse_gap",
        "cdf_reuse_gap",
        "Reuse gap of hit blocks",
        "seconds",
    ),
];

/// A value for a table cell: thousands grouped for large figures, four decimals for
/// ratios and distances.
pub fn format_value(x: Option<f64>) -> String {
    let Some(x) = x else {
        return "-".to_string();
    };
    if !x.is_finite() {
        return x.to_string();
    }
    if x.abs() >= 1000.0 {
        let digits = format!("{:.0}", x.abs());
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        if x < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if x.abs() >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// An integer with thousands separators.
pub fn format_count(n: u64) -> String {
    format_value(Some(n as f64))
        .split('.')
        .next()
        .unwrap_or("")
        .to_string()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Every chart of the comparison: (file stem, SVG text).
pub fn charts(c: &Comparison) -> Result<Vec<(String, String)>, PlotError> {
    let mut out = Vec::new();
    let (r, s) = (&c.real.plots, &c.synth.plots);
    for (key, stem, title, x_desc) in CDFS {
        let Some(real) = r.cdfs.get(key) else {
            continue;
        };
        let synth = s.cdfs.get(key).map_or(&[][..], Vec::as_slice);
        let title = if key == "inter_arrival" && c.scale != 1.0 {
            format!("{title} (synthetic x {})", c.scale)
        } else {
            title.to_string()
        };
        out.push((
            stem.to_string(),
            plot::cdf_chart(&title, x_desc, real, synth)?,
        ));
    }
    out.push((
        "rate".to_string(),
        plot::rate_chart(&r.rate, &s.rate, RATE_WINDOW_S)?,
    ));
    if let Some(real) = &c.real.stats.sessions {
        let empty = Default::default();
        let synth = c.synth.stats.sessions.as_ref().map_or(&empty, |s| &s.turns);
        out.push(("turns".to_string(), plot::turns_chart(&real.turns, synth)?));
    }
    if let Some(real) = &c.real.stats.cache {
        let synth = c
            .synth
            .stats
            .cache
            .as_ref()
            .map_or(&[][..], |s| &s.lru_curve[..]);
        out.push((
            "lru_curve".to_string(),
            plot::lru_chart(&real.lru_curve, synth)?,
        ));
    }
    if let Some(real) = &c.real.stats.policies {
        out.push((
            "policies".to_string(),
            plot::policy_chart(real, c.synth.stats.policies.as_ref())?,
        ));
    }
    Ok(out)
}

/// The page itself, with the charts inline.
pub fn html(
    c: &Comparison,
    real_name: &str,
    synth_name: &str,
    charts: &[(String, String)],
) -> String {
    let (pass, fail, info) = c.counts();
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>tracesynth compare</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 18px; margin-top: 28px; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; white-space: nowrap; }}
td.d {{ white-space: normal; }}
th {{ background: #eee; }} td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.pass td.v {{ background: #d7f0d2; }} tr.fail td.v {{ background: #f6c6c6; font-weight: bold; }}
tr.info td.v {{ background: #eee; color: #666; }}
tr.group td {{ background: #f7f7f7; font-weight: bold; }}
.verdict {{ font-size: 18px; font-weight: bold; }} .ok {{ color: #1a7f37; }} .bad {{ color: #b42318; }}
.charts {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 16px; }}
.charts figure {{ margin: 0; border: 1px solid #ddd; }}
.charts svg {{ width: 100%; height: auto; display: block; }}
</style></head><body>
<h1>tracesynth compare</h1>
<p>real: <code>{real}</code> ({rn} requests)<br>synthetic: <code>{synth}</code> ({sn} requests)<br>scale: {scale}</p>
<p class="verdict {cls}">{verdict}: {pass} pass, {fail} fail, {info} informational</p>
"#,
        real = escape(real_name),
        synth = escape(synth_name),
        rn = format_count(c.real.stats.requests),
        sn = format_count(c.synth.stats.requests),
        scale = c.scale,
        cls = if fail == 0 { "ok" } else { "bad" },
        verdict = if fail == 0 { "ALL PASS" } else { "FAIL" },
    );
    if !c.notes.is_empty() {
        h.push_str("<ul>\n");
        for n in &c.notes {
            let _ = writeln!(h, "<li>{}</li>", escape(n));
        }
        h.push_str("</ul>\n");
    }
    h.push_str(
        "<h2>Rows</h2>\n<table id=\"rows\">\n<tr><th>row</th><th>what</th><th>shown</th>\
         <th>real</th><th>synthetic</th><th>metric</th><th>distance</th><th>tolerance</th>\
         <th>result</th></tr>\n",
    );
    let mut group = None;
    for r in &c.rows {
        if group != Some(r.group) {
            group = Some(r.group);
            let _ = writeln!(
                h,
                "<tr class=\"group\"><td colspan=\"9\">{}</td></tr>",
                r.group.title()
            );
        }
        let class = match r.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Info => "info",
        };
        let _ = writeln!(
            h,
            "<tr class=\"{class}\"><td><code>{}</code></td><td class=\"d\">{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"v\">{}</td></tr>",
            escape(&r.name),
            escape(&r.description),
            escape(&r.shown),
            format_value(r.real),
            format_value(r.synth),
            r.metric.name(),
            format_value(r.distance),
            format_value(r.tolerance),
            r.verdict.label(),
        );
    }
    h.push_str("</table>\n<h2>Charts</h2>\n<div class=\"charts\">\n");
    for (stem, svg) in charts {
        let _ = writeln!(
            h,
            "<figure id=\"{stem}\">\n{}\n</figure>",
            strip_prolog(svg)
        );
    }
    h.push_str("</div>\n</body></html>\n");
    h
}

/// An SVG file may start with an XML declaration, which is not allowed inside HTML.
fn strip_prolog(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

/// Write the charts and `index.html` into `dir` (created if missing); returns the files
/// written.
pub fn write_report(
    c: &Comparison,
    dir: &Path,
    real_name: &str,
    synth_name: &str,
) -> Result<Vec<PathBuf>, ReportError> {
    let fail = |path: &Path, source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let charts = charts(c)?;
    let mut written = Vec::new();
    for (stem, svg) in &charts {
        let path = dir.join(format!("{stem}.svg"));
        crate::trace::write_whole(&path, svg.as_bytes())?;
        written.push(path);
    }
    let path = dir.join("index.html");
    crate::trace::write_whole(&path, html(c, real_name, synth_name, &charts).as_bytes())?;
    written.push(path);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_formatted_for_reading() {
        assert_eq!(format_value(Some(12345.6)), "12,346");
        assert_eq!(format_value(Some(-1234.0)), "-1,234");
        assert_eq!(format_value(Some(42.126)), "42.13");
        assert_eq!(format_value(Some(0.03)), "0.0300");
        assert_eq!(format_value(None), "-");
        assert_eq!(escape("<a&b>"), "&lt;a&amp;b&gt;");
    }
}
