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

// The command line, compiled into the Python extension so that the package's
// `tracesynth` command is the same program (`python/tracesynth/__init__.py`). Inside the
// library its `tracesynth::` paths name this crate.
#[cfg(feature = "python")]
extern crate self as tracesynth;
#[cfg(feature = "python")]
#[path = "main.rs"]
mod cli_main;
#[cfg(feature = "python")]
mod python;
