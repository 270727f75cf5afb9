use openma_cloudflare::store::webhooks::EndpointRow;
use openma_cloudflare::store::webhooks::EndpointUpdate;
use serde_json::Value;
use serde_json::json;
use worker::Method;

use super::Paging;
use super::WebhookRoute;
use super::changed_fields;
use super::changes;
use super::check_url;
use super::create_params;
use super::object;
use super::paging;
use super::update_params;
use crate::request::Query;

fn body() -> Value {
    json!({"url": "https://hooks.example.com/in", "enabled_events": ["agent.created", "session.idled"]})
}

fn message(body: &Value) -> String {
    create_params(body, false).unwrap_err().message
}

fn row() -> EndpointRow {
    EndpointRow {
        id: "whep_1".into(),
        tenant_id: "t".into(),
        url: "https://hooks.example.com/in".into(),
        name: "hooks".into(),
        description: String::new(),
        enabled_events: vec!["agent.created".into()],
        state: "enabled".into(),
        disabled_reason: String::new(),
        secret_key_id: "k1".into(),
        secret_ciphertext: "sealed-secret".into(),
        consecutive_failures: 0,
        created_at: "2026-01-01T00:00:00.000Z".into(),
        updated_at: "2026-01-01T00:00:00.000Z".into(),
    }
}

#[test]
fn routes_parse_under_organizations_webhooks() {
    let parse = |method, rest: &[&str]| WebhookRoute::parse(&method, rest);
    assert_eq!(parse(Method::Post, &[]), Some(WebhookRoute::Create));
    assert_eq!(parse(Method::Get, &[]), Some(WebhookRoute::List));
    assert_eq!(
        parse(Method::Get, &["whep_1"]),
        Some(WebhookRoute::Get("whep_1".into()))
    );
    assert_eq!(
        parse(Method::Post, &["whep_1"]),
        Some(WebhookRoute::Update("whep_1".into()))
    );
    assert_eq!(
        parse(Method::Delete, &["whep_1"]),
        Some(WebhookRoute::Delete("whep_1".into()))
    );
    assert_eq!(
        parse(Method::Post, &["whep_1", "regenerate_signing_secret"]),
        Some(WebhookRoute::RegenerateSecret("whep_1".into()))
    );
    assert_eq!(
        parse(Method::Get, &["whep_1", "regenerate_signing_secret"]),
        None
    );
    assert_eq!(parse(Method::Put, &["whep_1"]), None);
    assert_eq!(parse(Method::Delete, &[]), None);
}

#[test]
fn a_create_body_defaults_its_labels_and_keeps_each_event_once() {
    let mut with_repeats = body();
    with_repeats["enabled_events"] = json!(["agent.created", "session.idled", "agent.created"]);
    let params = create_params(&with_repeats, false).unwrap();
    assert_eq!(params.url, "https://hooks.example.com/in");
    assert_eq!(params.enabled_events, ["agent.created", "session.idled"]);
    assert_eq!(
        (params.name.as_str(), params.description.as_str()),
        ("", "")
    );
    let mut labelled = body();
    labelled["name"] = json!("ops");
    labelled["description"] = json!("line one\nline two");
    let params = create_params(&labelled, false).unwrap();
    assert_eq!(params.name, "ops");
    assert_eq!(params.description, "line one\nline two");
}

#[test]
fn a_create_body_is_refused_by_the_name_of_its_bad_field() {
    let mut unknown = body();
    unknown["secret"] = json!("whsec_x");
    assert_eq!(message(&unknown), "secret: unknown field");
    let cases = [
        ("url", json!("ftp://hooks.example.com/in")),
        ("url", json!(7)),
        ("enabled_events", json!([])),
        ("enabled_events", json!("agent.created")),
        (
            "enabled_events[1]",
            json!(["agent.created", "session.status_idle"]),
        ),
        ("enabled_events[0]", json!([3])),
        ("name", json!("x".repeat(257))),
        ("description", json!("bell \u{7}")),
    ];
    for (path, value) in cases {
        let mut bad = body();
        let name = path.split('[').next().unwrap();
        bad[name] = value;
        assert!(
            message(&bad).starts_with(&format!("{path}:")),
            "{path}: {}",
            message(&bad)
        );
    }
    for name in ["url", "enabled_events"] {
        let mut missing = body();
        missing.as_object_mut().unwrap().remove(name);
        assert_eq!(message(&missing), format!("{name}: required"));
    }
    assert!(create_params(&json!([]), false).is_err());
}

#[test]
fn urls_must_be_public_https_as_given_and_as_normalized() {
    assert!(check_url("https://hooks.example.com/in?k=v", false).is_ok());
    for refused in [
        "http://hooks.example.com/in",
        "https://127.0.0.1/",
        "https://0x7f.1/",
        "https://2130706433/",
        "https://[::ffff:7f00:1]/",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost:8443/",
        "https://hooks.example.com/a b",
        "https://user@hooks.example.com/",
        "https://",
    ] {
        let err = check_url(refused, false).unwrap_err();
        assert!(
            err.message.starts_with("url: "),
            "{refused}: {}",
            err.message
        );
    }
    let long = format!("https://hooks.example.com/{}", "a".repeat(2048));
    assert!(check_url(&long, false).is_err());
    // Where private addresses are allowed (local development), so is http.
    assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
    assert!(check_url("ftp://127.0.0.1/", true).is_err());
}

#[test]
fn an_update_changes_only_what_it_names() {
    let params = update_params(&json!({"enabled_events": []}), false).unwrap();
    assert_eq!(params, EndpointUpdate::default());
    let params = update_params(
        &json!({"state": "disabled", "name": "", "enabled_events": ["vault.created"]}),
        false,
    )
    .unwrap();
    assert_eq!(params.state.as_deref(), Some("disabled"));
    assert_eq!(params.name.as_deref(), Some(""));
    assert_eq!(
        params.enabled_events,
        Some(vec!["vault.created".to_owned()])
    );
    for (bad, path) in [
        (json!({"state": "paused"}), "state:"),
        (json!({"url": "https://10.0.0.1/"}), "url:"),
        (json!({"signing_secret": "x"}), "signing_secret:"),
        (json!({"enabled_events": ["nope"]}), "enabled_events[0]:"),
    ] {
        let err = update_params(&bad, false).unwrap_err();
        assert!(err.message.starts_with(path), "{bad}: {}", err.message);
    }
}

#[test]
fn an_update_that_changes_nothing_writes_nothing() {
    let current = row();
    let same = EndpointUpdate {
        url: Some(current.url.clone()),
        name: Some(current.name.clone()),
        enabled_events: Some(current.enabled_events.clone()),
        state: Some("enabled".into()),
        ..EndpointUpdate::default()
    };
    assert_eq!(changes(&current, same), None);
    let renamed = EndpointUpdate {
        name: Some("renamed".into()),
        url: Some(current.url.clone()),
        ..EndpointUpdate::default()
    };
    let kept = changes(&current, renamed).unwrap();
    assert_eq!(kept.name.as_deref(), Some("renamed"));
    assert_eq!(kept.url, None);
    assert_eq!(changed_fields(&kept), ["name"]);
}

#[test]
fn setting_the_state_again_still_clears_the_platforms_reason_and_failures() {
    let enable = || EndpointUpdate {
        state: Some("enabled".into()),
        ..EndpointUpdate::default()
    };
    let disable = || EndpointUpdate {
        state: Some("disabled".into()),
        ..EndpointUpdate::default()
    };
    let mut failing = row();
    failing.consecutive_failures = 3;
    assert!(changes(&failing, enable()).is_some());
    let mut auto_disabled = row();
    auto_disabled.state = "disabled".into();
    auto_disabled.disabled_reason = "20 deliveries failed in a row".into();
    assert!(changes(&auto_disabled, disable()).is_some());
    assert!(changes(&auto_disabled, enable()).is_some());
    auto_disabled.disabled_reason.clear();
    assert_eq!(changes(&auto_disabled, disable()), None);
}

#[test]
fn list_paging_defaults_to_twenty_newest_first() {
    let parse = |pairs: &[(&str, &str)]| paging(&Query::from_pairs(pairs));
    assert_eq!(
        parse(&[]).unwrap(),
        Paging {
            ascending: false,
            after_id: None,
            before_id: None,
            limit: 20
        }
    );
    assert_eq!(parse(&[("limit", "0")]).unwrap().limit, 20);
    assert_eq!(parse(&[("limit", "100")]).unwrap().limit, 100);
    let asc = parse(&[("order", "asc"), ("after_id", "whep_1"), ("before_id", "")]).unwrap();
    assert!(asc.ascending);
    assert_eq!(asc.after_id.as_deref(), Some("whep_1"));
    assert_eq!(asc.before_id, None);
    for (bad, path) in [
        (vec![("limit", "101")], "limit:"),
        (vec![("limit", "-1")], "limit:"),
        (vec![("order", "newest")], "order:"),
        (vec![("after_id", "a"), ("before_id", "b")], "before_id:"),
        (vec![("page", "x")], "page:"),
    ] {
        let err = parse(&bad).unwrap_err();
        assert!(err.message.starts_with(path), "{bad:?}: {}", err.message);
    }
}

#[test]
fn the_endpoint_object_never_carries_the_secret() {
    let value = object(&row());
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "id",
        "type",
        "url",
        "name",
        "description",
        "enabled_events",
        "state",
        "disabled_reason",
        "created_at",
        "updated_at",
    ] {
        assert!(keys.contains(&key), "{key}");
    }
    assert_eq!(keys.len(), 10);
    assert_eq!(value["type"], "webhook_endpoint");
    assert!(!value.to_string().contains("sealed-secret"));
}
