//! `generate -m a.json -m b.json [--mix 0.7,0.3]`: several services in one trace, as a
//! shared cluster sees a chat and an API workload together.
//!
//! Each model runs as its own planner (the first on the run's seed, the others on seeds of
//! their own, as `--tenants` copies do), its content in its own slice of the id space and
//! its chat ids renumbered in output order across the models, interleaved by timestamp:
//! the same machinery as `--tenants`, which is the mix of one model with itself. Without
//! `--mix` each model keeps its own rate (the shares are their rates'); with it, each
//! model's rate is scaled so that its share of the requests is its weight.

use super::options::{OptionError, num};
use super::{GenerateOptions, Shard, Tenants};
use crate::model::Model;

/// One model of a mix and the options of its own run.
pub struct MixPart<'m> {
    pub model: &'m Model,
    pub options: GenerateOptions,
}

/// The request types of a mix: every model's, by name, in order of first appearance
/// (models that share a name, such as `text`, share the type), and per model the index of
/// each of its types in that list.
pub fn mix_types(models: &[&Model]) -> (Vec<String>, Vec<Vec<usize>>) {
    let mut names: Vec<String> = Vec::new();
    let maps = models
        .iter()
        .map(|m| {
            m.types
                .iter()
                .map(|t| match names.iter().position(|n| n == t) {
                    Some(i) => i,
                    None => {
                        names.push(t.clone());
                        names.len() - 1
                    }
                })
                .collect()
        })
        .collect();
    (names, maps)
}

/// The options of each model's run in a mix of `models` on `whole`'s options:
/// `rate_scales[i]` times the first's sessions per second for model i (see
/// [`mix_rate_scales`]). Every model covers the first model's span when no limit is
/// given.
pub fn mix_parts<'m>(
    models: &[&'m Model],
    whole: &GenerateOptions,
    rate_scales: &[f64],
) -> Vec<MixPart<'m>> {
    let unbounded = whole.duration.is_none() && whole.requests.is_none();
    models
        .iter()
        .zip(rate_scales)
        .enumerate()
        .map(|(i, (&model, &rate_scale))| {
            let duration = match whole.duration {
                // The first model's span, when another's differs.
                None if unbounded && model.span != models[0].span => {
                    Some(models[0].span * whole.time_scale)
                }
                d => d,
            };
            MixPart {
                model,
                options: GenerateOptions {
                    seed: super::tenants::copy_seed(whole.seed, i as u64),
                    duration,
                    rate_scale,
                    requests: None,
                    start_id: 0,
                    shard: Shard::WHOLE,
                    tenants: 1,
                    ..whole.clone()
                },
            }
        })
        .collect()
}

/// The rate scales that give each model of a mix its weight's share of the requests:
/// `requests[i]` is what model i writes at `--rate-scale` (one run of it, planned or
/// estimated), `weights` the shares asked for (any positive numbers; they are
/// normalised). Model i is scaled by `w_i x N / requests[i]`, N the models' requests
/// together, so the run writes about as many requests as the models at their own rates.
pub fn mix_rate_scales(
    rate_scale: f64,
    requests: &[f64],
    weights: &[f64],
) -> Result<Vec<f64>, OptionError> {
    let fail = |message: String| {
        Err(OptionError {
            option: "--mix",
            message,
        })
    };
    if weights.len() != requests.len() {
        return fail(format!(
            "{} weights for {} models: give one per --model",
            weights.len(),
            requests.len()
        ));
    }
    if let Some(&w) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
        return fail(format!("weight {} is not a positive number", num(w)));
    }
    if let Some(i) = requests.iter().position(|&n| !(n.is_finite() && n > 0.0)) {
        return fail(format!(
            "model {} writes no request in the run, so no rate gives it a share",
            i + 1
        ));
    }
    let total: f64 = requests.iter().sum();
    let weight: f64 = weights.iter().sum();
    Ok(requests
        .iter()
        .zip(weights)
        .map(|(n, w)| rate_scale * (w / weight) * total / n)
        .collect())
}

/// The records of a mix, in output order: the parts' runs interleaved, each in its slice
/// of the ids, chat ids numbered from `whole.start_id` across them, `types` remapped by
/// `maps` (from [`mix_types`]); `whole`'s request limit and shard apply to the mix.
pub fn mix_records<'m>(
    parts: Vec<MixPart<'m>>,
    maps: Vec<Vec<usize>>,
    whole: &GenerateOptions,
) -> Tenants<'m> {
    Tenants::interleave(
        parts.into_iter().map(|p| (p.model, p.options)).collect(),
        Some(maps),
        whole,
    )
}

/// Refuse what a mix cannot honour; `validate_for` then checks each part's options.
pub fn validate_mix(models: &[&Model], whole: &GenerateOptions) -> Result<(), OptionError> {
    let fail = |option: &'static str, message: String| Err(OptionError { option, message });
    if let Some(m) = models.iter().find(|m| m.block_size != models[0].block_size) {
        return fail(
            "--model",
            format!(
                "the models have blocks of {} and {} tokens: a mix writes one block size, \
                 so mix models of one block size",
                models[0].block_size, m.block_size
            ),
        );
    }
    if whole.tenants > 1 {
        return fail(
            "--tenants",
            "with several models: give a model once per copy instead (-m a -m a is --tenants 2)"
                .to_string(),
        );
    }
    if whole.sessions.is_some() {
        return fail(
            "--sessions",
            "with several models: bound the mix by --duration or --requests".to_string(),
        );
    }
    if whole.knobs.peak_cap.is_some() {
        return fail(
            "--peak-cap",
            "caps one service's rate; the models of a mix keep clocks of their own".to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_scales_give_each_model_its_share() {
        // 100 and 300 requests at their own rates; 400 together.
        let k = mix_rate_scales(2.0, &[100.0, 300.0], &[7.0, 3.0]).unwrap();
        assert!((k[0] * 100.0 / 2.0 - 280.0).abs() < 1e-9);
        assert!((k[1] * 300.0 / 2.0 - 120.0).abs() < 1e-9);
        let option = |r: Result<Vec<f64>, OptionError>| r.map_err(|e| e.option);
        assert_eq!(
            option(mix_rate_scales(1.0, &[1.0], &[1.0, 1.0])),
            Err("--mix")
        );
        assert_eq!(
            option(mix_rate_scales(1.0, &[1.0, 0.0], &[1.0, 1.0])),
            Err("--mix")
        );
        assert_eq!(
            option(mix_rate_scales(1.0, &[1.0, 2.0], &[1.0, -1.0])),
            Err("--mix")
        );
    }

    #[test]
    fn types_are_shared_by_name() {
        let a = Model::resolve("qwen-trace-a").unwrap();
        let b = Model::resolve("qwen-trace-b").unwrap();
        let (names, maps) = mix_types(&[&a, &b]);
        assert_eq!(names, ["text", "search", "image", "file", "api"]);
        assert_eq!(maps, [vec![0, 1, 2, 3], vec![4, 0]]);
    }
}
