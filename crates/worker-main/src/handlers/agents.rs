//! `/v1/agents`: versioned agent configurations. Every effective update
//! stores a new version; archived agents are read-only.

use openma_core::control;
use openma_core::control::AgentUpdateError;
use openma_core::wire::Agent;
use openma_core::wire::ApiErrorType;
use openma_core::wire::Timestamp;
use openma_core::wire::ValidationError;
use serde_json::Value;
use serde_json::json;
use worker::Env;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::handlers::pages::after;
use crate::handlers::pages::page;
use crate::handlers::webhooks::announce;
use crate::request::Query;
use crate::request::now;
use crate::store;
use crate::store::agents::ListFilter;

/// A validation failure; metadata limits carry `invalid_metadata`.
pub(crate) fn invalid(err: ValidationError) -> ApiError {
    let metadata = err.path == "metadata" || err.path.starts_with("metadata.");
    let mut api = ApiError::from(err);
    if metadata {
        api.code = Some("invalid_metadata");
    }
    api
}

/// `include_archived`: `true` or `false` (default).
pub(crate) fn include_archived(query: &Query) -> ApiResult<bool> {
    match query.get("include_archived") {
        None => Ok(false),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(_) => Err(ApiError::invalid(
            "include_archived: expected true or false",
        )),
    }
}

fn to_value(agent: &Agent) -> ApiResult<Value> {
    serde_json::to_value(agent).map_err(ApiError::internal)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("agent", id)
}

async fn latest(env: &Env, caller: &Caller, id: &str) -> ApiResult<Agent> {
    store::agents::get(env, &caller.tenant_id, id, None)
        .await?
        .ok_or_else(|| not_found(id))
}

/// The optional create fields, for which `null` means "not set".
const OPTIONAL_CREATE_FIELDS: [&str; 8] = [
    "description",
    "system",
    "tools",
    "mcp_servers",
    "skills",
    "multiagent",
    "metadata",
    "execution_identity",
];

/// `body` without the optional fields that are `null`.
fn without_null_options(body: &Value) -> Value {
    let mut body = body.clone();
    if let Value::Object(fields) = &mut body {
        fields.retain(|name, value| {
            !(value.is_null() && OPTIONAL_CREATE_FIELDS.contains(&name.as_str()))
        });
    }
    body
}

/// `multiagent`, when present and not `null`, is a configuration object of a
/// known `type`.
fn check_multiagent(body: &Value) -> ApiResult<()> {
    match body.get("multiagent") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(config)) => match config.get("type").and_then(Value::as_str) {
            Some("coordinator" | "multiagent_20261001") => Ok(()),
            _ => Err(invalid(ValidationError::new(
                "multiagent.type",
                "expected coordinator or multiagent_20261001",
            ))),
        },
        Some(_) => Err(invalid(ValidationError::new(
            "multiagent",
            "expected an object or null",
        ))),
    }
}

pub(crate) async fn create(env: &Env, caller: &Caller, body: &Value) -> ApiResult<Value> {
    check_multiagent(body)?;
    let params = control::parse_agent_create(&without_null_options(body)).map_err(invalid)?;
    let now = now();
    let id = openma_cloudflare::ids::mint_id("agent_", now.0.unsigned_abs())
        .map_err(ApiError::internal)?;
    let agent = control::create_agent(params, id, now).map_err(invalid)?;
    store::agents::insert(env, &caller.tenant_id, &agent).await?;
    announce(env, caller, "agent.created", &agent.id, None, json!({})).await;
    to_value(&agent)
}

fn timestamp(query: &Query, name: &str) -> ApiResult<Option<Timestamp>> {
    query
        .get(name)
        .map(|text| {
            Timestamp::parse_rfc3339(text)
                .ok_or_else(|| ApiError::invalid(format!("{name}: expected an RFC 3339 timestamp")))
        })
        .transpose()
}

pub(crate) async fn list(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    let limit = query.limit(20, 100)?;
    let filter = ListFilter {
        include_archived: include_archived(query)?,
        created_gte: timestamp(query, "created_at[gte]")?,
        created_lte: timestamp(query, "created_at[lte]")?,
    };
    let after = after(query)?;
    let agents = store::agents::list(env, &caller.tenant_id, &filter, &after, limit + 1).await?;
    page(agents, limit, |agent| agent.id.clone())
}

pub(crate) async fn retrieve(
    env: &Env,
    caller: &Caller,
    id: &str,
    query: &Query,
) -> ApiResult<Value> {
    let version = match query.get("version") {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<u64>()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| ApiError::invalid("version: expected an integer of at least 1"))?,
        ),
    };
    match store::agents::get(env, &caller.tenant_id, id, version).await? {
        Some(agent) => to_value(&agent),
        None => match version {
            Some(version)
                if store::agents::get(env, &caller.tenant_id, id, None)
                    .await?
                    .is_some() =>
            {
                Err(ApiError::new(
                    ApiErrorType::NotFoundError,
                    format!("agent {id} has no version {version}"),
                ))
            }
            _ => Err(not_found(id)),
        },
    }
}

fn update_error(err: AgentUpdateError) -> ApiError {
    match err {
        AgentUpdateError::Invalid(err) => invalid(err),
        AgentUpdateError::Archived => {
            ApiError::invalid("the agent is archived and cannot be updated")
        }
        AgentUpdateError::VersionConflict { .. } => {
            ApiError::new(ApiErrorType::ConflictError, err.to_string())
        }
    }
}

/// How often an update without `version` is re-applied after losing a race.
const UPDATE_ATTEMPTS: usize = 3;

pub(crate) async fn update(env: &Env, caller: &Caller, id: &str, body: &Value) -> ApiResult<Value> {
    check_multiagent(body)?;
    let params = control::parse_agent_update(body).map_err(invalid)?;
    let mut current = latest(env, caller, id).await?;
    for _ in 0..UPDATE_ATTEMPTS {
        let Some(next) =
            control::apply_agent_update(&current, params.clone(), now()).map_err(update_error)?
        else {
            return to_value(&current);
        };
        if store::agents::update(env, &caller.tenant_id, current.version, &next).await? {
            let version = next.version.to_string();
            announce(env, caller, "agent.updated", id, Some(&version), json!({})).await;
            return to_value(&next);
        }
        // Another writer got there first, or archived it: a caller who named
        // a version has a conflict; otherwise the update applies to the new
        // latest version (and `apply_agent_update` reports an archive).
        let stored = latest(env, caller, id).await?;
        if params.version.is_some() && stored.archived_at.is_none() {
            return Err(update_error(AgentUpdateError::VersionConflict {
                expected: current.version,
                actual: stored.version,
            }));
        }
        current = stored;
    }
    Err(ApiError::new(
        ApiErrorType::ConflictError,
        "the agent is being updated concurrently; retry",
    ))
}

pub(crate) async fn archive(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    let current = latest(env, caller, id).await?;
    if current.archived_at.is_none() {
        store::agents::archive(env, &caller.tenant_id, id, now()).await?;
        announce(env, caller, "agent.archived", id, None, json!({})).await;
    }
    to_value(&latest(env, caller, id).await?)
}

pub(crate) async fn versions(
    env: &Env,
    caller: &Caller,
    id: &str,
    query: &Query,
) -> ApiResult<Value> {
    let limit = query.limit(20, 100)?;
    let after = after(query)?;
    let after = if after.is_empty() {
        0
    } else {
        after
            .parse::<u64>()
            .map_err(|_| ApiError::invalid("page: invalid page cursor"))?
    };
    latest(env, caller, id).await?;
    let versions = store::agents::versions(env, &caller.tenant_id, id, after, limit + 1).await?;
    page(versions, limit, |agent| agent.version.to_string())
}

#[cfg(test)]
mod tests {
    use openma_core::wire::ValidationError;

    use super::invalid;

    #[test]
    fn multiagent_must_be_a_known_configuration_object() {
        use serde_json::json;
        for ok in [
            json!({}),
            json!({"multiagent": null}),
            json!({"multiagent": {"type": "coordinator", "agents": []}}),
            json!({"multiagent": {"type": "multiagent_20261001"}}),
        ] {
            assert!(super::check_multiagent(&ok).is_ok(), "{ok}");
        }
        for (bad, path) in [
            (json!({"multiagent": [null, null]}), "multiagent: "),
            (json!({"multiagent": "coordinator"}), "multiagent: "),
            (json!({"multiagent": {}}), "multiagent.type: "),
            (
                json!({"multiagent": {"type": "swarm"}}),
                "multiagent.type: ",
            ),
        ] {
            let err = super::check_multiagent(&bad).unwrap_err();
            assert!(err.message.starts_with(path), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn null_optional_create_fields_are_unset() {
        let body = serde_json::json!({"name": null, "model": "m", "tools": null, "metadata": null, "system": "s"});
        assert_eq!(
            super::without_null_options(&body),
            serde_json::json!({"name": null, "model": "m", "system": "s"})
        );
    }

    #[test]
    fn metadata_errors_carry_the_invalid_metadata_code() {
        let err = invalid(ValidationError::new("metadata", "at most 16 pairs"));
        assert_eq!(err.code, Some("invalid_metadata"));
        assert_eq!(err.message, "metadata: at most 16 pairs");
        let err = invalid(ValidationError::new("metadata.key", "too long"));
        assert_eq!(err.code, Some("invalid_metadata"));
        let err = invalid(ValidationError::new("metadatax", "no"));
        assert_eq!(err.code, None);
        let err = invalid(ValidationError::new("tools[0].type", "no"));
        assert_eq!(err.code, None);
    }
}
