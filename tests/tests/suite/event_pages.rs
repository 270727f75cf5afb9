//! `GET /v1/sessions/{id}/events` pages, filters and orders in the session's
//! own storage: every combination gives the slice of the whole log that the
//! same filter picks.

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Reply;
use serde_json::Value;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::agent;
use super::sessions::start;

/// Every page of `query` (`?limit=…&…`), followed through `next_page`.
async fn all_pages(api: &Api, session: &str, query: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut path = format!("/v1/sessions/{session}/events?{query}");
    loop {
        let page = api.ok(reqwest::Method::GET, &path, None).await.unwrap();
        events.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_page"].as_str() {
            Some(cursor) => path = format!("/v1/sessions/{session}/events?{query}&page={cursor}"),
            None => return events,
        }
    }
}

fn ids(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["id"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn event_pages_filter_and_order_as_the_whole_log_says() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::tool_use(
        "toolu_p1",
        "bash",
        json!({"command": "echo one"}),
    ));
    mock.push(Reply::text("First done."));
    mock.push(Reply::text("Second done."));
    let platform = start(&mock);
    let api = Api::new(&platform);
    let id = api.session_with_agent(agent("pager")).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = api.stream(&id, None, "").await.unwrap();
    for text in ["first", "second"] {
        api.send_message(&id, text).await.unwrap();
        stream.until("session.status_idle", WAIT).await.unwrap();
    }
    let whole = all_pages(&api, &id, "limit=100").await;
    assert!(whole.len() >= 14, "{}", whole.len());
    // Ascending and descending, a page at a time.
    assert_eq!(ids(&all_pages(&api, &id, "limit=3").await), ids(&whole));
    let mut reversed = whole.clone();
    reversed.reverse();
    assert_eq!(
        ids(&all_pages(&api, &id, "limit=4&order=desc").await),
        ids(&reversed)
    );
    // By type, one or several.
    for types in [
        vec!["agent.message"],
        vec!["user.message", "agent.tool_result"],
        vec!["session.status_idle"],
    ] {
        let query: String = types.iter().map(|t| format!("&types[]={t}")).collect();
        let picked: Vec<Value> = whole
            .iter()
            .filter(|e| types.contains(&e["type"].as_str().unwrap()))
            .cloned()
            .collect();
        assert!(!picked.is_empty(), "{types:?}");
        assert_eq!(
            ids(&all_pages(&api, &id, &format!("limit=1{query}")).await),
            ids(&picked),
            "{types:?}"
        );
    }
    // By time: `created_at` bounds compare with `processed_at`.
    let middle = whole[whole.len() / 2]["processed_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = |e: &Value| e["processed_at"].as_str().unwrap_or_default().to_owned();
    for (bound, keep) in [
        (
            "created_at[gte]",
            Box::new(|t: &str| t >= middle.as_str()) as Box<dyn Fn(&str) -> bool>,
        ),
        ("created_at[gt]", Box::new(|t: &str| t > middle.as_str())),
        (
            "created_at[lt]",
            Box::new(|t: &str| !t.is_empty() && t < middle.as_str()),
        ),
        (
            "created_at[lte]",
            Box::new(|t: &str| !t.is_empty() && t <= middle.as_str()),
        ),
    ] {
        let picked: Vec<Value> = whole.iter().filter(|e| keep(&at(e))).cloned().collect();
        let query = format!("limit=2&{bound}={middle}");
        assert_eq!(
            ids(&all_pages(&api, &id, &query).await),
            ids(&picked),
            "{bound}"
        );
    }
}
