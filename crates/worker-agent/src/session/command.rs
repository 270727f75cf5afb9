//! Requests to a SessionDO, parsed once into a typed command.

use worker::Method;

/// What the main worker asks of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// `GET /health`: the object's storage answers.
    Health,
    /// `POST /init`: create the session.
    Init,
    /// `GET /session`.
    Get,
    /// `POST /session`: update title, metadata, agent tools.
    Update,
    /// `DELETE /session`.
    Delete,
    /// `POST /archive`.
    Archive,
    /// `POST /events`: send user events.
    SendEvents,
    /// `GET /events`: list the log.
    ListEvents,
    /// `GET /stream`: live SSE.
    Stream,
    /// `POST /resources`: attach a resource (already checked by main).
    AddResource,
    /// `DELETE /resources/{id}`: detach one.
    DeleteResource(String),
    /// `POST /sweep`: move the storage into an archive in R2 (the retention
    /// pass asks it of each candidate).
    Sweep,
    /// `GET /storage`: where the log is, and what the storage holds.
    Storage,
}

impl Command {
    /// Parses `/health` or `/sessions/{id}/<command>` (the main worker's
    /// paths, forwarded unchanged).
    pub(crate) fn parse(method: &Method, path: &str) -> Option<Self> {
        let path = path.trim_end_matches('/');
        let rest = match path.strip_prefix("/sessions/") {
            Some(rest) => rest.split_once('/').map_or("", |(_, rest)| rest),
            None => path.trim_start_matches('/'),
        };
        let command = match (method, format!("/{rest}").as_str()) {
            (Method::Get, "/health") => Self::Health,
            (Method::Post, "/init") => Self::Init,
            (Method::Get, "/session") => Self::Get,
            (Method::Post, "/session") => Self::Update,
            (Method::Delete, "/session") => Self::Delete,
            (Method::Post, "/archive") => Self::Archive,
            (Method::Post, "/events") => Self::SendEvents,
            (Method::Get, "/events") => Self::ListEvents,
            (Method::Get, "/stream") => Self::Stream,
            (Method::Post, "/resources") => Self::AddResource,
            (Method::Post, "/sweep") => Self::Sweep,
            (Method::Get, "/storage") => Self::Storage,
            (Method::Delete, other) if other.starts_with("/resources/") => {
                let id = &other["/resources/".len()..];
                if id.is_empty() || id.contains('/') {
                    return None;
                }
                Self::DeleteResource(id.to_owned())
            }
            _ => return None,
        };
        Some(command)
    }

    /// Whether the command changes the session (a swept session's storage
    /// is restored first).
    pub(crate) fn changes(&self) -> bool {
        match self {
            Self::Update
            | Self::Archive
            | Self::SendEvents
            | Self::AddResource
            | Self::DeleteResource(_) => true,
            Self::Health
            | Self::Init
            | Self::Get
            | Self::Delete
            | Self::ListEvents
            | Self::Stream
            | Self::Sweep
            | Self::Storage => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Command;
    use worker::Method;

    #[test]
    fn parses_forwarded_paths() {
        assert_eq!(
            Command::parse(&Method::Get, "/health"),
            Some(Command::Health)
        );
        assert_eq!(
            Command::parse(&Method::Post, "/sessions/sesn_1/events"),
            Some(Command::SendEvents)
        );
        assert_eq!(
            Command::parse(&Method::Get, "/sessions/sesn_1/stream"),
            Some(Command::Stream)
        );
        assert_eq!(
            Command::parse(&Method::Put, "/sessions/sesn_1/events"),
            None
        );
        assert_eq!(Command::parse(&Method::Get, "/sessions/sesn_1/nope"), None);
        assert_eq!(
            Command::parse(&Method::Delete, "/sessions/sesn_1/resources/sesrsc_1"),
            Some(Command::DeleteResource("sesrsc_1".to_owned()))
        );
        assert_eq!(
            Command::parse(&Method::Delete, "/sessions/sesn_1/resources/a/b"),
            None
        );
        assert_eq!(
            Command::parse(&Method::Post, "/sessions/sesn_1/sweep"),
            Some(Command::Sweep)
        );
        assert_eq!(
            Command::parse(&Method::Get, "/sessions/sesn_1/storage"),
            Some(Command::Storage)
        );
        assert!(Command::SendEvents.changes() && !Command::ListEvents.changes());
    }
}
