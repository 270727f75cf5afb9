//! The 5-field POSIX cron expression (`minute hour day-of-month month
//! day-of-week`), as Vixie cron reads it: lists, ranges, steps, month and
//! weekday names, day-of-week 0-7 (0 and 7 are Sunday), and day-of-month
//! OR day-of-week when both are restricted. Extended syntax (seconds or
//! year fields, `L`, `W`, `#`, `?`, `@daily` macros) is refused.

/// Why an expression is refused: the field at fault and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CronError {
    /// `expression`, `minute`, `hour`, `day-of-month`, `month` or
    /// `day-of-week`.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl CronError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A parsed expression: the set of values each field matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cron {
    /// Bit `m` for minute `m` (0-59).
    minutes: u64,
    /// Bit `h` for hour `h` (0-23).
    hours: u32,
    /// Bit `d` for day of month `d` (1-31).
    days: u32,
    /// Bit `m` for month `m` (1-12).
    months: u16,
    /// Bit `w` for weekday `w` (0 = Sunday … 6 = Saturday).
    weekdays: u8,
    /// The day-of-month field starts with `*`: days match on the weekday
    /// alone (Vixie cron's rule, which `*/2` follows too).
    days_star: bool,
    /// The day-of-week field starts with `*`.
    weekdays_star: bool,
    /// The hour field starts with `*`: the expression is about elapsed
    /// time, so a wall-clock time repeated by a DST change fires twice.
    hours_star: bool,
}

/// One field's grammar.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names accepted for values from `min` on (`JAN` = 1, `SUN` = 0).
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const DAY_OF_WEEK: Field = Field {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

impl Field {
    fn error(&self, message: impl Into<String>) -> CronError {
        CronError::new(self.name, message)
    }

    /// One value: a number in range, or a name.
    fn value(&self, text: &str) -> Result<u32, CronError> {
        if text.is_empty() {
            return Err(self.error("a value is missing"));
        }
        if let Some(i) = self
            .names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(text))
        {
            return Ok(self.min + u32::try_from(i).unwrap_or(0));
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            let hint = if self.names.is_empty() {
                String::new()
            } else {
                format!(
                    " or a name ({}-{})",
                    self.names[0],
                    self.names[self.names.len() - 1]
                )
            };
            return Err(self.error(format!(
                "`{text}` is not a number from {} to {}{hint}",
                self.min, self.max
            )));
        }
        match text.parse::<u32>() {
            Ok(n) if (self.min..=self.max).contains(&n) => Ok(n),
            _ => Err(self.error(format!("{text} is out of range {}-{}", self.min, self.max))),
        }
    }

    /// The values the field matches, as a bit set (bit `v` for value `v`).
    fn parse(&self, text: &str) -> Result<u64, CronError> {
        if let Some(c) = text.chars().find(|c| matches!(c, 'L' | 'W' | '#' | '?')) {
            return Err(self.error(format!(
                "`{c}` is extended cron syntax, which is not supported"
            )));
        }
        let mut set = 0u64;
        for item in text.split(',') {
            if item.is_empty() {
                return Err(self.error("an empty item in a list"));
            }
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => {
                    let step = step
                        .parse::<u32>()
                        .ok()
                        .filter(|s| (1..=self.max.max(1)).contains(s))
                        .ok_or_else(|| {
                            self.error(format!(
                                "the step `{step}` is not a number from 1 to {}",
                                self.max
                            ))
                        })?;
                    (range, Some(step))
                }
                None => (item, None),
            };
            let (start, end) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a)?, self.value(b)?);
                if a > b {
                    return Err(self.error(format!("the range {range} ends before it starts")));
                }
                (a, b)
            } else {
                let a = self.value(range)?;
                // `a/n` is `a-max/n`.
                (a, if step.is_some() { self.max } else { a })
            };
            let step = step.unwrap_or(1);
            let mut v = start;
            while v <= end {
                set |= 1 << v;
                v += step;
            }
        }
        Ok(set)
    }
}

impl Cron {
    /// Parses a 5-field expression; the error names the field at fault.
    pub fn parse(expression: &str) -> Result<Self, CronError> {
        let expression = expression.trim();
        if expression.starts_with('@') {
            return Err(CronError::new(
                "expression",
                "macros such as @daily are not supported: write the 5 fields",
            ));
        }
        let fields: Vec<&str> = expression.split_ascii_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields.as_slice() else {
            return Err(CronError::new(
                "expression",
                format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                    fields.len()
                ),
            ));
        };
        let weekdays = DAY_OF_WEEK.parse(weekday)?;
        // 7 is Sunday too.
        let weekdays = (weekdays | (weekdays >> 7)) & 0x7F;
        Ok(Self {
            minutes: MINUTE.parse(minute)?,
            hours: u32::try_from(HOUR.parse(hour)?).unwrap_or(0),
            days: u32::try_from(DAY_OF_MONTH.parse(day)?).unwrap_or(0),
            months: u16::try_from(MONTH.parse(month)?).unwrap_or(0),
            weekdays: u8::try_from(weekdays).unwrap_or(0),
            days_star: day.starts_with('*'),
            weekdays_star: weekday.starts_with('*'),
            hours_star: hour.starts_with('*'),
        })
    }

    /// Whether the expression fires on the date `month`/`day` (1-based)
    /// falling on `weekday` (0 = Sunday). When both day fields are
    /// restricted either may match; otherwise both must.
    #[must_use]
    pub fn matches_date(&self, month: u32, day: u32, weekday: u32) -> bool {
        if self.months & (1 << month) == 0 {
            return false;
        }
        let by_day = self.days & (1 << day) != 0;
        let by_weekday = self.weekdays & (1 << weekday) != 0;
        if self.days_star || self.weekdays_star {
            by_day && by_weekday
        } else {
            by_day || by_weekday
        }
    }

    /// The times of day it fires at, in order, as seconds after midnight.
    pub fn times_of_day(&self) -> impl Iterator<Item = i64> + '_ {
        (0..24)
            .filter(|h| self.hours & (1 << h) != 0)
            .flat_map(move |h| {
                (0..60)
                    .filter(|m| self.minutes & (1 << m) != 0)
                    .map(move |m| i64::from(h) * 3600 + i64::from(m) * 60)
            })
    }

    /// Whether a wall-clock time that a DST change repeats fires at both
    /// of its instants (the hour field starts with `*`), rather than the
    /// first only.
    #[must_use]
    pub fn repeats_fire_twice(&self) -> bool {
        self.hours_star
    }
}

#[cfg(test)]
#[path = "cron_tests.rs"]
mod tests;
