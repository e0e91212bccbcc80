//! `chunk-N-trace.csv`: one row per arrival window, no header,
//! `window_start_s, rate, cv, pattern, shape, scale`, the last two in scipy's convention
//! (`gamma(a=shape, scale=scale)`, `weibull_min(c=shape, scale=scale)`). A row
//! `t,0,0,,0,0` is a window without traffic.

use super::ServegenError;
use crate::error::Location;

/// The columns, as errors name them.
pub const COLUMNS: [&str; 6] = ["window_start_s", "rate", "cv", "pattern", "shape", "scale"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// No traffic in the window.
    None,
    Gamma,
    Weibull,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow {
    /// 1-based line in the file.
    pub line: u64,
    pub start: f64,
    /// Requests per second.
    pub rate: f64,
    /// Coefficient of variation of the window's gaps.
    pub cv: f64,
    pub pattern: Pattern,
    pub shape: f64,
    pub scale: f64,
}

/// Parse a trace CSV. `path` names the file in errors. Windows must be evenly spaced.
pub fn parse(text: &str, path: &str) -> Result<Vec<TraceRow>, ServegenError> {
    let mut rows: Vec<TraceRow> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = i as u64 + 1;
        let content = raw.trim_end_matches('\r').trim_start_matches('\u{feff}');
        if content.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = content.split(',').map(str::trim).collect();
        // Tolerate a header row, which upstream files do not have but hand-made ones may.
        if rows.is_empty()
            && fields[0].parse::<f64>().is_err()
            && content.to_ascii_lowercase().contains("rate")
        {
            continue;
        }
        let err = |field: Option<usize>, message: String| ServegenError::Csv {
            at: Location::new(path, Some(line)),
            field: field.map(|f| COLUMNS[f].to_string()),
            message,
        };
        if fields.len() != COLUMNS.len() {
            return Err(err(
                None,
                format!(
                    "expected {} comma-separated fields ({}), found {}",
                    COLUMNS.len(),
                    COLUMNS.join(", "),
                    fields.len()
                ),
            ));
        }
        let number = |f: usize, empty_ok: bool| -> Result<f64, ServegenError> {
            let text = fields[f];
            if text.is_empty() && empty_ok {
                return Ok(0.0);
            }
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                Ok(_) => Err(err(Some(f), format!("`{text}` is not a finite number"))),
                Err(_) => Err(err(Some(f), format!("`{text}` is not a number"))),
            }
        };
        let start = number(0, false)?;
        let rate = number(1, false)?;
        if rate < 0.0 {
            return Err(err(Some(1), format!("{rate} is negative")));
        }
        // Refused here, with its place, rather than as "the imported model is invalid".
        if rate > crate::model::MAX_RATE {
            return Err(err(
                Some(1),
                format!(
                    "{rate:e} requests per second is above the most a model may hold, {:e}",
                    crate::model::MAX_RATE
                ),
            ));
        }
        let pattern = match fields[3].to_ascii_lowercase().as_str() {
            "" => Pattern::None,
            "gamma" => Pattern::Gamma,
            "weibull" => Pattern::Weibull,
            other => {
                return Err(err(
                    Some(3),
                    format!("`{other}` is not Gamma, Weibull or empty"),
                ));
            }
        };
        if pattern == Pattern::None && rate > 0.0 {
            return Err(err(
                Some(3),
                format!("empty, but the window has a rate of {rate}/s"),
            ));
        }
        // A rate of 0 is no traffic whatever the pattern says.
        let pattern = if rate == 0.0 { Pattern::None } else { pattern };
        let active = pattern != Pattern::None;
        let cv = number(2, !active)?;
        if cv < 0.0 {
            return Err(err(Some(2), format!("{cv} is negative")));
        }
        let (mut shape, mut scale) = (0.0, 0.0);
        if active {
            shape = number(4, false)?;
            scale = number(5, false)?;
            for (f, v) in [(4, shape), (5, scale)] {
                if v <= 0.0 {
                    return Err(err(Some(f), format!("{v} must be > 0")));
                }
            }
        }
        if let Some(first) = rows.first() {
            let k = rows.len() as f64;
            let width = rows
                .get(1)
                .map_or(start - first.start, |r| r.start - first.start);
            let expected = first.start + k * width;
            if width <= 0.0 || (start - expected).abs() > 1e-6 * expected.abs().max(1.0) {
                return Err(err(
                    Some(0),
                    format!(
                        "{start}: windows must be evenly spaced and increasing (expected {expected})"
                    ),
                ));
            }
        }
        rows.push(TraceRow {
            line,
            start,
            rate,
            cv,
            pattern,
            shape,
            scale,
        });
    }
    if rows.is_empty() {
        return Err(ServegenError::Inconsistent {
            path: path.to_string(),
            message: "no windows".to_string(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_windows_with_and_without_traffic() {
        let text =
            "0,0.105,0.92,Gamma,1.168,8.05\n600,0,0,,0,0\r\n1200,0.22,0.80,Weibull,1.28,5.0\n\n";
        let rows = parse(text, "x.csv").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].pattern, Pattern::Gamma);
        assert_eq!(rows[1].pattern, Pattern::None);
        assert_eq!(rows[2].pattern, Pattern::Weibull);
        assert_eq!(rows[2].line, 3);
        assert_eq!(rows[2].start, 1200.0);
        // A header is skipped.
        let rows = parse(
            "window_start_s,rate,cv,pattern,shape,scale\n0,1,1,Gamma,1,1\n",
            "x",
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let cases = [
            ("0,0.1,1,Gamma,1,1\n600,abc,1,Gamma,1,1\n", 2, Some("rate")),
            (
                "0,0.1,1,Gamma,1,1\n600,0.1,1,Poisson,1,1\n",
                2,
                Some("pattern"),
            ),
            ("0,0.1,1,Gamma,-1,1\n", 1, Some("shape")),
            ("0,0.1,1,Gamma,1\n", 1, None),
            ("0,0.1,1,,0,0\n", 1, Some("pattern")),
            (
                "0,0.1,1,Gamma,1,1\n600,0.1,1,Gamma,1,1\n1300,0.1,1,Gamma,1,1\n",
                3,
                Some("window_start_s"),
            ),
            ("0,0.1,nan,Gamma,1,1\n", 1, Some("cv")),
            ("0,-2,1,Gamma,1,1\n", 1, Some("rate")),
            ("0,0.1,1,Gamma,1,1\n600,1e30,1,Gamma,1,1\n", 2, Some("rate")),
        ];
        for (text, line, field) in cases {
            match parse(text, "chunk-3-trace.csv") {
                Err(ServegenError::Csv {
                    at,
                    field: f,
                    message,
                }) => {
                    assert_eq!(at.line, Some(line), "{text}: {message}");
                    assert_eq!(f.as_deref(), field, "{text}: {message}");
                    assert_eq!(at.path, "chunk-3-trace.csv");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(parse("\n\n", "x").is_err());
    }

    #[test]
    fn a_zero_rate_is_no_traffic() {
        let rows = parse("0,0,0.5,Gamma,1,1\n", "x").unwrap();
        assert_eq!(rows[0].pattern, Pattern::None);
    }
}
