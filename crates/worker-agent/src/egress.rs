//! The sandbox's egress path on the platform side: where a session's vault
//! secrets are put into its outgoing requests.
//!
//! The sandbox only ever holds placeholders (`oma_ph_…`). Each outgoing
//! request reaches the session's `Sandbox` object (in production the
//! container's outbound HTTP and HTTPS are intercepted to it; locally the
//! sandbox server's proxy hands plain HTTP to main's `/internal/egress`,
//! which passes it on). Here the request is checked against the session's
//! egress policy, the session's `environment_variable` credentials are read
//! from D1 and decrypted for this request only, placeholders are replaced for
//! the credentials' allowed hosts and locations, a request to one of the
//! session's MCP servers that carries no `authorization` gets the matching
//! `static_bearer` / `mcp_oauth` token, and the request is sent upstream. Secret values are masked in the answer. Nothing decrypted
//! outlives the request.

use std::collections::BTreeMap;

use openma_core::egress::CredentialNetworking;
use openma_core::egress::EgressDecision;
use openma_core::egress::EgressPolicy;
use openma_core::egress::InjectionLocation;
use openma_core::egress::SecretInjector;
use openma_core::egress::SecretRule;
use openma_core::egress::SecretValue;
use openma_core::egress::normalize_host;
use openma_core::egress::normalize_mcp_url;
use openma_core::egress::under_mcp_url;
use openma_core::metrics;
use openma_core::sandbox::SessionSetupParams;
use serde::Deserialize;
use serde::Serialize;
use serde_json::json;
use worker::Env;
use worker::Headers;
use worker::Method;
use worker::Request;
use worker::RequestInit;
use worker::RequestRedirect;
use worker::Response;
use worker::Result;
use worker::Url;
use worker::wasm_bindgen::JsValue;

/// The header carrying the target of a request handed over by main.
pub(crate) const TARGET_HEADER: &str = "x-oma-egress-url";

/// Marks a request that only reports a denial the sandbox server made.
pub(crate) const REPORT_HEADER: &str = "x-oma-egress-report";

/// What the session sends its `Sandbox` object to set it up: the set-up for
/// the sandbox server (credential names and rules, no values) and what the
/// egress path needs to find the values.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SandboxSetup {
    /// The session's tenant.
    pub(crate) tenant_id: String,
    /// The session's vaults.
    pub(crate) vault_ids: Vec<String>,
    /// The sandbox server's set-up.
    pub(crate) params: SessionSetupParams,
}

/// What the `Sandbox` object keeps for the egress path (no secret in it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EgressContext {
    /// The session.
    pub(crate) session_id: String,
    /// The session's tenant.
    pub(crate) tenant_id: String,
    /// The session's vaults.
    pub(crate) vault_ids: Vec<String>,
    /// Which hosts may be reached.
    pub(crate) policy: EgressPolicy,
    /// Secret name → the placeholder the sandbox holds.
    pub(crate) placeholders: BTreeMap<String, String>,
}

/// Headers that belong to one hop, or to the platform, never upstream.
const DROPPED: [&str; 13] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "x-oma-internal",
    TARGET_HEADER,
    REPORT_HEADER,
];

/// Sends one of the sandbox's requests to `target` as the session's policy
/// and credentials allow.
pub(crate) async fn send(
    env: &Env,
    context: &EgressContext,
    mut req: Request,
    target: &str,
) -> Result<Response> {
    let url = match Url::parse(target) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => {
            return refuse(
                400,
                "bad_target",
                None,
                &format!("`{target}` is not an http(s) URL"),
            );
        }
    };
    let (Some(host), Some(port)) = (
        url.host_str().and_then(normalize_host),
        url.port_or_known_default(),
    ) else {
        return refuse(
            400,
            "bad_target",
            None,
            &format!("`{target}` has no usable host"),
        );
    };
    let mut fields = json!({
        "level": "info",
        "event": "egress",
        "session_id": context.session_id,
        "method": req.method().to_string(),
        "host": host,
        "port": port,
    });
    let decision = context.policy.decide(&host, port);
    // The local sandbox server decides CONNECT tunnels (and, first, plain
    // HTTP) itself and reports what it refused: counted here when the
    // policy agrees, and never sent anywhere.
    let report = req.headers().get(REPORT_HEADER)?.as_deref() == Some("denied");
    let counted = match (&decision, report) {
        (EgressDecision::Denied(_), _) => "denied",
        (EgressDecision::Allowed(_), false) => "allowed",
        (EgressDecision::Allowed(_), true) => {
            return refuse(
                400,
                "bad_report",
                None,
                "the policy allows this target; there is no denial to report",
            );
        }
    };
    openma_cloudflare::store::metrics::spawn_add(
        env,
        vec![metrics::increment(
            metrics::EGRESS_REQUESTS,
            &[("decision", counted)],
        )],
    );
    if report {
        return Response::empty().map(|r| r.with_status(204));
    }
    if let EgressDecision::Denied(denial) = decision {
        fields["decision"] = "denied".into();
        fields["policy"] = denial.policy.into();
        log(env, &fields);
        return refuse(
            403,
            "egress_denied",
            Some(denial.policy),
            &denial.to_string(),
        );
    }
    let opened = Opened::load(env, context).await?;
    let injector = &opened.injector;
    let headers = Headers::new();
    let mut injected = false;
    // The session's MCP credential, for a request to its server that does
    // not authenticate itself.
    if let Some(token) = opened.bearer_for(target)
        && !req.headers().has("authorization")?
    {
        headers.set("authorization", &format!("Bearer {}", token.expose()))?;
        injected = true;
    }
    for (name, value) in req.headers().entries() {
        if DROPPED.iter().any(|d| name.eq_ignore_ascii_case(d)) {
            continue;
        }
        let replaced = injector.header_value(&host, &value);
        injected |= matches!(replaced, std::borrow::Cow::Owned(_));
        headers.append(&name, &replaced)?;
    }
    let method = req.method();
    let mut init = RequestInit::new();
    // A redirect is never followed here: the policy and each credential's
    // host rule were checked for this URL only. The 3xx goes back to the
    // sandbox, and each hop its client follows comes through this path and
    // is checked again.
    init.with_method(method.clone())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if !matches!(method, Method::Get | Method::Head) {
        let body = req.bytes().await?;
        let body = injector.body(&host, &body);
        injected |= matches!(body, std::borrow::Cow::Owned(_));
        if !body.is_empty() {
            init.with_body(Some(JsValue::from(worker::js_sys::Uint8Array::from(
                body.as_ref(),
            ))));
        }
    }
    fields["decision"] = "allowed".into();
    fields["injected"] = injected.into();
    let upstream = Request::new_with_init(url.as_str(), &init)?;
    let mut answer = match worker::Fetch::Request(upstream).send().await {
        Ok(answer) => answer,
        Err(e) => {
            fields["upstream"] = "unreachable".into();
            log(env, &fields);
            let message = injector.redact(&e.to_string()).into_owned();
            return refuse(502, "upstream_unreachable", None, &message);
        }
    };
    fields["status"] = answer.status_code().into();
    log(env, &fields);
    if injector.rules().is_empty() {
        return Ok(answer);
    }
    // A secret the upstream echoes back is masked before the sandbox sees it.
    let status = answer.status_code();
    let body = answer.bytes().await?;
    let body = injector.redact_bytes(&body).into_owned();
    let headers = Headers::new();
    for (name, value) in answer.headers().entries() {
        // The runtime has already decoded the body.
        if name.eq_ignore_ascii_case("content-encoding")
            || name.eq_ignore_ascii_case("content-length")
        {
            continue;
        }
        headers.append(&name, &injector.redact(&value))?;
    }
    Ok(Response::from_bytes(body)?
        .with_status(status)
        .with_headers(headers))
}

/// What the egress path adds to one request, opened for it alone: the
/// placeholder substitutions of the session's `environment_variable`
/// credentials, and the bearer tokens of its MCP credentials.
struct Opened {
    injector: SecretInjector,
    bearers: Vec<(String, SecretValue)>,
}

impl Opened {
    async fn load(env: &Env, context: &EgressContext) -> Result<Self> {
        if context.vault_ids.is_empty() {
            return Ok(Self {
                injector: SecretInjector::default(),
                bearers: Vec::new(),
            });
        }
        let credentials =
            crate::secrets::credentials(env, &context.tenant_id, &context.vault_ids, true)
                .await
                .map_err(worker::Error::RustError)?;
        let mut rules: Vec<SecretRule> = credentials
            .variables
            .into_iter()
            .filter_map(|c| {
                Some(SecretRule {
                    placeholder: context.placeholders.get(&c.name)?.clone(),
                    value: c.value?,
                    networking: c.networking,
                    injection: c.injection_location,
                })
            })
            .collect();
        // Bearer tokens are masked in answers too; their rule's placeholder
        // is never shown to anyone, so it substitutes nothing.
        for (_, token) in &credentials.bearers {
            rules.push(SecretRule {
                placeholder: format!("oma_unshown_{}", random_hex()?),
                value: token.clone(),
                networking: CredentialNetworking::default(),
                injection: InjectionLocation {
                    header: false,
                    body: false,
                },
            });
        }
        Ok(Self {
            injector: SecretInjector::new(rules),
            bearers: credentials.bearers,
        })
    }

    /// The bearer token for a request to `target`, if it goes to one of the
    /// session's MCP servers.
    fn bearer_for(&self, target: &str) -> Option<&SecretValue> {
        let target = normalize_mcp_url(target)?;
        self.bearers
            .iter()
            .find(|(server, _)| under_mcp_url(server, &target))
            .map(|(_, token)| token)
    }
}

fn random_hex() -> Result<String> {
    let mut bytes = [0u8; 16];
    openma_cloudflare::ids::random_bytes(&mut bytes).map_err(worker::Error::RustError)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn log(env: &Env, fields: &serde_json::Value) {
    if openma_cloudflare::info_logs(env) {
        worker::console_log!("{fields}");
    }
}

fn refuse(status: u16, kind: &str, policy: Option<&str>, message: &str) -> Result<Response> {
    let mut body = json!({"error": {"type": kind, "message": message}});
    if let Some(policy) = policy {
        body["error"]["policy"] = policy.into();
    }
    openma_cloudflare::json(status, &body)
}
