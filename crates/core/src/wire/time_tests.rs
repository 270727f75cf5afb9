use super::Timestamp;

#[test]
fn formats_and_parses_round_trip() {
    let ts = Timestamp(1_775_044_800_123);
    let text = ts.to_rfc3339();
    assert_eq!(text, "2026-04-01T12:00:00.123Z");
    assert_eq!(Timestamp::parse_rfc3339(&text), Some(ts));
}

#[test]
fn parses_offsets_and_long_fractions() {
    assert_eq!(
        Timestamp::parse_rfc3339("2026-04-01T14:00:00.123456+02:00"),
        Some(Timestamp(1_775_044_800_123))
    );
    assert_eq!(
        Timestamp::parse_rfc3339("1970-01-01T00:00:00Z"),
        Some(Timestamp(0))
    );
    assert_eq!(Timestamp::parse_rfc3339("not a time"), None);
}

#[test]
fn handles_dates_before_the_epoch() {
    let ts = Timestamp::parse_rfc3339("1969-12-31T23:59:59.500Z").unwrap();
    assert_eq!(ts, Timestamp(-500));
    assert_eq!(ts.to_rfc3339(), "1969-12-31T23:59:59.500Z");
}
