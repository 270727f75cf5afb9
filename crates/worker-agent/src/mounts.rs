//! A session's mounts: its uploaded files and memory stores, placed in its
//! sandbox at set-up, and what the agent changes there carried back:
//! memory-store changes become memory versions written by the session, and
//! files under `/mnt/session/outputs` become files scoped to the session.
//!
//! What the sandbox held at the last synchronisation is kept in the
//! SessionDO's `mount_roots` / `mount_files` tables. After every tool call
//! the sandbox answers with a fingerprint of each watched directory; only
//! when one differs from the stored one is the directory listed and
//! compared, so a call that changed nothing costs no extra round trip.
//! Applying a change is idempotent (a memory already holding the content is
//! left alone), so a synchronisation cut short is simply done again.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use openma_cloudflare::internal::SessionRecord;
use openma_cloudflare::store::files;
use openma_cloudflare::store::memory;
use openma_core::control::memory::MAX_CONTENT_BYTES;
use openma_core::control::memory::validate_path;
use openma_core::sandbox::FileListing;
use openma_core::sandbox::MountKind;
use openma_core::sandbox::MountParams;
use openma_core::sandbox::MountStatus;
use openma_core::sandbox::OUTPUTS_DIR;
use openma_core::sandbox::TreeFile;
use openma_core::sandbox::TreeParams;
use openma_core::wire::Timestamp;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Method;
use worker::SqlStorage;
use worker::SqlStorageValue;
use worker::wasm_bindgen::JsValue;

use crate::tools::SandboxTools;

/// Largest output file collected (bytes). An output passes through the
/// worker's memory (128 MB) on its way to R2, so larger ones are left in
/// place and reported in the logs.
const MAX_OUTPUT_BYTES: u64 = 32 * 1000 * 1000;
/// Most memories placed from one store.
const MAX_MEMORIES: usize = 10_000;

/// One resource placed in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Placement {
    /// An uploaded file, read-only at `path`.
    File { file_id: String, path: String },
    /// A memory store's memories under the directory `path`.
    Memory {
        store_id: String,
        path: String,
        read_only: bool,
    },
}

impl Placement {
    fn path(&self) -> &str {
        match self {
            Self::File { path, .. } | Self::Memory { path, .. } => path,
        }
    }
}

/// The session's mounts and their synchronisation state.
#[derive(Debug, Clone)]
pub(crate) struct Mounts {
    env: Env,
    sql: SqlStorage,
    tenant_id: String,
    session_id: String,
    placements: Vec<Placement>,
}

impl Mounts {
    /// The mounts the session's `resources` describe (as normalised by the
    /// control plane at creation).
    pub(crate) fn new(env: Env, sql: SqlStorage, record: &SessionRecord) -> Self {
        let text = |r: &Value, key: &str| r[key].as_str().map(str::to_owned);
        let placements = record
            .resources
            .iter()
            .filter_map(|r| match r["type"].as_str()? {
                "file" => Some(Placement::File {
                    file_id: text(r, "file_id")?,
                    path: text(r, "mount_path")?,
                }),
                "memory_store" => Some(Placement::Memory {
                    store_id: text(r, "memory_store_id")?,
                    path: text(r, "mount_path")?,
                    read_only: r["access"].as_str() == Some("read_only"),
                }),
                _ => None,
            })
            .collect();
        Self {
            env,
            sql,
            tenant_id: record.tenant_id.clone(),
            session_id: record.id.clone(),
            placements,
        }
    }

    /// The same session's mounts for its changed `resources`.
    pub(crate) fn with_resources(&self, record: &SessionRecord) -> Self {
        Self::new(self.env.clone(), self.sql.clone(), record)
    }

    /// What set-up asks the sandbox to mount.
    pub(crate) fn setup_params(&self) -> Vec<MountParams> {
        self.placements
            .iter()
            .map(|p| match p {
                Placement::File { path, .. } => MountParams {
                    path: path.clone(),
                    kind: MountKind::File,
                    read_only: true,
                },
                Placement::Memory {
                    path, read_only, ..
                } => MountParams {
                    path: path.clone(),
                    kind: MountKind::Directory,
                    read_only: *read_only,
                },
            })
            .collect()
    }

    /// The directories whose changes are carried back: the outputs and every
    /// writable memory store.
    pub(crate) fn watch(&self) -> Vec<String> {
        let mut roots = vec![OUTPUTS_DIR.to_owned()];
        roots.extend(self.placements.iter().filter_map(|p| match p {
            Placement::Memory {
                path,
                read_only: false,
                ..
            } => Some(path.clone()),
            _ => None,
        }));
        roots
    }

    /// Fills every mount the sandbox has just created, or that was never
    /// filled: uploaded files from R2, memory stores from D1.
    pub(crate) async fn fill(
        &self,
        tools: &SandboxTools,
        statuses: &[MountStatus],
    ) -> Result<(), String> {
        for placement in &self.placements {
            let created = statuses
                .iter()
                .find(|s| s.path == placement.path())
                .is_none_or(|s| s.created);
            if !created && self.filled(placement.path())? {
                continue;
            }
            match placement {
                Placement::File { file_id, path } => self.place_file(tools, file_id, path).await?,
                Placement::Memory { store_id, path, .. } => {
                    self.place_store(tools, store_id, path).await?;
                }
            }
            self.exec(
                "INSERT INTO mount_roots (root, filled) VALUES (?, 1)
                 ON CONFLICT (root) DO UPDATE SET filled = 1",
                vec![placement.path().into()],
            )?;
        }
        Ok(())
    }

    /// Carries back the changes under each watched directory whose
    /// fingerprint moved. Failures are logged, never the tool call's.
    pub(crate) async fn after_call(
        &self,
        tools: &SandboxTools,
        watched: &BTreeMap<String, String>,
    ) {
        for (root, print) in watched {
            let known = self.fingerprint(root).unwrap_or_default();
            if known.as_deref() == Some(print.as_str()) {
                continue;
            }
            let synced = if root == OUTPUTS_DIR {
                self.sync_outputs(tools).await
            } else if let Some(Placement::Memory {
                store_id,
                read_only: false,
                ..
            }) = self.placements.iter().find(|p| p.path() == root)
            {
                self.sync_store(tools, store_id, root).await
            } else {
                Ok(())
            };
            let recorded = synced.and_then(|()| {
                self.exec(
                    "INSERT INTO mount_roots (root, fingerprint) VALUES (?, ?)
                     ON CONFLICT (root) DO UPDATE SET fingerprint = excluded.fingerprint",
                    vec![root.as_str().into(), print.as_str().into()],
                )
            });
            if let Err(error) = recorded {
                self.warn("mount_sync_failed", json!({"root": root, "error": error}));
            }
        }
    }

    async fn place_file(
        &self,
        tools: &SandboxTools,
        file_id: &str,
        path: &str,
    ) -> Result<(), String> {
        let key = files::object_key(&self.tenant_id, file_id);
        let object = self
            .env
            .bucket("FILES")
            .map_err(text)?
            .get(&key)
            .execute()
            .await
            .map_err(text)?;
        let Some(body) = object.as_ref().and_then(|o| o.body()) else {
            // Deleted since the session was created: nothing to place.
            self.warn("mounted_file_missing", json!({"file_id": file_id}));
            return Ok(());
        };
        let worker::ResponseBody::Stream(stream) = body.response_body().map_err(text)? else {
            return Err(format!("file {file_id}: unexpected body"));
        };
        let url = self.route("files", &[("path", path)]);
        expect_ok(
            tools
                .call(Method::Put, &url, Some(JsValue::from(stream)))
                .await,
        )
        .await?;
        Ok(())
    }

    async fn place_store(
        &self,
        tools: &SandboxTools,
        store_id: &str,
        root: &str,
    ) -> Result<(), String> {
        let rows = memory::list_memories(
            &self.env,
            &self.tenant_id,
            store_id,
            "/",
            "",
            true,
            MAX_MEMORIES,
        )
        .await
        .map_err(text)?;
        let params = TreeParams {
            root: root.to_owned(),
            files: rows
                .into_iter()
                .map(|row| TreeFile {
                    path: format!("{root}{}", row.path),
                    content: row.content.unwrap_or_default(),
                })
                .collect(),
        };
        let body = serde_json::to_string(&params).map_err(text)?;
        let url = self.route("tree", &[]);
        let mut resp = expect_ok(
            tools
                .call(Method::Post, &url, Some(JsValue::from_str(&body)))
                .await,
        )
        .await?;
        let listing: FileListing = resp.json().await.map_err(text)?;
        self.exec("DELETE FROM mount_files WHERE root = ?", vec![root.into()])?;
        for file in &listing.files {
            self.remember(root, file, None)?;
        }
        Ok(())
    }

    /// Writes the agent's changes to a memory store as versions by this
    /// session: removals first (a path may become a directory), then
    /// creations and modifications.
    async fn sync_store(
        &self,
        tools: &SandboxTools,
        store_id: &str,
        root: &str,
    ) -> Result<(), String> {
        let listing = self.list(tools, root, true).await?;
        let known = self.known(root)?;
        let present: BTreeSet<&str> = listing.files.iter().map(|f| f.path.as_str()).collect();
        for gone in known.keys().filter(|p| !present.contains(p.as_str())) {
            let path = &gone[root.len()..];
            if let Some(row) =
                memory::get_memory_by_path(&self.env, &self.tenant_id, store_id, path)
                    .await
                    .map_err(text)?
            {
                let version = self.version(&row.id, "deleted", path, None)?;
                write_result(
                    memory::delete_memory(
                        &self.env,
                        &self.tenant_id,
                        store_id,
                        &row.memory_version_id,
                        &version,
                    )
                    .await,
                )?;
            }
            self.exec(
                "DELETE FROM mount_files WHERE path = ?",
                vec![gone.as_str().into()],
            )?;
        }
        for file in &listing.files {
            if known.get(&file.path).map(|k| &k.sha256) == Some(&file.sha256) {
                continue;
            }
            let path = &file.path[root.len()..];
            let refused = if file.size > MAX_CONTENT_BYTES as u64 {
                Some(format!("larger than {MAX_CONTENT_BYTES} bytes"))
            } else {
                validate_path(path, "path").err().map(|e| e.to_string())
            };
            if let Some(reason) = refused {
                self.warn(
                    "memory_not_written",
                    json!({"path": file.path, "reason": reason}),
                );
                continue;
            }
            let bytes = self.read(tools, &file.path).await?;
            let Ok(content) = String::from_utf8(bytes) else {
                self.warn(
                    "memory_not_written",
                    json!({"path": file.path, "reason": "not UTF-8 text"}),
                );
                continue;
            };
            // A change that raced another writer is tried once more on what
            // the store holds now; one the store cannot take (its path is
            // another memory's ancestor or descendant) is reported and not
            // retried on every later call.
            let written = match self.write_memory(store_id, path, content.clone()).await {
                Err(WriteFailure::Stale) => self.write_memory(store_id, path, content).await,
                other => other,
            };
            match written {
                Ok(()) => {}
                Err(WriteFailure::PathTaken) => self.warn(
                    "memory_not_written",
                    json!({"path": file.path, "reason": "another memory's path contains it or is inside it"}),
                ),
                Err(WriteFailure::Stale) => {
                    return Err(format!("{}: changed by another writer twice", file.path));
                }
                Err(WriteFailure::Other(e)) => return Err(e),
            }
            self.remember(root, file, None)?;
        }
        Ok(())
    }

    async fn write_memory(
        &self,
        store_id: &str,
        path: &str,
        content: String,
    ) -> Result<(), WriteFailure> {
        let sha = openma_core::control::memory::content_sha256(&content);
        let existing = memory::get_memory_by_path(&self.env, &self.tenant_id, store_id, path)
            .await
            .map_err(|e| WriteFailure::Other(e.to_string()))?;
        let written = match existing {
            Some(row) if row.content_sha256 == sha => return Ok(()),
            Some(row) => {
                let version = self
                    .version(&row.id, "modified", path, Some(content))
                    .map_err(WriteFailure::Other)?;
                memory::update_memory(
                    &self.env,
                    &self.tenant_id,
                    store_id,
                    &row.memory_version_id,
                    &version,
                )
                .await
            }
            None => {
                let memory_id = new_id("mem_").map_err(WriteFailure::Other)?;
                let version = self
                    .version(&memory_id, "created", path, Some(content))
                    .map_err(WriteFailure::Other)?;
                memory::create_memory(&self.env, &self.tenant_id, store_id, &version).await
            }
        };
        written.map_err(|e| match e {
            memory::WriteError::PathTaken => WriteFailure::PathTaken,
            memory::WriteError::Stale => WriteFailure::Stale,
            memory::WriteError::Store(e) => WriteFailure::Other(e.to_string()),
        })
    }

    /// Turns new or changed outputs into files scoped to the session (a
    /// changed file replaces its previous file), and removes the files of
    /// outputs the agent deleted.
    async fn sync_outputs(&self, tools: &SandboxTools) -> Result<(), String> {
        let root = OUTPUTS_DIR;
        let listing = self.list(tools, root, false).await?;
        let known = self.known(root)?;
        let present: BTreeSet<&str> = listing.files.iter().map(|f| f.path.as_str()).collect();
        for (gone, row) in known.iter().filter(|(p, _)| !present.contains(p.as_str())) {
            if let Some(file_id) = &row.file_id {
                self.delete_file(file_id).await?;
            }
            self.exec(
                "DELETE FROM mount_files WHERE path = ?",
                vec![gone.as_str().into()],
            )?;
        }
        for file in &listing.files {
            let previous = known.get(&file.path);
            if previous.is_some_and(|k| k.size == file.size && k.modified_ms == file.modified_ms) {
                continue;
            }
            if file.size > MAX_OUTPUT_BYTES {
                self.warn(
                    "output_not_collected",
                    json!({"path": file.path, "size": file.size, "limit": MAX_OUTPUT_BYTES}),
                );
                continue;
            }
            let bytes = self.read(tools, &file.path).await?;
            let name = file.path[root.len()..].trim_start_matches('/').to_owned();
            let file_id = new_id("file_")?;
            let mime_type = files::mime_for(&name);
            let size = bytes.len();
            let metadata = worker::HttpMetadata {
                content_type: Some(mime_type.to_owned()),
                ..Default::default()
            };
            self.env
                .bucket("FILES")
                .map_err(text)?
                .put(files::object_key(&self.tenant_id, &file_id), bytes)
                .http_metadata(metadata)
                .execute()
                .await
                .map_err(text)?;
            let row = files::FileRow {
                id: file_id.clone(),
                filename: name,
                mime_type: mime_type.to_owned(),
                size_bytes: size as f64,
                created_at: now().to_rfc3339(),
                expires_at: None,
                scope_id: Some(self.session_id.clone()),
                downloadable: 1.0,
            };
            files::insert(&self.env, &self.tenant_id, &row)
                .await
                .map_err(text)?;
            if let Some(old) = previous.and_then(|k| k.file_id.as_deref()) {
                self.delete_file(old).await?;
            }
            self.remember(root, file, Some(&file_id))?;
        }
        Ok(())
    }

    async fn delete_file(&self, file_id: &str) -> Result<(), String> {
        files::delete(&self.env, &self.tenant_id, file_id)
            .await
            .map_err(text)?;
        self.env
            .bucket("FILES")
            .map_err(text)?
            .delete(files::object_key(&self.tenant_id, file_id))
            .await
            .map_err(text)
    }

    async fn list(
        &self,
        tools: &SandboxTools,
        root: &str,
        hash: bool,
    ) -> Result<FileListing, String> {
        let hash = if hash { "true" } else { "false" };
        let url = self.route("files", &[("root", root), ("hash", hash)]);
        let mut resp = expect_ok(tools.call(Method::Get, &url, None).await).await?;
        let listing: FileListing = resp.json().await.map_err(text)?;
        if listing.truncated {
            self.warn("mount_listing_truncated", json!({"root": root}));
        }
        Ok(listing)
    }

    async fn read(&self, tools: &SandboxTools, path: &str) -> Result<Vec<u8>, String> {
        let url = self.route("files/content", &[("path", path)]);
        let mut resp = expect_ok(tools.call(Method::Get, &url, None).await).await?;
        resp.bytes().await.map_err(text)
    }

    /// The Sandbox object's path for a session file route, query encoded.
    fn route(&self, rest: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("/session/{}/{rest}", self.session_id);
        for (i, (key, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(key);
            url.push('=');
            url.push_str(&percent_encode(value));
        }
        url
    }

    fn version(
        &self,
        memory_id: &str,
        operation: &'static str,
        path: &str,
        content: Option<String>,
    ) -> Result<memory::NewVersion, String> {
        let sha = content
            .as_deref()
            .map(openma_core::control::memory::content_sha256);
        Ok(memory::NewVersion {
            id: new_id("memver_")?,
            memory_id: memory_id.to_owned(),
            operation,
            path: path.to_owned(),
            content_size_bytes: content.as_ref().map(String::len),
            content,
            content_sha256: sha,
            created_at: now().to_rfc3339(),
            api_key_id: None,
            session_id: Some(self.session_id.clone()),
        })
    }

    fn filled(&self, root: &str) -> Result<bool, String> {
        #[derive(Deserialize)]
        struct Row {
            filled: i64,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT filled FROM mount_roots WHERE root = ?",
                vec![root.into()],
            )
            .and_then(|c| c.to_array())
            .map_err(text)?;
        Ok(rows.first().is_some_and(|r| r.filled != 0))
    }

    fn fingerprint(&self, root: &str) -> Result<Option<String>, String> {
        #[derive(Deserialize)]
        struct Row {
            fingerprint: Option<String>,
        }
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT fingerprint FROM mount_roots WHERE root = ?",
                vec![root.into()],
            )
            .and_then(|c| c.to_array())
            .map_err(text)?;
        Ok(rows.into_iter().next().and_then(|r| r.fingerprint))
    }

    fn known(&self, root: &str) -> Result<BTreeMap<String, Known>, String> {
        let rows: Vec<Known> = self
            .sql
            .exec(
                "SELECT path, sha256, size, modified_ms, file_id FROM mount_files WHERE root = ?",
                vec![root.into()],
            )
            .and_then(|c| c.to_array())
            .map_err(text)?;
        Ok(rows.into_iter().map(|k| (k.path.clone(), k)).collect())
    }

    fn remember(
        &self,
        root: &str,
        file: &openma_core::sandbox::FileEntry,
        file_id: Option<&str>,
    ) -> Result<(), String> {
        let optional = |v: Option<&str>| v.map_or(SqlStorageValue::Null, SqlStorageValue::from);
        self.exec(
            "INSERT INTO mount_files (path, root, sha256, size, modified_ms, file_id)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (path) DO UPDATE SET root = excluded.root, sha256 = excluded.sha256,
                 size = excluded.size, modified_ms = excluded.modified_ms, file_id = excluded.file_id",
            vec![
                file.path.as_str().into(),
                root.into(),
                optional(file.sha256.as_deref()),
                i64::try_from(file.size).unwrap_or(i64::MAX).into(),
                i64::try_from(file.modified_ms).unwrap_or(i64::MAX).into(),
                optional(file_id),
            ],
        )
    }

    fn exec(&self, query: &str, params: Vec<SqlStorageValue>) -> Result<(), String> {
        self.sql.exec(query, params).map(|_| ()).map_err(text)
    }

    fn warn(&self, event: &str, detail: Value) {
        worker::console_warn!(
            "{}",
            json!({"level": "warn", "event": event, "session_id": self.session_id, "detail": detail})
        );
    }
}

/// Why a memory was not written.
#[derive(Debug)]
enum WriteFailure {
    /// Another memory's path contains this one or lies inside it.
    PathTaken,
    /// The memory changed between reading and writing it.
    Stale,
    /// The database failed.
    Other(String),
}

/// A file known under a root at the last synchronisation.
#[derive(Debug, Deserialize)]
struct Known {
    path: String,
    sha256: Option<String>,
    size: u64,
    modified_ms: u64,
    file_id: Option<String>,
}

/// The system-prompt section that tells the agent where its memory stores
/// and files are, with each store's description and instructions; `None`
/// when the session has neither.
pub(crate) fn prompt_section(record: &SessionRecord) -> Option<String> {
    let mut lines = Vec::new();
    for r in &record.resources {
        let path = r["mount_path"].as_str().unwrap_or_default();
        match r["type"].as_str() {
            Some("memory_store") => {
                let access = if r["access"].as_str() == Some("read_only") {
                    "read-only"
                } else {
                    "read-write; what you change there is saved to the store"
                };
                let mut line = format!(
                    "- Memory store \"{}\" at {path} ({access}).",
                    r["name"].as_str().unwrap_or_default()
                );
                if let Some(d) = r["description"].as_str().filter(|d| !d.is_empty()) {
                    line.push_str(&format!(" {d}"));
                }
                if let Some(i) = r["instructions"].as_str().filter(|i| !i.is_empty()) {
                    line.push_str(&format!("\n  Instructions: {i}"));
                }
                lines.push(line);
            }
            Some("file") => lines.push(format!("- Uploaded file at {path} (read-only).")),
            _ => {}
        }
    }
    if lines.is_empty() {
        return None;
    }
    Some(format!(
        "<session_resources>\n{}\nFiles you write under {OUTPUTS_DIR} are returned to the user.\n</session_resources>",
        lines.join("\n")
    ))
}

async fn expect_ok(resp: worker::Result<worker::Response>) -> Result<worker::Response, String> {
    let mut resp = resp.map_err(text)?;
    if resp.status_code() == 200 {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    Err(format!("sandbox answered {}: {body}", resp.status_code()))
}

fn write_result(result: Result<(), memory::WriteError>) -> Result<(), String> {
    match result {
        Ok(()) => Ok(()),
        Err(memory::WriteError::PathTaken) => Err("another memory holds the path".to_owned()),
        Err(memory::WriteError::Stale) => {
            Err("the memory changed while it was being written".to_owned())
        }
        Err(memory::WriteError::Store(e)) => Err(e.to_string()),
    }
}

fn new_id(prefix: &str) -> Result<String, String> {
    openma_cloudflare::ids::mint_id(prefix, now().0.unsigned_abs())
}

fn now() -> Timestamp {
    Timestamp(worker::Date::now().as_millis() as i64)
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Percent-encodes everything but unreserved characters and `/`.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
