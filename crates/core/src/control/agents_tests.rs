use serde_json::json;

use super::AgentUpdateError;
use super::apply_agent_update;
use super::create_agent;
use super::parse_agent_create;
use super::parse_agent_update;
use crate::wire::AgentTool;
use crate::wire::PermissionPolicy;
use crate::wire::Timestamp;

fn created() -> crate::wire::Agent {
    let params = parse_agent_create(&json!({
        "name": "Coder",
        "model": "claude-sonnet-4-6",
        "system": "Be good.",
        "tools": [{"type": "agent_toolset_20260401"}, {"type": "mcp_toolset", "mcp_server_name": "gh"}],
        "mcp_servers": [{"type": "url", "name": "gh", "url": "https://example.com/mcp"}],
        "skills": [{"type": "anthropic", "skill_id": "xlsx"}],
        "metadata": {"team": "a"},
        "unknown_future_field": true
    }))
    .unwrap();
    create_agent(params, "agent_1".into(), Timestamp(1_000)).unwrap()
}

#[test]
fn create_resolves_tools_and_defaults() {
    let agent = created();
    assert_eq!(agent.version, 1);
    assert_eq!(agent.skills[0].version, "latest");
    let AgentTool::McpToolset(mcp) = &agent.tools[1] else {
        panic!("not mcp")
    };
    assert_eq!(
        mcp.default_config.permission_policy,
        PermissionPolicy::AlwaysAsk
    );
    let value = serde_json::to_value(&agent).unwrap();
    assert_eq!(value["type"], "agent");
    assert_eq!(value["model"], json!({"id": "claude-sonnet-4-6"}));
    assert_eq!(
        value["execution_identity"],
        json!({"type": "service_account"})
    );
}

#[test]
fn create_errors_name_the_field() {
    let cases = [
        (json!({"model": "m"}), "name"),
        (json!({"name": "", "model": "m"}), "name"),
        (json!({"name": "a"}), "model"),
        (json!({"name": "a", "model": {"speed": "fast"}}), "model.id"),
        (
            json!({"name": "a", "model": "m", "tools": [{"type": "custom", "name": "x", "input_schema": {"type": "array"}}]}),
            "tools[0].input_schema.type",
        ),
        (
            json!({"name": "a", "model": "m", "mcp_servers": [{"type": "url", "name": "gh", "url": "u"}]}),
            "mcp_servers[0].name",
        ),
        (
            json!({"name": "a", "model": "m", "skills": [{"type": "other", "skill_id": "s"}]}),
            "skills[0].type",
        ),
    ];
    for (body, path) in cases {
        let result = parse_agent_create(&body)
            .and_then(|params| create_agent(params, "agent_x".into(), Timestamp(0)));
        assert_eq!(result.unwrap_err().path, path, "{body}");
    }
    let mut metadata = serde_json::Map::new();
    for i in 0..17 {
        metadata.insert(format!("k{i}"), json!("v"));
    }
    let params =
        parse_agent_create(&json!({"name": "a", "model": "m", "metadata": metadata})).unwrap();
    assert_eq!(
        create_agent(params, "agent_x".into(), Timestamp(0))
            .unwrap_err()
            .path,
        "metadata"
    );
}

#[test]
fn updates_bump_the_version_only_when_something_changes() {
    let agent = created();
    let noop = parse_agent_update(&json!({"name": "Coder", "metadata": {"team": "a"}})).unwrap();
    assert_eq!(
        apply_agent_update(&agent, noop, Timestamp(2_000)).unwrap(),
        None
    );

    let update = parse_agent_update(
        &json!({"system": "", "metadata": {"team": null, "owner": "b"}, "version": 1}),
    )
    .unwrap();
    let next = apply_agent_update(&agent, update, Timestamp(2_000))
        .unwrap()
        .unwrap();
    assert_eq!(next.version, 2);
    assert_eq!(next.system, None, "an empty string clears");
    assert_eq!(next.metadata.get("owner").map(String::as_str), Some("b"));
    assert!(!next.metadata.contains_key("team"));
    assert_eq!(next.updated_at, Timestamp(2_000));
    assert_eq!(next.name, "Coder", "omitted fields are kept");
}

#[test]
fn update_rules_are_enforced() {
    let agent = created();
    assert_eq!(
        parse_agent_update(&json!({"name": null})).unwrap_err().path,
        "name"
    );
    assert_eq!(
        parse_agent_update(&json!({"model": null}))
            .unwrap_err()
            .path,
        "model"
    );
    let stale = parse_agent_update(&json!({"name": "x", "version": 7})).unwrap();
    assert_eq!(
        apply_agent_update(&agent, stale, Timestamp(0)),
        Err(AgentUpdateError::VersionConflict {
            expected: 7,
            actual: 1
        })
    );
    let orphan = parse_agent_update(&json!({"tools": null})).unwrap();
    let err = apply_agent_update(&agent, orphan, Timestamp(0)).unwrap_err();
    assert!(
        matches!(err, AgentUpdateError::Invalid(ref e) if e.path == "mcp_servers[0].name"),
        "{err}"
    );
    let mut archived = agent;
    archived.archived_at = Some(Timestamp(5));
    assert_eq!(
        apply_agent_update(&archived, Default::default(), Timestamp(0)),
        Err(AgentUpdateError::Archived)
    );
}

#[test]
fn the_built_in_tool_shorthand_becomes_the_agent_toolset_with_those_tools_enabled() {
    let params = parse_agent_create(&json!({
        "name": "smoke",
        "model": "claude-sonnet-4-6",
        "tools": [{"type": "bash"}, {"type": "custom", "name": "x", "input_schema": {"type": "object"}}, {"type": "read"}, {"type": "bash"}]
    }))
    .unwrap();
    let agent = create_agent(params, "agent_1".into(), Timestamp(1)).unwrap();
    let wire = serde_json::to_value(&agent).unwrap();
    let tools = wire["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2, "{tools:#?}");
    assert_eq!(tools[0]["type"], "agent_toolset_20260401");
    assert_eq!(tools[1]["type"], "custom");
    let enabled: Vec<&str> = tools[0]["configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["enabled"] == true)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(enabled.len(), 2, "{enabled:?}");
    assert!(enabled.contains(&"bash") && enabled.contains(&"read"));
    assert!(
        tools
            .iter()
            .all(|t| t["type"] != "bash" && t["type"] != "read")
    );
    let toolset = crate::tools::Toolset::from_agent_tools(&agent.tools);
    assert_ne!(toolset.decide("bash"), crate::tools::ToolDecision::Refused);
    assert_eq!(toolset.decide("write"), crate::tools::ToolDecision::Refused);
}

#[test]
fn the_shorthand_refuses_what_would_be_ambiguous_or_ignored() {
    let err = |tools: serde_json::Value| {
        parse_agent_create(&json!({"name": "a", "model": "m", "tools": tools}))
            .unwrap_err()
            .to_string()
    };
    let mixed = err(json!([{"type": "agent_toolset_20260401"}, {"type": "bash"}]));
    assert!(mixed.starts_with("tools[0].type: "), "{mixed}");
    assert!(mixed.contains("not both"), "{mixed}");
    let extra = err(json!([{"type": "bash", "permission_policy": {"type": "always_ask"}}]));
    assert!(extra.starts_with("tools[0].permission_policy: "), "{extra}");
    assert!(extra.contains("not supported"), "{extra}");
    let unknown = err(json!([{"type": "teleport"}]));
    assert!(unknown.starts_with("tools[0].type: "), "{unknown}");
    let update = parse_agent_update(&json!({"tools": [{"type": "grep"}]})).unwrap();
    assert!(format!("{update:?}").contains("AgentToolset"), "{update:?}");
}
