//! Cache-policy simulation: the hit ratio of several eviction policies over a trace's
//! blocks, with the prefix semantics of the cache figures of `stats` (a request hits on
//! the longest run of leading blocks the cache holds; then all of its blocks are used,
//! in order).
//!
//! A trace is read once into a [`Stream`] (per request: its time, category and dense
//! block ids, four bytes per block), then each policy ([`POLICIES`], one file each
//! behind the [`Policy`] trait) replays it at each capacity, on as many threads as
//! asked. Every access is O(1) (LFU, S3-FIFO, FIFO, LRU, TTL) or O(categories)
//! (category-aware).
//!
//! ```
//! use tracesynth::cachesim::{Stream, run, policy_spec};
//! use tracesynth::trace::{Request, Session};
//! let mut stream = Stream::default();
//! for (t, ids) in [(0.0, vec![1, 2, 3]), (1.0, vec![1, 2, 4]), (2.0, vec![1, 5])] {
//!     stream.push(&Request { timestamp: t, input_length: 48, output_length: 1,
//!         hash_ids: Some(ids), session: None });
//! }
//! let lru = policy_spec("lru").unwrap();
//! let curves = run(&stream, &[lru], &[2, 5], 300.0, 1);
//! // At 2 blocks each request pushes the next one's prefix out; at 5, 2 + 1 of the 8
//! // blocks hit.
//! assert_eq!(curves[0], [Some(0.0), Some(3.0 / 8.0)]);
//! ```

pub mod capacity;
pub mod category;
pub mod fifo;
pub mod judge;
pub mod lfu;
mod list;
pub mod lru;
pub mod policy;
pub mod s3fifo;
pub mod ttl;

#[cfg(test)]
pub(crate) mod testing;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

pub use policy::{Access, Policy, PolicySpec, Setup};

use crate::metrics::ids::SlotMap;
use crate::trace::Request;

/// Every policy, in the order tables and `compare` show them. Add yours here.
pub static POLICIES: &[PolicySpec] = &[
    PolicySpec {
        name: "lru",
        description: "least recently used",
        absolute_time: false,
        build: |s| Box::new(lru::LruPolicy::new(s)),
    },
    PolicySpec {
        name: "fifo",
        description: "first in, first out",
        absolute_time: false,
        build: |s| Box::new(fifo::Fifo::new(s)),
    },
    PolicySpec {
        name: "lfu",
        description: "least frequently used while cached, LRU among ties",
        absolute_time: false,
        build: |s| Box::new(lfu::Lfu::new(s)),
    },
    PolicySpec {
        name: "s3fifo",
        description: "S3-FIFO (SOSP'23): small, main and ghost FIFOs, 2-bit use counts",
        absolute_time: false,
        build: |s| Box::new(s3fifo::S3Fifo::new(s)),
    },
    PolicySpec {
        name: "ttl",
        description: "blocks expire --ttl seconds after their last use; LRU when full",
        absolute_time: true,
        build: |s| Box::new(ttl::Ttl::new(s)),
    },
    PolicySpec {
        name: "category",
        description: "category-aware (ATC'25-like): evict the lowest fitted reuse rate \
                      of the block's type and turn at its age",
        absolute_time: false,
        build: |s| Box::new(category::CategoryAware::new(s)),
    },
];

/// The policy named `name`.
pub fn policy_spec(name: &str) -> Option<&'static PolicySpec> {
    POLICIES.iter().find(|p| p.name == name)
}

/// Turn buckets of the category: 1, 2, 3-4, 5-8, 9 and more.
const TURN_BUCKETS: [(u32, &str); 5] =
    [(1, "1"), (2, "2"), (4, "3-4"), (8, "5-8"), (u32::MAX, "9+")];

fn turn_bucket(turn: u32) -> usize {
    TURN_BUCKETS
        .iter()
        .position(|&(up_to, _)| turn <= up_to)
        .unwrap_or(TURN_BUCKETS.len() - 1)
}

/// A trace's requests as the policies replay them: time, category and dense block ids.
#[derive(Debug, Default)]
pub struct Stream {
    slots: SlotMap,
    /// One bit per slot: seen.
    seen: Vec<u64>,
    unique: usize,
    times: Vec<f64>,
    categories: Vec<u16>,
    /// Per request, where its blocks end in `blocks`.
    ends: Vec<usize>,
    /// Every request's slots, each as the zigzag varint of its step from the previous
    /// slot of the request (the first from 0): a request's blocks are mostly runs of
    /// consecutive ids, a byte each, where a `u32` took four (a 1M-request trace has
    /// 151M lookups).
    blocks: Vec<u8>,
    lookups: usize,
    names: Vec<String>,
    codes: FxHashMap<(String, Option<usize>), u16>,
}

impl Stream {
    pub fn push(&mut self, req: &Request) {
        let category = match &req.session {
            None => self.code(String::new(), None),
            Some(s) => self.code(s.req_type.clone(), Some(turn_bucket(s.turn))),
        };
        self.times.push(req.timestamp);
        self.categories.push(category);
        let mut previous = 0u32;
        for &id in req.ids() {
            let slot = self.slots.slot(id);
            let (w, bit) = (slot as usize / 64, 1u64 << (slot % 64));
            if self.seen.len() <= w {
                self.seen.resize(w + 1, 0);
            }
            if self.seen[w] & bit == 0 {
                self.seen[w] |= bit;
                self.unique += 1;
            }
            let step = i64::from(slot) - i64::from(previous);
            previous = slot;
            let mut z = ((step << 1) ^ (step >> 63)) as u64;
            while z >= 0x80 {
                self.blocks.push(z as u8 | 0x80);
                z >>= 7;
            }
            self.blocks.push(z as u8);
            self.lookups += 1;
        }
        self.ends.push(self.blocks.len());
    }

    /// The code of a type and turn bucket (`None`: a request outside any session).
    fn code(&mut self, ty: String, bucket: Option<usize>) -> u16 {
        if let Some(&c) = self.codes.get(&(ty.clone(), bucket)) {
            return c;
        }
        let c = u16::try_from(self.names.len()).expect("fewer than 65,536 categories");
        self.names.push(match bucket {
            None => "no session".to_string(),
            Some(b) => format!("{ty}, turn {}", TURN_BUCKETS[b].1),
        });
        self.codes.insert((ty, bucket), c);
        c
    }

    pub fn requests(&self) -> usize {
        self.times.len()
    }

    /// Block lookups (occurrences of block ids).
    pub fn lookups(&self) -> usize {
        self.lookups
    }

    /// Distinct blocks.
    pub fn unique(&self) -> usize {
        self.unique
    }

    /// The categories seen: request type and turn bucket (`no session` for requests
    /// outside any).
    pub fn category_names(&self) -> &[String] {
        &self.names
    }

    /// Request `i`'s slots, into `out`.
    fn request(&self, i: usize, out: &mut Vec<u32>) {
        out.clear();
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        let bytes = &self.blocks[start..self.ends[i]];
        let (mut pos, mut slot) = (0, 0i64);
        while pos < bytes.len() {
            let (mut z, mut shift) = (0u64, 0);
            loop {
                let b = bytes[pos];
                pos += 1;
                z |= u64::from(b & 0x7f) << shift;
                if b < 0x80 {
                    break;
                }
                shift += 7;
            }
            slot += (z >> 1) as i64 ^ -((z & 1) as i64);
            out.push(slot as u32);
        }
    }

    fn universe(&self) -> usize {
        self.slots.slots()
    }
}

/// Blocks hit when `policy` replays `stream`.
pub fn simulate(stream: &Stream, policy: &mut dyn Policy) -> u64 {
    let mut hits = 0u64;
    simulate_each(stream, policy, &mut |_, n| hits += n as u64);
    hits
}

/// [`simulate`], telling `each` the blocks each request hits.
pub fn simulate_each(stream: &Stream, policy: &mut dyn Policy, each: &mut dyn FnMut(usize, usize)) {
    let mut ids = Vec::new();
    for i in 0..stream.requests() {
        stream.request(i, &mut ids);
        let at = Access {
            time: stream.times[i],
            category: stream.categories[i],
        };
        policy.begin(at.time);
        let hits = ids.iter().take_while(|&&id| policy.contains(id)).count();
        for &id in &ids {
            policy.access(id, at);
        }
        each(i, hits);
    }
}

/// The hit ratio of each policy at each capacity (in blocks): `[policy][capacity]`,
/// `None` without blocks. The runs are spread over `threads`; the figures do not depend
/// on how.
pub fn run(
    stream: &Stream,
    policies: &[&PolicySpec],
    capacities: &[usize],
    ttl: f64,
    threads: usize,
) -> Vec<Vec<Option<f64>>> {
    let jobs: Vec<(usize, usize)> = (0..policies.len())
        .flat_map(|p| (0..capacities.len()).map(move |c| (p, c)))
        .collect();
    let out = Mutex::new(vec![vec![None; capacities.len()]; policies.len()]);
    let next = AtomicUsize::new(0);
    let total = stream.lookups() as u64;
    let work = || {
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(p, c)) = jobs.get(k) else { break };
            let setup = Setup {
                universe: stream.universe(),
                capacity: capacities[c],
                categories: stream.names.len(),
                ttl,
            };
            let mut policy = (policies[p].build)(&setup);
            let hits = simulate(stream, policy.as_mut());
            drop(policy);
            let ratio = crate::metrics::sessions::ratio(hits, total);
            out.lock().expect("no panic while holding the lock")[p][c] = ratio;
        }
    };
    let threads = threads.clamp(1, jobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    out.into_inner().expect("no panic while holding the lock")
}

/// The hit-ratio curves of a trace: what `cachesim --json` prints and `compare` judges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    pub requests: u64,
    /// Block lookups.
    pub blocks: u64,
    pub unique_blocks: u64,
    pub capacities: Vec<capacity::Resolved>,
    pub policies: Vec<PolicyCurve>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyCurve {
    pub name: String,
    /// One per capacity.
    pub hit_ratios: Vec<Option<f64>>,
}

impl Curves {
    /// Every policy of `policies` at each of `capacities`.
    pub fn measure(
        stream: &Stream,
        policies: &[&PolicySpec],
        capacities: Vec<capacity::Resolved>,
        ttl: f64,
        threads: usize,
    ) -> Curves {
        let blocks: Vec<usize> = capacities.iter().map(|c| c.blocks as usize).collect();
        let ratios = run(stream, policies, &blocks, ttl, threads);
        Curves {
            requests: stream.requests() as u64,
            blocks: stream.lookups() as u64,
            unique_blocks: stream.unique() as u64,
            capacities,
            policies: policies
                .iter()
                .zip(ratios)
                .map(|(p, hit_ratios)| PolicyCurve {
                    name: p.name.to_string(),
                    hit_ratios,
                })
                .collect(),
        }
    }

    /// The hit ratio of `policy` at the capacity of `percent` of the unique blocks.
    pub fn at_percent(&self, policy: &str, percent: f64) -> Option<f64> {
        let k = self
            .capacities
            .iter()
            .position(|c| c.percent == Some(percent))?;
        let p = self.policies.iter().find(|p| p.name == policy)?;
        p.hit_ratios[k]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{LRU_PERCENTS, TraceStats};
    use crate::trace::read_trace;

    fn vendored(path: &str) -> crate::trace::Trace {
        let path = format!("{}/validation/data/{path}", env!("CARGO_MANIFEST_DIR"));
        read_trace(&path, None).expect("vendored trace")
    }

    fn stream(trace: &crate::trace::Trace) -> Stream {
        let mut s = Stream::default();
        for r in &trace.requests {
            s.push(r);
        }
        s
    }

    #[test]
    fn lru_gives_the_lru_figures_of_stats() {
        for path in [
            "mooncake/conversation_trace.jsonl",
            "qwen-bailian-excerpt/traceA_excerpt.jsonl",
        ] {
            let trace = vendored(path);
            let stats = TraceStats::compute(&trace);
            let cache = stats.cache.expect("blocks");
            let s = stream(&trace);
            assert_eq!(s.unique() as u64, cache.unique_blocks, "{path}");
            let capacities: Vec<usize> = cache.lru.iter().map(|p| p.capacity as usize).collect();
            assert_eq!(capacities.len(), LRU_PERCENTS.len());
            let lru = run(&s, &[policy_spec("lru").unwrap()], &capacities, 300.0, 2);
            let expected: Vec<Option<f64>> = cache.lru.iter().map(|p| p.hit_ratio).collect();
            assert_eq!(lru[0], expected, "{path}");
        }
    }

    #[test]
    fn with_room_for_every_block_every_policy_is_the_ideal_cache() {
        let trace = vendored("mooncake/conversation_trace.jsonl");
        let ideal = TraceStats::compute(&trace).cache.unwrap().ideal_hit_ratio;
        let s = stream(&trace);
        let all: Vec<&PolicySpec> = POLICIES.iter().collect();
        let small = s.unique() / 100;
        let ratios = run(&s, &all, &[s.unique(), small], f64::INFINITY, 2);
        for (p, r) in all.iter().zip(&ratios) {
            assert_eq!(r[0], ideal, "{}", p.name);
            assert!(r[1].unwrap() < ideal.unwrap(), "{}", p.name);
        }
    }

    #[test]
    fn a_request_reads_back_the_slots_it_was_given() {
        let requests: Vec<Vec<u64>> = vec![
            vec![],
            vec![5, 6, 7, 0, 1 << 40, 3, 3, 2],
            vec![1 << 40, 9, (1 << 40) + 7, 1_000_000, 0],
            vec![u64::from(u32::MAX) - 1, 4],
        ];
        let mut stream = Stream::default();
        let mut slots = SlotMap::default();
        let mut want = Vec::new();
        for (k, ids) in requests.iter().enumerate() {
            stream.push(&Request {
                timestamp: k as f64,
                input_length: 16 * ids.len() as u64,
                output_length: 1,
                hash_ids: Some(ids.clone()),
                session: None,
            });
            want.push(ids.iter().map(|&id| slots.slot(id)).collect::<Vec<u32>>());
        }
        let mut got = Vec::new();
        for (k, w) in want.iter().enumerate() {
            stream.request(k, &mut got);
            assert_eq!(&got, w, "request {k}");
        }
        assert_eq!(stream.lookups(), 15);
    }

    #[test]
    fn the_figures_do_not_depend_on_the_threads() {
        let trace = vendored("qwen-bailian-excerpt/traceA_excerpt.jsonl");
        let s = stream(&trace);
        let all: Vec<&PolicySpec> = POLICIES.iter().collect();
        let caps = [1, 5, 20, 100];
        assert_eq!(run(&s, &all, &caps, 60.0, 1), run(&s, &all, &caps, 60.0, 3));
    }

    #[test]
    fn categories_are_type_and_turn_bucket() {
        let mut s = Stream::default();
        for (turn, ty) in [
            (1, "text"),
            (2, "text"),
            (3, "text"),
            (4, "text"),
            (9, "image"),
        ] {
            s.push(&Request {
                timestamp: 0.0,
                input_length: 1,
                output_length: 1,
                hash_ids: Some(vec![turn]),
                session: Some(crate::trace::Session {
                    chat_id: turn,
                    parent_chat_id: -1,
                    turn: turn as u32,
                    req_type: ty.to_string(),
                }),
            });
        }
        assert_eq!(
            s.category_names(),
            [
                "text, turn 1",
                "text, turn 2",
                "text, turn 3-4",
                "image, turn 9+"
            ]
        );
        assert_eq!(s.categories, [0, 1, 2, 2, 3]);
    }
}
