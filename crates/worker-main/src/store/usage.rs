//! The usage ledger's daily sums (`usage_daily`), which each session's
//! object writes from its event log; the main worker only reads them.

use openma_core::ledger::UsageCounts;
use openma_core::ledger::UsageGroupBy;
use serde::Deserialize;
use worker::Env;

use super::Param;

/// One group's sums.
#[derive(Debug, Clone, Deserialize)]
struct Row {
    grp: String,
    input_tokens: i64,
    output_tokens: i64,
    cache_read_input_tokens: i64,
    cache_creation_input_tokens: i64,
    model_requests: i64,
    tool_calls: i64,
    sandbox_ms: i64,
}

impl Row {
    fn counts(&self) -> UsageCounts {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        UsageCounts {
            input_tokens: n(self.input_tokens),
            output_tokens: n(self.output_tokens),
            cache_read_input_tokens: n(self.cache_read_input_tokens),
            cache_creation_input_tokens: n(self.cache_creation_input_tokens),
            model_requests: n(self.model_requests),
            tool_calls: n(self.tool_calls),
            sandbox_ms: n(self.sandbox_ms),
        }
    }
}

/// A tenant's sums per `group_by`, over the days from `first_day` (if any)
/// to before `end_day` (if any), ordered by group.
pub(crate) async fn report(
    env: &Env,
    tenant_id: &str,
    group_by: UsageGroupBy,
    first_day: Option<String>,
    end_day: Option<String>,
) -> worker::Result<Vec<(String, UsageCounts)>> {
    let column = group_by.column();
    let mut sql = format!(
        "SELECT {column} AS grp, SUM(input_tokens) AS input_tokens,
                SUM(output_tokens) AS output_tokens,
                SUM(cache_read_input_tokens) AS cache_read_input_tokens,
                SUM(cache_creation_input_tokens) AS cache_creation_input_tokens,
                SUM(model_requests) AS model_requests, SUM(tool_calls) AS tool_calls,
                SUM(sandbox_ms) AS sandbox_ms
         FROM usage_daily WHERE tenant_id = ?1"
    );
    let mut params = vec![Param::from(tenant_id)];
    if let Some(day) = first_day {
        params.push(Param::from(day));
        sql.push_str(&format!(" AND day >= ?{}", params.len()));
    }
    if let Some(day) = end_day {
        params.push(Param::from(day));
        sql.push_str(&format!(" AND day < ?{}", params.len()));
    }
    sql.push_str(" GROUP BY grp ORDER BY grp");
    let rows: Vec<Row> = super::all(env, &sql, &params).await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.grp.clone(), r.counts()))
        .collect())
}
