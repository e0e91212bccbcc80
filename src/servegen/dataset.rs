//! `chunk-N-dataset.json`: `{"<window_start_s>": {"<field>": "<pmf>"}}`, one window per
//! 6 h, each PMF a Python dict literal of `{token count: probability}` (`"{}"` for a
//! window without data). A PMF given as a JSON object instead is read as well.

use std::collections::BTreeMap;

use super::{ServegenError, pydict};
use crate::trace::MAX_TOKENS;

/// A probability mass function on token counts: `(count, probability)` by count.
pub type Pmf = Vec<(u64, f64)>;

/// Which fields a dataset has, which says the model's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fields {
    /// `input_tokens`, `output_tokens` (language models).
    Language,
    /// Language fields plus `reason_ratio` (by its name the share of output tokens spent
    /// on reasoning; upstream does not say). It is ignored: a request record has no field
    /// for it, and the output length is taken as it is.
    Reason,
    /// `text_tokens`, `image_tokens`, `audio_tokens`, `video_tokens`, their counts, and
    /// `output_tokens`.
    Multimodal,
}

/// The token fields a multimodal request's input is the sum of.
pub const MODALITIES: [&str; 4] = [
    "text_tokens",
    "image_tokens",
    "audio_tokens",
    "video_tokens",
];

impl Fields {
    /// The request type tracesynth gives such requests.
    pub fn request_type(self) -> &'static str {
        match self {
            Fields::Multimodal => "image",
            Fields::Language | Fields::Reason => "text",
        }
    }
}

/// One window's input and output token distributions.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPmfs {
    pub input: Pmf,
    pub output: Pmf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub fields: Fields,
    /// `(window start seconds, its distributions or None for a window without data)`,
    /// by start.
    pub windows: Vec<(f64, Option<WindowPmfs>)>,
}

/// Parse a dataset file. `path` names it in errors.
///
/// A multimodal request's input is text + image + audio + video tokens. The data has
/// only each one's marginal, so they are added as independent (their PMFs convolved):
/// ServeGen's own generator feeds one uniform to all of them, which makes a request with
/// a long text also carry the largest image, an assumption the data does not support
/// either; independence is the neutral choice. The token fields are taken as a
/// request's totals, as their names say; the `*_count` fields are not used.
pub fn parse(text: &str, path: &str) -> Result<Dataset, ServegenError> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|source| ServegenError::Json {
            path: path.to_string(),
            source,
        })?;
    let err = |window: &str, field: Option<&str>, message: String| ServegenError::Dataset {
        path: path.to_string(),
        window: window.to_string(),
        field: field.map(str::to_string),
        message,
    };
    let top = doc.as_object().ok_or_else(|| ServegenError::Inconsistent {
        path: path.to_string(),
        message: "expected a JSON object of windows".to_string(),
    })?;
    let mut fields: Option<Fields> = None;
    let mut windows = Vec::with_capacity(top.len());
    for (key, entry) in top {
        let start = match key.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => s,
            _ => {
                return Err(err(
                    key,
                    None,
                    "the window key must be its start in seconds".to_string(),
                ));
            }
        };
        let entry = entry
            .as_object()
            .ok_or_else(|| err(key, None, "expected an object of field PMFs".to_string()))?;
        let kind = if entry.contains_key("input_tokens") {
            if entry.contains_key("reason_ratio") {
                Fields::Reason
            } else {
                Fields::Language
            }
        } else if MODALITIES.iter().any(|m| entry.contains_key(*m)) {
            Fields::Multimodal
        } else if entry.is_empty() {
            windows.push((start, None));
            continue;
        } else {
            return Err(err(
                key,
                Some("input_tokens"),
                "missing (and no text_tokens or image_tokens either)".to_string(),
            ));
        };
        fields = match fields {
            // A window with `reason_ratio` makes the whole file a reasoning model's.
            Some(f) if f.request_type() == kind.request_type() => Some(f.max(kind)),
            Some(f) => {
                return Err(err(
                    key,
                    None,
                    format!("has {kind:?} fields where other windows have {f:?} ones"),
                ));
            }
            None => Some(kind),
        };
        let pmf = |name: &str| -> Result<Pmf, ServegenError> {
            let value = entry
                .get(name)
                .ok_or_else(|| err(key, Some(name), "missing".to_string()))?;
            token_pmf(value).map_err(|m| err(key, Some(name), m))
        };
        let output = pmf("output_tokens")?;
        let input = match kind {
            Fields::Language | Fields::Reason => vec![pmf("input_tokens")?],
            Fields::Multimodal => MODALITIES
                .iter()
                .filter(|m| entry.contains_key(**m))
                .map(|m| pmf(m))
                .collect::<Result<Vec<_>, _>>()?,
        };
        // As upstream's loader: a window with any empty PMF has no data.
        if output.is_empty() || input.iter().any(Vec::is_empty) {
            windows.push((start, None));
            continue;
        }
        let input = input
            .into_iter()
            .reduce(|a, b| convolve(&a, &b))
            .expect("at least one input field");
        windows.push((start, Some(WindowPmfs { input, output })));
    }
    windows.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Some(w) = windows.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ServegenError::Inconsistent {
            path: path.to_string(),
            message: format!("window {} appears twice", w[0].0),
        });
    }
    Ok(Dataset {
        fields: fields.unwrap_or(Fields::Language),
        windows,
    })
}

/// A PMF of token counts from a Python dict literal string (or a JSON object), sorted by
/// count and normalised. Empty for `{}`.
fn token_pmf(value: &serde_json::Value) -> Result<Pmf, String> {
    let pairs: Vec<(f64, f64)> = match value {
        serde_json::Value::String(s) => pydict::parse(s)?,
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let key = k
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("key `{k}` is not a number"))?;
                let p = v
                    .as_f64()
                    .ok_or_else(|| format!("the probability of {k} is not a number"))?;
                Ok((key, p))
            })
            .collect::<Result<_, String>>()?,
        _ => return Err("expected a PMF: a string holding a dict literal".to_string()),
    };
    let mut pmf: BTreeMap<u64, f64> = BTreeMap::new();
    for (key, p) in pairs {
        if !(key >= 0.0 && key.fract() == 0.0 && key <= MAX_TOKENS as f64) {
            return Err(format!(
                "{key} is not a token count (a whole number from 0 to {MAX_TOKENS})"
            ));
        }
        if !(p.is_finite() && p >= 0.0) {
            return Err(format!("the probability of {key} is {p}"));
        }
        if pmf.insert(key as u64, p).is_some() {
            return Err(format!("{key} appears twice"));
        }
    }
    if pmf.is_empty() {
        return Ok(Vec::new());
    }
    let total: f64 = pmf.values().sum();
    // Upstream checks the sum to 1e-6; a little more slack costs nothing after
    // normalising, but a PMF far from 1 is a sign of a damaged file.
    if (total - 1.0).abs() > 1e-3 {
        return Err(format!("the probabilities sum to {total}, not 1"));
    }
    Ok(pmf.into_iter().map(|(k, p)| (k, p / total)).collect())
}

/// The distribution of the sum of two independent counts.
pub fn convolve(a: &[(u64, f64)], b: &[(u64, f64)]) -> Pmf {
    let mut sum: BTreeMap<u64, f64> = BTreeMap::new();
    for &(x, p) in a {
        for &(y, q) in b {
            *sum.entry(x + y).or_insert(0.0) += p * q;
        }
    }
    sum.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn reads_language_reason_and_multimodal_windows() {
        let language = r#"{"0": {"input_tokens": "{}", "output_tokens": "{}"},
            "21600": {"input_tokens": "{10: 0.25, 20: 0.75}", "output_tokens": "{5: 1.0}"}}"#;
        let d = parse(language, "l.json").unwrap();
        assert_eq!(d.fields, Fields::Language);
        assert_eq!(d.windows[0], (0.0, None));
        let w = d.windows[1].1.as_ref().unwrap();
        assert_eq!(w.input, vec![(10, 0.25), (20, 0.75)]);
        let reason = r#"{"0": {"input_tokens": "{10: 1.0}", "output_tokens": "{5: 1.0}",
            "reason_ratio": "{0.0: 0.5, 0.002: 0.5}"}}"#;
        assert_eq!(parse(reason, "r.json").unwrap().fields, Fields::Reason);
        let mm = r#"{"0": {"text_tokens": "{50: 0.5, 60: 0.5}", "image_tokens": "{4: 0.5, 100: 0.5}",
            "audio_tokens": "{0: 1.0}", "video_tokens": "{0: 1.0}", "image_count": "{1: 1.0}",
            "audio_count": "{0: 1.0}", "video_count": "{0: 1.0}", "output_tokens": "{11: 1.0}"}}"#;
        let d = parse(mm, "m.json").unwrap();
        assert_eq!(d.fields, Fields::Multimodal);
        let input = &d.windows[0].1.as_ref().unwrap().input;
        let values: Vec<u64> = input.iter().map(|p| p.0).collect();
        assert_eq!(values, [54, 64, 150, 160]);
        for p in input {
            assert_abs_diff_eq!(p.1, 0.25, epsilon = 1e-12);
        }
    }

    #[test]
    fn errors_name_the_file_window_and_field() {
        let cases = [
            (
                r#"{"0": {"input_tokens": "{10: 0.5, 20: x}", "output_tokens": "{5: 1.0}"}}"#,
                "input_tokens",
            ),
            (
                r#"{"0": {"input_tokens": "{10.5: 1.0}", "output_tokens": "{5: 1.0}"}}"#,
                "input_tokens",
            ),
            (
                r#"{"0": {"input_tokens": "{10: 1.0}", "output_tokens": "{5: 0.4}"}}"#,
                "output_tokens",
            ),
            (r#"{"0": {"input_tokens": "{10: 1.0}"}}"#, "output_tokens"),
            (
                r#"{"0": {"input_tokens": "{-3: 1.0}", "output_tokens": "{5: 1.0}"}}"#,
                "input_tokens",
            ),
            (
                r#"{"0": {"input_tokens": 7, "output_tokens": "{5: 1.0}"}}"#,
                "input_tokens",
            ),
            (
                r#"{"0": {"input_tokens": "{1: 0.5, 1.0: 0.5}", "output_tokens": "{5: 1.0}"}}"#,
                "input_tokens",
            ),
        ];
        for (text, field) in cases {
            match parse(text, "chunk-9-dataset.json") {
                Err(ServegenError::Dataset {
                    path,
                    window,
                    field: f,
                    message,
                }) => {
                    assert_eq!(path, "chunk-9-dataset.json");
                    assert_eq!(window, "0");
                    assert_eq!(f.as_deref(), Some(field), "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(parse("{", "x"), Err(ServegenError::Json { .. })));
        assert!(parse(r#"{"abc": {}}"#, "x").is_err());
        assert!(parse("[]", "x").is_err());
    }
}
