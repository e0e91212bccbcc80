//! Cross-check against the published figures for the real Mooncake conversation trace.

use tracesynth::metrics::TraceStats;
use tracesynth::trace::read_trace;

const MOONCAKE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/validation/data/mooncake/conversation_trace.jsonl"
);

#[test]
fn mooncake_conversation_hit_ratios_match_the_published_figures() {
    let trace = read_trace(MOONCAKE, None).expect("vendored trace reads");
    let stats = TraceStats::compute(&trace);
    assert_eq!(stats.requests, 12_031);
    let cache = stats.cache.expect("Mooncake has blocks");
    let ideal = cache.ideal_hit_ratio.unwrap();
    assert!((ideal - 0.366).abs() <= 0.005, "ideal hit ratio {ideal}");
    let ten = cache.lru.iter().find(|p| p.percent == 10.0).unwrap();
    assert_eq!(ten.capacity, 18_279);
    let lru = ten.hit_ratio.unwrap();
    assert!((lru - 0.278).abs() <= 0.005, "LRU hit ratio at 10 %: {lru}");
    // A finite cache can never beat the infinite one, and a bigger LRU never loses to a
    // smaller one on the same trace (LRU is a stack algorithm).
    let curve: Vec<f64> = cache.lru.iter().map(|p| p.hit_ratio.unwrap()).collect();
    assert!(curve.windows(2).all(|w| w[0] <= w[1]), "{curve:?}");
    assert!(curve.iter().all(|&h| h <= ideal));
    // No sessions or types in Mooncake: absent, not zero.
    assert!(stats.sessions.is_none() && stats.types.is_none());
    assert!(cache.same_session_hit_share.is_none());
}
