use openma_core::StepOutcome;
use openma_core::llm::ModelError;
use openma_core::llm::ModelErrorKind;
use openma_core::llm::RetryPolicy;
use openma_core::ports::Clock;
use openma_core::testing::Script;
use openma_core::testing::ev_completed;
use openma_core::testing::ev_failed;
use openma_core::testing::ev_started;
use openma_core::testing::ev_text;
use openma_core::testing::test_session;
use openma_core::testing::text_reply;
use openma_core::wire::SessionStatus;

fn fail(kind: ModelErrorKind) -> Script {
    Script::Fail(ModelError::new(kind, "scripted failure"))
}

#[tokio::test]
async fn transient_error_is_retried_after_backoff_then_succeeds() {
    let session = test_session()
        .with_script(fail(ModelErrorKind::Overloaded))
        .with_script(text_reply("back"))
        .build()
        .await;
    session.send("hi").await;
    let start = session.clock().now();

    let outcome = session.run().await;
    assert_eq!(
        outcome,
        StepOutcome::WaitUntil(start.plus_ms(1_000)),
        "the delay comes from the backoff policy"
    );
    assert_eq!(
        session.harness.state().summary.status,
        SessionStatus::Rescheduling
    );
    assert_eq!(
        session.run().await,
        outcome,
        "nothing happens before the retry time"
    );

    session.clock().advance_ms(1_000);
    assert_eq!(session.run().await, StepOutcome::Idle);

    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"hi\"
2 session.status_running
3 span.model_request_start
4 span.model_request_end #3 in=0 out=0 error
5 session.error model_overloaded_error retrying
6 session.status_rescheduled
7 span.model_request_start
8 agent.message \"back\"
9 span.model_request_end #7 in=10 out=5
10 session.status_idle end_turn"
    );
    assert_eq!(session.harness.state().summary.status, SessionStatus::Idle);
}

#[tokio::test]
async fn broken_and_malformed_streams_are_retried() {
    let session = test_session()
        .with_script(vec![ev_started(), ev_text("half")])
        .with_script(vec![ev_started(), ev_completed(), ev_text("after the end")])
        .with_script(vec![
            ev_started(),
            ev_failed(ModelErrorKind::MalformedStream),
        ])
        .with_script(text_reply("whole"))
        .build()
        .await;
    session.send("hi").await;
    assert_eq!(session.run_through_retries().await, StepOutcome::Idle);

    session.check_invariants();
    let shape = session.shape();
    assert_eq!(
        shape.matches("model_request_failed_error retrying").count(),
        3,
        "{shape}"
    );
    assert!(shape.ends_with("16 agent.message \"whole\"\n17 span.model_request_end #15 in=10 out=5\n18 session.status_idle end_turn"), "{shape}");
    assert!(
        !shape.contains("half"),
        "a broken reply leaves no agent events"
    );
}

#[tokio::test]
async fn backoff_grows_and_honours_retry_after() {
    let policy = RetryPolicy {
        max_attempts: 5,
        base_delay_ms: 1_000,
        max_delay_ms: 3_000,
    };
    assert_eq!(policy.backoff_delay_ms(1, None), 1_000);
    assert_eq!(policy.backoff_delay_ms(2, None), 2_000);
    assert_eq!(policy.backoff_delay_ms(3, None), 3_000);
    assert_eq!(policy.backoff_delay_ms(30, None), 3_000);
    assert_eq!(policy.backoff_delay_ms(1, Some(7_000)), 7_000);

    let mut limited = ModelError::new(ModelErrorKind::RateLimited, "slow down");
    limited.retry_after_ms = Some(5_000);
    let session = test_session()
        .with_script(Script::Fail(limited))
        .with_script(text_reply("ok"))
        .build()
        .await;
    session.send("hi").await;
    let start = session.clock().now();
    assert_eq!(
        session.run().await,
        StepOutcome::WaitUntil(start.plus_ms(5_000))
    );
    assert!(
        session
            .shape()
            .contains("model_rate_limited_error retrying")
    );
    let reopened = session.restart().await;
    assert_eq!(
        reopened.run().await,
        StepOutcome::WaitUntil(start.plus_ms(5_000)),
        "the wait survives a restart"
    );
    reopened.clock().advance_ms(5_000);
    assert_eq!(reopened.run().await, StepOutcome::Idle);
    reopened.check_invariants();
}

#[tokio::test]
async fn retries_exhausted_ends_the_turn_and_flushes_the_queue() {
    let session = test_session()
        .with_retry(RetryPolicy {
            max_attempts: 2,
            base_delay_ms: 10,
            max_delay_ms: 10,
        })
        .with_script(fail(ModelErrorKind::Server { status: 500 }))
        .with_script(fail(ModelErrorKind::Server { status: 503 }))
        .build()
        .await;
    session.send("hi").await;
    session.harness.step().await.unwrap();
    session.send("queued meanwhile").await;
    assert_eq!(session.run_through_retries().await, StepOutcome::Idle);

    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"hi\"
2 session.status_running
3 user.message \"queued meanwhile\"
4 span.model_request_start
5 span.model_request_end #4 in=0 out=0 error
6 session.error model_request_failed_error retrying
7 session.status_rescheduled
8 span.model_request_start
9 span.model_request_end #8 in=0 out=0 error
10 session.error model_request_failed_error exhausted
11 session.status_idle retries_exhausted"
    );
    assert!(
        session.harness.state().queued.is_empty(),
        "queued inputs are flushed with the dead turn"
    );
}

#[tokio::test]
async fn non_retryable_errors_end_the_turn_at_once() {
    let session = test_session()
        .with_script(fail(ModelErrorKind::InvalidRequest { status: 400 }))
        .build()
        .await;
    session.send("hi").await;
    assert_eq!(session.run().await, StepOutcome::Idle);
    assert!(session.shape().ends_with("session.error model_request_failed_error exhausted\n6 session.status_idle retries_exhausted"));
    session.check_invariants();
}

#[tokio::test]
async fn billing_errors_terminate_the_session() {
    let session = test_session()
        .with_script(fail(ModelErrorKind::Billing))
        .build()
        .await;
    session.send("hi").await;
    assert_eq!(session.run().await, StepOutcome::Terminated);
    session.check_invariants();
    assert!(
        session
            .shape()
            .ends_with("session.error billing_error terminal\n6 session.status_terminated")
    );
    assert!(
        session
            .harness
            .submit(vec![openma_core::wire::UserEventParams::text("more")])
            .await
            .is_err()
    );
}
