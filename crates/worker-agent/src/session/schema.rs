//! The SessionDO's SQLite schema, applied in code, in order, and tracked in
//! `schema_version`.

use worker::SqlStorage;

/// Every schema version, in order; index + 1 is the version number.
const MIGRATIONS: [&str; 4] = [
    include_str!("../../../../migrations/session/0001_event_log.sql"),
    include_str!("../../../../migrations/session/0002_mounts.sql"),
    include_str!("../../../../migrations/session/0003_unprocessed_index.sql"),
    include_str!("../../../../migrations/session/0004_mcp_calls.sql"),
];

/// Whether this storage holds a session's schema.
pub(crate) fn exists(sql: &SqlStorage) -> worker::Result<bool> {
    let rows: Vec<serde_json::Value> = sql
        .exec(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            None,
        )?
        .to_array()?;
    Ok(!rows.is_empty())
}

/// Brings the storage up to the latest schema.
pub(crate) fn apply(sql: &SqlStorage) -> worker::Result<()> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        None,
    )?;
    #[derive(serde::Deserialize)]
    struct Row {
        version: i64,
    }
    let rows: Vec<Row> = sql
        .exec("SELECT version FROM schema_version", None)?
        .to_array()?;
    let current = rows.first().map_or(0, |r| r.version);
    for (index, migration) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        if version <= current {
            continue;
        }
        for statement in strip_comments(migration).split(';') {
            if !statement.trim().is_empty() {
                sql.exec(statement, None)?;
            }
        }
        sql.exec("DELETE FROM schema_version", None)?;
        sql.exec(
            "INSERT INTO schema_version (version) VALUES (?)",
            vec![version.into()],
        )?;
    }
    Ok(())
}

/// The SQL without its `--` comment lines (which may contain `;`).
fn strip_comments(sql: &str) -> String {
    sql.lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}
