//! Writing a planned trace, on one thread or several.
//!
//! The planner is cheap; spelling out ids and formatting lines is most of the work, and
//! each line depends on its own record only (for the formats that need no id table). So
//! one thread plans, batches of records go to formatting threads, and the lines are
//! written in batch order: the bytes are those of a one-thread run.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{channel, sync_channel};
use std::sync::{Arc, Mutex};

use super::{GenerateOptions, Planned, Records, records};
use crate::model::Model;
use crate::model::blocks::IdsExhausted;
use crate::trace::{LineFormatter, Request};

/// Records per batch handed to a formatting thread.
const BATCH: usize = 1024;
/// Bytes gathered before a write on one thread.
const CHUNK: usize = 1 << 16;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(transparent)]
    Ids(#[from] IdsExhausted),
    #[error("writing the output: {0}")]
    Io(#[from] io::Error),
    /// A chat id reached 2^32, which consumers cannot hold.
    #[error(
        "chat id {0} reached 2^32, above what consumers accept: lower --start-id or bound \
         the run with --requests"
    )]
    ChatIds(u64),
}

/// Chat ids must stay below this (consumers keep them in 32 bits).
pub const MAX_CHAT_ID: u64 = 1 << 32;

/// The record, or an error when its chat id is out of range for a format that writes it.
fn in_range(p: Planned, chat_ids: bool) -> Result<Planned, OutputError> {
    if chat_ids && p.chat_id >= MAX_CHAT_ID {
        return Err(OutputError::ChatIds(p.chat_id));
    }
    Ok(p)
}

/// What a run wrote: its records, how many of them the clipping knobs moved, and what
/// `--peak-cap` dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub records: u64,
    /// Inputs raised to `--min-input`.
    pub input_raised: u64,
    /// Inputs cut to `--max-input`.
    pub input_cut: u64,
    /// Outputs cut to `--max-output`.
    pub output_cut: u64,
    pub capped: super::Capped,
    /// Roots cut to `--max-context`.
    pub root_cut: u64,
    /// Follow-ups whose history `--max-context` truncated.
    pub history_truncated: u64,
    /// What `--max-context` did beyond the records written.
    pub context: super::ContextLimited,
    /// Records of each model of a mix (or copy of `--tenants`); empty for one run.
    pub parts: Vec<u64>,
}

impl Written {
    fn count(&mut self, p: &Planned) {
        self.input_raised += u64::from(p.clipped.input_raised);
        self.input_cut += u64::from(p.clipped.input_cut);
        self.output_cut += u64::from(p.clipped.output_cut);
        self.root_cut += u64::from(p.clipped.root_cut);
        self.history_truncated += u64::from(p.clipped.history_truncated);
    }
}

/// Generate the trace of `options` and write it to `out` in `formatter`'s format,
/// formatting on `threads` threads (1: everything on this one). `progress` is told the
/// number of records written from time to time. Returns what was written.
pub fn write_trace(
    model: &Model,
    options: GenerateOptions,
    threads: usize,
    formatter: LineFormatter,
    out: &mut (dyn Write + Send),
    progress: &mut dyn FnMut(u64),
) -> Result<Written, OutputError> {
    let make = move || records(model, options);
    write_records(make, &model.types, threads, formatter, out, progress)
}

/// [`write_trace`] of the records `make` builds (on the planning thread: planners are not
/// `Send`), their types named by `types`: a mix's records (see [`super::mix_records`]).
pub fn write_records<'m>(
    make: impl FnOnce() -> Box<dyn Records + 'm> + Send,
    types: &[String],
    threads: usize,
    formatter: LineFormatter,
    out: &mut (dyn Write + Send),
    progress: &mut dyn FnMut(u64),
) -> Result<Written, OutputError> {
    if threads <= 1 {
        return write_serial(make(), types, formatter, out, progress);
    }
    // A formatter that numbers ids in order of appearance must see every record in
    // order: one formatting thread, still overlapping with planning and writing.
    let workers = if formatter.is_stateless() { threads } else { 1 };
    write_parallel(make, types, workers, formatter, out, progress)
}

fn blank_request() -> Request {
    Request {
        timestamp: 0.0,
        input_length: 0,
        output_length: 0,
        hash_ids: None,
        session: None,
    }
}

fn write_serial(
    mut records: Box<dyn Records + '_>,
    types: &[String],
    mut formatter: LineFormatter,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Written, OutputError> {
    let mut req = blank_request();
    let mut lines = Vec::with_capacity(2 * CHUNK);
    let mut written = 0u64;
    let mut tally = Written::default();
    let chat_ids = formatter.writes_chat_ids();
    for planned in &mut records {
        let planned = in_range(planned?, chat_ids)?;
        tally.count(&planned);
        planned.fill(types, &mut req);
        formatter.format(&req, &mut lines)?;
        written += 1;
        if lines.len() >= CHUNK {
            out.write_all(&lines)?;
            lines.clear();
            progress(written);
        }
    }
    out.write_all(&lines)?;
    progress(written);
    tally.records = written;
    tally.capped = records.capped();
    tally.context = records.context_limited();
    tally.parts = records.parts();
    Ok(tally)
}

/// A formatted batch: its place in the output, its lines (or why they could not be
/// formatted) and the records, which go back to the planning thread to be freed there
/// (freeing on another thread than the allocating one is slow).
type Formatted = (u64, io::Result<Vec<u8>>, Vec<Planned>);

fn write_parallel<'m>(
    make: impl FnOnce() -> Box<dyn Records + 'm> + Send,
    types: &[String],
    workers: usize,
    formatter: LineFormatter,
    out: &mut (dyn Write + Send),
    progress: &mut dyn FnMut(u64),
) -> Result<Written, OutputError> {
    let planner_error = Mutex::new(None);
    let buffers: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let (work_tx, work_rx) = sync_channel::<(u64, Vec<Planned>)>(2 * workers);
        // Shared by the formatting threads and dropped with the last of them, which
        // tells the planner to stop.
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = sync_channel::<Formatted>(2 * workers);
        let (spent_tx, spent_rx) = channel::<Vec<Planned>>();

        let planner_error = &planner_error;
        let chat_ids = formatter.writes_chat_ids();
        let planning = scope.spawn(move || {
            let mut seq = 0;
            let mut batch = Vec::with_capacity(BATCH);
            let mut tally = Written::default();
            let mut records = make();
            for planned in &mut records {
                match planned
                    .map_err(OutputError::from)
                    .and_then(|p| in_range(p, chat_ids))
                {
                    Ok(p) => {
                        tally.count(&p);
                        batch.push(p);
                    }
                    Err(e) => {
                        *planner_error.lock().unwrap() = Some(e);
                        break;
                    }
                }
                if batch.len() == BATCH {
                    let next = match spent_rx.try_recv() {
                        Ok(mut spent) => {
                            spent.clear();
                            spent
                        }
                        Err(_) => Vec::with_capacity(BATCH),
                    };
                    // A closed channel means the writer stopped (an error, or `| head`).
                    if work_tx
                        .send((seq, std::mem::replace(&mut batch, next)))
                        .is_err()
                    {
                        return tally;
                    }
                    seq += 1;
                }
            }
            if !batch.is_empty() {
                let _ = work_tx.send((seq, batch));
            }
            tally.capped = records.capped();
            tally.context = records.context_limited();
            tally.parts = records.parts();
            tally
        });

        for _ in 0..workers {
            let mut formatter = formatter.fresh();
            let (work_rx, done_tx, buffers) = (work_rx.clone(), done_tx.clone(), &buffers);
            scope.spawn(move || {
                let mut req = blank_request();
                loop {
                    // The lock is held only while waiting for the next batch.
                    let Ok((seq, batch)) = work_rx.lock().unwrap().recv() else {
                        return;
                    };
                    let mut lines = buffers.lock().unwrap().pop().unwrap_or_default();
                    lines.clear();
                    let mut result = Ok(());
                    for p in &batch {
                        p.fill(types, &mut req);
                        result = formatter.format(&req, &mut lines);
                        if result.is_err() {
                            break;
                        }
                    }
                    if done_tx.send((seq, result.map(|()| lines), batch)).is_err() {
                        return;
                    }
                }
            });
        }
        drop((done_tx, work_rx));

        // Batches finish out of order; write them in order.
        let mut written = 0u64;
        let mut next = 0u64;
        let mut waiting: BTreeMap<u64, (io::Result<Vec<u8>>, Vec<Planned>)> = BTreeMap::new();
        for (seq, lines, batch) in done_rx {
            waiting.insert(seq, (lines, batch));
            while let Some((lines, batch)) = waiting.remove(&next) {
                let lines = lines?;
                out.write_all(&lines)?;
                written += batch.len() as u64;
                progress(written);
                buffers.lock().unwrap().push(lines);
                let _ = spent_tx.send(batch);
                next += 1;
            }
        }
        match planner_error.lock().unwrap().take() {
            Some(e) => Err(e),
            None => {
                let mut tally = planning.join().expect("the planning thread panicked");
                tally.records = written;
                Ok(tally)
            }
        }
    })
}
