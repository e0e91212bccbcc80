//! Plain-text tables with aligned columns, and the number formats the reports share.

/// Rows of cells; the first column is left-aligned (labels), the rest right-aligned
/// (numbers), so figures line up by their last digit.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub fn render(&self, indent: &str) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::from(indent);
            for (c, cell) in row.iter().enumerate() {
                let w = widths[c];
                if c == 0 {
                    line.push_str(&format!("{cell:<w$}"));
                } else {
                    line.push_str(&format!("  {cell:>w$}"));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `-` stands for a figure the trace cannot give.
pub const ABSENT: &str = "-";

/// An integer with thousands separators: 12,031.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A float with `decimals` places, thousands-separated in the integer part.
pub fn num(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let s = format!("{:.*}", decimals, x.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    if x < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('-');
    }
    out.push_str(&count(int.parse().unwrap_or(0)));
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

pub fn opt_num(x: Option<f64>, decimals: usize) -> String {
    x.map_or_else(|| ABSENT.to_string(), |x| num(x, decimals))
}

/// A share as a percentage with one decimal: 0.4631 -> 46.3 %.
pub fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| ABSENT.to_string(), |x| format!("{:.1} %", x * 100.0))
}

/// A ratio with three decimals, as the published hit ratios are quoted.
pub fn ratio(x: Option<f64>) -> String {
    opt_num(x, 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_columns_aligned() {
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(num(-1234.5, 1), "-1,234.5");
        assert_eq!(num(-0.01, 1), "0.0");
        let mut t = Table::new();
        t.row(["a", "1"]);
        t.row(["long", "100"]);
        assert_eq!(t.render(""), "a       1\nlong  100\n");
    }
}
