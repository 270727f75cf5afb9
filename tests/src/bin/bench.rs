//! `cargo xtask bench`: the platform's own overhead, measured on the real
//! local platform with a zero-latency mock model, beside the machine's floor
//! (a bare worker round trip through the same wrangler process).
//!
//! Writes `target/bench/report.json` and `target/bench/report.md`, and prints
//! the table.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context;
use anyhow::Result;
use anyhow::bail;
use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use serde_json::Value;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

/// Milliseconds, sorted, summarised.
#[derive(Debug, Default)]
struct Samples(Vec<f64>);

impl Samples {
    fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1000.0);
    }

    fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = (q * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)]
    }

    fn summary(&self) -> Value {
        json!({"p50": round(self.quantile(0.5)), "p99": round(self.quantile(0.99)), "n": self.0.len()})
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The model: a tool call when asked for one (`tool:` prompts) and the tool
/// result is not in yet, otherwise a short text; answered at once.
fn responder(body: &Value) -> Reply {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let text = body.to_string();
    let answered_tool = last["content"]
        .as_array()
        .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result"));
    if text.contains("tool: run true") && !answered_tool {
        Reply::tool_use("toolu_bench", "bash", json!({"command": "true"}))
    } else {
        Reply::text("ok")
    }
}

fn agent() -> Value {
    json!({"name": "bench", "model": "claude-bench", "tools": [{"type": "agent_toolset_20260401"}]})
}

async fn turn(
    api: &Api,
    id: &str,
    prompt: &str,
    stream: &mut openma_e2e::EventStream,
) -> Result<Duration> {
    let started = Instant::now();
    api.send_message(id, prompt).await?;
    stream.until("session.status_idle", WAIT).await?;
    Ok(started.elapsed())
}

/// Where a turn's time goes: the median offset, from the POST, of the
/// POST's answer and of each streamed event.
async fn breakdown(api: &Api, prompt: &str, n: usize) -> Result<Vec<(String, f64)>> {
    let session = api.session_with_agent(agent()).await?;
    let id = session["id"].as_str().context("session id")?.to_owned();
    let mut stream = api.stream(&id, None, "").await?;
    turn(api, &id, prompt, &mut stream).await?;
    let mut offsets: BTreeMap<String, Samples> = BTreeMap::new();
    for _ in 0..n {
        let started = Instant::now();
        api.send_message(&id, prompt).await?;
        offsets
            .entry("0 POST answered".into())
            .or_default()
            .push(started.elapsed());
        for (i, frame) in stream
            .until("session.status_idle", WAIT)
            .await?
            .iter()
            .enumerate()
        {
            offsets
                .entry(format!("{} {}", i + 1, frame.event))
                .or_default()
                .push(frame.received.duration_since(started));
        }
    }
    Ok(offsets
        .iter()
        .map(|(k, v)| (k.clone(), round(v.quantile(0.5))))
        .collect())
}

async fn floor(platform: &Platform, n: usize) -> Result<(Samples, Samples)> {
    let client = reqwest::Client::new();
    let mut live = Samples::default();
    let mut deep = Samples::default();
    for _ in 0..n {
        let started = Instant::now();
        let resp = client.get(platform.url("/health/live")).send().await?;
        resp.bytes().await?;
        live.push(started.elapsed());
    }
    for _ in 0..n / 4 {
        let started = Instant::now();
        let resp = client.get(platform.url("/health")).send().await?;
        if resp.status() != 200 {
            bail!("/health is not green");
        }
        resp.bytes().await?;
        deep.push(started.elapsed());
    }
    Ok((live, deep))
}

/// The mock model's own latency: a streamed reply fetched directly.
async fn model_floor(mock: &MockModel, n: usize) -> Result<Samples> {
    let client = reqwest::Client::new();
    let mut samples = Samples::default();
    let body = json!({"model": "m", "max_tokens": 16, "stream": true,
                      "messages": [{"role": "user", "content": "hello"}]});
    for _ in 0..n {
        let started = Instant::now();
        let resp = client
            .post(format!("{}/v1/messages", mock.base_url()))
            .header("x-api-key", "k")
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
            .await?;
        resp.bytes().await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

async fn turns(api: &Api, prompt: &str, n: usize) -> Result<Samples> {
    let session = api.session_with_agent(agent()).await?;
    let id = session["id"].as_str().context("session id")?.to_owned();
    let mut stream = api.stream(&id, None, "").await?;
    // Warm the session's object and sandbox first.
    for _ in 0..3 {
        turn(api, &id, prompt, &mut stream).await?;
    }
    let mut samples = Samples::default();
    for _ in 0..n {
        samples.push(turn(api, &id, prompt, &mut stream).await?);
    }
    Ok(samples)
}

async fn throughput(api: &Api, concurrency: usize, window: Duration) -> Result<f64> {
    let mut sessions = Vec::new();
    for _ in 0..concurrency {
        let session = api.session_with_agent(agent()).await?;
        let id = session["id"].as_str().context("session id")?.to_owned();
        let mut stream = api.stream(&id, None, "").await?;
        turn(api, &id, "warm up", &mut stream).await?;
        sessions.push((id, stream));
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (id, mut stream) in sessions {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while started.elapsed() < window {
                turn(&api, &id, "go", &mut stream).await?;
                done += 1;
            }
            Ok::<u64, anyhow::Error>(done)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

async fn fanout(api: &Api, subscribers: usize) -> Result<Samples> {
    let session = api.session_with_agent(agent()).await?;
    let id = session["id"].as_str().context("session id")?.to_owned();
    let mut streams = Vec::new();
    for _ in 0..subscribers {
        streams.push(api.stream(&id, None, "").await?);
    }
    // Each event's lag: when a subscriber got it, minus when the first
    // subscriber got it (the fan-out spread), per subscriber and event.
    let mut lags = Samples::default();
    for _ in 0..5 {
        let sent = Instant::now();
        api.send_message(&id, "fan out").await?;
        let mut arrivals: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
        for stream in &mut streams {
            for frame in stream.until("session.status_idle", WAIT).await? {
                let key = frame.data["id"].as_str().unwrap_or_default().to_owned();
                arrivals
                    .entry(key)
                    .or_default()
                    .push(frame.received.duration_since(sent));
            }
        }
        for times in arrivals.values() {
            let first = times.iter().min().copied().unwrap_or_default();
            for t in times {
                lags.push(t.saturating_sub(first));
            }
        }
    }
    Ok(lags)
}

async fn create_sessions(api: &Api, n: usize) -> Result<Samples> {
    let env = api
        .ok(
            reqwest::Method::POST,
            "/v1/environments",
            Some(json!({"name": "bench-create"})),
        )
        .await?;
    let agent = api
        .ok(reqwest::Method::POST, "/v1/agents", Some(agent()))
        .await?;
    let mut samples = Samples::default();
    for _ in 0..n {
        let started = Instant::now();
        api.ok(
            reqwest::Method::POST,
            "/v1/sessions",
            Some(json!({"agent": agent["id"], "environment_id": env["id"]})),
        )
        .await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

async fn events_page(api: &Api, n: usize) -> Result<(Samples, usize)> {
    let session = api.session_with_agent(agent()).await?;
    let id = session["id"].as_str().context("session id")?.to_owned();
    let mut stream = api.stream(&id, None, "").await?;
    let mut count = 0;
    while count < 1000 {
        turn(api, &id, "fill", &mut stream).await?;
        count += 6;
    }
    let mut samples = Samples::default();
    let mut size = 0;
    for _ in 0..n {
        let started = Instant::now();
        let page = api
            .ok(
                reqwest::Method::GET,
                &format!("/v1/sessions/{id}/events?limit=1000"),
                None,
            )
            .await?;
        samples.push(started.elapsed());
        size = page["data"].as_array().map_or(0, Vec::len);
    }
    Ok((samples, size))
}

/// The sessions the scale figures use: created by one agent in one
/// environment, `n` of them, each after one text turn (run `concurrency` at
/// a time), all at rest.
async fn many_idle_sessions(api: &Api, n: usize, concurrency: usize) -> Result<Vec<String>> {
    let env = api
        .ok(
            reqwest::Method::POST,
            "/v1/environments",
            Some(json!({"name": "bench-scale"})),
        )
        .await?;
    let agent = api
        .ok(reqwest::Method::POST, "/v1/agents", Some(agent()))
        .await?;
    let body = json!({"agent": agent["id"], "environment_id": env["id"]});
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(concurrency) {
        let made = futures_util::future::try_join_all(chunk.iter().map(|_| async {
            let session = api
                .ok(reqwest::Method::POST, "/v1/sessions", Some(body.clone()))
                .await?;
            let id = session["id"].as_str().context("session id")?.to_owned();
            let mut stream = api.stream(&id, None, "").await?;
            turn(api, &id, "hello", &mut stream).await?;
            Ok::<_, anyhow::Error>(id)
        }))
        .await?;
        ids.extend(made);
    }
    Ok(ids)
}

/// `GET /v1/sessions?limit=100`, `n` times.
async fn sessions_list(api: &Api, n: usize) -> Result<Samples> {
    let mut samples = Samples::default();
    for _ in 0..n {
        let started = Instant::now();
        let page = api
            .ok(reqwest::Method::GET, "/v1/sessions?limit=100", None)
            .await?;
        samples.push(started.elapsed());
        let listed = page["data"].as_array().map_or(0, Vec::len);
        if listed != 100 {
            bail!("the list held {listed} sessions, not 100");
        }
    }
    Ok(samples)
}

/// A session whose log holds at least `events` events: `user.message`s
/// sent a thousand to a request, each batch answered by one turn.
async fn long_session(api: &Api, events: usize) -> Result<String> {
    let session = api.session_with_agent(agent()).await?;
    let id = session["id"].as_str().context("session id")?.to_owned();
    let mut stream = api.stream(&id, None, "").await?;
    let batch: Vec<Value> = (0..1000)
        .map(|i| json!({"type": "user.message", "content": [{"type": "text", "text": format!("note {i}")}]}))
        .collect();
    let mut written = 0;
    while written < events {
        api.send(&id, Value::Array(batch.clone())).await?;
        stream.until("session.status_idle", WAIT).await?;
        // The batch, and the turn's running, model span, reply and idle.
        written += batch.len() + 5;
    }
    Ok(id)
}

/// `GET .../events?limit=100` starting `depth` events into the log, `n`
/// times.
async fn events_page_deep(api: &Api, id: &str, depth: usize, n: usize) -> Result<Samples> {
    let mut path = format!("/v1/sessions/{id}/events?limit=1000");
    let mut cursor = String::new();
    for _ in 0..depth / 1000 {
        let page = api.ok(reqwest::Method::GET, &path, None).await?;
        cursor = page["next_page"]
            .as_str()
            .context("the log ended before the depth asked")?
            .to_owned();
        path = format!("/v1/sessions/{id}/events?limit=1000&page={cursor}");
    }
    let mut samples = Samples::default();
    for _ in 0..n {
        let started = Instant::now();
        let page = api
            .ok(
                reqwest::Method::GET,
                &format!("/v1/sessions/{id}/events?limit=100&page={cursor}"),
                None,
            )
            .await?;
        samples.push(started.elapsed());
        if page["data"].as_array().map_or(0, Vec::len) != 100 {
            bail!("a deep page held fewer than 100 events");
        }
    }
    Ok(samples)
}

/// `GET /v1/sessions/{id}` of each session, the first request to each
/// since the platform started.
async fn cold_opens(api: &Api, ids: &[String]) -> Result<Samples> {
    let mut samples = Samples::default();
    for id in ids {
        let started = Instant::now();
        api.ok(reqwest::Method::GET, &format!("/v1/sessions/{id}"), None)
            .await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

fn megabytes(bytes: u64) -> f64 {
    round(bytes as f64 / (1024.0 * 1024.0))
}

fn wasm_sizes(root: &std::path::Path) -> Result<BTreeMap<String, (u64, u64)>> {
    let mut sizes = BTreeMap::new();
    for worker in ["main", "agent", "integrations"] {
        let path = root.join(format!("crates/worker-{worker}/build/index_bg.wasm"));
        let raw = std::fs::metadata(&path)
            .with_context(|| format!("{} (run cargo xtask build)", path.display()))?
            .len();
        let gzip = std::process::Command::new("gzip")
            .args(["-9", "-c"])
            .arg(&path)
            .output()
            .context("gzip")?
            .stdout
            .len() as u64;
        sizes.insert(worker.to_owned(), (raw, gzip));
    }
    Ok(sizes)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let mock = MockModel::start()?;
    mock.respond_with(responder);
    // The workers' info lines each cross wrangler's inspector to its node
    // process, a cost of local development only (on Cloudflare they go to
    // Workers Logs outside the request), so the platform runs with warnings
    // and errors only unless `OMA_LOG_LEVEL` says otherwise.
    let log_level = std::env::var("OMA_LOG_LEVEL")
        .ok()
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "warn".to_owned());
    // The cold-open figures restart the platform on the same state.
    let state = tempfile::Builder::new().prefix("openma-bench-").tempdir()?;
    let start = |keys: Option<(&str, &str)>| {
        let mut builder = Platform::builder()
            .env("ANTHROPIC_BASE_URL", &mock.base_url())
            .env("OMA_LOG_LEVEL", &log_level)
            .state_dir(state.path());
        if let Some((api_key, root_secret)) = keys {
            builder = builder.keys(api_key, root_secret);
        }
        builder.start()
    };
    let mut platform = start(None)?;
    let outcome = run(&mock, &mut platform, &log_level, &|k, r| {
        start(Some((k, r)))
    })
    .await;
    if outcome.is_err() {
        let output = platform.output();
        let tail: Vec<&str> = output.lines().rev().take(60).collect();
        eprintln!("--- platform output (last lines) ---");
        for line in tail.iter().rev() {
            eprintln!("{line}");
        }
    }
    outcome
}

async fn run(
    mock: &MockModel,
    platform: &mut Platform,
    log_level: &str,
    restart: &dyn Fn(&str, &str) -> Result<Platform>,
) -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let api = Api::new(platform);
    eprintln!("bench: platform ready at {}", platform.base_url());

    let (floor_live, floor_deep) = floor(platform, 400).await?;
    eprintln!("bench: floor {:?}", floor_live.summary());
    let model = model_floor(mock, 200).await?;
    eprintln!("bench: mock model direct {:?}", model.summary());
    let steps = breakdown(&api, "hello", 50).await?;
    eprintln!("bench: text turn breakdown (median ms from the POST): {steps:?}");
    let tool_steps = breakdown(&api, "tool: run true", 50).await?;
    eprintln!("bench: tool turn breakdown (median ms from the POST): {tool_steps:?}");
    let text = turns(&api, "hello", 200).await?;
    eprintln!("bench: text turn {:?}", text.summary());
    let tool = turns(&api, "tool: run true", 100).await?;
    eprintln!("bench: tool turn {:?}", tool.summary());
    let quick = std::env::var_os("OMA_BENCH_QUICK").is_some();
    let mut per_second = BTreeMap::new();
    for c in if quick { vec![10] } else { vec![1, 10, 50] } {
        let rate = throughput(&api, c, Duration::from_secs(5)).await?;
        eprintln!("bench: {c} sessions: {rate:.1} turns/s");
        per_second.insert(format!("c{c}"), round(rate));
    }
    if quick {
        return Ok(());
    }
    let lags = fanout(&api, 100).await?;
    eprintln!("bench: fan-out lag {:?}", lags.summary());
    let create = create_sessions(&api, 100).await?;
    let (page, page_size) = events_page(&api, 30).await?;

    // Scale: many sessions at rest, and long logs.
    let rss_before = platform.workerd_resident_bytes()?;
    let idle = many_idle_sessions(&api, 1000, 10).await?;
    let rss_busy = platform.workerd_resident_bytes()?;
    // Idle objects hold no alarm; give the runtime time to evict them.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let rss_idle = platform.workerd_resident_bytes()?;
    eprintln!(
        "bench: workerd resident set {} MB before, {} MB after {} sessions' turns, {} MB 30 s later",
        megabytes(rss_before),
        megabytes(rss_busy),
        idle.len(),
        megabytes(rss_idle)
    );
    let list = sessions_list(&api, 50).await?;
    eprintln!(
        "bench: session list, 100 of {}: {:?}",
        idle.len(),
        list.summary()
    );
    let mut long = Vec::new();
    for _ in 0..10 {
        long.push(long_session(&api, 10_000).await?);
    }
    let deep = events_page_deep(&api, &long[0], 5_000, 50).await?;
    eprintln!("bench: 100 events, 5,000 deep: {:?}", deep.summary());
    let (api_key, root_secret) = (
        platform.api_key().to_owned(),
        platform.root_secret().to_owned(),
    );
    platform.stop();
    *platform = restart(&api_key, &root_secret)?;
    let api = Api::new(platform);
    // The workers themselves are loaded before the first session is opened.
    api.ok(reqwest::Method::GET, "/v1/sessions?limit=1", None)
        .await?;
    let cold = cold_opens(&api, &long).await?;
    eprintln!("bench: cold open, 10,000 events: {:?}", cold.summary());
    let sizes = wasm_sizes(&root)?;

    let floor_p50 = floor_live.quantile(0.5);
    let times_floor = |s: &Samples| round(s.quantile(0.5) / floor_p50);
    let report = json!({
        "floor_ms": floor_live.summary(),
        "health_deep_ms": floor_deep.summary(),
        "mock_model_direct_ms": model.summary(),
        "text_turn_ms": text.summary(),
        "tool_turn_ms": tool.summary(),
        "turns_per_s": per_second,
        "fanout_lag_ms": lags.summary(),
        "create_session_ms": create.summary(),
        "events_page_1000_ms": page.summary(),
        "events_page_size": page_size,
        "cold_open_ms": cold.summary(),
        "events_page_deep_ms": deep.summary(),
        "sessions_list_ms": list.summary(),
        "idle_rss_mb": megabytes(rss_idle),
        "idle_rss_detail_mb": {
            "before": megabytes(rss_before),
            "after_turns": megabytes(rss_busy),
            "idle_30s": megabytes(rss_idle),
            "sessions": idle.len(),
        },
        "times_floor_p50": {
            "text_turn": times_floor(&text),
            "tool_turn": times_floor(&tool),
            "create_session": times_floor(&create),
            "events_page_1000": times_floor(&page),
            "cold_open": times_floor(&cold),
            "events_page_deep": times_floor(&deep),
            "sessions_list": times_floor(&list),
        },
        "wasm_raw_bytes": sizes.iter().map(|(k, v)| (k.clone(), v.0)).collect::<BTreeMap<_, _>>(),
        "wasm_gzip_bytes": sizes.iter().map(|(k, v)| (k.clone(), v.1)).collect::<BTreeMap<_, _>>(),
        "model_requests": mock.served(),
        "text_turn_breakdown_ms": steps.iter().cloned().collect::<BTreeMap<_, _>>(),
        "tool_turn_breakdown_ms": tool_steps.iter().cloned().collect::<BTreeMap<_, _>>(),
        "machine": {"cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)},
        "log_level": log_level,
    });

    let mut table = format!(
        "Workers' log level: {log_level}.\n\n| measure | p50 | p99 | × floor (p50) |\n|---|---|---|---|\n"
    );
    let row = |table: &mut String, name: &str, s: &Samples| {
        table.push_str(&format!(
            "| {name} | {:.2} ms | {:.2} ms | {:.1} |\n",
            s.quantile(0.5),
            s.quantile(0.99),
            s.quantile(0.5) / floor_p50
        ));
    };
    row(&mut table, "floor: GET /health/live", &floor_live);
    row(&mut table, "GET /health (every backend)", &floor_deep);
    row(&mut table, "mock model, fetched directly", &model);
    row(&mut table, "text turn", &text);
    row(&mut table, "tool turn (bash true)", &tool);
    row(&mut table, "fan-out lag, 100 subscribers", &lags);
    row(&mut table, "create session", &create);
    row(
        &mut table,
        &format!("GET events, {page_size} per page"),
        &page,
    );
    row(&mut table, "cold open, 10,000-event log", &cold);
    row(&mut table, "GET events, 100 at 5,000 deep", &deep);
    row(&mut table, "GET /v1/sessions, 100 of 1,000+", &list);
    table.push_str(&format!(
        "| workerd resident set, 1,000 idle sessions | {} MB | (before: {} MB) | |\n",
        megabytes(rss_idle),
        megabytes(rss_before)
    ));
    for (c, rate) in &per_second {
        table.push_str(&format!(
            "| turns/s, {} sessions | {rate:.1} | | |\n",
            &c[1..]
        ));
    }
    for (worker, (raw, gzip)) in &sizes {
        table.push_str(&format!(
            "| wasm {worker} | {raw} B raw | {gzip} B gzip | |\n"
        ));
    }
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(dir.join("report.md"), &table)?;
    println!("{table}");
    Ok(())
}
