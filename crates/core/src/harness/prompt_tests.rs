use serde_json::Map;

use super::project_history;
use crate::llm::Part;
use crate::llm::Role;
use crate::session::HistoryItem;
use crate::wire::ContentBlock;

fn user(text: &str) -> HistoryItem {
    HistoryItem::User {
        content: vec![ContentBlock::text(text)],
    }
}

fn tool_use(id: &str) -> HistoryItem {
    HistoryItem::ToolUse {
        id: id.into(),
        name: "bash".into(),
        input: Map::new(),
    }
}

fn result(id: &str) -> HistoryItem {
    HistoryItem::ToolResult {
        tool_use_id: id.into(),
        content: vec![ContentBlock::text("ok")],
        is_error: false,
    }
}

#[test]
fn tool_results_open_the_user_message_even_when_text_arrived_first() {
    let messages = project_history(&[user("go"), tool_use("t1"), user("also this"), result("t1")]);
    let roles: Vec<_> = messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::User]);
    assert!(matches!(messages[2].content[0], Part::ToolResult { .. }));
    assert!(matches!(messages[2].content[1], Part::Content { .. }));
}

#[test]
fn calls_without_results_get_a_synthetic_error_result() {
    let messages = project_history(&[user("go"), tool_use("t1"), tool_use("t2"), result("t2")]);
    assert_eq!(messages.len(), 3);
    let results: Vec<_> = messages[2]
        .content
        .iter()
        .filter_map(|p| match p {
            Part::ToolResult {
                tool_use_id,
                is_error,
                ..
            } => Some((tool_use_id.as_str(), *is_error)),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 2);
    assert!(results.contains(&("t1", true)));
    let trailing = project_history(&[user("go"), tool_use("t1")]);
    assert_eq!(
        trailing.len(),
        3,
        "a trailing open call is answered in a new user message"
    );
}

#[test]
fn system_messages_stay_on_the_user_side() {
    let messages = project_history(&[
        user("go"),
        HistoryItem::System {
            text: "be brief".into(),
        },
    ]);
    assert_eq!(messages.len(), 1);
    assert!(matches!(&messages[0].content[1], Part::System { text } if text == "be brief"));
}
