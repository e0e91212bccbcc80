//! Translating block ids between block sizes, keeping the rule that one id stands for one
//! block content.
//!
//! Bailian -> Mooncake: one 512-token block covers 32 Bailian blocks. Mooncake ids are
//! prefix blocks, so a block's new id is keyed by the id of the block before it and the
//! run of Bailian ids it covers: the same run under the same prefix gets the same id.
//! A shorter final run (a partial block) is a different key, so it never shares an id
//! with a full block.
//!
//! Mooncake -> Bailian: each 512-token block splits into up to 32 Bailian blocks, block
//! `j` of Mooncake id `m` becoming `32 m + j`: no table, so memory stays flat however long
//! the stream; ids from 2^27 on cannot be split below 2^32 and are an error.

use std::collections::HashMap;

/// Bailian blocks per Mooncake block.
const FACTOR: usize = (super::MOONCAKE_BLOCK / super::BAILIAN_BLOCK) as usize;

/// Maps the ids of a source block size to a target block size.
#[derive(Debug)]
pub enum IdMapper {
    /// Same block size: ids pass through.
    Keep,
    /// 16-token ids to 512-token ids.
    Coarsen {
        ids: HashMap<(u64, Vec<u64>), u64>,
        next: u64,
    },
    /// 512-token ids to 16-token ids.
    Refine,
    /// The source has no blocks (Azure): every block is new content.
    Fresh { next: u64 },
}

impl IdMapper {
    /// A mapper from `source` block size (`None`: no blocks) to `target` block size.
    pub fn new(source: Option<u32>, target: u32) -> Self {
        match source {
            None => IdMapper::Fresh { next: 0 },
            Some(s) if s == target => IdMapper::Keep,
            Some(s) if s < target => IdMapper::Coarsen {
                ids: HashMap::new(),
                next: 0,
            },
            Some(_) => IdMapper::Refine,
        }
    }

    /// The target ids of one request with `input_length` tokens and source ids `ids`.
    /// Fails when an id cannot be split into ids below 2^32.
    pub fn map(
        &mut self,
        ids: &[u64],
        input_length: u64,
        target_block: u32,
        out: &mut Vec<u64>,
    ) -> Result<(), String> {
        out.clear();
        match self {
            IdMapper::Keep => out.extend_from_slice(ids),
            IdMapper::Coarsen { ids: table, next } => {
                let mut prev = u64::MAX;
                for chunk in ids.chunks(FACTOR) {
                    let id = *table.entry((prev, chunk.to_vec())).or_insert_with(|| {
                        *next += 1;
                        *next - 1
                    });
                    out.push(id);
                    prev = id;
                }
            }
            IdMapper::Refine => {
                let wanted = super::blocks_for(input_length, target_block) as usize;
                'outer: for &id in ids {
                    let base = id
                        .checked_mul(FACTOR as u64)
                        .filter(|b| b + FACTOR as u64 <= super::MAX_HASH_ID)
                        .ok_or_else(|| {
                            format!("block id {id} cannot be split into 16-token ids below 2^32")
                        })?;
                    for j in 0..FACTOR as u64 {
                        if out.len() == wanted {
                            break 'outer;
                        }
                        out.push(base + j);
                    }
                }
            }
            IdMapper::Fresh { next } => {
                let wanted = super::blocks_for(input_length, target_block);
                out.extend(*next..*next + wanted);
                *next += wanted;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarsening_shares_ids_only_under_the_same_prefix() {
        let mut m = IdMapper::new(Some(16), 512);
        let a: Vec<u64> = (0..70).collect(); // 1120 tokens -> 3 Mooncake blocks
        let mut out = Vec::new();
        m.map(&a, 70 * 16, 512, &mut out).unwrap();
        assert_eq!(out, vec![0, 1, 2]);
        // Same first 64 ids, different tail: first two blocks shared.
        let mut b: Vec<u64> = (0..64).collect();
        b.extend([900, 901]);
        m.map(&b, 66 * 16, 512, &mut out).unwrap();
        assert_eq!(out, vec![0, 1, 3]);
        // The run 32..64 under a different first block is different content.
        let mut c: Vec<u64> = (100..132).collect();
        c.extend(32..64);
        m.map(&c, 64 * 16, 512, &mut out).unwrap();
        assert_eq!(out, vec![4, 5]);
    }

    #[test]
    fn a_partial_run_never_shares_an_id_with_a_full_one() {
        let mut m = IdMapper::new(Some(16), 512);
        let mut out = Vec::new();
        m.map(&(0..32).collect::<Vec<_>>(), 512, 512, &mut out)
            .unwrap();
        assert_eq!(out, vec![0]);
        m.map(&(0..20).collect::<Vec<_>>(), 320, 512, &mut out)
            .unwrap();
        assert_eq!(out, vec![1]);
    }

    #[test]
    fn refining_obeys_the_block_count_rule() {
        let mut m = IdMapper::new(Some(512), 16);
        let mut out = Vec::new();
        m.map(&[7, 8], 600, 16, &mut out).unwrap();
        assert_eq!(out.len(), 38);
        let first = out.clone();
        m.map(&[7], 100, 16, &mut out).unwrap();
        assert_eq!(out, first[..7].to_vec());
    }

    #[test]
    fn refining_is_arithmetic_and_refuses_ids_it_cannot_split() {
        let mut m = IdMapper::new(Some(512), 16);
        let mut out = Vec::new();
        m.map(&[3], 40, 16, &mut out).unwrap();
        assert_eq!(out, vec![96, 97, 98]);
        let too_big = MAX_SPLITTABLE + 1;
        assert!(m.map(&[too_big], 16, 16, &mut out).is_err());
        m.map(&[MAX_SPLITTABLE], 512, 16, &mut out).unwrap();
        assert_eq!(*out.last().unwrap(), crate::trace::MAX_HASH_ID - 1);
    }

    /// The largest Mooncake id whose 32 parts stay below 2^32.
    const MAX_SPLITTABLE: u64 = (1 << 27) - 1;

    #[test]
    fn fresh_ids_never_repeat() {
        let mut m = IdMapper::new(None, 16);
        let mut out = Vec::new();
        m.map(&[], 40, 16, &mut out).unwrap();
        assert_eq!(out, vec![0, 1, 2]);
        m.map(&[], 16, 16, &mut out).unwrap();
        assert_eq!(out, vec![3]);
    }
}
