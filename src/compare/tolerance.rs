//! Acceptance limits per row, and the `--tolerances` override file.
//!
//! A row passes when its distance is at most its tolerance; a row without a tolerance is
//! informational ("info"). The override file is a JSON object from row name to a number
//! (the new tolerance, in the row's own metric) or `null` (make the row informational):
//!
//! ```json
//! { "input.ks": 0.05, "idc.10s": null, "input.ks[*]": 0.1, "output.ks[text]": 0.04 }
//! ```
//!
//! Row names are the first column of the `compare` table. Fixed rows are listed in
//! [`ROWS`]; per-type rows are `input.ks[TYPE]`, `input.w1_log[TYPE]`,
//! `output.ks[TYPE]` and `output.w1_log[TYPE]` (only for types with at least
//! [`PER_TYPE_MIN`] requests in both traces), and `[*]` in an override stands for every
//! type. An exact per-type name wins over `[*]`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

/// How a row's distance is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Two-sample Kolmogorov-Smirnov statistic.
    Ks,
    /// Wasserstein-1 between `ln(1 + x)` of the samples.
    W1Log,
    /// Total variation between categorical histograms.
    Tv,
    /// |synthetic - real|.
    Abs,
    /// |synthetic - expected| / |expected| (expected = real, or K x real for the rate).
    Rel,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Ks => "KS",
            Metric::W1Log => "W1 log",
            Metric::Tv => "TV",
            Metric::Abs => "abs",
            Metric::Rel => "rel",
        }
    }
}

/// Requests of a type needed in both traces before it gets rows of its own: below that,
/// sampling noise alone moves KS by more than any useful tolerance.
pub const PER_TYPE_MIN: u64 = 200;

/// Every fixed row: name, metric, default tolerance (`None`: informational), what it
/// measures. The limits marked (acceptance) are the fit/generate acceptance limits of the
/// project; the others are set where a faithful generator lands with room for sampling
/// noise on traces of a few thousand requests.
pub const ROWS: &[(&str, Metric, Option<f64>, &str)] = &[
    (
        "input.ks",
        Metric::Ks,
        Some(0.03),
        "input length (acceptance)",
    ),
    (
        "input.w1_log",
        Metric::W1Log,
        Some(0.10),
        "input length, log scale",
    ),
    (
        "output.ks",
        Metric::Ks,
        Some(0.03),
        "output length (acceptance)",
    ),
    (
        "output.w1_log",
        Metric::W1Log,
        Some(0.10),
        "output length, log scale",
    ),
    (
        "input_output.spearman",
        Metric::Abs,
        Some(0.05),
        "Spearman correlation of input and output length",
    ),
    (
        "c2st.auc",
        Metric::Abs,
        Some(0.05),
        "classifier two-sample test: held-out AUC telling real from synthetic requests by \
         lengths, gap, hit share, type, turn and think time (0.5: indistinguishable); \
         distance AUC - 0.5",
    ),
    (
        "rate",
        Metric::Rel,
        Some(0.10),
        "requests per second (expected K x real)",
    ),
    (
        "inter_arrival.ks",
        Metric::Ks,
        Some(0.05),
        "gaps between consecutive requests (synthetic x K)",
    ),
    (
        "inter_arrival.w1_log",
        Metric::W1Log,
        None,
        "gaps between consecutive requests, log scale",
    ),
    (
        "inter_arrival.cv",
        Metric::Rel,
        Some(0.10),
        "inter-arrival CV (acceptance)",
    ),
    (
        "idc.1s",
        Metric::Rel,
        None,
        "index of dispersion of counts, 1 s windows",
    ),
    (
        "idc.10s",
        Metric::Rel,
        Some(0.25),
        "index of dispersion of counts, 10 s windows (acceptance)",
    ),
    (
        "idc.60s",
        Metric::Rel,
        Some(0.25),
        "index of dispersion of counts, 60 s windows (acceptance)",
    ),
    (
        "root_share",
        Metric::Abs,
        Some(0.02),
        "share of requests that are session roots (acceptance)",
    ),
    (
        "single_request_sessions",
        Metric::Abs,
        Some(0.03),
        "share of sessions of one request",
    ),
    (
        "turns.tv",
        Metric::Tv,
        Some(0.03),
        "turn histogram (acceptance)",
    ),
    (
        "children.tv",
        Metric::Tv,
        Some(0.03),
        "children per request",
    ),
    (
        "think_time.ks",
        Metric::Ks,
        Some(0.05),
        "parent->child gap (acceptance)",
    ),
    (
        "think_time.w1_log",
        Metric::W1Log,
        None,
        "parent->child gap, log scale",
    ),
    (
        "new_tokens.ks",
        Metric::Ks,
        Some(0.05),
        "new tokens per follow-up",
    ),
    (
        "type_mix.tv",
        Metric::Tv,
        Some(0.02),
        "request type mix (acceptance)",
    ),
    (
        "type_transitions.tv",
        Metric::Tv,
        Some(0.03),
        "parent type -> child type",
    ),
    (
        "ideal_hit_ratio",
        Metric::Abs,
        Some(0.02),
        "prefix hit ratio, infinite cache (acceptance)",
    ),
    (
        "lru.1pct",
        Metric::Abs,
        Some(0.03),
        "LRU hit ratio, cache of 1 % of unique blocks (acceptance)",
    ),
    (
        "lru.5pct",
        Metric::Abs,
        Some(0.03),
        "LRU hit ratio, 5 % of unique blocks (acceptance)",
    ),
    (
        "lru.10pct",
        Metric::Abs,
        Some(0.03),
        "LRU hit ratio, 10 % of unique blocks (acceptance)",
    ),
    (
        "lru.25pct",
        Metric::Abs,
        Some(0.03),
        "LRU hit ratio, 25 % of unique blocks (acceptance)",
    ),
    (
        "lru.50pct",
        Metric::Abs,
        Some(0.03),
        "LRU hit ratio, 50 % of unique blocks",
    ),
    (
        "same_session_hit_share",
        Metric::Abs,
        Some(0.05),
        "share of hit blocks seen earlier in the same session (the rest: cross-session)",
    ),
    (
        "new_block_reuse_share",
        Metric::Abs,
        Some(0.05),
        "share of new blocks ever reused",
    ),
    (
        "reuse_gap.ks",
        Metric::Ks,
        Some(0.05),
        "seconds since a hit block's previous use",
    ),
    (
        "reuse_gap.w1_log",
        Metric::W1Log,
        None,
        "reuse gap, log scale",
    ),
];

/// The per-type row families: `input.ks[TYPE]` and so on.
pub const PER_TYPE_ROWS: [&str; 4] = ["input.ks", "input.w1_log", "output.ks", "output.w1_log"];

/// Default tolerance of a per-type KS row with `n` real and `m` synthetic requests: the
/// two-sample KS critical value at the 1 % level, `1.63 sqrt((n + m) / (n m))`, so two
/// samples of the same distribution pass, but never stricter than 0.05. A fixed 0.03
/// would fail a perfect generator on a type of a few hundred requests.
pub fn per_type_ks_tolerance(n: u64, m: u64) -> f64 {
    let (n, m) = (n as f64, m as f64);
    (1.63 * ((n + m) / (n * m)).sqrt()).max(0.05)
}

/// Default tolerance of a fixed row (`None`: informational or not a fixed row).
pub fn default_tolerance(name: &str) -> Option<f64> {
    ROWS.iter().find(|r| r.0 == name).and_then(|r| r.2)
}

/// Overrides from a `--tolerances` file, on top of the defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tolerances {
    overrides: BTreeMap<String, Option<f64>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ToleranceError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("tolerances: not a JSON object of row name to number or null: {0}")]
    Json(#[from] serde_json::Error),
    #[error("tolerances: unknown row `{0}` (row names are the first column of the table)")]
    UnknownRow(String),
    #[error("tolerances: `{0}` must be a finite number >= 0 or null")]
    BadValue(String),
    #[error("tolerances: `{0}` is given twice (a later value would silently win)")]
    Duplicate(String),
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: Box<ToleranceError>,
    },
}

/// The object's entries in file order, duplicates kept, so they can be refused (a map
/// type would keep the last value without a word).
struct Entries(Vec<(String, Option<f64>)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of row name to number or null")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Option<f64>>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl Tolerances {
    pub fn load(path: &Path) -> Result<Tolerances, ToleranceError> {
        let text = crate::trace::input::read_text(&path.to_string_lossy()).map_err(|source| {
            ToleranceError::Io {
                path: path.display().to_string(),
                source,
            }
        })?;
        Tolerances::from_json(&text).map_err(|e| ToleranceError::File {
            path: path.display().to_string(),
            source: Box::new(e),
        })
    }

    /// Unknown and repeated names are rejected: a misspelt row would otherwise keep its
    /// default silently, a repeated one the last of its values.
    pub fn from_json(text: &str) -> Result<Tolerances, ToleranceError> {
        let Entries(entries) = serde_json::from_str(text)?;
        let mut overrides = BTreeMap::new();
        for (name, value) in entries {
            if !is_known_row(&name) {
                return Err(ToleranceError::UnknownRow(name));
            }
            if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(ToleranceError::BadValue(name));
            }
            if overrides.contains_key(&name) {
                return Err(ToleranceError::Duplicate(name));
            }
            overrides.insert(name, value);
        }
        Ok(Tolerances { overrides })
    }

    /// Set one override (`None`: informational).
    pub fn set(&mut self, name: &str, tolerance: Option<f64>) {
        self.overrides.insert(name.to_string(), tolerance);
    }

    /// The tolerance of row `name`, given its default.
    pub fn resolve(&self, name: &str, default: Option<f64>) -> Option<f64> {
        if let Some(&t) = self.overrides.get(name) {
            return t;
        }
        if let Some((family, _)) = split_per_type(name)
            && let Some(&t) = self.overrides.get(&format!("{family}[*]"))
        {
            return t;
        }
        default
    }
}

/// `input.ks[text]` -> `("input.ks", "text")`.
pub fn split_per_type(name: &str) -> Option<(&str, &str)> {
    let (family, rest) = name.split_once('[')?;
    let ty = rest.strip_suffix(']')?;
    PER_TYPE_ROWS.contains(&family).then_some((family, ty))
}

fn is_known_row(name: &str) -> bool {
    ROWS.iter().any(|r| r.0 == name) || split_per_type(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_resolve_exact_then_wildcard_then_default() {
        let t = Tolerances::from_json(
            r#"{"input.ks": 0.05, "idc.10s": null, "input.ks[*]": 0.2, "input.ks[text]": 0.1}"#,
        )
        .unwrap();
        assert_eq!(t.resolve("input.ks", Some(0.03)), Some(0.05));
        assert_eq!(t.resolve("idc.10s", Some(0.25)), None);
        assert_eq!(t.resolve("input.ks[text]", Some(0.07)), Some(0.1));
        assert_eq!(t.resolve("input.ks[api]", Some(0.07)), Some(0.2));
        assert_eq!(t.resolve("output.ks[api]", Some(0.07)), Some(0.07));
        assert_eq!(t.resolve("lru.1pct", Some(0.03)), Some(0.03));
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(matches!(
            Tolerances::from_json(r#"{"input_ks": 0.1}"#),
            Err(ToleranceError::UnknownRow(n)) if n == "input_ks"
        ));
        assert!(matches!(
            Tolerances::from_json(r#"{"turns.tv[text]": 0.1}"#),
            Err(ToleranceError::UnknownRow(_))
        ));
        assert!(matches!(
            Tolerances::from_json(r#"{"input.ks": -1}"#),
            Err(ToleranceError::BadValue(_))
        ));
        assert!(matches!(
            Tolerances::from_json(r#"{"input.ks": "x"}"#),
            Err(ToleranceError::Json(_))
        ));
    }

    #[test]
    fn per_type_tolerance_follows_sample_size() {
        // 200 and 200: 1.63 * sqrt(400 / 40000) = 0.163.
        assert!((per_type_ks_tolerance(200, 200) - 0.163).abs() < 1e-12);
        // Large samples fall to the 0.05 floor.
        assert_eq!(per_type_ks_tolerance(1_000_000, 1_000_000), 0.05);
    }

    #[test]
    fn the_acceptance_limits_are_the_defaults() {
        for (name, t) in [
            ("input.ks", 0.03),
            ("output.ks", 0.03),
            ("ideal_hit_ratio", 0.02),
            ("lru.1pct", 0.03),
            ("lru.25pct", 0.03),
            ("inter_arrival.cv", 0.10),
            ("idc.10s", 0.25),
            ("idc.60s", 0.25),
            ("root_share", 0.02),
            ("turns.tv", 0.03),
            ("think_time.ks", 0.05),
            ("type_mix.tv", 0.02),
        ] {
            assert_eq!(default_tolerance(name), Some(t), "{name}");
        }
    }
}
