//! The streaming reader: one record at a time, any format, with line numbers.

use std::io::BufRead;

use super::input::open_input;
use super::{Format, Request, Trace, azure, bailian, mooncake};
use crate::error::{Location, TraceError};

/// Streams the records of one trace file. A bad line yields an error for that line and
/// reading goes on with the next one (so `check` can report every problem); an I/O error
/// ends the stream.
pub struct TraceReader {
    path: String,
    input: Box<dyn BufRead + Send>,
    format: Format,
    line_no: u64,
    buf: Vec<u8>,
    /// The first data line, read ahead to detect the format.
    pending: Option<(u64, String)>,
    /// Azure times are absolute: the first record's time, in ns since the epoch.
    azure_origin: Option<i64>,
    failed: bool,
    bytes_read: u64,
}

impl TraceReader {
    /// Open `path` (`-` for stdin). `format` forces a format; otherwise it is detected
    /// from the first non-blank line.
    pub fn open(path: &str, format: Option<Format>) -> Result<Self, TraceError> {
        let input = open_input(path)?;
        let mut reader = TraceReader {
            path: path.to_string(),
            input,
            format: format.unwrap_or(Format::Bailian),
            line_no: 0,
            buf: Vec::with_capacity(1 << 16),
            pending: None,
            azure_origin: None,
            failed: false,
            bytes_read: 0,
        };
        let first = loop {
            match reader.next_line()? {
                None => {
                    return Err(TraceError::Format {
                        path: path.to_string(),
                        message: "empty file: no records".to_string(),
                    });
                }
                Some(Err(e)) => return Err(e),
                Some(Ok(line)) if line.trim().is_empty() => continue,
                Some(Ok(line)) => break line,
            }
        };
        reader.format = match format {
            Some(f) => f,
            None => Format::detect(&first).ok_or_else(|| TraceError::Format {
                path: path.to_string(),
                message: format!(
                    "line {}: cannot detect the format (not a JSON record, not the Azure CSV); \
                     use --format to force one",
                    reader.line_no
                ),
            })?,
        };
        reader.pending = Some((reader.line_no, first));
        Ok(reader)
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn block_size(&self) -> Option<u32> {
        self.format.block_size()
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Bytes of (decompressed) input consumed so far, for progress reporting.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next raw line: `None` at the end, `Some(Err)` for a line that is not UTF-8.
    fn next_line(&mut self) -> Result<Option<Result<String, TraceError>>, TraceError> {
        self.buf.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| TraceError::io(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.bytes_read += n as u64;
        self.line_no += 1;
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        Ok(Some(match std::str::from_utf8(&self.buf) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => Err(self.record_error(
                None,
                format!(
                    "not UTF-8 text (binary file?): invalid byte at column {}",
                    e.valid_up_to() + 1
                ),
            )),
        }))
    }

    fn record_error(&self, field: Option<String>, message: String) -> TraceError {
        TraceError::Record {
            at: Location::new(&self.path, Some(self.line_no)),
            field,
            message,
        }
    }

    fn parse(&mut self, line_no: u64, line: &str) -> Option<Result<Request, TraceError>> {
        let parsed = match self.format {
            Format::Bailian => bailian::parse_line(line),
            Format::Mooncake => mooncake::parse_line(line),
            Format::Azure => {
                if azure::is_header(line) {
                    return None;
                }
                azure::parse_row(line).map(|(nanos, mut req)| {
                    let origin = *self.azure_origin.get_or_insert(nanos);
                    req.timestamp = (nanos - origin) as f64 / 1e9;
                    req
                })
            }
        };
        Some(parsed.map_err(|e| TraceError::Record {
            at: Location::new(&self.path, Some(line_no)),
            field: e.field,
            message: e.message,
        }))
    }
}

impl Iterator for TraceReader {
    type Item = Result<Request, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some((line_no, line)) = self.pending.take()
            && let Some(item) = self.parse(line_no, &line)
        {
            return Some(item);
        }
        loop {
            if self.failed {
                return None;
            }
            let line = match self.next_line() {
                Ok(None) => return None,
                Ok(Some(Ok(line))) => line,
                Ok(Some(Err(e))) => return Some(Err(e)),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let line_no = self.line_no;
            if let Some(item) = self.parse(line_no, &line) {
                return Some(item);
            }
        }
    }
}

/// Read a whole trace, stopping at the first bad record.
pub fn read_trace(path: &str, format: Option<Format>) -> Result<Trace, TraceError> {
    let reader = TraceReader::open(path, format)?;
    let format = reader.format();
    let requests = reader.collect::<Result<Vec<_>, _>>()?;
    Ok(Trace {
        format,
        block_size: format.block_size(),
        requests,
    })
}
