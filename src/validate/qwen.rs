//! The calibrated Qwen models (`models/qwen-trace-{a,b}.json`) against the published
//! figures they were calibrated to (BRIEF section 4): two hours generated from each with
//! seeds 1 and 2, every figure next to ours with the project's tolerance.

use std::fmt::Write;
use std::path::Path;

use crate::calibrate::{Figure, Row, Targets, Tolerance, generated_stats, rows_for};
use crate::model::Model;

/// The shipped calibrated models, by file stem in `models/` and `validation/targets/`.
pub const MODELS: [&str; 2] = ["qwen-trace-a", "qwen-trace-b"];
/// The span of the public files the figures were published for.
pub const SPAN_S: f64 = 7200.0;

#[derive(Debug, thiserror::Error)]
pub enum QwenError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Targets(#[from] crate::calibrate::TargetsError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// One model measured against its targets.
#[derive(Debug, Clone)]
pub struct QwenCheck {
    pub name: String,
    pub model: Model,
    /// Size of the model file.
    pub bytes: u64,
    /// Every published figure with ours from seed 1.
    pub rows: Vec<Row>,
    /// Ours from seed 2, row by row.
    pub seed2: Vec<Option<f64>>,
}

impl QwenCheck {
    pub fn passed(&self) -> usize {
        self.rows.iter().filter(|r| r.passes()).count()
    }
}

/// Measure `models/NAME.json` under `root` against `validation/targets/NAME.toml`.
pub fn check(root: &Path, name: &str) -> Result<QwenCheck, QwenError> {
    let path = root.join(format!("models/{name}.json"));
    let model = Model::load(&path)?;
    let bytes = std::fs::metadata(&path)
        .map_err(|source| QwenError::Io {
            path: path.display().to_string(),
            source,
        })?
        .len();
    let targets_path = root.join(format!("validation/targets/{name}.toml"));
    let targets = Targets::load(&targets_path.to_string_lossy())?;
    let s1 = generated_stats(&model, 1, SPAN_S);
    let s2 = generated_stats(&model, 2, SPAN_S);
    let mut rows = rows_for(&targets);
    let mut seed2 = Vec::with_capacity(rows.len());
    for r in &mut rows {
        r.ours = r.figure.measure(&s1);
        seed2.push(r.figure.measure(&s2));
    }
    Ok(QwenCheck {
        name: name.to_string(),
        model,
        bytes,
        rows,
        seed2,
    })
}

fn value(figure: &Figure, v: Option<f64>) -> String {
    let Some(v) = v else { return "-".into() };
    format!("{v:.*}", figure.decimals())
}

/// The Markdown section of one model: a heading, its provenance note, the table and the
/// pass count.
pub fn table(c: &QwenCheck, heading: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{heading} {} (`models/{}.json`, {} KB)\n\nProvenance note: \"{}\". Targets: \
         `validation/targets/{}.toml`.\n",
        c.name,
        c.name,
        c.bytes / 1024,
        c.model.provenance.note.as_deref().unwrap_or(""),
        c.name
    );
    s.push_str(
        "| figure | published | ours (seed 1) | distance | tolerance | pass | ours (seed 2) |\n",
    );
    s.push_str("|---|---:|---:|---:|---|:---:|---:|\n");
    for (r, seed2) in c.rows.iter().zip(&c.seed2) {
        let tolerance = match r.figure.tolerance() {
            Tolerance::Relative(t) => format!("{:.0} %", t * 100.0),
            Tolerance::Absolute(t) => format!("{t}"),
        };
        let distance = r
            .distance()
            .map_or("-".into(), |d| match r.figure.tolerance() {
                Tolerance::Relative(_) => format!("{:.1} %", d * 100.0),
                Tolerance::Absolute(_) => format!("{d:.3}"),
            });
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.figure.key(),
            value(&r.figure, Some(r.target)),
            value(&r.figure, r.ours),
            distance,
            tolerance,
            if r.passes() { "pass" } else { "**FAIL**" },
            value(&r.figure, *seed2),
        );
    }
    let _ = writeln!(
        s,
        "\n{} of {} figures within tolerance.\n",
        c.passed(),
        c.rows.len()
    );
    s
}
