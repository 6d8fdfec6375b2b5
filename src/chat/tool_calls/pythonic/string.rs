//! Python string literals: quotes, prefixes and escapes.

use serde_json::Value;

use super::Parser;

impl Parser<'_> {
    /// A quoted string at the current quote char; `raw` for `r'...'`.
    pub(super) fn string(&mut self, raw: bool) -> Result<Value, String> {
        let start = self.pos;
        let quote = self.bump().ok_or_else(|| format!("a string was expected at byte {start}"))?;
        let triple: String = [quote; 3].iter().collect();
        let triple = if self.src[start..].starts_with(&triple) { Some(triple) } else { None };
        if triple.is_some() {
            self.pos += 2;
        }
        let unterminated = || format!("unterminated string starting at byte {start}");
        let mut out = String::new();
        loop {
            let c = self.bump().ok_or_else(unterminated)?;
            if c == '\\' {
                if raw {
                    // In a raw string a backslash stays, and keeps the next char from closing it.
                    out.push(c);
                    out.push(self.bump().ok_or_else(unterminated)?);
                } else {
                    self.escape(&mut out).map_err(|e| e.unwrap_or_else(unterminated))?;
                }
                continue;
            }
            if c == quote {
                match &triple {
                    Some(triple) if self.src[self.pos - 1..].starts_with(triple.as_str()) => {
                        self.pos += 2;
                        return Ok(Value::String(out));
                    }
                    None if self.closes_string() => return Ok(Value::String(out)),
                    _ => {}
                }
            }
            out.push(c);
        }
    }

    /// Whether a single quote just read closes its string: it does when what follows (after
    /// whitespace) can follow a value. Otherwise it is an unescaped quote inside the string, as
    /// in `'It's'` (which the LFM templates write).
    fn closes_string(&self) -> bool {
        let next = self.src[self.pos..].trim_start().chars().next();
        matches!(next, None | Some(',' | ')' | ']' | '}' | ':'))
    }

    /// After a backslash: appends the escaped char(s). `Err(None)`: the text ended.
    fn escape(&mut self, out: &mut String) -> Result<(), Option<String>> {
        let at = self.pos - 1;
        let c = self.bump().ok_or(None)?;
        match c {
            '\n' => {} // line continuation
            '\r' => {
                self.eat('\n');
            }
            '\\' | '\'' | '"' => out.push(c),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '0'..='7' => {
                let mut code = c as u32 - '0' as u32;
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            code = code * 8 + d;
                            self.bump();
                        }
                        None => break,
                    }
                }
                // At most 0o777: always a char.
                out.extend(char::from_u32(code));
            }
            'x' | 'u' | 'U' => {
                let n = match c {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut code = self.hex(n, at)?;
                if (0xD800..0xDC00).contains(&code) && self.src[self.pos..].starts_with("\\u") {
                    // A UTF-16 surrogate pair, as JSON writes characters outside the BMP.
                    let save = self.pos;
                    self.pos += 2;
                    let low = self.hex(4, at)?;
                    if (0xDC00..0xE000).contains(&low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    } else {
                        self.pos = save;
                    }
                }
                let ch = char::from_u32(code)
                    .ok_or_else(|| Some(format!("escape at byte {at} is not a unicode scalar value (U+{code:04X})")))?;
                out.push(ch);
            }
            'N' => return Err(Some(format!("\\N{{...}} escape at byte {at} is not supported"))),
            _ => {
                // Python keeps unknown escapes as they are.
                out.push('\\');
                out.push(c);
            }
        }
        Ok(())
    }

    /// `n` hex digits of an escape that started at byte `at`.
    fn hex(&mut self, n: usize, at: usize) -> Result<u32, Option<String>> {
        let mut code = 0u32;
        for _ in 0..n {
            match self.peek().and_then(|d| d.to_digit(16)) {
                Some(d) => {
                    code = code * 16 + d;
                    self.bump();
                }
                None if self.at_end() => return Err(None),
                None => return Err(Some(format!("escape at byte {at} needs {n} hex digits"))),
            }
        }
        Ok(code)
    }
}
