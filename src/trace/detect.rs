//! Trace formats and detecting one from a file's first record.

use std::fmt;
use std::str::FromStr;

/// The trace formats tracesynth reads. Bailian and Mooncake are also written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Qwen-Bailian JSONL: sessions, types, 16-token blocks, timestamps in seconds.
    Bailian,
    /// Mooncake JSONL: 512-token blocks, integer millisecond timestamps, no sessions.
    Mooncake,
    /// Azure LLM inference CSV: absolute timestamps and lengths only.
    Azure,
}

impl Format {
    /// Tokens per hash id for the format, `None` when it has no blocks.
    pub fn block_size(self) -> Option<u32> {
        match self {
            Format::Bailian => Some(super::BAILIAN_BLOCK),
            Format::Mooncake => Some(super::MOONCAKE_BLOCK),
            Format::Azure => None,
        }
    }

    /// Guess the format from the first non-blank line of a file.
    pub fn detect(first_line: &str) -> Option<Format> {
        let line = first_line.trim_start_matches('\u{feff}').trim();
        if line.starts_with('{') {
            // A Bailian record always carries `chat_id`; Mooncake records never do.
            if line.contains("\"chat_id\"") {
                Some(Format::Bailian)
            } else {
                Some(Format::Mooncake)
            }
        } else if line.to_ascii_uppercase().starts_with("TIMESTAMP,") || looks_like_azure_row(line)
        {
            Some(Format::Azure)
        } else {
            None
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS...,n,n`: an Azure data row without its header.
fn looks_like_azure_row(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[..4].iter().all(u8::is_ascii_digit)
        && line.matches(',').count() == 2
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Bailian => "bailian",
            Format::Mooncake => "mooncake",
            Format::Azure => "azure",
        })
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "bailian" => Ok(Format::Bailian),
            "mooncake" => Ok(Format::Mooncake),
            "azure" => Ok(Format::Azure),
            other => Err(format!(
                "unknown format `{other}` (expected bailian, mooncake or azure)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format_from_its_first_line() {
        assert_eq!(
            Format::detect(r#"{"chat_id": 1, "parent_chat_id": -1}"#),
            Some(Format::Bailian)
        );
        assert_eq!(
            Format::detect(r#"{"timestamp": 0, "input_length": 5}"#),
            Some(Format::Mooncake)
        );
        assert_eq!(
            Format::detect("TIMESTAMP,ContextTokens,GeneratedTokens"),
            Some(Format::Azure)
        );
        assert_eq!(
            Format::detect("2023-11-16 18:15:46.6805900,374,44"),
            Some(Format::Azure)
        );
        assert_eq!(Format::detect("\u{0}\u{1}garbage"), None);
    }
}
