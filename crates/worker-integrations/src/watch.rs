//! Reading a session's event stream for the turns that end: what the
//! thread is told when the agent comes to rest. Pure, so that a replay of
//! the same events decides the same replies.

use openma_core::integrations::ReplyKind;
use openma_core::integrations::message_text;
use serde_json::Value;

/// What a turn's end sends back to the thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TurnEnd {
    /// The seq of the event that ended the turn: the reply's anchor, and
    /// where the next read of the stream starts.
    pub(crate) seq: u64,
    /// The reply, if the turn produced one.
    pub(crate) reply: Option<(ReplyKind, String)>,
    /// The input the platform is waiting on was answered: the session is
    /// at rest (or ended) after it.
    pub(crate) settled: bool,
}

/// The events of one stream read, from the last turn's end onwards.
#[derive(Debug, Clone)]
pub(crate) struct TurnWatch {
    /// The id of the last event this thread sent, until the stream shows
    /// it; `None` once seen (or when the session was created with it).
    pending: Option<String>,
    /// The last agent message since the last turn's end.
    text: Option<String>,
}

impl TurnWatch {
    /// A watch that waits for the event `pending` (the thread's last input)
    /// before a turn's end settles it.
    pub(crate) fn new(pending: Option<String>) -> Self {
        Self {
            pending,
            text: None,
        }
    }

    /// Whether the input being waited on has been seen.
    pub(crate) fn pending_seen(&self) -> bool {
        self.pending.is_none()
    }

    /// Reads one event (its seq and JSON); a turn's end when it is one.
    pub(crate) fn see(&mut self, seq: u64, event: &Value) -> Option<TurnEnd> {
        if self.pending.as_deref().is_some_and(|id| event["id"] == id) {
            self.pending = None;
        }
        match event["type"].as_str().unwrap_or_default() {
            "user.message" => {
                self.text = None;
                None
            }
            "agent.message" => {
                let text = message_text(&event["content"]);
                if !text.trim().is_empty() {
                    self.text = Some(text);
                }
                None
            }
            "session.status_idle" => {
                let text = self.text.take();
                let reason = event["stop_reason"]["type"].as_str().unwrap_or("end_turn");
                let reply = match reason {
                    "requires_action" => Some((
                        ReplyKind::Thought,
                        "The agent is waiting for a tool call to be confirmed; \
                         approve or deny it in the session, then write here again."
                            .to_owned(),
                    )),
                    "retries_exhausted" => Some((
                        ReplyKind::Error,
                        text.unwrap_or_else(|| {
                            "The agent could not finish: the model provider kept failing."
                                .to_owned()
                        }),
                    )),
                    _ => text.map(|text| (ReplyKind::Response, text)),
                };
                Some(TurnEnd {
                    seq,
                    reply,
                    settled: self.pending.is_none(),
                })
            }
            "session.status_terminated" | "session.deleted" => Some(TurnEnd {
                seq,
                reply: self.text.take().map(|text| (ReplyKind::Response, text)),
                settled: true,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(kind: &str, id: &str, text: &str) -> Value {
        json!({"id": id, "type": kind, "content": [{"type": "text", "text": text}]})
    }

    fn idle(reason: &str) -> Value {
        json!({"id": "sevt_idle", "type": "session.status_idle", "stop_reason": {"type": reason}})
    }

    #[test]
    fn a_turn_end_replies_with_the_last_agent_message() {
        let mut watch = TurnWatch::new(None);
        assert_eq!(watch.see(1, &message("user.message", "e1", "hi")), None);
        assert_eq!(watch.see(2, &message("agent.message", "e2", "first")), None);
        assert_eq!(
            watch.see(3, &message("agent.message", "e3", "second")),
            None
        );
        let end = watch.see(4, &idle("end_turn")).unwrap();
        assert_eq!(end.seq, 4);
        assert_eq!(end.reply, Some((ReplyKind::Response, "second".to_owned())));
        assert!(end.settled);
    }

    #[test]
    fn a_turn_before_the_pending_input_does_not_settle_it() {
        let mut watch = TurnWatch::new(Some("e9".to_owned()));
        watch.see(1, &message("agent.message", "e2", "earlier answer"));
        let end = watch.see(2, &idle("end_turn")).unwrap();
        assert!(!end.settled);
        watch.see(3, &message("user.message", "e9", "follow-up"));
        assert!(watch.pending_seen());
        watch.see(4, &message("agent.message", "e10", "later answer"));
        let end = watch.see(5, &idle("end_turn")).unwrap();
        assert_eq!(
            end.reply,
            Some((ReplyKind::Response, "later answer".to_owned()))
        );
        assert!(end.settled);
    }

    #[test]
    fn a_silent_turn_has_no_reply_and_a_waiting_one_says_so() {
        let mut watch = TurnWatch::new(None);
        assert_eq!(watch.see(1, &idle("end_turn")).unwrap().reply, None);
        let waiting = watch.see(2, &idle("requires_action")).unwrap();
        assert_eq!(waiting.reply.map(|r| r.0), Some(ReplyKind::Thought));
        let failed = watch.see(3, &idle("retries_exhausted")).unwrap();
        assert_eq!(failed.reply.map(|r| r.0), Some(ReplyKind::Error));
    }
}
