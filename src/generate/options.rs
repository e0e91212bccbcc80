//! What a run is asked for: the options of `generate` and the checks that refuse a value
//! no run can honour, in the library so every front end gets them.

use super::MAX_CHAT_ID;
use super::knobs::Knobs;
use crate::model::Model;

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
        if let RateProfileChoice::Steps(steps) = &self.rate_profile {
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
    /// [`GenerateOptions::validate`], and the checks that need the model: a `--peak-cap`
    /// must allow at least one request per window of the rate profile.
    pub fn validate_for(&self, model: &Model) -> Result<(), OptionError> {
        self.validate()?;
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

    pub fn new(index: u64, count: u64) -> Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count}: the part must be at least 0 and below the count"
            ));
        }
        Ok(Shard { index, count })
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
