use openma_core::Harness;
use openma_core::Ports;
use openma_core::StepOutcome;
use openma_core::llm::CodecModelClient;
use openma_core::llm::ModelErrorKind;
use openma_core::llm::ModelRequest;
use openma_core::llm::anthropic;
use openma_core::llm::anthropic::AnthropicCodec;
use openma_core::ports::Clock;
use openma_core::ports::ModelClient;
use openma_core::testing::FakeToolExecutor;
use openma_core::testing::InMemoryEventStore;
use openma_core::testing::ManualClock;
use openma_core::testing::ReplayTransport;
use openma_core::testing::check_invariants;
use openma_core::testing::log_shape;
use openma_core::testing::test_session;
use openma_core::wire::UserEventParams;

const TEXT: &str = include_str!("../fixtures/anthropic/text.sse");
const TOOL_USE: &str = include_str!("../fixtures/anthropic/tool_use.sse");

fn client(transport: &ReplayTransport) -> CodecModelClient<ReplayTransport, AnthropicCodec> {
    CodecModelClient::new(
        transport.clone(),
        AnthropicCodec,
        "https://api.anthropic.test/",
        anthropic::headers("sk-test"),
    )
}

#[tokio::test]
async fn a_turn_runs_end_to_end_over_the_anthropic_codec() {
    for seed in 0..5 {
        let transport = ReplayTransport::new(seed);
        transport.push_sse(TOOL_USE);
        transport.push(
            529,
            vec![("retry-after".into(), "2".into())],
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        transport.push_sse(TEXT);
        let ports = Ports {
            model: client(&transport),
            store: InMemoryEventStore::new(),
            tools: FakeToolExecutor::new(),
            clock: ManualClock::default(),
        };
        let config = test_session().config();
        let harness = Harness::open(config, ports).await.unwrap();
        harness
            .submit(vec![UserEventParams::text("list files")])
            .await
            .unwrap();

        let StepOutcome::WaitUntil(at) = harness.run_until_blocked().await.unwrap() else {
            panic!("expected a backoff")
        };
        harness.ports().clock.set(at);
        assert_eq!(
            harness.run_until_blocked().await.unwrap(),
            StepOutcome::Idle
        );

        let events = harness.ports().store.events();
        check_invariants(&events);
        assert_eq!(
            log_shape(&events),
            "\
1 user.message \"list files\"
2 session.status_running
3 span.model_request_start
4 agent.thinking
5 agent.message \"Let me look.\"
6 agent.tool_use bash {\"command\":\"ls -la\"} allow
7 agent.tool_use read {} allow
8 span.model_request_end #3 in=472 out=89
9 agent.tool_result #6 \"bash ok\"
10 agent.tool_result #7 \"read ok\"
11 span.model_request_start
12 span.model_request_end #11 in=0 out=0 error
13 session.error model_overloaded_error retrying
14 session.status_rescheduled
15 span.model_request_start
16 agent.message \"Hello, wörld! 👋\"
17 span.model_request_end #15 in=25 out=15
18 session.status_idle end_turn",
            "seed {seed}"
        );
        let requests = transport.requests();
        assert_eq!(requests[0].url, "https://api.anthropic.test/v1/messages");
        assert!(
            requests[0]
                .headers
                .contains(&("x-api-key".into(), "sk-test".into()))
        );
        let waited = at.millis_since(ManualClock::default().now());
        assert!(waited >= 2_000, "retry-after was honoured ({waited} ms)");
    }
}

#[tokio::test]
async fn http_errors_and_broken_bodies_are_classified() {
    let transport = ReplayTransport::new(1);
    transport.push(
        401,
        Vec::new(),
        r#"{"type":"error","error":{"type":"authentication_error","message":"bad key"}}"#,
    );
    transport.push_sse(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{}}}\n\n",
    );
    let client = client(&transport);
    let request = ModelRequest {
        model: "m".into(),
        system: None,
        messages: Vec::new(),
        tools: Vec::new(),
        max_tokens: 1,
    };

    let error = client.stream(request.clone()).await.unwrap_err();
    assert_eq!(
        (error.kind, error.message.as_str()),
        (ModelErrorKind::Authentication, "bad key")
    );

    let mut stream = client.stream(request.clone()).await.unwrap();
    use openma_core::ports::ModelStream;
    assert!(stream.next().await.unwrap().is_ok());
    assert_eq!(
        stream.next().await.unwrap().unwrap_err().kind,
        ModelErrorKind::BrokenStream
    );
    assert!(stream.next().await.is_none());

    let error = client.stream(request).await.unwrap_err();
    assert_eq!(
        error.kind,
        ModelErrorKind::Network,
        "a failed send is a network error"
    );
}

#[tokio::test]
async fn complete_collects_a_whole_response() {
    let transport = ReplayTransport::new(7);
    transport.push_sse(TEXT);
    let request = ModelRequest {
        model: "m".into(),
        system: None,
        messages: Vec::new(),
        tools: Vec::new(),
        max_tokens: 1,
    };
    let events = client(&transport).complete(request).await.unwrap();
    assert_eq!(events.len(), 4);
    let body: serde_json::Value = serde_json::from_str(&transport.requests()[0].body).unwrap();
    assert_eq!(body["stream"], true);
}
