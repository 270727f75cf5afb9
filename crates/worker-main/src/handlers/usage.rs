//! `GET /v1/usage`: what the caller's tenant spent, from the usage ledger
//! (see `openma_core::ledger` for what counts, and
//! `crates/worker-agent/src/session/ledger.rs` for how it is recorded).
//! Rows are grouped by UTC day, agent or model; the report covers every
//! day that overlaps `[starting_at, ending_at)`.

use openma_core::ledger::UsageCounts;
use openma_core::ledger::UsageQuery;
use openma_core::ledger::UsageTotals;
use serde_json::Value;
use serde_json::json;
use worker::Env;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::request::Query;
use crate::store;

/// `GET /v1/usage`.
pub(crate) async fn report(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    let query = UsageQuery::from_pairs(query.pairs())?;
    let tenant_id = caller
        .tenant_scope(query.tenant_id.clone())?
        .unwrap_or_else(|| caller.tenant_id.clone());
    let rows = store::usage::report(
        env,
        &tenant_id,
        query.group_by,
        query.first_day(),
        query.end_day(),
    )
    .await?;
    let mut totals = UsageCounts::default();
    let mut data = Vec::with_capacity(rows.len());
    for (group, counts) in &rows {
        totals.add(counts);
        let mut row =
            serde_json::to_value(UsageTotals::from(counts)).map_err(ApiError::internal)?;
        row["group"] = json!({ query.group_by.column(): group });
        data.push(row);
    }
    Ok(json!({
        "type": "usage_report",
        "tenant_id": tenant_id,
        "starting_at": query.starting_at,
        "ending_at": query.ending_at,
        "group_by": query.group_by.as_str(),
        "data": data,
        "totals": UsageTotals::from(&totals),
    }))
}
