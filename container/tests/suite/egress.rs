//! Egress through the local proxy, against loopback upstreams only.

use serde_json::{Value, json};

use super::common::*;

const SECRET: &str = "sk-live-SUPERSECRET-42";

fn limited(hosts: &[&str]) -> Value {
    json!({"networking": {"type": "limited", "allowed_hosts": hosts, "allow_package_managers": false, "allow_mcp_servers": false}})
}

fn ok_reply(_: &str) -> String {
    "upstream-ok".into()
}

fn echo_reply(request: &str) -> String {
    request.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrestricted_sessions_reach_loopback_through_the_proxy() {
    let up = upstream(ok_reply).await;
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let out = ok_text(
        &sb.bash(
            "s1",
            &format!("curl -sS http://127.0.0.1:{}/hello", up.port),
        )
        .await,
    );
    assert_eq!(out, "upstream-ok");
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].starts_with("GET /hello HTTP/1.1\r\n"),
        "{}",
        seen[0]
    );
    assert!(!seen[0].to_ascii_lowercase().contains("proxy-authorization"));
    assert!(
        sb.logs()
            .iter()
            .any(|l| l.contains("\"event\":\"egress\"") && l.contains("\"decision\":\"allowed\""))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limited_policy_denies_unlisted_hosts_with_a_403_naming_the_policy() {
    let up = upstream(ok_reply).await;
    let sb = sandbox().await;
    sb.setup("s1", json!({"egress": limited(&["localhost"])}))
        .await;
    let r = sb
        .bash(
            "s1",
            &format!(
                "curl -sS -w '\\n%{{http_code}}' http://127.0.0.1:{}/x",
                up.port
            ),
        )
        .await;
    let out = ok_text(&r);
    assert!(out.ends_with("\n403"), "{out}");
    let body: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(body["error"]["type"], "egress_denied");
    assert_eq!(body["error"]["policy"], "limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("networking policy `limited`")
    );
    // HTTPS (CONNECT) is refused the same way.
    let r = sb
        .bash("s1", &format!("curl -sS -p http://127.0.0.1:{}/x", up.port))
        .await;
    assert!(err_text(&r).contains("403"), "{r:?}");
    assert!(up.requests().is_empty());
    assert!(
        sb.logs()
            .iter()
            .any(|l| l.contains("\"decision\":\"denied\"") && l.contains("\"policy\":\"limited\""))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limited_policy_allows_listed_hosts_for_plain_http_and_connect_tunnels() {
    let up = upstream(ok_reply).await;
    let sb = sandbox().await;
    // An allowed host is reachable on ports 80 and 443, or on the port its
    // entry names.
    let entry = format!("127.0.0.1:{}", up.port);
    sb.setup("s1", json!({"egress": limited(&[&entry])})).await;
    assert_eq!(
        ok_text(
            &sb.bash("s1", &format!("curl -sS http://127.0.0.1:{}/a", up.port))
                .await
        ),
        "upstream-ok"
    );
    // -p forces a CONNECT tunnel, the path HTTPS takes.
    assert_eq!(
        ok_text(
            &sb.bash("s1", &format!("curl -sS -p http://127.0.0.1:{}/b", up.port))
                .await
        ),
        "upstream-ok"
    );
    assert_eq!(up.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placeholders_are_replaced_only_for_the_credentials_hosts_and_locations() {
    let up = upstream(ok_reply).await;
    let sb = sandbox().await;
    let setup = sb
        .setup(
            "s1",
            json!({
                "secrets": [
                    {"name": "API_KEY", "value": SECRET, "networking": {"type": "limited", "allowed_hosts": ["127.0.0.1"]}},
                    {"name": "HDR_ONLY", "value": "hdr-secret-value", "injection_location": {"header": true}},
                    {"name": "ELSEWHERE", "value": "elsewhere-secret", "networking": {"type": "limited", "allowed_hosts": ["*.example.com"]}}
                ]
            }),
        )
        .await;
    let api_ph = setup["placeholders"]["API_KEY"]
        .as_str()
        .unwrap()
        .to_owned();
    let hdr_ph = setup["placeholders"]["HDR_ONLY"]
        .as_str()
        .unwrap()
        .to_owned();
    let else_ph = setup["placeholders"]["ELSEWHERE"]
        .as_str()
        .unwrap()
        .to_owned();
    let cmd = format!(
        "curl -sS -H \"Authorization: Bearer $API_KEY\" -H \"X-Other: $ELSEWHERE\" -H \"X-Hdr: $HDR_ONLY\" \
         --data \"key=$API_KEY&hdr=$HDR_ONLY\" http://127.0.0.1:{}/inject",
        up.port
    );
    assert_eq!(ok_text(&sb.bash("s1", &cmd).await), "upstream-ok");
    let seen = up.requests().pop().unwrap();
    assert!(
        seen.contains(&format!("authorization: Bearer {SECRET}"))
            || seen.contains(&format!("Authorization: Bearer {SECRET}")),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("key={SECRET}")),
        "body injection: {seen}"
    );
    assert!(seen.contains("X-Hdr: hdr-secret-value"), "{seen}");
    assert!(
        seen.contains(&format!("hdr={hdr_ph}")),
        "body location disabled, so sent literally: {seen}"
    );
    assert!(
        seen.contains(&format!("X-Other: {else_ph}")),
        "host not allowed for the credential: {seen}"
    );
    assert!(!seen.contains(&api_ph));
    assert!(!seen.to_ascii_lowercase().contains("expect:"));
    // Content-Length was recomputed for the substituted body.
    let body = seen.split("\r\n\r\n").nth(1).unwrap();
    assert!(
        seen.to_ascii_lowercase()
            .contains(&format!("content-length: {}", body.len())),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_tool_output_environment_or_logs() {
    let up = upstream(echo_reply).await;
    let sb = sandbox().await;
    let setup = sb
        .setup(
            "s1",
            json!({"secrets": [{"name": "API_KEY", "value": SECRET}]}),
        )
        .await;
    let ph = setup["placeholders"]["API_KEY"]
        .as_str()
        .unwrap()
        .to_owned();
    let env = ok_text(
        &sb.bash(
            "s1",
            "env; tr '\\0' '\\n' < /proc/self/environ; cat /proc/$$/environ | tr '\\0' '\\n'",
        )
        .await,
    );
    assert!(env.contains(&format!("API_KEY={ph}")), "{env}");
    assert!(!env.contains(SECRET));
    assert!(
        !env.contains(TOKEN),
        "the server's token must not leak into the sandbox"
    );
    // An upstream that echoes the injected request back cannot hand the secret over.
    let out = ok_text(
        &sb.bash(
            "s1",
            &format!(
                "curl -sS -H \"Authorization: Bearer $API_KEY\" http://127.0.0.1:{}/echo",
                up.port
            ),
        )
        .await,
    );
    assert!(
        up.requests()[0].contains(SECRET),
        "the upstream did get the secret"
    );
    assert!(!out.contains(SECRET), "{out}");
    assert!(out.contains(&"*".repeat(SECRET.len())), "{out}");
    // Written to a file and read back: still masked.
    ok_text(
        &sb.bash(
            "s1",
            &format!(
                "curl -sS -o echo.txt -H \"X-K: $API_KEY\" http://127.0.0.1:{}/",
                up.port
            ),
        )
        .await,
    );
    let file = sb
        .exec("s1", &next_id(), "read", json!({"file_path": "echo.txt"}))
        .await;
    assert!(!ok_text(&file).contains(SECRET));
    let logs = sb.logs().join("\n");
    assert!(logs.contains("\"tool_call\""));
    assert!(!logs.contains(SECRET), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_requires_the_sessions_credential() {
    let up = upstream(ok_reply).await;
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let proxy = sb.server.proxy_addr;
    let out = sb
        .bash(
            "s1",
            &format!(
                "curl -sS -w '%{{http_code}}' -o /dev/null -x http://{proxy} http://127.0.0.1:{}/",
                up.port
            ),
        )
        .await;
    assert_eq!(out.joined_text(), "407");
    let out = sb.bash("s1", &format!("curl -sS -w '%{{http_code}}' -o /dev/null -x http://oma:guess@{proxy} http://127.0.0.1:{}/", up.port)).await;
    assert_eq!(out.joined_text(), "407");
    assert!(up.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_host_is_refused_on_a_port_its_entry_does_not_name() {
    let up = upstream(ok_reply).await;
    let sb = sandbox().await;
    sb.setup("s1", json!({"egress": limited(&["127.0.0.1"])}))
        .await;
    let plain = sb
        .bash(
            "s1",
            &format!(
                "curl -sS -w '\\n%{{http_code}}' http://127.0.0.1:{}/",
                up.port
            ),
        )
        .await;
    let text = ok_text(&plain);
    assert!(text.ends_with("403"), "{text}");
    assert!(text.contains(&format!("port {}", up.port)), "{text}");
    // -p forces a CONNECT tunnel, the path HTTPS takes.
    let tunnel = sb
        .bash("s1", &format!("curl -sS -p http://127.0.0.1:{}/", up.port))
        .await;
    let text = err_text(&tunnel);
    assert!(
        text.contains("CONNECT tunnel failed, response 403"),
        "{text}"
    );
    assert!(up.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_decides_on_the_request_target_never_the_host_header() {
    let up = upstream(ok_reply).await;
    let sb = sandbox().await;
    let entry = format!("127.0.0.1:{}", up.port);
    sb.setup("s1", json!({"egress": limited(&[&entry])})).await;
    // A Host header naming an allowed host does not open another target.
    let out = sb
        .bash(
            "s1",
            &format!(
                "curl -sS -w '\\n%{{http_code}}' -H 'Host: 127.0.0.1:{}' http://localhost:{}/",
                up.port, up.port
            ),
        )
        .await;
    assert!(ok_text(&out).ends_with("403"), "{out:?}");
    assert!(up.requests().is_empty());
    // An allowed target is sent with its own authority as the Host.
    let out = sb
        .bash(
            "s1",
            &format!(
                "curl -sS -H 'Host: evil.example' http://127.0.0.1:{}/h",
                up.port
            ),
        )
        .await;
    assert_eq!(ok_text(&out), "upstream-ok");
    let seen = up.requests();
    let request = seen[0].to_ascii_lowercase();
    assert!(
        request.contains(&format!("\r\nhost: 127.0.0.1:{}\r\n", up.port)),
        "{request}"
    );
    assert!(!request.contains("evil.example"), "{request}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_returned_to_the_client_and_each_hop_is_checked_again() {
    let elsewhere = upstream(ok_reply).await;
    let target = format!("http://localhost:{}/stolen", elsewhere.port);
    let allowed = upstream_raw(move |_| {
        format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {target}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    })
    .await;
    let sb = sandbox().await;
    let entry = format!("127.0.0.1:{}", allowed.port);
    let setup = sb
        .setup(
            "s1",
            json!({
                "egress": limited(&[&entry]),
                "secrets": [{"name": "API_KEY", "value": SECRET, "networking": {"type": "limited", "allowed_hosts": ["127.0.0.1"]}}]
            }),
        )
        .await;
    let ph = setup["placeholders"]["API_KEY"]
        .as_str()
        .unwrap()
        .to_owned();
    // Without following, the client sees the 3xx itself.
    let out = sb
        .bash(
            "s1",
            &format!(
                "curl -sS -o /dev/null -w '%{{http_code}}' -H \"Authorization: Bearer $API_KEY\" -d \"k=$API_KEY\" http://127.0.0.1:{}/go",
                allowed.port
            ),
        )
        .await;
    assert_eq!(ok_text(&out), "307");
    // Following it, the next hop is a new request the policy refuses.
    let out = sb
        .bash(
            "s1",
            &format!(
                "curl -sS -L -w '\\n%{{http_code}}' -H \"Authorization: Bearer $API_KEY\" -d \"k=$API_KEY\" http://127.0.0.1:{}/go",
                allowed.port
            ),
        )
        .await;
    assert!(ok_text(&out).ends_with("403"), "{out:?}");
    assert!(elsewhere.requests().is_empty());
    assert_eq!(allowed.requests().len(), 2);
    assert!(allowed.requests().iter().all(|r| r.contains(SECRET)));
    assert!(!ph.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_session_gets_its_own_policy() {
    let up = upstream(ok_reply).await;
    let sb = sandbox().await;
    sb.setup("open", json!({})).await;
    sb.setup("closed", json!({"egress": limited(&[])})).await;
    let url = format!("http://127.0.0.1:{}/", up.port);
    assert_eq!(
        ok_text(&sb.bash("open", &format!("curl -sS {url}")).await),
        "upstream-ok"
    );
    let out = ok_text(
        &sb.bash(
            "closed",
            &format!("curl -sS -o /dev/null -w '%{{http_code}}' {url}"),
        )
        .await,
    );
    assert_eq!(out, "403");
    // Changing the policy applies to the next request.
    let entry = format!("127.0.0.1:{}", up.port);
    sb.setup("closed", json!({"egress": limited(&[&entry])}))
        .await;
    assert_eq!(
        ok_text(&sb.bash("closed", &format!("curl -sS {url}")).await),
        "upstream-ok"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_and_large_bodies_are_substituted_too() {
    let up = upstream(ok_reply).await;
    let sb = sandbox().await;
    let setup = sb
        .setup(
            "s1",
            json!({"secrets": [{"name": "API_KEY", "value": SECRET}]}),
        )
        .await;
    let ph = setup["placeholders"]["API_KEY"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("http://127.0.0.1:{}/", up.port);
    let chunked = format!(
        "printf 'key=%s' \"$API_KEY\" | curl -sS -H 'Transfer-Encoding: chunked' --data-binary @- {url}"
    );
    assert_eq!(ok_text(&sb.bash("s1", &chunked).await), "upstream-ok");
    // Over 1 KiB curl asks `Expect: 100-continue`; the proxy answers it itself.
    let large = format!(
        "{{ head -c 3000 /dev/zero | tr '\\0' x; printf '&key=%s' \"$API_KEY\"; }} | curl -sS --data-binary @- {url}"
    );
    assert_eq!(ok_text(&sb.bash("s1", &large).await), "upstream-ok");
    let seen = up.requests();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        let lower = request.to_ascii_lowercase();
        assert!(request.ends_with(&format!("key={SECRET}")), "{request}");
        assert!(!request.contains(&ph));
        assert!(
            !lower.contains("transfer-encoding") && !lower.contains("expect:"),
            "{request}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_forward_url_plain_http_goes_to_the_platform_with_its_target() {
    // The "platform" is a loopback server: the request must reach it, not
    // the (unreachable) target host, carrying the target and the token.
    let platform = upstream(ok_reply).await;
    let forward = format!("http://127.0.0.1:{}/internal/egress/", platform.port);
    let sb =
        sandbox_with(|c| c.egress_forward = Some(forward.trim_end_matches('/').to_owned())).await;
    sb.setup("s1", json!({})).await;
    let out = ok_text(
        &sb.bash(
            "s1",
            "curl -sS -H 'authorization: Bearer oma_ph_0123456789abcdef' -d 'q=1' http://api.example.invalid:8080/v1/x?y=2",
        )
        .await,
    );
    assert_eq!(out, "upstream-ok");
    let seen = platform.requests();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    let request = seen[0].to_ascii_lowercase();
    assert!(
        seen[0].starts_with("POST /internal/egress/s1 HTTP/1.1\r\n"),
        "{}",
        seen[0]
    );
    assert!(
        request.contains("\r\nx-oma-egress-url: http://api.example.invalid:8080/v1/x?y=2\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!(
            "\r\nx-oma-sandbox-token: {}\r\n",
            session_token("s1")
        )),
        "{request}"
    );
    assert!(
        request.contains(&format!("\r\nhost: 127.0.0.1:{}\r\n", platform.port)),
        "{request}"
    );
    // The placeholder travels as-is: the platform substitutes it.
    assert!(
        request.contains("authorization: bearer oma_ph_0123456789abcdef"),
        "{request}"
    );
    assert!(!request.contains("proxy-authorization"));
    assert!(request.ends_with("q=1"), "{request}");

    // A host the policy refuses is refused here, before the platform.
    sb.setup("s2", json!({"egress": limited(&["localhost"])}))
        .await;
    let refused = sb
        .bash(
            "s2",
            "curl -sS -w '\\n%{http_code}' http://api.example.invalid/x",
        )
        .await;
    assert!(ok_text(&refused).ends_with("403"), "{refused:?}");
    assert_eq!(platform.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_is_reported_to_the_platform_by_its_target_only() {
    let platform =
        upstream_raw(|_| "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_owned()).await;
    let forward = format!("http://127.0.0.1:{}/internal/egress", platform.port);
    let sb = sandbox_with(|c| {
        c.egress_forward = Some(forward.clone());
        c.egress_report_denials = true;
    })
    .await;
    sb.setup("s1", json!({"egress": limited(&["localhost"])}))
        .await;
    let refused = sb
        .bash(
            "s1",
            "curl -sS -w '\\n%{http_code}' -H 'authorization: Bearer oma_ph_0123456789abcdef' -d 'q=1' http://api.example.invalid:8080/x?y=2",
        )
        .await;
    assert!(ok_text(&refused).ends_with("403"), "{refused:?}");
    // The report goes in the background: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while platform.requests().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no report arrived");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let seen = platform.requests();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    let request = seen[0].to_ascii_lowercase();
    assert!(
        seen[0].starts_with("POST /internal/egress/s1 HTTP/1.1\r\n"),
        "{}",
        seen[0]
    );
    assert!(
        request.contains("\r\nx-oma-egress-report: denied\r\n"),
        "{request}"
    );
    assert!(
        request.contains("\r\nx-oma-egress-url: http://api.example.invalid:8080/x?y=2\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!(
            "\r\nx-oma-sandbox-token: {}\r\n",
            session_token("s1")
        )),
        "{request}"
    );
    // Nothing of the refused request itself travels.
    assert!(!request.contains("oma_ph_"), "{request}");
    assert!(!request.contains("q=1"), "{request}");
    assert!(request.contains("\r\ncontent-length: 0\r\n"), "{request}");
}
