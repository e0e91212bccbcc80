//! What `compare` asks of the policies: each one's hit ratio at the LRU rows' cache
//! sizes (percentages of each trace's own distinct blocks), whether the synthetic trace
//! ranks the policies as the real one does, and whether the best policy beats LRU by as
//! much.

use super::capacity::Capacity;
use super::{Curves, POLICIES, PolicySpec, Stream};
use crate::metrics::{LRU_PERCENTS, LruPoint, TraceStats};

/// Two policies whose hit ratios on the real trace differ by more than this are
/// separated: the synthetic trace must order them the same way.
pub const SEPARATED: f64 = 0.01;

/// The curves `compare` judges: every policy at [`LRU_PERCENTS`] of the distinct blocks.
/// LRU's figures are the stack-distance pass's (`lru`, the same to the bit as
/// simulating it), found by percentage; the others are simulated on one thread (the
/// two traces of a comparison are measured at once).
pub fn compare_curves(stream: &Stream, lru: &[LruPoint], ttl: f64) -> Curves {
    let capacities: Vec<_> = LRU_PERCENTS
        .iter()
        .map(|&p| {
            Capacity::Percent(p)
                .resolve(&format!("{p}%"), stream.unique(), None, None)
                .expect("a percentage needs nothing else")
        })
        .collect();
    let from_stack: Option<Vec<Option<f64>>> = LRU_PERCENTS
        .iter()
        .map(|&p| lru.iter().find(|x| x.percent == p).map(|x| x.hit_ratio))
        .collect();
    let simulated: Vec<&PolicySpec> = POLICIES
        .iter()
        .filter(|p| p.name != "lru" || from_stack.is_none())
        .collect();
    let mut curves = Curves::measure(stream, &simulated, capacities, ttl, 1);
    if let Some(hit_ratios) = from_stack {
        curves.policies.insert(
            0,
            super::PolicyCurve {
                name: "lru".to_string(),
                hit_ratios,
            },
        );
    }
    curves
}

/// The hit ratio of `policy` at `percent` % of the distinct blocks.
pub fn hit_ratio(stats: &TraceStats, policy: &str, percent: f64) -> Option<f64> {
    stats.policies.as_ref()?.at_percent(policy, percent)
}

/// A row judged on both traces at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    /// What `real` and `synth` are, in a word or two.
    pub shown: String,
    /// Where the answer comes from, appended to the row's description.
    pub detail: String,
    pub real: f64,
    pub synth: Option<f64>,
    pub distance: Option<f64>,
}

/// One cache size (percent) and each policy's hit ratio there.
type Sized<'a> = (f64, Vec<(&'a str, f64)>);

/// Per cache size: every policy's hit ratio, in [`POLICIES`] order (under a rate scale,
/// without the policies that depend on absolute time).
fn table(stats: &TraceStats, scaled: bool) -> Option<Vec<Sized<'_>>> {
    let curves = stats.policies.as_ref()?;
    let mut out = Vec::new();
    for &p in &LRU_PERCENTS {
        let row: Option<Vec<(&str, f64)>> = POLICIES
            .iter()
            .filter(|spec| !(scaled && spec.absolute_time))
            .map(|spec| curves.at_percent(spec.name, p).map(|r| (spec.name, r)))
            .collect();
        out.push((p, row?));
    }
    Some(out)
}

/// The ranking question: of the pairs of policies the real trace separates (by more
/// than [`SEPARATED`]) at some cache size, how many the synthetic trace orders the
/// same way at that size. `real` is the separated pairs, `synth` the agreeing ones,
/// the distance the pairs ordered otherwise (or tied). Under a rate scale (`scaled`)
/// the policies that depend on absolute time are left out.
pub fn ranking(real: &TraceStats, synth: &TraceStats, scaled: bool) -> Option<Paired> {
    let r = table(real, scaled)?;
    let s = table(synth, scaled);
    let (mut separated, mut agree) = (0u32, 0u32);
    let mut first_flip = None;
    for (k, (percent, row)) in r.iter().enumerate() {
        for a in 0..row.len() {
            for b in a + 1..row.len() {
                let d = row[a].1 - row[b].1;
                if d.abs() <= SEPARATED {
                    continue;
                }
                separated += 1;
                let same = s.as_ref().is_some_and(|s| {
                    let e = s[k].1[a].1 - s[k].1[b].1;
                    e != 0.0 && e.signum() == d.signum()
                });
                if same {
                    agree += 1;
                } else if first_flip.is_none() {
                    first_flip = Some(format!("{} vs {} at {percent} %", row[a].0, row[b].0));
                }
            }
        }
    }
    Some(Paired {
        shown: "pairs".to_string(),
        detail: match first_flip {
            Some(f) => format!("first pair ordered otherwise: {f}"),
            None => "every separated pair in the same order".to_string(),
        },
        real: f64::from(separated),
        synth: s.is_some().then_some(f64::from(agree)),
        distance: s.is_some().then_some(f64::from(separated - agree)),
    })
}

/// How much the best policy beats LRU at each cache size (its hit ratio minus LRU's),
/// judged where the two traces differ most: `real` and `synth` are the gains there.
pub fn best_gain(real: &TraceStats, synth: &TraceStats, scaled: bool) -> Option<Paired> {
    let gains = |t: &[Sized]| -> Vec<(f64, String)> {
        t.iter()
            .map(|(_, row)| {
                let lru = row.iter().find(|x| x.0 == "lru").map_or(0.0, |x| x.1);
                let best = row
                    .iter()
                    .fold(row[0], |b, &x| if x.1 > b.1 { x } else { b });
                (best.1 - lru, best.0.to_string())
            })
            .collect()
    };
    let r = gains(&table(real, scaled)?);
    let Some(s) = table(synth, scaled).map(|t| gains(&t)) else {
        return Some(Paired {
            shown: "max gain".to_string(),
            detail: "the synthetic trace has no blocks".to_string(),
            real: r.iter().map(|x| x.0).fold(0.0, f64::max),
            synth: None,
            distance: None,
        });
    };
    let k = (0..r.len())
        .max_by(|&i, &j| {
            let (di, dj) = ((r[i].0 - s[i].0).abs(), (r[j].0 - s[j].0).abs());
            di.total_cmp(&dj).then(j.cmp(&i))
        })
        .expect("some sizes");
    Some(Paired {
        shown: format!("gain at {} %", LRU_PERCENTS[k]),
        detail: format!("best there: {} (real), {} (synthetic)", r[k].1, s[k].1),
        real: r[k].0,
        synth: Some(s[k].0),
        distance: Some((r[k].0 - s[k].0).abs()),
    })
}
