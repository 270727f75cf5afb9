use std::collections::BTreeMap;

use serde_json::Value;
use serde_json::json;

use super::*;
use crate::crypto::hmac_sha256_hex;

// §6 reference vectors, byte for byte.

const LINEAR_SECRET: &str = "lin_wh_test_secret_0123456789";
const LINEAR_BODY: &str = r#"{"action":"created","type":"AgentSessionEvent","organizationId":"org_1","webhookTimestamp":1735689600000,"agentSession":{"id":"ses_1"}}"#;
const LINEAR_SIGNATURE: &str = "eaae7e826f222e8003d9af4521cf8eca76a434fe27fc79ce0a4b080a9a809882";
const LINEAR_SENT_MS: i64 = 1_735_689_600_000;

const SLACK_SECRET: &str = "slack_signing_secret_test_0123";
const SLACK_TS: &str = "1735689600";
const SLACK_NOW_S: i64 = 1_735_689_600;
const SLACK_BODY: &str = r#"{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"Ev1","event_time":1735689600,"event":{"type":"app_mention","user":"U1","text":"<@U0BOT> hi","ts":"1735689600.000100","channel":"C1"}}"#;
const SLACK_SIGNATURE: &str = "v0=0cf8f13bd08324797ad65586ad02b284d59761016d0d923196da8bbd118e6111";
const SLACK_CHALLENGE_BODY: &str = r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
const SLACK_CHALLENGE_SIGNATURE: &str =
    "v0=9802add52fc426774b8006d30ecc68762c25b9c072f7eacedc22bb60ca7c539f";
const SLACK_FORM_BODY: &str = "payload=%7B%22type%22%3A%22block_actions%22%2C%22actions%22%3A%5B%7B%22action_id%22%3A%22approve%22%2C%22value%22%3A%22req_1%22%7D%5D%7D";
const SLACK_FORM_SIGNATURE: &str =
    "v0=0cdfdff4a7bc92bbece301b09eaa91255fe7c71442700cc2df1de65c5688045c";

const GITHUB_SECRET: &str = "gh_webhook_secret_test_0123";
const GITHUB_BODY: &str = r#"{"action":"created","issue":{"number":7},"comment":{"id":42,"body":"@agent please fix"},"repository":{"full_name":"acme/app"},"installation":{"id":99}}"#;
const GITHUB_SIGNATURE: &str =
    "sha256=a2eafee0d4e7824216328fc3cc988e1dd5813456436fc2009d60334c25d7c0e2";

/// `body` with its byte at `at` changed.
fn flipped(body: &str, at: usize) -> Vec<u8> {
    let mut bytes = body.as_bytes().to_vec();
    bytes[at] ^= 0x01;
    bytes
}

fn slack(signature: &str, body: &[u8], now_s: i64) -> Result<(), Rejection> {
    verify_slack(SLACK_SECRET, Some(SLACK_TS), Some(signature), body, now_s)
}

fn linear(signature: &str, body: &[u8], now_ms: i64) -> Result<(), Rejection> {
    verify_linear(LINEAR_SECRET, Some(signature), body, now_ms)
}

fn github(signature: &str, body: &[u8]) -> Result<(), Rejection> {
    verify_github(GITHUB_SECRET, Some(signature), body)
}

// Verification: the reference vectors.

#[test]
fn the_reference_vectors_have_the_documented_lengths() {
    assert_eq!(LINEAR_BODY.len(), 135);
    assert_eq!(SLACK_BODY.len(), 215);
    assert_eq!(GITHUB_BODY.len(), 151);
}

#[test]
fn the_linear_reference_delivery_verifies() {
    assert_eq!(
        linear(LINEAR_SIGNATURE, LINEAR_BODY.as_bytes(), LINEAR_SENT_MS),
        Ok(())
    );
}

#[test]
fn the_slack_reference_deliveries_verify() {
    assert_eq!(
        slack(SLACK_SIGNATURE, SLACK_BODY.as_bytes(), SLACK_NOW_S),
        Ok(())
    );
    assert_eq!(
        slack(
            SLACK_CHALLENGE_SIGNATURE,
            SLACK_CHALLENGE_BODY.as_bytes(),
            SLACK_NOW_S
        ),
        Ok(())
    );
    assert_eq!(
        slack(
            SLACK_FORM_SIGNATURE,
            SLACK_FORM_BODY.as_bytes(),
            SLACK_NOW_S
        ),
        Ok(())
    );
}

#[test]
fn the_github_reference_delivery_verifies() {
    assert_eq!(github(GITHUB_SIGNATURE, GITHUB_BODY.as_bytes()), Ok(()));
}

#[test]
fn githubs_own_documentation_example_verifies() {
    assert_eq!(
        verify_github(
            "It's a Secret to Everybody",
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
            b"Hello, World!",
        ),
        Ok(())
    );
}

// Verification: the negative cases.

#[test]
fn a_flipped_body_byte_is_rejected() {
    for at in [0, 40, LINEAR_BODY.len() - 1] {
        assert_eq!(
            linear(LINEAR_SIGNATURE, &flipped(LINEAR_BODY, at), LINEAR_SENT_MS),
            Err(Rejection::BadSignature)
        );
    }
    for at in [0, 100, SLACK_BODY.len() - 1] {
        assert_eq!(
            slack(SLACK_SIGNATURE, &flipped(SLACK_BODY, at), SLACK_NOW_S),
            Err(Rejection::BadSignature)
        );
    }
    for at in [0, 75, GITHUB_BODY.len() - 1] {
        assert_eq!(
            github(GITHUB_SIGNATURE, &flipped(GITHUB_BODY, at)),
            Err(Rejection::BadSignature)
        );
    }
}

#[test]
fn a_flipped_signature_digit_is_rejected() {
    let mut signature = LINEAR_SIGNATURE.to_owned();
    signature.replace_range(..1, "f");
    assert_eq!(
        linear(&signature, LINEAR_BODY.as_bytes(), LINEAR_SENT_MS),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn a_slack_timestamp_other_than_the_signed_one_is_rejected() {
    assert_eq!(
        verify_slack(
            SLACK_SECRET,
            Some("1735689601"),
            Some(SLACK_SIGNATURE),
            SLACK_BODY.as_bytes(),
            SLACK_NOW_S,
        ),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn upper_case_hex_is_accepted() {
    assert_eq!(
        linear(
            &LINEAR_SIGNATURE.to_ascii_uppercase(),
            LINEAR_BODY.as_bytes(),
            LINEAR_SENT_MS
        ),
        Ok(())
    );
    let slack_upper = format!("v0={}", SLACK_SIGNATURE[3..].to_ascii_uppercase());
    assert_eq!(
        slack(&slack_upper, SLACK_BODY.as_bytes(), SLACK_NOW_S),
        Ok(())
    );
    let github_upper = format!("sha256={}", GITHUB_SIGNATURE[7..].to_ascii_uppercase());
    assert_eq!(github(&github_upper, GITHUB_BODY.as_bytes()), Ok(()));
}

#[test]
fn a_missing_prefix_is_rejected() {
    assert_eq!(
        slack(&SLACK_SIGNATURE[3..], SLACK_BODY.as_bytes(), SLACK_NOW_S),
        Err(Rejection::MalformedSignature)
    );
    assert_eq!(
        github(&GITHUB_SIGNATURE[7..], GITHUB_BODY.as_bytes()),
        Err(Rejection::MalformedSignature)
    );
}

#[test]
fn a_prefix_other_than_the_providers_is_rejected() {
    let github_style = format!("sha256={LINEAR_SIGNATURE}");
    assert_eq!(
        linear(&github_style, LINEAR_BODY.as_bytes(), LINEAR_SENT_MS),
        Err(Rejection::MalformedSignature)
    );
    let slack_as_v1 = format!("v1={}", &SLACK_SIGNATURE[3..]);
    assert_eq!(
        slack(&slack_as_v1, SLACK_BODY.as_bytes(), SLACK_NOW_S),
        Err(Rejection::MalformedSignature)
    );
    let upper_prefix = format!("SHA256={}", &GITHUB_SIGNATURE[7..]);
    assert_eq!(
        github(&upper_prefix, GITHUB_BODY.as_bytes()),
        Err(Rejection::MalformedSignature)
    );
}

#[test]
fn a_signature_that_is_not_a_hex_mac_is_malformed() {
    let too_short = &LINEAR_SIGNATURE[..62];
    let too_long = format!("{LINEAR_SIGNATURE}00");
    let odd = &LINEAR_SIGNATURE[..63];
    let not_hex = format!("{}zz", &LINEAR_SIGNATURE[..62]);
    for signature in [too_short, too_long.as_str(), odd, not_hex.as_str()] {
        assert_eq!(
            linear(signature, LINEAR_BODY.as_bytes(), LINEAR_SENT_MS),
            Err(Rejection::MalformedSignature),
            "{signature}"
        );
    }
    assert_eq!(
        github("sha256=", GITHUB_BODY.as_bytes()),
        Err(Rejection::MalformedSignature)
    );
}

#[test]
fn a_wrong_secret_is_rejected() {
    assert_eq!(
        verify_linear(
            "lin_wh_test_secret_012345678",
            Some(LINEAR_SIGNATURE),
            LINEAR_BODY.as_bytes(),
            LINEAR_SENT_MS,
        ),
        Err(Rejection::BadSignature)
    );
    assert_eq!(
        verify_slack(
            GITHUB_SECRET,
            Some(SLACK_TS),
            Some(SLACK_SIGNATURE),
            SLACK_BODY.as_bytes(),
            SLACK_NOW_S,
        ),
        Err(Rejection::BadSignature)
    );
    assert_eq!(
        verify_github(SLACK_SECRET, Some(GITHUB_SIGNATURE), GITHUB_BODY.as_bytes()),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn an_empty_secret_never_verifies_even_a_mac_made_with_it() {
    let body = LINEAR_BODY.as_bytes();
    let mac = hmac_sha256_hex(b"", body);
    assert_eq!(
        verify_linear("", Some(&mac), body, LINEAR_SENT_MS),
        Err(Rejection::BadSignature)
    );
    assert_eq!(
        verify_github("", Some(&format!("sha256={mac}")), body),
        Err(Rejection::BadSignature)
    );
    let signed = format!("v0:{SLACK_TS}:{SLACK_BODY}");
    let mac = hmac_sha256_hex(b"", signed.as_bytes());
    assert_eq!(
        verify_slack(
            "",
            Some(SLACK_TS),
            Some(&format!("v0={mac}")),
            SLACK_BODY.as_bytes(),
            SLACK_NOW_S,
        ),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn a_missing_or_blank_signature_is_told_apart() {
    assert_eq!(
        verify_linear(LINEAR_SECRET, None, LINEAR_BODY.as_bytes(), LINEAR_SENT_MS),
        Err(Rejection::MissingSignature)
    );
    assert_eq!(
        verify_linear(
            LINEAR_SECRET,
            Some("  "),
            LINEAR_BODY.as_bytes(),
            LINEAR_SENT_MS
        ),
        Err(Rejection::MissingSignature)
    );
    assert_eq!(
        verify_slack(
            SLACK_SECRET,
            Some(SLACK_TS),
            None,
            SLACK_BODY.as_bytes(),
            SLACK_NOW_S
        ),
        Err(Rejection::MissingSignature)
    );
    assert_eq!(
        verify_github(GITHUB_SECRET, None, GITHUB_BODY.as_bytes()),
        Err(Rejection::MissingSignature)
    );
    assert_eq!(
        verify_github(GITHUB_SECRET, Some(""), GITHUB_BODY.as_bytes()),
        Err(Rejection::MissingSignature)
    );
}

#[test]
fn a_slack_delivery_without_a_timestamp_is_rejected() {
    assert_eq!(
        verify_slack(
            SLACK_SECRET,
            None,
            Some(SLACK_SIGNATURE),
            SLACK_BODY.as_bytes(),
            SLACK_NOW_S
        ),
        Err(Rejection::MissingTimestamp)
    );
}

#[test]
fn a_signed_slack_timestamp_that_is_not_a_number_is_missing() {
    let signed = format!("v0:soon:{SLACK_BODY}");
    let signature = format!(
        "v0={}",
        hmac_sha256_hex(SLACK_SECRET.as_bytes(), signed.as_bytes())
    );
    assert_eq!(
        verify_slack(
            SLACK_SECRET,
            Some("soon"),
            Some(&signature),
            SLACK_BODY.as_bytes(),
            SLACK_NOW_S,
        ),
        Err(Rejection::MissingTimestamp)
    );
}

#[test]
fn the_slack_window_edge_is_accepted_and_one_second_past_it_is_not() {
    let body = SLACK_BODY.as_bytes();
    assert_eq!(SLACK_WINDOW_S, 300);
    assert_eq!(slack(SLACK_SIGNATURE, body, SLACK_NOW_S + 300), Ok(()));
    assert_eq!(slack(SLACK_SIGNATURE, body, SLACK_NOW_S - 300), Ok(()));
    assert_eq!(
        slack(SLACK_SIGNATURE, body, SLACK_NOW_S + 301),
        Err(Rejection::StaleTimestamp)
    );
    assert_eq!(
        slack(SLACK_SIGNATURE, body, SLACK_NOW_S - 301),
        Err(Rejection::StaleTimestamp)
    );
}

#[test]
fn the_linear_window_edge_is_accepted_and_one_millisecond_past_it_is_not() {
    let body = LINEAR_BODY.as_bytes();
    assert_eq!(LINEAR_WINDOW_MS, 60_000);
    assert_eq!(
        linear(LINEAR_SIGNATURE, body, LINEAR_SENT_MS + 60_000),
        Ok(())
    );
    assert_eq!(
        linear(LINEAR_SIGNATURE, body, LINEAR_SENT_MS - 60_000),
        Ok(())
    );
    assert_eq!(
        linear(LINEAR_SIGNATURE, body, LINEAR_SENT_MS + 60_001),
        Err(Rejection::StaleTimestamp)
    );
    assert_eq!(
        linear(LINEAR_SIGNATURE, body, LINEAR_SENT_MS - 60_001),
        Err(Rejection::StaleTimestamp)
    );
}

#[test]
fn extreme_clocks_do_not_overflow_the_window() {
    assert_eq!(
        slack(SLACK_SIGNATURE, SLACK_BODY.as_bytes(), i64::MIN),
        Err(Rejection::StaleTimestamp)
    );
    assert_eq!(
        linear(LINEAR_SIGNATURE, LINEAR_BODY.as_bytes(), i64::MAX),
        Err(Rejection::StaleTimestamp)
    );
}

#[test]
fn the_linear_mac_is_checked_before_the_timestamp() {
    assert_eq!(
        linear(
            &"0".repeat(64),
            LINEAR_BODY.as_bytes(),
            LINEAR_SENT_MS + 3_600_000
        ),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn a_signed_linear_body_without_a_timestamp_is_rejected() {
    for body in [
        "not json",
        r#"{"type":"AgentSessionEvent"}"#,
        r#"{"webhookTimestamp":"soon"}"#,
        r#"{"webhookTimestamp":null}"#,
    ] {
        let mac = hmac_sha256_hex(LINEAR_SECRET.as_bytes(), body.as_bytes());
        assert_eq!(
            linear(&mac, body.as_bytes(), LINEAR_SENT_MS),
            Err(Rejection::MissingTimestamp),
            "{body}"
        );
    }
}

#[test]
fn a_linear_timestamp_sent_as_a_decimal_string_is_read() {
    let body = r#"{"webhookTimestamp":"1735689600000"}"#;
    let mac = hmac_sha256_hex(LINEAR_SECRET.as_bytes(), body.as_bytes());
    assert_eq!(linear(&mac, body.as_bytes(), LINEAR_SENT_MS), Ok(()));
}

#[test]
fn constant_time_comparison_checks_the_length_first() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
    assert!(!constant_time_eq(b"", b"a"));
    assert!(constant_time_eq(b"", b""));
}

#[test]
fn rejections_read_without_detail() {
    assert_eq!(
        Rejection::BadSignature.to_string(),
        "the delivery's signature does not match"
    );
    assert_eq!(
        Rejection::StaleTimestamp.to_string(),
        "the delivery's timestamp is outside the replay window"
    );
}

// Reading Slack deliveries.

fn slack_body(event: Value) -> Value {
    json!({
        "token": "x",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": "Ev2",
        "event_time": 1_735_689_600,
        "authorizations": [{"team_id": "T1", "user_id": "U0BOT", "is_bot": true}],
        "event": event,
    })
}

fn event_of(inbound: Inbound) -> InboundEvent {
    match inbound {
        Inbound::Event(event) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

fn assert_ignored(inbound: &Inbound) {
    assert!(
        matches!(inbound, Inbound::Ignored(reason) if !reason.is_empty()),
        "expected ignored, got {inbound:?}"
    );
}

#[test]
fn slack_url_verification_is_a_challenge() {
    let body: Value = serde_json::from_str(SLACK_CHALLENGE_BODY).unwrap();
    assert_eq!(
        read_slack(&body),
        Inbound::Challenge("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".to_owned())
    );
    assert_ignored(&read_slack(&json!({"type": "url_verification"})));
}

#[test]
fn the_slack_reference_mention_starts_a_thread_on_its_own_ts() {
    let body: Value = serde_json::from_str(SLACK_BODY).unwrap();
    assert_eq!(
        read_slack(&body),
        Inbound::Event(InboundEvent {
            external_id: "T1".to_owned(),
            delivery_id: "Ev1".to_owned(),
            message_key: "C1:1735689600.000100".to_owned(),
            thread: Thread::Slack {
                team: "T1".to_owned(),
                channel: "C1".to_owned(),
                thread_ts: "1735689600.000100".to_owned(),
            },
            author: Some("U1".to_owned()),
            action: InboundAction::Start {
                text: "hi".to_owned()
            },
        })
    );
}

#[test]
fn a_slack_mention_loses_every_bot_mention_but_keeps_other_users() {
    let body = slack_body(json!({
        "type": "app_mention",
        "user": "U1",
        "text": "<@U0BOT> ask <@U2> about <@U0BOT|agent> the build ",
        "ts": "1.2",
        "channel": "C1",
    }));
    assert_eq!(
        event_of(read_slack(&body)).action,
        InboundAction::Start {
            text: "ask <@U2> about the build".to_owned()
        }
    );
}

#[test]
fn without_authorizations_only_leading_mentions_are_removed() {
    let mut body = slack_body(json!({
        "type": "app_mention",
        "user": "U1",
        "text": " <@U0BOT> <@U9> compare with <@U2>",
        "ts": "1.2",
        "channel": "C1",
    }));
    body.as_object_mut().unwrap().remove("authorizations");
    assert_eq!(
        event_of(read_slack(&body)).action,
        InboundAction::Start {
            text: "compare with <@U2>".to_owned()
        }
    );
}

#[test]
fn a_slack_mention_inside_a_thread_starts_on_the_threads_ts() {
    let body = slack_body(json!({
        "type": "app_mention",
        "user": "U1",
        "text": "<@U0BOT> and this?",
        "ts": "1.5",
        "thread_ts": "1.2",
        "channel": "C1",
    }));
    let event = event_of(read_slack(&body));
    assert_eq!(
        event.thread,
        Thread::Slack {
            team: "T1".to_owned(),
            channel: "C1".to_owned(),
            thread_ts: "1.2".to_owned(),
        }
    );
    assert_eq!(event.message_key, "C1:1.5");
    assert_eq!(event.delivery_id, "Ev2");
}

#[test]
fn a_slack_mention_with_no_text_is_ignored() {
    let body = slack_body(json!({
        "type": "app_mention", "user": "U1", "text": " <@U0BOT> ", "ts": "1.2", "channel": "C1",
    }));
    assert_ignored(&read_slack(&body));
}

#[test]
fn a_slack_thread_reply_continues_the_thread() {
    let body = slack_body(json!({
        "type": "message",
        "user": "U1",
        "text": "also <@U0BOT> check the tests",
        "ts": "1.7",
        "thread_ts": "1.2",
        "channel": "C1",
        "channel_type": "channel",
    }));
    let event = event_of(read_slack(&body));
    assert_eq!(
        event.action,
        InboundAction::Continue {
            text: "also check the tests".to_owned()
        }
    );
    assert_eq!(event.thread.key(), "slack:T1:C1:1.2");
    assert_eq!(event.message_key, "C1:1.7");
    assert_eq!(event.author.as_deref(), Some("U1"));
}

#[test]
fn one_human_message_as_mention_and_as_message_shares_its_message_key() {
    let mention = slack_body(json!({
        "type": "app_mention", "user": "U1", "text": "<@U0BOT> go", "ts": "1.7", "thread_ts": "1.2", "channel": "C1",
    }));
    let message = slack_body(json!({
        "type": "message", "user": "U1", "text": "<@U0BOT> go", "ts": "1.7", "thread_ts": "1.2", "channel": "C1",
    }));
    assert_eq!(
        event_of(read_slack(&mention)).message_key,
        event_of(read_slack(&message)).message_key
    );
}

#[test]
fn slack_messages_from_bots_and_from_the_bot_user_are_ignored() {
    let from_bot = slack_body(json!({
        "type": "message", "bot_id": "B1", "user": "U7", "text": "done", "ts": "1.7", "thread_ts": "1.2", "channel": "C1",
    }));
    let from_us = slack_body(json!({
        "type": "message", "user": "U0BOT", "text": "done", "ts": "1.7", "thread_ts": "1.2", "channel": "C1",
    }));
    let mention_from_bot = slack_body(json!({
        "type": "app_mention", "bot_id": "B2", "user": "U7", "text": "<@U0BOT> hi", "ts": "1.7", "channel": "C1",
    }));
    for body in [from_bot, from_us, mention_from_bot] {
        assert_ignored(&read_slack(&body));
    }
}

#[test]
fn slack_message_subtypes_are_ignored() {
    for subtype in [
        "bot_message",
        "message_changed",
        "message_deleted",
        "channel_join",
        "thread_broadcast",
    ] {
        let body = slack_body(json!({
            "type": "message", "subtype": subtype, "user": "U1", "text": "x", "ts": "1.7", "thread_ts": "1.2", "channel": "C1",
        }));
        assert_ignored(&read_slack(&body));
    }
}

#[test]
fn slack_messages_outside_a_thread_are_ignored() {
    let top_level = slack_body(json!({
        "type": "message", "user": "U1", "text": "hello", "ts": "1.2", "channel": "C1",
    }));
    let thread_parent = slack_body(json!({
        "type": "message", "user": "U1", "text": "hello", "ts": "1.2", "thread_ts": "1.2", "channel": "C1",
    }));
    assert_ignored(&read_slack(&top_level));
    assert_ignored(&read_slack(&thread_parent));
}

#[test]
fn an_empty_slack_thread_reply_is_ignored() {
    let body = slack_body(json!({
        "type": "message", "user": "U1", "text": "", "ts": "1.7", "thread_ts": "1.2", "channel": "C1",
    }));
    assert_ignored(&read_slack(&body));
}

#[test]
fn other_slack_events_and_envelopes_are_ignored() {
    let reaction = slack_body(json!({
        "type": "reaction_added", "user": "U1", "reaction": "eyes", "ts": "1.7", "channel": "C1",
    }));
    assert_ignored(&read_slack(&reaction));
    assert_ignored(&read_slack(
        &json!({"type": "app_rate_limited", "team_id": "T1"}),
    ));
    assert_ignored(&read_slack(&json!({"event_id": "Ev1"})));
    assert_ignored(&read_slack(&json!("not an object")));
    assert_ignored(&read_slack(
        &json!({"type": "event_callback", "event_id": "Ev1", "team_id": "T1"}),
    ));
}

#[test]
fn a_slack_event_missing_its_id_team_or_channel_is_ignored() {
    let event = json!({"type": "app_mention", "user": "U1", "text": "<@U0BOT> hi", "ts": "1.2", "channel": "C1"});
    let mut no_id = slack_body(event.clone());
    no_id.as_object_mut().unwrap().remove("event_id");
    let mut no_team = slack_body(event.clone());
    no_team.as_object_mut().unwrap().remove("team_id");
    let mut no_channel = slack_body(event.clone());
    no_channel["event"]
        .as_object_mut()
        .unwrap()
        .remove("channel");
    let mut no_ts = slack_body(event);
    no_ts["event"].as_object_mut().unwrap().remove("ts");
    for body in [no_id, no_team, no_channel, no_ts] {
        assert_ignored(&read_slack(&body));
    }
}

#[test]
fn a_slack_team_falls_back_to_the_events_team() {
    let mut body = slack_body(json!({
        "type": "app_mention", "user": "U1", "text": "<@U0BOT> hi", "ts": "1.2", "channel": "C1", "team": "T9",
    }));
    body.as_object_mut().unwrap().remove("team_id");
    assert_eq!(event_of(read_slack(&body)).external_id, "T9");
}

// Reading Linear deliveries.

fn linear_body(action: &str, extra: Value) -> Value {
    let mut body = json!({
        "type": "AgentSessionEvent",
        "action": action,
        "organizationId": "org_1",
        "webhookId": "wh_1",
        "webhookTimestamp": 1_735_689_600_000_i64,
        "agentSession": {"id": "ses_1", "creator": {"id": "usr_1", "name": "Ada"}},
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        for (key, value) in extra {
            body.insert(key, value);
        }
    }
    body
}

#[test]
fn a_created_linear_session_starts_with_the_prompt_context() {
    let body = linear_body(
        "created",
        json!({"promptContext": "  <issue>Fix the build</issue>  "}),
    );
    assert_eq!(
        read_linear(Some("d3c4f1a0-0000-4000-8000-000000000001"), &body),
        Inbound::Event(InboundEvent {
            external_id: "org_1".to_owned(),
            delivery_id: "d3c4f1a0-0000-4000-8000-000000000001".to_owned(),
            message_key: "ses_1:created:".to_owned(),
            thread: Thread::Linear {
                organization: "org_1".to_owned(),
                agent_session_id: "ses_1".to_owned(),
            },
            author: Some("Ada".to_owned()),
            action: InboundAction::Start {
                text: "<issue>Fix the build</issue>".to_owned()
            },
        })
    );
}

#[test]
fn without_prompt_context_a_created_session_reads_the_issue() {
    let mut body = linear_body("created", json!({}));
    body["agentSession"]["issue"] =
        json!({"id": "iss_1", "title": "Fix the build", "description": "CI is red."});
    assert_eq!(
        event_of(read_linear(Some("d1"), &body)).action,
        InboundAction::Start {
            text: "Fix the build\n\nCI is red.".to_owned()
        }
    );
    body["agentSession"]["issue"] = json!({"id": "iss_1", "title": "Fix the build"});
    assert_eq!(
        event_of(read_linear(Some("d1"), &body)).action,
        InboundAction::Start {
            text: "Fix the build".to_owned()
        }
    );
}

#[test]
fn without_issue_a_created_session_reads_the_comment() {
    let mut body = linear_body("created", json!({"promptContext": ""}));
    body["agentSession"]["comment"] = json!({"id": "com_1", "body": "@agent look"});
    assert_eq!(
        event_of(read_linear(Some("d1"), &body)).action,
        InboundAction::Start {
            text: "@agent look".to_owned()
        }
    );
}

#[test]
fn the_linear_reference_delivery_has_no_prompt_and_is_ignored() {
    let body: Value = serde_json::from_str(LINEAR_BODY).unwrap();
    assert_ignored(&read_linear(Some("d1"), &body));
}

#[test]
fn a_linear_prompt_continues_the_session() {
    let body = linear_body(
        "prompted",
        json!({"agentActivity": {"id": "act_9", "content": {"type": "prompt", "body": " and the docs "}}}),
    );
    let event = event_of(read_linear(Some("d2"), &body));
    assert_eq!(
        event.action,
        InboundAction::Continue {
            text: "and the docs".to_owned()
        }
    );
    assert_eq!(event.message_key, "ses_1:prompted:act_9");
    assert_eq!(event.delivery_id, "d2");
}

#[test]
fn an_older_linear_prompt_carries_its_text_in_body() {
    let body = linear_body(
        "prompted",
        json!({"agentActivity": {"id": "act_9", "body": "and the docs"}}),
    );
    assert_eq!(
        event_of(read_linear(Some("d2"), &body)).action,
        InboundAction::Continue {
            text: "and the docs".to_owned()
        }
    );
}

#[test]
fn a_linear_prompt_without_text_is_ignored() {
    let body = linear_body(
        "prompted",
        json!({"agentActivity": {"id": "act_9", "content": {"type": "prompt", "body": " "}}}),
    );
    assert_ignored(&read_linear(Some("d2"), &body));
}

#[test]
fn the_linear_stop_signal_stops_the_session() {
    let body = linear_body(
        "prompted",
        json!({"agentActivity": {"id": "act_10", "signal": "stop", "content": {"type": "prompt", "body": "stop"}}}),
    );
    let event = event_of(read_linear(Some("d3"), &body));
    assert_eq!(event.action, InboundAction::Stop);
    assert_eq!(event.message_key, "ses_1:prompted:act_10");
}

#[test]
fn without_a_linear_delivery_header_the_key_is_built_from_the_body() {
    let body = linear_body(
        "prompted",
        json!({"agentActivity": {"id": "act_9", "body": "more"}}),
    );
    assert_eq!(
        event_of(read_linear(None, &body)).delivery_id,
        "wh_1:1735689600000:ses_1:prompted"
    );
    assert_eq!(
        event_of(read_linear(Some(" "), &body)).delivery_id,
        "wh_1:1735689600000:ses_1:prompted"
    );
    let mut anonymous = body;
    anonymous.as_object_mut().unwrap().remove("webhookId");
    assert_ignored(&read_linear(None, &anonymous));
}

#[test]
fn the_linear_author_falls_back_to_the_creator_id() {
    let mut body = linear_body("created", json!({"promptContext": "go"}));
    body["agentSession"]["creator"] = json!({"id": "usr_1"});
    assert_eq!(
        event_of(read_linear(Some("d1"), &body)).author.as_deref(),
        Some("usr_1")
    );
    body["agentSession"]
        .as_object_mut()
        .unwrap()
        .remove("creator");
    assert_eq!(event_of(read_linear(Some("d1"), &body)).author, None);
}

#[test]
fn other_linear_webhooks_and_actions_are_ignored() {
    let mut issue = linear_body("create", json!({"promptContext": "go"}));
    issue["type"] = json!("Issue");
    assert_ignored(&read_linear(Some("d1"), &issue));
    assert_ignored(&read_linear(
        Some("d1"),
        &linear_body("updated", json!({"promptContext": "go"})),
    ));
    assert_ignored(&read_linear(Some("d1"), &json!([])));
}

#[test]
fn a_linear_session_event_missing_required_fields_is_ignored() {
    for field in ["organizationId", "action", "agentSession"] {
        let mut body = linear_body("created", json!({"promptContext": "go"}));
        body.as_object_mut().unwrap().remove(field);
        assert_ignored(&read_linear(Some("d1"), &body));
    }
}

// Reading GitHub deliveries.

fn github_body() -> Value {
    serde_json::from_str(GITHUB_BODY).unwrap()
}

#[test]
fn the_github_reference_comment_starts_the_issue_thread() {
    assert_eq!(
        read_github(
            Some("issue_comment"),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            &github_body()
        ),
        Inbound::Event(InboundEvent {
            external_id: "acme/app".to_owned(),
            delivery_id: "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned(),
            message_key: "comment:42".to_owned(),
            thread: Thread::Github {
                repository: "acme/app".to_owned(),
                issue_number: 7,
            },
            author: None,
            action: InboundAction::Start {
                text: "@agent please fix".to_owned()
            },
        })
    );
}

#[test]
fn the_github_author_is_the_commenter_else_the_sender() {
    let mut body = github_body();
    body["sender"] = json!({"login": "bob", "type": "User"});
    assert_eq!(
        event_of(read_github(Some("issue_comment"), Some("d"), &body))
            .author
            .as_deref(),
        Some("bob")
    );
    body["comment"]["user"] = json!({"login": "alice"});
    assert_eq!(
        event_of(read_github(Some("issue_comment"), Some("d"), &body))
            .author
            .as_deref(),
        Some("alice")
    );
}

#[test]
fn a_github_ping_is_ignored_as_ping() {
    assert_eq!(
        read_github(
            Some("ping"),
            Some("d"),
            &json!({"zen": "Keep it simple.", "hook_id": 1})
        ),
        Inbound::Ignored("ping".to_owned())
    );
}

#[test]
fn other_github_events_and_actions_are_ignored() {
    assert_ignored(&read_github(Some("issues"), Some("d"), &github_body()));
    assert_ignored(&read_github(None, Some("d"), &github_body()));
    let mut edited = github_body();
    edited["action"] = json!("edited");
    assert_ignored(&read_github(Some("issue_comment"), Some("d"), &edited));
}

#[test]
fn a_github_comment_missing_required_fields_is_ignored() {
    assert_ignored(&read_github(Some("issue_comment"), None, &github_body()));
    for pointer in [
        "/repository/full_name",
        "/issue/number",
        "/comment/id",
        "/comment/body",
    ] {
        let mut body = github_body();
        let (parent, field) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(field);
        assert_ignored(&read_github(Some("issue_comment"), Some("d"), &body));
    }
}

// GitHub mentions.

#[test]
fn a_mention_of_the_bot_engages_it_without_the_mention() {
    assert_eq!(
        github_mention("@agent please fix", Some("alice"), "agent").as_deref(),
        Some("please fix")
    );
    assert_eq!(
        github_mention("Hey @Agent, look at this", Some("alice"), "agent").as_deref(),
        Some("Hey , look at this")
    );
    assert_eq!(
        github_mention("please @AGENT fix\n@agent thanks", None, "agent").as_deref(),
        Some("please fix\nthanks")
    );
}

#[test]
fn a_longer_login_is_not_a_mention_of_the_bot() {
    assert_eq!(github_mention("@agents fix", Some("alice"), "agent"), None);
    assert_eq!(
        github_mention("@agent-two fix", Some("alice"), "agent"),
        None
    );
    assert_eq!(github_mention("@agent2 fix", Some("alice"), "agent"), None);
    assert_eq!(
        github_mention("no mention here", Some("alice"), "agent"),
        None
    );
    assert_eq!(
        github_mention("mail me@agent.io", Some("alice"), "agent"),
        None
    );
}

#[test]
fn the_bot_does_not_engage_itself() {
    for author in ["agent", "Agent", "agent[bot]", "AGENT[BOT]"] {
        assert_eq!(
            github_mention("@agent again", Some(author), "agent"),
            None,
            "{author}"
        );
    }
    assert_eq!(
        github_mention("@agent again", Some("agent[bot]"), "agent[bot]"),
        None
    );
    assert_eq!(
        github_mention("@agent again", Some("alice"), "agent[bot]").as_deref(),
        Some("again")
    );
}

#[test]
fn a_bare_mention_engages_with_empty_text() {
    assert_eq!(
        github_mention("  @agent  ", Some("alice"), "agent").as_deref(),
        Some("")
    );
}

#[test]
fn an_empty_bot_login_engages_nothing() {
    assert_eq!(github_mention("@ hi", Some("alice"), ""), None);
}

#[test]
fn mentions_survive_non_ascii_text() {
    assert_eq!(
        github_mention("é @agent ü@agent ñ", Some("alice"), "agent").as_deref(),
        Some("é ü@agent ñ")
    );
    assert_eq!(
        github_mention("@agenté", Some("alice"), "agent").as_deref(),
        Some("é")
    );
}

// Threads.

fn slack_thread() -> Thread {
    Thread::Slack {
        team: "T1".to_owned(),
        channel: "C1".to_owned(),
        thread_ts: "1735689600.000100".to_owned(),
    }
}

fn linear_thread() -> Thread {
    Thread::Linear {
        organization: "org_1".to_owned(),
        agent_session_id: "ses_1".to_owned(),
    }
}

fn github_thread() -> Thread {
    Thread::Github {
        repository: "acme/app".to_owned(),
        issue_number: 7,
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn threads_name_their_provider_and_key() {
    assert_eq!(slack_thread().provider(), Provider::Slack);
    assert_eq!(linear_thread().provider(), Provider::Linear);
    assert_eq!(github_thread().provider(), Provider::Github);
    assert_eq!(slack_thread().key(), "slack:T1:C1:1735689600.000100");
    assert_eq!(linear_thread().key(), "linear:org_1:ses_1");
    assert_eq!(github_thread().key(), "github:acme/app#7");
}

#[test]
fn threads_name_their_session() {
    assert_eq!(
        slack_thread().session_metadata(),
        map(&[
            ("integration", "slack"),
            ("thread", "slack:T1:C1:1735689600.000100"),
            ("slack_channel", "C1"),
            ("slack_thread_ts", "1735689600.000100"),
        ])
    );
    assert_eq!(
        linear_thread().session_metadata(),
        map(&[
            ("integration", "linear"),
            ("thread", "linear:org_1:ses_1"),
            ("linear_agent_session_id", "ses_1"),
        ])
    );
    assert_eq!(
        github_thread().session_metadata(),
        map(&[
            ("integration", "github"),
            ("thread", "github:acme/app#7"),
            ("github_repository", "acme/app"),
            ("github_issue", "7"),
        ])
    );
    assert_eq!(slack_thread().session_title(), "Slack thread in C1");
    assert_eq!(
        linear_thread().session_title(),
        "Linear agent session ses_1"
    );
    assert_eq!(github_thread().session_title(), "acme/app#7");
}

#[test]
fn threads_serialize_tagged_by_provider() {
    let cases = [
        (
            slack_thread(),
            json!({"provider": "slack", "team": "T1", "channel": "C1", "thread_ts": "1735689600.000100"}),
        ),
        (
            linear_thread(),
            json!({"provider": "linear", "organization": "org_1", "agent_session_id": "ses_1"}),
        ),
        (
            github_thread(),
            json!({"provider": "github", "repository": "acme/app", "issue_number": 7}),
        ),
    ];
    for (thread, wire) in cases {
        assert_eq!(serde_json::to_value(&thread).unwrap(), wire);
        assert_eq!(serde_json::from_value::<Thread>(wire).unwrap(), thread);
    }
}

#[test]
fn inbound_events_round_trip_through_json() {
    let event = event_of(read_github(
        Some("issue_comment"),
        Some("d"),
        &github_body(),
    ));
    let wire = serde_json::to_value(&event).unwrap();
    assert_eq!(
        wire["action"],
        json!({"type": "start", "text": "@agent please fix"})
    );
    assert_eq!(serde_json::from_value::<InboundEvent>(wire).unwrap(), event);
}

// Replies.

#[test]
fn reply_kinds_are_named_in_lower_case() {
    for kind in ReplyKind::ALL {
        assert_eq!(ReplyKind::parse(kind.as_str()), Some(kind));
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
    }
    assert_eq!(ReplyKind::Thought.as_str(), "thought");
    assert_eq!(ReplyKind::Response.as_str(), "response");
    assert_eq!(ReplyKind::Error.as_str(), "error");
    assert_eq!(ReplyKind::parse("Response"), None);
    assert_eq!(ReplyKind::parse("action"), None);
}

#[test]
fn a_slack_reply_posts_into_the_thread_with_its_key() {
    let request = reply_request(
        &slack_thread(),
        "http://127.0.0.1:9000/api/",
        ReplyKind::Response,
        "Done.",
        "rk_1",
    );
    assert_eq!(
        request,
        ReplyRequest {
            url: "http://127.0.0.1:9000/api/chat.postMessage".to_owned(),
            headers: Vec::new(),
            body: json!({
                "channel": "C1",
                "thread_ts": "1735689600.000100",
                "text": "Done.",
                "metadata": {"event_type": "openma_reply", "event_payload": {"reply_key": "rk_1"}},
            }),
        }
    );
}

#[test]
fn a_long_slack_reply_is_cut_on_a_character_boundary() {
    let exact = "é".repeat(39_000);
    let request = reply_request(
        &slack_thread(),
        "https://slack.com/api",
        ReplyKind::Response,
        &exact,
        "rk",
    );
    assert_eq!(request.body["text"], json!(exact));

    let long = "é".repeat(39_001);
    let request = reply_request(
        &slack_thread(),
        "https://slack.com/api",
        ReplyKind::Response,
        &long,
        "rk",
    );
    let text = request.body["text"].as_str().unwrap();
    assert_eq!(text.chars().count(), 39_000);
    assert!(text.ends_with("é…"));
}

#[test]
fn a_github_reply_comments_on_the_issue_with_an_invisible_marker() {
    let request = reply_request(
        &github_thread(),
        "https://api.github.com/",
        ReplyKind::Response,
        "Fixed in #8.",
        "rk_2",
    );
    assert_eq!(
        request,
        ReplyRequest {
            url: "https://api.github.com/repos/acme/app/issues/7/comments".to_owned(),
            headers: vec![
                ("accept", "application/vnd.github+json".to_owned()),
                ("x-github-api-version", "2022-11-28".to_owned()),
            ],
            body: json!({"body": "Fixed in #8.\n\n<!-- oma-reply:rk_2 -->"}),
        }
    );
}

#[test]
fn a_long_github_reply_keeps_its_marker_within_the_limit() {
    let long = "ü".repeat(70_000);
    let request = reply_request(
        &github_thread(),
        "https://api.github.com",
        ReplyKind::Response,
        &long,
        "rk_2",
    );
    let body = request.body["body"].as_str().unwrap();
    assert_eq!(body.chars().count(), 65_536);
    assert!(body.ends_with("ü…\n\n<!-- oma-reply:rk_2 -->"));

    let marker_len = "\n\n<!-- oma-reply:rk_2 -->".chars().count();
    let fits = "ü".repeat(65_536 - marker_len);
    let request = reply_request(
        &github_thread(),
        "https://api.github.com",
        ReplyKind::Response,
        &fits,
        "rk_2",
    );
    let body = request.body["body"].as_str().unwrap();
    assert_eq!(body.chars().count(), 65_536);
    assert!(!body.contains('…'));
}

#[test]
fn a_linear_reply_creates_an_activity_with_an_idempotent_id() {
    let request = reply_request(
        &linear_thread(),
        "https://api.linear.app",
        ReplyKind::Thought,
        "Looking into it.",
        "rk_0123456789abcdef0123456789abcdef",
    );
    assert_eq!(
        request,
        ReplyRequest {
            url: "https://api.linear.app/graphql".to_owned(),
            headers: Vec::new(),
            body: json!({
                "query": "mutation AgentActivityCreate($input: AgentActivityCreateInput!) { agentActivityCreate(input: $input) { success agentActivity { id } } }",
                "variables": {"input": {
                    "id": "085a1250-e6f4-5688-8b65-271d060ee642",
                    "agentSessionId": "ses_1",
                    "content": {"type": "thought", "body": "Looking into it."},
                }},
            }),
        }
    );
    for kind in [ReplyKind::Response, ReplyKind::Error] {
        let request = reply_request(&linear_thread(), "https://api.linear.app", kind, "x", "rk");
        assert_eq!(
            request.body["variables"]["input"]["content"]["type"],
            json!(kind.as_str())
        );
    }
}

#[test]
fn reply_keys_are_deterministic_and_distinct() {
    let key = reply_key(
        "slack:T1:C1:1735689600.000100",
        "turn_1",
        ReplyKind::Response,
    );
    assert_eq!(key, "rk_008575ae79cb0a9a0b00191a32040cf5");
    assert_eq!(
        key,
        reply_key(
            "slack:T1:C1:1735689600.000100",
            "turn_1",
            ReplyKind::Response
        )
    );
    assert_ne!(
        key,
        reply_key(
            "slack:T1:C1:1735689600.000100",
            "turn_1",
            ReplyKind::Thought
        )
    );
    assert_ne!(
        key,
        reply_key(
            "slack:T1:C1:1735689600.000100",
            "turn_2",
            ReplyKind::Response
        )
    );
    assert_ne!(
        key,
        reply_key(
            "slack:T1:C2:1735689600.000100",
            "turn_1",
            ReplyKind::Response
        )
    );
}

#[test]
fn activity_ids_are_version_5_uuids_from_the_reply_key() {
    // Cross-checked with Python: uuid.UUID(bytes=sha256(key)[:16], version=5).
    assert_eq!(
        activity_id("rk_0123456789abcdef0123456789abcdef"),
        "085a1250-e6f4-5688-8b65-271d060ee642"
    );
    for key in ["", "rk_a", "rk_b", "rk_c", "rk_d", "rk_e"] {
        let id = activity_id(key);
        assert_eq!(id.len(), 36);
        let groups: Vec<&str> = id.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('5'), "{id}");
        assert!(
            matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{id}"
        );
        assert!(
            id.bytes()
                .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(activity_id(key), id);
    }
    assert_ne!(activity_id("rk_a"), activity_id("rk_b"));
}

// Classifying answers.

fn no_headers(_: &str) -> Option<String> {
    None
}

fn classify(
    provider: Provider,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
    now_ms: i64,
) -> ReplyOutcome {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = move |name: &str| {
        assert_eq!(
            name,
            name.to_ascii_lowercase(),
            "headers are looked up in lower case"
        );
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    classify_reply(provider, status, &lookup, body, now_ms)
}

fn sent(provider_ref: Option<&str>) -> ReplyOutcome {
    ReplyOutcome::Sent {
        provider_ref: provider_ref.map(str::to_owned),
    }
}

fn retry_after(outcome: &ReplyOutcome) -> Option<u64> {
    match outcome {
        ReplyOutcome::Retry { after_ms, .. } => *after_ms,
        other => panic!("expected a retry, got {other:?}"),
    }
}

fn dead_error(outcome: ReplyOutcome) -> String {
    match outcome {
        ReplyOutcome::Dead { error } => error,
        other => panic!("expected dead, got {other:?}"),
    }
}

const NOW_MS: i64 = 1_735_689_600_000;

#[test]
fn a_slack_ok_answer_is_sent_with_its_ts() {
    let body = r#"{"ok":true,"channel":"C1","ts":"1735689600.000200","message":{}}"#;
    assert_eq!(
        classify(Provider::Slack, 200, &[], body, NOW_MS),
        sent(Some("1735689600.000200"))
    );
    assert_eq!(
        classify_reply(Provider::Slack, 200, &no_headers, r#"{"ok":true}"#, NOW_MS),
        sent(None)
    );
}

#[test]
fn a_slack_429_waits_for_retry_after() {
    let outcome = classify(Provider::Slack, 429, &[("retry-after", "3")], "", NOW_MS);
    assert_eq!(retry_after(&outcome), Some(3_000));
    let outcome = classify(Provider::Slack, 429, &[("retry-after", "soon")], "", NOW_MS);
    assert_eq!(retry_after(&outcome), None);
    let outcome = classify(Provider::Slack, 429, &[], "", NOW_MS);
    assert_eq!(retry_after(&outcome), None);
}

#[test]
fn slack_5xx_and_408_are_retried() {
    for status in [408, 500, 502, 503, 504] {
        let outcome = classify(
            Provider::Slack,
            status,
            &[("retry-after", "9")],
            "oops",
            NOW_MS,
        );
        assert_eq!(retry_after(&outcome), None, "{status}");
    }
}

#[test]
fn slack_transient_error_codes_are_retried() {
    for code in [
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    ] {
        let body = format!(r#"{{"ok":false,"error":"{code}"}}"#);
        assert_eq!(
            classify(Provider::Slack, 200, &[("retry-after", "9")], &body, NOW_MS),
            ReplyOutcome::Retry {
                error: code.to_owned(),
                after_ms: None
            }
        );
    }
}

#[test]
fn a_slack_ratelimited_code_waits_for_retry_after_when_given() {
    for code in ["ratelimited", "rate_limited"] {
        let body = format!(r#"{{"ok":false,"error":"{code}"}}"#);
        assert_eq!(
            classify(Provider::Slack, 200, &[("retry-after", "2")], &body, NOW_MS),
            ReplyOutcome::Retry {
                error: code.to_owned(),
                after_ms: Some(2_000)
            }
        );
        assert_eq!(
            retry_after(&classify(Provider::Slack, 200, &[], &body, NOW_MS)),
            None
        );
    }
}

#[test]
fn other_slack_error_codes_are_dead_with_the_code() {
    for code in [
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "token_revoked",
        "msg_too_long",
    ] {
        let body = format!(r#"{{"ok":false,"error":"{code}"}}"#);
        assert_eq!(
            classify(Provider::Slack, 200, &[], &body, NOW_MS),
            ReplyOutcome::Dead {
                error: code.to_owned()
            }
        );
    }
}

#[test]
fn a_slack_2xx_that_is_not_json_is_retried() {
    let outcome = classify(Provider::Slack, 200, &[], "<html>gateway</html>", NOW_MS);
    assert_eq!(retry_after(&outcome), None);
}

#[test]
fn other_slack_4xx_are_dead() {
    for status in [400, 401, 403, 404, 410] {
        let error = dead_error(classify(Provider::Slack, status, &[], "", NOW_MS));
        assert!(error.starts_with(&status.to_string()), "{error}");
    }
    let error = dead_error(classify(
        Provider::Slack,
        400,
        &[],
        r#"{"ok":false,"error":"invalid_arguments"}"#,
        NOW_MS,
    ));
    assert_eq!(error, "400: invalid_arguments");
}

#[test]
fn a_github_2xx_is_sent_with_the_comment_id() {
    let body = r#"{"id":1234567890123,"node_id":"IC_x","html_url":"https://github.com/acme/app/issues/7#issuecomment-1"}"#;
    assert_eq!(
        classify(Provider::Github, 201, &[], body, NOW_MS),
        sent(Some("1234567890123"))
    );
    assert_eq!(classify(Provider::Github, 201, &[], "", NOW_MS), sent(None));
}

#[test]
fn a_github_429_waits_for_retry_after() {
    let outcome = classify(
        Provider::Github,
        429,
        &[("retry-after", "30")],
        "{}",
        NOW_MS,
    );
    assert_eq!(retry_after(&outcome), Some(30_000));
}

#[test]
fn a_github_403_with_retry_after_is_retried() {
    let body = r#"{"message":"You have exceeded a secondary rate limit."}"#;
    assert_eq!(
        classify(Provider::Github, 403, &[("retry-after", "1")], body, NOW_MS),
        ReplyOutcome::Retry {
            error: "403: You have exceeded a secondary rate limit.".to_owned(),
            after_ms: Some(1_000)
        }
    );
}

#[test]
fn an_exhausted_github_quota_waits_until_the_reset() {
    let reset_s = (NOW_MS / 1_000 + 90).to_string();
    let outcome = classify(
        Provider::Github,
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset_s),
        ],
        r#"{"message":"API rate limit exceeded"}"#,
        NOW_MS,
    );
    assert_eq!(retry_after(&outcome), Some(90_000));
    let past_s = (NOW_MS / 1_000 - 5).to_string();
    let outcome = classify(
        Provider::Github,
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &past_s),
        ],
        "{}",
        NOW_MS,
    );
    assert_eq!(retry_after(&outcome), Some(1_000));
    let outcome = classify(
        Provider::Github,
        429,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset_s),
        ],
        "{}",
        NOW_MS,
    );
    assert_eq!(retry_after(&outcome), Some(90_000));
}

#[test]
fn a_github_secondary_limit_without_a_wait_waits_a_minute() {
    let outcome = classify(
        Provider::Github,
        403,
        &[("x-ratelimit-remaining", "12")],
        r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes."}"#,
        NOW_MS,
    );
    assert_eq!(retry_after(&outcome), Some(60_000));
    assert_eq!(
        retry_after(&classify(Provider::Github, 429, &[], "", NOW_MS)),
        Some(60_000)
    );
}

#[test]
fn github_5xx_and_408_are_retried() {
    for status in [408, 500, 502, 503] {
        let outcome = classify(Provider::Github, status, &[], "", NOW_MS);
        assert_eq!(retry_after(&outcome), None, "{status}");
    }
}

#[test]
fn other_github_4xx_are_dead_with_the_message() {
    assert_eq!(
        dead_error(classify(
            Provider::Github,
            403,
            &[("x-ratelimit-remaining", "4999")],
            r#"{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com"}"#,
            NOW_MS,
        )),
        "403: Resource not accessible by integration"
    );
    assert_eq!(
        dead_error(classify(
            Provider::Github,
            404,
            &[],
            r#"{"message":"Not Found"}"#,
            NOW_MS
        )),
        "404: Not Found"
    );
    assert_eq!(
        dead_error(classify(Provider::Github, 422, &[], "not json", NOW_MS)),
        "422: no message"
    );
}

#[test]
fn a_linear_success_is_sent_with_the_activity_id() {
    let body = r#"{"data":{"agentActivityCreate":{"success":true,"agentActivity":{"id":"085a1250-e6f4-5688-8b65-271d060ee642"}}}}"#;
    assert_eq!(
        classify(Provider::Linear, 200, &[], body, NOW_MS),
        sent(Some("085a1250-e6f4-5688-8b65-271d060ee642"))
    );
}

#[test]
fn a_linear_success_false_is_dead() {
    let body = r#"{"data":{"agentActivityCreate":{"success":false,"agentActivity":null}}}"#;
    assert!(matches!(
        classify(Provider::Linear, 200, &[], body, NOW_MS),
        ReplyOutcome::Dead { .. }
    ));
}

#[test]
fn a_linear_200_rate_limit_error_waits_until_the_reset() {
    let body =
        r#"{"errors":[{"message":"Rate limit exceeded","extensions":{"code":"RATELIMITED"}}]}"#;
    let reset = (NOW_MS + 42_000).to_string();
    assert_eq!(
        classify(
            Provider::Linear,
            200,
            &[("x-ratelimit-requests-reset", &reset)],
            body,
            NOW_MS
        ),
        ReplyOutcome::Retry {
            error: "RATELIMITED: Rate limit exceeded".to_owned(),
            after_ms: Some(42_000)
        }
    );
    assert_eq!(
        retry_after(&classify(Provider::Linear, 200, &[], body, NOW_MS)),
        None
    );
}

#[test]
fn a_linear_rate_limit_is_found_in_any_error() {
    let body = r#"{"errors":[{"message":"first"},{"message":"Rate limit exceeded","extensions":{"code":"RATELIMITED"}}]}"#;
    assert!(matches!(
        classify(Provider::Linear, 200, &[], body, NOW_MS),
        ReplyOutcome::Retry { .. }
    ));
}

#[test]
fn other_linear_graphql_errors_are_dead_with_the_first_message() {
    let body = r#"{"errors":[{"message":"Entity not found: AgentSession","extensions":{"code":"INVALID_INPUT"}},{"message":"second"}],"data":null}"#;
    assert_eq!(
        classify(Provider::Linear, 200, &[], body, NOW_MS),
        ReplyOutcome::Dead {
            error: "Entity not found: AgentSession".to_owned()
        }
    );
}

#[test]
fn a_linear_400_rate_limit_is_retried_and_other_400s_are_dead() {
    let limited =
        r#"{"errors":[{"message":"Rate limit exceeded","extensions":{"code":"RATELIMITED"}}]}"#;
    let reset = (NOW_MS + 5_000).to_string();
    assert_eq!(
        retry_after(&classify(
            Provider::Linear,
            400,
            &[("x-ratelimit-requests-reset", &reset)],
            limited,
            NOW_MS
        )),
        Some(5_000)
    );
    let invalid = r#"{"errors":[{"message":"Argument Validation Error","extensions":{"code":"INVALID_INPUT"}}]}"#;
    assert_eq!(
        dead_error(classify(Provider::Linear, 400, &[], invalid, NOW_MS)),
        "400: Argument Validation Error"
    );
}

#[test]
fn a_linear_429_waits_for_retry_after() {
    assert_eq!(
        retry_after(&classify(
            Provider::Linear,
            429,
            &[("retry-after", "7")],
            "",
            NOW_MS
        )),
        Some(7_000)
    );
}

#[test]
fn linear_5xx_are_retried_and_other_4xx_are_dead() {
    for status in [500, 502, 503] {
        assert_eq!(
            retry_after(&classify(Provider::Linear, status, &[], "", NOW_MS)),
            None
        );
    }
    for status in [401, 403, 404] {
        assert!(matches!(
            classify(Provider::Linear, status, &[], "", NOW_MS),
            ReplyOutcome::Dead { .. }
        ));
    }
}

#[test]
fn a_linear_2xx_that_says_nothing_is_retried() {
    for body in ["", "{}", r#"{"data":{}}"#] {
        assert!(matches!(
            classify(Provider::Linear, 200, &[], body, NOW_MS),
            ReplyOutcome::Retry { .. }
        ));
    }
}

#[test]
fn unexpected_statuses_are_dead() {
    for provider in Provider::ALL {
        assert!(matches!(
            classify(provider, 302, &[], "", NOW_MS),
            ReplyOutcome::Dead { .. }
        ));
    }
}

#[test]
fn errors_are_short_and_never_carry_request_headers() {
    let long = "x".repeat(5_000);
    let github = format!(r#"{{"message":"{long}"}}"#);
    let slack = format!(r#"{{"ok":false,"error":"{long}"}}"#);
    let linear = format!(r#"{{"errors":[{{"message":"{long}"}}]}}"#);
    let headers = [
        ("authorization", "Bearer xoxb-secret"),
        ("retry-after", "1"),
    ];
    for (provider, status, body) in [
        (Provider::Github, 422, github.as_str()),
        (Provider::Github, 500, github.as_str()),
        (Provider::Slack, 200, slack.as_str()),
        (Provider::Linear, 200, linear.as_str()),
        (Provider::Linear, 400, linear.as_str()),
    ] {
        let error = match classify(provider, status, &headers, body, NOW_MS) {
            ReplyOutcome::Retry { error, .. } | ReplyOutcome::Dead { error } => error,
            sent @ ReplyOutcome::Sent { .. } => panic!("unexpected {sent:?}"),
        };
        assert!(error.chars().count() <= 300, "{provider:?} {status}");
        assert!(!error.contains("xoxb"));
    }
}

// Back-off.

#[test]
fn the_back_off_doubles_per_attempt_with_equal_jitter() {
    assert_eq!(retry_delay_ms(1, 2_000, 0.0), 1_000);
    assert_eq!(retry_delay_ms(1, 2_000, 1.0), 2_000);
    assert_eq!(retry_delay_ms(2, 2_000, 0.0), 2_000);
    assert_eq!(retry_delay_ms(2, 2_000, 1.0), 4_000);
    assert_eq!(retry_delay_ms(3, 2_000, 0.5), 6_000);
    assert_eq!(retry_delay_ms(4, 2_000, 1.0), 16_000);
}

#[test]
fn the_back_off_is_capped_at_ten_minutes() {
    assert_eq!(retry_delay_ms(9, 2_000, 1.0), 512_000);
    assert_eq!(retry_delay_ms(10, 2_000, 1.0), 600_000);
    assert_eq!(retry_delay_ms(10, 2_000, 0.0), 300_000);
    assert_eq!(retry_delay_ms(64, 2_000, 1.0), 600_000);
    assert_eq!(retry_delay_ms(u32::MAX, u64::MAX, 1.0), 600_000);
    assert_eq!(retry_delay_ms(1, 10_000_000, 1.0), 600_000);
}

#[test]
fn the_back_off_clamps_its_jitter_and_counts_zero_attempts_as_one() {
    assert_eq!(retry_delay_ms(1, 2_000, -3.0), 1_000);
    assert_eq!(retry_delay_ms(1, 2_000, 7.0), 2_000);
    assert_eq!(retry_delay_ms(1, 2_000, f64::NAN), 1_000);
    assert_eq!(retry_delay_ms(0, 2_000, 1.0), 2_000);
    assert_eq!(retry_delay_ms(1, 3, 1.0), 3);
    assert_eq!(retry_delay_ms(1, 0, 1.0), 0);
}

// Message text.

#[test]
fn message_text_joins_the_text_blocks() {
    let content = json!([
        {"type": "text", "text": "First."},
        {"type": "image", "source": {"type": "url", "url": "https://x"}},
        {"type": "text", "text": ""},
        {"type": "text", "text": "Second."},
    ]);
    assert_eq!(message_text(&content), "First.\n\nSecond.");
    assert_eq!(message_text(&json!([])), "");
    assert_eq!(message_text(&json!("plain")), "plain");
    assert_eq!(message_text(&Value::Null), "");
}
