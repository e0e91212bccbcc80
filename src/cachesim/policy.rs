//! The one trait every eviction policy implements, and what a policy is built from.
//!
//! A policy is a set of block ids (dense `u32`s, `0..universe`) of bounded size. The
//! simulator ([`super::simulate`]) drives it with the prefix semantics of `stats`: for
//! each request it calls [`Policy::begin`], looks every block up with
//! [`Policy::contains`] before any is touched (the request hits on the leading blocks
//! held), then calls [`Policy::access`] for each block in order, hit or not.
//!
//! To add a policy: write a type implementing [`Policy`] in its own file of this module
//! and add one [`PolicySpec`] to [`super::POLICIES`].

/// What a policy is built with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setup {
    /// Block ids are `0..universe`.
    pub universe: usize,
    /// Blocks the cache holds at most.
    pub capacity: usize,
    /// Categories are `0..categories` (request type and turn bucket; see
    /// [`super::Stream`]).
    pub categories: usize,
    /// Seconds a block lives after its last access, for policies with a lifetime.
    pub ttl: f64,
}

/// One touch of a block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Access {
    /// The request's timestamp, seconds.
    pub time: f64,
    /// The request's category.
    pub category: u16,
}

/// An eviction policy: a bounded set of blocks that decides what to drop.
pub trait Policy: Send {
    /// The block is cached now.
    fn contains(&self, block: u32) -> bool;

    /// A request arrives at `time`, before any of its blocks is looked up (a lifetime
    /// policy drops what expired).
    fn begin(&mut self, _time: f64) {}

    /// The block is used by the current request: a cached block is updated (its recency
    /// or frequency), an absent one is inserted, evicting as the policy decides so that
    /// at most `capacity` blocks stay.
    fn access(&mut self, block: u32, at: Access);

    /// Blocks cached now.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A policy by name, as `cachesim --policies` and `compare` find it.
#[derive(Debug, Clone, Copy)]
pub struct PolicySpec {
    /// Stable name: `cachesim --policies` and the `compare` row names use it.
    pub name: &'static str,
    pub description: &'static str,
    /// Its choices depend on absolute time (a lifetime in seconds), not only on the
    /// order and spacing of requests: `compare --scale K` leaves it out of the ranking.
    pub absolute_time: bool,
    pub build: fn(&Setup) -> Box<dyn Policy>,
}
