//! The TARGETS.toml file of `tracesynth calibrate`: the summary statistics a calibrated
//! model must reproduce. Every key is optional; a missing one leaves the prior's value
//! alone.
//!
//! ```toml
//! prior = "trace-a"      # structural prior: "trace-a" (to-C chat sessions) or "api"
//!                        # (sessionless to-B traffic); default "trace-a"
//! duration_s = 7200      # seconds simulated per iteration; default 7200
//! seed = 1               # seed of the reference build and of the generation; default 1
//! iterations = 30        # at most this many simulate-and-adjust rounds; default 30
//! replicates = 1         # traces generated per simulation (seeds seed, seed + 1000,
//!                        # ...), their figures averaged; default 1
//! rate = 5.98            # requests per second
//!
//! [input]                # input tokens per request
//! mean = 2331
//! p50 = 1046
//! p99 = 14359
//!
//! [output]               # output tokens per request (same keys as [input])
//!
//! [sessions]
//! single_request_share = 0.61   # sessions made of one request
//! follow_up_share = 0.463       # requests that have a parent
//! gap_p50 = 110.6               # parent -> child gap, seconds
//! gap_p90 = 718.5
//!
//! [cache]
//! ideal_hit_ratio = 0.579              # infinite cache
//! same_session_share = 0.711           # of the ideal cache's hits
//! cross_session_share = 0.289          # (1 - same_session_share; give either or both)
//! lru = [0.176, 0.41, 0.5, 0.562, 0.578]  # LRU hit ratio at 1/5/10/25/50 % of the
//!                                         # distinct blocks
//!
//! [types]                # share of all requests, by type; names must be the prior's
//! text = 0.737
//! ```
//!
//! Shares and ratios are fractions in [0, 1], not percentages.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::metrics::LRU_PERCENTS;
use crate::reference::ReferenceConfig;

/// The most requests one simulation may generate (rate x duration_s x replicates): a
/// calibration runs tens of them, and each also builds and fits a reference trace.
pub const MAX_SIMULATED_REQUESTS: f64 = 1e7;

/// Which [`ReferenceConfig`] preset the calibration starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prior {
    TraceA,
    Api,
}

impl Prior {
    pub fn name(self) -> &'static str {
        match self {
            Prior::TraceA => "trace-a",
            Prior::Api => "api",
        }
    }

    pub fn config(self, seed: u64, duration_s: f64) -> ReferenceConfig {
        match self {
            Prior::TraceA => ReferenceConfig::trace_a_like(seed, duration_s),
            Prior::Api => ReferenceConfig::api_like(seed, duration_s),
        }
    }
}

/// Mean and quantiles of a length, any of them optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LengthTargets {
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

/// Everything a targets file says, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    pub prior: Prior,
    pub duration_s: f64,
    pub seed: u64,
    pub iterations: u32,
    /// Traces generated from each simulation's model, their figures averaged: one
    /// generated trace is a noisy measure of what a model produces on average.
    pub replicates: u32,
    pub rate: Option<f64>,
    pub input: LengthTargets,
    pub output: LengthTargets,
    pub single_request_share: Option<f64>,
    pub follow_up_share: Option<f64>,
    pub gap_p50: Option<f64>,
    pub gap_p90: Option<f64>,
    pub ideal_hit_ratio: Option<f64>,
    /// Share of the ideal cache's hits seen only in other sessions.
    pub cross_session_share: Option<f64>,
    /// At [`LRU_PERCENTS`].
    pub lru: Option<Vec<f64>>,
    /// Share of all requests, by type name.
    pub types: BTreeMap<String, f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Bad TOML or an unknown key: toml's message carries the line, column and key.
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}:{line}: `{key}`: {message}")]
    Value {
        path: String,
        line: usize,
        key: String,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    prior: Option<Spanned<String>>,
    duration_s: Option<Spanned<f64>>,
    seed: Option<Spanned<i64>>,
    iterations: Option<Spanned<i64>>,
    replicates: Option<Spanned<i64>>,
    rate: Option<Spanned<f64>>,
    #[serde(default)]
    input: RawLengths,
    #[serde(default)]
    output: RawLengths,
    #[serde(default)]
    sessions: RawSessions,
    #[serde(default)]
    cache: RawCache,
    #[serde(default)]
    types: BTreeMap<String, Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLengths {
    mean: Option<Spanned<f64>>,
    p50: Option<Spanned<f64>>,
    p99: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSessions {
    single_request_share: Option<Spanned<f64>>,
    follow_up_share: Option<Spanned<f64>>,
    gap_p50: Option<Spanned<f64>>,
    gap_p90: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCache {
    ideal_hit_ratio: Option<Spanned<f64>>,
    same_session_share: Option<Spanned<f64>>,
    cross_session_share: Option<Spanned<f64>>,
    lru: Option<Spanned<Vec<f64>>>,
}

/// Turns spans into `path:line: key: message` errors.
struct Checker<'a> {
    path: &'a str,
    text: &'a str,
}

impl Checker<'_> {
    fn error(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> TargetsError {
        let line = self.text[..span.start.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1;
        TargetsError::Value {
            path: self.path.to_string(),
            line,
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// A positive number no larger than `max` (of `unit`): a target or a simulation
    /// beyond what a model may hold would only make every round slower (a `rate` of 1e30
    /// doubled each round's time, without end).
    fn positive(
        &self,
        v: &Option<Spanned<f64>>,
        key: &str,
        max: f64,
        unit: &str,
    ) -> Result<Option<f64>, TargetsError> {
        match v {
            None => Ok(None),
            Some(s) if s.get_ref().is_finite() && *s.get_ref() > 0.0 => {
                let x = *s.get_ref();
                if x > max {
                    return Err(self.error(
                        s.span(),
                        key,
                        format!(
                            "{} is above the most a model may hold, {max} {unit}",
                            short(x)
                        ),
                    ));
                }
                Ok(Some(x))
            }
            Some(s) => Err(self.error(s.span(), key, "must be a positive number")),
        }
    }

    fn share(&self, v: &Option<Spanned<f64>>, key: &str) -> Result<Option<f64>, TargetsError> {
        match v {
            None => Ok(None),
            Some(s) if (0.0..=1.0).contains(s.get_ref()) => Ok(Some(*s.get_ref())),
            Some(s) => Err(self.error(
                s.span(),
                key,
                format!(
                    "{} is not a fraction in [0, 1] (write 0.61, not 61)",
                    s.get_ref()
                ),
            )),
        }
    }

    fn lengths(&self, raw: &RawLengths, table: &str) -> Result<LengthTargets, TargetsError> {
        let t = LengthTargets {
            mean: self.positive(
                &raw.mean,
                &format!("{table}.mean"),
                crate::trace::MAX_TOKENS as f64,
                "tokens",
            )?,
            p50: self.positive(
                &raw.p50,
                &format!("{table}.p50"),
                crate::trace::MAX_TOKENS as f64,
                "tokens",
            )?,
            p99: self.positive(
                &raw.p99,
                &format!("{table}.p99"),
                crate::trace::MAX_TOKENS as f64,
                "tokens",
            )?,
        };
        if let (Some(p50), Some(p99), Some(s)) = (t.p50, t.p99, &raw.p99)
            && p99 < p50
        {
            return Err(self.error(s.span(), &format!("{table}.p99"), "is below p50"));
        }
        Ok(t)
    }
}

/// The 1-based line of byte `at` of `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// `x` for a message: plain when moderate, in exponent form when huge.
fn short(x: f64) -> String {
    if x.abs() >= 1e9 {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

impl Targets {
    pub fn load(path: &str) -> Result<Targets, TargetsError> {
        let text = crate::trace::input::read_text(path).map_err(|source| TargetsError::Io {
            path: path.to_string(),
            source,
        })?;
        Targets::parse(&text, path)
    }

    /// Parse a targets document; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Targets, TargetsError> {
        // One line, as every other input error: toml's own display adds the line quoted
        // with a caret under it.
        let raw: RawFile = toml::from_str(text).map_err(|e| TargetsError::Syntax {
            path: match e.span() {
                Some(span) => format!("{path}:{}", line_of(text, span.start)),
                None => path.to_string(),
            },
            message: e.message().trim_end().replace('\n', "; "),
        })?;
        let c = Checker { path, text };
        let prior = match &raw.prior {
            None => Prior::TraceA,
            Some(s) => match s.get_ref().as_str() {
                "trace-a" => Prior::TraceA,
                "api" => Prior::Api,
                other => {
                    return Err(c.error(
                        s.span(),
                        "prior",
                        format!("`{other}` is not a prior (use \"trace-a\" or \"api\")"),
                    ));
                }
            },
        };
        let duration_s = c
            .positive(
                &raw.duration_s,
                "duration_s",
                crate::trace::MAX_SPAN,
                "s (62 days)",
            )?
            .unwrap_or(7200.0);
        let seed = match &raw.seed {
            None => 1,
            Some(s) => u64::try_from(*s.get_ref())
                .map_err(|_| c.error(s.span(), "seed", "must be >= 0"))?,
        };
        let iterations = match &raw.iterations {
            None => 30,
            Some(s) => match u32::try_from(*s.get_ref()) {
                Ok(n @ 1..=1000) => n,
                _ => return Err(c.error(s.span(), "iterations", "must be 1..=1000")),
            },
        };
        let replicates = match &raw.replicates {
            None => 1,
            Some(s) => match u32::try_from(*s.get_ref()) {
                Ok(n @ 1..=16) => n,
                _ => return Err(c.error(s.span(), "replicates", "must be 1..=16")),
            },
        };
        let same = c.share(&raw.cache.same_session_share, "cache.same_session_share")?;
        let cross = c.share(&raw.cache.cross_session_share, "cache.cross_session_share")?;
        let cross_session_share = match (same, cross) {
            (Some(s), Some(x)) if (s + x - 1.0).abs() > 0.01 => {
                let span = raw
                    .cache
                    .cross_session_share
                    .as_ref()
                    .expect("given")
                    .span();
                return Err(c.error(
                    span,
                    "cache.cross_session_share",
                    format!("same ({s}) and cross ({x}) session shares must add up to 1"),
                ));
            }
            (_, Some(x)) => Some(x),
            (Some(s), None) => Some(1.0 - s),
            (None, None) => None,
        };
        let lru = match &raw.cache.lru {
            None => None,
            Some(s) => {
                let v = s.get_ref();
                if v.len() != LRU_PERCENTS.len() {
                    return Err(c.error(
                        s.span(),
                        "cache.lru",
                        format!(
                            "needs {} hit ratios, at {:?} % of the distinct blocks",
                            LRU_PERCENTS.len(),
                            LRU_PERCENTS
                        ),
                    ));
                }
                if !v.iter().all(|h| (0.0..=1.0).contains(h)) {
                    return Err(c.error(s.span(), "cache.lru", "hit ratios must be in [0, 1]"));
                }
                Some(v.clone())
            }
        };
        let known: Vec<String> = prior
            .config(seed, duration_s)
            .types
            .iter()
            .map(|t| t.name.clone())
            .collect();
        let mut types = BTreeMap::new();
        for (name, v) in &raw.types {
            let key = format!("types.{name}");
            if !known.contains(name) {
                return Err(c.error(
                    v.span(),
                    &key,
                    format!(
                        "the {} prior has no type `{name}` (it has {})",
                        prior.name(),
                        known.join(", ")
                    ),
                ));
            }
            types.insert(
                name.clone(),
                c.share(&Some(v.clone()), &key)?.expect("given"),
            );
        }
        let rate = c.positive(&raw.rate, "rate", crate::model::MAX_RATE, "per second")?;
        if let (Some(r), Some(s)) = (rate, &raw.rate) {
            let simulated = r * duration_s * f64::from(replicates);
            if simulated > MAX_SIMULATED_REQUESTS {
                return Err(c.error(
                    s.span(),
                    "rate",
                    format!(
                        "{} per second over duration_s = {} and {replicates} \
                         replicate(s) is {simulated:.3e} requests a simulation, above \
                         {MAX_SIMULATED_REQUESTS:.0e}; lower duration_s or replicates",
                        short(r),
                        short(duration_s)
                    ),
                ));
            }
        }
        Ok(Targets {
            prior,
            duration_s,
            seed,
            iterations,
            replicates,
            rate,
            input: c.lengths(&raw.input, "input")?,
            output: c.lengths(&raw.output, "output")?,
            single_request_share: c.share(
                &raw.sessions.single_request_share,
                "sessions.single_request_share",
            )?,
            follow_up_share: c.share(&raw.sessions.follow_up_share, "sessions.follow_up_share")?,
            gap_p50: c.positive(
                &raw.sessions.gap_p50,
                "sessions.gap_p50",
                crate::trace::MAX_SPAN,
                "s (62 days)",
            )?,
            gap_p90: c.positive(
                &raw.sessions.gap_p90,
                "sessions.gap_p90",
                crate::trace::MAX_SPAN,
                "s (62 days)",
            )?,
            ideal_hit_ratio: c.share(&raw.cache.ideal_hit_ratio, "cache.ideal_hit_ratio")?,
            cross_session_share,
            lru,
            types,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Targets::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn an_empty_file_keeps_the_prior() {
        let t = Targets::parse("", "t.toml").unwrap();
        assert_eq!(t.prior, Prior::TraceA);
        assert_eq!((t.duration_s, t.seed, t.iterations), (7200.0, 1, 30));
        assert_eq!(t.replicates, 1);
        assert!(t.rate.is_none() && t.lru.is_none() && t.types.is_empty());
    }

    #[test]
    fn every_key_is_read() {
        let t = Targets::parse(
            "prior = \"api\"\nduration_s = 600\nseed = 3\niterations = 5\nreplicates = 2\n\
             rate = 24\n\
             [input]\nmean = 915\np50 = 574\np99 = 6294\n[output]\np50 = 39\n\
             [sessions]\nfollow_up_share = 0\nsingle_request_share = 1.0\n\
             gap_p50 = 1\ngap_p90 = 2\n\
             [cache]\nideal_hit_ratio = 0.542\nsame_session_share = 0\n\
             lru = [0.462, 0.516, 0.528, 0.537, 0.541]\n[types]\napi = 0.873\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(t.prior, Prior::Api);
        assert_eq!((t.duration_s, t.seed, t.iterations), (600.0, 3, 5));
        assert_eq!(t.replicates, 2);
        assert_eq!(t.rate, Some(24.0));
        assert_eq!(t.input.p99, Some(6294.0));
        assert_eq!(t.output.mean, None);
        assert_eq!(t.cross_session_share, Some(1.0));
        assert_eq!(t.lru.as_ref().unwrap()[4], 0.541);
        assert_eq!(t.types["api"], 0.873);
        assert_eq!(t.gap_p90, Some(2.0));
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let e = err("rate = 5\n[input]\np50 = -3\n");
        assert_eq!(e, "t.toml:3: `input.p50`: must be a positive number");
        let e = err("[sessions]\nfollow_up_share = 46.3\n");
        assert!(
            e.starts_with("t.toml:2: `sessions.follow_up_share`: 46.3"),
            "{e}"
        );
        let e = err("[types]\ntext = 0.7\nvideo = 0.1\n");
        assert!(e.starts_with("t.toml:3: `types.video`: the trace-a prior has no type"));
        let e = err("prior = \"coder\"\n");
        assert!(e.starts_with("t.toml:1: `prior`"), "{e}");
        let e = err("[cache]\nlru = [0.1, 0.2]\n");
        assert!(e.starts_with("t.toml:2: `cache.lru`: needs 5"), "{e}");
        let e = err("[cache]\nsame_session_share = 0.7\ncross_session_share = 0.5\n");
        assert!(
            e.starts_with("t.toml:3: `cache.cross_session_share`"),
            "{e}"
        );
        let e = err("[input]\np50 = 100\np99 = 50\n");
        assert!(e.starts_with("t.toml:3: `input.p99`: is below p50"), "{e}");
        let e = err("iterations = 0\n");
        assert!(e.starts_with("t.toml:1: `iterations`"), "{e}");
        let e = err("replicates = 0\n");
        assert!(e.starts_with("t.toml:1: `replicates`"), "{e}");
    }

    /// Positive but absurd: each was accepted, and `rate = 1e30` made every round of the
    /// calibration slower than the last (4 rounds took 44 s, the fifth more than the four).
    #[test]
    fn targets_beyond_what_a_model_holds_are_refused() {
        for (text, key, says) in [
            (
                "rate = 1e30\n",
                "rate",
                "above the most a model may hold, 1000000 per second",
            ),
            ("[input]\np50 = 1e12\n", "input.p50", "100000000 tokens"),
            ("[output]\nmean = 1e9\n", "output.mean", "tokens"),
            ("duration_s = 1e30\n", "duration_s", "62 days"),
            (
                "[sessions]\ngap_p90 = 1e300\n",
                "sessions.gap_p90",
                "62 days",
            ),
            // Each within range, together 1.44e9 requests a simulation.
            (
                "replicates = 2\nrate = 1e5\n",
                "rate",
                "requests a simulation",
            ),
        ] {
            let e = err(text);
            assert!(e.contains(&format!("`{key}`: ")), "{text}: {e}");
            assert!(e.contains(says), "{text}: {e}");
        }
        let t = Targets::parse("rate = 1000\nduration_s = 3600\n", "t.toml").unwrap();
        assert_eq!(t.rate, Some(1000.0));
    }

    #[test]
    fn unknown_keys_and_bad_syntax_are_refused_with_their_place() {
        let e = err("rate = 5\n[input]\nmedian = 3\n");
        assert!(e.starts_with("t.toml:3: ") && e.contains("median"), "{e}");
        let e = err("rtae = 5\n");
        assert!(e.starts_with("t.toml:1: ") && e.contains("rtae"), "{e}");
        let e = err("rate = \"fast\"\n");
        assert!(e.starts_with("t.toml:1: "), "{e}");
        let e = err("[input\n");
        assert!(e.starts_with("t.toml:1: "), "{e}");
        let e = err("rate = 5\nrate = 6\n");
        assert!(
            e.starts_with("t.toml:2: ") && e.contains("duplicate key"),
            "{e}"
        );
        // One line, like every other input error.
        for text in [
            "rate = 5\nrate = 6\n",
            "[input\n",
            "rate = 5\n[input]\nmedian = 3\n",
        ] {
            assert!(!err(text).contains('\n'), "{text}: {}", err(text));
        }
    }
}
