//! The tree of prefixes shared by two or more roots: the lcp-intervals of the roots' sorted
//! id sequences.

use crate::fit::prepared::Prepared;

/// One node of the tree of shared prefixes (an lcp-interval of the sorted roots).
#[derive(Debug, Clone)]
pub(super) struct Interval {
    pub depth: u32,
    pub parent: Option<usize>,
    pub count: u32,
    pub first: f64,
    pub last: f64,
}

pub(super) fn persistent_ancestor(
    intervals: &[Interval],
    persistent: &[bool],
    i: usize,
) -> Option<usize> {
    let mut a = intervals[i].parent;
    while let Some(x) = a {
        if persistent[x] {
            return Some(x);
        }
        a = intervals[x].parent;
    }
    None
}

/// The topmost ephemeral interval above `i` (its parent is persistent or the root).
pub(super) fn ephemeral_top(intervals: &[Interval], persistent: &[bool], mut i: usize) -> usize {
    while let Some(p) = intervals[i].parent {
        if persistent[p] || intervals[p].depth == 0 {
            break;
        }
        i = p;
    }
    i
}

/// The tree of the prefixes the roots share, and how each root meets it.
pub(super) struct SharedPrefixes {
    /// Index 0 is the empty prefix.
    pub intervals: Vec<Interval>,
    /// Per root, its deepest interval if it shares anything.
    pub assigned: Vec<Option<usize>>,
    /// Per root, how many leading ids it shares with some earlier root (in `roots`
    /// order): the longest common prefix with any of them.
    pub hits: Vec<u32>,
}

/// Sort the roots' id sequences; the lcp-intervals of the sorted list are the prefixes
/// shared by two or more roots, and the deepest interval holding a root is the prefix it
/// shares.
pub(super) fn shared_prefix_tree(p: &Prepared, roots: &[usize]) -> SharedPrefixes {
    let ids = |k: usize| p.ids(roots[k]);
    let sorted = sort_sequences((0..roots.len()).map(ids).collect());
    let n = sorted.len();
    let lcp: Vec<u32> = (0..=n)
        .map(|i| {
            if i == 0 || i == n {
                0
            } else {
                let (a, b) = (ids(sorted[i - 1]), ids(sorted[i]));
                a.zip(b).take_while(|(x, y)| x == y).count() as u32
            }
        })
        .collect();
    let mut intervals = vec![Interval {
        depth: 0,
        parent: None,
        count: 0,
        first: f64::MAX,
        last: f64::MIN,
    }];
    let mut stack = vec![0usize];
    // Deepest interval holding positions i-1 and i, after processing lcp[i].
    let mut joint = vec![0usize; n + 1];
    for (i, &cur) in lcp.iter().enumerate().skip(1) {
        let mut last_popped: Option<usize> = None;
        while cur < intervals[*stack.last().expect("root stays")].depth {
            let top = stack.pop().expect("checked");
            if let Some(child) = last_popped {
                intervals[child].parent = Some(top);
            }
            last_popped = Some(top);
        }
        let top = *stack.last().expect("root stays");
        if cur > intervals[top].depth {
            intervals.push(Interval {
                depth: cur,
                parent: None,
                count: 0,
                first: f64::MAX,
                last: f64::MIN,
            });
            let id = intervals.len() - 1;
            if let Some(child) = last_popped {
                intervals[child].parent = Some(id);
            }
            stack.push(id);
        } else if let Some(child) = last_popped {
            intervals[child].parent = Some(top);
        }
        joint[i] = *stack.last().expect("root stays");
    }
    let mut assigned = vec![None; roots.len()];
    for (pos, &k) in sorted.iter().enumerate() {
        let left = if pos >= 1 { joint[pos] } else { 0 };
        let right = if pos + 1 < n { joint[pos + 1] } else { 0 };
        let deepest = if intervals[left].depth >= intervals[right].depth {
            left
        } else {
            right
        };
        if deepest != 0 {
            assigned[k] = Some(deepest);
            let t = p.requests[roots[k]].t;
            let iv = &mut intervals[deepest];
            iv.count += 1;
            iv.first = iv.first.min(t);
            iv.last = iv.last.max(t);
        }
    }
    // Children are deeper than their parents: fold counts and times upwards, deepest first.
    let mut by_depth: Vec<usize> = (1..intervals.len()).collect();
    by_depth.sort_by_key(|&i| std::cmp::Reverse(intervals[i].depth));
    for i in by_depth {
        if let Some(parent) = intervals[i].parent {
            let (count, first, last) = (intervals[i].count, intervals[i].first, intervals[i].last);
            let pv = &mut intervals[parent];
            pv.count += count;
            pv.first = pv.first.min(first);
            pv.last = pv.last.max(last);
        }
    }
    let hits = hits_on_earlier(&sorted, &lcp);
    SharedPrefixes {
        intervals,
        assigned,
        hits,
    }
}

/// The order that sorts `seqs` lexicographically (a sequence before its extensions), as
/// indices into `seqs`; equal sequences come in no particular order. A three-way radix
/// quicksort (Bentley and Sedgewick's multikey quicksort): each sequence is decoded once,
/// as far as it takes to tell it from the others, where a comparison sort decoded two
/// sequences from their start at every comparison (the roots share their first blocks).
fn sort_sequences<I: Iterator<Item = u64>>(seqs: Vec<I>) -> Vec<usize> {
    struct Item<I> {
        /// The symbol at the depth the item's range is sorted on; `None` past the end.
        cur: Option<u64>,
        rest: I,
        index: usize,
    }
    let mut items: Vec<Item<I>> = seqs
        .into_iter()
        .enumerate()
        .map(|(index, mut rest)| Item {
            cur: rest.next(),
            rest,
            index,
        })
        .collect();
    // Ranges of `items` left to sort, each on its items' `cur`.
    let mut stack = vec![(0, items.len())];
    while let Some((lo, hi)) = stack.pop() {
        if hi - lo < 2 {
            continue;
        }
        let part = &mut items[lo..hi];
        let mut three = [
            part[0].cur,
            part[part.len() / 2].cur,
            part[part.len() - 1].cur,
        ];
        three.sort_unstable();
        let pivot = three[1];
        // Less than the pivot to [0, lt), equal to [lt, gt), greater to [gt, len).
        let (mut lt, mut i, mut gt) = (0, 0, part.len());
        while i < gt {
            match part[i].cur.cmp(&pivot) {
                std::cmp::Ordering::Less => {
                    part.swap(lt, i);
                    lt += 1;
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    gt -= 1;
                    part.swap(i, gt);
                }
                std::cmp::Ordering::Equal => i += 1,
            }
        }
        stack.push((lo, lo + lt));
        stack.push((lo + gt, hi));
        // Sequences that ended together are equal; the others go on to their next id.
        if pivot.is_some() {
            for item in &mut part[lt..gt] {
                item.cur = item.rest.next();
            }
            stack.push((lo + lt, lo + gt));
        }
    }
    items.into_iter().map(|item| item.index).collect()
}

/// For each root `k` (an index into `roots`), the longest common prefix it has with any
/// root before it, from the sorted order: the lcp of two sorted sequences is the least of
/// the adjacent lcps between them, so the longest with an earlier root is with the
/// nearest earlier root on either side. Taking the roots from the last back to the first
/// out of a list in sorted order leaves exactly the earlier ones as each one's neighbours,
/// and the link a removal leaves carries the lesser of the two it joins. Linear in the
/// roots, where a set of every earlier root's prefix hashes held one entry per id.
fn hits_on_earlier(sorted: &[usize], lcp: &[u32]) -> Vec<u32> {
    const NONE: usize = usize::MAX;
    let n = sorted.len();
    let mut position = vec![0; n];
    for (pos, &k) in sorted.iter().enumerate() {
        position[k] = pos;
    }
    let mut prev: Vec<usize> = (0..n).map(|pos| pos.wrapping_sub(1)).collect();
    let mut next: Vec<usize> = (1..=n)
        .map(|pos| if pos < n { pos } else { NONE })
        .collect();
    // The lcp of each listed position with the one before it in the list.
    let mut with_prev: Vec<u32> = lcp[..n].to_vec();
    let mut hits = vec![0; n];
    for k in (0..n).rev() {
        let pos = position[k];
        let (before, after) = (prev[pos], next[pos]);
        let left = if before == NONE { 0 } else { with_prev[pos] };
        let right = if after == NONE { 0 } else { with_prev[after] };
        hits[k] = left.max(right);
        if after != NONE {
            prev[after] = before;
            with_prev[after] = left.min(right);
        }
        if before != NONE {
            next[before] = after;
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{Format, Request, Session, Trace};

    fn root(chat_id: u64, t: f64, ids: Vec<u64>) -> Request {
        Request {
            timestamp: t,
            input_length: ids.len() as u64 * 16,
            output_length: 10,
            hash_ids: Some(ids),
            session: Some(Session {
                chat_id,
                parent_chat_id: -1,
                turn: 1,
                req_type: "text".into(),
            }),
        }
    }

    #[test]
    fn the_tree_holds_the_prefixes_two_or_more_roots_share() {
        // A and B share [1, 2, 3]; A, B and C share [1, 2]; D shares nothing.
        let trace = Trace {
            format: Format::Bailian,
            block_size: Some(16),
            requests: vec![
                root(0, 0.0, vec![1, 2, 3, 10]),
                root(1, 1.0, vec![5, 6]),
                root(2, 2.0, vec![1, 2, 20]),
                root(3, 3.0, vec![1, 2, 3, 11]),
            ],
        };
        let p = Prepared::new(trace, 0);
        let SharedPrefixes {
            intervals,
            assigned,
            hits,
        } = shared_prefix_tree(&p, &[0, 1, 2, 3]);
        // Each root's longest prefix in common with an earlier one.
        assert_eq!(hits, [0, 0, 2, 3]);
        let depth = |k: usize| assigned[k].map(|i| intervals[i].depth);
        assert_eq!(
            [depth(0), depth(1), depth(2), depth(3)],
            [Some(3), None, Some(2), Some(3)]
        );
        let deep = assigned[0].unwrap();
        assert_eq!(assigned[3], Some(deep));
        assert_eq!(intervals[deep].count, 2);
        assert_eq!((intervals[deep].first, intervals[deep].last), (0.0, 3.0));
        // The [1, 2] interval is the parent and counts the roots below it too.
        let shallow = intervals[deep].parent.unwrap();
        assert_eq!(Some(shallow), assigned[2]);
        assert_eq!(intervals[shallow].count, 3);
        assert_eq!(
            persistent_ancestor(&intervals, &[false, true, false], deep),
            None
        );
    }

    #[test]
    fn sequences_sort_as_slices_do() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let seqs: Vec<Vec<u64>> = (0..2000)
            .map(|_| {
                let len = rng.random_range(0..8);
                (0..len).map(|_| rng.random_range(0..4)).collect()
            })
            .collect();
        let order = sort_sequences(seqs.iter().map(|s| s.iter().copied()).collect());
        let got: Vec<&Vec<u64>> = order.iter().map(|&i| &seqs[i]).collect();
        let mut want: Vec<&Vec<u64>> = seqs.iter().collect();
        want.sort();
        assert_eq!(got, want);
        let mut seen = order.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..seqs.len()).collect::<Vec<_>>());
    }

    #[test]
    fn hits_are_the_longest_prefix_shared_with_an_earlier_root() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        // Few distinct ids, so roots share prefixes of every depth, repeats included.
        let requests: Vec<Request> = (0..300)
            .map(|i| {
                let len = rng.random_range(0..6);
                let ids = (0..len).map(|_| rng.random_range(0..3)).collect();
                root(i, i as f64, ids)
            })
            .collect();
        let all: Vec<Vec<u64>> = requests.iter().map(|r| r.ids().to_vec()).collect();
        let trace = Trace {
            format: Format::Bailian,
            block_size: Some(16),
            requests,
        };
        let p = Prepared::new(trace, 0);
        let roots: Vec<usize> = (0..all.len()).collect();
        let hits = shared_prefix_tree(&p, &roots).hits;
        for (k, ids) in all.iter().enumerate() {
            let brute = all[..k]
                .iter()
                .map(|e| e.iter().zip(ids).take_while(|(a, b)| a == b).count())
                .max()
                .unwrap_or(0);
            assert_eq!(hits[k] as usize, brute, "root {k}");
        }
    }
}
