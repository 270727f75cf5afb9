use openma_core::llm::Message;
use openma_core::llm::ModelError;
use openma_core::llm::ModelErrorKind;
use openma_core::llm::ModelEvent;
use openma_core::llm::ModelRequest;
use openma_core::llm::ModelStopReason;
use openma_core::llm::Part;
use openma_core::llm::ProviderCodec;
use openma_core::llm::Role;
use openma_core::llm::StreamDecoder;
use openma_core::llm::ToolSpec;
use openma_core::llm::openai;
use openma_core::llm::openai::OpenAiCodec;
use openma_core::llm::openai::OutputCap;
use openma_core::wire::ContentBlock;
use openma_core::wire::ModelUsage;
use openma_core::wire::RetryStatus;
use openma_core::wire::content::DocumentBlock;
use openma_core::wire::content::DocumentSource;
use openma_core::wire::content::ImageBlock;
use openma_core::wire::content::ImageSource;
use openma_core::wire::content::RedactedBlock;
use openma_core::wire::content::SearchResultBlock;
use openma_core::wire::content::SearchResultCitations;
use openma_core::wire::content::TextContent;
use serde_json::Map;
use serde_json::Value;
use serde_json::json;

use super::codec_support;
use super::codec_support::Decoded;

// ---------------------------------------------------------------- fixtures

/// A text reply: a role chunk, two text chunks (multi-byte characters), the
/// finish chunk, then the usage chunk with empty `choices`, and a keep-alive
/// comment as some servers send.
const TEXT: &str = r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}

: keep-alive

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hello, "},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"wörld! 👋"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":15,"total_tokens":1215,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}

data: [DONE]

"#;

/// Text, then two parallel tool calls whose argument fragments interleave
/// by index (one chunk carries fragments of both).
const TOOL_CALLS: &str = r#"data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Let me look."},"finish_reason":null}]}

data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"bash","arguments":""}}]},"finish_reason":null}]}

data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"read","arguments":"{\"pa"}}]},"finish_reason":null}]}

data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"comm"}}]},"finish_reason":null}]}

data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"th\": \"ä.txt\"}"}},{"index":0,"function":{"arguments":"and\":\"ls -la\""}}]},"finish_reason":null}]}

data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"}"}}]},"finish_reason":null}]}

data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: {"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":30,"total_tokens":80}}

data: [DONE]

"#;

/// Reasoning deltas as DeepSeek/vLLM (`reasoning_content`) and OpenRouter /
/// Ollama (`reasoning`) send them.
const REASONING: &str = r#"data: {"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Think"},"finish_reason":null}]}

data: {"choices":[{"index":0,"delta":{"reasoning":"ing."},"finish_reason":null}]}

data: {"choices":[{"index":0,"delta":{"content":"42"},"finish_reason":"stop"}]}

data: [DONE]

"#;

/// A server error reported inside a 200 stream.
const STREAM_ERROR: &str = r#"data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}

data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}

data: [DONE]

"#;

/// A body cut off mid-chunk.
const TRUNCATED: &str = r#"data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}

data: {"choices":[{"index":0,"delta":{"content":"lo"#;

/// A chunk that is not JSON.
const MALFORMED: &str = r#"data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}

data: {not json

data: [DONE]

"#;

// ----------------------------------------------------------------- helpers

fn decode(chunks: &[&[u8]]) -> Decoded {
    codec_support::decode(&OpenAiCodec::default(), chunks)
}

fn decode_whole(body: &str) -> Decoded {
    decode(&[body.as_bytes()])
}

/// The events of a body that must decode without error.
fn events_of(body: &str) -> Vec<ModelEvent> {
    let (events, end) = decode_whole(body);
    assert_eq!(end, Ok(()));
    events.into_iter().map(Result::unwrap).collect()
}

/// The first error of a body and what `finish` said.
fn first_error(body: &str) -> (ModelError, Result<(), ModelError>) {
    let (events, end) = decode_whole(body);
    let Some(error) = events.into_iter().find_map(Result::err) else {
        panic!("no error event in {body:?}");
    };
    (error, end)
}

/// One `data:` line of a chunk whose first choice has `delta` and `finish`.
fn chunk(delta: Value, finish: Option<&str>) -> String {
    let chunk = json!({
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    format!("data: {chunk}\n\n")
}

fn object(value: Value) -> Map<String, Value> {
    let Value::Object(map) = value else {
        panic!("not a JSON object: {value}");
    };
    map
}

fn text(text: &str) -> Part {
    Part::Content {
        block: ContentBlock::text(text),
    }
}

fn request(messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        model: "gpt-4o".into(),
        system: None,
        messages,
        tools: Vec::new(),
        max_tokens: 512,
    }
}

fn user(content: Vec<Part>) -> Message {
    Message {
        role: Role::User,
        content,
    }
}

fn assistant(content: Vec<Part>) -> Message {
    Message {
        role: Role::Assistant,
        content,
    }
}

fn image(source: ImageSource) -> ContentBlock {
    ContentBlock::Image(ImageBlock { source })
}

fn document(source: DocumentSource, title: Option<&str>) -> ContentBlock {
    ContentBlock::Document(DocumentBlock {
        source,
        title: title.map(str::to_owned),
        context: None,
    })
}

// ------------------------------------------------------------ request body

#[test]
fn codec_path_and_headers() {
    assert_eq!(OpenAiCodec::default().path(), "v1/chat/completions");
    assert_eq!(
        openai::headers("sk-test"),
        vec![
            ("authorization".to_owned(), "Bearer sk-test".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
            ("accept".to_owned(), "text/event-stream".to_owned()),
        ]
    );
}

#[test]
fn request_json_maps_a_whole_conversation() {
    let request = ModelRequest {
        model: "gpt-4o".into(),
        system: Some("Be helpful.".into()),
        messages: vec![
            user(vec![text("list files")]),
            assistant(vec![
                text("Sure."),
                Part::ToolUse {
                    id: "sevt_s_000004".into(),
                    name: "bash".into(),
                    input: object(json!({"command": "ls", "flags": ["-l", "-a"]})),
                },
                Part::ToolUse {
                    id: "sevt_s_000005".into(),
                    name: "read".into(),
                    input: Map::new(),
                },
            ]),
            user(vec![
                Part::ToolResult {
                    tool_use_id: "sevt_s_000004".into(),
                    content: vec![ContentBlock::text("a.txt"), ContentBlock::text("b.txt")],
                    is_error: false,
                },
                Part::ToolResult {
                    tool_use_id: "sevt_s_000005".into(),
                    content: vec![ContentBlock::text("no such file")],
                    is_error: true,
                },
                text("What now?"),
                Part::System {
                    text: "Answer briefly.".into(),
                },
                Part::Content {
                    block: image(ImageSource::Base64 {
                        media_type: "image/png".into(),
                        data: "iVBORw0KGgo=".into(),
                    }),
                },
                text("And this?"),
            ]),
            assistant(vec![text("A logo.")]),
            user(vec![Part::Content {
                block: image(ImageSource::Url {
                    url: "https://example.com/cat.jpg".into(),
                }),
            }]),
        ],
        tools: vec![
            ToolSpec {
                name: "bash".into(),
                description: "Run bash.".into(),
                input_schema: json!({"type": "object", "properties": {"command": {"type": "string"}}}),
            },
            ToolSpec {
                name: "read".into(),
                description: "Read a file.".into(),
                input_schema: json!({"type": "object"}),
            },
        ],
        max_tokens: 1024,
    };
    let body = OpenAiCodec::default().request_body(&request);
    assert_eq!(body, openai::request_body(&request, OutputCap::MaxTokens));
    assert_eq!(
        body,
        json!({
            "model": "gpt-4o",
            "max_tokens": 1024,
            "stream": true,
            "stream_options": {"include_usage": true},
            "tools": [
                {"type": "function", "function": {
                    "name": "bash",
                    "description": "Run bash.",
                    "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}
                }},
                {"type": "function", "function": {
                    "name": "read",
                    "description": "Read a file.",
                    "parameters": {"type": "object"}
                }}
            ],
            "messages": [
                {"role": "system", "content": "Be helpful."},
                {"role": "user", "content": "list files"},
                {"role": "assistant", "content": "Sure.", "tool_calls": [
                    {"id": "sevt_s_000004", "type": "function", "function": {
                        "name": "bash", "arguments": "{\"command\":\"ls\",\"flags\":[\"-l\",\"-a\"]}"
                    }},
                    {"id": "sevt_s_000005", "type": "function", "function": {
                        "name": "read", "arguments": "{}"
                    }}
                ]},
                {"role": "tool", "tool_call_id": "sevt_s_000004", "content": "a.txt\nb.txt"},
                {"role": "tool", "tool_call_id": "sevt_s_000005", "content": "Error: no such file"},
                {"role": "user", "content": "What now?"},
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {"type": "text", "text": "And this?"}
                ]},
                {"role": "assistant", "content": "A logo."},
                {"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
                ]}
            ]
        })
    );
}

#[test]
fn tool_call_arguments_are_json_strings_that_round_trip() {
    let input = object(json!({"path": "ä/b \"c\".txt", "limit": 10, "nested": {"x": [1, null]}}));
    let body =
        OpenAiCodec::default().request_body(&request(vec![assistant(vec![Part::ToolUse {
            id: "t1".into(),
            name: "read".into(),
            input: input.clone(),
        }])]));
    let call = &body["messages"][0]["tool_calls"][0];
    let arguments = call["function"]["arguments"]
        .as_str()
        .expect("arguments are a string");
    let parsed: Value = serde_json::from_str(arguments).unwrap();
    assert_eq!(parsed, Value::Object(input));
    assert_eq!(
        body["messages"][0]["content"],
        Value::Null,
        "an assistant message that only calls tools has null content"
    );
}

#[test]
fn tool_results_precede_the_other_user_content_in_order() {
    let body = OpenAiCodec::default().request_body(&request(vec![user(vec![
        text("before"),
        Part::ToolResult {
            tool_use_id: "t2".into(),
            content: vec![ContentBlock::text("second")],
            is_error: false,
        },
        Part::ToolResult {
            tool_use_id: "t1".into(),
            content: Vec::new(),
            is_error: true,
        },
        Part::ToolResult {
            tool_use_id: "t3".into(),
            content: Vec::new(),
            is_error: false,
        },
        text("after"),
    ])]));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "tool", "tool_call_id": "t2", "content": "second"},
            {"role": "tool", "tool_call_id": "t1", "content": "Error"},
            {"role": "tool", "tool_call_id": "t3", "content": "(no output)"},
            {"role": "user", "content": [
                {"type": "text", "text": "before"},
                {"type": "text", "text": "after"}
            ]}
        ])
    );
}

#[test]
fn system_parts_split_user_content_at_their_place() {
    let mut req = request(vec![
        user(vec![
            text("one"),
            Part::System {
                text: "first note".into(),
            },
            Part::System {
                text: "second note".into(),
            },
            text("two"),
        ]),
        user(vec![Part::System {
            text: "alone".into(),
        }]),
    ]);
    req.system = Some("Top.".into());
    let body = OpenAiCodec::default().request_body(&req);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "Top."},
            {"role": "user", "content": "one"},
            {"role": "system", "content": "first note"},
            {"role": "system", "content": "second note"},
            {"role": "user", "content": "two"},
            {"role": "system", "content": "alone"}
        ])
    );
}

#[test]
fn tools_and_an_empty_system_prompt_are_omitted() {
    let mut req = request(vec![user(vec![text("hi"), text("")])]);
    req.system = Some(String::new());
    let body = OpenAiCodec::default().request_body(&req);
    assert_eq!(
        body,
        json!({
            "model": "gpt-4o",
            "max_tokens": 512,
            "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "hi"}]
        })
    );
    assert!(body.get("tools").is_none());
    assert!(body.get("max_completion_tokens").is_none());
}

#[test]
fn blocks_chat_completions_cannot_carry_become_text_notes() {
    let search = ContentBlock::SearchResult(SearchResultBlock {
        source: "https://example.com/r".into(),
        title: "Result".into(),
        content: vec![TextContent {
            text: "snippet one".into(),
        }],
        citations: SearchResultCitations::default(),
    });
    let body = OpenAiCodec::default().request_body(&request(vec![
        user(vec![
            Part::Content {
                block: document(
                    DocumentSource::Base64 {
                        media_type: "application/pdf".into(),
                        data: "JVBERi0=".into(),
                    },
                    Some("Report"),
                ),
            },
            Part::Content {
                block: document(
                    DocumentSource::Url {
                        url: "https://example.com/a.pdf".into(),
                    },
                    None,
                ),
            },
            Part::Content {
                block: document(
                    DocumentSource::File {
                        file_id: "file_1".into(),
                    },
                    None,
                ),
            },
            Part::Content {
                block: ContentBlock::Document(DocumentBlock {
                    source: DocumentSource::Text {
                        media_type: "text/plain".into(),
                        data: "the notes".into(),
                    },
                    title: Some("Notes".into()),
                    context: Some("from the wiki".into()),
                }),
            },
            Part::Content {
                block: image(ImageSource::File {
                    file_id: "file_2".into(),
                }),
            },
            Part::Content {
                block: ContentBlock::Redacted(RedactedBlock {}),
            },
            Part::Content { block: search },
        ]),
        assistant(vec![Part::ToolUse {
            id: "t1".into(),
            name: "screenshot".into(),
            input: Map::new(),
        }]),
        user(vec![Part::ToolResult {
            tool_use_id: "t1".into(),
            content: vec![
                ContentBlock::text("captured"),
                image(ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "AAAA".into(),
                }),
            ],
            is_error: false,
        }]),
    ]));
    let texts: Vec<&str> = body["messages"][0]["content"]
        .as_array()
        .expect("several parts")
        .iter()
        .map(|part| {
            assert_eq!(part["type"], "text");
            part["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        texts,
        vec![
            "[document \"Report\" omitted: application/pdf content cannot be sent through the Chat Completions API]",
            "[document omitted: documents by URL (https://example.com/a.pdf) cannot be sent through the Chat Completions API]",
            "[document omitted: uploaded file file_1 cannot be sent through the Chat Completions API]",
            "[document \"Notes\"]\nfrom the wiki\n\nthe notes",
            "[image omitted: uploaded file file_2 cannot be sent through the Chat Completions API]",
            "[redacted]",
            "[search result \"Result\" from https://example.com/r]\nsnippet one",
        ]
    );
    assert_eq!(
        body["messages"][2],
        json!({
            "role": "tool",
            "tool_call_id": "t1",
            "content": "captured\n[image omitted: images in tool results cannot be sent through the Chat Completions API]"
        })
    );
}

// ------------------------------------------------------------------ decoder

#[test]
fn every_fixture_decodes_identically_at_any_chunk_boundary() {
    for body in [
        TEXT,
        TOOL_CALLS,
        REASONING,
        STREAM_ERROR,
        TRUNCATED,
        MALFORMED,
    ] {
        codec_support::assert_split_invariant(&OpenAiCodec::default(), body, 30);
    }
    // Carriage-return line endings too.
    codec_support::assert_split_invariant(
        &OpenAiCodec::default(),
        &TOOL_CALLS.replace('\n', "\r\n"),
        30,
    );
    assert_eq!(
        decode_whole(&TEXT.replace('\n', "\r\n")),
        decode_whole(TEXT)
    );
}

#[test]
fn a_text_reply_split_into_single_bytes_yields_the_same_events() {
    let bytes: Vec<&[u8]> = TEXT.as_bytes().chunks(1).collect();
    let (events, end) = decode(&bytes);
    assert_eq!(end, Ok(()));
    let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
    assert_eq!(events, events_of(TEXT));
}

#[test]
fn decodes_a_text_reply_with_cached_usage() {
    assert_eq!(
        events_of(TEXT),
        vec![
            ModelEvent::Started {
                usage: ModelUsage::default()
            },
            ModelEvent::TextDelta {
                text: "Hello, ".into()
            },
            ModelEvent::TextDelta {
                text: "wörld! 👋".into()
            },
            ModelEvent::Completed {
                stop_reason: ModelStopReason::EndTurn,
                usage: ModelUsage {
                    input_tokens: 176,
                    output_tokens: 15,
                    cache_read_input_tokens: 1024,
                    cache_creation_input_tokens: 0,
                    speed: None,
                }
            },
        ]
    );
}

#[test]
fn usage_in_the_first_chunk_is_reported_at_start_and_deepseek_cache_hits_count() {
    let body = [
        format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": null}],
                   "usage": {"prompt_tokens": 10, "completion_tokens": 0}})
        ),
        chunk(json!({}), Some("stop")),
        format!(
            "data: {}\n\n",
            json!({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 7,
                   "prompt_cache_hit_tokens": 60, "prompt_cache_miss_tokens": 40}})
        ),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let events = events_of(&body);
    assert_eq!(
        events[0],
        ModelEvent::Started {
            usage: ModelUsage {
                input_tokens: 10,
                ..ModelUsage::default()
            }
        }
    );
    assert_eq!(
        events.last(),
        Some(&ModelEvent::Completed {
            stop_reason: ModelStopReason::EndTurn,
            usage: ModelUsage {
                input_tokens: 40,
                output_tokens: 7,
                cache_read_input_tokens: 60,
                cache_creation_input_tokens: 0,
                speed: None,
            }
        })
    );
}

#[test]
fn decodes_parallel_tool_calls_with_interleaved_argument_fragments() {
    assert_eq!(
        events_of(TOOL_CALLS),
        vec![
            ModelEvent::Started {
                usage: ModelUsage::default()
            },
            ModelEvent::TextDelta {
                text: "Let me look.".into()
            },
            ModelEvent::ToolUse {
                id: "call_a".into(),
                name: "bash".into(),
                input: object(json!({"command": "ls -la"})),
            },
            ModelEvent::ToolUse {
                id: "call_b".into(),
                name: "read".into(),
                input: object(json!({"path": "ä.txt"})),
            },
            ModelEvent::Completed {
                stop_reason: ModelStopReason::ToolUse,
                usage: ModelUsage {
                    input_tokens: 50,
                    output_tokens: 30,
                    ..ModelUsage::default()
                }
            },
        ]
    );
}

#[test]
fn tool_calls_are_emitted_in_index_order_when_the_choice_finishes() {
    let calls = [
        chunk(
            json!({"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "second", "arguments": "{}"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "first"}}]}),
            None,
        ),
    ]
    .concat();
    let finish = [
        chunk(json!({}), Some("tool_calls")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let mut decoder = OpenAiCodec::default().decoder();
    let early = decoder.feed(calls.as_bytes());
    assert_eq!(
        early,
        vec![Ok(ModelEvent::Started {
            usage: ModelUsage::default()
        })],
        "nothing is emitted for the calls before the finish_reason"
    );
    let late: Vec<_> = decoder
        .feed(finish.as_bytes())
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(decoder.finish(), Ok(()));
    assert_eq!(
        late,
        vec![
            ModelEvent::ToolUse {
                id: "call_a".into(),
                name: "first".into(),
                input: Map::new(),
            },
            ModelEvent::ToolUse {
                id: "call_b".into(),
                name: "second".into(),
                input: Map::new(),
            },
            ModelEvent::Completed {
                stop_reason: ModelStopReason::ToolUse,
                usage: ModelUsage::default(),
            },
        ]
    );
}

#[test]
fn tool_call_pieces_without_index_or_id_are_still_gathered() {
    // Some servers omit `index` (a new id starts a new call) or the id, or
    // send the arguments as an object; a `stop` reply may still call tools.
    let body = [
        chunk(
            json!({"tool_calls": [{"id": "x1", "function": {"name": "a", "arguments": "{\"n\":"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"function": {"arguments": "1}"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"id": "x2", "function": {"name": "b", "arguments": {"k": "v"}}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 5, "function": {"name": "c"}}]}),
            Some("stop"),
        ),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let events = events_of(&body);
    assert_eq!(
        events[1..],
        [
            ModelEvent::ToolUse {
                id: "x1".into(),
                name: "a".into(),
                input: object(json!({"n": 1})),
            },
            ModelEvent::ToolUse {
                id: "x2".into(),
                name: "b".into(),
                input: object(json!({"k": "v"})),
            },
            ModelEvent::ToolUse {
                id: "call_5".into(),
                name: "c".into(),
                input: Map::new(),
            },
            ModelEvent::Completed {
                stop_reason: ModelStopReason::EndTurn,
                usage: ModelUsage::default(),
            },
        ]
    );
}

#[test]
fn reasoning_deltas_are_thinking() {
    assert_eq!(
        events_of(REASONING),
        vec![
            ModelEvent::Started {
                usage: ModelUsage::default()
            },
            ModelEvent::ThinkingDelta {
                thinking: "Think".into()
            },
            ModelEvent::ThinkingDelta {
                thinking: "ing.".into()
            },
            ModelEvent::TextDelta { text: "42".into() },
            ModelEvent::Completed {
                stop_reason: ModelStopReason::EndTurn,
                usage: ModelUsage::default(),
            },
        ]
    );
}

#[test]
fn finish_reasons_map_to_stop_reasons() {
    let cases = [
        ("stop", ModelStopReason::EndTurn),
        ("tool_calls", ModelStopReason::ToolUse),
        ("function_call", ModelStopReason::ToolUse),
        ("length", ModelStopReason::MaxTokens),
        ("content_filter", ModelStopReason::Refusal),
        ("eos_token", ModelStopReason::EndTurn),
        ("stop_sequence", ModelStopReason::StopSequence),
        ("abort", ModelStopReason::Other("abort".into())),
    ];
    for (reason, expected) in cases {
        let body = [
            chunk(json!({"content": "x"}), None),
            // An empty finish_reason, as some servers send, is no finish.
            chunk(json!({"content": "y"}), Some("")),
            chunk(json!({}), Some(reason)),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat();
        let events = events_of(&body);
        assert_eq!(events.len(), 4, "finish_reason {reason}: {events:?}");
        assert_eq!(
            events.last(),
            Some(&ModelEvent::Completed {
                stop_reason: expected,
                usage: ModelUsage::default(),
            }),
            "finish_reason {reason}"
        );
    }
}

#[test]
fn a_body_without_finish_reason_or_done_is_a_broken_stream() {
    // The body ends before any finish_reason.
    let (events, end) = decode_whole(&chunk(json!({"content": "Hi"}), None));
    assert!(events.iter().all(Result::is_ok));
    let error = end.unwrap_err();
    assert_eq!(error.kind, ModelErrorKind::BrokenStream);
    assert!(error.is_retryable());

    // [DONE] before any finish_reason.
    let body = [
        chunk(json!({"content": "Hi"}), None),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (error, end) = first_error(&body);
    assert_eq!(error.kind, ModelErrorKind::BrokenStream);
    assert_eq!(end, Ok(()), "the error was already reported");

    // A finish_reason, but the body ends without [DONE]: Completed could
    // not be emitted any more.
    let body = chunk(json!({"content": "Hi"}), Some("stop"));
    let (events, end) = decode_whole(&body);
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, Ok(ModelEvent::Completed { .. })))
    );
    assert_eq!(end.unwrap_err().kind, ModelErrorKind::BrokenStream);

    // Cut off mid-chunk.
    let (events, end) = decode_whole(TRUNCATED);
    assert!(events.iter().all(Result::is_ok));
    assert_eq!(events.len(), 2, "started and the first delta");
    assert_eq!(end.unwrap_err().kind, ModelErrorKind::BrokenStream);

    // An empty body.
    assert_eq!(
        decode_whole("").1.unwrap_err().kind,
        ModelErrorKind::BrokenStream
    );
}

#[test]
fn invalid_tool_arguments_are_a_malformed_stream() {
    let cases = [
        json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "bash", "arguments": "{\"command\": \"ls"}}]}),
        json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "bash", "arguments": "[1, 2]"}}]}),
        json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "bash", "arguments": "\"ls\""}}]}),
        json!({"tool_calls": [{"index": 0, "id": "c", "function": {"arguments": "{}"}}]}),
    ];
    for delta in cases {
        let body = [
            chunk(delta.clone(), Some("tool_calls")),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat();
        let (events, end) = decode_whole(&body);
        assert!(matches!(events[0], Ok(ModelEvent::Started { .. })));
        assert_eq!(
            events[1].clone().unwrap_err().kind,
            ModelErrorKind::MalformedStream,
            "{delta}"
        );
        assert_eq!(events.len(), 2, "nothing after the error: {delta}");
        assert_eq!(end, Ok(()));
    }
}

#[test]
fn undecodable_chunks_and_late_deltas_are_a_malformed_stream() {
    let (error, end) = first_error(MALFORMED);
    assert_eq!(error.kind, ModelErrorKind::MalformedStream);
    assert_eq!(end, Ok(()));

    let (error, _) = first_error("data: [1, 2]\n\n");
    assert_eq!(error.kind, ModelErrorKind::MalformedStream);

    let body = [
        chunk(json!({}), Some("stop")),
        chunk(json!({"content": "late"}), None),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (error, _) = first_error(&body);
    assert_eq!(error.kind, ModelErrorKind::MalformedStream);
}

#[test]
fn done_completes_the_stream_and_what_follows_is_ignored() {
    let body = [
        chunk(json!({"content": "Hi"}), Some("stop")),
        "data: [DONE]\n\n".to_owned(),
        chunk(json!({"content": "ignored"}), None),
        "data: {not json\n\n".to_owned(),
        "data: [DONE]\n\n".to_owned(),
        "data: {\"choices\":[".to_owned(),
    ]
    .concat();
    assert_eq!(
        events_of(&body),
        vec![
            ModelEvent::Started {
                usage: ModelUsage::default()
            },
            ModelEvent::TextDelta { text: "Hi".into() },
            ModelEvent::Completed {
                stop_reason: ModelStopReason::EndTurn,
                usage: ModelUsage::default(),
            },
        ]
    );
}

#[test]
fn in_stream_error_objects_are_classified() {
    let (events, end) = decode_whole(STREAM_ERROR);
    assert_eq!(
        events[..2],
        [
            Ok(ModelEvent::Started {
                usage: ModelUsage::default()
            }),
            Ok(ModelEvent::TextDelta { text: "Hi".into() }),
        ]
    );
    assert_eq!(events.len(), 3, "nothing after the error, not even [DONE]");
    let error = events[2].clone().unwrap_err();
    assert_eq!(error.kind, ModelErrorKind::Server { status: 500 });
    assert_eq!(
        error.message,
        "The server had an error while processing your request."
    );
    assert!(error.is_retryable());
    assert_eq!(end, Ok(()), "the error was already reported");

    let cases = [
        (
            json!({"error": {"message": "slow down", "type": "tokens", "code": "rate_limit_exceeded"}}),
            ModelErrorKind::RateLimited,
        ),
        (
            json!({"error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}}),
            ModelErrorKind::Billing,
        ),
        // OpenRouter: a numeric HTTP code, inside an otherwise normal chunk.
        (
            json!({"object": "chat.completion.chunk", "error": {"code": 502, "message": "Provider disconnected"},
                   "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}),
            ModelErrorKind::Server { status: 502 },
        ),
        // vLLM: the chunk is itself the error object.
        (
            json!({"object": "error", "message": "bad prompt", "type": "BadRequestError", "code": 400}),
            ModelErrorKind::InvalidRequest { status: 400 },
        ),
        (
            json!({"error": "model crashed"}),
            ModelErrorKind::Server { status: 500 },
        ),
        (
            json!({"error": {"message": "busy", "type": "overloaded_error"}}),
            ModelErrorKind::Overloaded,
        ),
    ];
    for (data, kind) in cases {
        let (error, end) = first_error(&format!("data: {data}\n\n"));
        assert_eq!(error.kind, kind, "{data}");
        assert_eq!(error.retry_after_ms, None);
        assert_eq!(end, Ok(()));
    }
}

// ----------------------------------------------------------- HTTP errors

fn openai_error(message: &str, error_type: &str, code: Option<&str>) -> String {
    json!({"error": {"message": message, "type": error_type, "param": null, "code": code}})
        .to_string()
}

#[test]
fn http_errors_are_classified() {
    let codec = OpenAiCodec::default();

    let auth = codec.classify_error(
        401,
        &openai_error(
            "Invalid authentication",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        None,
    );
    assert_eq!(auth.kind, ModelErrorKind::Authentication);
    assert_eq!(auth.message, "Invalid authentication");
    assert!(!auth.is_retryable());

    let denied = codec.classify_error(
        403,
        &openai_error(
            "Country not supported",
            "invalid_request_error",
            Some("unsupported_country_region_territory"),
        ),
        None,
    );
    assert_eq!(denied.kind, ModelErrorKind::PermissionDenied);
    assert!(!denied.is_retryable());

    let limited = codec.classify_error(
        429,
        &openai_error(
            "Rate limit reached for gpt-4o",
            "tokens",
            Some("rate_limit_exceeded"),
        ),
        Some(2_500),
    );
    assert_eq!(limited.kind, ModelErrorKind::RateLimited);
    assert_eq!(limited.retry_after_ms, Some(2_500));
    assert_eq!(limited.message, "Rate limit reached for gpt-4o");
    assert!(limited.is_retryable());

    let server = codec.classify_error(
        500,
        &openai_error("The server had an error", "server_error", None),
        None,
    );
    assert_eq!(server.kind, ModelErrorKind::Server { status: 500 });
    assert!(server.is_retryable());

    let bad = codec.classify_error(
        400,
        &openai_error(
            "Invalid 'messages[2].tool_call_id'",
            "invalid_request_error",
            None,
        ),
        None,
    );
    assert_eq!(bad.kind, ModelErrorKind::InvalidRequest { status: 400 });
    assert_eq!(bad.message, "Invalid 'messages[2].tool_call_id'");
    assert!(!bad.is_retryable());

    let not_json = codec.classify_error(400, "  Bad Request: no model  \n", None);
    assert_eq!(
        not_json.kind,
        ModelErrorKind::InvalidRequest { status: 400 }
    );
    assert_eq!(not_json.message, "Bad Request: no model");

    let empty = codec.classify_error(502, "", None);
    assert_eq!(empty.kind, ModelErrorKind::Server { status: 502 });
    assert_eq!(empty.message, "HTTP 502 with an empty body");
}

#[test]
fn insufficient_quota_is_billing_and_never_retried() {
    let error = OpenAiCodec::default().classify_error(
        429,
        &openai_error(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            Some("insufficient_quota"),
        ),
        Some(1_000),
    );
    assert_eq!(error.kind, ModelErrorKind::Billing);
    assert!(!error.is_retryable());
    assert_eq!(error.final_retry_status(), RetryStatus::Terminal);

    // Recognised from the code alone too.
    let by_code = OpenAiCodec::default().classify_error(
        429,
        &json!({"error": {"message": "quota", "type": null, "code": "insufficient_quota"}})
            .to_string(),
        None,
    );
    assert_eq!(by_code.kind, ModelErrorKind::Billing);
    assert_eq!(
        OpenAiCodec::default().classify_error(402, "{}", None).kind,
        ModelErrorKind::Billing
    );
}

#[test]
fn other_servers_error_shapes_are_understood() {
    let codec = OpenAiCodec::default();
    // Ollama: a plain string.
    let ollama = codec.classify_error(404, r#"{"error":"model \"llama9\" not found"}"#, None);
    assert_eq!(ollama.kind, ModelErrorKind::InvalidRequest { status: 404 });
    assert_eq!(ollama.message, "model \"llama9\" not found");
    // vLLM: a top-level message.
    let vllm = codec.classify_error(
        400,
        r#"{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}"#,
        None,
    );
    assert_eq!(vllm.message, "max_tokens is too large");
    // FastAPI: `detail`.
    let detail = codec.classify_error(503, r#"{"detail":"warming up"}"#, Some(10_000));
    assert_eq!(detail.kind, ModelErrorKind::Server { status: 503 });
    assert_eq!(detail.message, "warming up");
    assert_eq!(detail.retry_after_ms, Some(10_000));
    // An Anthropic-style type passed through by a proxy still refines.
    let overloaded = codec.classify_error(
        500,
        r#"{"error":{"message":"Overloaded","type":"overloaded_error"}}"#,
        None,
    );
    assert_eq!(overloaded.kind, ModelErrorKind::Overloaded);
}

#[test]
fn error_messages_never_carry_keys_and_long_bodies_are_cut() {
    let error = OpenAiCodec::default().classify_error(
        401,
        &openai_error(
            "Incorrect API key provided: sk-proj-ab12**********************wxYZ. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        None,
    );
    assert_eq!(
        error.message,
        "Incorrect API key provided: sk-[redacted]. You can find your API key at https://platform.openai.com/account/api-keys."
    );
    // Words that merely contain `sk-` are left alone.
    let task = OpenAiCodec::default().classify_error(
        400,
        r#"{"error":{"message":"task-sk-1 (sk-x)"}}"#,
        None,
    );
    assert_eq!(task.message, "task-sk-1 (sk-[redacted])");

    let html = format!("<html>{}</html>", "é".repeat(2_000));
    let cut = OpenAiCodec::default().classify_error(502, &html, None);
    assert_eq!(
        cut.message.chars().count(),
        openai::MAX_ERROR_BODY_CHARS + 1
    );
    assert!(cut.message.starts_with("<html>é") && cut.message.ends_with('…'));
}

#[test]
fn openai_itself_gets_max_completion_tokens_and_other_servers_max_tokens() {
    let req = request(vec![user(vec![Part::Content {
        block: ContentBlock::text("hi"),
    }])]);
    for (base_url, field, other) in [
        (
            "https://api.openai.com",
            "max_completion_tokens",
            "max_tokens",
        ),
        (
            "https://API.openai.com:443/",
            "max_completion_tokens",
            "max_tokens",
        ),
        (
            "http://127.0.0.1:8000",
            "max_tokens",
            "max_completion_tokens",
        ),
        (
            "https://openrouter.ai/api",
            "max_tokens",
            "max_completion_tokens",
        ),
    ] {
        let body = OpenAiCodec::for_base_url(base_url).request_body(&req);
        assert_eq!(body[field], json!(req.max_tokens), "{base_url}");
        assert!(body.get(other).is_none(), "{base_url}: {body}");
    }
}
