//! The `calculator` tool: arithmetic expressions evaluated in f64.
//!
//! ```text
//! expr    = term (("+" | "-") term)*
//! term    = unary (("*" | "/" | "%") unary)*
//! unary   = ("-" | "+") unary | power
//! power   = primary (("^" | "**") unary)?          right-associative; -2^2 = -4, 2^-1 = 0.5
//! primary = number | "(" expr ")" | name "(" expr ")" | name
//! ```
//!
//! Functions: sqrt, cbrt, sin, cos, tan, asin, acos, atan, ln, log (base 10), log2, exp, abs,
//! floor, ceil, round; constants pi, e. `%` is Python's modulo (the sign of the divisor).
//! Errors are messages (they go back to the model as the tool's result), never panics.

/// Evaluates `src`.
pub fn eval(src: &str) -> Result<f64, String> {
    let mut p = Parser { src, pos: 0, depth: 0 };
    let value = p.expr()?;
    p.skip_space();
    if p.pos < src.len() {
        return Err(p.unexpected());
    }
    if !value.is_finite() {
        return Err(format!("the result is not a finite number ({value})"));
    }
    Ok(value)
}

/// A result as people write it: integers without a fraction, others to 12 significant digits.
pub fn format(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let parsed: f64 = format!("{x:.11e}").parse().unwrap_or(x);
    let plain = format!("{parsed}");
    if plain.len() <= 20 {
        plain
    } else {
        format!("{parsed:e}")
    }
}

/// Nesting deeper than this is an error (not a stack overflow).
const MAX_DEPTH: usize = 200;

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    /// Consumes `token` (after spaces) if it is next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.src[self.pos..].starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn unexpected(&self) -> String {
        match self.peek() {
            Some(c) => format!("unexpected '{c}' at position {} of `{}`", self.pos + 1, self.src),
            None => format!("`{}` ends too early", self.src),
        }
    }

    fn expr(&mut self) -> Result<f64, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("the expression nests too deeply".into());
        }
        let mut value = self.term()?;
        loop {
            if self.eat("+") {
                value += self.term()?;
            } else if self.eat("-") {
                value -= self.term()?;
            } else {
                break;
            }
        }
        self.depth -= 1;
        Ok(value)
    }

    fn term(&mut self) -> Result<f64, String> {
        let mut value = self.unary()?;
        loop {
            self.skip_space();
            if self.src[self.pos..].starts_with("**") {
                break; // a power, handled below `unary`
            }
            if self.eat("*") {
                value *= self.unary()?;
            } else if self.eat("/") {
                let d = self.unary()?;
                if d == 0.0 {
                    return Err("division by zero".into());
                }
                value /= d;
            } else if self.eat("%") {
                let d = self.unary()?;
                if d == 0.0 {
                    return Err("modulo by zero".into());
                }
                value -= d * (value / d).floor();
            } else {
                break;
            }
        }
        Ok(value)
    }

    fn unary(&mut self) -> Result<f64, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("the expression nests too deeply".into());
        }
        let value = if self.eat("-") {
            -self.unary()?
        } else if self.eat("+") {
            self.unary()?
        } else {
            self.power()?
        };
        self.depth -= 1;
        Ok(value)
    }

    fn power(&mut self) -> Result<f64, String> {
        let base = self.primary()?;
        if self.eat("^") || self.eat("**") {
            let exp = self.unary()?;
            let value = base.powf(exp);
            if value.is_nan() {
                return Err(format!("{} ^ {} is not a real number", format(base), format(exp)));
            }
            return Ok(value);
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<f64, String> {
        self.skip_space();
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                let value = self.expr()?;
                if !self.eat(")") {
                    return Err(format!("missing ')' at position {} of `{}`", self.pos + 1, self.src));
                }
                Ok(value)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            Some(c) if c.is_alphabetic() || c == '_' => self.name(),
            _ => Err(self.unexpected()),
        }
    }

    fn number(&mut self) -> Result<f64, String> {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        let digits = |p: &mut usize| {
            while *p < bytes.len() && (bytes[*p].is_ascii_digit() || bytes[*p] == b'_') {
                *p += 1;
            }
        };
        digits(&mut self.pos);
        if self.pos < bytes.len() && bytes[self.pos] == b'.' {
            self.pos += 1;
            digits(&mut self.pos);
        }
        if self.pos < bytes.len() && matches!(bytes[self.pos], b'e' | b'E') {
            let mut p = self.pos + 1;
            if p < bytes.len() && matches!(bytes[p], b'+' | b'-') {
                p += 1;
            }
            if p < bytes.len() && bytes[p].is_ascii_digit() {
                digits(&mut p);
                self.pos = p;
            }
        }
        let text = self.src[start..self.pos].replace('_', "");
        text.parse().map_err(|_| format!("`{}` is not a number", &self.src[start..self.pos]))
    }

    fn name(&mut self) -> Result<f64, String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.pos += self.peek().map_or(1, char::len_utf8);
        }
        let name = self.src[start..self.pos].to_ascii_lowercase();
        if self.eat("(") {
            let x = self.expr()?;
            if !self.eat(")") {
                return Err(format!("missing ')' after the argument of {name}"));
            }
            return call(&name, x);
        }
        match name.as_str() {
            "pi" => Ok(std::f64::consts::PI),
            "e" => Ok(std::f64::consts::E),
            "tau" => Ok(std::f64::consts::TAU),
            _ => Err(format!("unknown name `{name}` (constants: pi, e, tau)")),
        }
    }
}

fn call(name: &str, x: f64) -> Result<f64, String> {
    let domain =
        |ok: bool, what: &str| if ok { Ok(()) } else { Err(format!("{name}({}) is undefined: {what}", format(x))) };
    Ok(match name {
        "sqrt" => {
            domain(x >= 0.0, "negative argument")?;
            x.sqrt()
        }
        "cbrt" => x.cbrt(),
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tan" => x.tan(),
        "asin" => {
            domain((-1.0..=1.0).contains(&x), "outside [-1, 1]")?;
            x.asin()
        }
        "acos" => {
            domain((-1.0..=1.0).contains(&x), "outside [-1, 1]")?;
            x.acos()
        }
        "atan" => x.atan(),
        "ln" | "log" | "log2" | "log10" => {
            domain(x > 0.0, "the argument must be positive")?;
            match name {
                "ln" => x.ln(),
                "log2" => x.log2(),
                _ => x.log10(),
            }
        }
        "exp" => x.exp(),
        "abs" => x.abs(),
        "floor" => x.floor(),
        "ceil" => x.ceil(),
        "round" => x.round(),
        _ => {
            return Err(format!(
                "unknown function `{name}` (functions: sqrt, cbrt, sin, cos, tan, asin, acos, atan, ln, log, log2, exp, abs, floor, ceil, round)"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{eval, format};

    #[test]
    fn evaluates() {
        let cases: &[(&str, f64)] = &[
            ("2*(3+4)", 14.0),
            ("1 + 2 * 3", 7.0),
            ("(1 + 2) * 3", 9.0),
            ("2^3^2", 512.0),
            ("2**10", 1024.0),
            ("-2^2", -4.0),
            ("2^-1", 0.5),
            ("--3", 3.0),
            ("7 % 3", 1.0),
            ("-7 % 3", 2.0),
            ("10 / 4", 2.5),
            ("sqrt(16) + abs(-2)", 6.0),
            ("ln(e)", 1.0),
            ("log(1000)", 3.0),
            ("exp(0)", 1.0),
            ("cos(pi)", -1.0),
            ("1e3 + 1_000", 2000.0),
            (" 3 * ( 2 + 1 ) ", 9.0),
        ];
        for &(src, want) in cases {
            let got = eval(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert!((got - want).abs() < 1e-9, "{src}: got {got}, want {want}");
        }
    }

    #[test]
    fn errors_are_messages() {
        for (src, expect) in [
            ("1/0", "division by zero"),
            ("2*(3+", "ends too early"),
            ("2*(3+4", "missing ')'"),
            ("2 $ 3", "unexpected '$'"),
            ("sqrt(-1)", "negative"),
            ("ln(0)", "positive"),
            ("foo(2)", "unknown function"),
            ("x + 1", "unknown name"),
            ("", "ends too early"),
            ("(-8)^(1/3)", "not a real number"),
            ("10^400", "not a finite number"),
        ] {
            let err = eval(src).expect_err(src);
            assert!(err.contains(expect), "{src}: {err}");
        }
        assert!(eval(&"(".repeat(10_000)).unwrap_err().contains("deeply"));
        assert!(eval(&"-".repeat(10_000)).unwrap_err().contains("deeply"));
    }

    #[test]
    fn formats() {
        assert_eq!(format(14.0), "14");
        assert_eq!(format(-3.0), "-3");
        assert_eq!(format(0.1 + 0.2), "0.3");
        assert_eq!(format(2.5), "2.5");
        assert_eq!(format(std::f64::consts::PI), "3.14159265359");
        assert_eq!(format(1e20), "1e20");
    }
}
