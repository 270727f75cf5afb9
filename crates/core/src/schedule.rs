//! Recurring schedules, with no I/O: a cron expression ([`Cron`]) read in
//! an IANA time zone ([`TimeZone`], from the tz database bundled at build
//! time), and the instants at which it fires.
//!
//! Wall-clock rules across DST changes (documented in docs/deployments.md):
//! - a time that does not exist (the clocks spring forward over it) fires
//!   once, at the instant the gap ends: every skipped time collapses onto
//!   that one instant, so a daily job still runs that day, and only once;
//! - a time that occurs twice (the clocks fall back) fires at its first
//!   instant, unless the hour field starts with `*` (`*/15 * * * *` is about
//!   elapsed time), in which case it fires at both.

mod cron;

use std::collections::BTreeSet;

pub use cron::Cron;
pub use cron::CronError;

use crate::wire::Timestamp;
use crate::wire::time::civil_from_days;

const DAY: i64 = 86_400;

/// How far ahead (or back) a schedule is searched, in days: far enough for
/// five occurrences of `0 0 29 2 *` from any date, leap years skipping 2100.
const SEARCH_DAYS: i64 = 366 * 28;

/// The most upcoming times a deployment reports.
pub const UPCOMING: usize = 5;

/// A time zone's offset from UTC at each instant.
pub trait Zone {
    /// Seconds east of UTC at `utc_seconds` (seconds since the epoch).
    fn offset_at(&self, utc_seconds: i64) -> i64;
}

/// An IANA time zone, from the bundled tz database.
#[derive(Debug, Clone)]
pub struct TimeZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

impl TimeZone {
    /// The zone named `name` (`America/Los_Angeles`, `UTC`); matched
    /// without regard to case. `None` for a name the database lacks.
    #[must_use]
    pub fn get(name: &str) -> Option<Self> {
        if name.is_empty() || name.len() > 64 {
            return None;
        }
        let zone = jiff::tz::TimeZone::get(name).ok()?;
        let name = zone.iana_name().unwrap_or(name).to_owned();
        Some(Self { name, zone })
    }

    /// The database's spelling of the zone's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Zone for TimeZone {
    fn offset_at(&self, utc_seconds: i64) -> i64 {
        jiff::Timestamp::from_second(utc_seconds)
            .map_or(0, |at| i64::from(self.zone.to_offset(at).seconds()))
    }
}

/// Where a wall-clock time falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolved {
    /// One instant.
    Single(i64),
    /// Two instants (the clocks fell back over it), earlier first.
    Repeated(i64, i64),
    /// None: the clocks sprang forward over it; the instant the gap ends.
    Skipped(i64),
}

/// The instants of local time `local` (seconds since the epoch, as if UTC).
fn resolve(zone: &impl Zone, local: i64) -> Resolved {
    let before = zone.offset_at(local - DAY);
    let after = zone.offset_at(local + DAY);
    let instant = |offset: i64| {
        let at = local - offset;
        (zone.offset_at(at) == offset).then_some(at)
    };
    match (instant(before), instant(after)) {
        (Some(a), Some(b)) if a != b => Resolved::Repeated(a.min(b), a.max(b)),
        (Some(at), _) | (None, Some(at)) => Resolved::Single(at),
        (None, None) => {
            // The transition lies between the two readings; find its first
            // second on the far side.
            let (mut lo, mut hi) = (
                (local - after).min(local - before),
                (local - after).max(local - before),
            );
            let from = zone.offset_at(lo);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if zone.offset_at(mid) == from {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            Resolved::Skipped(hi)
        }
    }
}

/// A cron expression in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule<Z> {
    cron: Cron,
    zone: Z,
}

impl<Z: Zone> Schedule<Z> {
    /// `cron` read in `zone`.
    pub const fn new(cron: Cron, zone: Z) -> Self {
        Self { cron, zone }
    }

    /// The local date (days since the epoch) of the instant `seconds`.
    fn local_day(&self, seconds: i64) -> i64 {
        (seconds + self.zone.offset_at(seconds)).div_euclid(DAY)
    }

    /// The instants the schedule fires at during local date `day` (days
    /// since the epoch), in order.
    fn fires_on(&self, day: i64) -> Vec<i64> {
        let (_, month, date) = civil_from_days(day);
        // 1970-01-01 was a Thursday.
        let weekday = (day + 4).rem_euclid(7);
        let (Ok(month), Ok(date), Ok(weekday)) = (
            u32::try_from(month),
            u32::try_from(date),
            u32::try_from(weekday),
        ) else {
            return Vec::new();
        };
        if !self.cron.matches_date(month, date, weekday) {
            return Vec::new();
        }
        let midnight = day * DAY;
        let offset = self.zone.offset_at(midnight - DAY);
        let fixed = [
            midnight + 2 * DAY,
            midnight - offset,
            midnight + DAY - offset,
        ]
        .iter()
        .all(|at| self.zone.offset_at(*at) == offset);
        if fixed {
            return self
                .cron
                .times_of_day()
                .map(|time| midnight + time - offset)
                .collect();
        }
        let mut fires = BTreeSet::new();
        for time in self.cron.times_of_day() {
            match resolve(&self.zone, midnight + time) {
                Resolved::Single(at) | Resolved::Skipped(at) => {
                    fires.insert(at);
                }
                Resolved::Repeated(first, second) => {
                    fires.insert(first);
                    if self.cron.repeats_fire_twice() {
                        fires.insert(second);
                    }
                }
            }
        }
        fires.into_iter().collect()
    }

    /// Up to `n` instants strictly after `after`, in order.
    #[must_use]
    pub fn upcoming(&self, after: Timestamp, n: usize) -> Vec<Timestamp> {
        let after_s = after.0.div_euclid(1000);
        let first = self.local_day(after_s) - 1;
        let mut found = BTreeSet::new();
        let mut extra_day = false;
        for day in first..first + SEARCH_DAYS {
            found.extend(
                self.fires_on(day)
                    .into_iter()
                    .filter(|at| at * 1000 > after.0),
            );
            // One more day once `n` are found: a DST change can put a
            // wall-clock time's instant after the next day's first ones.
            if found.len() >= n {
                if extra_day {
                    break;
                }
                extra_day = true;
            }
        }
        found
            .into_iter()
            .take(n)
            .map(|at| Timestamp(at * 1000))
            .collect()
    }

    /// The first instant strictly after `after`.
    #[must_use]
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        self.upcoming(after, 1).into_iter().next()
    }

    /// The latest instant at or before `at` and at or after `not_before`:
    /// of several missed times, the one to fire late.
    #[must_use]
    pub fn latest_between(&self, not_before: Timestamp, at: Timestamp) -> Option<Timestamp> {
        if not_before.0 > at.0 {
            return None;
        }
        let last = self.local_day(at.0.div_euclid(1000)) + 1;
        let stop = (self.local_day(not_before.0.div_euclid(1000)) - 1).max(last - SEARCH_DAYS);
        let in_window = |s: &i64| (not_before.0..=at.0).contains(&(s * 1000));
        let mut best: Option<i64> = None;
        let mut hit_day = None;
        let mut day = last;
        while day >= stop {
            if let Some(found) = self.fires_on(day).into_iter().filter(in_window).max() {
                best = best.max(Some(found));
                hit_day.get_or_insert(day);
            }
            // The day before the latest hit is looked at too (see `upcoming`).
            if hit_day.is_some_and(|hit| hit > day) {
                break;
            }
            day -= 1;
        }
        best.map(|s| Timestamp(s * 1000))
    }

    /// Whether the schedule fires at exactly `at`.
    #[must_use]
    pub fn fires_at(&self, at: Timestamp) -> bool {
        self.next_after(Timestamp(at.0 - 1)) == Some(at)
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
