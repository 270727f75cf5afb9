//! `/v1/files`: uploads (multipart, field `file`), metadata, downloads and
//! deletes. Metadata is in D1, bytes in the `FILES` R2 bucket under a
//! tenant-scoped key.
//!
//! Size: a file may be at most [`MAX_FILE_BYTES`] (the Files API's 500 MB),
//! answered 413 in the error envelope; the Workers plan's request-body limit
//! applies before that (see `docs/operations.md`).

use openma_core::wire::ApiErrorType;
use openma_core::wire::Page;
use openma_core::wire::PageCursor;
use openma_core::wire::page::Order;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::FormEntry;
use worker::Method;
use worker::Request;
use worker::Response;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::request::Query;
use crate::request::now;
use crate::store;
use crate::store::files::FileRow;

/// The largest file accepted, in bytes (the Files API's limit).
pub(crate) const MAX_FILE_BYTES: u64 = 500 * 1000 * 1000;
/// Room for the multipart framing around the file.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;
const MIN_EXPIRES_IN: i64 = 3600;
const MAX_EXPIRES_IN: i64 = 7_776_000;
const MAX_IDS: usize = 100;

/// A route under `/v1/files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileRoute {
    Upload,
    List,
    Get(String),
    Content(String),
    Delete(String),
}

impl FileRoute {
    /// Parses the segments after `/v1/files`.
    pub(crate) fn parse(method: &Method, rest: &[&str]) -> Option<Self> {
        let s = |s: &str| s.to_owned();
        Some(match (method, rest) {
            (Method::Post, []) => Self::Upload,
            (Method::Get, []) => Self::List,
            (Method::Get, [id]) => Self::Get(s(id)),
            (Method::Get, [id, "content"]) => Self::Content(s(id)),
            (Method::Delete, [id]) => Self::Delete(s(id)),
            _ => return None,
        })
    }
}

/// Serves a file route.
pub(crate) async fn serve(
    route: FileRoute,
    req: Request,
    env: &Env,
    caller: &Caller,
) -> ApiResult<Response> {
    let json = |value: Value| openma_cloudflare::json(200, &value).map_err(ApiError::from);
    match route {
        FileRoute::Upload => json(upload(req, env, caller).await?),
        FileRoute::List => json(list(env, caller, &Query::of(&req)).await?),
        FileRoute::Get(id) => json(current(env, caller, &id).await?.to_json()),
        FileRoute::Content(id) => download(env, caller, &id).await,
        FileRoute::Delete(id) => json(delete(env, caller, &id).await?),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("file", id)
}

fn too_large() -> ApiError {
    ApiError::new(
        ApiErrorType::RequestTooLarge,
        format!("file: exceeds the {MAX_FILE_BYTES}-byte limit"),
    )
}

/// A tenant's unexpired file; an expired one is a 404 `file_expired`.
async fn current(env: &Env, caller: &Caller, id: &str) -> ApiResult<FileRow> {
    let file = store::files::get(env, &caller.tenant_id, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    if file.expired(now()) {
        let mut err = ApiError::new(
            ApiErrorType::NotFoundError,
            format!("file {id} has expired"),
        );
        err.code = Some("file_expired");
        return Err(err);
    }
    Ok(file)
}

async fn upload(mut req: Request, env: &Env, caller: &Caller) -> ApiResult<Value> {
    if let Ok(Some(length)) = req.headers().get("content-length")
        && length
            .trim()
            .parse::<u64>()
            .is_ok_and(|n| n > MAX_FILE_BYTES + MULTIPART_OVERHEAD)
    {
        return Err(too_large());
    }
    let content_type = req
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(ApiError::invalid(
            "the request body must be multipart/form-data with a `file` field",
        ));
    }
    let form = req
        .form_data()
        .await
        .map_err(|_| ApiError::invalid("the request body is not valid multipart/form-data"))?;
    let expires_in = match form.get("expires_in_seconds") {
        None => None,
        Some(FormEntry::Field(text)) => Some(
            text.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (MIN_EXPIRES_IN..=MAX_EXPIRES_IN).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "expires_in_seconds: expected an integer between {MIN_EXPIRES_IN} and {MAX_EXPIRES_IN}"
                    ))
                })?,
        ),
        Some(FormEntry::File(_)) => {
            return Err(ApiError::invalid(
                "expires_in_seconds: expected a field, not a file",
            ));
        }
    };
    let file = match form.get("file") {
        Some(FormEntry::File(file)) => file,
        Some(FormEntry::Field(_)) => {
            return Err(ApiError::invalid(
                "file: expected a file part (with a filename)",
            ));
        }
        None => return Err(ApiError::invalid("file: is required")),
    };
    if file.size() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mime_type = mime_type(&file.type_(), &file.name());
    let filename = filename(&file.name(), &mime_type);
    let bytes = file.bytes().await?;
    let now = now();
    let id = openma_cloudflare::ids::mint_id("file_", now.0.unsigned_abs())
        .map_err(ApiError::internal)?;
    let row = FileRow {
        id,
        filename,
        mime_type,
        size_bytes: bytes.len() as f64,
        created_at: now.to_rfc3339(),
        expires_at: expires_in.map(|s| now.plus_ms(s.unsigned_abs() * 1000).to_rfc3339()),
        scope_id: None,
        downloadable: 1.0,
    };
    env.bucket("FILES")?
        .put(store::files::object_key(&caller.tenant_id, &row.id), bytes)
        .execute()
        .await?;
    store::files::insert(env, &caller.tenant_id, &row).await?;
    Ok(row.to_json())
}

/// The part's content type, else one guessed from the extension. A
/// declared type that is not a media type (`type/subtype`, optionally with
/// parameters) is ignored: it is served back as the download's
/// `Content-Type`, where a client could not read it.
fn mime_type(declared: &str, name: &str) -> String {
    let declared = declared.trim();
    if is_media_type(declared) {
        return declared.to_owned();
    }
    store::files::mime_for(name).to_owned()
}

/// `type/subtype` of RFC 9110 tokens, then any parameters in visible ASCII.
fn is_media_type(value: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    let (essence, parameters) = value.split_once(';').unwrap_or((value, ""));
    let Some((kind, subtype)) = essence.trim_end().split_once('/') else {
        return false;
    };
    token(kind)
        && token(subtype)
        && parameters
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) || b == b'\t')
}

/// Only the final path component is kept; an empty name becomes `unnamed`
/// plus the extension of its type, when known.
fn filename(name: &str, mime_type: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if !base.is_empty() {
        return base.to_owned();
    }
    let ext = match mime_type {
        "text/plain" => ".txt",
        "text/markdown" => ".md",
        "text/csv" => ".csv",
        "application/json" => ".json",
        "application/pdf" => ".pdf",
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "image/gif" => ".gif",
        "image/webp" => ".webp",
        _ => "",
    };
    format!("unnamed{ext}")
}

async fn list(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    let ids: Vec<String> = query
        .all("ids[]")
        .chain(query.all("ids"))
        .map(str::to_owned)
        .collect();
    let scope_id = query.get("scope_id").filter(|s| !s.is_empty());
    if !ids.is_empty() {
        if query.get("page").is_some() || query.get("limit").is_some() {
            return Err(ApiError::invalid(
                "ids: cannot be combined with page or limit",
            ));
        }
        let mut unique = ids;
        unique.sort();
        unique.dedup();
        if unique.len() > MAX_IDS {
            return Err(ApiError::invalid(format!("ids: at most {MAX_IDS} ids")));
        }
        let rows = store::files::by_ids(env, &caller.tenant_id, &unique, now()).await?;
        let data: Vec<Value> = rows
            .iter()
            .filter(|row| scope_id.is_none_or(|scope| row.scope_id.as_deref() == Some(scope)))
            .map(FileRow::to_json)
            .collect();
        return page_value(data, None);
    }
    let limit = query.limit(20, 1000)?;
    let before = match query.get("page") {
        Some(page) if !page.is_empty() => PageCursor::decode(page, Order::Desc)?.after,
        _ => String::new(),
    };
    let mut rows =
        store::files::list(env, &caller.tenant_id, scope_id, &before, now(), limit + 1).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_page = match (more, rows.last()) {
        (true, Some(last)) => Some(
            PageCursor {
                order: Order::Desc,
                after: last.id.clone(),
            }
            .encode(),
        ),
        _ => None,
    };
    page_value(rows.iter().map(FileRow::to_json).collect(), next_page)
}

fn page_value(data: Vec<Value>, next_page: Option<String>) -> ApiResult<Value> {
    let has_more = next_page.is_some();
    let first_id = data
        .first()
        .and_then(|f| f["id"].as_str())
        .map(str::to_owned);
    let last_id = data
        .last()
        .and_then(|f| f["id"].as_str())
        .map(str::to_owned);
    let mut value = serde_json::to_value(Page {
        data,
        next_page,
        prev_page: None,
    })
    .map_err(ApiError::internal)?;
    // The legacy Files pagination fields, for older clients.
    value["has_more"] = json!(has_more);
    value["first_id"] = json!(first_id);
    value["last_id"] = json!(last_id);
    Ok(value)
}

async fn download(env: &Env, caller: &Caller, id: &str) -> ApiResult<Response> {
    let file = current(env, caller, id).await?;
    if file.downloadable == 0.0 {
        let mut err = ApiError::invalid(format!("file {id} is not downloadable"));
        err.code = Some("file_not_downloadable");
        return Err(err);
    }
    let object = env
        .bucket("FILES")?
        .get(store::files::object_key(&caller.tenant_id, id))
        .execute()
        .await?
        .ok_or_else(|| ApiError::internal(format!("file {id}: bytes missing from R2")))?;
    let body = object
        .body()
        .ok_or_else(|| ApiError::internal(format!("file {id}: R2 object without a body")))?;
    // Handed to the runtime as a stream: the bytes never enter the isolate.
    let mut resp = Response::from_body(body.response_body()?)?;
    let headers = resp.headers_mut();
    headers.set("content-type", &file.mime_type)?;
    let safe_name: String = file
        .filename
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    headers.set(
        "content-disposition",
        &format!(
            "attachment; filename=\"{}\"",
            safe_name.replace(|c: char| !c.is_ascii(), "_")
        ),
    )?;
    Ok(resp)
}

async fn delete(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    if !store::files::delete(env, &caller.tenant_id, id).await? {
        return Err(not_found(id));
    }
    env.bucket("FILES")?
        .delete(store::files::object_key(&caller.tenant_id, id))
        .await?;
    Ok(json!({"id": id, "type": "file_deleted"}))
}

/// Expired files purged per cron run.
const PURGE_BATCH: usize = 500;

/// The hourly housekeeping: deletes the bytes and metadata of expired files
/// (they already answer 404 `file_expired`). Returns how many were purged.
pub(crate) async fn purge_expired(env: &Env) -> ApiResult<usize> {
    let expired = store::files::expired(env, now(), PURGE_BATCH).await?;
    let bucket = env.bucket("FILES")?;
    for file in &expired {
        bucket
            .delete(store::files::object_key(&file.tenant_id, &file.id))
            .await?;
        store::files::delete(env, &file.tenant_id, &file.id).await?;
    }
    Ok(expired.len())
}

#[cfg(test)]
mod tests {
    use super::filename;
    use super::mime_type;

    #[test]
    fn only_the_final_path_component_of_a_filename_is_kept() {
        assert_eq!(filename("report.pdf", "application/pdf"), "report.pdf");
        assert_eq!(filename("a/b/report.pdf", "application/pdf"), "report.pdf");
        assert_eq!(filename("C:\\x\\y.txt", "text/plain"), "y.txt");
        assert_eq!(filename("", "text/plain"), "unnamed.txt");
        assert_eq!(filename("dir/", "image/png"), "unnamed.png");
        assert_eq!(filename("", "application/x-unknown"), "unnamed");
    }

    #[test]
    fn the_declared_type_wins_and_the_extension_is_the_fallback() {
        assert_eq!(mime_type("text/csv", "a.bin"), "text/csv");
        assert_eq!(
            mime_type("text/plain; charset=utf-8", "a.bin"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(mime_type("not a mime", "notes.md"), "text/markdown");
        assert_eq!(mime_type("text/", "blob"), "application/octet-stream");
        assert_eq!(mime_type("/plain", "a.txt"), "text/plain");
        assert_eq!(mime_type("té/xt", "a.txt"), "text/plain");
        assert_eq!(mime_type("text/plain\u{7f}", "a.txt"), "text/plain");
        assert_eq!(mime_type("", "photo.JPG"), "image/jpeg");
        assert_eq!(mime_type(" ", "notes.md"), "text/markdown");
        assert_eq!(mime_type("", "blob"), "application/octet-stream");
    }
}
