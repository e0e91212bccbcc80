//! Opening an input: a path or `-` for stdin, gzip and zstd decompressed transparently.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

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
                message: "is a directory, not a file".to_string(),
            });
        }
        Box::new(file)
    };
    let mut buffered = BufReader::with_capacity(BUF_SIZE, raw);
    let head = buffered.fill_buf().map_err(|e| TraceError::io(path, e))?;
    if head.starts_with(&GZIP_MAGIC) {
        let decoder = GzipErrors(flate2::read::MultiGzDecoder::new(buffered));
        Ok(Box::new(BufReader::with_capacity(BUF_SIZE, decoder)))
    } else if head.starts_with(&ZSTD_MAGIC) {
        let decoder = ZstdFrames::new(buffered).map_err(|e| TraceError::Format {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        Ok(Box::new(BufReader::with_capacity(BUF_SIZE, decoder)))
    } else {
        Ok(Box::new(buffered))
    }
}

/// The whole of a small text input (a model, a target or tolerance file, a rate
/// profile) read as traces are: a path or `-`, gzip or zstd decompressed, a UTF-8 byte
/// order mark skipped. Errors do not name the path; the caller does.
pub fn read_text(path: &str) -> io::Result<String> {
    let mut input = open_input(path).map_err(|e| match e {
        TraceError::Io { source, .. } => source,
        TraceError::Format { message, .. } => io::Error::other(message),
        other => io::Error::other(other.to_string()),
    })?;
    let mut text = String::new();
    input.read_to_string(&mut text)?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// Says which layer failed: flate2's bare "unexpected end of file" or "invalid gzip
/// header" reads as if the trace itself were cut short.
struct GzipErrors<R>(R);

impl<R: Read> Read for GzipErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), format!("corrupt or truncated gzip data: {e}")))
    }
}

/// Decodes every frame of a zstd stream. ruzstd's `StreamingDecoder` stops silently after
/// the first frame, but `cat a.zst b.zst` and pzstd produce several, and a trace cut short
/// without an error would be read as a valid, shorter trace.
struct ZstdFrames<R: BufRead> {
    source: R,
    frame: FrameDecoder,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(mut source: R) -> io::Result<Self> {
        let mut frame = FrameDecoder::new();
        frame.init(&mut source).map_err(zstd_error)?;
        Ok(ZstdFrames { source, frame })
    }

    /// Start the next frame, skipping skippable frames. `false` at the end of the input.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.frame.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped =
                        io::copy(&mut (&mut self.source).take(length.into()), &mut io::sink())?;
                    if skipped < u64::from(length) {
                        return Err(truncated());
                    }
                }
                Err(e) => return Err(zstd_error(e)),
            }
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.frame.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if !self.frame.is_finished() {
                self.frame
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(zstd_error)?;
            } else if !self.next_frame()? {
                return Ok(0);
            }
        }
    }
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "truncated zstd data: the file ends inside a frame",
    )
}

/// One readable message instead of ruzstd's nested debug output.
fn zstd_error(e: FrameDecoderError) -> io::Error {
    let mut cause: &dyn std::error::Error = &e;
    while let Some(next) = cause.source() {
        if let Some(io) = next.downcast_ref::<io::Error>()
            && io.kind() == io::ErrorKind::UnexpectedEof
        {
            return truncated();
        }
        cause = next;
    }
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt zstd data: {cause}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    fn decode(compressed: Vec<u8>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        ZstdFrames::new(io::Cursor::new(compressed))?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn reads_every_zstd_frame() {
        let mut both = zstd(b"first\n");
        // A skippable frame (magic 0x184D2A50, 3 bytes of payload) between the two.
        both.extend([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        both.extend(zstd(b"second\n"));
        assert_eq!(decode(both).unwrap(), b"first\nsecond\n");
    }

    #[test]
    fn a_truncated_zstd_file_is_an_error() {
        let data: Vec<u8> = (0..20_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut compressed = zstd(&data);
        compressed.truncate(compressed.len() / 2);
        let err = decode(compressed).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    }
}
