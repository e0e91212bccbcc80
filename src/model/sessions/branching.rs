//! The session model as a multi-type branching process over turns.
//!
//! A request of type `i` at turn `k` gets `m[i][k] = E[children | >= 1] * sum_c w[c]
//! child_prob[k][c]` follow-ups on average, `w` being the share of the type's turn-`k`
//! requests in input bucket `c` in the fitted trace ([`TypeSessions::input_mix`]; equal
//! shares for models without it), and its follow-ups take types by `child_type`. The last
//! row of `child_prob` holds for every later turn, so sessions end for sure only if that
//! row's mean matrix has spectral radius below 1. Contexts grow along a session, so a long
//! chain drifts into other input buckets than the trace's mix at that turn: the
//! subcriticality test takes each type's worst input bucket of the last row, which
//! bounds the process whatever the drift.

use super::{SessionModel, TURN_BUCKETS, TypeSessions};
use crate::fit::prepared::Prepared;
use crate::metrics::summary::quantile_sorted;

/// The model's implied session process.
#[derive(Debug, Clone, PartialEq)]
pub struct Branching {
    /// Mean follow-ups per request by turn (index 0: turn 1), pooled over types with the
    /// type mix the model itself produces at that turn; the last entry holds for every
    /// later turn.
    pub mean_offspring: Vec<f64>,
    /// Expected requests per session (root included); infinite when supercritical.
    pub expected_size: f64,
    /// Spectral radius of the last row's mean matrix, inputs mixed as in the trace.
    pub tail_radius: f64,
    /// The same with each type's worst input bucket: below 1 means every session ends.
    pub worst_tail_radius: f64,
}

impl TypeSessions {
    /// Mean number of follow-ups of a request that gets at least one.
    pub fn mean_children(&self) -> f64 {
        let total: f64 = self.children_count.iter().sum();
        if total <= 0.0 {
            return 1.0;
        }
        self.children_count
            .iter()
            .enumerate()
            .map(|(i, w)| (i + 1) as f64 * w)
            .sum::<f64>()
            / total
    }

    /// Index of the `child_prob` row that holds for `turn`.
    fn row_of(&self, turn: u32) -> usize {
        (turn.max(1) as usize - 1).min(self.child_prob.len() - 1)
    }

    /// Mean follow-ups of a request at `turn`, inputs mixed as in the fitted trace.
    pub fn mean_offspring(&self, turn: u32) -> f64 {
        let row = self.row_of(turn);
        let p = &self.child_prob[row];
        let mix = self
            .input_mix
            .get(row.min(self.input_mix.len().saturating_sub(1)));
        let mean = match mix {
            Some(w) if w.len() == p.len() => p.iter().zip(w).map(|(p, w)| p * w).sum(),
            _ => p.iter().sum::<f64>() / p.len() as f64,
        };
        mean * self.mean_children()
    }

    /// Mean follow-ups of a request at the last row's turns in its worst input bucket.
    pub fn worst_tail_offspring(&self) -> f64 {
        let last = self.child_prob.last().expect("validated: at least one row");
        last.iter().copied().fold(0.0, f64::max) * self.mean_children()
    }
}

impl SessionModel {
    /// Turns the model distinguishes: past the last, follow-ups behave alike.
    pub fn turn_rows(&self) -> usize {
        self.per_type
            .iter()
            .map(|t| t.child_prob.len())
            .max()
            .unwrap_or(1)
    }

    /// The implied branching process: mean offspring by turn, expected session size and
    /// the tail's spectral radius.
    pub fn branching(&self) -> Branching {
        let rows = self.turn_rows();
        let n = self.per_type.len();
        let matrix = |offspring: &dyn Fn(&TypeSessions) -> f64| -> Vec<Vec<f64>> {
            self.per_type
                .iter()
                .map(|t| {
                    let m = offspring(t);
                    t.child_type.iter().map(|c| m * c).collect()
                })
                .collect()
        };
        let mut v = self.root_type_mix.clone();
        let mut size = 0.0;
        let mut mean_offspring = Vec::with_capacity(rows);
        for turn in 1..rows as u32 {
            let m = matrix(&|t| t.mean_offspring(turn));
            let next = times(&v, &m);
            let here: f64 = v.iter().sum();
            size += here;
            mean_offspring.push(ratio(next.iter().sum(), here));
            v = next;
        }
        let tail = matrix(&|t| t.mean_offspring(rows as u32));
        let worst = matrix(&|t| t.worst_tail_offspring());
        let tail_radius = spectral_radius(&tail);
        let worst_tail_radius = spectral_radius(&worst);
        let here: f64 = v.iter().sum();
        mean_offspring.push(ratio(times(&v, &tail).iter().sum(), here));
        let expected_size = if tail_radius >= 1.0 {
            f64::INFINITY
        } else {
            // Requests at the last row's turns and after: v (I - M)^-1, summed.
            let mut a: Vec<Vec<f64>> = (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| f64::from(u8::from(i == j)) - tail[j][i])
                        .collect()
                })
                .collect();
            match solve(&mut a, v.clone()) {
                Some(y) if y.iter().all(|x| x.is_finite() && *x >= -1e-9) => {
                    size + y.iter().sum::<f64>()
                }
                _ => f64::INFINITY,
            }
        };
        Branching {
            mean_offspring,
            expected_size,
            tail_radius,
            worst_tail_radius,
        }
    }

    /// Mean follow-ups per request by turn (see [`Branching::mean_offspring`]).
    pub fn mean_offspring_by_turn(&self) -> Vec<f64> {
        self.branching().mean_offspring
    }

    /// Expected requests per session, root included (infinite when supercritical).
    pub fn expected_session_size(&self) -> f64 {
        self.branching().expected_size
    }

    /// Whether every session ends: the last turn row's mean matrix, in each type's worst
    /// input bucket, has spectral radius below 1.
    pub fn is_subcritical(&self) -> bool {
        self.branching().worst_tail_radius < 1.0
    }
}

/// Session structure the trace itself shows, corrected for its end without leaning on
/// the de-censored think-time tail: only requests with at least `horizon` seconds left
/// (the 99th percentile of the observed think times) are counted, so at most about 1 %
/// of the follow-ups they could show fall past the end.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSessions {
    pub horizon: f64,
    /// Mean follow-ups seen per counted request, by turn row (the last: all later turns).
    pub mean_offspring: Vec<f64>,
    /// Requests counted in each row.
    pub counted: Vec<f64>,
    /// Requests (orphans at their records' turns) by turn row and type.
    pub by_type: Vec<Vec<f64>>,
    /// Requests per session these continuation rates imply, with a geometric tail past
    /// the last row.
    pub size: f64,
    /// The geometric tail of the turn histogram: requests past the last row's first turn
    /// over requests at or past it. Below 1 in any finite trace, and biased low by the
    /// trace's end, which suits a fallback.
    pub histogram_tail: f64,
}

impl ObservedSessions {
    pub fn of(p: &Prepared) -> ObservedSessions {
        let rows = TURN_BUCKETS;
        let mut gaps: Vec<f64> = p
            .requests
            .iter()
            .filter_map(|r| r.parent.map(|pi| (r.t - p.requests[pi].t).max(0.0)))
            .collect();
        gaps.sort_unstable_by(f64::total_cmp);
        let horizon = quantile_sorted(&gaps, 0.99).unwrap_or(0.0);
        let end = p.requests.iter().map(|r| r.t).fold(0.0, f64::max);
        let mut children = vec![0.0; rows];
        let mut counted = vec![0.0; rows];
        let (mut at_tail, mut past_tail) = (0.0, 0.0);
        let mut by_type = vec![vec![0.0; p.types.len()]; rows];
        for r in &p.requests {
            let row = (r.turn as usize - 1).min(rows - 1);
            by_type[row][r.ty] += 1.0;
            if r.turn as usize >= rows {
                at_tail += 1.0;
                if r.turn as usize > rows {
                    past_tail += 1.0;
                }
            }
            if end - r.t >= horizon {
                counted[row] += 1.0;
                children[row] += f64::from(r.children);
            }
        }
        let mut mean_offspring = Vec::with_capacity(rows);
        for row in 0..rows {
            let m = if counted[row] > 0.0 {
                children[row] / counted[row]
            } else {
                mean_offspring.last().copied().unwrap_or(0.0)
            };
            mean_offspring.push(m);
        }
        // Every chain of a finite trace ends, so the pooled tail continues less than
        // always; one more request that did not continue keeps sampling noise from
        // making it reach 1.
        let last = rows - 1;
        mean_offspring[last] = children[last] / (counted[last] + 1.0);
        mean_offspring[last] = mean_offspring[last].min(counted[last] / (counted[last] + 1.0));
        let mut size = 0.0;
        let mut reach = 1.0;
        for m in &mean_offspring[..last] {
            size += reach;
            reach *= m;
        }
        size += reach / (1.0 - mean_offspring[last]);
        ObservedSessions {
            horizon,
            mean_offspring,
            counted,
            by_type,
            size,
            histogram_tail: past_tail / (at_tail + 1.0),
        }
    }
}

/// How many times the observed requests per session a fit may imply before it is
/// distrusted: the observed figure misses at most about 1 % of the visible follow-ups per
/// turn, so half as many again is not explained by the trace's end but by an inflated
/// follow-up probability (a think-time tail that makes every request look cut off).
const SIZE_LIMIT: f64 = 1.5;

/// Check the fitted process against the trace and, when it is supercritical or implies
/// far larger sessions than the trace holds, bring it back: rows whose mean offspring
/// exceeds the observed are scaled down to it, and a last row still at or above the
/// trace's tail in its worst input bucket is scaled to it (the smaller of the counted
/// continuation and the turn histogram's geometric tail). Returns the warnings to
/// surface.
pub(super) fn stabilise(model: &mut SessionModel, observed: &ObservedSessions) -> Vec<String> {
    let before = model.branching();
    let too_large = before.expected_size > SIZE_LIMIT * observed.size;
    if before.worst_tail_radius < 1.0 && !too_large {
        return Vec::new();
    }
    let mut warnings = vec![format!(
        "sessions: the fitted follow-up process {} (mean offspring by turn {}; \
         {:.2} requests per session against {:.2} in the trace, counting requests with \
         at least {:.0} s left); fell back to the trace's own turn continuation",
        if before.worst_tail_radius >= 1.0 {
            format!(
                "is supercritical (last turn row: spectral radius {:.3} >= 1)",
                before.worst_tail_radius
            )
        } else {
            "implies far larger sessions than the trace holds".to_string()
        },
        fmt_list(&before.mean_offspring),
        before.expected_size,
        observed.size,
        observed.horizon,
    )];
    let rows = model.turn_rows();
    for row in 0..rows {
        let turn = row as u32 + 1;
        let weights = &observed.by_type[row.min(observed.by_type.len() - 1)];
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            continue;
        }
        let fitted: f64 = model
            .per_type
            .iter()
            .zip(weights)
            .map(|(t, w)| w * t.mean_offspring(turn))
            .sum::<f64>()
            / total;
        let target = observed.mean_offspring[row.min(observed.mean_offspring.len() - 1)];
        if fitted > target {
            let k = target / fitted;
            for t in &mut model.per_type {
                if let Some(r) = t.child_prob.get_mut(row) {
                    r.iter_mut().for_each(|p| *p *= k);
                }
            }
        }
    }
    let tail = observed
        .mean_offspring
        .last()
        .expect("rows >= 1")
        .min(observed.histogram_tail);
    for t in &mut model.per_type {
        let worst = t.worst_tail_offspring();
        if worst >= tail && worst > 0.0 {
            let k = tail / worst;
            let last = t
                .child_prob
                .last_mut()
                .expect("validated: at least one row");
            last.iter_mut().for_each(|p| *p *= k);
        }
    }
    let after = model.branching();
    warnings.push(format!(
        "sessions: after the fallback: mean offspring by turn {}; {:.2} requests per \
         session; last turn row spectral radius {:.3}",
        fmt_list(&after.mean_offspring),
        after.expected_size,
        after.worst_tail_radius,
    ));
    warnings
}

fn fmt_list(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
    format!("[{}]", items.join(", "))
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Row vector times matrix.
fn times(v: &[f64], m: &[Vec<f64>]) -> Vec<f64> {
    let n = m.first().map_or(0, Vec::len);
    (0..n)
        .map(|j| v.iter().zip(m).map(|(vi, row)| vi * row[j]).sum())
        .collect()
}

/// Spectral radius of a non-negative matrix: `||M^(2^j)||^(1 / 2^j)` by repeated
/// squaring, rescaled at each step so that nothing overflows.
pub fn spectral_radius(m: &[Vec<f64>]) -> f64 {
    let n = m.len();
    if n == 0 {
        return 0.0;
    }
    let norm = |a: &[Vec<f64>]| {
        a.iter()
            .map(|r| r.iter().map(|x| x.abs()).sum::<f64>())
            .fold(0.0, f64::max)
    };
    let mut a: Vec<Vec<f64>> = m.to_vec();
    let mut log_scale = 0.0;
    let mut power = 1.0;
    let first = norm(&a);
    if first == 0.0 || !first.is_finite() {
        return if first == 0.0 { 0.0 } else { f64::INFINITY };
    }
    for _ in 0..40 {
        let s = norm(&a);
        if s == 0.0 {
            return 0.0;
        }
        a.iter_mut().flatten().for_each(|x| *x /= s);
        log_scale += s.ln() / power;
        a = a
            .iter()
            .map(|row| {
                (0..n)
                    .map(|j| row.iter().zip(&a).map(|(x, r)| x * r[j]).sum())
                    .collect()
            })
            .collect();
        power *= 2.0;
    }
    (log_scale + norm(&a).max(1e-300).ln() / power).exp()
}

/// Solve `a x = b` by Gaussian elimination with partial pivoting.
fn solve(a: &mut [Vec<f64>], mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let top = a[col].clone();
        for row in col + 1..n {
            let k = a[row][col] / top[col];
            for (x, t) in a[row][col..].iter_mut().zip(&top[col..]) {
                *x -= k * t;
            }
            b[row] -= k * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|c| a[row][c] * x[c]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectral_radius_of_known_matrices() {
        assert!((spectral_radius(&[vec![0.7]]) - 0.7).abs() < 1e-9);
        let m = vec![vec![0.0, 2.0], vec![0.5, 0.0]];
        assert!((spectral_radius(&m) - 1.0).abs() < 1e-9);
        let m = vec![vec![0.2, 0.3], vec![0.1, 0.4]];
        // Eigenvalues of [[.2,.3],[.1,.4]]: 0.5 and 0.1.
        assert!((spectral_radius(&m) - 0.5).abs() < 1e-9);
        assert_eq!(spectral_radius(&[vec![0.0]]), 0.0);
    }
}
