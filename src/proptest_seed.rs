//! The configuration every property test runs with (unit tests and `tests/*_props.rs`,
//! which include this file by path).
//!
//! Cases are drawn from a fixed seed, so every run of the suite tries the same cases: a
//! failure one run finds, every later run (and CI, and whoever reads the report) finds
//! again, and the suite's time does not depend on the luck of the draw (a random seed
//! once made `config_props` take 48 s and 9.6 GB on one run and a second on another).
//! `PROPTEST_RNG_SEED=N` runs another fixed set of cases, to look for more; a failure
//! found that way is reproduced with the same variable (proptest also keeps its shrunk
//! case in `proptest-regressions/`).

use proptest::test_runner::{Config, RngSeed};

/// The seed unless `PROPTEST_RNG_SEED` names another.
pub const SEED: u64 = 0x7472_6163_6573_796e; // "tracesyn"

/// `cases` cases from the fixed seed (or `PROPTEST_RNG_SEED`'s), the rest proptest's
/// defaults and environment.
pub fn config(cases: u32) -> Config {
    let base = Config::default();
    let rng_seed = match base.rng_seed {
        RngSeed::Random => RngSeed::Fixed(SEED),
        chosen => chosen,
    };
    Config {
        cases,
        rng_seed,
        ..base
    }
}
