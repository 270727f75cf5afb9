//! Outbound webhooks, with no I/O: the event types an endpoint may
//! subscribe to, the `BetaWebhookEvent` payload, which session events
//! produce which webhook events, and Standard Webhooks signing
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::KeyInit as _;
use hmac::Mac as _;
use serde_json::Value;
use serde_json::json;
use sha2::Sha256;

/// The prefix of a signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Every event type an endpoint may subscribe to: the platform's objects
/// (sessions, agents, environments, vaults and their credentials, memory
/// stores, deployments and their runs) as the Managed Agents API names them.
pub const EVENT_TYPES: [&str; 38] = [
    "session.created",
    "session.running",
    "session.idled",
    "session.requires_action",
    "session.archived",
    "session.deleted",
    "session.updated",
    "session.status_run_started",
    "session.status_idled",
    "session.status_rescheduled",
    "session.status_terminated",
    "agent.created",
    "agent.updated",
    "agent.archived",
    "agent.deleted",
    "environment.created",
    "environment.updated",
    "environment.archived",
    "environment.deleted",
    "vault.created",
    "vault.archived",
    "vault.deleted",
    "vault_credential.created",
    "vault_credential.archived",
    "vault_credential.deleted",
    "vault_credential.refresh_failed",
    "memory_store.created",
    "memory_store.archived",
    "memory_store.deleted",
    "deployment.created",
    "deployment.updated",
    "deployment.paused",
    "deployment.unpaused",
    "deployment.archived",
    "deployment.deleted",
    "deployment_run.started",
    "deployment_run.succeeded",
    "deployment_run.failed",
];

/// Whether `kind` is an event type the platform delivers.
#[must_use]
pub fn is_event_type(kind: &str) -> bool {
    EVENT_TYPES.contains(&kind)
}

/// A signing secret from 32 random bytes: `whsec_` and their base64.
#[must_use]
pub fn format_secret(bytes: &[u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The HMAC key of a signing secret (the base64 after `whsec_`).
#[must_use]
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()
}

/// The `webhook-signature` header value for a delivery: `v1,` and the
/// base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under the secret's key.
#[must_use]
pub fn signature(secret: &str, id: &str, timestamp_s: i64, body: &str) -> Option<String> {
    let key = secret_key(secret)?;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp_s}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The delivered payload: `{"type": "event", id, created_at, data}` where
/// `data` is `{type, id, organization_id}` plus `extra` (a credential's
/// `vault_id`, …).
#[must_use]
pub fn payload(
    event_id: &str,
    created_at: &str,
    kind: &str,
    object_id: &str,
    organization_id: &str,
    extra: &Value,
) -> Value {
    let mut data = json!({"type": kind, "id": object_id, "organization_id": organization_id});
    if let (Some(data), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            data.insert(key.clone(), value.clone());
        }
    }
    json!({"type": "event", "id": event_id, "created_at": created_at, "data": data})
}

/// The webhook events a persisted session event produces (the stream's
/// names differ from the webhooks': `session.status_idle` is delivered as
/// `session.status_idled` and `session.idled`).
#[must_use]
pub fn for_session_event(event: &Value) -> Vec<&'static str> {
    match event["type"].as_str().unwrap_or_default() {
        "session.status_running" => vec!["session.status_run_started", "session.running"],
        "session.status_idle" => {
            let mut kinds = vec!["session.status_idled", "session.idled"];
            if event["stop_reason"]["type"] == "requires_action" {
                kinds.push("session.requires_action");
            }
            kinds
        }
        "session.status_rescheduled" => vec!["session.status_rescheduled"],
        "session.status_terminated" => vec!["session.status_terminated"],
        _ => Vec::new(),
    }
}

/// Why the platform will not deliver to `url`, if it will not: only
/// `https://` URLs with a public host, unless the operator allows private
/// addresses (`allow_private`, local development), which also allows
/// `http://`.
pub fn check_url(url: &str, allow_private: bool) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "expected an https:// URL".to_owned())?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && !(allow_private && scheme == "http") {
        return Err("expected an https:// URL".to_owned());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry a user name or password".to_owned());
    }
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    if host.is_empty() {
        return Err("expected a URL with a host".to_owned());
    }
    if !allow_private && is_private_host(host) {
        return Err(format!(
            "{host} is a private, loopback or link-local address; deliveries go to public hosts only"
        ));
    }
    Ok(())
}

/// Whether `host` names this machine or a private network: `localhost`,
/// `*.localhost`, `*.internal`, `*.local`, and loopback, private,
/// link-local, shared (100.64/10), unique-local and unspecified addresses.
#[must_use]
pub fn is_private_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost"
        || [".localhost", ".internal", ".local"]
            .iter()
            .any(|suffix| host.ends_with(suffix))
    {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            let [a, b, ..] = ip.octets();
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            let first = ip.segments()[0];
            ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private_host(&v4.to_string()))
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_vector_signs_as_standard_webhooks_does() {
        let secret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let body = r#"{"type":"session.completed","data":{"session_id":"ses_1"}}"#;
        assert_eq!(
            signature(secret, "msg_2b7c1e0f9a", 1_735_689_600, body).unwrap(),
            "v1,mX0qDISKgGXZjMRtYdPm4bEMeZwlaLE7AZRagsg+Dgo="
        );
        // The upstream library's own test vector.
        assert_eq!(
            signature(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#
            )
            .unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_secret_is_whsec_and_base64_of_its_key() {
        let bytes: [u8; 32] = std::array::from_fn(|i| u8::try_from(i).unwrap());
        let secret = format_secret(&bytes);
        assert_eq!(secret, "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        assert_eq!(secret_key(&secret).unwrap(), bytes.to_vec());
        assert!(secret_key("whsec_not base64!").is_none());
    }

    #[test]
    fn session_events_map_to_the_webhook_names() {
        assert_eq!(
            for_session_event(&json!({"type": "session.status_running"})),
            ["session.status_run_started", "session.running"]
        );
        assert_eq!(
            for_session_event(
                &json!({"type": "session.status_idle", "stop_reason": {"type": "requires_action"}})
            ),
            [
                "session.status_idled",
                "session.idled",
                "session.requires_action"
            ]
        );
        assert!(for_session_event(&json!({"type": "agent.message"})).is_empty());
        for kind in [
            "session.status_run_started",
            "session.idled",
            "memory_store.deleted",
            "deployment.paused",
            "deployment_run.failed",
        ] {
            assert!(is_event_type(kind));
        }
        assert!(!is_event_type("session.status_idle"));
    }

    #[test]
    fn only_public_https_urls_unless_private_ones_are_allowed() {
        assert!(check_url("https://hooks.example.com/in", false).is_ok());
        for refused in [
            "http://hooks.example.com/in",
            "https://127.0.0.1:8080/in",
            "https://localhost/in",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest",
            "https://100.64.0.1/",
            "https://[::1]/",
            "https://[fd00::1]:443/",
            "https://[::ffff:10.0.0.1]/",
            "https://user:pw@hooks.example.com/",
            "https:///path",
            "hooks.example.com",
            "https://metadata.internal/",
        ] {
            assert!(check_url(refused, false).is_err(), "{refused}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/", true).is_err());
    }

    #[test]
    fn the_payload_is_a_thin_event_with_ids() {
        let p = payload(
            "whe_1",
            "2026-01-01T00:00:00Z",
            "vault_credential.created",
            "vcrd_1",
            "default",
            &json!({"vault_id": "vlt_1"}),
        );
        assert_eq!(
            p,
            json!({"type": "event", "id": "whe_1", "created_at": "2026-01-01T00:00:00Z",
                "data": {"type": "vault_credential.created", "id": "vcrd_1",
                         "organization_id": "default", "vault_id": "vlt_1"}})
        );
    }
}
