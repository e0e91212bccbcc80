//! Cutting a trace down for the scale claims: whole sessions kept at random, or the first
//! half of the span.

use crate::fit::prepared::Prepared;
use crate::fit::prepared::mix;
use crate::trace::Trace;

/// A trace thinned to a share of its sessions.
#[derive(Debug, Clone)]
pub struct Thinned {
    pub trace: Trace,
    /// Sessions (trees of requests) in the input, and how many were kept.
    pub sessions: usize,
    pub kept_sessions: usize,
}

/// The head of each request's session: its root, or the topmost ancestor in the trace.
///
/// Lineage is the fit's own ([`Prepared`]): `parent_chat_id` where the format has it,
/// block inheritance where it has only ids (Mooncake), none at all otherwise (Azure,
/// where every request is its own session). Thinning by any other notion of a session
/// would cut the conversations the fit then sees in two.
pub fn session_heads(trace: &Trace) -> Vec<usize> {
    let prepared = Prepared::new(trace.clone(), 0);
    let mut head: Vec<usize> = Vec::with_capacity(prepared.requests.len());
    for (i, r) in prepared.requests.iter().enumerate() {
        // Parents always come earlier, so their head is known.
        head.push(r.parent.map_or(i, |p| head[p]));
    }
    head
}

/// Keep each session with probability `share`, decided by a hash of the seed and the
/// session's head (so the choice does not depend on the order of the coin flips), with
/// every request of a kept session.
pub fn keep_sessions(trace: &Trace, share: f64, seed: u64) -> Thinned {
    let head = session_heads(trace);
    let keep_head = |h: usize| {
        let x = mix(mix(seed, 0x7468_696e), h as u64);
        // The top 53 bits as a uniform draw in [0, 1).
        ((x >> 11) as f64 / (1u64 << 53) as f64) < share
    };
    let sessions = head.iter().enumerate().filter(|&(i, &h)| i == h).count();
    let kept_sessions = head
        .iter()
        .enumerate()
        .filter(|&(i, &h)| i == h && keep_head(h))
        .count();
    let requests = trace
        .requests
        .iter()
        .zip(&head)
        .filter(|&(_, &h)| keep_head(h))
        .map(|(r, _)| r.clone())
        .collect();
    Thinned {
        trace: Trace {
            format: trace.format,
            block_size: trace.block_size,
            requests,
        },
        sessions,
        kept_sessions,
    }
}

/// Every session of `trace` in one of two halves at random (a fair coin per session,
/// hashed from the seed and the session's head as in [`keep_sessions`]): two samples of
/// the same service at half its users, for measuring how far samples fall apart.
pub fn split_sessions(trace: &Trace, seed: u64) -> (Trace, Trace) {
    let head = session_heads(trace);
    let first = |h: usize| mix(mix(seed, 0x7370_6c69), h as u64) >> 63 == 0;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (r, &h) in trace.requests.iter().zip(&head) {
        if first(h) {
            a.push(r.clone())
        } else {
            b.push(r.clone())
        }
    }
    let half = |requests| Trace {
        format: trace.format,
        block_size: trace.block_size,
        requests,
    };
    (half(a), half(b))
}

/// The requests of the first half of the span. Sessions running across the cut lose
/// their later turns, as any trace cut from a running stream does; the fit corrects for
/// that window edge.
pub fn first_half(trace: &Trace) -> Trace {
    let start = trace.requests.first().map_or(0.0, |r| r.timestamp);
    let cut = start + trace.span() / 2.0;
    Trace {
        format: trace.format,
        block_size: trace.block_size,
        requests: trace
            .requests
            .iter()
            .take_while(|r| r.timestamp < cut)
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{Format, Request, Session};

    fn req(t: f64, chat: u64, parent: i64) -> Request {
        Request {
            timestamp: t,
            input_length: 100,
            output_length: 10,
            hash_ids: Some(vec![chat * 10, chat * 10 + 1]),
            session: Some(Session {
                chat_id: chat,
                parent_chat_id: parent,
                turn: 1,
                req_type: "text".into(),
            }),
        }
    }

    fn sessions_trace(n: u64) -> Trace {
        // Session k: a root and two follow-ups, interleaved with the other sessions.
        let mut requests = Vec::new();
        for k in 0..n {
            requests.push(req(k as f64, 3 * k, -1));
        }
        for k in 0..n {
            requests.push(req((n + k) as f64, 3 * k + 1, (3 * k) as i64));
        }
        for k in 0..n {
            requests.push(req((2 * n + k) as f64, 3 * k + 2, (3 * k + 1) as i64));
        }
        Trace {
            format: Format::Bailian,
            block_size: Some(16),
            requests,
        }
    }

    #[test]
    fn thinning_keeps_whole_sessions() {
        let trace = sessions_trace(400);
        let t = keep_sessions(&trace, 0.25, 3);
        assert_eq!(t.sessions, 400);
        assert_eq!(t.trace.requests.len(), 3 * t.kept_sessions);
        assert!((60..140).contains(&t.kept_sessions), "{}", t.kept_sessions);
        let kept: std::collections::HashSet<u64> = t
            .trace
            .requests
            .iter()
            .map(|r| r.session.as_ref().unwrap().chat_id)
            .collect();
        for r in &t.trace.requests {
            let s = r.session.as_ref().unwrap();
            if let Some(p) = s.parent() {
                assert!(kept.contains(&p), "chat {} lost its parent", s.chat_id);
            }
        }
        // The same seed keeps the same sessions.
        assert_eq!(
            keep_sessions(&trace, 0.25, 3).trace.requests,
            t.trace.requests
        );
    }

    #[test]
    fn inferred_sessions_are_kept_whole() {
        // Mooncake-like: no session fields; request 2 continues 0, request 3 continues 2.
        let r = |t: f64, ids: Vec<u64>| Request {
            timestamp: t,
            input_length: 512 * ids.len() as u64,
            output_length: 10,
            hash_ids: Some(ids),
            session: None,
        };
        let trace = Trace {
            format: Format::Mooncake,
            block_size: Some(512),
            requests: vec![
                r(0.0, vec![0, 1, 2]),
                r(1.0, vec![0, 3, 4]),
                r(2.0, vec![0, 1, 5, 6]),
                r(3.0, vec![0, 1, 5, 7, 8]),
            ],
        };
        assert_eq!(session_heads(&trace), vec![0, 1, 0, 0]);
    }

    #[test]
    fn first_half_cuts_at_half_the_span() {
        let trace = sessions_trace(10);
        let half = first_half(&trace);
        // Times 0..29: the cut is at 14.5.
        assert_eq!(half.requests.len(), 15);
    }

    #[test]
    fn a_split_puts_each_whole_session_in_one_half() {
        let trace = sessions_trace(400);
        let (a, b) = split_sessions(&trace, 5);
        assert_eq!(a.requests.len() + b.requests.len(), trace.requests.len());
        assert!(
            (480..720).contains(&a.requests.len()),
            "{}",
            a.requests.len()
        );
        for half in [&a, &b] {
            let chats: std::collections::HashSet<u64> = half
                .requests
                .iter()
                .map(|r| r.session.as_ref().unwrap().chat_id)
                .collect();
            for r in &half.requests {
                if let Some(p) = r.session.as_ref().unwrap().parent() {
                    assert!(chats.contains(&p), "a session was cut in two");
                }
            }
        }
        assert_ne!(split_sessions(&trace, 6).0.requests, a.requests);
    }
}
