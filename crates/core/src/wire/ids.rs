//! Id prefixes and the deterministic event-id scheme.
//!
//! Core never mints random ids: adapters mint resource ids (with these
//! prefixes) and event ids inside a session are derived from the session id
//! and the event's sequence number, so replaying a log yields the same ids.

/// Prefix of agent ids.
pub const AGENT_PREFIX: &str = "agent_";
/// Prefix of environment ids.
pub const ENVIRONMENT_PREFIX: &str = "env_";
/// Prefix of session ids.
pub const SESSION_PREFIX: &str = "sesn_";
/// Prefix of session event ids.
pub const EVENT_PREFIX: &str = "sevt_";
/// Prefix of session thread ids.
pub const THREAD_PREFIX: &str = "sthr_";
/// Prefix of vault ids.
pub const VAULT_PREFIX: &str = "vlt_";
/// Prefix of vault credential ids.
pub const CREDENTIAL_PREFIX: &str = "vcrd_";
/// Prefix of memory store ids.
pub const MEMORY_STORE_PREFIX: &str = "memstore_";
/// Prefix of memory ids.
pub const MEMORY_PREFIX: &str = "mem_";
/// Prefix of memory version ids.
pub const MEMORY_VERSION_PREFIX: &str = "memver_";
/// Prefix of file ids.
pub const FILE_PREFIX: &str = "file_";
/// Prefix of outcome ids.
pub const OUTCOME_PREFIX: &str = "outc_";
/// Prefix of opaque page cursors.
pub const PAGE_PREFIX: &str = "page_";
/// Prefix of request ids.
pub const REQUEST_PREFIX: &str = "req_";

/// Position of an event in its session's log; the first event has seq 1.
///
/// Fits in a DO SQLite integer (checked once at the adapter).
pub type EventSeq = u64;

/// The id of the event at `seq` in session `session_id`:
/// `sevt_<session suffix>_<seq, zero-padded to 6 digits>`.
///
/// Deterministic, so a replayed or retried append mints the same id.
#[must_use]
pub fn event_id(session_id: &str, seq: EventSeq) -> String {
    let suffix = session_id
        .strip_prefix(SESSION_PREFIX)
        .unwrap_or(session_id);
    format!("{EVENT_PREFIX}{suffix}_{seq:06}")
}

/// Whether `id` starts with `prefix` and has a non-empty suffix made of
/// ASCII letters, digits, `_` or `-`.
#[must_use]
pub fn has_prefix(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}
