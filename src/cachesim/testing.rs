//! Hand-built traces for the policies' tests.

use super::{Setup, Stream, policy_spec, simulate_each};
use crate::trace::{Request, Session};

/// One request: its time, category (codes are given in order of first appearance) and
/// block ids.
pub struct Req {
    time: f64,
    category: u16,
    ids: Vec<u64>,
}

impl Req {
    pub fn new(time: f64, category: u16, ids: &[u64]) -> Req {
        Req {
            time,
            category,
            ids: ids.to_vec(),
        }
    }
}

/// One single-block request per id, a second apart, one category.
pub fn singles(ids: &[u64]) -> Vec<Req> {
    ids.iter()
        .enumerate()
        .map(|(i, &id)| Req::new(i as f64, 0, &[id]))
        .collect()
}

pub fn stream_of(trace: &[Req]) -> Stream {
    let mut stream = Stream::default();
    for (i, r) in trace.iter().enumerate() {
        stream.push(&Request {
            timestamp: r.time,
            input_length: r.ids.len() as u64,
            output_length: 1,
            hash_ids: Some(r.ids.clone()),
            session: Some(Session {
                chat_id: i as u64,
                parent_chat_id: -1,
                turn: 1,
                req_type: format!("c{}", r.category),
            }),
        });
    }
    stream
}

/// Per request: all of its blocks hit.
pub fn hits_with_ttl(policy: &str, capacity: usize, ttl: f64, trace: &[Req]) -> Vec<bool> {
    let stream = stream_of(trace);
    let setup = Setup {
        universe: stream.universe(),
        capacity,
        categories: stream.category_names().len(),
        ttl,
    };
    let mut p = (policy_spec(policy).expect("a policy").build)(&setup);
    let mut out = Vec::new();
    simulate_each(&stream, p.as_mut(), &mut |i, hits| {
        out.push(hits == trace[i].ids.len());
    });
    out
}

pub fn hits_of(policy: &str, capacity: usize, trace: &[Req]) -> Vec<bool> {
    hits_with_ttl(policy, capacity, f64::INFINITY, trace)
}
