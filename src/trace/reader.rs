//! The streaming reader: one record at a time, any format, with line numbers.

use std::io::BufRead;

use super::input::open_input;
use super::{Format, LineParser, MAX_SPAN, Request, Trace};
use crate::error::{Location, RecordProblem, TraceError};

const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// Streams the records of one trace file. A bad line yields an error for that line and
/// reading goes on with the next one (so `check` can report every problem); an I/O error
/// ends the stream.
pub struct TraceReader {
    path: String,
    input: Box<dyn BufRead + Send>,
    format: Format,
    parser: Box<dyn LineParser>,
    line_no: u64,
    buf: Vec<u8>,
    /// The first data line, read ahead to detect the format.
    pending: Option<(u64, String)>,
    failed: bool,
    bytes_read: u64,
    /// The earliest and latest timestamps so far, with their lines, to bound the span.
    earliest: Option<(f64, u64)>,
    latest: Option<(f64, u64)>,
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
            parser: Format::Bailian.parser(),
            line_no: 0,
            buf: Vec::with_capacity(1 << 16),
            pending: None,
            failed: false,
            bytes_read: 0,
            earliest: None,
            latest: None,
        };
        let empty = || TraceError::Format {
            path: path.to_string(),
            message: "empty file: no records".to_string(),
        };
        let mut first = reader.next_data_line()?.ok_or_else(empty)?;
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
        // A CSV with only its header has no records either: say so here rather than
        // letting `convert` write an empty trace and `check` pass it.
        reader.parser = reader.format.parser();
        if reader.format.is_header(&first) {
            first = reader.next_data_line()?.ok_or_else(|| TraceError::Format {
                path: path.to_string(),
                message: "a header line and no records".to_string(),
            })?;
        }
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

    /// The 1-based line of the item last returned by `next` (for a record, its line).
    pub fn line(&self) -> u64 {
        self.line_no
    }

    /// Bytes of (decompressed) input consumed so far, for progress reporting.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next non-blank line, for `open`: a line that is not UTF-8 is an error here.
    fn next_data_line(&mut self) -> Result<Option<String>, TraceError> {
        loop {
            match self.next_line()? {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(line)) if line.trim().is_empty() => continue,
                Some(Ok(line)) => return Ok(Some(line)),
            }
        }
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
        // Format detection looks past a UTF-8 byte order mark; the parsers must too.
        if self.line_no == 1 && self.buf.starts_with(UTF8_BOM) {
            self.buf.drain(..UTF8_BOM.len());
        }
        Ok(Some(match std::str::from_utf8(&self.buf) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => Err(self.syntax_error(format!(
                "not UTF-8 text (binary file?): invalid byte at column {}",
                e.valid_up_to() + 1
            ))),
        }))
    }

    fn syntax_error(&self, message: String) -> TraceError {
        TraceError::Record {
            at: Location::new(&self.path, Some(self.line_no)),
            field: None,
            message,
            problem: RecordProblem::Syntax,
        }
    }

    fn parse(&mut self, line_no: u64, line: &str) -> Option<Result<Request, TraceError>> {
        if self.format.is_header(line) {
            return None;
        }
        let parsed = self.parser.parse(line);
        let field = |name: &str, message: String| TraceError::Record {
            at: Location::new(&self.path, Some(line_no)),
            field: Some(name.to_string()),
            message,
            problem: RecordProblem::Invalid,
        };
        let parsed = parsed.map_err(|e| TraceError::Record {
            at: Location::new(&self.path, Some(line_no)),
            field: e.field,
            message: e.message,
            problem: e.problem,
        });
        let name = self.format.time_field();
        Some(parsed.and_then(|req| {
            let t = req.timestamp;
            let first = match self.earliest {
                Some(e) if e.0 <= t => e,
                _ => (t, line_no),
            };
            let last = match self.latest {
                Some(l) if l.0 >= t => l,
                _ => (t, line_no),
            };
            if last.0 - first.0 > MAX_SPAN {
                let other = if first.1 == line_no { last.1 } else { first.1 };
                // The record stays out of the span, so that one absurd time does not
                // make every later record an error too.
                return Err(field(
                    name,
                    format!(
                        "{t} s is {:.1} days from line {other}'s time: a trace may span \
                         at most {} days",
                        (last.0 - first.0) / 86_400.0,
                        MAX_SPAN / 86_400.0
                    ),
                ));
            }
            self.earliest = Some(first);
            self.latest = Some(last);
            Ok(req)
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
    read_trace_with(path, format, &|_| {})
}

/// [`read_trace`], telling `progress` how many bytes of (decompressed) input were
/// consumed since its previous call, every few thousand records and at the end.
pub fn read_trace_with(
    path: &str,
    format: Option<Format>,
    progress: &dyn Fn(u64),
) -> Result<Trace, TraceError> {
    read_all(TraceReader::open(path, format)?, progress, &mut |_, _| {})
}

/// Every record of an open reader, as [`read_trace_with`] reads them, showing `observe`
/// each record with its line number on the way (a check made without a second read).
pub fn read_all(
    reader: TraceReader,
    progress: &dyn Fn(u64),
    observe: &mut dyn FnMut(u64, &Request),
) -> Result<Trace, TraceError> {
    let format = reader.format();
    let mut requests = Vec::new();
    for_each_record(reader, progress, &mut |line, req| {
        observe(line, &req);
        requests.push(req);
    })?;
    Ok(Trace {
        format,
        block_size: format.block_size(),
        requests,
    })
}

/// Hand every record of an open reader to `each` with its line number, without keeping
/// any (what a one-pass measurement reads a file with), stopping at the first bad
/// record; `progress` as in [`read_trace_with`].
pub fn for_each_record(
    reader: TraceReader,
    progress: &dyn Fn(u64),
    each: &mut dyn FnMut(u64, Request),
) -> Result<(), TraceError> {
    for_each_item(reader, progress, &mut |line, item| {
        each(line, item?);
        Ok(())
    })
}

/// [`for_each_record`] that hands over each record as read, a bad one included (what
/// `check` tallies), and stops at the first error `each` returns.
pub fn for_each_item(
    mut reader: TraceReader,
    progress: &dyn Fn(u64),
    each: &mut dyn FnMut(u64, Result<Request, TraceError>) -> Result<(), TraceError>,
) -> Result<(), TraceError> {
    const EVERY: u64 = 4096;
    let (mut records, mut reported) = (0u64, 0);
    while let Some(item) = reader.next() {
        each(reader.line(), item)?;
        records += 1;
        if records.is_multiple_of(EVERY) {
            let bytes = reader.bytes_read();
            progress(bytes - reported);
            reported = bytes;
        }
    }
    progress(reader.bytes_read() - reported);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str =
        r#"{"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": [0]}"#;

    fn file_with(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, content).unwrap();
        f
    }

    #[test]
    fn a_byte_order_mark_does_not_break_the_first_record() {
        let f = file_with(format!("\u{feff}{LINE}\n{LINE}\n").as_bytes());
        let reader = TraceReader::open(f.path().to_str().unwrap(), None).unwrap();
        assert_eq!(reader.format(), Format::Mooncake);
        let items: Vec<_> = reader.collect();
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(Result::is_ok), "{items:?}");
    }

    #[test]
    fn a_csv_with_only_its_header_is_empty() {
        let f = file_with(b"TIMESTAMP,ContextTokens,GeneratedTokens\n\n");
        let err = TraceReader::open(f.path().to_str().unwrap(), None)
            .err()
            .expect("no records");
        assert!(
            err.to_string().contains("a header line and no records"),
            "{err}"
        );
        let f = file_with(b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,1,2\n");
        let reader = TraceReader::open(f.path().to_str().unwrap(), None).unwrap();
        assert_eq!(reader.count(), 1);
    }

    #[test]
    fn line_numbers_count_blank_lines() {
        let f = file_with(format!("\n{LINE}\n\n{LINE}\nnot json\n").as_bytes());
        let mut reader = TraceReader::open(f.path().to_str().unwrap(), None).unwrap();
        let mut seen = Vec::new();
        while let Some(item) = reader.next() {
            seen.push((reader.line(), item.is_ok()));
        }
        assert_eq!(seen, vec![(2, true), (4, true), (5, false)]);
    }
}
