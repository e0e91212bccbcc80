//! Writers: one trait behind every output format, and an output file that never leaves a
//! partial file under its final name.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::reblock::IdMapper;
use super::{Format, LineEncoder, Request};
use crate::error::WriteError;

/// Writes requests in one output format.
pub trait TraceWriter {
    fn write(&mut self, req: &Request) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
}

/// A format and fields no [`LineFormatter`] can write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatterError {
    #[error("--field {field}: the {format} format has no optional fields")]
    NoOptionalFields { field: String, format: Format },
    #[error("--field {field}: the {format} format's optional fields are {}", optional.join(", "))]
    UnknownField {
        field: String,
        format: Format,
        optional: Vec<&'static str>,
    },
    #[error("writing the {0} format is not supported")]
    NotWritable(Format),
}

/// A writer for `format`, translating ids from `source_block` tokens per id (`None`: the
/// source has no blocks).
pub fn writer_for<'a, W: Write + 'a>(
    format: Format,
    out: W,
    source_block: Option<u32>,
) -> Result<Box<dyn TraceWriter + 'a>, FormatterError> {
    Ok(Box::new(LineWriter::new(
        out,
        LineFormatter::new(format, source_block)?,
    )))
}

/// Turns records into lines of one output format, translating block ids on the way.
///
/// The ids are translated from the source's block size to the format's (Mooncake JSONL
/// re-blocks ids to 512 tokens when the source has another block size); the format's
/// [`LineEncoder`] spells out the line.
pub struct LineFormatter {
    format: Format,
    /// What the ids are translated from and to.
    source_block: Option<u32>,
    target_block: u32,
    ids: IdMapper,
    mapped: Vec<u64>,
    /// The optional fields the lines carry.
    fields: Vec<String>,
    encoder: Box<dyn LineEncoder>,
}

impl std::fmt::Debug for LineFormatter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineFormatter")
            .field("format", &self.format)
            .field("source_block", &self.source_block)
            .field("target_block", &self.target_block)
            .field("ids", &self.ids)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl LineFormatter {
    pub fn new(format: Format, source_block: Option<u32>) -> Result<Self, FormatterError> {
        LineFormatter::with_fields(format, source_block, &[])
    }

    /// A formatter whose lines also carry the optional `fields` of the format.
    pub fn with_fields(
        format: Format,
        source_block: Option<u32>,
        fields: &[String],
    ) -> Result<Self, FormatterError> {
        let optional = format.optional_fields();
        if let Some(bad) = fields.iter().find(|f| !optional.contains(&f.as_str())) {
            let field = bad.clone();
            return Err(if optional.is_empty() {
                FormatterError::NoOptionalFields { field, format }
            } else {
                FormatterError::UnknownField {
                    field,
                    format,
                    optional: optional.to_vec(),
                }
            });
        }
        let (Some(encoder), Some(target)) = (format.encoder(fields), format.block_size()) else {
            return Err(FormatterError::NotWritable(format));
        };
        Ok(LineFormatter {
            format,
            source_block,
            target_block: target,
            ids: IdMapper::new(source_block, target),
            mapped: Vec::new(),
            fields: fields.to_vec(),
            encoder,
        })
    }

    pub fn format_of(&self) -> Format {
        self.format
    }

    /// Whether a line depends on its own record only, never on the records before it, so
    /// that several formatters on several threads write the same bytes as one. Records
    /// must carry their session fields.
    pub fn is_stateless(&self) -> bool {
        matches!(self.ids, IdMapper::Keep | IdMapper::Refine) && self.encoder.is_stateless()
    }

    /// Whether the lines carry chat ids (Bailian does; Mooncake has no session fields).
    pub fn writes_chat_ids(&self) -> bool {
        self.format.writes_chat_ids()
    }

    /// A fresh formatter of the same kind (for another thread).
    pub fn fresh(&self) -> LineFormatter {
        LineFormatter::with_fields(self.format, self.source_block, &self.fields)
            .expect("a formatter's format and fields were accepted once")
    }

    /// Append the line of `req` to `out`.
    pub fn format(&mut self, req: &Request, out: &mut Vec<u8>) -> io::Result<()> {
        let block = self.target_block;
        let ids = if matches!(self.ids, IdMapper::Keep) {
            req.ids()
        } else {
            self.ids
                .map(req.ids(), req.input_length, block, &mut self.mapped)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            &self.mapped
        };
        self.encoder.encode(req, ids, out);
        Ok(())
    }
}

/// A [`TraceWriter`] writing one formatted line per record.
pub struct LineWriter<W: Write> {
    out: W,
    format: LineFormatter,
    line: Vec<u8>,
}

impl<W: Write> LineWriter<W> {
    pub fn new(out: W, format: LineFormatter) -> Self {
        LineWriter {
            out,
            format,
            line: Vec::with_capacity(4096),
        }
    }
}

impl<W: Write> TraceWriter for LineWriter<W> {
    fn write(&mut self, req: &Request) -> io::Result<()> {
        self.line.clear();
        self.format.format(req, &mut self.line)?;
        self.out.write_all(&self.line)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// An output destination: stdout for `-`, otherwise a file written beside its final name
/// and renamed into place by [`OutputFile::commit`]. Dropped without a commit (an error
/// happened), the temporary file is removed, so a failed run never leaves a partial
/// file under the final name. A name ending in `.gz` is gzip-compressed.
pub struct OutputFile {
    inner: Option<Box<dyn Write + Send>>,
    temp: Option<PathBuf>,
    target: PathBuf,
    written: u64,
}

impl OutputFile {
    /// [`create`](Self::create), refusing first an output that is one of `inputs` (under
    /// another name, through a symlink or a hard link too): the run would replace what it
    /// is reading.
    pub fn create_for(path: &str, inputs: &[&str]) -> Result<Self, WriteError> {
        if path != "-" {
            for input in inputs.iter().filter(|i| **i != "-") {
                if same_file(Path::new(path), Path::new(input)) {
                    return Err(WriteError {
                        path: PathBuf::from(path),
                        source: io::Error::other(format!(
                            "is the input `{input}`: writing it would replace what is read; \
                             choose another output"
                        )),
                    });
                }
            }
        }
        OutputFile::create(path)
    }

    pub fn create(path: &str) -> Result<Self, WriteError> {
        let mut target = PathBuf::from(path);
        let refuse = |message: &str| WriteError {
            path: PathBuf::from(path),
            source: io::Error::other(message.to_string()),
        };
        if path.ends_with(".zst") || path.ends_with(".zstd") {
            return Err(refuse(
                "writing zstd is not supported (zstd input is read); use a .gz name or none",
            ));
        }
        if path != "-" && std::fs::metadata(&target).is_ok_and(|m| m.is_dir()) {
            return Err(refuse("is a directory; name a file to write"));
        }
        // A symlink is written through: the temporary file goes beside the file it points
        // to and is renamed onto that, so the link stays a link.
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            target = resolve_link(&target);
        }
        if path == "-" {
            let out = BufWriter::with_capacity(1 << 20, io::stdout());
            return Ok(OutputFile {
                inner: Some(Box::new(out)),
                temp: None,
                target,
                written: 0,
            });
        }
        // A device or a pipe (`-o /dev/null`, `-o /dev/stdout`, a FIFO) is written in
        // place: a temporary file renamed over it would replace the device itself.
        if std::fs::metadata(&target).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            let file = File::options()
                .write(true)
                .open(&target)
                .map_err(|source| WriteError {
                    path: target.clone(),
                    source,
                })?;
            return Ok(OutputFile {
                inner: Some(Box::new(BufWriter::with_capacity(1 << 20, file))),
                temp: None,
                target,
                written: 0,
            });
        }
        let temp = temp_name(&target);
        // Registered before it exists, so that a signal arriving between the two still
        // finds it.
        pending().push(temp.clone());
        let file = File::create(&temp).map_err(|source| {
            forget_temp(&temp);
            WriteError {
                path: target.clone(),
                source,
            }
        })?;
        let buffered = BufWriter::with_capacity(1 << 20, file);
        let inner: Box<dyn Write + Send> = if path.ends_with(".gz") {
            Box::new(flate2::write::GzEncoder::new(
                buffered,
                flate2::Compression::default(),
            ))
        } else {
            Box::new(buffered)
        };
        Ok(OutputFile {
            inner: Some(inner),
            temp: Some(temp),
            target,
            written: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.target
    }

    /// Bytes written so far, before any compression.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Flush everything and move the file to its final name.
    pub fn commit(mut self) -> Result<(), WriteError> {
        let err = |source| WriteError {
            path: self.target.clone(),
            source,
        };
        if let Some(mut inner) = self.inner.take() {
            inner.flush().map_err(err)?;
            // Dropping finishes a gzip stream; its errors surfaced in the flush above.
            drop(inner);
        }
        if let Some(temp) = self.temp.take() {
            let renamed = std::fs::rename(&temp, &self.target);
            forget_temp(&temp);
            renamed.map_err(|source| {
                let _ = std::fs::remove_file(&temp);
                WriteError {
                    path: self.target.clone(),
                    source,
                }
            })?;
        }
        Ok(())
    }
}

/// Write `bytes` to `path` whole or not at all, as every output is: through a temporary
/// file renamed into place, removed on an error or a signal (report files were written in
/// place, so an interrupted report could leave a half-written page).
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let Some(name) = path.to_str() else {
        return std::fs::write(path, bytes).map_err(|source| WriteError {
            path: path.to_path_buf(),
            source,
        });
    };
    let mut out = OutputFile::create(name)?;
    out.write_all(bytes).map_err(|source| WriteError {
        path: path.to_path_buf(),
        source,
    })?;
    out.commit()
}

/// Every temporary file not yet committed or removed, so that a signal handler can remove
/// them before the process exits ([`remove_temp_files`]).
static PENDING: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn forget_temp(temp: &Path) {
    let mut list = pending();
    if let Some(i) = list.iter().position(|p| p == temp) {
        list.swap_remove(i);
    }
}

/// Remove every temporary output file still open, for a process about to exit on a signal
/// (SIGINT, SIGTERM), and return how many were removed. The list stays locked afterwards:
/// a thread that then tries to create or commit an output waits for the exit, so no new
/// temporary file appears after the cleanup. Call it only right before exiting.
pub fn remove_temp_files() -> usize {
    let list = pending();
    let removed = list
        .iter()
        .filter(|p| std::fs::remove_file(p).is_ok())
        .count();
    std::mem::forget(list);
    removed
}

/// Temporary files of this process not yet committed (for tests).
pub fn temp_files() -> Vec<PathBuf> {
    pending().clone()
}

/// Where a chain of symlinks ends (the end may not exist yet).
fn resolve_link(link: &Path) -> PathBuf {
    let mut at = link.to_path_buf();
    for _ in 0..40 {
        match std::fs::read_link(&at) {
            Ok(next) => {
                at = match at.parent() {
                    Some(dir) if next.is_relative() => dir.join(next),
                    _ => next,
                };
            }
            Err(_) => break,
        }
    }
    at
}

/// Whether two paths name one existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn temp_name(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.tracesynth-{}.tmp", std::process::id()))
}

impl OutputFile {
    /// An I/O error naming the output ("No space left on device" alone does not say
    /// where), of the same kind so that a closed pipe is still recognised.
    fn named(&self, e: io::Error) -> io::Error {
        if self.temp.is_none() && self.target.as_os_str() == "-" {
            return e;
        }
        io::Error::new(e.kind(), format!("{}: {e}", self.target.display()))
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self
            .inner
            .as_mut()
            .expect("written after commit")
            .write(buf);
        if let Ok(n) = r {
            self.written += n as u64;
        }
        r.map_err(|e| self.named(e))
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let r = self
            .inner
            .as_mut()
            .expect("written after commit")
            .write_all(buf);
        if r.is_ok() {
            self.written += buf.len() as u64;
        }
        r.map_err(|e| self.named(e))
    }
    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.as_mut().expect("written after commit").flush();
        r.map_err(|e| self.named(e))
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            self.inner = None;
            let _ = std::fs::remove_file(&temp);
            forget_temp(&temp);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn a_device_is_written_in_place_not_replaced() {
        let mut out = OutputFile::create("/dev/null").unwrap();
        out.write_all(b"{}\n").unwrap();
        out.commit().unwrap();
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(meta.file_type().is_char_device());
    }
}
