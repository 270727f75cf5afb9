//! The local egress proxy: every sandboxed process is pointed at it through
//! `http_proxy`/`https_proxy`. It finds the session from the proxy
//! credential, applies the session's [`EgressPolicy`](openma_core::egress::EgressPolicy),
//! tunnels allowed HTTPS (CONNECT) untouched, and forwards allowed plain HTTP
//! with vault placeholders substituted for the credential's hosts. Denials are
//! a 403 whose JSON body names the policy.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openma_core::egress::{EgressDecision, normalize_host};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};

use super::http::{self, Head, HttpError};
use super::mask::Masker;
use crate::log::Logger;
use crate::session::{Session, Sessions};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
const BODY_TIMEOUT: Duration = Duration::from_secs(120);

/// Accepts proxy connections on TCP, forever.
pub async fn serve(listener: TcpListener, sessions: Arc<Sessions>, logger: Logger) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        spawn_handler(conn, Arc::clone(&sessions), logger.clone());
    }
}

/// Accepts proxy connections on a Unix socket (the way out of an isolated
/// network namespace), forever.
pub async fn serve_unix(listener: UnixListener, sessions: Arc<Sessions>, logger: Logger) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        spawn_handler(conn, Arc::clone(&sessions), logger.clone());
    }
}

/// A client connection: TCP or Unix.
trait Conn: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Conn for T {}

fn spawn_handler(conn: impl Conn, sessions: Arc<Sessions>, logger: Logger) {
    tokio::spawn(async move {
        if let Err(e) = handle(conn, &sessions, &logger).await {
            logger.warn("egress_error", json!({"error": e.to_string()}));
        }
    });
}

async fn handle(
    mut conn: impl Conn,
    sessions: &Sessions,
    logger: &Logger,
) -> Result<(), HttpError> {
    let head = tokio::time::timeout(HEAD_TIMEOUT, http::read_head(&mut conn)).await;
    let (head, pre) = match head {
        Err(_) => return Ok(()),
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            let _ = http::respond(
                &mut conn,
                400,
                "Bad Request",
                &[],
                "text/plain",
                &format!("{e}\n"),
            )
            .await;
            return Ok(());
        }
    };
    let Some(session) = proxy_session(&head, sessions) else {
        let message = "the egress proxy needs the session's proxy credential (from http_proxy)";
        return refuse(&mut conn, Refusal::AuthRequired, message).await;
    };
    let Some((host, port, path)) = target(&head) else {
        let message = "the proxy accepts CONNECT host:port or absolute http:// URLs";
        return refuse(&mut conn, Refusal::BadTarget, message).await;
    };
    let egress = session.egress();
    // The decision is made on the CONNECT target or the absolute URI, which
    // is also where the connection goes; a `Host` header is never consulted
    // (and is rewritten to match below).
    let decision = egress.policy.decide(&host, port);
    let mut fields =
        json!({"session_id": session.id, "method": head.method, "host": host, "port": port});
    if let EgressDecision::Denied(denial) = decision {
        fields["decision"] = "denied".into();
        fields["policy"] = denial.policy.into();
        logger.info("egress", fields);
        report_denial(sessions, &session.id, &head, &host, port, &path, logger);
        return refuse(
            &mut conn,
            Refusal::Denied(denial.policy),
            &denial.to_string(),
        )
        .await;
    }
    let connect_method = head.method.eq_ignore_ascii_case("CONNECT");
    // Plain HTTP goes to the platform when it substitutes secrets itself.
    let handoff = match (&sessions.config().egress_forward, connect_method) {
        (Some(base), false) => Some(Forward::parse(base, &session.id).ok_or_else(|| {
            HttpError::Malformed("the egress forward URL is not http://host:port/path".to_owned())
        })?),
        _ => None,
    };
    let (upstream_host, upstream_port) = match &handoff {
        Some(f) => (f.host.clone(), f.port),
        None => (
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        ),
    };
    fields["decision"] = "allowed".into();
    let upstream = match tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((upstream_host.as_str(), upstream_port)),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            fields["upstream"] = "unreachable".into();
            logger.info("egress", fields);
            let message = format!("cannot connect to {host}:{port}: {e}");
            return refuse(&mut conn, Refusal::Unreachable, &message).await;
        }
        Err(_) => {
            fields["upstream"] = "timeout".into();
            logger.info("egress", fields);
            let message = format!("timed out connecting to {host}:{port}");
            return refuse(&mut conn, Refusal::Unreachable, &message).await;
        }
    };
    if head.method.eq_ignore_ascii_case("CONNECT") {
        logger.info("egress", fields);
        tunnel(conn, upstream, pre).await
    } else {
        if head
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            // The body is needed before the upstream sees anything (to substitute
            // placeholders), so the proxy itself invites the client to send it.
            conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        let body = match tokio::time::timeout(BODY_TIMEOUT, http::read_body(&mut conn, &head, pre))
            .await
        {
            Ok(body) => body?,
            Err(_) => return Ok(()),
        };
        let (request, injected) = match &handoff {
            Some(f) => {
                fields["forwarded"] = true.into();
                let target = if port == 80 {
                    format!("http://{host}{path}")
                } else {
                    format!("http://{host}:{port}{path}")
                };
                let extra = [
                    ("host".to_owned(), f.authority()),
                    ("x-oma-egress-url".to_owned(), target),
                    (
                        "x-oma-sandbox-token".to_owned(),
                        sessions
                            .config()
                            .session_token(&session.id)
                            .unwrap_or_default(),
                    ),
                ];
                rewrite(&head, &f.path, &host, body, &egress.injector, &extra)
            }
            None => {
                let authority = if port == 80 {
                    host.clone()
                } else {
                    format!("{host}:{port}")
                };
                let extra = [("host".to_owned(), authority)];
                rewrite(&head, &path, &host, body, &egress.injector, &extra)
            }
        };
        fields["injected"] = injected.into();
        logger.info("egress", fields);
        let secrets = egress
            .injector
            .rules()
            .iter()
            .map(|r| r.value.expose().as_bytes().to_vec())
            .collect();
        forward(conn, upstream, &request, Masker::new(secrets)).await
    }
}

fn proxy_session(head: &Head, sessions: &Sessions) -> Option<Arc<Session>> {
    let creds = head.header("proxy-authorization")?.strip_prefix("Basic ")?;
    let decoded = STANDARD.decode(creds.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_, token) = decoded.split_once(':')?;
    sessions.by_proxy_token(token)
}

/// `(host, port, origin-form path)` from a CONNECT target or an absolute `http://` URI.
fn target(head: &Head) -> Option<(String, u16, String)> {
    if head.method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = split_host_port(&head.target, 443)?;
        return Some((host, port, String::new()));
    }
    let rest = head
        .target
        .strip_prefix("http://")
        .or_else(|| head.target.strip_prefix("HTTP://"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = split_host_port(authority, 80)?;
    Some((host, port, path))
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        (format!("[{h}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), default_port),
        }
    };
    normalize_host(&host)?;
    Some((host.to_ascii_lowercase(), port))
}

/// Builds the upstream request; returns it and whether a placeholder was substituted.
/// Where plain-HTTP egress is handed to the platform.
struct Forward {
    host: String,
    port: u16,
    /// The request path: the base's path plus `/<session_id>`.
    path: String,
}

impl Forward {
    fn parse(base: &str, session_id: &str) -> Option<Self> {
        let rest = base.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(authority, 80)?;
        Some(Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            path: format!("{}/{session_id}", path.trim_end_matches('/')),
        })
    }

    fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Tells the platform, in the background, about a request refused here, so
/// the deployment's counters include it (when the server is configured to).
/// The report names the target and nothing of the request itself.
fn report_denial(
    sessions: &Sessions,
    session_id: &str,
    head: &Head,
    host: &str,
    port: u16,
    path: &str,
    logger: &Logger,
) {
    let config = sessions.config();
    if !config.egress_report_denials {
        return;
    }
    let Some(forward) = config
        .egress_forward
        .as_deref()
        .and_then(|base| Forward::parse(base, session_id))
    else {
        return;
    };
    let target = if head.method.eq_ignore_ascii_case("CONNECT") {
        format!("https://{host}:{port}/")
    } else if port == 80 {
        format!("http://{host}{path}")
    } else {
        format!("http://{host}:{port}{path}")
    };
    let token = config.session_token(session_id).unwrap_or_default();
    let request = format!(
        "POST {} HTTP/1.1\r\nhost: {}\r\nx-oma-egress-url: {target}\r\nx-oma-egress-report: denied\r\nx-oma-sandbox-token: {token}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        forward.path,
        forward.authority()
    );
    let logger = logger.clone();
    let session_id = session_id.to_owned();
    tokio::spawn(async move {
        let sent = async {
            let mut stream = TcpStream::connect((forward.host.as_str(), forward.port)).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut answer = Vec::new();
            stream.take(4096).read_to_end(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        };
        let outcome = match tokio::time::timeout(CONNECT_TIMEOUT, sent).await {
            Ok(Ok(answer)) => String::from_utf8_lossy(&answer)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        if !outcome.starts_with("HTTP/1.1 204") {
            logger.info(
                "egress_report_failed",
                json!({"session_id": session_id, "outcome": outcome}),
            );
        }
    });
}

/// The request to send upstream: `path` in the request line, hop-by-hop
/// headers dropped, placeholders substituted, and `extra` headers replacing
/// any of the same name.
fn rewrite(
    head: &Head,
    path: &str,
    host: &str,
    body: Vec<u8>,
    injector: &openma_core::egress::SecretInjector,
    extra: &[(String, String)],
) -> (Vec<u8>, bool) {
    const HOP_BY_HOP: &[&str] = &[
        "proxy-authorization",
        "proxy-connection",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "te",
        "upgrade",
        "expect",
    ];
    let mut injected = false;
    let mut out = format!("{} {path} HTTP/1.1\r\n", head.method).into_bytes();
    for (name, value) in &head.headers {
        if HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
            || extra.iter().any(|(e, _)| name.eq_ignore_ascii_case(e))
        {
            continue;
        }
        let value = match std::str::from_utf8(value) {
            Ok(text) => {
                let replaced = injector.header_value(host, text);
                injected |= matches!(replaced, std::borrow::Cow::Owned(_));
                replaced.into_owned().into_bytes()
            }
            Err(_) => value.clone(),
        };
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&value);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in extra {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    let body = injector.body(host, &body);
    injected |= matches!(body, std::borrow::Cow::Owned(_));
    let has_body = !body.is_empty()
        || head.header("content-length").is_some()
        || head.header("transfer-encoding").is_some();
    if has_body {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(&body);
    (out, injected)
}

async fn tunnel(
    mut conn: impl Conn,
    mut upstream: TcpStream,
    pre: Vec<u8>,
) -> Result<(), HttpError> {
    conn.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    if !pre.is_empty() {
        upstream.write_all(&pre).await?;
    }
    let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
    Ok(())
}

async fn forward(
    mut conn: impl Conn,
    mut upstream: TcpStream,
    request: &[u8],
    mut masker: Masker,
) -> Result<(), HttpError> {
    upstream.write_all(request).await?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = upstream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        conn.write_all(&masker.feed(&buf[..n])).await?;
    }
    conn.write_all(&masker.finish()).await?;
    conn.shutdown().await?;
    Ok(())
}

/// Why the proxy answers a request itself.
enum Refusal {
    /// No or unknown session credential (407).
    AuthRequired,
    /// Neither CONNECT nor an absolute `http://` URL (400).
    BadTarget,
    /// The session's policy, named, refused the host (403).
    Denied(&'static str),
    /// The upstream could not be reached (502).
    Unreachable,
}

async fn refuse(conn: &mut impl Conn, refusal: Refusal, message: &str) -> Result<(), HttpError> {
    let (status, reason, kind, policy) = match refusal {
        Refusal::AuthRequired => (
            407,
            "Proxy Authentication Required",
            "proxy_auth_required",
            None,
        ),
        Refusal::BadTarget => (400, "Bad Request", "bad_target", None),
        Refusal::Denied(policy) => (403, "Forbidden", "egress_denied", Some(policy)),
        Refusal::Unreachable => (502, "Bad Gateway", "upstream_unreachable", None),
    };
    let challenge: &[(&str, &str)] = match status {
        407 => &[("proxy-authenticate", "Basic realm=\"openma\"")],
        _ => &[],
    };
    let body = error_body(kind, policy, message);
    http::respond(conn, status, reason, challenge, "application/json", &body).await?;
    Ok(())
}

fn error_body(kind: &str, policy: Option<&str>, message: &str) -> String {
    let mut body = json!({"error": {"type": kind, "message": message}});
    if let Some(policy) = policy {
        body["error"]["policy"] = policy.into();
    }
    format!("{body}\n")
}
