use openma_core::testing::test_session;
use openma_core::testing::text_reply;
use openma_core::wire::EventListQuery;

async fn two_turn_log() -> Vec<openma_core::wire::SessionEvent> {
    let session = test_session()
        .with_script(text_reply("one"))
        .with_script(text_reply("two"))
        .build()
        .await;
    session.send("first").await;
    session.run().await;
    session.clock().advance_ms(60_000);
    session.send("second").await;
    session.run().await;
    session.check_invariants();
    session.events()
}

#[tokio::test]
async fn lists_pages_with_opaque_cursors_in_either_order() {
    let log = two_turn_log().await;
    let first = EventListQuery::from_pairs(&[("limit", "5")])
        .unwrap()
        .page(&log);
    assert_eq!(first.data.len(), 5);
    let cursor = first.next_page.clone().unwrap();
    assert!(cursor.starts_with("page_"));
    let rest = EventListQuery::from_pairs(&[("limit", "100"), ("page", cursor.as_str())])
        .unwrap()
        .page(&log);
    assert_eq!(first.data.len() + rest.data.len(), log.len());
    assert_eq!(rest.next_page, None);
    assert_eq!(rest.data[0].id, log[5].event.id);

    let desc = EventListQuery::from_pairs(&[("order", "desc"), ("limit", "2")])
        .unwrap()
        .page(&log);
    assert_eq!(desc.data[0].id, log.last().unwrap().event.id);
    let reuse =
        EventListQuery::from_pairs(&[("order", "asc"), ("page", desc.next_page.unwrap().as_str())]);
    assert_eq!(
        reuse.unwrap_err().path,
        "page",
        "a cursor is bound to its order"
    );
}

#[tokio::test]
async fn filters_by_type_and_processed_time() {
    let log = two_turn_log().await;
    let messages =
        EventListQuery::from_pairs(&[("types[]", "agent.message"), ("types[]", "user.message")])
            .unwrap()
            .page(&log);
    let types: Vec<_> = messages.data.iter().map(|e| e.type_name()).collect();
    assert_eq!(
        types,
        [
            "user.message",
            "agent.message",
            "user.message",
            "agent.message"
        ]
    );

    let later = EventListQuery::from_pairs(&[("created_at[gt]", "2026-04-01T12:00:30Z")])
        .unwrap()
        .page(&log);
    assert_eq!(later.data.len(), 6, "only the second turn");

    assert_eq!(
        EventListQuery::from_pairs(&[("types[]", "nope")])
            .unwrap_err()
            .path,
        "types[]"
    );
    assert_eq!(
        EventListQuery::from_pairs(&[("limit", "0")])
            .unwrap_err()
            .path,
        "limit"
    );
    assert_eq!(
        EventListQuery::from_pairs(&[("created_at[gte]", "yesterday")])
            .unwrap_err()
            .path,
        "created_at[gte]"
    );
    assert!(
        EventListQuery::from_pairs(&[("beta", "true")]).is_ok(),
        "unknown parameters are ignored"
    );
}
