//! Azure LLM inference CSV: `TIMESTAMP,ContextTokens,GeneratedTokens` with absolute
//! `YYYY-MM-DD HH:MM:SS.fffffff` times. Lengths and arrivals only.

use super::format::{LineParser, TraceFormat};
use super::jsonl::FieldError;
use super::{MAX_TOKENS, Request};

/// The Azure CSV format (read only).
pub struct Azure;

impl TraceFormat for Azure {
    fn name(&self) -> &'static str {
        "azure"
    }

    fn block_size(&self) -> Option<u32> {
        None
    }

    /// The header, or a data row without it.
    fn detect(&self, line: &str) -> u8 {
        u8::from(line.to_ascii_uppercase().starts_with("TIMESTAMP,") || looks_like_row(line))
    }

    fn is_header(&self, line: &str) -> bool {
        is_header(line)
    }

    fn parser(&self) -> Box<dyn LineParser> {
        Box::new(Parser { origin: None })
    }

    fn time_field(&self) -> &'static str {
        "TIMESTAMP"
    }
}

/// Times are absolute: they are made relative to the first record's.
struct Parser {
    /// The first record's time, in ns since the epoch.
    origin: Option<i64>,
}

impl LineParser for Parser {
    fn parse(&mut self, line: &str) -> Result<Request, FieldError> {
        parse_row(line).map(|(nanos, mut req)| {
            let origin = *self.origin.get_or_insert(nanos);
            req.timestamp = (i128::from(nanos) - i128::from(origin)) as f64 / 1e9;
            req
        })
    }
}

/// `YYYY-MM-DD HH:MM:SS...,n,n`: an Azure data row without its header.
fn looks_like_row(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[..4].iter().all(u8::is_ascii_digit)
        && line.matches(',').count() == 2
}

/// True for the header line, which the reader skips.
pub fn is_header(line: &str) -> bool {
    line.trim_start_matches('\u{feff}')
        .to_ascii_uppercase()
        .starts_with("TIMESTAMP,")
}

/// Parse one data row. The timestamp is returned as nanoseconds since the Unix epoch so
/// that the reader can make it relative without losing the 100 ns resolution.
pub fn parse_row(line: &str) -> Result<(i64, Request), FieldError> {
    let mut cols = line.trim_end_matches('\r').split(',');
    let (Some(ts), Some(input), Some(output), None) =
        (cols.next(), cols.next(), cols.next(), cols.next())
    else {
        return Err(FieldError::line(
            "expected 3 comma-separated columns: TIMESTAMP,ContextTokens,GeneratedTokens",
        ));
    };
    let seconds = parse_datetime(ts.trim()).ok_or_else(|| {
        FieldError::field(
            "TIMESTAMP",
            format!("{ts:?} is not a time of the form YYYY-MM-DD HH:MM:SS.fffffff"),
        )
    })?;
    // Nanoseconds since the epoch fit an i64 from 1677-09-21 to 2262-04-11 only.
    let nanos = seconds
        .0
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(seconds.1))
        .ok_or_else(|| {
            FieldError::field(
                "TIMESTAMP",
                format!("{ts:?} is out of range: times from 1677-09-22 to 2262-04-11 fit"),
            )
        })?;
    let input_length = parse_tokens(input, "ContextTokens")?;
    let output_length = parse_tokens(output, "GeneratedTokens")?;
    Ok((
        nanos,
        Request {
            timestamp: 0.0,
            input_length,
            output_length,
            hash_ids: None,
            session: None,
        },
    ))
}

fn parse_tokens(text: &str, field: &str) -> Result<u64, FieldError> {
    let v: u64 = text
        .trim()
        .parse()
        .map_err(|_| FieldError::field(field, format!("{text:?} is not a non-negative integer")))?;
    if v > MAX_TOKENS {
        return Err(FieldError::field(
            field,
            format!("{v} exceeds the limit of {MAX_TOKENS} tokens"),
        ));
    }
    Ok(v)
}

/// `YYYY-MM-DD HH:MM:SS[.f{1,9}]` to (seconds since 1970-01-01, nanoseconds) (no time
/// zone).
fn parse_datetime(s: &str) -> Option<(i64, i64)> {
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-');
    let (y, mo, da): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some()
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
        || !(1..=9999).contains(&y)
    {
        return None;
    }
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let mut t = hms.split(':');
    let (h, mi, se): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if t.next().is_some()
        || h > 23
        || mi > 59
        || se > 60
        || frac.len() > 9
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac_ns: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().ok()? * 10_i64.pow(9 - frac.len() as u32)
    };
    let days = days_from_civil(y, mo, da);
    Some((days * 86_400 + h * 3600 + mi * 60 + se, frac_ns))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_row() {
        let (ns, req) = parse_row("2023-11-16 18:15:46.6805900,374,44").unwrap();
        assert_eq!(req.input_length, 374);
        assert_eq!(req.output_length, 44);
        // 2023-11-16 is day 19677 since the epoch.
        assert_eq!(
            ns,
            ((19_677 * 86_400 + 18 * 3600 + 15 * 60 + 46) * 1_000_000_000) + 680_590_000
        );
    }

    #[test]
    fn names_the_bad_column() {
        assert_eq!(
            parse_row("2023-11-16 18:15:46.68,abc,44")
                .unwrap_err()
                .field
                .as_deref(),
            Some("ContextTokens")
        );
        assert_eq!(
            parse_row("yesterday,1,44").unwrap_err().field.as_deref(),
            Some("TIMESTAMP")
        );
        assert!(
            parse_row("2023-11-16 18:15:46.68,1")
                .unwrap_err()
                .field
                .is_none()
        );
    }
}
