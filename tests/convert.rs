//! `tracesynth convert` on the vendored real traces: round trips, re-blocking, compressed
//! and piped input and output.

mod util;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use util::{TestDir, excerpt, ids, mooncake, records};

fn convert_ok(dir: &TestDir, input: &str, to: &str, out: &str) -> Vec<u8> {
    dir.run(&["convert", input, "-o", out, "--to", to])
        .expect_code(0);
    dir.read(out)
}

fn check_ok(dir: &TestDir, file: &str) -> serde_json::Value {
    let run = dir.run(&["check", file, "--json"]);
    run.expect_code(0);
    run.json()
}

#[test]
fn bailian_to_bailian_is_byte_identical() {
    let dir = TestDir::new();
    let out = convert_ok(&dir, excerpt().to_str().unwrap(), "bailian", "out.jsonl");
    assert_eq!(out, std::fs::read(excerpt()).unwrap());
}

#[test]
fn mooncake_to_mooncake_is_byte_identical() {
    let dir = TestDir::new();
    let out = convert_ok(&dir, mooncake().to_str().unwrap(), "mooncake", "out.jsonl");
    assert!(out == std::fs::read(mooncake()).unwrap(), "outputs differ");
}

#[test]
fn bailian_to_mooncake_reblocks_to_512_token_blocks() {
    let dir = TestDir::new();
    let out = convert_ok(&dir, excerpt().to_str().unwrap(), "mooncake", "out.jsonl");
    let report = check_ok(&dir, "out.jsonl");
    assert_eq!(report["format"], "mooncake");
    assert_eq!(report["records"], 32);

    let source = records(&std::fs::read(excerpt()).unwrap());
    let converted = records(&out);
    assert_eq!(converted.len(), source.len());
    for (s, c) in source.iter().zip(&converted) {
        let input = c["input_length"].as_u64().unwrap();
        assert_eq!(input, s["input_length"].as_u64().unwrap());
        assert_eq!(ids(c).len() as u64, input.div_ceil(512), "{c}");
        // Seconds with millisecond precision become integer milliseconds.
        let ms = (s["timestamp"].as_f64().unwrap() * 1000.0).round() as u64;
        assert_eq!(c["timestamp"].as_u64(), Some(ms));
    }
    // Mooncake ids are prefix blocks: block k of two requests has one id exactly when
    // their Bailian ids agree up to the end of block k (32 ids, or fewer at the end).
    let mut shared = 0;
    for (i, a) in source.iter().enumerate() {
        for (j, b) in source.iter().enumerate().skip(i + 1) {
            let (a, b) = (ids(a), ids(b));
            let (ma, mb) = (ids(&converted[i]), ids(&converted[j]));
            for k in 0..ma.len().min(mb.len()) {
                let same_content =
                    a[..(32 * (k + 1)).min(a.len())] == b[..(32 * (k + 1)).min(b.len())];
                assert_eq!(
                    ma[k] == mb[k],
                    same_content,
                    "lines {} and {}, block {k}",
                    i + 1,
                    j + 1
                );
                shared += usize::from(same_content);
            }
        }
    }
    // The excerpt's text requests share a 720-token system prompt.
    assert!(shared > 100, "{shared}");
}

#[test]
fn mooncake_to_bailian_refines_to_16_token_blocks() {
    let dir = TestDir::new();
    convert_ok(&dir, mooncake().to_str().unwrap(), "bailian", "out.jsonl");
    let report = check_ok(&dir, "out.jsonl");
    assert_eq!(report["format"], "bailian");
    assert_eq!(report["records"], 12_031);
}

#[test]
fn azure_converts_to_traces_that_pass_check() {
    let dir = TestDir::new();
    let azure = util::azure();
    let input = azure.to_str().unwrap();
    let source = dir.run(&["check", input, "--json"]);
    source.expect_code(0);
    let n = source.json()["records"].as_u64().unwrap();
    assert!(n > 19_000, "{n}");

    for (to, block) in [("bailian", 16), ("mooncake", 512)] {
        let name = format!("azure-{to}.jsonl");
        convert_ok(&dir, input, to, &name);
        let report = check_ok(&dir, &name);
        assert_eq!(report["format"], to);
        assert_eq!(report["block_size"], block);
        assert_eq!(report["records"].as_u64(), Some(n), "{to}");
    }
}

#[test]
fn gzip_and_zstd_inputs_are_read_transparently() {
    let dir = TestDir::new();
    let plain = std::fs::read(excerpt()).unwrap();
    let middle = plain[..plain.len() / 2]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap();
    let (head, tail) = plain.split_at(middle + 1);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("excerpt.jsonl.gz", util::gzip(&plain)),
        ("excerpt.jsonl.zst", util::zstd(&plain)),
        // Compression is recognised by content, not by name.
        ("gzip-without-suffix", util::gzip(&plain)),
        // `cat a.gz b.gz` and `cat a.zst b.zst` are valid streams of several members or
        // frames; stopping after the first would silently drop records.
        (
            "two-members.gz",
            [util::gzip(head), util::gzip(tail)].concat(),
        ),
        (
            "two-frames.zst",
            [util::zstd(head), util::zstd(tail)].concat(),
        ),
    ];
    for (name, bytes) in cases {
        dir.write(name, bytes);
        let out = format!("{name}.out");
        assert_eq!(convert_ok(&dir, name, "bailian", &out), plain, "{name}");
        assert_eq!(check_ok(&dir, name)["records"], 32, "{name}");
    }
}

#[test]
fn gzip_output_is_compressed_and_reads_back() {
    let dir = TestDir::new();
    let out = convert_ok(&dir, excerpt().to_str().unwrap(), "bailian", "out.jsonl.gz");
    assert_eq!(out[..2], [0x1f, 0x8b]);
    let back = convert_ok(&dir, "out.jsonl.gz", "bailian", "back.jsonl");
    assert_eq!(back, std::fs::read(excerpt()).unwrap());
}

#[test]
fn stdin_is_read_for_dash() {
    let dir = TestDir::new();
    let plain = std::fs::read(excerpt()).unwrap();
    let run = dir.run_with_stdin(&["convert", "-", "-o", "-", "--to", "bailian"], &plain);
    run.expect_code(0);
    assert_eq!(run.stdout, plain);

    let gz = util::gzip(&std::fs::read(mooncake()).unwrap());
    let run = dir.run_with_stdin(&["check", "-", "--json"], &gz);
    run.expect_code(0);
    assert_eq!(run.json()["records"], 12_031);
    assert_eq!(run.json()["path"], "-");
}

#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let dir = TestDir::new();
    // Mooncake -> Bailian splits every 512-token block into 32 ids: tens of MB, far more
    // than a pipe buffer, so the writer is still busy when the reader goes away.
    let mut child = dir
        .command(&[
            "convert",
            mooncake().to_str().unwrap(),
            "-o",
            "-",
            "--to",
            "bailian",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    {
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut first).unwrap();
        // Dropping the reader closes the pipe, as `head -1` does when it exits.
    }
    let out = child.wait_with_output().unwrap();
    let line: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(line["chat_id"], 0);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
