//! What a run is asked for: the options of `generate` and the checks that refuse a value
//! no run can honour, in the library so every front end gets them.

use super::MAX_CHAT_ID;
use super::knobs::Knobs;
use crate::model::Model;
use crate::trace::{Format, LineFormatter};

/// How the root rate behaves over time.
#[derive(Debug, Clone, PartialEq)]
pub enum RateProfileChoice {
    /// The fitted profile, repeated beyond the fitted span.
    Repeat,
    /// The fitted mean rate throughout.
    Flat,
    /// Multipliers of the fitted mean rate: `(start second, multiplier)` steps, the last
    /// one holding to the end (from a CSV file).
    Steps(Vec<(f64, f64)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    pub seed: u64,
    /// Output seconds to cover; `None` with no other limit means the fitted span.
    pub duration: Option<f64>,
    /// Stop after this many requests.
    pub requests: Option<u64>,
    /// Start at most this many sessions (their follow-ups still come).
    pub sessions: Option<u64>,
    /// Sessions per second, relative to the model.
    pub rate_scale: f64,
    /// Stretch (> 1) or compress (< 1) all times.
    pub time_scale: f64,
    pub rate_profile: RateProfileChoice,
    /// `chat_id` of the first request.
    pub start_id: u64,
    /// Model seconds into the rate profile at which output begins (its timestamps still
    /// start at 0): 14 h starts a daily profile at its 14th hour.
    pub start_at: f64,
    /// Keep only this part of the sessions.
    pub shard: Shard,
    /// Independent copies of the service interleaved in one trace (1: the service
    /// itself).
    pub tenants: u32,
    /// What-if knobs on the drawn lengths ([`Knobs`]); the default changes nothing.
    pub knobs: Knobs,
}

/// An option value outside the range a run can honour.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{option}: {message}")]
pub struct OptionError {
    pub option: &'static str,
    pub message: String,
}

impl GenerateOptions {
    /// Check every value against the range that makes sense, so that an absurd one
    /// (`--rate-scale 1e9`, a duration of 1e20 days) is refused before planning starts
    /// rather than running away or overflowing.
    pub fn validate(&self) -> Result<(), OptionError> {
        use crate::model::MAX_SCALE;
        use crate::trace::MAX_SPAN;
        let fail = |option: &'static str, message: String| Err(OptionError { option, message });
        let scale_ok = |k: f64| k.is_finite() && (1.0 / MAX_SCALE..=MAX_SCALE).contains(&k);
        if !scale_ok(self.rate_scale) {
            return fail(
                "--rate-scale",
                format!(
                    "{} is outside [{}, {MAX_SCALE}]; for a bigger service combine \
                     --rate-scale with --tenants",
                    num(self.rate_scale),
                    1.0 / MAX_SCALE
                ),
            );
        }
        if !scale_ok(self.time_scale) {
            return fail(
                "--time-scale",
                format!(
                    "{} is outside [{}, {MAX_SCALE}]",
                    num(self.time_scale),
                    1.0 / MAX_SCALE
                ),
            );
        }
        if let Some(d) = self.duration
            && !(d.is_finite() && d > 0.0 && d <= MAX_SPAN)
        {
            return fail(
                "--duration",
                format!(
                    "{} s is outside (0, 62 days]: a trace may span at most 62 days",
                    num(d)
                ),
            );
        }
        if !(self.start_at.is_finite() && (0.0..=MAX_SPAN).contains(&self.start_at)) {
            return fail(
                "--start-at",
                format!("{} s is outside [0, 62 days]", num(self.start_at)),
            );
        }
        if self.start_id >= MAX_CHAT_ID {
            return fail(
                "--start-id",
                format!(
                    "{} is at or above 2^32 = {MAX_CHAT_ID}: consumers keep chat ids in 32 bits",
                    self.start_id
                ),
            );
        }
        if self.tenants == 0 {
            return fail(
                "--tenants",
                "0 copies of the service: a run has at least 1".to_string(),
            );
        }
        if let RateProfileChoice::Steps(steps) = &self.rate_profile {
            if steps.windows(2).any(|w| w[1].0 < w[0].0) {
                return fail(
                    "--rate-profile",
                    "the steps must be sorted by start".to_string(),
                );
            }
            if steps.iter().all(|s| s.1 == 0.0) {
                return fail(
                    "--rate-profile",
                    "no step with a positive multiplier".to_string(),
                );
            }
            for &(start, k) in steps {
                if !(start.is_finite() && start >= 0.0) {
                    return fail(
                        "--rate-profile",
                        format!("step start {} is not >= 0", num(start)),
                    );
                }
                if !(k.is_finite() && (0.0..=MAX_SCALE).contains(&k)) {
                    return fail(
                        "--rate-profile",
                        format!("multiplier {} is outside [0, {MAX_SCALE}]", num(k)),
                    );
                }
            }
        }
        self.knobs.validate()?;
        if self.knobs.peak_cap.is_some() && self.tenants > 1 {
            return fail(
                "--peak-cap",
                "caps one service's rate; with --tenants the copies keep clocks of their \
                 own, so cap each copy's run instead"
                    .to_string(),
            );
        }
        Ok(())
    }
}

impl GenerateOptions {
    /// [`GenerateOptions::validate`], and the checks that need the model: a model of
    /// ServeGen clients keeps its clients' own rates, and a `--peak-cap` must allow at
    /// least one request per window of the rate profile.
    pub fn validate_for(&self, model: &Model) -> Result<(), OptionError> {
        self.validate()?;
        if model.clients.is_some() && self.rate_profile != RateProfileChoice::Repeat {
            return Err(OptionError {
                option: "--rate-profile",
                message: "a model of ServeGen clients follows each client's own rates (use \
                          --rate-scale to scale them all)"
                    .to_string(),
            });
        }
        if let Some(r) = self.knobs.peak_cap {
            let width = model.arrivals.bin_width * self.time_scale;
            if r * width < 1.0 {
                return Err(OptionError {
                    option: "--peak-cap",
                    message: format!(
                        "{} requests/s allows no request in a window of the model's rate \
                         profile ({} s): the cap must be at least {}",
                        num(r),
                        num(width),
                        num(1.0 / width)
                    ),
                });
            }
        }
        Ok(())
    }
}

/// `x` for a message: plain when moderate, in exponent form when huge or tiny.
pub(super) fn num(x: f64) -> String {
    if x != 0.0 && !(1e-3..1e6).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Part `index` of `count` (`0 <= index < count`): the sessions whose root is the k-th
/// drawn with `k % count == index`. Sessions are never split, and the parts together are
/// the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u64, count: u64) -> Result<Shard, OptionError> {
        if count == 0 || index >= count {
            return Err(OptionError {
                option: "--shard",
                message: format!(
                    "shard {index}/{count}: the part must be at least 0 and below the count"
                ),
            });
        }
        Ok(Shard { index, count })
    }

    /// `I/N` -> part I of N.
    pub fn parse(text: &str) -> Result<Shard, OptionError> {
        let like = || OptionError {
            option: "--shard",
            message: format!("`{text}` is not a part like 0/8"),
        };
        let (i, n) = text.split_once('/').ok_or_else(like)?;
        let num = |s: &str| s.trim().parse::<u64>().map_err(|_| like());
        Shard::new(num(i)?, num(n)?)
    }

    /// Refuse a part of a run written as `format` by `formatter` when the parts could not
    /// be merged back into the whole run's bytes. `block_size` is the model's.
    pub fn check_output(
        &self,
        format: Format,
        formatter: &LineFormatter,
        block_size: u32,
    ) -> Result<(), OptionError> {
        if *self == Shard::WHOLE {
            return Ok(());
        }
        let native = Format::native(block_size).unwrap_or(Format::Bailian);
        if format.line_order().is_none() {
            return Err(OptionError {
                option: "--shard",
                message: format!(
                    "the parts of --format {format} cannot be merged (its lines follow from \
                     the lines before them); generate it whole, or shard --format {native} \
                     and convert the merged trace"
                ),
            });
        }
        if !formatter.is_stateless() {
            return Err(OptionError {
                option: "--shard",
                message: format!(
                    "writing {block_size}-token blocks as --format {format} numbers the new \
                     blocks in order of appearance across the whole trace, which a part \
                     cannot know; use --format {native}"
                ),
            });
        }
        Ok(())
    }

    pub fn holds(&self, session: u64) -> bool {
        session % self.count == self.index
    }
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            seed: 0,
            duration: None,
            requests: None,
            sessions: None,
            rate_scale: 1.0,
            time_scale: 1.0,
            rate_profile: RateProfileChoice::Repeat,
            start_id: 0,
            start_at: 0.0,
            shard: Shard::WHOLE,
            tenants: 1,
            knobs: Knobs::default(),
        }
    }
}

/// A text that is not a duration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(pub String);

/// `90`, `90s`, `30m`, `2h`, `1d`, `1.5h`, `1h30m`, `1d 12h` -> seconds, above 0.
pub fn parse_duration(text: &str) -> Result<f64, DurationError> {
    let seconds = parse_offset(text)?;
    if seconds <= 0.0 {
        return Err(DurationError(format!("duration `{text}` must be positive")));
    }
    Ok(seconds)
}

/// A duration that may be zero (`0`, `0h`): a sum of `NUMBER[UNIT]` terms (the unit is
/// `s` when omitted, allowed on the last term only), at least 0 and finite.
pub fn parse_offset(text: &str) -> Result<f64, DurationError> {
    let fail = |m: String| Err(DurationError(m));
    let like = || format!("`{text}` is not a duration like 90s, 30m, 2h, 1d or 1h30m");
    let t = text.trim();
    if t.starts_with('-') {
        return fail(format!("duration `{text}` must not be negative"));
    }
    if t.is_empty() {
        return fail(like());
    }
    let mut rest = t;
    let mut seconds = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| c.is_ascii_alphabetic() || c.is_whitespace())
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_end);
        let after = after.trim_start();
        let unit_end = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let Ok(value) = num.parse::<f64>() else {
            return fail(like());
        };
        let factor = match unit {
            "" if next.trim().is_empty() => 1.0,
            "" => return fail(like()),
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => {
                return fail(format!(
                    "unknown unit `{unit}` in `{text}` (use s, m, h or d)"
                ));
            }
        };
        if !(value.is_finite() && value >= 0.0) {
            return fail(like());
        }
        seconds += value * factor;
        rest = next.trim_start();
    }
    if !seconds.is_finite() {
        return fail(format!("duration `{text}` is too long"));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("2h"), Ok(7200.0));
        assert_eq!(parse_duration("30m"), Ok(1800.0));
        assert_eq!(parse_duration("86400s"), Ok(86400.0));
        assert_eq!(parse_duration("90"), Ok(90.0));
        assert_eq!(parse_duration("1.5d"), Ok(129_600.0));
        assert_eq!(parse_duration("1h30m"), Ok(5400.0));
        assert!(parse_duration("2x").is_err());
        assert_eq!(
            parse_duration("-5m").unwrap_err().to_string(),
            "duration `-5m` must not be negative"
        );
        assert!(parse_duration("0").is_err());
        assert_eq!(parse_offset("0h"), Ok(0.0));
        assert_eq!(parse_offset("14h"), Ok(50_400.0));
        assert!(parse_offset("-1h").is_err());
    }

    #[test]
    fn parses_shards() {
        assert_eq!(Shard::parse("1/4"), Ok(Shard { index: 1, count: 4 }));
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("x").is_err());
    }

    #[test]
    fn a_clients_model_keeps_its_rates() {
        let flat = GenerateOptions {
            rate_profile: RateProfileChoice::Flat,
            ..GenerateOptions::default()
        };
        assert!(flat.validate_for(&Model::default_model()).is_ok());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("validation/data/servegen/reason/deepseek-r1");
        let model = crate::servegen::import_dir(&dir, &Default::default())
            .unwrap()
            .model;
        let e = flat.validate_for(&model).unwrap_err();
        assert_eq!(e.option, "--rate-profile");
        assert!(GenerateOptions::default().validate_for(&model).is_ok());
    }
}
