//! Forward-only list pages shared by the list handlers: cursors are ids
//! (time-ordered), oldest first.

use openma_core::wire::Page;
use openma_core::wire::PageCursor;
use openma_core::wire::page::Order;
use serde_json::Value;

use crate::error::ApiError;
use crate::error::ApiResult;
use crate::request::Query;

/// The `page` cursor's position, empty for the first page.
pub(crate) fn after(query: &Query) -> ApiResult<String> {
    match query.get("page") {
        Some(page) if !page.is_empty() => Ok(PageCursor::decode(page, Order::Asc)?.after),
        _ => Ok(String::new()),
    }
}

/// A page of `items` fetched with `limit + 1`; `key` gives the cursor position.
pub(crate) fn page<T: serde::Serialize>(
    mut items: Vec<T>,
    limit: usize,
    key: impl Fn(&T) -> String,
) -> ApiResult<Value> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next_page = match (more, items.last()) {
        (true, Some(last)) => Some(
            PageCursor {
                order: Order::Asc,
                after: key(last),
            }
            .encode(),
        ),
        _ => None,
    };
    serde_json::to_value(Page {
        data: items,
        next_page,
        prev_page: None,
    })
    .map_err(ApiError::internal)
}
