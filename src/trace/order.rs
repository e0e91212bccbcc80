//! The order of written lines among equal keys, shared by every format whose keys repeat
//! ([`Ties::ByContent`]): how `generate` writes ties and `merge` joins them.

use std::io::{self, Write};

use super::format::{LineOrder, Ties};

/// The integer that opens a line written by this crate as `{"FIELD": N` (`prefix` is
/// everything before `N`), if it opens that way: read without parsing the line.
pub fn leading_int(line: &[u8], prefix: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(prefix)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Where a line goes among lines of the same timestamp: a hash of its bytes (FNV-1a,
/// fixed here so the order never changes with a dependency), then the bytes themselves.
///
/// The order must come from the line alone (see [`TieSorter`]), but not from its
/// leading bytes: sorted as text, a tick's lines would run by the digits of their input
/// lengths ("10680" before "6710"), and a reader of the trace would see the position in
/// a tick tell the length. A hash is content-defined and says nothing of the content.
pub fn tie_key(line: &[u8]) -> u64 {
    line.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Writes lines with every group of equal keys (a format's [`LineOrder`] key: Mooncake's
/// timestamps) in [`tie_key`] order.
///
/// A Mooncake record has no id, so nothing in a file tells which of two requests of the
/// same millisecond came first. Generated traces put such a group in an order the lines
/// themselves carry: any split of a trace into parts (`generate --shard`) then merges
/// back into exactly the same bytes (`tracesynth merge`). Identical lines are
/// interchangeable, so the order is total.
pub struct TieSorter<W: Write> {
    out: W,
    /// Complete lines of the current group, then the start of an unfinished line.
    buf: Vec<u8>,
    /// Start of each complete line in `buf`.
    starts: Vec<usize>,
    /// End of the last complete line.
    complete: usize,
    key: Option<u64>,
    /// The key a line opens with.
    key_of: fn(&[u8]) -> Option<u64>,
}

impl<W: Write> TieSorter<W> {
    /// A sorter of the lines of `order`, whose ties must be [`Ties::ByContent`].
    pub fn new(out: W, order: LineOrder) -> Self {
        debug_assert_eq!(order.ties, Ties::ByContent);
        TieSorter {
            key_of: order.key,
            out,
            buf: Vec::new(),
            starts: Vec::new(),
            complete: 0,
            key: None,
        }
    }

    fn flush_group(&mut self) -> io::Result<()> {
        if self.starts.len() > 1 {
            let mut lines: Vec<&[u8]> = self
                .starts
                .iter()
                .zip(self.starts[1..].iter().chain([&self.complete]))
                .map(|(&a, &b)| &self.buf[a..b])
                .collect();
            lines.sort_by_cached_key(|line| (tie_key(line), *line));
            for line in lines {
                self.out.write_all(line)?;
            }
        } else {
            self.out.write_all(&self.buf[..self.complete])?;
        }
        self.buf.drain(..self.complete);
        self.starts.clear();
        self.complete = 0;
        Ok(())
    }
}

impl<W: Write> Write for TieSorter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        while let Some(n) = self.buf[self.complete..].iter().position(|&b| b == b'\n') {
            let start = self.complete;
            let key = (self.key_of)(&self.buf[start..]);
            if key != self.key || key.is_none() {
                self.flush_group()?;
                self.key = key;
            }
            let start = self.complete;
            self.starts.push(start);
            self.complete = start + n + 1;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_group()?;
        self.key = None;
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{Format, mooncake};

    #[test]
    fn equal_timestamps_come_out_in_tie_key_order() {
        let lines = [
            "{\"timestamp\": 5, \"input_length\": 9}\n",
            "{\"timestamp\": 7, \"input_length\": 3}\n",
            "{\"timestamp\": 7, \"input_length\": 1}\n",
            "{\"timestamp\": 7, \"input_length\": 2}\n",
            "{\"timestamp\": 8, \"input_length\": 0}\n",
        ];
        let mut out = Vec::new();
        {
            let mut w = TieSorter::new(&mut out, Format::Mooncake.line_order().unwrap());
            // Written in pieces that cut lines anywhere.
            let all = lines.concat();
            for chunk in all.as_bytes().chunks(7) {
                w.write_all(chunk).unwrap();
            }
            w.flush().unwrap();
        }
        let mut tick: Vec<&str> = lines[1..4].to_vec();
        tick.sort_by_key(|l| tie_key(l.as_bytes()));
        let expected = [&[lines[0]], &tick[..], &[lines[4]]].concat().concat();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert_eq!(mooncake::line_timestamp(lines[1].as_bytes()), Some(7));
        assert_eq!(mooncake::line_timestamp(b"{\"chat_id\": 1"), None);
    }

    /// Sorted as text, the first line of a tick is the one whose length starts with the
    /// smallest digit: with three lengths spread over 1,000..30,000, a "1" came first in
    /// about 76 % of ticks, against the 38 % of lengths that start with one.
    #[test]
    fn the_position_in_a_tick_says_nothing_of_the_length() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut length = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            1_000 + state % 29_000
        };
        let ticks = 4_000;
        let first_starts_with_one = (0..ticks)
            .filter(|&t| {
                (0..3)
                    .map(|_| format!("{{\"timestamp\": {t}, \"input_length\": {}}}\n", length()))
                    .min_by_key(|l| (tie_key(l.as_bytes()), l.clone()))
                    .unwrap()
                    .contains("length\": 1")
            })
            .count();
        let share = first_starts_with_one as f64 / f64::from(ticks);
        assert!((0.33..0.43).contains(&share), "{share}");
    }
}
