use std::cell::RefCell;

use openma_core::StepObserver;
use openma_core::StepOutcome;
use openma_core::testing::ev_completed;
use openma_core::testing::ev_started;
use openma_core::testing::ev_text;
use openma_core::testing::ev_thinking;
use openma_core::testing::test_session;
use openma_core::wire::StreamPreview;
use serde_json::json;

#[derive(Default)]
struct Collect(RefCell<Vec<StreamPreview>>);

impl StepObserver for Collect {
    fn preview(&self, preview: StreamPreview) {
        self.0.borrow_mut().push(preview);
    }
}

#[tokio::test]
async fn previews_carry_the_ids_of_the_events_they_announce() {
    let session = test_session()
        .with_script(vec![
            ev_started(),
            ev_thinking("hmm"),
            ev_text("Hel"),
            ev_text("lo"),
            ev_completed(),
        ])
        .build()
        .await;
    session.send("hi").await;
    let observer = Collect::default();
    while session.harness.step_with(&observer).await.unwrap() == StepOutcome::Continue {}

    session.check_invariants();
    let ids: Vec<_> = session.events().into_iter().map(|e| e.event.id).collect();
    let frames: Vec<_> = observer
        .0
        .take()
        .into_iter()
        .map(|p| serde_json::to_value(p).unwrap())
        .collect();
    assert_eq!(
        frames,
        vec![
            json!({"type": "event_start", "event": {"type": "agent.thinking", "id": ids[3]}}),
            json!({"type": "event_start", "event": {"type": "agent.message", "id": ids[4]}}),
            json!({"type": "event_delta", "event_id": ids[4], "delta": {"type": "content_delta", "index": 0, "content": {"type": "text", "text": "Hel"}}}),
            json!({"type": "event_delta", "event_id": ids[4], "delta": {"type": "content_delta", "index": 0, "content": {"type": "text", "text": "lo"}}}),
        ]
    );
    assert!(
        session
            .shape()
            .contains("4 agent.thinking\n5 agent.message \"Hello\"")
    );
}
