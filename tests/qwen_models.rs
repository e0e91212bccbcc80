//! The calibrated Qwen models in `models/`: they load, say what they are, and two hours
//! generated from each (seed 1) land within the project's tolerances of the published
//! figures (BRIEF section 4) on the rows asserted below. Run with `TRACESYNTH_BLESS=1`
//! to rewrite `validation/QWEN.md`, the full table (every figure, seeds 1 and 2).

use std::path::Path;

use tracesynth::calibrate::NOTE;
use tracesynth::validate::qwen::{QwenCheck, check, table};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Rows that hold with margin on both seeds; the others are reported in QWEN.md.
fn assert_robust(c: &QwenCheck, keys: &[&str]) {
    for key in keys {
        let r = c
            .rows
            .iter()
            .find(|r| r.figure.key() == *key)
            .unwrap_or_else(|| panic!("{}: no row {key}", c.name));
        assert!(
            r.passes(),
            "{}: {key} = {:?}, published {}",
            c.name,
            r.ours,
            r.target
        );
    }
}

#[test]
fn the_calibrated_qwen_models_reproduce_the_published_figures() {
    let a = check(root(), "qwen-trace-a").expect("measures");
    let b = check(root(), "qwen-trace-b").expect("measures");
    for c in [&a, &b] {
        assert_eq!(c.model.provenance.note.as_deref(), Some(NOTE), "{}", c.name);
        assert!(c.bytes < 1 << 20, "{}: {} bytes", c.name, c.bytes);
    }
    if std::env::var_os("TRACESYNTH_BLESS").is_some() {
        let mut doc = String::from(QWEN_HEADER);
        doc.push_str(&table(&a, "##"));
        doc.push_str(&table(&b, "##"));
        doc.push_str(QWEN_FOOTER);
        std::fs::write(root().join("validation/QWEN.md"), doc).unwrap();
    }
    assert_robust(&a, ROBUST_A);
    assert_robust(&b, ROBUST_B);
}

const ROBUST_A: &[&str] = &[
    "rate",
    "input.mean",
    "input.p50",
    "input.p99",
    "output.mean",
    "output.p50",
    "output.p99",
    "sessions.single_request_share",
    "sessions.follow_up_share",
    "sessions.gap_p50",
    "sessions.gap_p90",
    "types.text",
    "types.search",
    "types.image",
    "types.file",
    "cache.ideal_hit_ratio",
    "cache.lru@1%",
    "cache.lru@5%",
    "cache.lru@10%",
    "cache.lru@25%",
    "cache.lru@50%",
    "cache.same_session_share",
    "cache.cross_session_share",
];

const ROBUST_B: &[&str] = &[
    "rate",
    "input.mean",
    "input.p50",
    "input.p99",
    "output.p50",
    "output.p99",
    "cache.ideal_hit_ratio",
    "cache.lru@1%",
    "cache.lru@5%",
    "cache.lru@10%",
    "cache.lru@25%",
    "cache.lru@50%",
    "sessions.single_request_share",
    "sessions.follow_up_share",
    "types.api",
    "types.text",
    "cache.same_session_share",
    "cache.cross_session_share",
];

const QWEN_HEADER: &str = include_str!("qwen_header.md");
const QWEN_FOOTER: &str = include_str!("qwen_footer.md");
