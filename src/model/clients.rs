//! Per-client arrivals and lengths, as ServeGen publishes them for Bailian's API clients:
//! for every client a rate and a Gamma or Weibull gap shape per arrival window (600 s),
//! and length distributions per length window (6 h).
//!
//! Two things differ from ServeGen's own generator on purpose (BRIEF section 5):
//! - A client's arrivals are one renewal process across windows: unit-mean gaps with the
//!   current window's shape, laid out in operational time (the integral of the client's
//!   rate), so a window's count varies as a renewal process's does and zero-rate windows
//!   send nothing. ServeGen draws `ceil(rate x 600)` gaps per window and rescales them to
//!   fill it exactly, which removes all count noise.
//! - Input and output are drawn through a Gaussian copula with a modest rank correlation.
//!   ServeGen feeds one uniform to every field, so input and output come out perfectly
//!   rank-correlated. The data holds only marginals, so the correlation is an assumption
//!   ([`DEFAULT_IO_SPEARMAN`]) the user can override.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Gamma as GammaSampler};
use serde::{Deserialize, Serialize};
use statrs::function::gamma::gamma as gamma_fn;

use super::arrivals::{GapDist, GapSampler, RateProfile};
use super::copula::GaussianCopula;
use super::schedule::Schedule;
use super::{MAX_RATE, ModelError};

/// Rank correlation of a client's input and output tokens unless told otherwise.
/// ServeGen (NSDI'26) reports the input/output correlation of Bailian clients as weak,
/// and its per-client data holds only the two marginals, so a weak positive value stands
/// in for the unknown one: far from ServeGen's own comonotone draw (1), not pretending to
/// full independence either.
pub const DEFAULT_IO_SPEARMAN: f64 = 0.1;

/// Gap shapes below these are rejected. A unit-mean Gamma of shape `k` sends bursts of
/// about `1/k` simultaneous requests, still sensible at 0.001; a unit-mean Weibull's
/// scale is `1/Gamma(1 + 1/k)`, and below about 0.1 almost every gap underflows to zero
/// so that operational time would stop moving. The smallest shapes in the published
/// data are 0.0067 (Gamma) and 0.15 (Weibull).
pub const MIN_GAMMA_SHAPE: f64 = 1e-3;
pub const MIN_WEIBULL_SHAPE: f64 = 0.1;

/// Pattern character of a window fitted with Gamma gaps ...
pub const GAMMA: char = 'G';
/// ... with Weibull gaps ...
pub const WEIBULL: char = 'W';
/// ... and of a window without traffic.
pub const NO_TRAFFIC: char = '-';

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientMix {
    /// Width of an arrival window, seconds (ServeGen: 600). Every client has one rate
    /// per window over the span; beyond it the profile repeats.
    pub window: f64,
    /// Width of a length window, seconds (ServeGen: 21,600): the span holds
    /// `ceil(span / length_window)` of them.
    pub length_window: f64,
    /// Dependence of output on input for clients without their own.
    pub dependence: GaussianCopula,
    pub clients: Vec<Client>,
    /// Length distributions per length window for clients without their own (`null`:
    /// no data in that window; the last earlier window with data stands in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pooled: Vec<Option<WindowLengths>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    /// The client's name in the source (ServeGen: the N of `chunk-N-*`).
    pub id: String,
    /// Request type, indexed like the model's `types`.
    pub ty: usize,
    /// Requests per second in each window.
    #[serde(with = "inline_numbers")]
    pub rate: Vec<f64>,
    /// One character per window: `G` Gamma gaps, `W` Weibull gaps, `-` no traffic.
    pub pattern: String,
    /// Gap shape of each window with traffic (in window order, one per `G` or `W`):
    /// Gamma `a` or Weibull `c` in scipy's terms. The gaps are drawn with mean
    /// `1 / rate`; the source's scale parameter is not kept.
    #[serde(with = "inline_numbers")]
    pub shape: Vec<f64>,
    /// The source's coefficient of variation of the gaps in each window with traffic, for
    /// reference (it equals `1/sqrt(shape)` for Gamma windows; the Weibull fits often
    /// imply less).
    #[serde(with = "inline_numbers")]
    pub cv: Vec<f64>,
    /// Own length distributions per length window (`null`: no data in that window; the
    /// last earlier window with data stands in). Absent: the mix's pooled ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lengths: Option<Vec<Option<WindowLengths>>>,
    /// Own input/output dependence; absent: the mix's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependence: Option<GaussianCopula>,
}

/// Input and output tokens of one length window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowLengths {
    pub input: IntDist,
    pub output: IntDist,
}

/// A distribution on whole numbers kept as knots of its CDF, `P(X <= x[j]) = cdf[j]`,
/// linear in between: sampling inverts it and rounds up. Where the knots are every
/// corner of the CDF (small supports) it is the exact distribution; elsewhere a knot is
/// kept only where leaving it out would move the CDF by more than a tolerance, so a
/// smooth stretch of a large support costs two knots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntDist {
    /// Strictly increasing; `x[0]` is one below the smallest value (`cdf[0] = 0`).
    #[serde(with = "inline_numbers")]
    pub x: Vec<f64>,
    /// Non-decreasing from 0 to 1.
    #[serde(with = "inline_numbers")]
    pub cdf: Vec<f64>,
}

/// Largest CDF error [`IntDist::from_pmf`] allows when it drops knots: a tenth of the
/// KS distance the importer promises (0.01), so sampling noise has room.
pub const KNOT_TOLERANCE: f64 = 0.001;
/// Knot probabilities are rounded to this many decimals (an error of 5e-7 at most) to
/// keep the model file small.
const CDF_DECIMALS: i32 = 6;

impl IntDist {
    /// The distribution of a probability mass function given as `(value, probability)`
    /// pairs in any order (probabilities are normalised; zero ones dropped), with knots
    /// dropped while the CDF stays within `tolerance`. `None` without positive mass.
    pub fn from_pmf(pmf: &[(u64, f64)], tolerance: f64) -> Option<IntDist> {
        let mut sorted: Vec<(u64, f64)> = pmf
            .iter()
            .copied()
            .filter(|&(_, p)| p.is_finite() && p > 0.0)
            .collect();
        sorted.sort_by_key(|p| p.0);
        let mut pairs: Vec<(u64, f64)> = Vec::with_capacity(sorted.len());
        for (v, p) in sorted {
            match pairs.last_mut() {
                Some(last) if last.0 == v => last.1 += p,
                _ => pairs.push((v, p)),
            }
        }
        let total: f64 = pairs.iter().map(|p| p.1).sum();
        if pairs.is_empty() || total <= 0.0 {
            return None;
        }
        // Corners of the CDF seen as linear between consecutive integers: it climbs from
        // `F(v - 1)` to `F(v)` over the unit before each value and is flat elsewhere.
        let mut corners: Vec<(f64, f64)> = Vec::with_capacity(2 * pairs.len() + 1);
        let mut acc = 0.0;
        for &(v, p) in &pairs {
            let v = v as f64;
            if corners.last().is_none_or(|c| c.0 < v - 1.0) {
                corners.push((v - 1.0, acc / total));
            }
            acc += p;
            corners.push((v, acc / total));
        }
        corners.last_mut().expect("non-empty").1 = 1.0;
        let kept = simplify(&corners, tolerance);
        let scale = 10f64.powi(CDF_DECIMALS);
        let mut cdf: Vec<f64> = kept.iter().map(|c| (c.1 * scale).round() / scale).collect();
        cdf[0] = 0.0;
        *cdf.last_mut().expect("non-empty") = 1.0;
        Some(IntDist {
            x: kept.iter().map(|c| c.0).collect(),
            cdf,
        })
    }

    /// The value at probability `u` in `[0, 1)`.
    pub fn at(&self, u: f64) -> u64 {
        let last = self.x.len() - 1;
        let j = self.cdf.partition_point(|&c| c <= u).clamp(1, last);
        let (c0, c1) = (self.cdf[j - 1], self.cdf[j]);
        let (x0, x1) = (self.x[j - 1], self.x[j]);
        let q = if c1 > c0 {
            x0 + (u - c0) / (c1 - c0) * (x1 - x0)
        } else {
            x1
        };
        // The segment's mass sits on the integers x0+1..=x1.
        q.ceil().clamp(x0 + 1.0, x1).max(0.0) as u64
    }

    /// `P(X <= k)`.
    pub fn cdf(&self, k: f64) -> f64 {
        let last = self.x.len() - 1;
        if k < self.x[0] {
            return 0.0;
        }
        if k >= self.x[last] {
            return 1.0;
        }
        let j = self.x.partition_point(|&x| x <= k).clamp(1, last);
        let (x0, x1) = (self.x[j - 1], self.x[j]);
        let k = k.floor().max(x0);
        self.cdf[j - 1] + (k - x0) / (x1 - x0) * (self.cdf[j] - self.cdf[j - 1])
    }

    /// The mean.
    pub fn mean(&self) -> f64 {
        // Over a knot segment the mass spreads evenly on the integers x0+1..=x1.
        self.x
            .windows(2)
            .zip(self.cdf.windows(2))
            .map(|(x, c)| (c[1] - c[0]) * (x[0] + 1.0 + x[1]) / 2.0)
            .sum()
    }

    pub fn validate(&self, what: &str) -> Result<(), ModelError> {
        if self.x.len() < 2 || self.x.len() != self.cdf.len() {
            return Err(ModelError::invalid(
                what,
                "x and cdf need the same length, at least 2",
            ));
        }
        if self
            .x
            .iter()
            .any(|x| !x.is_finite() || *x < -1.0 || x.fract() != 0.0)
        {
            return Err(ModelError::invalid(what, "x must be whole numbers >= -1"));
        }
        // The importer refuses token counts above the limit; a hand-edited model must
        // not bring them back (each draw becomes a line of that many tokens' ids).
        let max = crate::trace::MAX_TOKENS as f64;
        if self.x[self.x.len() - 1] > max {
            return Err(ModelError::invalid(
                what,
                format!("x must be at most {max} tokens"),
            ));
        }
        if self.x.windows(2).any(|w| w[1] <= w[0]) {
            return Err(ModelError::invalid(what, "x must be strictly increasing"));
        }
        if self.cdf.iter().any(|c| !(0.0..=1.0).contains(c))
            || self.cdf.windows(2).any(|w| w[1] < w[0])
        {
            return Err(ModelError::invalid(
                what,
                "cdf must be non-decreasing within [0, 1]",
            ));
        }
        if self.cdf[0] != 0.0 || self.cdf[self.cdf.len() - 1] != 1.0 {
            return Err(ModelError::invalid(what, "cdf must run from 0 to 1"));
        }
        Ok(())
    }
}

/// The fewest corners of a non-decreasing polyline such that linear interpolation between
/// them stays within `tolerance` of every dropped corner: greedily, each segment is made
/// as long as the cone of slopes that pass within `tolerance` of the corners it skips
/// allows (one pass).
fn simplify(points: &[(f64, f64)], tolerance: f64) -> Vec<(f64, f64)> {
    let mut kept = vec![points[0]];
    let mut anchor = 0;
    while anchor + 1 < points.len() {
        let (xa, ya) = points[anchor];
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        let mut end = anchor + 1;
        for (k, &(x, y)) in points.iter().enumerate().skip(anchor + 1) {
            let dx = x - xa;
            let slope = (y - ya) / dx;
            if (lo..=hi).contains(&slope) {
                end = k;
            }
            lo = lo.max((y - tolerance - ya) / dx);
            hi = hi.min((y + tolerance - ya) / dx);
            if lo > hi {
                break;
            }
        }
        kept.push(points[end]);
        anchor = end;
    }
    kept
}

impl ClientMix {
    /// Arrival windows in the span.
    pub fn windows(&self) -> usize {
        self.clients.first().map_or(0, |c| c.rate.len())
    }

    /// Seconds the per-client profiles cover before they repeat.
    pub fn span(&self) -> f64 {
        self.windows() as f64 * self.window
    }

    /// Length windows in the span.
    pub fn length_windows(&self) -> usize {
        ((self.span() / self.length_window) - 1e-9).ceil().max(1.0) as usize
    }

    /// The request type of a client (an index into the model's `types`).
    pub fn client_type(&self, client: usize) -> usize {
        self.clients[client].ty
    }

    /// Expected requests of a client over the span.
    pub fn volume(&self, client: usize) -> f64 {
        self.clients[client].rate.iter().sum::<f64>() * self.window
    }

    /// The sum of the clients' rates in each window.
    pub fn total_rates(&self) -> Vec<f64> {
        let mut total = vec![0.0; self.windows()];
        for c in &self.clients {
            for (t, r) in total.iter_mut().zip(&c.rate) {
                *t += r;
            }
        }
        total
    }

    /// The length distributions a client's requests follow at model time `t` (beyond the
    /// span the windows repeat).
    pub fn lengths_at(&self, client: usize, t: f64) -> &WindowLengths {
        let n = self.length_windows();
        let w = ((t.rem_euclid(self.span()) / self.length_window) as usize).min(n - 1);
        let windows = self.clients[client]
            .lengths
            .as_ref()
            .unwrap_or(&self.pooled);
        // An empty window borrows the last earlier one with data (cyclically), as
        // ServeGen's own loader does.
        (0..n)
            .find_map(|back| windows[(w + n - back) % n].as_ref())
            .expect("validated: at least one window with data")
    }

    /// Input and output tokens (both >= 1) of a request of `client` at model time `t`.
    pub fn sample_lengths<R: Rng + ?Sized>(
        &self,
        client: usize,
        t: f64,
        rng: &mut R,
    ) -> (u64, u64) {
        let lengths = self.lengths_at(client, t);
        let dependence = self.clients[client]
            .dependence
            .as_ref()
            .unwrap_or(&self.dependence);
        let (u_in, u_out) = dependence.sample(rng);
        (
            lengths.input.at(u_in).max(1),
            lengths.output.at(u_out).max(1),
        )
    }

    pub fn validate(&self, n_types: usize) -> Result<(), ModelError> {
        let what = "clients";
        if !(self.window.is_finite() && self.window > 0.0) {
            return Err(ModelError::invalid(what, "window must be > 0"));
        }
        if !(self.length_window.is_finite() && self.length_window > 0.0) {
            return Err(ModelError::invalid(what, "length_window must be > 0"));
        }
        if self.clients.is_empty() {
            return Err(ModelError::invalid(what, "at least one client is needed"));
        }
        self.dependence.validate("clients.dependence")?;
        let n = self.windows();
        if n == 0 {
            return Err(ModelError::invalid(what, "at least one window is needed"));
        }
        let n_lengths = self.length_windows();
        let check_windows = |at: &str, windows: &[Option<WindowLengths>]| {
            if windows.len() != n_lengths {
                return Err(ModelError::invalid(
                    at,
                    format!("needs one entry per length window ({n_lengths})"),
                ));
            }
            if windows.iter().all(Option::is_none) {
                return Err(ModelError::invalid(at, "no window has data"));
            }
            for (w, l) in windows.iter().enumerate() {
                if let Some(l) = l {
                    l.input.validate(&format!("{at}[{w}].input"))?;
                    l.output.validate(&format!("{at}[{w}].output"))?;
                }
            }
            Ok(())
        };
        if !self.pooled.is_empty() {
            check_windows("clients.pooled", &self.pooled)?;
        }
        for (i, c) in self.clients.iter().enumerate() {
            let at = format!("clients.clients[{i}]");
            c.validate(&at, n, n_types)?;
            match &c.lengths {
                Some(windows) => check_windows(&format!("{at}.lengths"), windows)?,
                None if self.pooled.is_empty() => {
                    return Err(ModelError::invalid(
                        &format!("{at}.lengths"),
                        "needed when the mix has no pooled lengths",
                    ));
                }
                None => {}
            }
            if let Some(d) = &c.dependence {
                d.validate(&format!("{at}.dependence"))?;
            }
        }
        if self
            .clients
            .iter()
            .all(|c| c.rate.iter().all(|&r| r == 0.0))
        {
            return Err(ModelError::invalid(what, "at least one rate must be > 0"));
        }
        Ok(())
    }
}

impl Client {
    fn validate(&self, at: &str, windows: usize, n_types: usize) -> Result<(), ModelError> {
        if self.ty >= n_types {
            return Err(ModelError::invalid(
                &format!("{at}.ty"),
                "not a type of the model",
            ));
        }
        if self.rate.len() != windows || self.pattern.chars().count() != windows {
            return Err(ModelError::invalid(
                at,
                format!(
                    "rate and pattern need one entry per window ({windows}), as the first client has"
                ),
            ));
        }
        let active = self.pattern.chars().filter(|&p| p != NO_TRAFFIC).count();
        if self.shape.len() != active || self.cv.len() != active {
            return Err(ModelError::invalid(
                at,
                "shape and cv need one entry per window with traffic",
            ));
        }
        let mut shapes = self.shape.iter().zip(&self.cv);
        for (w, (p, &r)) in self.pattern.chars().zip(&self.rate).enumerate() {
            let bad =
                |message: &str| Err(ModelError::invalid(&format!("{at} window {w}"), message));
            if !(r.is_finite() && (0.0..=MAX_RATE).contains(&r)) {
                return bad(&format!("rate must lie in [0, {MAX_RATE:e}] per second"));
            }
            if (p == NO_TRAFFIC) != (r == 0.0) {
                return bad("the pattern is - exactly where the rate is 0 (G or W elsewhere)");
            }
            if p == NO_TRAFFIC {
                continue;
            }
            let (&shape, &cv) = shapes.next().expect("counted above");
            let min = match p {
                GAMMA => MIN_GAMMA_SHAPE,
                WEIBULL => MIN_WEIBULL_SHAPE,
                _ => return bad("pattern characters are G, W or -"),
            };
            if !(shape.is_finite() && shape >= min) {
                return bad(&format!("a {p} shape must be finite and >= {min}"));
            }
            if !(cv.is_finite() && cv >= 0.0) {
                return bad("cv must be finite and >= 0");
            }
        }
        Ok(())
    }

    /// Coefficient of variation of the gaps generated in each window with traffic (what
    /// the shape implies; compare with `cv`, the source's).
    pub fn generated_cv(&self) -> Vec<f64> {
        self.pattern
            .chars()
            .filter(|&p| p != NO_TRAFFIC)
            .zip(&self.shape)
            .map(|(p, &k)| match p {
                GAMMA => 1.0 / k.sqrt(),
                _ => weibull_cv(k),
            })
            .collect()
    }
}

/// Coefficient of variation of a Weibull of shape `k` (infinite when it overflows).
pub fn weibull_cv(k: f64) -> f64 {
    let g1 = gamma_fn(1.0 + 1.0 / k);
    (gamma_fn(1.0 + 2.0 / k) / (g1 * g1) - 1.0).max(0.0).sqrt()
}

/// Squared CV of the gaps of a renewal process with this pattern and shape.
pub fn squared_cv(pattern: char, shape: f64) -> f64 {
    match pattern {
        GAMMA => 1.0 / shape,
        _ => weibull_cv(shape).powi(2),
    }
}

/// The arrivals of every client of a [`ClientMix`] in time order.
///
/// Each client is a renewal process in its own operational time `Lambda(t)`, the
/// integral of its rate (times `rate_scale`): gaps are unit-mean draws with the shape of
/// the window the previous arrival fell in, and an arrival comes when `Lambda` has grown
/// by the gap. A zero-rate window adds nothing to `Lambda`, so nothing arrives in it;
/// beyond the span the profile repeats. A heap holds each client's next arrival.
pub struct ClientClock {
    clients: Vec<ClockedClient>,
    queue: Schedule<usize>,
    rate_scale: f64,
    start: f64,
    /// The first arrivals are drawn on the first call that has a random source.
    started: bool,
}

struct ClockedClient {
    profile: RateProfile,
    window: f64,
    /// Pattern and shape of every window (shape 0 where there is no traffic).
    shapes: Vec<(char, f64)>,
    /// Operational time of the last arrival (unscaled: the profile's).
    op: f64,
    /// The window `sampler` draws for.
    sampler_window: usize,
    sampler: Option<GapSampler>,
}

impl ClockedClient {
    /// The first window with traffic at or after time `t` (cyclically); `None` if the
    /// client never sends anything.
    fn window_from(&self, t: f64) -> Option<usize> {
        let n = self.shapes.len();
        let w = ((t / self.window).floor().rem_euclid(n as f64) as usize).min(n - 1);
        (0..n)
            .map(|k| (w + k) % n)
            .find(|&i| self.shapes[i].0 != NO_TRAFFIC)
    }

    fn gap<R: Rng + ?Sized>(&mut self, w: usize, rng: &mut R) -> f64 {
        if self.sampler.is_none() || self.sampler_window != w {
            let (p, shape) = self.shapes[w];
            let dist = match p {
                GAMMA => GapDist::Gamma { shape },
                _ => GapDist::Weibull { shape },
            };
            self.sampler = Some(dist.sampler(0.0));
            self.sampler_window = w;
        }
        self.sampler.as_ref().expect("set above").sample(rng)
    }

    /// The time from an arbitrary moment to the next arrival of a stationary renewal
    /// process with window `w`'s unit-mean gaps: a uniform share of a length-biased gap.
    /// Starting with a whole gap instead would make every client's first arrival come
    /// late (bursty gaps) or early (regular ones) at the clock's start.
    fn equilibrium_gap<R: Rng + ?Sized>(&self, w: usize, rng: &mut R) -> f64 {
        let (p, k) = self.shapes[w];
        let u: f64 = rng.random();
        let biased = match p {
            // Length-biased Gamma(k, 1/k) is Gamma(k + 1, 1/k).
            GAMMA => GammaSampler::new(k + 1.0, 1.0 / k)
                .expect("validated shape")
                .sample(rng),
            // Length-biased Weibull(k, s) is s W^(1/k) with W ~ Gamma(1 + 1/k, 1).
            _ => {
                let scale = 1.0 / gamma_fn(1.0 + 1.0 / k);
                let w: f64 = GammaSampler::new(1.0 + 1.0 / k, 1.0)
                    .expect("validated shape")
                    .sample(rng);
                scale * w.powf(1.0 / k)
            }
        };
        u * biased
    }
}

impl ClientClock {
    /// Every client's arrivals from model time `start` on, with all rates multiplied by
    /// `rate_scale` (> 0; otherwise nothing arrives).
    pub fn new(mix: &ClientMix, rate_scale: f64, start: f64) -> ClientClock {
        let mut clock = ClientClock {
            clients: Vec::with_capacity(mix.clients.len()),
            queue: Schedule::default(),
            rate_scale,
            start,
            started: false,
        };
        for c in &mix.clients {
            let mut active = c.shape.iter();
            let shapes = c
                .pattern
                .chars()
                .map(|p| match p {
                    NO_TRAFFIC => (p, 0.0),
                    _ => (p, *active.next().expect("validated")),
                })
                .collect();
            let profile = RateProfile::new(mix.window, c.rate.clone());
            clock.clients.push(ClockedClient {
                op: profile.integral(start),
                profile,
                window: mix.window,
                shapes,
                sampler_window: 0,
                sampler: None,
            });
        }
        clock
    }

    fn start<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        self.started = true;
        if self.rate_scale.is_finite() && self.rate_scale > 0.0 {
            for i in 0..self.clients.len() {
                self.book(i, self.start, true, rng);
            }
        }
    }

    /// Draw client `i`'s next arrival after one at `t` (or after the clock's start).
    fn book<R: Rng + ?Sized>(&mut self, i: usize, t: f64, first: bool, rng: &mut R) {
        let c = &mut self.clients[i];
        let Some(w) = c.window_from(t) else {
            return;
        };
        let gap = if first {
            c.equilibrium_gap(w, rng)
        } else {
            c.gap(w, rng)
        };
        c.op += gap / self.rate_scale;
        let next = c.profile.inverse(c.op);
        if next.is_finite() {
            self.queue.push(next.max(t), i);
        }
    }

    /// The next arrival: model seconds and the client's index.
    pub fn next<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Option<(f64, usize)> {
        if !self.started {
            self.start(rng);
        }
        let (t, i) = self.queue.pop()?;
        self.book(i, t, false, rng);
        Some((t, i))
    }
}

/// Lists of numbers written on one line: a model holds hundreds of thousands of them,
/// and the pretty printer's one number per line would make it ten times larger. Whole
/// numbers are written without a fraction (`0`, not `0.0`). Reading is plain serde.
mod inline_numbers {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(values: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let mut text = String::with_capacity(values.len() * 8 + 2);
        text.push('[');
        let mut buffer = ryu::Buffer::new();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            if !v.is_finite() {
                // JSON has no such number; serde_json writes null for it too (and the
                // model then fails to load, as it should).
                text.push_str("null");
            } else if v.fract() == 0.0 && v.abs() < 1e15 {
                text.push_str(itoa::Buffer::new().format(*v as i64));
            } else {
                text.push_str(buffer.format_finite(*v));
            }
        }
        text.push(']');
        let raw =
            serde_json::value::RawValue::from_string(text).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Vec::<f64>::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use crate::model::arrivals::weibull_shape_for_cv;

    /// KS distance between draws and a PMF.
    fn ks(draws: &mut [u64], pmf: &[(u64, f64)]) -> f64 {
        draws.sort_unstable();
        let n = draws.len() as f64;
        let mut pmf = pmf.to_vec();
        pmf.sort_by_key(|p| p.0);
        let total: f64 = pmf.iter().map(|p| p.1).sum();
        let (mut f, mut worst, mut i) = (0.0, 0.0_f64, 0);
        for &(v, p) in &pmf {
            f += p / total;
            while i < draws.len() && draws[i] <= v {
                i += 1;
            }
            worst = worst.max((i as f64 / n - f).abs());
        }
        worst
    }

    fn client(rate: Vec<f64>, pattern: char, shape: f64) -> Client {
        let active = rate.iter().filter(|&&r| r > 0.0).count();
        Client {
            id: "1".into(),
            ty: 0,
            pattern: rate
                .iter()
                .map(|&r| if r > 0.0 { pattern } else { NO_TRAFFIC })
                .collect(),
            shape: vec![shape; active],
            cv: vec![(squared_cv(pattern, shape)).sqrt(); active],
            rate,
            lengths: None,
            dependence: None,
        }
    }

    fn lengths(input: &[(u64, f64)], output: &[(u64, f64)]) -> WindowLengths {
        WindowLengths {
            input: IntDist::from_pmf(input, KNOT_TOLERANCE).unwrap(),
            output: IntDist::from_pmf(output, KNOT_TOLERANCE).unwrap(),
        }
    }

    fn mix(clients: Vec<Client>) -> ClientMix {
        ClientMix {
            window: 600.0,
            length_window: 21_600.0,
            dependence: GaussianCopula::from_spearman(DEFAULT_IO_SPEARMAN),
            pooled: vec![Some(lengths(&[(10, 0.5), (20, 0.5)], &[(5, 1.0)]))],
            clients,
        }
    }

    /// Per-window counts of client 0 over `windows` windows from `start`.
    fn counts(mix: &ClientMix, windows: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut clock = ClientClock::new(mix, 1.0, 0.0);
        let mut counts = vec![0.0; windows];
        while let Some((t, _)) = clock.next(&mut rng) {
            let w = (t / mix.window) as usize;
            if w >= windows {
                break;
            }
            counts[w] += 1.0;
        }
        counts
    }

    fn mean_var(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        (
            mean,
            v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0),
        )
    }

    #[test]
    fn small_supports_are_kept_exactly() {
        let pmf = [(3, 0.25), (7, 0.5), (8, 0.25)];
        let d = IntDist::from_pmf(&pmf, KNOT_TOLERANCE).unwrap();
        assert_abs_diff_eq!(d.cdf(2.0), 0.0);
        assert_abs_diff_eq!(d.cdf(3.0), 0.25);
        assert_abs_diff_eq!(d.cdf(6.0), 0.25);
        assert_abs_diff_eq!(d.cdf(7.0), 0.75);
        assert_abs_diff_eq!(d.cdf(8.0), 1.0);
        assert_abs_diff_eq!(d.mean(), 0.75 + 3.5 + 2.0, epsilon = 1e-12);
        // Every probability maps onto a value of the support.
        for i in 0..1000 {
            let v = d.at(i as f64 / 1000.0);
            assert!([3, 7, 8].contains(&v), "{v}");
        }
        assert_eq!(d.at(0.0), 3);
        assert_eq!(d.at(0.2499), 3);
        assert_eq!(d.at(0.25), 7);
        assert_eq!(d.at(0.9999999), 8);
    }

    #[test]
    fn large_supports_are_compressed_within_the_tolerance() {
        // A smooth heavy-ish PMF on 1..=20000 plus an atom.
        let mut pmf: Vec<(u64, f64)> = (1..=20_000u64)
            .map(|v| (v, 1.0 / (v as f64 + 50.0).powf(1.7)))
            .collect();
        pmf[499].1 += 0.02;
        let d = IntDist::from_pmf(&pmf, KNOT_TOLERANCE).unwrap();
        assert!(d.x.len() < 400, "{} knots", d.x.len());
        let total: f64 = pmf.iter().map(|p| p.1).sum::<f64>();
        let (mut f, mut worst) = (0.0, 0.0_f64);
        let mut sorted = pmf.clone();
        sorted.sort_by_key(|p| p.0);
        for (v, p) in sorted {
            f += p / total;
            worst = worst.max((d.cdf(v as f64) - f).abs());
        }
        assert!(worst <= KNOT_TOLERANCE + 1e-6, "CDF error {worst}");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut draws: Vec<u64> = (0..200_000).map(|_| d.at(rng.random())).collect();
        assert!(ks(&mut draws, &pmf) < 0.006);
    }

    #[test]
    fn lengths_keep_the_configured_rank_correlation() {
        let input: Vec<(u64, f64)> = (1..=3000).map(|v| (v, 1.0)).collect();
        let output: Vec<(u64, f64)> = (1..=800).map(|v| (v, 1.0 / v as f64)).collect();
        let mut m = mix(vec![client(vec![1.0], GAMMA, 1.0)]);
        m.pooled = vec![Some(lengths(&input, &output))];
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let (xs, ys): (Vec<f64>, Vec<f64>) = (0..50_000)
            .map(|_| {
                let (i, o) = m.sample_lengths(0, 10.0, &mut rng);
                (i as f64, o as f64)
            })
            .unzip();
        let rs = crate::model::copula::spearman(&xs, &ys);
        assert_abs_diff_eq!(rs, DEFAULT_IO_SPEARMAN, epsilon = 0.02);
    }

    /// Constant rate 2/s, Gamma gaps of CV 2: window counts average 1,200 and vary like a
    /// renewal process's, whose index of dispersion tends to the gaps' squared CV (4);
    /// ServeGen's rescaled windows would have variance 0.
    #[test]
    fn window_counts_vary_as_a_renewal_process() {
        for (pattern, shape) in [(GAMMA, 0.25), (WEIBULL, weibull_shape_for_cv(2.0))] {
            let m = mix(vec![client(vec![2.0; 144], pattern, shape)]);
            let c = counts(&m, 1000, 3);
            let (mean, var) = mean_var(&c);
            assert!((mean - 1200.0).abs() < 10.0, "{pattern}: mean {mean}");
            let idc = var / mean;
            assert!(
                (idc - 4.0).abs() < 0.7,
                "{pattern}: index of dispersion {idc}"
            );
        }
    }

    #[test]
    fn zero_rate_windows_send_nothing_and_the_profile_repeats() {
        let mut rate = vec![0.0; 144];
        for r in rate.iter_mut().skip(10).take(20) {
            *r = 0.5;
        }
        rate[100] = 3.0;
        let m = mix(vec![client(rate.clone(), GAMMA, 0.5)]);
        let c = counts(&m, 144 * 3, 4);
        for (w, &n) in c.iter().enumerate() {
            if rate[w % 144] == 0.0 {
                assert_eq!(n, 0.0, "window {w} has no rate but {n} arrivals");
            }
        }
        let day = |d: usize| c[d * 144..(d + 1) * 144].iter().sum::<f64>();
        let expect = rate.iter().sum::<f64>() * 600.0;
        for d in 0..3 {
            assert!(
                (day(d) - expect).abs() < 0.1 * expect,
                "day {d}: {}",
                day(d)
            );
        }
    }

    #[test]
    fn clients_merge_in_time_order_and_start_mid_stream() {
        let a = client(vec![1.0; 4], GAMMA, 0.5);
        let mut b = client(vec![0.2; 4], WEIBULL, 0.8);
        b.id = "2".into();
        let m = mix(vec![a, b]);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        // Started at 100 s: stationary from the start, nothing before it.
        let runs = 400;
        let mut first_window = 0.0;
        let mut seen = [0usize; 2];
        for _ in 0..runs {
            let mut clock = ClientClock::new(&m, 1.0, 100.0);
            let mut last = 100.0;
            while let Some((t, c)) = clock.next(&mut rng) {
                assert!(t >= last, "out of order");
                last = t;
                if t >= 160.0 {
                    break;
                }
                seen[c] += 1;
                first_window += 1.0;
            }
        }
        // 60 s at 1.2/s.
        let per_run = first_window / runs as f64;
        assert!(
            (per_run - 72.0).abs() < 3.0,
            "{per_run} arrivals in the first minute"
        );
        assert!(seen[1] > 0 && seen[0] > 3 * seen[1]);
        // A larger rate scale gives proportionally more.
        let mut clock = ClientClock::new(&m, 3.0, 0.0);
        let mut n = 0;
        while clock.next(&mut rng).is_some_and(|(t, _)| t < 2400.0) {
            n += 1;
        }
        assert!((n as f64 - 3.0 * 1.2 * 2400.0).abs() < 0.1 * 8640.0, "{n}");
    }

    #[test]
    fn serializes_on_one_line_and_round_trips() {
        let m = mix(vec![client(vec![0.0, 1.5, 0.25], GAMMA, 0.3)]);
        let json = serde_json::to_string_pretty(&m).unwrap();
        assert!(json.contains("\"rate\": [0,1.5,0.25]"), "{json}");
        assert!(json.contains("\"pattern\": \"-GG\""), "{json}");
        let back: ClientMix = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        back.validate(1).unwrap();
    }

    #[test]
    fn rejects_impossible_values() {
        let good = mix(vec![client(vec![1.0, 0.0], GAMMA, 0.5)]);
        good.validate(1).unwrap();
        let broken = |f: &dyn Fn(&mut ClientMix)| {
            let mut m = good.clone();
            f(&mut m);
            m.validate(1).unwrap_err().to_string()
        };
        assert!(broken(&|m| m.clients[0].rate[0] = -1.0).contains("rate"));
        assert!(broken(&|m| m.clients[0].rate[1] = 1.0).contains("pattern"));
        assert!(broken(&|m| m.clients[0].shape[0] = 1e-5).contains("shape"));
        assert!(broken(&|m| m.clients[0].pattern = "GGG".into()).contains("per window"));
        assert!(broken(&|m| m.clients[0].ty = 1).contains("ty"));
        assert!(broken(&|m| m.pooled.clear()).contains("lengths"));
        assert!(broken(&|m| m.window = 0.0).contains("window"));
        assert!(broken(&|m| m.clients[0].rate[0] = 0.0).contains("pattern"));
        assert!(broken(&|m| m.pooled[0].as_mut().unwrap().input.cdf[1] = 1.5).contains("cdf"));
        assert!(broken(&|m| m.dependence.rho = 1.0).contains("rho"));
    }
}
