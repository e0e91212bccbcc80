//! How much a run would write, found by planning a bounded stretch of it.
//!
//! The planner without formatting is cheap, so the estimate plans the run itself until it
//! ends or a budget of records is spent, then extrapolates: the roots still to come from
//! the rate profile's integral, each bringing as many requests as a root did in the later
//! half of what was planned. A session process that keeps growing (supercritical, or a
//! fit that mistook censored chains for endless ones) shows as requests per root rising
//! from the first half to the second, or as a window far busier than the first ones:
//! that is a runaway, and no finite figure is given for it.

use super::{GenerateOptions, Planner, root_profile};
use crate::model::Model;
use crate::model::blocks::IdsExhausted;
use crate::trace::LineFormatter;

/// Limits of the planning an estimate does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstimateLimits {
    /// Records planned at most before extrapolating.
    pub budget: u64,
    /// The first this many records are formatted to measure the line size (line sizes
    /// are heavy-tailed: a few hundred sampled lines left a ten-minute Mooncake run's
    /// mean 13 % off once its random stream changed)...
    pub sample_first: u64,
    /// ...and after them one record in `sample_every`...
    pub sample_every: u64,
    /// ...until the sampled lines add up to this many bytes: the mean line size is then
    /// taken from those. Lines of 1e8 tokens (the most a line may carry) are tens of MB
    /// of block ids each; without the cap a 2,000-record estimate of such a model formats
    /// all of them, minutes of work before a byte is written. Real lines are a few KB:
    /// the ~10,000 lines a default estimate of the Mooncake model samples are ~76 MB (it
    /// has 7.6 KB lines), so the cap sits above that and does not bind on real models.
    pub sample_bytes: u64,
    /// A window holding more than this many times the mean of the first span's windows
    /// stops the planning as a runaway.
    pub runaway_factor: f64,
    /// Requests per root growing by more than this factor from the first half of the
    /// planned stretch to the second is a runaway.
    pub growth_factor: f64,
}

impl Default for EstimateLimits {
    fn default() -> Self {
        EstimateLimits {
            budget: 100_000,
            sample_first: 4_096,
            sample_every: 16,
            sample_bytes: 256 << 20,
            runaway_factor: 20.0,
            growth_factor: 2.0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    #[error(transparent)]
    Ids(#[from] IdsExhausted),
    #[error("formatting a sample line: {0}")]
    Format(#[from] std::io::Error),
}

/// Why planning stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The run ended: the counts are exact.
    End,
    /// The budget was spent: the counts are extrapolated.
    Budget,
    /// A window exceeded the runaway factor.
    Runaway,
}

/// Requests, roots and blocks of one window of model time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Window {
    pub requests: u64,
    /// Records that start a session (`parent_chat_id == -1`).
    pub roots: u64,
}

/// What planning a stretch of a run saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Planning {
    /// Model seconds per window.
    pub window: f64,
    pub windows: Vec<Window>,
    pub stop: Stop,
    /// Model seconds from the start reached when planning stopped.
    pub reached: f64,
    pub requests: u64,
    pub roots: u64,
    /// Distinct block ids minted by then.
    pub blocks: u64,
    /// Blocks minted by the middle of the planned stretch, and the requests by then.
    pub blocks_at_half: (u64, u64),
    /// Mean bytes of a formatted line among the sampled records (0 with no records).
    pub line_bytes: f64,
    /// Lines formatted to measure it.
    pub sampled_lines: u64,
}

/// Plan `options`'s run in windows of `window` model seconds, up to `limits`.
pub fn plan_windows(
    model: &Model,
    options: &GenerateOptions,
    window: f64,
    formatter: &LineFormatter,
    limits: &EstimateLimits,
) -> Result<Planning, EstimateError> {
    let window = window.max(1e-3);
    // The first span's windows set the scale a runaway is measured against.
    let first_span = ((model.span / options.time_scale.max(1e-9)) / window)
        .ceil()
        .max(1.0) as usize;
    let first_span = first_span.min(16);
    let mut formatter = formatter.fresh();
    let mut planner = Planner::new(model, options.clone());
    let types = &model.types;
    let mut windows: Vec<Window> = Vec::new();
    let (mut requests, mut roots) = (0u64, 0u64);
    let (mut line_total, mut lines) = (0u64, 0u64);
    let mut buf = Vec::new();
    let mut reached = 0.0f64;
    // Blocks minted and requests planned when each window began.
    let mut marks: Vec<(u64, u64)> = Vec::new();
    let mut reference: Option<f64> = None;
    let mut stop = Stop::End;
    while let Some(planned) = planner.next() {
        let p = planned?;
        let t = p.timestamp / options.time_scale;
        reached = reached.max(t);
        let w = ((t / window).floor().max(0.0)) as usize;
        if w >= windows.len() {
            windows.resize(w + 1, Window::default());
            marks.resize(w + 1, (planner.blocks_minted(), requests));
        }
        let counts = &mut windows[w];
        counts.requests += 1;
        requests += 1;
        if p.parent_chat_id < 0 {
            counts.roots += 1;
            roots += 1;
        }
        let sampled = requests <= limits.sample_first
            || requests % limits.sample_every.max(1) == 1
            || limits.sample_every <= 1;
        if sampled && (lines == 0 || line_total < limits.sample_bytes) {
            buf.clear();
            formatter.format(&p.to_request(types), &mut buf)?;
            line_total += buf.len() as u64;
            lines += 1;
        }
        if reference.is_none() && w >= first_span {
            let n = first_span as f64;
            let mean = windows[..first_span]
                .iter()
                .map(|c| c.requests as f64)
                .sum::<f64>()
                / n;
            reference = Some(mean.max(1.0));
        }
        if reference.is_some_and(|r| windows[w].requests as f64 > limits.runaway_factor * r) {
            stop = Stop::Runaway;
            break;
        }
        if requests >= limits.budget {
            stop = Stop::Budget;
            break;
        }
    }
    let blocks = planner.blocks_minted();
    let blocks_at_half = marks.get(windows.len() / 2).copied().unwrap_or((0, 0));
    Ok(Planning {
        window,
        windows,
        stop,
        reached,
        requests,
        roots,
        blocks,
        blocks_at_half,
        line_bytes: if lines == 0 {
            0.0
        } else {
            line_total as f64 / lines as f64
        },
        sampled_lines: lines,
    })
}

/// What a run would write.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Expected records (the whole run's, all tenants; a shard's when `--shard`).
    pub requests: f64,
    /// Expected bytes of output, uncompressed.
    pub bytes: f64,
    /// Expected distinct block ids of one copy of the service.
    pub blocks_per_copy: f64,
    /// Planned to the end: the figures are exact (bytes up to the line sample).
    pub exact: bool,
    /// Requests per root grew by this factor from the first half of the planned stretch
    /// to the second (1 for a steady run).
    pub growth: f64,
    /// The run grows without bound as far as planning could tell.
    pub runaway: bool,
}

/// Estimate what `options` would write in `formatter`'s format, planning at most
/// `limits.budget` records.
pub fn estimate(
    model: &Model,
    options: &GenerateOptions,
    formatter: &LineFormatter,
    limits: &EstimateLimits,
) -> Result<Estimate, EstimateError> {
    let tenants = f64::from(options.tenants.max(1));
    let copy = GenerateOptions {
        tenants: 1,
        ..options.clone()
    };
    let span = model.span / options.time_scale;
    let length = horizon_seconds(model, options);
    let window = (length.min(span) / 16.0).max(1.0);
    let plan = plan_windows(model, &copy, window, formatter, limits)?;
    let bound = |requests: f64| match options.requests {
        Some(n) => requests.min(n as f64),
        None => requests,
    };
    let finish = |requests: f64, blocks: f64, exact: bool, growth: f64, runaway: bool| {
        let requests = bound(requests);
        Estimate {
            requests,
            bytes: requests * plan.line_bytes,
            blocks_per_copy: blocks,
            exact,
            growth,
            runaway,
        }
    };
    let n_windows = plan.windows.len();
    let half = n_windows / 2;
    let sum = |ws: &[Window]| {
        ws.iter()
            .fold((0u64, 0u64), |(r, s), w| (r + w.requests, s + w.roots))
    };
    let (early_req, early_roots) = sum(&plan.windows[..half]);
    let (late_req, late_roots) = sum(&plan.windows[half..]);
    let size = |req: u64, roots: u64| req as f64 / roots.max(1) as f64;
    let growth = if early_roots > 0 && late_roots > 0 {
        size(late_req, late_roots) / size(early_req, early_roots)
    } else {
        1.0
    };
    match plan.stop {
        Stop::End => Ok(finish(
            plan.requests as f64 * tenants,
            plan.blocks as f64,
            true,
            growth,
            false,
        )),
        Stop::Runaway => Ok(finish(f64::INFINITY, f64::INFINITY, false, growth, true)),
        Stop::Budget => {
            let runaway = growth > limits.growth_factor;
            if runaway {
                return Ok(finish(f64::INFINITY, f64::INFINITY, false, growth, true));
            }
            // Roots to come: the later half's roots per unit of the root intensity,
            // over the intensity left (the profile already holds rate, scale and
            // repetition; a model of clients counts plain seconds).
            let intensity = root_intensity(model, &copy);
            let start = options.start_at;
            let at = |t: f64| intensity(start + t);
            let mid = half as f64 * plan.window;
            let late_intensity = at(plan.reached) - at(mid);
            let roots_per_intensity = if late_intensity > 0.0 {
                late_roots as f64 / late_intensity
            } else {
                0.0
            };
            let mut roots_left = roots_per_intensity * (at(length) - at(plan.reached)).max(0.0);
            if let Some(n) = options.sessions {
                let own = n as f64 / options.shard.count as f64;
                roots_left = roots_left.min((own - plan.roots as f64).max(0.0));
            }
            let late_size = size(late_req, late_roots);
            // A bound on requests alone leaves the roots unbounded; the bound then decides.
            let requests = bound(plan.requests as f64 + roots_left * late_size);
            // New blocks per request in the later half carry on.
            let (half_blocks, half_requests) = plan.blocks_at_half;
            let late_blocks_per_request =
                (plan.blocks - half_blocks) as f64 / (plan.requests - half_requests).max(1) as f64;
            let blocks =
                plan.blocks as f64 + (requests - plan.requests as f64) * late_blocks_per_request;
            Ok(finish(requests * tenants, blocks, false, growth, false))
        }
    }
}

/// Model seconds of output the run covers. A run bounded only by a count still draws no
/// root past the longest span a trace may have, as the planner does: an infinite horizon
/// made the intensity left NaN and the estimate of such a run its planned stretch alone
/// (100,000 requests for a run of 340,000, and a `--requests` count past 2^32 chat ids
/// passed the guard).
fn horizon_seconds(model: &Model, options: &GenerateOptions) -> f64 {
    match (options.duration, options.requests, options.sessions) {
        (Some(d), _, _) => d / options.time_scale,
        (None, None, None) => model.span,
        _ => crate::trace::MAX_SPAN / options.time_scale,
    }
}

/// The expected number of roots drawn up to model time `t`, up to a constant factor.
fn root_intensity<'a>(model: &'a Model, options: &GenerateOptions) -> Box<dyn Fn(f64) -> f64 + 'a> {
    if model.clients.is_some() {
        return Box::new(|t| t);
    }
    let profile = root_profile(model, options);
    Box::new(move |t| profile.integral(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Format;

    fn shipped(name: &str) -> Model {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(format!("{name}.json"));
        Model::load(&path).unwrap()
    }

    fn bailian(model: &Model) -> LineFormatter {
        LineFormatter::new(Format::Bailian, Some(model.block_size)).unwrap()
    }

    /// A small budget forces the extrapolation over most of the run; its figure is
    /// judged against the run itself.
    #[test]
    fn extrapolated_counts_are_near_the_real_ones_on_the_shipped_models() {
        let limits = EstimateLimits {
            budget: 15_000,
            ..EstimateLimits::default()
        };
        for (name, spans, rate_scale) in [
            ("qwen-trace-a", 3.0, 1.0),
            ("qwen-trace-b", 1.0, 0.5),
            ("mooncake-conversation", 6.0, 1.0),
            ("azure-conversation", 6.0, 1.0),
            ("mooncake-conversation", 3.0, 3.0),
        ] {
            let model = shipped(name);
            let options = GenerateOptions {
                seed: 5,
                duration: Some(spans * model.span),
                rate_scale,
                ..GenerateOptions::default()
            };
            let e = estimate(&model, &options, &bailian(&model), &limits).unwrap();
            let real = Planner::new(&model, options).count() as f64;
            assert!(!e.exact && !e.runaway, "{name}: {e:?}");
            let error = e.requests / real - 1.0;
            eprintln!(
                "{name} x{rate_scale} {spans} spans: estimate {:.0}, real {real}, {error:+.3}",
                e.requests
            );
            assert!(
                error.abs() < 0.25,
                "{name}: estimate {} against {real} ({error:+.3})",
                e.requests
            );
        }
    }

    /// The default limits over three days of each shipped model (heavy: about 30 M
    /// records planned; run with `--ignored --nocapture` to see the figures).
    #[test]
    #[ignore]
    fn three_day_estimates_against_the_real_counts() {
        for name in [
            "qwen-trace-a",
            "qwen-trace-b",
            "mooncake-conversation",
            "azure-conversation",
        ] {
            let model = shipped(name);
            let options = GenerateOptions {
                duration: Some(3.0 * 86_400.0),
                ..GenerateOptions::default()
            };
            let e = estimate(
                &model,
                &options,
                &bailian(&model),
                &EstimateLimits::default(),
            )
            .unwrap();
            let real = Planner::new(&model, options).count() as f64;
            let error = e.requests / real - 1.0;
            eprintln!(
                "{name} 3d: estimate {:.0}, real {real}, {error:+.3}",
                e.requests
            );
            assert!(error.abs() < 0.25, "{name}: {error:+.3}");
        }
    }

    #[test]
    fn a_run_planned_to_its_end_is_counted_exactly() {
        let model = shipped("mooncake-conversation");
        let options = GenerateOptions {
            duration: Some(600.0),
            ..GenerateOptions::default()
        };
        let e = estimate(
            &model,
            &options,
            &bailian(&model),
            &EstimateLimits::default(),
        )
        .unwrap();
        let mut bytes = 0usize;
        let mut formatter = bailian(&model);
        let mut count = 0u64;
        for p in Planner::new(&model, options) {
            let mut buf = Vec::new();
            formatter
                .format(&p.unwrap().to_request(&model.types), &mut buf)
                .unwrap();
            bytes += buf.len();
            count += 1;
        }
        assert!(e.exact);
        assert_eq!(e.requests, count as f64);
        let error = e.bytes / bytes as f64 - 1.0;
        assert!(error.abs() < 0.1, "bytes {} against {bytes}", e.bytes);
    }

    #[test]
    fn requests_and_tenants_bound_and_multiply_the_figure() {
        let model = shipped("mooncake-conversation");
        let one = GenerateOptions {
            duration: Some(1200.0),
            ..GenerateOptions::default()
        };
        let f = bailian(&model);
        let limits = EstimateLimits::default();
        let base = estimate(&model, &one, &f, &limits).unwrap();
        let three = GenerateOptions {
            tenants: 3,
            ..one.clone()
        };
        assert_eq!(
            estimate(&model, &three, &f, &limits).unwrap().requests,
            3.0 * base.requests
        );
        let capped = GenerateOptions {
            requests: Some(100),
            ..one
        };
        assert_eq!(
            estimate(&model, &capped, &f, &limits).unwrap().requests,
            100.0
        );
    }

    /// Every request books two follow-ups: the sessions never end.
    #[test]
    fn a_supercritical_model_is_a_runaway() {
        let mut model = shipped("mooncake-conversation");
        for t in &mut model.sessions.per_type {
            for row in &mut t.child_prob {
                row.iter_mut().for_each(|p| *p = 0.99);
            }
            t.children_count = vec![0.0, 1.0];
        }
        model.sessions.min_parent_blocks = 0;
        // The fitted model runs a warm-up before its first written request; a
        // supercritical one would grow there unseen by the per-record checks (model files
        // with such sessions are refused on load, this one is built in memory).
        model.warm_up = 0.0;
        let options = GenerateOptions {
            duration: Some(30.0 * 86_400.0),
            ..GenerateOptions::default()
        };
        let limits = EstimateLimits {
            budget: 50_000,
            ..EstimateLimits::default()
        };
        let e = estimate(&model, &options, &bailian(&model), &limits).unwrap();
        assert!(e.runaway, "{e:?}");
        assert!(e.requests.is_infinite());
    }

    /// Every root as long as a line may be (1e8 tokens, 6.25M block ids): the estimate
    /// stops formatting once the sample holds the byte cap, and still reports the lines'
    /// size.
    #[test]
    fn the_line_sample_stops_at_its_byte_cap() {
        let mut model = shipped("qwen-trace-a");
        let max = crate::trace::MAX_TOKENS as f64;
        for t in &mut model.lengths.per_type {
            t.root.own_input = crate::model::quantile::Quantile::constant(max);
            for r in t.root_by_prefix.iter_mut().flatten() {
                r.own_input = crate::model::quantile::Quantile::constant(max);
            }
        }
        // No warm-up: its requests mint ids too, unseen by the budget.
        model.warm_up = 0.0;
        model.validate().unwrap();
        // 2^32 ids last some 680 such requests; 300 would all be formatted uncapped.
        let limits = EstimateLimits {
            budget: 300,
            sample_bytes: 16 << 20,
            ..EstimateLimits::default()
        };
        let options = GenerateOptions {
            duration: Some(600.0),
            ..GenerateOptions::default()
        };
        let plan = plan_windows(&model, &options, 60.0, &bailian(&model), &limits).unwrap();
        assert!(plan.line_bytes > 1e7, "{}", plan.line_bytes);
        // The lines before the last one sampled hold less than the cap.
        let before_last = (plan.sampled_lines - 1) as f64 * plan.line_bytes;
        assert!(before_last < 2.0 * limits.sample_bytes as f64, "{plan:?}");
        assert!(plan.sampled_lines < 10, "{}", plan.sampled_lines);
    }
}
