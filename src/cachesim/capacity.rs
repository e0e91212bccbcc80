//! Cache sizes: in blocks, in percent of the trace's distinct blocks, or in bytes of KV
//! cache given the KV size of a token (`--kv-bytes-per-token`, or a model preset).

use serde::{Deserialize, Serialize};

/// A cache size as given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Capacity {
    Blocks(u64),
    /// Percent of the distinct blocks.
    Percent(f64),
    Bytes(u64),
}

/// A cache size in blocks, with how it was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    /// As given: `5%`, `1000`, `16GiB`.
    pub label: String,
    pub blocks: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// KV-cache bytes per token of a few common models: 2 (K and V) x layers x KV heads x
/// head dimension x 2 bytes (16-bit values). Qwen2-7B's 57,344 is the paper's 0.875 MiB
/// per 16 tokens.
pub const KV_MODELS: &[(&str, u64)] = &[
    // 28 layers, 4 KV heads of 128.
    ("qwen2-7b", 2 * 28 * 4 * 128 * 2),
    // 80 layers, 8 KV heads of 128.
    ("qwen2-72b", 2 * 80 * 8 * 128 * 2),
    // 32 layers, 8 KV heads of 128.
    ("llama3-8b", 2 * 32 * 8 * 128 * 2),
    // 80 layers, 8 KV heads of 128.
    ("llama3-70b", 2 * 80 * 8 * 128 * 2),
];

/// The KV bytes per token of a preset.
pub fn kv_model(name: &str) -> Option<u64> {
    KV_MODELS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, b)| b)
}

impl Capacity {
    /// `5%` (of the distinct blocks), `1000` (blocks), or bytes with a unit: `500M`,
    /// `16G`, `2T` (decimal, an optional `B`) or `16GiB` (binary).
    pub fn parse(text: &str) -> Result<Capacity, String> {
        let t = text.trim();
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a percentage like 5%"))?;
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("capacity `{text}` must be above 0 %"));
            }
            return Ok(Capacity::Percent(v));
        }
        let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if unit.is_empty() {
            return num.parse().map(Capacity::Blocks).map_err(|_| {
                format!("`{text}` is not a number of blocks, a percentage or a size")
            });
        }
        let value: f64 = num
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a size like 16G or 16GiB"))?;
        let factor = match unit.to_ascii_uppercase().as_str() {
            "K" | "KB" => 1e3,
            "M" | "MB" => 1e6,
            "G" | "GB" => 1e9,
            "T" | "TB" => 1e12,
            "KIB" => 1024.0,
            "MIB" => 1024f64.powi(2),
            "GIB" => 1024f64.powi(3),
            "TIB" => 1024f64.powi(4),
            _ => {
                return Err(format!(
                    "unknown unit in `{text}` (use K, M, G, T or KiB, MiB, GiB, TiB)"
                ));
            }
        };
        let bytes = value * factor;
        if !(bytes.is_finite() && bytes > 0.0) {
            return Err(format!("capacity `{text}` must be positive"));
        }
        Ok(Capacity::Bytes(bytes as u64))
    }

    /// In blocks, for a trace of `unique` distinct blocks of `block_size` tokens with
    /// `kv_bytes_per_token` (needed for a size in bytes). A percentage rounds to the
    /// nearest block, as the LRU points of `stats` do; bytes round down to whole blocks.
    pub fn resolve(
        self,
        label: &str,
        unique: usize,
        block_size: Option<u32>,
        kv_bytes_per_token: Option<u64>,
    ) -> Result<Resolved, String> {
        let (blocks, percent, bytes) = match self {
            Capacity::Blocks(b) => (b, None, None),
            Capacity::Percent(p) => ((p / 100.0 * unique as f64).round() as u64, Some(p), None),
            Capacity::Bytes(bytes) => {
                let per_token = kv_bytes_per_token.ok_or_else(|| {
                    format!(
                        "capacity `{label}` is in bytes: give --kv-bytes-per-token or --kv-model"
                    )
                })?;
                let tokens = block_size.ok_or_else(|| {
                    format!("capacity `{label}` is in bytes, but the trace has no block size")
                })?;
                (bytes / (per_token * u64::from(tokens)), None, Some(bytes))
            }
        };
        Ok(Resolved {
            label: label.to_string(),
            blocks,
            percent,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blocks_percent_and_bytes() {
        assert_eq!(Capacity::parse("1000"), Ok(Capacity::Blocks(1000)));
        assert_eq!(Capacity::parse("2.5%"), Ok(Capacity::Percent(2.5)));
        assert_eq!(Capacity::parse("16G"), Ok(Capacity::Bytes(16_000_000_000)));
        assert_eq!(Capacity::parse("1GiB"), Ok(Capacity::Bytes(1 << 30)));
        assert_eq!(Capacity::parse("3MB"), Ok(Capacity::Bytes(3_000_000)));
        for bad in ["", "0%", "-1%", "x", "5Q", "1.5"] {
            assert!(Capacity::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn qwen2_7b_is_the_papers_0875_mib_per_16_tokens() {
        let per_token = kv_model("Qwen2-7B").unwrap();
        assert_eq!(per_token * 16, 917_504);
        assert_eq!(917_504.0 / 1024f64.powi(2), 0.875);
        // 1 GiB of Qwen2-7B KV cache holds 1170 blocks of 16 tokens (1 GiB / 0.875 MiB).
        let r = Capacity::Bytes(1 << 30)
            .resolve("1GiB", 0, Some(16), Some(per_token))
            .unwrap();
        assert_eq!(r.blocks, 1170);
        let r = Capacity::Percent(5.0)
            .resolve("5%", 1010, None, None)
            .unwrap();
        assert_eq!(r.blocks, 51);
        assert!(
            Capacity::Bytes(1)
                .resolve("1K", 10, Some(16), None)
                .is_err()
        );
    }
}
