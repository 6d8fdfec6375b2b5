//! The date behind the templates' `strftime_now(fmt)` (transformers: `datetime.now().strftime(fmt)`).

use std::fmt::Write;

/// A calendar date and wall-clock time, without a time zone (like Python's naive `datetime`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    pub year: i32,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

#[rustfmt::skip]
const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

impl DateTime {
    /// Midnight of a date.
    pub fn date(year: i32, month: u32, day: u32) -> DateTime {
        DateTime { year, month, day, hour: 0, minute: 0, second: 0 }
    }

    /// UTC time `secs` seconds after the Unix epoch.
    pub fn from_unix(secs: i64) -> DateTime {
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        let rem = rem as u32;
        DateTime { year, month, day, hour: rem / 3600, minute: rem / 60 % 60, second: rem % 60 }
    }

    /// The current time: the browser's local time on wasm32, UTC natively (no time-zone
    /// database here; Python's `datetime.now()` would give local time).
    pub fn now() -> DateTime {
        #[cfg(target_arch = "wasm32")]
        {
            let d = js_sys::Date::new_0();
            DateTime {
                year: d.get_full_year() as i32,
                month: d.get_month() + 1,
                day: d.get_date(),
                hour: d.get_hours(),
                minute: d.get_minutes(),
                second: d.get_seconds(),
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            DateTime::from_unix(secs)
        }
    }

    /// Days since 1970-01-01.
    fn days_since_epoch(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// 0 = Monday .. 6 = Sunday.
    fn weekday(&self) -> u32 {
        (self.days_since_epoch() + 3).rem_euclid(7) as u32 // 1970-01-01 was a Thursday
    }

    /// Day of the year, 1..=366.
    fn ordinal(&self) -> u32 {
        (self.days_since_epoch() - days_from_civil(self.year, 1, 1) + 1) as u32
    }

    /// C/Python `strftime` (glibc flavour): `%Y %m %d %H %M %S %y %j %e %I %p %a %A %b %B %h %w %u
    /// %F %D %T %R %c %x %X %n %t %%`, `%z` / `%Z` empty (naive time), glibc's `%-d` (no
    /// padding); anything else is copied as is.
    pub fn strftime(&self, fmt: &str) -> String {
        let mut out = String::new();
        let mut chars = fmt.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let unpadded = chars.peek() == Some(&'-');
            if unpadded {
                chars.next();
            }
            let Some(spec) = chars.next() else {
                out.push('%');
                break;
            };
            let num = |out: &mut String, n: i64, width: usize| {
                let _ = if unpadded { write!(out, "{n}") } else { write!(out, "{n:0width$}") };
            };
            let hour12 = if self.hour.is_multiple_of(12) { 12 } else { self.hour % 12 };
            match spec {
                'Y' => {
                    let _ = write!(out, "{}", self.year);
                }
                'C' => num(&mut out, self.year.div_euclid(100) as i64, 2),
                'y' => num(&mut out, self.year.rem_euclid(100) as i64, 2),
                'm' => num(&mut out, self.month as i64, 2),
                'd' => num(&mut out, self.day as i64, 2),
                'e' => {
                    let _ = if unpadded { write!(out, "{}", self.day) } else { write!(out, "{:2}", self.day) };
                }
                'j' => num(&mut out, self.ordinal() as i64, 3),
                'H' => num(&mut out, self.hour as i64, 2),
                'I' => num(&mut out, hour12 as i64, 2),
                'M' => num(&mut out, self.minute as i64, 2),
                'S' => num(&mut out, self.second as i64, 2),
                'p' => out.push_str(if self.hour < 12 { "AM" } else { "PM" }),
                'a' => out.push_str(&WEEKDAYS[self.weekday() as usize][..3]),
                'A' => out.push_str(WEEKDAYS[self.weekday() as usize]),
                'b' | 'h' => out.push_str(&MONTHS[(self.month as usize + 11) % 12][..3]),
                'B' => out.push_str(MONTHS[(self.month as usize + 11) % 12]),
                'w' => num(&mut out, ((self.weekday() + 1) % 7) as i64, 1),
                'u' => num(&mut out, (self.weekday() + 1) as i64, 1),
                'F' => out.push_str(&self.strftime("%Y-%m-%d")),
                'D' | 'x' => out.push_str(&self.strftime("%m/%d/%y")),
                'T' | 'X' => out.push_str(&self.strftime("%H:%M:%S")),
                'R' => out.push_str(&self.strftime("%H:%M")),
                'c' => out.push_str(&self.strftime("%a %b %e %H:%M:%S %Y")),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'z' | 'Z' => {}
                '%' => out.push('%'),
                other => {
                    out.push('%');
                    if unpadded {
                        out.push('-');
                    }
                    out.push(other);
                }
            }
        }
        out
    }
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y as i32, m, d)
}
