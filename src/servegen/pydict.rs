//! The Python dict literals ServeGen stores its PMFs in: `{39: 0.00036, 40: 0.00018}`,
//! `{0.0: 0.1, 0.002: 0.3}`, `{}`; what `repr` of a dict of ints or floats gives. Python's
//! `eval` is what upstream reads them with; this accepts the number literals `repr`
//! writes (signs, fractions, exponents, `1_000`), a trailing comma, any whitespace, and
//! numpy's `np.float64(0.5)` wrappers, and nothing else.

/// `(key, value)` pairs in file order. The error says what was expected at which byte.
pub fn parse(text: &str) -> Result<Vec<(f64, f64)>, String> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        pos: 0,
    };
    p.skip_ws();
    p.expect(b'{')?;
    let mut pairs = Vec::new();
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.number()?;
        p.skip_ws();
        p.expect(b':')?;
        p.skip_ws();
        let value = p.number()?;
        pairs.push((key, value));
        p.skip_ws();
        if p.eat(b',') {
            continue;
        }
        p.skip_ws();
        p.expect(b'}')?;
        break;
    }
    p.skip_ws();
    if p.pos < p.bytes.len() {
        return Err(format!("at byte {}: text after the closing brace", p.pos));
    }
    Ok(pairs)
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.bytes.len() && self.bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.bytes.get(self.pos) == Some(&b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!(
                "at byte {}: expected `{}`, found {}",
                self.pos,
                b as char,
                self.found()
            ))
        }
    }

    fn found(&self) -> String {
        match self.bytes.get(self.pos) {
            None => "the end".to_string(),
            Some(_) => {
                let rest = String::from_utf8_lossy(&self.bytes[self.pos..]);
                format!("`{}`", rest.chars().take(12).collect::<String>())
            }
        }
    }

    /// A number literal, or one wrapped in a numpy scalar constructor.
    fn number(&mut self) -> Result<f64, String> {
        let start = self.pos;
        if self
            .bytes
            .get(self.pos)
            .is_some_and(u8::is_ascii_alphabetic)
        {
            while self
                .bytes
                .get(self.pos)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
            {
                self.pos += 1;
            }
            let name = String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned();
            if !name.starts_with("np.") && !name.starts_with("numpy.") {
                return Err(format!("at byte {start}: `{name}` is not a finite number"));
            }
            self.skip_ws();
            self.expect(b'(')?;
            self.skip_ws();
            let v = self.number()?;
            self.skip_ws();
            self.expect(b')')?;
            return Ok(v);
        }
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_digit() || b"+-.eE_".contains(b))
        {
            self.pos += 1;
        }
        let literal = String::from_utf8_lossy(&self.bytes[start..self.pos]).replace('_', "");
        if literal.is_empty() {
            return Err(format!(
                "at byte {start}: expected a number, found {}",
                self.found()
            ));
        }
        match literal.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(format!(
                "at byte {start}: `{literal}` is not a finite number"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ints_floats_and_empty_dicts() {
        assert_eq!(parse("{}").unwrap(), vec![]);
        assert_eq!(parse(" { } ").unwrap(), vec![]);
        assert_eq!(
            parse("{39: 0.0003636363636363636, 40: 1e-4, 41: 2.5E+1,}").unwrap(),
            vec![(39.0, 0.0003636363636363636), (40.0, 1e-4), (41.0, 25.0)]
        );
        assert_eq!(
            parse("{0.0: 0.5,\n 0.998003992015968: 0.5}").unwrap(),
            vec![(0.0, 0.5), (0.998003992015968, 0.5)]
        );
        assert_eq!(
            parse("{np.int64(3): np.float64(1.0), 1_000: -0.0}").unwrap(),
            vec![(3.0, 1.0), (1000.0, -0.0)]
        );
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            "{",
            "{1: 0.5",
            "{1 0.5}",
            "{1: }",
            "{1: 0.5} x",
            "{1: nan}",
            "{1: inf}",
            "{'a': 1}",
            "{1: 0.5 2: 0.5}",
            "[1, 2]",
            "{1: os.system(1)}",
            "{1.2.3: 1}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        let err = parse("{1: 0.5, 2: x}").unwrap_err();
        assert!(err.contains("byte 12"), "{err}");
    }
}
