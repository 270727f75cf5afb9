use serde_json::json;

use super::*;

const NOW: Timestamp = Timestamp(1_780_000_000_000);

fn lease(state: WorkState, last_heartbeat: Option<Timestamp>) -> Lease {
    Lease {
        state,
        handed_out: true,
        last_heartbeat,
        ttl_seconds: last_heartbeat.map(|_| 60),
    }
}

fn expecting(expected: &str) -> HeartbeatParams {
    HeartbeatParams {
        expected_last_heartbeat: Some(expected.to_owned()),
        desired_ttl_seconds: None,
    }
}

#[test]
fn poll_params_take_block_ms_from_1_to_999_and_default_the_reclaim() {
    assert_eq!(
        parse_poll_params(Some("999"), None).unwrap(),
        PollParams {
            block_ms: Some(999),
            reclaim_older_than_ms: DEFAULT_RECLAIM_MS
        }
    );
    assert_eq!(
        parse_poll_params(None, Some("0")).unwrap(),
        PollParams {
            block_ms: None,
            reclaim_older_than_ms: 0
        }
    );
    for bad in ["0", "1000", "-1", "soon"] {
        assert_eq!(
            parse_poll_params(Some(bad), None).unwrap_err().path,
            "block_ms",
            "{bad}"
        );
    }
    assert_eq!(
        parse_poll_params(None, Some("-5")).unwrap_err().path,
        "reclaim_older_than_ms"
    );
}

#[test]
fn a_worker_id_is_optional_and_bounded() {
    assert_eq!(parse_worker_id(None).unwrap(), None);
    assert_eq!(parse_worker_id(Some("  ")).unwrap(), None);
    assert_eq!(
        parse_worker_id(Some("host-1")).unwrap().as_deref(),
        Some("host-1")
    );
    assert!(parse_worker_id(Some(&"w".repeat(MAX_WORKER_ID + 1))).is_err());
}

#[test]
fn heartbeat_params_bound_the_ttl() {
    let params = parse_heartbeat_params(Some(NO_HEARTBEAT), Some("30")).unwrap();
    assert_eq!(params.desired_ttl_seconds, Some(30));
    assert_eq!(
        params.expected_last_heartbeat.as_deref(),
        Some(NO_HEARTBEAT)
    );
    for bad in ["0", "3601", "x"] {
        assert_eq!(
            parse_heartbeat_params(None, Some(bad)).unwrap_err().path,
            "desired_ttl_seconds"
        );
    }
}

#[test]
fn the_first_heartbeat_claims_an_unclaimed_lease() {
    let decision = heartbeat(
        &lease(WorkState::Starting, None),
        &expecting(NO_HEARTBEAT),
        300,
        NOW,
    );
    assert_eq!(
        decision,
        Heartbeat::Extend {
            last_heartbeat: NOW,
            ttl_seconds: 300
        }
    );
}

#[test]
fn a_later_heartbeat_echoes_the_stored_one_and_gets_a_new_one() {
    let stored = Timestamp(NOW.0 - 10_000);
    let decision = heartbeat(
        &lease(WorkState::Active, Some(stored)),
        &HeartbeatParams {
            expected_last_heartbeat: Some(stored.to_rfc3339()),
            desired_ttl_seconds: Some(20),
        },
        300,
        NOW,
    );
    assert_eq!(
        decision,
        Heartbeat::Extend {
            last_heartbeat: NOW,
            ttl_seconds: 20
        }
    );
    // Two heartbeats within one millisecond still differ.
    let same_ms = heartbeat(
        &lease(WorkState::Active, Some(NOW)),
        &HeartbeatParams::default(),
        300,
        NOW,
    );
    assert_eq!(
        same_ms,
        Heartbeat::Extend {
            last_heartbeat: NOW.plus_ms(1),
            ttl_seconds: 300
        }
    );
}

#[test]
fn a_stale_heartbeat_fails_its_precondition_with_the_lease_as_held() {
    let stored = Timestamp(NOW.0 - 1_000);
    let stale = Timestamp(NOW.0 - 31_000).to_rfc3339();
    let decision = heartbeat(
        &lease(WorkState::Active, Some(stored)),
        &expecting(&stale),
        300,
        NOW,
    );
    assert_eq!(
        decision,
        Heartbeat::PreconditionFailed(WorkLeaseState {
            last_heartbeat: Some(stored.to_rfc3339()),
            lease_extended: false,
            state: WorkState::Active,
            ttl_seconds: 60,
        })
    );
    // A second first heartbeat loses to the first.
    assert!(matches!(
        heartbeat(
            &lease(WorkState::Active, Some(stored)),
            &expecting(NO_HEARTBEAT),
            300,
            NOW
        ),
        Heartbeat::PreconditionFailed(_)
    ));
    // And an echo where nothing is stored fails too.
    assert!(matches!(
        heartbeat(
            &lease(WorkState::Starting, None),
            &expecting(&stale),
            300,
            NOW
        ),
        Heartbeat::PreconditionFailed(WorkLeaseState {
            last_heartbeat: None,
            ..
        })
    ));
}

#[test]
fn a_stopping_or_stopped_item_declines_without_comparing() {
    let stored = Timestamp(NOW.0 - 1_000);
    for state in [WorkState::Stopping, WorkState::Stopped] {
        let decision = heartbeat(
            &lease(state, Some(stored)),
            &expecting("whatever"),
            300,
            NOW,
        );
        assert_eq!(
            decision,
            Heartbeat::Decline(WorkHeartbeat {
                kind: WorkHeartbeatType::Tag,
                last_heartbeat: stored.to_rfc3339(),
                lease_extended: false,
                state,
                ttl_seconds: 60,
            })
        );
    }
}

#[test]
fn an_item_no_poll_handed_out_cannot_be_heartbeaten_or_acked() {
    let waiting = Lease {
        state: WorkState::Queued,
        handed_out: false,
        last_heartbeat: None,
        ttl_seconds: None,
    };
    assert_eq!(
        heartbeat(&waiting, &expecting(NO_HEARTBEAT), 300, NOW),
        Heartbeat::NotHandedOut
    );
    assert!(matches!(ack(&waiting), Ack::Refuse(_)));
}

#[test]
fn ack_moves_a_handed_out_item_to_starting_once() {
    assert_eq!(ack(&lease(WorkState::Queued, None)), Ack::Acknowledge);
    assert_eq!(ack(&lease(WorkState::Starting, None)), Ack::Unchanged);
    assert_eq!(ack(&lease(WorkState::Active, Some(NOW))), Ack::Unchanged);
    assert!(matches!(
        ack(&lease(WorkState::Stopped, None)),
        Ack::Refuse(_)
    ));
}

#[test]
fn stop_asks_a_held_item_to_stop_unless_forced() {
    assert_eq!(stop(WorkState::Active, false), Stop::RequestStop);
    assert_eq!(stop(WorkState::Starting, false), Stop::RequestStop);
    assert_eq!(stop(WorkState::Active, true), Stop::Stop);
    assert_eq!(stop(WorkState::Queued, false), Stop::Stop);
    assert_eq!(stop(WorkState::Stopping, false), Stop::Unchanged);
    assert_eq!(stop(WorkState::Stopping, true), Stop::Stop);
    assert_eq!(stop(WorkState::Stopped, true), Stop::AlreadyStopped);
}

#[test]
fn stop_and_update_bodies_refuse_unknown_fields() {
    assert!(parse_stop(&json!({"force": true})).unwrap());
    assert!(!parse_stop(&json!({})).unwrap());
    assert!(!parse_stop(&serde_json::Value::Null).unwrap());
    assert_eq!(parse_stop(&json!({"hard": true})).unwrap_err().path, "hard");
    assert_eq!(
        parse_stop(&json!({"force": "yes"})).unwrap_err().path,
        "force"
    );

    let patch = parse_update(&json!({"metadata": {"a": "1", "b": null}})).unwrap();
    assert_eq!(patch.get("a"), Some(&Some("1".to_owned())));
    assert_eq!(patch.get("b"), Some(&None));
    assert_eq!(
        parse_update(&json!({"metadata": {"a": 1}}))
            .unwrap_err()
            .path,
        "metadata.a"
    );
    assert_eq!(
        parse_update(&json!({"state": "x"})).unwrap_err().path,
        "state"
    );
}

#[test]
fn the_secret_carries_the_sessions_token_as_the_sdk_reads_it() {
    let secret = encode_secret("oma_work_abc");
    assert!(!secret.contains('=') && !secret.contains('+') && !secret.contains('/'));
    assert_eq!(
        sessions_token_from_secret(&secret).as_deref(),
        Some("oma_work_abc")
    );
    assert_eq!(sessions_token_from_secret("not base64!"), None);
    assert_eq!(sessions_token_from_secret(&encode_secret("")), None);
}

#[test]
fn work_states_round_trip_through_their_stored_names() {
    for state in [
        WorkState::Queued,
        WorkState::Starting,
        WorkState::Active,
        WorkState::Stopping,
        WorkState::Stopped,
    ] {
        assert_eq!(WorkState::parse(state.as_str()), Some(state));
        assert_eq!(serde_json::to_value(state).unwrap(), json!(state.as_str()));
    }
    assert_eq!(WorkState::parse("pending"), None);
}

#[test]
fn self_hosted_sessions_refuse_file_github_and_memory_resources() {
    let at = |i: usize| format!("resources[{i}]");
    assert!(check_self_hosted_resources(&[], &at).is_ok());
    let other = json!({"type": "something_else"});
    assert!(check_self_hosted_resources(std::slice::from_ref(&other), &at).is_ok());
    for kind in ["file", "github_repository", "memory_store"] {
        let err =
            check_self_hosted_resources(&[other.clone(), json!({"type": kind})], &at).unwrap_err();
        assert_eq!(err.path, "resources[1].type");
        assert!(err.message.contains("self_hosted"), "{}", err.message);
        let err =
            check_self_hosted_resources(&[json!({"type": kind})], &|_| String::new()).unwrap_err();
        assert_eq!(err.path, "type");
    }
}
