//! A category-aware policy in the spirit of the ATC'25 design for KV caches ("KVCache
//! Cache in the Wild", Wang et al.): blocks of different request categories (type, and
//! turn bucket when the trace has sessions) are reused with different likelihoods and
//! at different delays, so evict the block least likely to be reused soon.
//!
//! Per category `c` the policy fits, online from the accesses so far (no look-ahead),
//! an exponential reuse model: a block last touched by a request of `c` is reused with
//! probability `p_c`, after an exponential delay of rate `lambda_c`:
//!
//! - `p_c = (r_c + 1) / (n_c + 2)` over the `n_c` touches of category `c` so far and the
//!   `r_c` of them followed by a reuse (Laplace's rule, so an unseen category is 1/2);
//! - `lambda_c = (r_c + 1) / (g_c + g)`: the exponential's maximum-likelihood rate over
//!   the `r_c` reuse gaps (sum `g_c`) with one prior gap of the overall mean `g` so far
//!   (1 s before any reuse).
//!
//! A block of age `a` (seconds since its last touch) not reused yet is then reused at
//! the rate `h_c(a) = p lambda e^(-lambda a) / (1 - p + p e^(-lambda a))`: the chance it
//! is reused in the next second. On eviction the cached block of least `h` goes. Within
//! a category `h` falls with age, so the candidates are each category's least recently
//! used block (one LRU list per category) and an eviction costs one look at each
//! category. With one category it is LRU. The fits are read once per request, as it
//! arrives (so every eviction a request causes uses the same model), and a category's
//! `h` is computed again only when its oldest block changed. The paper's lifespan regulator and its
//! prefix-tree ordering are not modelled.

use super::list::{Links, List};
use super::policy::{Access, Policy, Setup};

#[derive(Debug, Clone, Copy, Default)]
struct Fit {
    touches: u64,
    reuses: u64,
    gap_sum: f64,
}

pub struct CategoryAware {
    links: Links,
    lists: Vec<List>,
    present: Vec<bool>,
    seen: Vec<bool>,
    /// The category and time of each seen block's last touch.
    category: Vec<u16>,
    last: Vec<f64>,
    fits: Vec<Fit>,
    reuses: u64,
    gap_sum: f64,
    /// Per category, as of the current request: `p`, `lambda`, and the rate `h` of its
    /// oldest block (`None`: to be computed).
    model: Vec<(f64, f64)>,
    rate: Vec<Option<f64>>,
    now: f64,
    len: usize,
    capacity: usize,
}

impl CategoryAware {
    pub fn new(setup: &Setup) -> CategoryAware {
        CategoryAware {
            links: Links::new(setup.universe),
            lists: vec![List::default(); setup.categories.max(1)],
            present: vec![false; setup.universe],
            seen: vec![false; setup.universe],
            category: vec![0; setup.universe],
            last: vec![0.0; setup.universe],
            fits: vec![Fit::default(); setup.categories.max(1)],
            reuses: 0,
            gap_sum: 0.0,
            model: vec![(0.5, 1.0); setup.categories.max(1)],
            rate: vec![None; setup.categories.max(1)],
            now: 0.0,
            len: 0,
            capacity: setup.capacity,
        }
    }

    /// `h_c(age)` under the current request's model.
    fn rate_at(&self, c: usize, age: f64) -> f64 {
        let (p, lambda) = self.model[c];
        let x = (-lambda * age.max(0.0)).exp();
        p * lambda * x / (1.0 - p + p * x)
    }

    fn evict(&mut self) {
        let mut best: Option<(f64, usize)> = None;
        for c in 0..self.lists.len() {
            let Some(t) = self.lists[c].tail() else {
                continue;
            };
            let score = match self.rate[c] {
                Some(r) => r,
                None => {
                    let r = self.rate_at(c, self.now - self.last[t as usize]);
                    self.rate[c] = Some(r);
                    r
                }
            };
            // Ties go to the lower category, so the choice never depends on rounding
            // noise between equal fits.
            if best.is_none_or(|(b, _)| score < b) {
                best = Some((score, c));
            }
        }
        let (_, c) = best.expect("a full cache");
        let victim = self.links.pop_back(&mut self.lists[c]).expect("a tail");
        self.rate[c] = None;
        self.present[victim as usize] = false;
        self.len -= 1;
    }
}

impl Policy for CategoryAware {
    fn contains(&self, block: u32) -> bool {
        self.present[block as usize]
    }

    fn begin(&mut self, time: f64) {
        self.now = time;
        let mean_gap = (self.gap_sum + 1.0) / (self.reuses as f64 + 1.0);
        for (m, f) in self.model.iter_mut().zip(&self.fits) {
            let p = (f.reuses as f64 + 1.0) / (f.touches as f64 + 2.0);
            let lambda = (f.reuses as f64 + 1.0) / (f.gap_sum + mean_gap);
            *m = (p, lambda);
        }
        self.rate.fill(None);
    }

    fn access(&mut self, block: u32, at: Access) {
        let b = block as usize;
        let c = at.category as usize;
        if self.seen[b] {
            let gap = (at.time - self.last[b]).max(0.0);
            let fit = &mut self.fits[self.category[b] as usize];
            fit.reuses += 1;
            fit.gap_sum += gap;
            self.reuses += 1;
            self.gap_sum += gap;
        }
        self.fits[c].touches += 1;
        if self.present[b] {
            let from = self.category[b] as usize;
            if self.lists[from].tail == block {
                self.rate[from] = None;
            }
            self.links.unlink(&mut self.lists[from], block);
        } else {
            if self.capacity > 0 && self.len == self.capacity {
                self.evict();
            }
            if self.capacity > 0 {
                self.present[b] = true;
                self.len += 1;
            }
        }
        if self.present[b] {
            if self.lists[c].len == 0 {
                self.rate[c] = None;
            }
            self.links.push_front(&mut self.lists[c], block);
        }
        self.seen[b] = true;
        self.category[b] = at.category;
        self.last[b] = at.time;
    }

    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use crate::cachesim::testing::{Req, hits_of, hits_with_ttl, singles};

    #[test]
    fn with_one_category_it_is_lru() {
        let trace = singles(&[1, 2, 1, 3, 1, 2, 4, 4, 2, 3, 1, 5, 6, 1, 2]);
        for capacity in 0..6 {
            assert_eq!(
                hits_of("category", capacity, &trace),
                hits_of("lru", capacity, &trace)
            );
        }
    }

    #[test]
    fn evicts_the_category_that_is_not_reused() {
        // Learning: block 100 (category 0) is reused every 2 s, while category 1's
        // blocks are never seen again. Then, with room for two, block 1 (category 0)
        // and 2 (category 1, newer) are cached when 3 (category 1) comes: LRU evicts 1,
        // the category-aware policy evicts 2 and hits 1 next.
        let mut trace = Vec::new();
        for i in 0..10 {
            trace.push(Req::new(2.0 * i as f64, 0, &[100]));
            trace.push(Req::new(2.0 * i as f64 + 1.0, 1, &[200 + i]));
        }
        trace.push(Req::new(30.0, 0, &[1]));
        trace.push(Req::new(31.0, 1, &[2]));
        trace.push(Req::new(32.0, 1, &[3]));
        trace.push(Req::new(33.0, 0, &[1]));
        assert_eq!(hits_of("category", 2, &trace).last(), Some(&true));
        assert_eq!(hits_of("lru", 2, &trace).last(), Some(&false));
        // Learning uses no look-ahead: the same trace cut before the end gives the same
        // answers for the requests both have.
        let cut = &trace[..trace.len() - 1];
        let all = hits_with_ttl("category", 2, f64::INFINITY, &trace);
        assert_eq!(
            hits_with_ttl("category", 2, f64::INFINITY, cut),
            all[..cut.len()]
        );
    }
}
