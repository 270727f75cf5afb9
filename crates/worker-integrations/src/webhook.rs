//! The providers' webhooks: verified over the raw bytes first, read, matched
//! to the integration installed for the workspace, and handed to the
//! conversation's object, which records them once. The answer goes back
//! as soon as the delivery is recorded; the work follows in the object.

use openma_cloudflare::store::integrations as store;
use openma_core::integrations::Inbound;
use openma_core::integrations::InboundAction;
use openma_core::integrations::Provider;
use openma_core::integrations::Rejection;
use openma_core::integrations::github_mention;
use openma_core::integrations::read_github;
use openma_core::integrations::read_linear;
use openma_core::integrations::read_slack;
use openma_core::integrations::verify_github;
use openma_core::integrations::verify_linear;
use openma_core::integrations::verify_slack;
use serde_json::Value;
use serde_json::json;
use worker::Context;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::RequestInit;
use worker::Response;
use worker::Result;

use crate::config::Config;
use crate::log;
use crate::thread::Delivery;
use crate::thread::Intake;
use crate::thread::object_name;

/// Answers one provider delivery.
pub(crate) async fn receive(
    provider: Provider,
    mut req: Request,
    env: &Env,
    ctx: &Context,
) -> Result<Response> {
    let body = req.bytes().await?;
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let config = Config::from_env(env);
    let verified = match config.secret(provider) {
        None => Err(format!("{} is not set", provider.secret_name())),
        Some(secret) => {
            let now = openma_cloudflare::now_ms();
            #[allow(clippy::cast_possible_truncation)]
            let now_ms = now as i64;
            match provider {
                Provider::Slack => verify_slack(
                    secret,
                    header("x-slack-request-timestamp").as_deref(),
                    header("x-slack-signature").as_deref(),
                    &body,
                    now_ms / 1000,
                ),
                Provider::Linear => {
                    verify_linear(secret, header("linear-signature").as_deref(), &body, now_ms)
                }
                Provider::Github => {
                    verify_github(secret, header("x-hub-signature-256").as_deref(), &body)
                }
            }
            .map_err(|e: Rejection| e.to_string())
        }
    };
    if let Err(reason) = verified {
        keep(
            ctx,
            log::delivery(
                env,
                provider.as_str(),
                "rejected",
                json!({"reason": reason}),
            ),
        );
        return error(
            401,
            "authentication_error",
            "the delivery's signature does not verify",
        );
    }
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        keep(
            ctx,
            log::delivery(
                env,
                provider.as_str(),
                "rejected",
                json!({"reason": "not JSON"}),
            ),
        );
        return error(
            400,
            "invalid_request_error",
            "the delivery's body is not JSON",
        );
    };
    let inbound = match provider {
        Provider::Slack => read_slack(&parsed),
        Provider::Linear => read_linear(header("linear-delivery").as_deref(), &parsed),
        Provider::Github => read_github(
            header("x-github-event").as_deref(),
            header("x-github-delivery").as_deref(),
            &parsed,
        ),
    };
    let event = match inbound {
        Inbound::Challenge(challenge) => {
            return openma_cloudflare::json(200, &json!({"challenge": challenge}));
        }
        Inbound::Ignored(reason) => return ignored(env, ctx, provider, &reason, None),
        Inbound::Event(event) => event,
    };
    let Some(integration) = store::find(env, provider.as_str(), &event.external_id).await? else {
        let reason = format!("no integration is installed for {}", event.external_id);
        return ignored(env, ctx, provider, &reason, None);
    };
    let (kind, text) = match event.action {
        InboundAction::Start { text } => ("start", text),
        InboundAction::Continue { text } => ("continue", text),
        InboundAction::Stop => ("stop", String::new()),
    };
    let text = if provider == Provider::Github {
        let bot = integration.bot_login.as_deref().unwrap_or_default();
        match github_mention(&text, event.author.as_deref(), bot) {
            Some(text) => text,
            None => {
                let reason = format!("the comment does not engage @{bot}");
                return ignored(env, ctx, provider, &reason, Some(&integration.id));
            }
        }
    } else {
        text
    };
    let delivery = Delivery {
        name: object_name(&integration.id, &event.thread),
        integration_id: integration.id.clone(),
        tenant_id: integration.tenant_id.clone(),
        delivery_id: event.delivery_id,
        message_key: event.message_key,
        thread: event.thread,
        kind: kind.to_owned(),
        text,
    };
    let accepted = hand_over(env, &delivery).await?;
    let outcome = match accepted {
        Intake::Accepted => "received",
        Intake::Duplicate => "deduplicated",
        Intake::Ignored => "ignored",
    };
    keep(
        ctx,
        log::delivery(
            env,
            provider.as_str(),
            outcome,
            json!({
                "integration_id": integration.id,
                "thread": delivery.name,
                "delivery": delivery.delivery_id,
                "kind": kind,
            }),
        ),
    );
    openma_cloudflare::json(200, &json!({"ok": true, "outcome": outcome}))
}

/// Hands the delivery to its conversation's object, which records it.
async fn hand_over(env: &Env, delivery: &Delivery) -> Result<Intake> {
    let stub = env
        .durable_object("THREADS")?
        .id_from_name(&delivery.name)?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(serde_json::to_string(delivery)?.into()));
    let request = Request::new_with_init("https://thread/deliver", &init)?;
    let mut resp = stub.fetch_with_request(request).await?;
    let answer: Value = resp.json().await?;
    Ok(serde_json::from_value(answer["outcome"].clone())?)
}

/// Wakes a conversation's object (`POST /internal/threads/kick`, from the
/// main worker after a dead reply is re-driven).
pub(crate) async fn kick(env: &Env, name: &str) -> Result<()> {
    let stub = env
        .durable_object("THREADS")?
        .id_from_name(name)?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post);
    stub.fetch_with_request(Request::new_with_init("https://thread/kick", &init)?)
        .await?;
    Ok(())
}

fn ignored(
    env: &Env,
    ctx: &Context,
    provider: Provider,
    reason: &str,
    integration_id: Option<&str>,
) -> Result<Response> {
    keep(
        ctx,
        log::delivery(
            env,
            provider.as_str(),
            "ignored",
            json!({"reason": reason, "integration_id": integration_id}),
        ),
    );
    openma_cloudflare::json(
        200,
        &json!({"ok": true, "outcome": "ignored", "reason": reason}),
    )
}

fn keep(ctx: &Context, flush: Option<impl Future<Output = ()> + 'static>) {
    if let Some(flush) = flush {
        ctx.wait_until(flush);
    }
}

/// An answer in the API's error envelope.
pub(crate) fn error(status: u16, kind: &str, message: &str) -> Result<Response> {
    openma_cloudflare::json(
        status,
        &json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}
