//! Python numeric literals as JSON numbers.

use serde_json::{Number, Value};

use super::Parser;

impl Parser<'_> {
    /// A number with an optional sign.
    pub(super) fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        let negative = self.eat('-') || {
            self.eat('+');
            false
        };
        let body = self.pos;
        let bytes = self.src.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            let exponent_sign = matches!(b, b'+' | b'-')
                && matches!(bytes[self.pos - 1], b'e' | b'E')
                && !self.src[body..].starts_with("0x")
                && !self.src[body..].starts_with("0X");
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || exponent_sign {
                self.pos += 1;
            } else {
                break;
            }
        }
        number(&self.src[body..self.pos], negative)
            .map_err(|why| format!("{why} at byte {start}: {:?}", &self.src[start..self.pos]))
    }
}

/// The JSON number of an unsigned Python numeric literal (`_` separators, `0x`/`0o`/`0b`).
fn number(lexeme: &str, negative: bool) -> Result<Value, String> {
    if lexeme.ends_with(['j', 'J']) {
        return Err("complex numbers are not supported".into());
    }
    let lower = lexeme.to_ascii_lowercase();
    let (radix, digits) = match lower.get(..2) {
        Some("0x") => (16, &lower[2..]),
        Some("0o") => (8, &lower[2..]),
        Some("0b") => (2, &lower[2..]),
        _ => (10, &lower[..]),
    };
    let digits = digits.strip_prefix('_').filter(|_| radix != 10).unwrap_or(digits);
    // `_` only between two digits.
    let b = digits.as_bytes();
    let is_digit = |i: Option<&u8>| i.is_some_and(|&d| (d as char).is_digit(radix));
    let valid_underscores =
        (0..b.len()).filter(|&i| b[i] == b'_').all(|i| i > 0 && is_digit(b.get(i - 1)) && is_digit(b.get(i + 1)));
    if !valid_underscores {
        return Err("invalid number".into());
    }
    let digits = digits.replace('_', "");
    let is_float = radix == 10 && digits.contains(['.', 'e']);
    if !is_float {
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return Err("invalid number".into());
        }
        let sign = if negative { "-" } else { "" };
        if let Ok(i) = i64::from_str_radix(&format!("{sign}{digits}"), radix) {
            return Ok(Value::from(i));
        }
        if let (false, Ok(u)) = (negative, u64::from_str_radix(&digits, radix)) {
            return Ok(Value::from(u));
        }
        // Beyond 64 bits: the nearest f64.
        let magnitude = if radix == 10 {
            digits.parse::<f64>().map_err(|_| "invalid number")?
        } else {
            // Every char is a digit of `radix` (checked above).
            digits.chars().filter_map(|c| c.to_digit(radix)).fold(0.0, |acc, d| acc * radix as f64 + d as f64)
        };
        return float(if negative { -magnitude } else { magnitude });
    }
    // Python floats: digits, '.', exponent; at least one digit before the exponent.
    let (mantissa, exponent) = match digits.split_once('e') {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (&digits[..], None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let valid = all_digits(int_part)
        && all_digits(frac_part)
        && !(int_part.is_empty() && frac_part.is_empty())
        && exponent.is_none_or(|e| !e.is_empty() && all_digits(e));
    if !valid {
        return Err("invalid number".into());
    }
    let magnitude: f64 = digits.parse().map_err(|_| "invalid number")?;
    float(if negative { -magnitude } else { magnitude })
}

fn float(x: f64) -> Result<Value, String> {
    Number::from_f64(x).map(Value::Number).ok_or_else(|| "number beyond the f64 range".into())
}
