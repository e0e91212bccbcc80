//! tracesynth: learn the statistics of LLM-serving request traces and generate new,
//! faithful traces at any scale.
//!
//! Data flows one way: [`trace`] readers -> [`fit`] -> [`model`] (JSON) -> [`generate`]
//! -> [`trace`] writers. `stats` and `compare` read traces through the same readers and
//! measure them with the one [`metrics`] module.

pub mod cachesim;
pub mod calibrate;
pub mod check;
pub mod compare;
pub mod error;
pub mod fit;
pub mod generate;
pub mod metrics;
pub mod model;
#[cfg(test)]
pub(crate) mod proptest_seed;
pub mod reference;
pub mod servegen;
pub mod trace;
pub mod validate;
