//! Restoring: a swept session's storage back from its archive, in one
//! transaction, before a change.

use std::cell::RefCell;
use std::rc::Rc;

use openma_cloudflare::store;
use openma_cloudflare::store::Param;
use serde_json::Value;
use serde_json::json;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen::closure::Closure;
use worker::Result;
use worker::SqlStorage;
use worker::SqlStorageValue;

use super::Swept;
use super::failure;
use super::format::Archive;
use super::format::EVENTS;
use super::format::TABLES;
use super::read;
use crate::session::Inner;

/// Brings a swept session's storage back from its archive, in one
/// transaction, before a change; then the index forgets the archive and the
/// object is deleted. The caller holds the gate closed.
pub(crate) async fn restore(inner: &Inner, swept: &Swept) -> Result<()> {
    let started = worker::Date::now().as_millis();
    let blobs = inner.env.bucket("BLOBS")?;
    let bytes = read(&blobs, &swept.key).await?;
    let archive = super::format::decode(&bytes, &swept.record.id).map_err(failure)?;
    let events = archive.header.rows.get(EVENTS).copied().unwrap_or(0);
    let storage = inner.state.storage();
    let sql = storage.sql();
    transaction_sync(&storage, move || {
        crate::session::schema::apply(&sql)?;
        insert_rows(&sql, &archive)
    })?;
    inner.storage_restored();
    let forgotten = store::run(
        &inner.env,
        "UPDATE sessions SET log_archive_key = NULL, log_archived_at = NULL WHERE id = ?1",
        &[Param::from(swept.record.id.as_str())],
    )
    .await;
    // Either failure leaves a stale marker or object, never a lost event:
    // the object's storage is the log now. The next index write clears the
    // marker; the next sweep overwrites the object, and a delete removes it.
    if let Err(e) = forgotten {
        warn(
            "archive_index_not_cleared",
            &swept.record.id,
            &e.to_string(),
        );
    } else if let Err(e) = blobs.delete(&swept.key).await {
        warn("archive_not_deleted", &swept.record.id, &e.to_string());
    }
    inner.log_info(json!({
        "event": "session_restored",
        "session_id": swept.record.id,
        "events": events,
        "ms": worker::Date::now().as_millis().saturating_sub(started),
    }));
    Ok(())
}

fn warn(event: &str, session_id: &str, error: &str) {
    worker::console_warn!(
        "{}",
        json!({"level": "warn", "event": event, "session_id": session_id, "error": error})
    );
}

/// Every archived row back into its table.
fn insert_rows(sql: &SqlStorage, archive: &Archive) -> Result<()> {
    for table in TABLES {
        for row in archive.tables.get(table).into_iter().flatten() {
            let mut columns = Vec::with_capacity(row.len());
            let mut values = Vec::with_capacity(row.len());
            for (column, value) in row {
                if column.is_empty()
                    || !column
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    return Err(failure(format!("the archive names a column {column:?}")));
                }
                columns.push(column.as_str());
                values.push(sql_value(value)?);
            }
            let marks = vec!["?"; columns.len()].join(", ");
            sql.exec(
                &format!(
                    "INSERT INTO {table} ({}) VALUES ({marks})",
                    columns.join(", ")
                ),
                values,
            )?;
        }
    }
    Ok(())
}

fn sql_value(value: &Value) -> Result<SqlStorageValue> {
    Ok(match value {
        Value::Null => SqlStorageValue::Null,
        Value::Bool(b) => SqlStorageValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlStorageValue::Integer(i),
            None => SqlStorageValue::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => SqlStorageValue::String(s.clone()),
        Value::Array(_) | Value::Object(_) => {
            return Err(failure("the archive holds a value no column takes"));
        }
    })
}

/// Runs `work` in one SQLite transaction (`storage.transactionSync`): all
/// its writes, or none of them if it fails.
fn transaction_sync(
    storage: &worker::Storage,
    work: impl FnOnce() -> Result<()> + 'static,
) -> Result<()> {
    let raw: &JsValue = storage.as_raw().as_ref();
    let function: worker::js_sys::Function =
        worker::js_sys::Reflect::get(raw, &JsValue::from_str("transactionSync"))?
            .dyn_into()
            .map_err(|_| failure("storage.transactionSync is not a function"))?;
    let cause = Rc::new(RefCell::new(None));
    let recorded = Rc::clone(&cause);
    let closure = Closure::once(move || -> std::result::Result<JsValue, JsValue> {
        work().map(|()| JsValue::UNDEFINED).map_err(|e| {
            let message = JsValue::from_str(&e.to_string());
            *recorded.borrow_mut() = Some(e);
            message
        })
    });
    match function.call1(raw, closure.as_ref().unchecked_ref()) {
        Ok(_) => Ok(()),
        Err(thrown) => Err(cause
            .borrow_mut()
            .take()
            .unwrap_or_else(|| worker::Error::from(thrown))),
    }
}
