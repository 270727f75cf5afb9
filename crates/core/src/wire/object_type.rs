//! Constant `type` discriminators of API objects (`"agent"`, `"session"`, …).

/// Declares a one-value enum that (de)serializes as the string `$tag`, for
/// the `type` field of an API object.
macro_rules! object_type {
    ($(#[$doc:meta])* $name:ident = $tag:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            #[doc = concat!("`\"", $tag, "\"`")]
            #[default]
            #[serde(rename = $tag)]
            Tag,
        }
    };
}

object_type!(
    /// `"agent"`.
    AgentType = "agent"
);
object_type!(
    /// `"environment"`.
    EnvironmentType = "environment"
);
object_type!(
    /// `"session"`.
    SessionType = "session"
);
object_type!(
    /// `"vault"`.
    VaultType = "vault"
);
object_type!(
    /// `"memory_store"`.
    MemoryStoreType = "memory_store"
);
object_type!(
    /// `"memory"`.
    MemoryType = "memory"
);
object_type!(
    /// `"memory_version"`.
    MemoryVersionType = "memory_version"
);
object_type!(
    /// `"file"`.
    FileType = "file"
);
object_type!(
    /// `"error"`, the error envelope's type.
    ErrorEnvelopeType = "error"
);
object_type!(
    /// `"work"`, a self-hosted environment's work item.
    WorkType = "work"
);
object_type!(
    /// `"work_heartbeat"`, the answer to a work item's heartbeat.
    WorkHeartbeatType = "work_heartbeat"
);
object_type!(
    /// `"work_queue_stats"`, an environment's work queue statistics.
    WorkQueueStatsType = "work_queue_stats"
);
object_type!(
    /// `"environment_key"`, a self-hosted environment's worker credential.
    EnvironmentKeyType = "environment_key"
);
