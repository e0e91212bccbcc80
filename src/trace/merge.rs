//! Joining the parts of a sharded run (`generate --shard I/N`) into the one trace the
//! whole run writes.
//!
//! Every part carries the chat ids and block ids of the whole run, so joining is a k-way
//! merge of lines, copied byte for byte, in the order of their format's [`LineOrder`]:
//! Bailian lines by `chat_id` (the order the whole run numbers them in), Mooncake lines
//! by timestamp and, among equal timestamps, by [`super::order::tie_key`] and their bytes
//! (the order generated Mooncake traces use, see [`super::order::TieSorter`]).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io::{self, BufRead, Write};

use super::input::open_input;
use super::order::tie_key;
use super::{Format, LineOrder, Ties};
use crate::error::TraceError;

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Open(#[from] TraceError),
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Part {
        path: String,
        line: u64,
        message: String,
    },
    #[error("writing the output: {0}")]
    Write(#[source] io::Error),
    /// The parts' manifests do not prove they are all of one run.
    #[error("{path}: {message}")]
    Manifest { path: String, message: String },
}

/// The sidecar `generate --shard I/N -o PART` writes as `PART.part.json`: which run the
/// part belongs to and which part it is, so that `merge` can refuse a missing, repeated
/// or foreign part instead of writing a trace that silently lacks sessions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartManifest {
    /// SHA-256 of the model and every option but the shard: equal for all parts of one
    /// run, different for any other run.
    pub run: String,
    pub index: u64,
    pub count: u64,
}

/// Where the manifest of the part at `path` is kept.
pub fn manifest_path(path: &str) -> String {
    format!("{path}.part.json")
}

/// Check that the manifests beside `paths` show exactly the parts 0..N of one run.
pub fn check_manifests(paths: &[String]) -> Result<(), MergeError> {
    let mut first: Option<(PartManifest, &str)> = None;
    let mut seen: Vec<Option<&str>> = Vec::new();
    for path in paths {
        let at = manifest_path(path);
        let fail = |message: String| MergeError::Manifest {
            path: path.clone(),
            message,
        };
        if path == "-" {
            return Err(fail(
                "a part on stdin has no manifest; merge part files, or pass --no-manifest"
                    .to_string(),
            ));
        }
        let text = std::fs::read_to_string(&at).map_err(|e| {
            fail(format!(
                "no manifest {at} ({e}): not written by `generate --shard`? Pass \
                 --no-manifest to merge hand-made parts"
            ))
        })?;
        let m: PartManifest = serde_json::from_str(&text)
            .map_err(|e| fail(format!("manifest {at} is not valid: {e}")))?;
        if m.count == 0 || m.index >= m.count || m.count > 1 << 20 {
            return Err(fail(format!(
                "manifest {at}: part {}/{} is not valid",
                m.index, m.count
            )));
        }
        match &first {
            None => {
                seen = vec![None; m.count as usize];
                first = Some((m.clone(), path));
            }
            Some((f, other)) if f.run != m.run || f.count != m.count => {
                return Err(fail(format!(
                    "part {}/{} of another run than {other} (part {}/{}): the parts were \
                     made with different models or options",
                    m.index, m.count, f.index, f.count
                )));
            }
            Some(_) => {}
        }
        if let Some(other) = seen[m.index as usize] {
            return Err(fail(format!(
                "part {}/{} is given twice (also as {other})",
                m.index, m.count
            )));
        }
        seen[m.index as usize] = Some(path);
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_none())
        .map(|(i, _)| i.to_string())
        .collect();
    if let Some((f, path)) = first
        && !missing.is_empty()
    {
        return Err(MergeError::Manifest {
            path: path.to_string(),
            message: format!(
                "the run has {} parts; missing part{} {}",
                f.count,
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            ),
        });
    }
    Ok(())
}

/// The format of a part's first line: the first mergeable format whose key it opens with.
fn part_format(line: &[u8]) -> Option<(Format, LineOrder)> {
    Format::all().find_map(|f| {
        let order = f.line_order()?;
        (order.key)(line).map(|_| (f, order))
    })
}

struct Part {
    path: String,
    input: Box<dyn BufRead + Send>,
    line_no: u64,
}

/// The current line of one part.
struct Head {
    key: u64,
    /// Compared only for lines whose keys repeat ([`Ties::ByContent`]: Mooncake), whose
    /// order among equal keys is by `tie` and then bytes.
    line: Vec<u8>,
    tie: u64,
    by_bytes: bool,
    part: usize,
}

impl Head {
    fn order(&self, other: &Head) -> Ordering {
        let by_key = self.key.cmp(&other.key);
        if self.by_bytes {
            by_key
                .then(self.tie.cmp(&other.tie))
                .then_with(|| self.line.cmp(&other.line))
        } else {
            by_key
        }
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order(other).then(self.part.cmp(&other.part))
    }
}

impl Part {
    /// The next line into `buf` (with its newline); `false` at the end.
    fn read(&mut self, buf: &mut Vec<u8>) -> Result<bool, MergeError> {
        buf.clear();
        let n = self
            .input
            .read_until(b'\n', buf)
            .map_err(|source| MergeError::Read {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        if buf.last() != Some(&b'\n') {
            return Err(self.error("the last line has no newline: is the part complete?"));
        }
        if buf.ends_with(b"\r\n") {
            return Err(self.error(
                "the line ends with CRLF: a part must be one `generate --shard` output, unchanged",
            ));
        }
        Ok(true)
    }

    fn error(&self, message: impl Into<String>) -> MergeError {
        MergeError::Part {
            path: self.path.clone(),
            line: self.line_no,
            message: message.into(),
        }
    }
}

/// Merge the part files at `paths` into `out`; `progress` is told the lines written from
/// time to time. Returns the number of lines.
pub fn merge_parts(
    paths: &[String],
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, MergeError> {
    let mut parts = Vec::with_capacity(paths.len());
    for path in paths {
        parts.push(Part {
            path: path.clone(),
            input: open_input(path)?,
            line_no: 0,
        });
    }
    let mut format: Option<(Format, LineOrder, usize)> = None;
    let mut heap = BinaryHeap::with_capacity(parts.len());
    for i in 0..parts.len() {
        let mut line = Vec::new();
        if !parts[i].read(&mut line)? {
            continue;
        }
        let (f, order) = part_format(&line).ok_or_else(|| {
            let names: Vec<&str> = Format::all()
                .filter(|f| f.line_order().is_some())
                .map(Format::name)
                .collect();
            parts[i].error(format!(
                "not a line of tracesynth generate output ({})",
                names.join(", ")
            ))
        })?;
        match format {
            None => format = Some((f, order, i)),
            Some((g, _, first)) if g != f => {
                return Err(
                    parts[i].error(format!("this part is {f} but {} is {g}", parts[first].path))
                );
            }
            Some(_) => {}
        }
        heap.push(Reverse(head(&parts[i], order, line, i)?));
    }
    let Some((_, order, _)) = format else {
        return Ok(0);
    };
    let mut written = 0u64;
    let mut last: Option<Head> = None;
    let mut spare = Vec::new();
    while let Some(Reverse(current)) = heap.pop() {
        if let Some(prev) = &last
            && order.ties == Ties::Unique
            && prev.key == current.key
        {
            return Err(parts[current.part].error(format!(
                "{} {} is also in {}: these are not parts of one run",
                order.key_field, current.key, parts[prev.part].path
            )));
        }
        out.write_all(&current.line).map_err(MergeError::Write)?;
        written += 1;
        if written.is_multiple_of(1 << 16) {
            progress(written);
        }
        let i = current.part;
        if parts[i].read(&mut spare)? {
            let next = head(&parts[i], order, std::mem::take(&mut spare), i)?;
            if next.order(&current) != Ordering::Greater
                && !(order.ties == Ties::ByContent && next.line == current.line)
            {
                return Err(parts[i].error(
                    "out of order: a part must be one `generate --shard` output, unchanged",
                ));
            }
            heap.push(Reverse(next));
        }
        spare = last.replace(current).map(|h| h.line).unwrap_or_default();
    }
    progress(written);
    Ok(written)
}

fn head(part: &Part, order: LineOrder, line: Vec<u8>, i: usize) -> Result<Head, MergeError> {
    let key = (order.key)(&line).ok_or_else(|| {
        part.error(format!(
            "expected a line starting with an integer `{}`",
            order.key_field
        ))
    })?;
    let by_bytes = order.ties == Ties::ByContent;
    let tie = if by_bytes { tie_key(&line) } else { 0 };
    Ok(Head {
        key,
        tie,
        line,
        by_bytes,
        part: i,
    })
}
