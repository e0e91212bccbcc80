//! Opening an input: a path or `-` for stdin, gzip and zstd decompressed transparently.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use crate::error::TraceError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const BUF_SIZE: usize = 1 << 20;

/// Open `path` (or stdin for `-`) as buffered text, decompressing gzip or zstd when the
/// content starts with their magic bytes (the file name is not trusted).
pub fn open_input(path: &str) -> Result<Box<dyn BufRead + Send>, TraceError> {
    let raw: Box<dyn Read + Send> = if path == "-" {
        Box::new(io::stdin())
    } else {
        let file = File::open(path).map_err(|e| TraceError::io(path, e))?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(TraceError::Format {
                path: path.to_string(),
                message: "is a directory, not a trace file".to_string(),
            });
        }
        Box::new(file)
    };
    let mut buffered = BufReader::with_capacity(BUF_SIZE, raw);
    let head = buffered.fill_buf().map_err(|e| TraceError::io(path, e))?;
    if head.starts_with(&GZIP_MAGIC) {
        let decoder = flate2::read::MultiGzDecoder::new(buffered);
        Ok(Box::new(BufReader::with_capacity(BUF_SIZE, decoder)))
    } else if head.starts_with(&ZSTD_MAGIC) {
        let decoder =
            ruzstd::decoding::StreamingDecoder::new(buffered).map_err(|e| TraceError::Format {
                path: path.to_string(),
                message: format!("invalid zstd stream: {e}"),
            })?;
        Ok(Box::new(BufReader::with_capacity(BUF_SIZE, decoder)))
    } else {
        Ok(Box::new(buffered))
    }
}
