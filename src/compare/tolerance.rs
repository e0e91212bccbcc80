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
//! Row names are the first column of the `compare` table. Fixed rows are the `compare`
//! rows of [`crate::metrics::rowdef::ROWS`]; per-type rows are `input.ks[TYPE]`, `input.w1_log[TYPE]`,
//! `output.ks[TYPE]` and `output.w1_log[TYPE]` (only for types with at least
//! [`PER_TYPE_MIN`] requests in both traces), and `[*]` in an override stands for every
//! type. An exact per-type name wins over `[*]`.

use std::collections::BTreeMap;
use std::path::Path;

pub use crate::metrics::rowdef::Metric;
use crate::metrics::rowdef::{compare_rows, row_def};

/// Requests of a type needed in both traces before it gets rows of its own: below that,
/// sampling noise alone moves KS by more than any useful tolerance.
pub const PER_TYPE_MIN: u64 = 200;

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
    row_def(name)
        .and_then(|r| r.compare)
        .and_then(|c| c.tolerance)
}

/// The per-type row families (`input.ks` for `input.ks[TYPE]` and so on).
pub fn per_type_families() -> impl Iterator<Item = &'static str> {
    compare_rows()
        .filter(|(_, c)| c.per_type)
        .map(|(r, _)| r.name)
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
    per_type_families()
        .any(|f| f == family)
        .then_some((family, ty))
}

fn is_known_row(name: &str) -> bool {
    row_def(name).is_some_and(|r| r.compare.is_some()) || split_per_type(name).is_some()
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
        // A figure only calibrate targets is not a compare row.
        assert!(matches!(
            Tolerances::from_json(r#"{"input.mean": 0.1}"#),
            Err(ToleranceError::UnknownRow(n)) if n == "input.mean"
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
