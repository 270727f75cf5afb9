//! `GET /v1/audit_events`: the audit trail, newest first. A tenant's key
//! sees its tenant's rows; the operator's key sees every tenant's, or one
//! tenant's with `tenant_id`.

use openma_core::wire::Page;
use openma_core::wire::PageCursor;
use openma_core::wire::ValidationError;
use openma_core::wire::page::Order;
use serde_json::Value;
use worker::Env;

use crate::audit::Action;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::request::Query;
use crate::store;
use crate::store::audit_events::ListFilter;

/// Default page size.
const DEFAULT_LIMIT: usize = 20;
/// Largest page size.
const MAX_LIMIT: usize = 100;

/// The list's query: `limit`, `page`, `tenant_id`, `action` (and `beta`,
/// which the SDKs add to beta calls). Each may be given once; anything else
/// is refused.
#[derive(Debug, Default, PartialEq, Eq)]
struct ListQuery {
    limit: usize,
    before_seq: Option<i64>,
    tenant_id: Option<String>,
    action: Option<String>,
}

impl ListQuery {
    fn parse(pairs: &[(String, String)]) -> Result<Self, ValidationError> {
        let mut query = Self {
            limit: DEFAULT_LIMIT,
            ..Self::default()
        };
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            let (key, value) = (key.as_str(), value.as_str());
            if seen.contains(&key) {
                return Err(ValidationError::new(key, "given more than once"));
            }
            seen.push(key);
            match key {
                "limit" => {
                    query.limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            ValidationError::new(
                                "limit",
                                format!("expected an integer between 1 and {MAX_LIMIT}"),
                            )
                        })?;
                }
                "page" => {
                    let invalid = || ValidationError::new("page", "invalid page cursor");
                    let cursor = PageCursor::decode(value, Order::Desc)?;
                    let seq = cursor.after.parse().map_err(|_| invalid())?;
                    query.before_seq = Some(seq);
                }
                "tenant_id" if !value.is_empty() && value.len() <= 256 => {
                    query.tenant_id = Some(value.to_owned());
                }
                "tenant_id" => {
                    return Err(ValidationError::new(
                        "tenant_id",
                        "expected a tenant id of 1 to 256 characters",
                    ));
                }
                "action" => {
                    let known = Action::ALL.iter().any(|a| a.as_str() == value);
                    if !known {
                        return Err(ValidationError::new("action", "unknown action"));
                    }
                    query.action = Some(value.to_owned());
                }
                "beta" if matches!(value, "true" | "false") => {}
                "beta" => return Err(ValidationError::new("beta", "expected true or false")),
                _ => return Err(ValidationError::new(key, "unknown query parameter")),
            }
        }
        Ok(query)
    }
}

/// `GET /v1/audit_events`.
pub(crate) async fn list(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    let query = ListQuery::parse(query.pairs())?;
    let filter = ListFilter {
        tenant_id: caller.tenant_scope(query.tenant_id)?,
        action: query.action,
        before_seq: query.before_seq,
    };
    let mut rows = store::audit_events::list(env, &filter, query.limit + 1).await?;
    let more = rows.len() > query.limit;
    rows.truncate(query.limit);
    let next_page = match (more, rows.last()) {
        (true, Some(last)) => Some(
            PageCursor {
                order: Order::Desc,
                after: last.seq.to_string(),
            }
            .encode(),
        ),
        _ => None,
    };
    serde_json::to_value(Page {
        data: rows.iter().map(crate::audit::object).collect::<Vec<_>>(),
        next_page,
        prev_page: None,
    })
    .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::ListQuery;
    use openma_core::wire::PageCursor;
    use openma_core::wire::page::Order;

    fn parse(pairs: &[(&str, &str)]) -> Result<ListQuery, String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ListQuery::parse(&pairs).map_err(|e| e.path)
    }

    #[test]
    fn parses_the_list_query_and_refuses_anything_else() {
        let cursor = PageCursor {
            order: Order::Desc,
            after: "42".into(),
        }
        .encode();
        let query = parse(&[
            ("limit", "5"),
            ("page", &cursor),
            ("tenant_id", "tenant_1"),
            ("action", "api_key.revoked"),
            ("beta", "true"),
        ])
        .unwrap();
        assert_eq!(query.limit, 5);
        assert_eq!(query.before_seq, Some(42));
        assert_eq!(query.tenant_id.as_deref(), Some("tenant_1"));
        assert_eq!(query.action.as_deref(), Some("api_key.revoked"));
        assert_eq!(parse(&[]).unwrap().limit, 20);

        let ascending = PageCursor {
            order: Order::Asc,
            after: "42".into(),
        }
        .encode();
        let not_a_seq = PageCursor {
            order: Order::Desc,
            after: "x".into(),
        }
        .encode();
        for (pairs, path) in [
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "101")], "limit"),
            (vec![("page", "nope")], "page"),
            (vec![("page", ascending.as_str())], "page"),
            (vec![("page", not_a_seq.as_str())], "page"),
            (vec![("action", "key.stolen")], "action"),
            (vec![("tenant_id", "")], "tenant_id"),
            (vec![("order", "asc")], "order"),
            (vec![("limit", "1"), ("limit", "2")], "limit"),
        ] {
            assert_eq!(parse(&pairs).unwrap_err(), path, "{pairs:?}");
        }
    }
}
