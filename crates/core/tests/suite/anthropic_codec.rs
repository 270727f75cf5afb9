use openma_core::llm::Message;
use openma_core::llm::ModelErrorKind;
use openma_core::llm::ModelEvent;
use openma_core::llm::ModelRequest;
use openma_core::llm::ModelStopReason;
use openma_core::llm::Part;
use openma_core::llm::ProviderCodec;
use openma_core::llm::Role;
use openma_core::llm::ToolSpec;
use openma_core::llm::anthropic::AnthropicCodec;
use openma_core::wire::ContentBlock;
use openma_core::wire::ModelUsage;
use serde_json::json;

use super::codec_support;
use super::codec_support::Decoded;

const TEXT: &str = include_str!("../fixtures/anthropic/text.sse");
const TOOL_USE: &str = include_str!("../fixtures/anthropic/tool_use.sse");
const OVERLOADED: &str = include_str!("../fixtures/anthropic/overloaded.sse");
const MALFORMED: &str = include_str!("../fixtures/anthropic/malformed.sse");
const TRUNCATED: &str = include_str!("../fixtures/anthropic/truncated.sse");

fn decode(chunks: &[&[u8]]) -> Decoded {
    codec_support::decode(&AnthropicCodec, chunks)
}

fn decode_whole(fixture: &str) -> Decoded {
    decode(&[fixture.as_bytes()])
}

#[test]
fn every_fixture_decodes_identically_at_any_chunk_boundary() {
    for fixture in [TEXT, TOOL_USE, OVERLOADED, MALFORMED, TRUNCATED] {
        codec_support::assert_split_invariant(&AnthropicCodec, fixture, 50);
    }
}

#[test]
fn decodes_a_text_response_with_usage() {
    let (events, end) = decode_whole(TEXT);
    assert_eq!(end, Ok(()));
    let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
    let started = ModelUsage {
        input_tokens: 25,
        output_tokens: 1,
        cache_read_input_tokens: 400,
        cache_creation_input_tokens: 100,
        speed: None,
    };
    assert_eq!(
        events,
        vec![
            ModelEvent::Started { usage: started },
            ModelEvent::TextDelta {
                text: "Hello, ".into()
            },
            ModelEvent::TextDelta {
                text: "wörld! 👋".into()
            },
            ModelEvent::Completed {
                stop_reason: ModelStopReason::EndTurn,
                usage: ModelUsage {
                    output_tokens: 15,
                    ..started
                }
            },
        ]
    );
}

#[test]
fn decodes_thinking_text_and_streamed_tool_input() {
    let (events, end) = decode_whole(TOOL_USE);
    assert_eq!(end, Ok(()));
    let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        events[1],
        ModelEvent::ThinkingDelta {
            thinking: String::new()
        }
    );
    assert_eq!(
        events[2],
        ModelEvent::ThinkingDelta {
            thinking: "I should list files.".into()
        }
    );
    assert_eq!(
        events[3],
        ModelEvent::TextDelta {
            text: "Let me look.".into()
        }
    );
    assert_eq!(
        events[4],
        ModelEvent::ToolUse {
            id: "toolu_01".into(),
            name: "bash".into(),
            input: json!({"command": "ls -la"}).as_object().unwrap().clone()
        }
    );
    assert_eq!(
        events[5],
        ModelEvent::ToolUse {
            id: "toolu_02".into(),
            name: "read".into(),
            input: serde_json::Map::new()
        }
    );
    assert!(
        matches!(&events[6], ModelEvent::Completed { stop_reason: ModelStopReason::ToolUse, usage } if usage.output_tokens == 89 && usage.input_tokens == 472)
    );
}

#[test]
fn stream_errors_are_classified() {
    let (events, end) = decode_whole(OVERLOADED);
    let error = events.into_iter().find_map(Result::err).unwrap();
    assert_eq!(error.kind, ModelErrorKind::Overloaded);
    assert!(error.is_retryable());
    assert_eq!(end, Ok(()), "the error was already reported");

    let (events, _) = decode_whole(MALFORMED);
    assert_eq!(
        events.into_iter().find_map(Result::err).unwrap().kind,
        ModelErrorKind::MalformedStream
    );

    let (events, end) = decode_whole(TRUNCATED);
    assert!(events.iter().all(Result::is_ok));
    assert_eq!(end.unwrap_err().kind, ModelErrorKind::BrokenStream);

    let (events, _) = decode(&[b"event: message_start\ndata: {not json\n\n"]);
    assert_eq!(
        events[0].clone().unwrap_err().kind,
        ModelErrorKind::MalformedStream
    );
}

#[test]
fn http_errors_are_classified_as_retryable_or_not() {
    let codec = AnthropicCodec;
    let overloaded = codec.classify_error(
        529,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        None,
    );
    assert_eq!(
        (overloaded.kind.clone(), overloaded.message.as_str()),
        (ModelErrorKind::Overloaded, "Overloaded")
    );
    let cases = [
        (429, true),
        (500, true),
        (502, true),
        (503, true),
        (408, true),
        (400, false),
        (401, false),
        (402, false),
        (403, false),
        (404, false),
        (413, false),
    ];
    for (status, retryable) in cases {
        assert_eq!(
            codec.classify_error(status, "oops", None).is_retryable(),
            retryable,
            "status {status}"
        );
    }
    let limited = codec.classify_error(429, "{}", Some(3_000));
    assert_eq!(limited.retry_after_ms, Some(3_000));
}

#[test]
fn request_json_has_a_cached_stable_prefix() {
    let request = ModelRequest {
        model: "claude-sonnet-4-5".into(),
        system: Some("Be helpful.".into()),
        messages: vec![
            Message {
                role: Role::User,
                content: vec![Part::Content {
                    block: ContentBlock::text("list files"),
                }],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Content {
                        block: ContentBlock::text("Sure."),
                    },
                    Part::ToolUse {
                        id: "sevt_s_000004".into(),
                        name: "bash".into(),
                        input: json!({"command": "ls"}).as_object().unwrap().clone(),
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    Part::ToolResult {
                        tool_use_id: "sevt_s_000004".into(),
                        content: vec![ContentBlock::text("a.txt")],
                        is_error: false,
                    },
                    Part::System {
                        text: "Answer briefly.".into(),
                    },
                ],
            },
        ],
        tools: vec![
            ToolSpec {
                name: "bash".into(),
                description: "Run bash.".into(),
                input_schema: json!({"type": "object"}),
            },
            ToolSpec {
                name: "lookup".into(),
                description: "Look up.".into(),
                input_schema: json!({"type": "object"}),
            },
        ],
        max_tokens: 1024,
    };
    let body = AnthropicCodec.request_body(&request);
    assert_eq!(AnthropicCodec.path(), "v1/messages");
    assert_eq!(
        body,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "stream": true,
            "system": [{"type": "text", "text": "Be helpful.", "cache_control": {"type": "ephemeral"}}],
            "tools": [
                {"name": "bash", "description": "Run bash.", "input_schema": {"type": "object"}},
                {"name": "lookup", "description": "Look up.", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}
            ],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "list files"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Sure."},
                    {"type": "tool_use", "id": "sevt_s_000004", "name": "bash", "input": {"command": "ls"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "sevt_s_000004", "content": [{"type": "text", "text": "a.txt"}]},
                    {"type": "text", "text": "<system>\nAnswer briefly.\n</system>", "cache_control": {"type": "ephemeral"}}
                ]}
            ]
        })
    );
}
