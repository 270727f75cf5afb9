use serde_json::json;

use super::*;

#[test]
fn tool_inputs_parse_into_typed_structs() {
    let bash = ToolInput::parse("bash", &json!({"command": "ls", "timeout_ms": 500})).unwrap();
    assert_eq!(
        bash,
        ToolInput::Bash(BashInput {
            command: Some("ls".into()),
            restart: false,
            timeout_ms: Some(500)
        })
    );
    let read = ToolInput::parse(
        "read",
        &json!({"file_path": "a.txt", "view_range": [2, -1]}),
    )
    .unwrap();
    assert_eq!(
        read,
        ToolInput::Read(ReadInput {
            file_path: "a.txt".into(),
            view_range: Some((2, None))
        })
    );
    let edit = ToolInput::parse(
        "edit",
        &json!({"file_path": "a", "old_string": "x", "new_string": "y"}),
    )
    .unwrap();
    assert_eq!(edit.tool(), ToolName::Edit);
    let restart = ToolInput::parse("bash", &json!({"restart": true})).unwrap();
    assert_eq!(
        restart,
        ToolInput::Bash(BashInput {
            command: None,
            restart: true,
            timeout_ms: None
        })
    );
}

#[test]
fn input_errors_name_the_field() {
    let err = ToolInput::parse("write", &json!({"file_path": "a"})).unwrap_err();
    assert_eq!(err.to_string(), "write: missing required field `content`");
    let err = ToolInput::parse("write", &json!({"file_path": 3, "content": ""})).unwrap_err();
    assert_eq!(err.to_string(), "write: field `file_path` must be a string");
    let err = ToolInput::parse("bash", &json!({"command": "x", "timeout_ms": "soon"})).unwrap_err();
    assert!(err.to_string().contains("`timeout_ms`"));
    let err = ToolInput::parse("bash", &json!({})).unwrap_err();
    assert!(err.to_string().contains("`command`"));
    let err =
        ToolInput::parse("read", &json!({"file_path": "a", "view_range": [0, 3]})).unwrap_err();
    assert!(err.to_string().contains("`view_range`"));
    let err = ToolInput::parse(
        "edit",
        &json!({"file_path": "a", "old_string": "", "new_string": "y"}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("`old_string`"));
    let err = ToolInput::parse("nope", &json!({})).unwrap_err();
    assert_eq!(err, ToolInputError::UnknownTool("nope".into()));
    let err = ToolInput::parse("glob", &json!("*.rs")).unwrap_err();
    assert_eq!(err.to_string(), "glob: input must be a JSON object");
}

#[test]
fn tool_results_use_the_messages_api_shape() {
    let result = ToolResult {
        content: vec![
            ContentBlock::Text { text: "hi".into() },
            ContentBlock::Image {
                source: Base64Source {
                    media_type: "image/png".into(),
                    data: "AAA=".into(),
                },
            },
        ],
        is_error: false,
        replayed: false,
    };
    assert_eq!(
        serde_json::to_value(&result).unwrap(),
        json!({"content": [
            {"type": "text", "text": "hi"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA="}}
        ], "is_error": false})
    );
    let back: ToolResult = serde_json::from_value(serde_json::to_value(&result).unwrap()).unwrap();
    assert_eq!(back, result);
}

#[test]
fn setup_params_accept_the_minimal_body_and_never_debug_print_secrets() {
    let params: SessionSetupParams = serde_json::from_value(json!({
        "egress": {"networking": {"type": "limited", "allowed_hosts": ["api.example.com"]}},
        "secrets": [{"name": "API_KEY", "value": "s3cr3t", "networking": {"type": "limited", "allowed_hosts": ["api.example.com"]}}]
    }))
    .unwrap();
    assert_eq!(
        params.secrets[0].injection_location,
        InjectionLocation {
            header: true,
            body: true
        }
    );
    assert!(!format!("{params:?}").contains("s3cr3t"));
    let empty: SessionSetupParams = serde_json::from_value(json!({})).unwrap();
    assert_eq!(empty, SessionSetupParams::default());
}

#[test]
fn ids_are_restricted_to_safe_file_names() {
    assert!(validate_id("tool_use_id", "toolu_01AbC-x").is_ok());
    assert!(validate_id("tool_use_id", "").is_err());
    assert!(validate_id("session_id", "../etc").is_err());
    assert!(validate_id("session_id", &"a".repeat(129)).is_err());
}
