//! Property tests: whatever bytes a trace file holds, `TraceReader` yields one Ok record
//! or one error per line, never panics, and ends; `check` over it does not panic either.

mod util;

use std::io::Write;
use std::sync::OnceLock;

use proptest::prelude::*;
use tracesynth::check::check_reader;
use tracesynth::error::TraceError;
use tracesynth::trace::{Format, MAX_TOKENS, TraceReader};

/// Real lines to mutate: the Bailian excerpt and the start of the Mooncake trace.
fn real_lines() -> &'static [Vec<u8>] {
    static LINES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    LINES.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("validation/data");
        let excerpt =
            std::fs::read_to_string(root.join("qwen-bailian-excerpt/traceA_excerpt.jsonl"))
                .unwrap();
        let moon = std::fs::read_to_string(root.join("mooncake/conversation_trace.jsonl")).unwrap();
        excerpt
            .lines()
            .chain(moon.lines().take(200))
            .map(|l| l.as_bytes().to_vec())
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit { at: usize, bit: u8 },
    Truncate { at: usize },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Bytes that change a JSON line's meaning more often than random ones do.
    let interesting = prop_oneof![
        prop::sample::select(b"\"{}[],:-.0123456789eEN\\ \n\r\t\x00\xff".to_vec()),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), 0..8u8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), interesting).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Delete { at }),
    ]
}

fn apply(line: &mut Vec<u8>, m: &Mutation) {
    if line.is_empty() {
        return;
    }
    match *m {
        Mutation::FlipBit { at, bit } => {
            let i = at % line.len();
            line[i] ^= 1 << bit;
        }
        Mutation::Truncate { at } => line.truncate(at % line.len()),
        Mutation::Insert { at, byte } => line.insert(at % (line.len() + 1), byte),
        Mutation::Delete { at } => {
            line.remove(at % line.len());
        }
    }
}

#[derive(Debug, Clone)]
enum Wrap {
    Plain,
    Gzip,
    Zstd,
    /// Compressed, then cut at a fraction (per mille) of its length.
    GzipCut(u16),
    ZstdCut(u16),
}

fn wrap() -> impl Strategy<Value = Wrap> {
    prop_oneof![
        4 => Just(Wrap::Plain),
        1 => Just(Wrap::Gzip),
        1 => Just(Wrap::Zstd),
        1 => (0..1000u16).prop_map(Wrap::GzipCut),
        1 => (0..1000u16).prop_map(Wrap::ZstdCut),
    ]
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

fn wrapped(data: &[u8], how: &Wrap) -> Vec<u8> {
    let cut = |mut v: Vec<u8>, per_mille: u16| {
        v.truncate(v.len() * usize::from(per_mille) / 1000);
        v
    };
    match *how {
        Wrap::Plain => data.to_vec(),
        Wrap::Gzip => gzip(data),
        Wrap::Zstd => zstd(data),
        Wrap::GzipCut(p) => cut(gzip(data), p),
        Wrap::ZstdCut(p) => cut(zstd(data), p),
    }
}

fn format() -> impl Strategy<Value = Option<Format>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(Format::Bailian)),
        1 => Just(Some(Format::Mooncake)),
        1 => Just(Some(Format::Azure)),
    ]
}

/// Read `bytes` as a trace file and check every item. `lines` bounds the records and
/// record errors (one per line at most), and an error that ends the input must be the
/// last item, so an endless iterator fails instead of hanging.
fn read_all(bytes: &[u8], lines: usize, format: Option<Format>) -> Result<(), TestCaseError> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    let path = file.path().to_str().unwrap();

    let reader = match TraceReader::open(path, format) {
        Ok(r) => r,
        Err(e) => {
            prop_assert!(e.to_string().starts_with(path), "{e}");
            return Ok(());
        }
    };
    let format = reader.format();
    let mut items = 0usize;
    let mut ended = false;
    for item in reader {
        prop_assert!(!ended, "an item after the input ended");
        items += 1;
        prop_assert!(items <= lines + 1, "{items} items from {lines} lines");
        match item {
            Ok(req) => {
                prop_assert!(req.timestamp.is_finite());
                if format != Format::Azure {
                    // Azure times are relative to the first row and may go negative.
                    prop_assert!(req.timestamp >= 0.0);
                }
                prop_assert!(req.input_length <= MAX_TOKENS);
                prop_assert!(req.output_length <= MAX_TOKENS);
                prop_assert_eq!(req.session.is_some(), format == Format::Bailian);
                prop_assert_eq!(req.hash_ids.is_some(), format != Format::Azure);
            }
            Err(e @ TraceError::Record { .. }) => {
                let line = e.line().unwrap_or(0);
                prop_assert!((1..=lines as u64).contains(&line), "{e}");
                let at = format!("{path}:{line}: ");
                prop_assert!(e.to_string().starts_with(&at), "{e}");
            }
            Err(e) => {
                prop_assert!(e.to_string().starts_with(path), "{e}");
                ended = true;
            }
        }
        prop_assert!(
            items <= lines || ended,
            "{items} records from {lines} lines"
        );
    }

    // The checker sees the same items; it must not panic on any of them.
    if let Ok(report) = check_reader(TraceReader::open(path, Some(format)).unwrap()) {
        prop_assert!(report.records as usize <= items);
    }
    Ok(())
}

proptest! {
    // proptest's default count of cases, from a fixed seed.
    #![proptest_config(util::proptest_seed::config(256))]

    #[test]
    fn random_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        prefix in prop::sample::select(vec![&b""[..], b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"{", b"TIMESTAMP,a,b\n"]),
        format in format(),
    ) {
        let data = [prefix, &bytes[..]].concat();
        let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
        // Decompressed data may hold more lines than the file: a zstd RLE block of a few
        // bytes expands to 128 KB.
        let bound = if data.starts_with(b"\x1f\x8b") || data.starts_with(b"\x28\xb5\x2f\xfd") {
            1 << 26
        } else {
            lines
        };
        read_all(&data, bound, format)?;
    }

    #[test]
    fn mutated_real_lines_never_panic(
        picks in prop::collection::vec((any::<prop::sample::Index>(), prop::collection::vec(mutation(), 0..4)), 1..8),
        format in format(),
        how in wrap(),
    ) {
        let all = real_lines();
        let mut text = Vec::new();
        for (pick, mutations) in &picks {
            let mut line = pick.get(all).clone();
            for m in mutations {
                apply(&mut line, m);
            }
            text.extend_from_slice(&line);
            text.push(b'\n');
        }
        let lines = text.iter().filter(|&&b| b == b'\n').count();
        read_all(&wrapped(&text, &how), lines, format)?;
    }

    #[test]
    fn unmutated_real_lines_all_parse(
        picks in prop::collection::vec(any::<prop::sample::Index>(), 1..20),
        how in prop_oneof![Just(Wrap::Plain), Just(Wrap::Gzip), Just(Wrap::Zstd)],
    ) {
        // The control for the test above: without mutations every line is a record.
        let all = real_lines();
        let first = picks[0].get(all);
        let text: Vec<u8> = picks
            .iter()
            .map(|p| p.get(all))
            // Detection goes by the first line; keep to its format.
            .filter(|l| l.starts_with(b"{\"chat_id\"") == first.starts_with(b"{\"chat_id\""))
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&wrapped(&text, &how)).unwrap();
        let reader = TraceReader::open(file.path().to_str().unwrap(), None).unwrap();
        let n = text.iter().filter(|&&b| b == b'\n').count();
        let items: Vec<_> = reader.collect();
        prop_assert_eq!(items.len(), n);
        prop_assert!(items.iter().all(Result::is_ok));
    }
}
