//! `/v1/sessions`: created and listed here (the D1 index); everything about
//! one session is answered by its SessionDO in the agent worker, reached
//! over the `AGENT` service binding with the caller's tenant attached.

use std::collections::BTreeMap;

use openma_cloudflare::internal::InitParams;
use openma_cloudflare::internal::SessionRecord;
use openma_cloudflare::internal::TENANT_HEADER;
use openma_core::SessionSummary;
use openma_core::wire::Agent;
use openma_core::wire::ApiErrorType;
use openma_core::wire::SessionAgent;
use openma_core::wire::Timestamp;
use openma_core::wire::ValidationError;
use openma_core::wire::environment::EnvironmentConfig;
use openma_core::wire::page::Order;
use openma_core::wire::page::PageCursor;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Headers;
use worker::Method;
use worker::Request;
use worker::RequestInit;
use worker::Response;
use worker::wasm_bindgen::JsValue;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::handlers::webhooks::announce;
use crate::request::Query;
use crate::request::now;
use crate::store;
use crate::store::sessions::ListFilter;
use crate::store::sessions::SessionRow;

/// What a route under `/v1/sessions/{id}` asks of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SessionRoute {
    Create,
    List,
    Get(String),
    Update(String),
    Delete(String),
    Archive(String),
    ListEvents(String),
    SendEvents(String),
    Stream(String),
    ListResources(String),
    AddResource(String),
    GetResource(String, String),
    UpdateResource(String, String),
    DeleteResource(String, String),
}

impl SessionRoute {
    /// Parses the segments after `/v1/sessions`.
    pub(crate) fn parse(method: &Method, rest: &[&str]) -> Option<Self> {
        let id = |s: &str| s.to_owned();
        Some(match (method, rest) {
            (Method::Post, []) => Self::Create,
            (Method::Get, []) => Self::List,
            (Method::Get, [s]) => Self::Get(id(s)),
            (Method::Post, [s]) => Self::Update(id(s)),
            (Method::Delete, [s]) => Self::Delete(id(s)),
            (Method::Post, [s, "archive"]) => Self::Archive(id(s)),
            (Method::Get, [s, "events"]) => Self::ListEvents(id(s)),
            (Method::Post, [s, "events"]) => Self::SendEvents(id(s)),
            (Method::Get, [s, "events", "stream"]) => Self::Stream(id(s)),
            (Method::Get, [s, "resources"]) => Self::ListResources(id(s)),
            (Method::Post, [s, "resources"]) => Self::AddResource(id(s)),
            (Method::Get, [s, "resources", r]) => Self::GetResource(id(s), id(r)),
            (Method::Post, [s, "resources", r]) => Self::UpdateResource(id(s), id(r)),
            (Method::Delete, [s, "resources", r]) => Self::DeleteResource(id(s), id(r)),
            _ => return None,
        })
    }
}

/// Serves a session route.
pub(crate) async fn serve(
    route: SessionRoute,
    req: Request,
    env: &Env,
    caller: &Caller,
) -> ApiResult<Response> {
    match route {
        SessionRoute::Create => {
            let mut req = req;
            let body = crate::request::json_body(&mut req).await?;
            create(env, caller, &body).await
        }
        SessionRoute::List => {
            let page = list(env, caller, &Query::of(&req)).await?;
            Ok(openma_cloudflare::json(200, &page)?)
        }
        SessionRoute::Get(id) => forward(env, caller, &id, req, Method::Get, "session").await,
        // The SessionDO writes record changes to the index itself.
        SessionRoute::Update(id) => {
            let mut resp = forward(env, caller, &id, req, Method::Post, "session").await?;
            if resp.status_code() == 200 {
                let change = updated_at(&mut resp).await;
                announce(
                    env,
                    caller,
                    "session.updated",
                    &id,
                    Some(&change),
                    json!({}),
                )
                .await;
            }
            Ok(resp)
        }
        SessionRoute::Archive(id) => {
            let resp = forward(env, caller, &id, req, Method::Post, "archive").await?;
            if resp.status_code() == 200 {
                announce(env, caller, "session.archived", &id, None, json!({})).await;
            }
            Ok(resp)
        }
        SessionRoute::Delete(id) => {
            // The object deletes what it holds, and what the session keeps
            // in R2; then the index row goes. An object that no longer has
            // the session (a delete whose index write failed) answers 404,
            // and the tenant's row goes too.
            let resp = forward(env, caller, &id, req, Method::Delete, "session").await;
            let gone = match &resp {
                Ok(resp) => resp.status_code() == 200,
                Err(err) => err.kind == ApiErrorType::NotFoundError,
            };
            if gone {
                store::sessions::delete(env, &caller.tenant_id, &id).await?;
                // A self-hosted session's worker has nothing left to serve.
                store::work::stop_for_session(env, &caller.tenant_id, &id, now()).await?;
            }
            if resp.as_ref().is_ok_and(|resp| resp.status_code() == 200) {
                announce(env, caller, "session.deleted", &id, None, json!({})).await;
            }
            resp
        }
        SessionRoute::ListEvents(id) => forward(env, caller, &id, req, Method::Get, "events").await,
        SessionRoute::SendEvents(id) => {
            let mut req = req;
            let body = crate::request::json_bytes(&mut req).await?;
            if starts_turn(&body) {
                crate::quota::admit_turn(env, caller, &id).await?;
            }
            let needs_worker = needs_worker(&body);
            let resp =
                forward_body(env, caller, &id, req, Method::Post, "events", Some(body)).await?;
            if needs_worker && resp.status_code() == 200 {
                // A failure is logged; the session's next input queues again.
                let _ = super::work::queue_for_input(env, caller, &id).await;
            }
            Ok(resp)
        }
        SessionRoute::Stream(id) => forward(env, caller, &id, req, Method::Get, "stream").await,
        SessionRoute::ListResources(id) => {
            let page = super::resources::list(env, caller, &id, &Query::of(&req)).await?;
            Ok(openma_cloudflare::json(200, &page)?)
        }
        SessionRoute::GetResource(id, resource_id) => {
            let resource = super::resources::get(env, caller, &id, &resource_id).await?;
            Ok(openma_cloudflare::json(200, &resource)?)
        }
        SessionRoute::AddResource(id) => {
            let mut req = req;
            let body = crate::request::json_body(&mut req).await?;
            super::resources::add(env, caller, &id, &body).await
        }
        SessionRoute::UpdateResource(id, resource_id) => {
            // A malformed body is refused as such, before the route's own
            // refusal.
            let mut req = req;
            crate::request::json_body(&mut req).await?;
            super::resources::update(env, caller, &id, &resource_id).await
        }
        SessionRoute::DeleteResource(id, resource_id) => {
            super::resources::delete(env, caller, &id, &resource_id).await
        }
    }
}

/// The `updated_at` of an answered session object, which tells one update
/// from another (now, when the answer has none).
async fn updated_at(resp: &mut Response) -> String {
    let body = match resp.cloned() {
        Ok(mut copy) => copy.json::<Value>().await.ok(),
        Err(_) => None,
    };
    body.as_ref()
        .and_then(|body| body["updated_at"].as_str())
        .map_or_else(|| now().to_rfc3339(), str::to_owned)
}

/// The session object, as its SessionDO answers `GET`.
pub(crate) async fn session_object(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    if !openma_core::wire::ids::has_prefix(id, openma_core::wire::ids::SESSION_PREFIX) {
        return Err(ApiError::not_found("session", id));
    }
    let resp = agent_request(env, caller, id, Method::Get, "session", None, None, None).await?;
    let mut resp = relay(resp).await?;
    resp.json().await.map_err(ApiError::internal)
}

/// Sends `body` to the session's `command` and relays the answer.
pub(crate) async fn session_command(
    env: &Env,
    caller: &Caller,
    id: &str,
    method: Method,
    command: &str,
    body: Option<Vec<u8>>,
) -> ApiResult<Response> {
    let resp = agent_request(env, caller, id, method, command, None, body, None).await?;
    relay(resp).await
}

fn field_error(path: &str, message: &str) -> ApiError {
    ApiError::from(ValidationError::new(path, message))
}

fn optional_string(body: &Value, name: &str) -> ApiResult<Option<String>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(field_error(name, "expected a string")),
    }
}

/// The agent snapshot a session is created with: an id (latest version),
/// `{type:"agent", id, version?}`, or `{type:"agent_with_overrides", ...}`.
async fn resolve_agent(env: &Env, caller: &Caller, spec: &Value) -> ApiResult<SessionAgent> {
    let (id, version, overrides) = match spec {
        Value::String(id) => (id.clone(), None, None),
        Value::Object(obj) => {
            let kind = obj.get("type").and_then(Value::as_str).unwrap_or("agent");
            let id = obj
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| field_error("agent.id", "required"))?
                .to_owned();
            let version = match obj.get("version") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().filter(|v| *v >= 1).ok_or_else(|| {
                    field_error("agent.version", "expected an integer of at least 1")
                })?),
            };
            match kind {
                "agent" => (id, version, None),
                "agent_with_overrides" => (id, version, Some(obj.clone())),
                _ => {
                    return Err(field_error(
                        "agent.type",
                        "expected \"agent\" or \"agent_with_overrides\"",
                    ));
                }
            }
        }
        _ => {
            return Err(field_error(
                "agent",
                "expected an agent id or an agent object",
            ));
        }
    };
    let agent: Agent = store::agents::get(env, &caller.tenant_id, &id, version)
        .await?
        .ok_or_else(|| ApiError::not_found("agent", &id))?;
    if agent.archived_at.is_some() {
        return Err(ApiError::invalid(format!("agent {id} is archived")));
    }
    let mut snapshot = SessionAgent::from(&agent);
    if let Some(overrides) = overrides {
        if let Some(model) = overrides.get("model") {
            snapshot.model = serde_json::from_value(model.clone())
                .map_err(|_| field_error("agent.model", "expected a model id or a model object"))?;
        }
        if let Some(system) = overrides.get("system") {
            snapshot.system = match system {
                Value::Null => None,
                Value::String(s) if s.is_empty() => None,
                Value::String(s) => Some(s.clone()),
                _ => return Err(field_error("agent.system", "expected a string or null")),
            };
        }
        if let Some(key) = overrides.keys().find(|key| {
            !matches!(
                key.as_str(),
                "type" | "id" | "version" | "model" | "system" | "tools" | "mcp_servers"
            )
        }) {
            return Err(field_error(
                &format!("agent.{key}"),
                "this platform cannot override it at session creation",
            ));
        }
        openma_core::control::apply_session_tools(&mut snapshot, &overrides, "agent")
            .map_err(crate::handlers::agents::invalid)?;
    }
    Ok(snapshot)
}

/// The session's `agent`, or openma's `agent_id` (an id, as `agent` takes
/// one); both at once must agree.
fn agent_spec(body: &Value) -> ApiResult<Value> {
    match (body.get("agent"), body.get("agent_id")) {
        (Some(agent), None | Some(Value::Null)) => Ok(agent.clone()),
        (None, Some(Value::String(id))) => Ok(Value::String(id.clone())),
        (None, Some(_)) => Err(field_error("agent_id", "expected a string")),
        (Some(agent), Some(id)) if agent == id => Ok(agent.clone()),
        (Some(_), Some(_)) => Err(field_error(
            "agent_id",
            "is a synonym of `agent`; give one, or both equal",
        )),
        (None, None) => Err(field_error("agent", "required")),
    }
}

async fn create(env: &Env, caller: &Caller, body: &Value) -> ApiResult<Response> {
    create_session(env, caller, body, None).await
}

/// Creates a session from a create body; `deployment_id` names the
/// deployment that asks for it (whose initial events were checked by its
/// own rules, and may end with a `system.message`).
pub(crate) async fn create_session(
    env: &Env,
    caller: &Caller,
    body: &Value,
    deployment_id: Option<&str>,
) -> ApiResult<Response> {
    let agent_spec = &agent_spec(body)?;
    // Without one, the session runs in the tenant's default environment.
    let environment_id = match body.get("environment_id") {
        Some(Value::String(id)) => Some(id.clone()),
        None | Some(Value::Null) => None,
        Some(_) => return Err(field_error("environment_id", "expected a string")),
    };
    let title = optional_string(body, "title")?;
    let metadata: BTreeMap<String, String> = match body.get("metadata") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(value) => serde_json::from_value(value.clone()).map_err(|_| {
            crate::handlers::agents::invalid(ValidationError::new(
                "metadata",
                "expected an object of strings",
            ))
        })?,
    };
    openma_core::control::validate_metadata(&metadata, "metadata")
        .map_err(crate::handlers::agents::invalid)?;
    let vault_ids: Vec<String> = match body.get("vault_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|_| field_error("vault_ids", "expected an array of strings"))?,
    };
    let resources: Vec<Value> = match body.get("resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(field_error("resources", "expected an array")),
    };
    let initial_events = match body.get("initial_events") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => {
            if deployment_id.is_some() {
                openma_core::wire::event_params::parse_init_events(value)?;
            } else {
                openma_core::wire::event_params::parse_initial_events(value)?;
            }
            value.as_array().cloned().unwrap_or_default()
        }
    };
    if initial_events.iter().any(|e| e["type"] == "user.message") {
        crate::quota::admit_turn(env, caller, "").await?;
    }
    for (i, vault_id) in vault_ids.iter().enumerate() {
        let vault = store::vaults::get_vault(env, &caller.tenant_id, vault_id).await?;
        match vault {
            None => return Err(ApiError::not_found("vault", vault_id)),
            Some(vault) if vault.archived_at.is_some() => {
                return Err(field_error(
                    &format!("vault_ids[{i}]"),
                    "the vault is archived",
                ));
            }
            Some(_) => {}
        }
    }
    let agent = resolve_agent(env, caller, agent_spec).await?;
    let environment = match &environment_id {
        Some(id) => store::environments::get(env, &caller.tenant_id, id)
            .await?
            .ok_or_else(|| {
                let mut err = ApiError::not_found("environment", id);
                err.code = Some("environment_not_found");
                err
            })?,
        None => super::environments::tenant_default(env, caller).await?,
    };
    let environment_id = environment.id.clone();
    if environment.archived_at.is_some() {
        let mut err = ApiError::invalid(format!("environment {environment_id} is archived"));
        err.code = Some("environment_archived");
        return Err(err);
    }
    let self_hosted = environment.config == EnvironmentConfig::SelfHosted;
    if self_hosted {
        refuse_on_self_hosted(env, caller, &resources, &vault_ids).await?;
    }
    let now = now();
    let resources = super::resources::normalize(
        env,
        caller,
        &resources,
        &[],
        &|i| format!("resources[{i}]"),
        now,
    )
    .await?;
    let id = openma_cloudflare::ids::mint_id("sesn_", now.0.unsigned_abs())
        .map_err(ApiError::internal)?;
    let record = SessionRecord {
        id: id.clone(),
        tenant_id: caller.tenant_id.clone(),
        environment_id: environment_id.clone(),
        environment_config: serde_json::to_value(&environment.config).unwrap_or(Value::Null),
        agent,
        title: title.clone(),
        metadata,
        resources,
        vault_ids,
        created_at: now,
        updated_at: now,
        archived_at: None,
        deployment_id: deployment_id.map(str::to_owned),
    };
    let starts_running = !initial_events.is_empty();
    store::sessions::insert(
        env,
        &SessionRow {
            id: id.clone(),
            tenant_id: caller.tenant_id.clone(),
            agent_id: record.agent.id.clone(),
            agent_version: i64::try_from(record.agent.version).unwrap_or(i64::MAX),
            environment_id,
            title,
            status: if starts_running { "running" } else { "idle" }.to_owned(),
            created_at: now.to_rfc3339(),
            updated_at: now.to_rfc3339(),
            archived_at: None,
            deployment_id: deployment_id.map(str::to_owned),
            record: Some(serde_json::to_string(&record).map_err(ApiError::internal)?),
            summary: Some(
                serde_json::to_string(&openma_cloudflare::internal::created_summary(
                    starts_running,
                ))
                .map_err(ApiError::internal)?,
            ),
        },
    )
    .await?;
    let init = InitParams {
        record,
        initial_events,
    };
    let body = serde_json::to_vec(&init).map_err(ApiError::internal)?;
    let resp = agent_request(
        env,
        caller,
        &id,
        Method::Post,
        "init",
        None,
        Some(body),
        None,
    )
    .await;
    match resp {
        Ok(resp) if resp.status_code() == 200 => {
            announce(env, caller, "session.created", &id, None, json!({})).await;
            if self_hosted {
                // A failure is logged; the session's first message queues again.
                let _ = super::work::queue_for_new_session(env, caller, &environment.id, &id).await;
            }
            relay(resp).await
        }
        other => {
            // Keep the index consistent with what exists.
            store::sessions::delete(env, &caller.tenant_id, &id).await?;
            match other {
                Ok(resp) => relay(resp).await,
                Err(e) => Err(ApiError::internal(e)),
            }
        }
    }
}

/// Refuses what a session in a self-hosted environment cannot have: file
/// and GitHub resources, and vaults with `environment_variable` credentials
/// (no platform sandbox to substitute them in).
async fn refuse_on_self_hosted(
    env: &Env,
    caller: &Caller,
    resources: &[Value],
    vault_ids: &[String],
) -> ApiResult<()> {
    openma_core::control::work::check_self_hosted_resources(resources, &|i| {
        format!("resources[{i}]")
    })?;
    for (i, vault_id) in vault_ids.iter().enumerate() {
        if store::vaults::has_environment_variables(env, &caller.tenant_id, vault_id).await? {
            return Err(field_error(
                &format!("vault_ids[{i}]"),
                "the vault holds environment_variable credentials, which self_hosted environments do not support: give the worker's machine its own secrets",
            ));
        }
    }
    Ok(())
}

/// `GET /v1/sessions`: newest first by default, with `next_page` and
/// `prev_page` cursors.
async fn list(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    let limit = query.limit(20, 100)?;
    let order = match query.get("order") {
        None | Some("desc") => Order::Desc,
        Some("asc") => Order::Asc,
        Some(_) => return Err(field_error("order", "expected asc or desc")),
    };
    let mut filter = ListFilter {
        agent_id: query.get("agent_id").map(str::to_owned),
        deployment_id: query.get("deployment_id").map(str::to_owned),
        ..ListFilter::default()
    };
    if let Some(version) = query.get("agent_version") {
        filter.agent_version = Some(
            version
                .parse()
                .map_err(|_| field_error("agent_version", "expected an integer"))?,
        );
    }
    filter.include_archived = match query.get("include_archived") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(field_error("include_archived", "expected true or false")),
    };
    for status in query.all("statuses[]").chain(query.all("statuses")) {
        if !["idle", "running", "rescheduling", "terminated"].contains(&status) {
            return Err(field_error(
                "statuses",
                "each value must be idle, running, rescheduling or terminated",
            ));
        }
        filter.statuses.push(status.to_owned());
    }
    for (key, op) in [
        ("created_at[gt]", ">"),
        ("created_at[gte]", ">="),
        ("created_at[lt]", "<"),
        ("created_at[lte]", "<="),
    ] {
        if let Some(at) = query.get(key) {
            let at = Timestamp::parse_rfc3339(at)
                .ok_or_else(|| field_error(key, "expected an RFC 3339 timestamp"))?;
            filter.created.push((op, at.to_rfc3339()));
        }
    }
    // A cursor says where the page starts and in which direction: `n:<id>`
    // continues past id in list order, `p:<id>` goes back before it.
    let (backwards, after) = match query.get("page") {
        None | Some("") => (false, None),
        Some(page) => {
            let cursor = PageCursor::decode(page, order)?;
            match cursor.after.split_once(':') {
                Some(("n", id)) => (false, Some(id.to_owned())),
                Some(("p", id)) => (true, Some(id.to_owned())),
                _ => return Err(field_error("page", "invalid page cursor")),
            }
        }
    };
    let ascending = (order == Order::Asc) != backwards;
    let mut rows = store::sessions::list(
        env,
        &caller.tenant_id,
        &filter,
        after.as_deref(),
        ascending,
        limit + 1,
    )
    .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    if backwards {
        rows.reverse();
    }
    let cursor = |dir: &str, id: &str| {
        PageCursor {
            order,
            after: format!("{dir}:{id}"),
        }
        .encode()
    };
    let (has_next, has_prev) = if backwards {
        (true, more)
    } else {
        (more, after.is_some())
    };
    let next_page = match (has_next, rows.last()) {
        (true, Some(last)) => Some(cursor("n", &last.id)),
        _ => None,
    };
    let prev_page = match (has_prev, rows.first()) {
        (true, Some(first)) => Some(cursor("p", &first.id)),
        _ => None,
    };
    // A session at rest is served from its index row, which its SessionDO
    // keeps current; one with a turn in progress (its usage and running time
    // change by the second), or a row from before the index held sessions
    // whole, is asked of its SessionDO. Those requests run together.
    let now = now();
    let mut data: Vec<Option<Value>> = Vec::with_capacity(rows.len());
    let mut live = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match indexed_view(row, now) {
            Some(session) => data.push(Some(session)),
            None => {
                data.push(None);
                live.push((i, row.id.as_str()));
            }
        }
    }
    let answers =
        futures_util::future::join_all(live.iter().map(|(_, id)| live_session(env, caller, id)))
            .await;
    for ((i, _), answer) in live.iter().zip(answers) {
        data[*i] = answer?;
    }
    let data: Vec<Value> = data.into_iter().flatten().collect();
    Ok(json!({"data": data, "next_page": next_page, "prev_page": prev_page}))
}

/// A session at rest, as its index row holds it.
fn indexed_view(row: &SessionRow, now: Timestamp) -> Option<Value> {
    let record: SessionRecord = serde_json::from_str(row.record.as_deref()?).ok()?;
    let summary: SessionSummary = serde_json::from_str(row.summary.as_deref()?).ok()?;
    if !summary.at_rest() {
        return None;
    }
    serde_json::to_value(record.view(&summary, now)).ok()
}

/// A session as its SessionDO reports it (None if it is gone).
async fn live_session(env: &Env, caller: &Caller, id: &str) -> ApiResult<Option<Value>> {
    let mut resp = agent_request(env, caller, id, Method::Get, "session", None, None, None).await?;
    if resp.status_code() == 200 {
        Ok(Some(resp.json::<Value>().await?))
    } else {
        Ok(None)
    }
}

/// Sends a request straight to the session's SessionDO (a Durable Object
/// binding to the agent worker's class).
#[allow(
    clippy::too_many_arguments,
    reason = "one internal request, spelled out"
)]
async fn agent_request(
    env: &Env,
    caller: &Caller,
    id: &str,
    method: Method,
    command: &str,
    query: Option<&str>,
    body: Option<Vec<u8>>,
    last_event_id: Option<String>,
) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set(TENANT_HEADER, &caller.tenant_id)?;
    headers.set("content-type", "application/json")?;
    if let Some(last) = last_event_id {
        headers.set("last-event-id", &last)?;
    }
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(body) = body {
        init.with_body(Some(JsValue::from(worker::js_sys::Uint8Array::from(
            body.as_slice(),
        ))));
    }
    let url = match query {
        Some(q) if !q.is_empty() => format!("https://session.internal/sessions/{id}/{command}?{q}"),
        _ => format!("https://session.internal/sessions/{id}/{command}"),
    };
    let req = Request::new_with_init(&url, &init)?;
    let stub = env
        .durable_object("SESSION")?
        .id_from_name(id)?
        .get_stub()?;
    stub.fetch_with_request(req).await
}

/// Whether a body of events sent to a session has a `user.message`, which
/// starts a turn when the session is idle.
fn starts_turn(body: &[u8]) -> bool {
    has_event(body, &["user.message"])
}

/// Whether a body of events sent to a session has one that a self-hosted
/// session's worker must be there for: a message (a turn), a confirmation
/// (a tool call it runs), or a custom tool's result (the turn goes on).
fn needs_worker(body: &[u8]) -> bool {
    has_event(
        body,
        &[
            "user.message",
            "user.tool_confirmation",
            "user.custom_tool_result",
        ],
    )
}

fn has_event(body: &[u8], types: &[&str]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|body| {
            let events = body.get("events")?.as_array()?;
            Some(
                events
                    .iter()
                    .any(|e| e["type"].as_str().is_some_and(|t| types.contains(&t))),
            )
        })
        .unwrap_or(false)
}

/// Forwards a public request to the session's object: the session id must be
/// well-formed; the object itself answers 404 for another tenant's session.
async fn forward(
    env: &Env,
    caller: &Caller,
    id: &str,
    mut req: Request,
    method: Method,
    command: &str,
) -> ApiResult<Response> {
    // The body goes through as bytes, checked to be UTF-8 of a bounded
    // depth first: the session parses and validates it, and must never be
    // the first to see unchecked bytes.
    let body = if method == Method::Post {
        Some(crate::request::json_bytes(&mut req).await?)
    } else {
        None
    };
    forward_body(env, caller, id, req, method, command, body).await
}

/// [`forward`], with the request's body already read and checked.
async fn forward_body(
    env: &Env,
    caller: &Caller,
    id: &str,
    req: Request,
    method: Method,
    command: &str,
    body: Option<Vec<u8>>,
) -> ApiResult<Response> {
    if !openma_core::wire::ids::has_prefix(id, openma_core::wire::ids::SESSION_PREFIX) {
        return Err(ApiError::not_found("session", id));
    }
    let raw_url = req.inner().url();
    let query = raw_url.split_once('?').map(|(_, q)| q.to_owned());
    let last_event_id = req.headers().get("last-event-id")?;
    let resp = agent_request(
        env,
        caller,
        id,
        method,
        command,
        query.as_deref(),
        body,
        last_event_id,
    )
    .await?;
    relay(resp).await
}

/// Passes a SessionDO's answer on: streams and successful JSON as they are
/// (re-wrapped, because a fetched response's headers are immutable and the
/// request id must be added); errors through the single error mapping.
async fn relay(mut resp: Response) -> ApiResult<Response> {
    let streaming = resp
        .headers()
        .get("content-type")?
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if streaming {
        let worker::ResponseBody::Stream(stream) = resp.body() else {
            return Err(ApiError::internal("an event stream without a body"));
        };
        let mut out = Response::from_body(worker::ResponseBody::Stream(stream.clone()))?;
        out.headers_mut().set("content-type", "text/event-stream")?;
        out.headers_mut().set("cache-control", "no-cache")?;
        return Ok(out);
    }
    let status = resp.status_code();
    if status < 400 {
        let bytes = resp.bytes().await?;
        let mut out = Response::from_bytes(bytes)?.with_status(status);
        out.headers_mut().set("content-type", "application/json")?;
        return Ok(out);
    }
    let body: Value = resp.json().await?;
    let kind = serde_json::from_value::<ApiErrorType>(body["error"]["type"].clone())
        .unwrap_or(ApiErrorType::ApiError);
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("error")
        .to_owned();
    Err(ApiError::new(kind, message))
}
