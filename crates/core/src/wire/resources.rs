//! Smaller API objects: vaults, memory stores, memories, files.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

use super::object_type::FileType;
use super::object_type::MemoryStoreType;
use super::object_type::MemoryType;
use super::object_type::MemoryVersionType;
use super::object_type::VaultType;
use super::time::Timestamp;

/// A vault of credentials (`vlt_`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vault {
    /// `vlt_` id.
    pub id: String,
    /// Always `"vault"`.
    #[serde(rename = "type")]
    pub kind: VaultType,
    /// Display name (1–255).
    pub display_name: String,
    /// String metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time.
    pub updated_at: Timestamp,
    /// Archive time.
    #[serde(default)]
    pub archived_at: Option<Timestamp>,
}

/// A memory store (`memstore_`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStore {
    /// `memstore_` id.
    pub id: String,
    /// Always `"memory_store"`.
    #[serde(rename = "type")]
    pub kind: MemoryStoreType,
    /// Name (1–255).
    pub name: String,
    /// Description (`""` when unset).
    #[serde(default)]
    pub description: String,
    /// String metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time.
    pub updated_at: Timestamp,
    /// Archive time.
    #[serde(default)]
    pub archived_at: Option<Timestamp>,
}

/// A memory (`mem_`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// `mem_` id.
    pub id: String,
    /// Always `"memory"`.
    #[serde(rename = "type")]
    pub kind: MemoryType,
    /// Owning store.
    pub memory_store_id: String,
    /// Absolute path (`/notes/a.md`).
    pub path: String,
    /// Content; `null` with `view=basic`.
    #[serde(default)]
    pub content: Option<String>,
    /// Hex SHA-256 of the content.
    pub content_sha256: String,
    /// Content size in bytes.
    pub content_size_bytes: u64,
    /// Current version.
    pub memory_version_id: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time.
    pub updated_at: Timestamp,
}

/// A memory version (`memver_`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryVersion {
    /// `memver_` id.
    pub id: String,
    /// Always `"memory_version"`.
    #[serde(rename = "type")]
    pub kind: MemoryVersionType,
    /// The memory.
    pub memory_id: String,
    /// The store.
    pub memory_store_id: String,
    /// `created`, `modified` or `deleted`.
    pub operation: String,
    /// Content at this version.
    #[serde(default)]
    pub content: Option<String>,
    /// Hex SHA-256 of the content.
    #[serde(default)]
    pub content_sha256: Option<String>,
    /// Content size in bytes.
    #[serde(default)]
    pub content_size_bytes: Option<u64>,
    /// Path at this version.
    #[serde(default)]
    pub path: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Redaction time.
    #[serde(default)]
    pub redacted_at: Option<Timestamp>,
}

/// An uploaded file (`file_`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// `file_` id.
    pub id: String,
    /// Always `"file"`.
    #[serde(rename = "type")]
    pub kind: FileType,
    /// Original file name.
    pub filename: String,
    /// MIME type.
    pub mime_type: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Upload time.
    pub created_at: Timestamp,
    /// Whether it can be downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloadable: Option<bool>,
    /// Expiry time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}
