//! A self-hosted environment's work queue, the pure rules: the poll's and
//! the heartbeat's parameters, what an ack, a heartbeat or a stop does to a
//! work item, and the item's `secret`.
//!
//! The store applies a decision with a write conditional on what the
//! decision read, so two workers racing for one item never both win.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::wire::Timestamp;
use crate::wire::ValidationError;
use crate::wire::object_type::WorkHeartbeatType;
use crate::wire::work::WorkHeartbeat;
use crate::wire::work::WorkLeaseState;
use crate::wire::work::WorkState;

/// How an environment key begins (the rest is 32 random bytes, base64url).
pub const ENVIRONMENT_KEY_PREFIX: &str = "oma_env_";
/// How a work item's sessions token begins.
pub const SESSIONS_TOKEN_PREFIX: &str = "oma_work_";

/// What a first heartbeat expects: no heartbeat stored yet.
pub const NO_HEARTBEAT: &str = "NO_HEARTBEAT";
/// The longest a poll may wait for work.
pub const MAX_BLOCK_MS: u64 = 999;
/// How long a handed-out item may go unacknowledged before a poll hands it
/// out again, unless the poll says otherwise.
pub const DEFAULT_RECLAIM_MS: u64 = 5_000;
/// The lease's TTL when the heartbeat asks for none.
pub const DEFAULT_LEASE_TTL_SECONDS: u32 = 300;
/// The longest lease a heartbeat may ask for.
pub const MAX_LEASE_TTL_SECONDS: u32 = 3_600;
/// A worker counts as polling for this long after its latest poll.
pub const POLLING_WINDOW_MS: u64 = 30_000;
/// The longest `Anthropic-Worker-ID` kept.
pub const MAX_WORKER_ID: usize = 256;

/// `GET .../work/poll`'s query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollParams {
    /// How long to wait for work; `None` answers at once.
    pub block_ms: Option<u64>,
    /// How long a handed-out item may go unacknowledged before it is
    /// handed out again.
    pub reclaim_older_than_ms: u64,
}

/// Parses the poll's `block_ms` (1 to 999) and `reclaim_older_than_ms`
/// (at least 0, default 5000).
pub fn parse_poll_params(
    block_ms: Option<&str>,
    reclaim_older_than_ms: Option<&str>,
) -> Result<PollParams, ValidationError> {
    let block_ms = match block_ms {
        None => None,
        Some(text) => Some(
            text.parse::<u64>()
                .ok()
                .filter(|ms| (1..=MAX_BLOCK_MS).contains(ms))
                .ok_or_else(|| {
                    ValidationError::new(
                        "block_ms",
                        format!("expected an integer from 1 to {MAX_BLOCK_MS} (milliseconds)"),
                    )
                })?,
        ),
    };
    let reclaim_older_than_ms = match reclaim_older_than_ms {
        None => DEFAULT_RECLAIM_MS,
        Some(text) => text.parse::<u64>().map_err(|_| {
            ValidationError::new(
                "reclaim_older_than_ms",
                "expected a non-negative integer (milliseconds)",
            )
        })?,
    };
    Ok(PollParams {
        block_ms,
        reclaim_older_than_ms,
    })
}

/// Checks a poll's `Anthropic-Worker-ID`: empty counts as absent.
pub fn parse_worker_id(header: Option<&str>) -> Result<Option<String>, ValidationError> {
    match header.map(str::trim) {
        None | Some("") => Ok(None),
        Some(id) if id.chars().count() > MAX_WORKER_ID => Err(ValidationError::new(
            "Anthropic-Worker-ID",
            format!("at most {MAX_WORKER_ID} characters"),
        )),
        Some(id) => Ok(Some(id.to_owned())),
    }
}

/// `POST .../heartbeat`'s query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeartbeatParams {
    /// The heartbeat the worker last saw (`NO_HEARTBEAT` for none); `None`
    /// does not compare.
    pub expected_last_heartbeat: Option<String>,
    /// The TTL the worker asks for.
    pub desired_ttl_seconds: Option<u32>,
}

/// Parses the heartbeat's `expected_last_heartbeat` and
/// `desired_ttl_seconds` (1 to 3600).
pub fn parse_heartbeat_params(
    expected_last_heartbeat: Option<&str>,
    desired_ttl_seconds: Option<&str>,
) -> Result<HeartbeatParams, ValidationError> {
    let desired_ttl_seconds = match desired_ttl_seconds {
        None => None,
        Some(text) => Some(
            text.parse::<u32>()
                .ok()
                .filter(|s| (1..=MAX_LEASE_TTL_SECONDS).contains(s))
                .ok_or_else(|| {
                    ValidationError::new(
                        "desired_ttl_seconds",
                        format!("expected an integer from 1 to {MAX_LEASE_TTL_SECONDS}"),
                    )
                })?,
        ),
    };
    if expected_last_heartbeat.is_some_and(|text| text.len() > 64) {
        return Err(ValidationError::new(
            "expected_last_heartbeat",
            "expected `NO_HEARTBEAT` or the last heartbeat's timestamp",
        ));
    }
    Ok(HeartbeatParams {
        expected_last_heartbeat: expected_last_heartbeat.map(str::to_owned),
        desired_ttl_seconds,
    })
}

/// A work item's lease, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The item's state.
    pub state: WorkState,
    /// Whether a poll has handed it out (since it was queued or reclaimed).
    pub handed_out: bool,
    /// The stored heartbeat.
    pub last_heartbeat: Option<Timestamp>,
    /// The lease's TTL, once a heartbeat set one.
    pub ttl_seconds: Option<u32>,
}

impl Lease {
    /// The stored heartbeat as the wire shows it.
    #[must_use]
    pub fn last_heartbeat_text(&self) -> Option<String> {
        self.last_heartbeat.map(Timestamp::to_rfc3339)
    }

    fn ttl_or(&self, default_ttl: u32) -> u32 {
        self.ttl_seconds.unwrap_or(default_ttl)
    }
}

/// What a heartbeat does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heartbeat {
    /// Store `last_heartbeat`, make the item active, and run the lease
    /// `ttl_seconds` from now.
    Extend {
        /// The new heartbeat (always later than the stored one, so that
        /// each heartbeat has its own value to echo).
        last_heartbeat: Timestamp,
        /// The lease's TTL.
        ttl_seconds: u32,
    },
    /// The item is stopping or stopped: answer this, which tells the worker
    /// to stop, and change nothing.
    Decline(WorkHeartbeat),
    /// The worker's `expected_last_heartbeat` is not the stored one:
    /// another worker may hold the lease (412).
    PreconditionFailed(WorkLeaseState),
    /// No poll handed the item out: nobody can hold it (409).
    NotHandedOut,
}

/// Decides a heartbeat on `lease` at `now`.
#[must_use]
pub fn heartbeat(
    lease: &Lease,
    params: &HeartbeatParams,
    default_ttl: u32,
    now: Timestamp,
) -> Heartbeat {
    match lease.state {
        WorkState::Stopping | WorkState::Stopped => {
            return Heartbeat::Decline(WorkHeartbeat {
                kind: WorkHeartbeatType::Tag,
                last_heartbeat: lease.last_heartbeat_text().unwrap_or_default(),
                lease_extended: false,
                state: lease.state,
                ttl_seconds: lease.ttl_or(default_ttl),
            });
        }
        WorkState::Queued if !lease.handed_out => return Heartbeat::NotHandedOut,
        WorkState::Queued | WorkState::Starting | WorkState::Active => {}
    }
    if let Some(expected) = &params.expected_last_heartbeat {
        let stored = lease.last_heartbeat_text();
        let matches = match &stored {
            None => expected == NO_HEARTBEAT,
            Some(stored) => expected == stored,
        };
        if !matches {
            return Heartbeat::PreconditionFailed(WorkLeaseState {
                last_heartbeat: stored,
                lease_extended: false,
                state: lease.state,
                ttl_seconds: lease.ttl_or(default_ttl),
            });
        }
    }
    let last_heartbeat = match lease.last_heartbeat {
        Some(stored) if stored >= now => stored.plus_ms(1),
        _ => now,
    };
    Heartbeat::Extend {
        last_heartbeat,
        ttl_seconds: params.desired_ttl_seconds.unwrap_or(default_ttl),
    }
}

/// What an ack does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// `queued` → `starting`, with a lease of the default TTL.
    Acknowledge,
    /// Already acknowledged: answer the item as it is.
    Unchanged,
    /// Refused (409), saying why.
    Refuse(&'static str),
}

/// Decides an ack of an item with `lease`.
#[must_use]
pub fn ack(lease: &Lease) -> Ack {
    match lease.state {
        WorkState::Queued if lease.handed_out => Ack::Acknowledge,
        WorkState::Queued => Ack::Refuse("the work item has not been handed out by a poll"),
        WorkState::Starting | WorkState::Active => Ack::Unchanged,
        WorkState::Stopping => Ack::Refuse("the work item is stopping"),
        WorkState::Stopped => Ack::Refuse("the work item has stopped"),
    }
}

/// What a stop does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `stopped` now.
    Stop,
    /// `stopping`: the worker's next heartbeat tells it to stop.
    RequestStop,
    /// Already stopping: answer the item as it is.
    Unchanged,
    /// Already stopped (409).
    AlreadyStopped,
}

/// Decides a stop of an item in `state`; `force` stops it even while a
/// worker holds it.
#[must_use]
pub fn stop(state: WorkState, force: bool) -> Stop {
    match state {
        WorkState::Stopped => Stop::AlreadyStopped,
        _ if force => Stop::Stop,
        // Nobody holds an item that is not acknowledged.
        WorkState::Queued => Stop::Stop,
        WorkState::Starting | WorkState::Active => Stop::RequestStop,
        WorkState::Stopping => Stop::Unchanged,
    }
}

fn only_fields(body: &Value, allowed: &[&str]) -> Result<(), ValidationError> {
    match body {
        Value::Null => Ok(()),
        Value::Object(fields) => match fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(unknown) => Err(ValidationError::new(unknown.as_str(), "unknown field")),
            None => Ok(()),
        },
        _ => Err(ValidationError::new("", "expected an object")),
    }
}

/// Parses a stop's body, `{"force"?: bool}` (an empty body is `{}`).
pub fn parse_stop(body: &Value) -> Result<bool, ValidationError> {
    only_fields(body, &["force"])?;
    match body.get("force") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(force)) => Ok(*force),
        Some(_) => Err(ValidationError::new("force", "expected a boolean")),
    }
}

/// Parses an update's body, `{"metadata"?: {key: string | null}}`: the
/// metadata patch.
pub fn parse_update(body: &Value) -> Result<BTreeMap<String, Option<String>>, ValidationError> {
    only_fields(body, &["metadata"])?;
    match body.get("metadata") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(pairs)) => pairs
            .iter()
            .map(|(key, value)| match value {
                Value::String(value) => Ok((key.clone(), Some(value.clone()))),
                Value::Null => Ok((key.clone(), None)),
                _ => Err(ValidationError::new(
                    format!("metadata.{key}"),
                    "expected a string or null",
                )),
            })
            .collect(),
        Some(_) => Err(ValidationError::new("metadata", "expected an object")),
    }
}

/// Refuses the session resources a self-hosted environment cannot have:
/// `file` and `github_repository` (the platform has no sandbox there to put
/// them in), and `memory_store` (the worker's memory sync is not served).
/// `field` names each item in errors (`resources[0]`, or empty for a body
/// that is the resource).
pub fn check_self_hosted_resources(
    items: &[Value],
    field: &dyn Fn(usize) -> String,
) -> Result<(), ValidationError> {
    for (i, item) in items.iter().enumerate() {
        let kind = item.get("type").and_then(Value::as_str);
        let why = match kind {
            Some("file" | "github_repository") => {
                "the worker's machine provides its own files and repositories"
            }
            Some("memory_store") => "the platform does not serve the worker's memory sync yet",
            _ => continue,
        };
        let base = field(i);
        let path = if base.is_empty() {
            "type".to_owned()
        } else {
            format!("{base}.type")
        };
        return Err(ValidationError::new(
            path,
            format!(
                "{} resources are not supported on self_hosted environments: {why}",
                kind.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// An item's `secret`: URL-safe base64 (unpadded) of
/// `{"sessions_token": token}`, as the SDK's worker reads it.
#[must_use]
pub fn encode_secret(sessions_token: &str) -> String {
    let payload = serde_json::json!({ "sessions_token": sessions_token });
    URL_SAFE_NO_PAD.encode(payload.to_string())
}

/// The sessions token in a `secret`, read as the SDK reads it (padding
/// optional).
#[must_use]
pub fn sessions_token_from_secret(secret: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(secret.trim_end_matches('=')).ok()?;
    let payload: Value = serde_json::from_slice(&bytes).ok()?;
    payload
        .get("sessions_token")?
        .as_str()
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
#[path = "work_tests.rs"]
mod tests;
