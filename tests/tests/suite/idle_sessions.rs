//! An idle session sleeps: its watchdog alarm runs only while a turn does.

use std::time::Duration;

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use openma_e2e::mock::Message;

use super::sessions::WAIT;
use super::sessions::agent;

/// The watchdog period for this test: short, so that a few seconds show
/// many periods.
const WATCHDOG_MS: u64 = 500;

#[tokio::test(flavor = "multi_thread")]
async fn the_watchdog_runs_while_a_turn_does_and_an_idle_session_has_no_alarm() {
    let mock = MockModel::start().unwrap();
    // About three seconds of streaming: several watchdog periods.
    mock.push(Reply::Slow {
        message: Message::new().text("Taking my time."),
        delay: Duration::from_millis(500),
    });
    let platform = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .env("SESSION_WATCHDOG_MS", &WATCHDOG_MS.to_string())
        .start()
        .unwrap();
    let api = Api::new(&platform);
    let session = api.session_with_agent(agent("sleeper")).await.unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    let alarms = || {
        platform
            .output()
            .lines()
            .filter(|l| l.contains("\"event\":\"session_alarm\"") && l.contains(&id))
            .count()
    };

    let mut stream = api.stream(&id, None, "").await.unwrap();
    api.send_message(&id, "take your time").await.unwrap();
    stream.until("session.status_idle", WAIT).await.unwrap();
    let during = alarms();
    assert!(
        during >= 2,
        "the watchdog checks on a running turn every period ({during} alarms)"
    );

    // At rest, nothing wakes the session: not in six watchdog periods.
    tokio::time::sleep(Duration::from_millis(6 * WATCHDOG_MS)).await;
    assert_eq!(alarms(), during, "an idle session was woken");

    // The next turn arms it again.
    mock.push(Reply::Slow {
        message: Message::new().text("Again."),
        delay: Duration::from_millis(400),
    });
    api.send_message(&id, "once more").await.unwrap();
    stream.until("session.status_idle", WAIT).await.unwrap();
    assert!(alarms() > during);
}
