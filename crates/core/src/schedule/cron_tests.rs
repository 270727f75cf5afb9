use super::*;

fn cron(expression: &str) -> Cron {
    Cron::parse(expression).unwrap()
}

fn error(expression: &str) -> String {
    Cron::parse(expression).unwrap_err().to_string()
}

fn times(expression: &str) -> Vec<(i64, i64)> {
    cron(expression)
        .times_of_day()
        .map(|s| (s / 3600, (s % 3600) / 60))
        .collect()
}

#[test]
fn every_minute_matches_every_time_and_day() {
    let every = cron("* * * * *");
    assert_eq!(every.times_of_day().count(), 1440);
    for weekday in 0..7 {
        assert!(every.matches_date(2, 29, weekday));
    }
    assert!(!every.repeats_fire_twice() || every.hours_star);
}

#[test]
fn lists_ranges_and_steps_combine() {
    assert_eq!(
        times("0,15,30-35/2 */6 * * *"),
        [0, 6, 12, 18]
            .into_iter()
            .flat_map(|h| [0, 15, 30, 32, 34].into_iter().map(move |m| (h, m)))
            .collect::<Vec<_>>()
    );
    // `a/n` runs from a to the field's end.
    assert_eq!(times("50/5 9 * * *"), [(9, 50), (9, 55)]);
    assert_eq!(times(" 5  4   * * * "), [(4, 5)]);
}

#[test]
fn names_are_accepted_in_any_case() {
    let c = cron("0 0 * jan-MAR,Dec mon-fri");
    assert!(c.matches_date(1, 5, 1));
    assert!(c.matches_date(12, 5, 5));
    assert!(!c.matches_date(4, 5, 1));
    assert!(!c.matches_date(1, 5, 6));
    assert!(!c.matches_date(1, 5, 0));
}

#[test]
fn day_of_week_seven_is_sunday_like_zero() {
    for text in ["0", "7", "SUN"] {
        let c = cron(&format!("0 0 * * {text}"));
        assert!(c.matches_date(6, 7, 0), "{text}");
        assert!(!c.matches_date(6, 8, 1), "{text}");
    }
    let weekend = cron("0 0 * * 5-7");
    let matching: Vec<u32> = (0..7).filter(|w| weekend.matches_date(1, 1, *w)).collect();
    assert_eq!(matching, [0, 5, 6]);
}

#[test]
fn day_of_month_or_day_of_week_when_both_are_restricted() {
    // The 13th, and every Friday.
    let either = cron("0 0 13 * 5");
    assert!(either.matches_date(3, 13, 2));
    assert!(either.matches_date(3, 6, 5));
    assert!(!either.matches_date(3, 7, 6));
    // With one field `*`, the other decides.
    assert!(cron("0 0 * * 5").matches_date(3, 6, 5));
    assert!(!cron("0 0 * * 5").matches_date(3, 13, 2));
    assert!(cron("0 0 13 * *").matches_date(3, 13, 2));
    assert!(!cron("0 0 13 * *").matches_date(3, 6, 5));
    // A field that starts with `*` counts as unrestricted (Vixie cron):
    // odd days that are Mondays.
    let both = cron("0 0 */2 * 1");
    assert!(both.matches_date(3, 1, 1));
    assert!(!both.matches_date(3, 2, 1));
    assert!(!both.matches_date(3, 3, 2));
}

#[test]
fn a_star_hour_field_fires_repeated_times_twice() {
    assert!(cron("*/15 * * * *").repeats_fire_twice());
    assert!(cron("0 */2 * * *").repeats_fire_twice());
    assert!(!cron("30 1 * * *").repeats_fire_twice());
}

#[test]
fn errors_name_the_field_at_fault() {
    let cases = [
        ("61 * * * *", "minute: 61 is out of range 0-59"),
        ("* 24 * * *", "hour: 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month: 0 is out of range 1-31"),
        ("* * 32 * *", "day-of-month: 32 is out of range 1-31"),
        ("* * * 13 *", "month: 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week: 8 is out of range 0-7"),
        (
            "*/0 * * * *",
            "minute: the step `0` is not a number from 1 to 59",
        ),
        ("5-1 * * * *", "minute: the range 5-1 ends before it starts"),
        ("1,,2 * * * *", "minute: an empty item in a list"),
        (
            "* * * * MON#2",
            "day-of-week: `#` is extended cron syntax, which is not supported",
        ),
        (
            "* * L * *",
            "day-of-month: `L` is extended cron syntax, which is not supported",
        ),
        (
            "* * 15W * *",
            "day-of-month: `W` is extended cron syntax, which is not supported",
        ),
        (
            "* * ? * *",
            "day-of-month: `?` is extended cron syntax, which is not supported",
        ),
        (
            "* * * * *  *",
            "expression: expected 5 fields (minute hour day-of-month month day-of-week), found 6",
        ),
        (
            "* * * *",
            "expression: expected 5 fields (minute hour day-of-month month day-of-week), found 4",
        ),
        (
            "",
            "expression: expected 5 fields (minute hour day-of-month month day-of-week), found 0",
        ),
        (
            "@daily",
            "expression: macros such as @daily are not supported: write the 5 fields",
        ),
        ("-1 * * * *", "minute: a value is missing"),
        ("* 1- * * *", "hour: a value is missing"),
    ];
    for (expression, expected) in cases {
        assert_eq!(error(expression), expected, "{expression:?}");
    }
    assert!(error("a * * * *").starts_with("minute: `a` is not a number from 0 to 59"));
    assert!(
        error("* * * FOO *")
            .starts_with("month: `FOO` is not a number from 1 to 12 or a name (JAN-DEC)")
    );
    assert!(error("* * * * sunday").starts_with("day-of-week:"));
    let err = Cron::parse("* * * 13 *").unwrap_err();
    assert_eq!(err.field, "month");
}
