use super::*;

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

fn texts(times: &[Timestamp]) -> Vec<String> {
    times.iter().map(|t| t.to_rfc3339()).collect()
}

fn schedule(expression: &str, zone: &str) -> Schedule<TimeZone> {
    Schedule::new(
        Cron::parse(expression).unwrap(),
        TimeZone::get(zone).unwrap(),
    )
}

fn upcoming(expression: &str, zone: &str, after: &str, n: usize) -> Vec<String> {
    texts(&schedule(expression, zone).upcoming(at(after), n))
}

/// A zone at UTC that moves to UTC+1 at `change` (seconds), like a spring
/// forward at local midnight.
struct SpringsAt {
    change: i64,
}

impl Zone for SpringsAt {
    fn offset_at(&self, utc_seconds: i64) -> i64 {
        if utc_seconds >= self.change { 3600 } else { 0 }
    }
}

#[test]
fn time_zones_come_from_the_database_by_name() {
    assert_eq!(TimeZone::get("UTC").unwrap().name(), "UTC");
    assert_eq!(
        TimeZone::get("America/Los_Angeles").unwrap().name(),
        "America/Los_Angeles"
    );
    assert_eq!(
        TimeZone::get("america/new_york").unwrap().name(),
        "America/New_York"
    );
    for unknown in [
        "",
        "Mars/Olympus_Mons",
        "EST5EDT,M3.2.0,M11.1.0",
        "+05:00",
        "/etc/localtime",
        "../UTC",
    ] {
        assert!(TimeZone::get(unknown).is_none(), "{unknown}");
    }
}

#[test]
fn every_minute_in_utc_fires_on_each_minute_after_the_instant() {
    assert_eq!(
        upcoming("* * * * *", "UTC", "2026-05-01T10:00:30Z", 5),
        [
            "2026-05-01T10:01:00.000Z",
            "2026-05-01T10:02:00.000Z",
            "2026-05-01T10:03:00.000Z",
            "2026-05-01T10:04:00.000Z",
            "2026-05-01T10:05:00.000Z",
        ]
    );
    // Strictly after: a fire time itself is not upcoming.
    assert_eq!(
        upcoming("* * * * *", "UTC", "2026-05-01T10:01:00Z", 1),
        ["2026-05-01T10:02:00.000Z"]
    );
    assert_eq!(
        upcoming("59 23 31 12 *", "UTC", "2026-12-31T23:59:00.001Z", 1),
        ["2027-12-31T23:59:00.000Z"]
    );
}

#[test]
fn weekday_mornings_in_los_angeles_skip_the_weekend() {
    // Friday 2026-05-01 after 9am: next is Monday 9am PDT (UTC-7).
    assert_eq!(
        upcoming(
            "0 9 * * 1-5",
            "America/Los_Angeles",
            "2026-05-01T17:00:00Z",
            2
        ),
        ["2026-05-04T16:00:00.000Z", "2026-05-05T16:00:00.000Z"]
    );
    // In January it is PST (UTC-8).
    assert_eq!(
        upcoming(
            "0 9 * * 1-5",
            "America/Los_Angeles",
            "2026-01-05T00:00:00Z",
            1
        ),
        ["2026-01-05T17:00:00.000Z"]
    );
}

#[test]
fn half_hour_and_east_of_utc_zones_shift_the_date() {
    // Midnight in Kolkata (UTC+5:30) is 18:30 the day before in UTC.
    assert_eq!(
        upcoming("0 0 * * *", "Asia/Kolkata", "2026-05-01T00:00:00Z", 2),
        ["2026-05-01T18:30:00.000Z", "2026-05-02T18:30:00.000Z"]
    );
    // Monday 00:15 in Auckland (UTC+12 in May) is Sunday in UTC.
    assert_eq!(
        upcoming("15 0 * * 1", "Pacific/Auckland", "2026-05-01T00:00:00Z", 1),
        ["2026-05-03T12:15:00.000Z"]
    );
}

#[test]
fn a_time_skipped_by_spring_forward_fires_once_when_the_gap_ends() {
    // New York springs forward on 2026-03-08 at 02:00 EST to 03:00 EDT.
    assert_eq!(
        upcoming("30 2 * * *", "America/New_York", "2026-03-07T00:00:00Z", 3),
        [
            "2026-03-07T07:30:00.000Z",
            "2026-03-08T07:00:00.000Z",
            "2026-03-09T06:30:00.000Z",
        ]
    );
    // Every skipped time collapses onto the one instant.
    assert_eq!(
        upcoming(
            "*/15 2 * * *",
            "America/New_York",
            "2026-03-08T00:00:00Z",
            2
        ),
        ["2026-03-08T07:00:00.000Z", "2026-03-09T06:00:00.000Z"]
    );
    // An hourly job runs once at 03:00 EDT, not twice.
    assert_eq!(
        upcoming("0 * * * *", "America/New_York", "2026-03-08T05:30:00Z", 3),
        [
            "2026-03-08T06:00:00.000Z",
            "2026-03-08T07:00:00.000Z",
            "2026-03-08T08:00:00.000Z",
        ]
    );
}

#[test]
fn a_time_repeated_by_fall_back_fires_once_unless_the_hour_is_a_star() {
    // New York falls back on 2026-11-01 at 02:00 EDT to 01:00 EST: 01:30
    // happens at 05:30Z and again at 06:30Z.
    assert_eq!(
        upcoming("30 1 * * *", "America/New_York", "2026-11-01T00:00:00Z", 2),
        ["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"]
    );
    assert_eq!(
        upcoming("30 * * * *", "America/New_York", "2026-11-01T04:00:00Z", 4),
        [
            "2026-11-01T04:30:00.000Z",
            "2026-11-01T05:30:00.000Z",
            "2026-11-01T06:30:00.000Z",
            "2026-11-01T07:30:00.000Z",
        ]
    );
}

#[test]
fn southern_hemisphere_changes_are_handled_too() {
    // Sydney falls back on 2026-04-05 at 03:00 AEDT to 02:00 AEST: 02:30
    // happens twice; a fixed-hour job fires at the first.
    assert_eq!(
        upcoming("30 2 * * *", "Australia/Sydney", "2026-04-04T00:00:00Z", 2),
        ["2026-04-04T15:30:00.000Z", "2026-04-05T16:30:00.000Z"]
    );
}

#[test]
fn a_gap_at_local_midnight_moves_midnight_to_the_end_of_the_gap() {
    let change = 1_893_456_000; // 2030-01-01T00:00:00Z
    let daily = Schedule::new(Cron::parse("0 0 * * *").unwrap(), SpringsAt { change });
    let fires = daily.upcoming(at("2029-12-30T12:00:00Z"), 3);
    assert_eq!(
        texts(&fires),
        [
            "2029-12-31T00:00:00.000Z",
            "2030-01-01T00:00:00.000Z",
            "2030-01-01T23:00:00.000Z",
        ]
    );
}

#[test]
fn rare_dates_are_found_years_ahead_and_impossible_ones_never() {
    assert_eq!(
        upcoming("0 0 29 2 *", "UTC", "2026-05-01T00:00:00Z", 5),
        [
            "2028-02-29T00:00:00.000Z",
            "2032-02-29T00:00:00.000Z",
            "2036-02-29T00:00:00.000Z",
            "2040-02-29T00:00:00.000Z",
            "2044-02-29T00:00:00.000Z",
        ]
    );
    assert!(upcoming("0 0 30 2 *", "UTC", "2026-05-01T00:00:00Z", 1).is_empty());
    assert!(upcoming("0 0 31 4,6,9,11 *", "UTC", "2026-05-01T00:00:00Z", 1).is_empty());
    // Day-of-month OR day-of-week: Feb 30 never, but February's Mondays do.
    assert_eq!(
        upcoming("0 0 30 2 1", "UTC", "2026-05-01T00:00:00Z", 1),
        ["2027-02-01T00:00:00.000Z"]
    );
}

#[test]
fn the_latest_missed_time_is_the_one_fired_late() {
    let every = schedule("* * * * *", "UTC");
    assert_eq!(
        every
            .latest_between(at("2026-05-01T10:00:00Z"), at("2026-05-01T10:07:30Z"))
            .map(Timestamp::to_rfc3339),
        Some("2026-05-01T10:07:00.000Z".to_owned())
    );
    assert_eq!(
        every
            .latest_between(at("2026-05-01T10:00:00Z"), at("2026-05-01T10:00:00Z"))
            .map(Timestamp::to_rfc3339),
        Some("2026-05-01T10:00:00.000Z".to_owned())
    );
    assert_eq!(
        every.latest_between(at("2026-05-01T10:00:01Z"), at("2026-05-01T10:00:59Z")),
        None
    );
    assert_eq!(
        every.latest_between(at("2026-05-01T10:01:00Z"), at("2026-05-01T10:00:00Z")),
        None
    );
    // Days of downtime: the latest weekday morning, not the first.
    let mornings = schedule("0 9 * * 1-5", "Europe/Paris");
    assert_eq!(
        mornings
            .latest_between(at("2026-05-04T07:00:00Z"), at("2026-05-11T06:00:00Z"))
            .map(Timestamp::to_rfc3339),
        Some("2026-05-08T07:00:00.000Z".to_owned())
    );
    // Across a fall back: the repeated hour's first instant.
    let repeated = schedule("30 1 * * *", "America/New_York");
    assert_eq!(
        repeated
            .latest_between(at("2026-11-01T00:00:00Z"), at("2026-11-01T07:00:00Z"))
            .map(Timestamp::to_rfc3339),
        Some("2026-11-01T05:30:00.000Z".to_owned())
    );
}

#[test]
fn fires_at_recognises_exactly_the_schedule_s_instants() {
    let every = schedule("*/5 * * * *", "UTC");
    assert!(every.fires_at(at("2026-05-01T10:05:00Z")));
    assert!(!every.fires_at(at("2026-05-01T10:06:00Z")));
    assert!(!every.fires_at(at("2026-05-01T10:05:00.500Z")));
    let skipped = schedule("30 2 * * *", "America/New_York");
    assert!(skipped.fires_at(at("2026-03-08T07:00:00Z")));
    assert!(!skipped.fires_at(at("2026-03-08T07:30:00Z")));
}
