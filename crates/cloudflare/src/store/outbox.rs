//! What the two outboxes (`integration_deliveries`, the replies to
//! providers; `webhook_deliveries`, the events for webhook endpoints) share:
//! a pending row is retried later or given up on, and only while it is
//! still pending (a concurrent re-drive or send wins).

use worker::Env;

use super::Param;

/// An outbox table.
#[derive(Debug, Clone, Copy)]
pub struct Outbox(&'static str);

/// Replies to Slack, Linear and GitHub.
pub const INTEGRATION_DELIVERIES: Outbox = Outbox("integration_deliveries");

/// Events for webhook endpoints.
pub const WEBHOOK_DELIVERIES: Outbox = Outbox("webhook_deliveries");

/// Records a failed attempt of a pending row and when to try again;
/// `false` if no pending row has that id.
pub async fn retry(
    env: &Env,
    outbox: Outbox,
    id: &str,
    attempts: i64,
    next_attempt_at: i64,
    error: &str,
    now: &str,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        &format!(
            "UPDATE {} SET attempts = ?2, next_attempt_at = ?3, last_error = ?4, updated_at = ?5
             WHERE id = ?1 AND status = 'pending'",
            outbox.0
        ),
        &[
            Param::from(id),
            Param::Int(attempts),
            Param::Int(next_attempt_at),
            Param::from(error),
            Param::from(now),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Gives up on a pending row; `false` if no pending row has that id.
pub async fn dead(
    env: &Env,
    outbox: Outbox,
    id: &str,
    attempts: i64,
    error: &str,
    now: &str,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        &format!(
            "UPDATE {} SET status = 'dead', attempts = ?2, last_error = ?3, updated_at = ?4
             WHERE id = ?1 AND status = 'pending'",
            outbox.0
        ),
        &[
            Param::from(id),
            Param::Int(attempts),
            Param::from(error),
            Param::from(now),
        ],
    )
    .await?;
    Ok(changed > 0)
}
