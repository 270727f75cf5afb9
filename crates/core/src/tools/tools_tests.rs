use serde_json::json;

use super::AgentToolParams;
use super::BuiltinTool;
use super::ToolDecision;
use super::Toolset;
use super::resolve_tools;
use crate::wire::AgentTool;
use crate::wire::PermissionPolicy;
use crate::wire::event::EvaluatedPermission;
use crate::wire::event::ToolEvaluation;

fn params(value: serde_json::Value) -> Vec<AgentToolParams> {
    serde_json::from_value(value).unwrap()
}

#[test]
fn toolset_defaults_to_enabled_and_always_allow_with_every_tool_listed() {
    let tools = resolve_tools(&params(json!([{"type": "agent_toolset_20260401"}]))).unwrap();
    let AgentTool::AgentToolset(toolset) = &tools[0] else {
        panic!("not a toolset")
    };
    assert!(toolset.default_config.enabled);
    assert_eq!(
        toolset.default_config.permission_policy,
        PermissionPolicy::AlwaysAllow
    );
    let names: Vec<_> = toolset.configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, BuiltinTool::ALL.map(BuiltinTool::name));
    assert!(
        toolset
            .configs
            .iter()
            .all(|c| c.enabled && c.kind.as_deref() == Some(c.name.as_str()))
    );
}

#[test]
fn per_tool_config_overrides_the_default_which_overrides_the_toolset_default() {
    let tools = resolve_tools(&params(json!([{
        "type": "agent_toolset_20260401",
        "default_config": {"enabled": false, "permission_policy": {"type": "always_ask"}},
        "configs": [{"name": "bash", "enabled": true}, {"name": "read", "enabled": true, "permission_policy": {"type": "always_allow"}},
                    {"name": "web_fetch", "type": "web_fetch", "allowed_domains": ["docs.rs"]}]
    }]))).unwrap();
    let toolset = Toolset::from_agent_tools(&tools);
    let offered: Vec<_> = toolset.specs().into_iter().map(|s| s.name).collect();
    assert_eq!(offered, ["bash", "read"], "enable-only-some pattern");
    assert_eq!(
        toolset.decide("bash"),
        ToolDecision::Builtin {
            tool: BuiltinTool::Bash,
            permission: EvaluatedPermission::Ask,
            evaluation: ToolEvaluation::AlwaysAsk
        }
    );
    assert_eq!(
        toolset.decide("read"),
        ToolDecision::Builtin {
            tool: BuiltinTool::Read,
            permission: EvaluatedPermission::Allow,
            evaluation: ToolEvaluation::AlwaysAllow
        }
    );
    assert_eq!(toolset.decide("write"), ToolDecision::Refused, "disabled");
    assert_eq!(toolset.decide("nope"), ToolDecision::Refused, "unknown");
    let AgentTool::AgentToolset(resolved) = &tools[0] else {
        panic!("not a toolset")
    };
    let web_fetch = resolved
        .configs
        .iter()
        .find(|c| c.name == "web_fetch")
        .unwrap();
    assert_eq!(
        web_fetch.settings["allowed_domains"],
        json!(["docs.rs"]),
        "web settings are kept"
    );
}

#[test]
fn mcp_toolsets_default_to_always_ask() {
    let tools = resolve_tools(&params(
        json!([{"type": "mcp_toolset", "mcp_server_name": "github",
        "configs": [{"name": "search", "permission_policy": {"type": "always_allow"}}]}]),
    ))
    .unwrap();
    let AgentTool::McpToolset(mcp) = &tools[0] else {
        panic!("not mcp")
    };
    assert_eq!(
        mcp.default_config.permission_policy,
        PermissionPolicy::AlwaysAsk
    );
    assert_eq!(
        mcp.configs[0].permission_policy,
        PermissionPolicy::AlwaysAllow
    );
}

#[test]
fn auto_policy_asks_until_a_judge_exists() {
    let tools = resolve_tools(&params(json!([{"type": "agent_toolset_20260401", "default_config": {"permission_policy": {"type": "auto"}}}]))).unwrap();
    let ToolDecision::Builtin {
        permission,
        evaluation,
        ..
    } = Toolset::from_agent_tools(&tools).decide("glob")
    else {
        panic!()
    };
    assert_eq!(permission, EvaluatedPermission::Ask);
    assert!(matches!(evaluation, ToolEvaluation::Auto { .. }));
}

#[test]
fn custom_tools_are_offered_and_decided_as_custom() {
    let tools = resolve_tools(&params(json!([{"type": "custom", "name": "get_weather", "description": "w", "input_schema": {"type": "object"}}]))).unwrap();
    let toolset = Toolset::from_agent_tools(&tools);
    assert_eq!(toolset.decide("get_weather"), ToolDecision::Custom);
    assert_eq!(toolset.specs()[0].input_schema, json!({"type": "object"}));
}

#[test]
fn invalid_tool_configs_name_the_field() {
    let cases = [
        (
            json!([{"type": "agent_toolset_20260401", "configs": [{"name": "bash"}, {"name": "nope"}]}]),
            "tools[0].configs[1].name",
        ),
        (
            json!([{"type": "agent_toolset_20260401", "configs": [{"name": "bash", "type": "read"}]}]),
            "tools[0].configs[0].type",
        ),
        (
            json!([{"type": "agent_toolset_20260401", "configs": [{"name": "bash"}, {"name": "bash"}]}]),
            "tools[0].configs[1].name",
        ),
        (
            json!([{"type": "agent_toolset_20260401"}, {"type": "custom", "name": "bad name", "input_schema": {}}]),
            "tools[1].name",
        ),
    ];
    for (value, path) in cases {
        assert_eq!(resolve_tools(&params(value)).unwrap_err().path, path);
    }
}

#[test]
fn every_builtin_tool_has_an_object_schema() {
    for tool in BuiltinTool::ALL {
        assert_eq!(tool.input_schema()["type"], "object", "{}", tool.name());
        assert_eq!(BuiltinTool::from_name(tool.name()), Some(tool));
    }
}
