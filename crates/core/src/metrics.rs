//! Deployment-wide metrics: the catalogue of what is counted, the canonical
//! form of a sample's labels, histogram buckets, and the Prometheus text
//! exposition. The workers add to the counters; where the numbers are kept
//! is theirs to decide (one row per name and label set).

use std::fmt::Write as _;

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only goes up.
    Counter,
    /// A current value.
    Gauge,
    /// Observations in cumulative buckets, with `_sum` and `_count`.
    Histogram,
}

impl MetricKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// The name, prefixed `oma_`.
    pub name: &'static str,
    /// Its kind.
    pub kind: MetricKind,
    /// `# HELP` text.
    pub help: &'static str,
}

const fn metric(name: &'static str, kind: MetricKind, help: &'static str) -> Metric {
    Metric { name, kind, help }
}

/// HTTP requests answered, by worker, route, method and status.
pub const HTTP_REQUESTS: &str = "oma_http_requests_total";
/// HTTP request latency, by worker and route.
pub const HTTP_DURATION: &str = "oma_http_request_duration_seconds";
/// Requests refused for their credentials, by reason.
pub const AUTH_FAILURES: &str = "oma_auth_failures_total";
/// Requests refused by a quota, by scope.
pub const RATE_LIMITED: &str = "oma_rate_limit_rejections_total";
/// Sessions by status (from the sessions index).
pub const SESSIONS: &str = "oma_sessions";
/// Turns ended, by stop reason.
pub const TURNS: &str = "oma_turns_total";
/// Model requests, by outcome and error type.
pub const MODEL_REQUESTS: &str = "oma_model_requests_total";
/// Built-in tool calls, by tool and outcome.
pub const TOOL_CALLS: &str = "oma_tool_calls_total";
/// MCP tool calls, by server and outcome.
pub const MCP_CALLS: &str = "oma_mcp_calls_total";
/// `session.error` events, by type.
pub const SESSION_ERRORS: &str = "oma_session_errors_total";
/// Sandbox set-ups of a session (a container started or adopted).
pub const SANDBOX_STARTS: &str = "oma_sandbox_starts_total";
/// Outbound requests from sandboxes, by decision.
pub const EGRESS_REQUESTS: &str = "oma_egress_requests_total";
/// Archival passes, by trigger.
pub const ARCHIVAL_RUNS: &str = "oma_archival_runs_total";
/// Provider webhook deliveries, by provider and outcome.
pub const INTEGRATION_DELIVERIES: &str = "oma_integration_deliveries_total";
/// Replies posted back to providers, by provider and outcome.
pub const INTEGRATION_REPLIES: &str = "oma_integration_replies_total";

/// Every metric the platform exposes, in exposition order.
pub const CATALOGUE: [Metric; 15] = [
    metric(
        HTTP_REQUESTS,
        MetricKind::Counter,
        "HTTP requests answered, by worker, route, method and status.",
    ),
    metric(
        HTTP_DURATION,
        MetricKind::Histogram,
        "Time to answer an HTTP request, by worker and route.",
    ),
    metric(
        AUTH_FAILURES,
        MetricKind::Counter,
        "Requests refused for a missing, unknown, expired or revoked key, by reason.",
    ),
    metric(
        RATE_LIMITED,
        MetricKind::Counter,
        "Requests refused by a tenant quota, by scope.",
    ),
    metric(
        SESSIONS,
        MetricKind::Gauge,
        "Sessions by status, from the sessions index.",
    ),
    metric(TURNS, MetricKind::Counter, "Turns ended, by stop reason."),
    metric(
        MODEL_REQUESTS,
        MetricKind::Counter,
        "Model requests, by outcome (ok or error) and the error's type.",
    ),
    metric(
        TOOL_CALLS,
        MetricKind::Counter,
        "Built-in tool calls, by tool and outcome.",
    ),
    metric(
        MCP_CALLS,
        MetricKind::Counter,
        "MCP tool calls, by server and outcome.",
    ),
    metric(
        SESSION_ERRORS,
        MetricKind::Counter,
        "session.error events, by type.",
    ),
    metric(
        SANDBOX_STARTS,
        MetricKind::Counter,
        "Sandbox set-ups of a session.",
    ),
    metric(
        EGRESS_REQUESTS,
        MetricKind::Counter,
        "Outbound requests from sandboxes, by decision (allowed or denied).",
    ),
    metric(
        ARCHIVAL_RUNS,
        MetricKind::Counter,
        "Archival passes, by trigger.",
    ),
    metric(
        INTEGRATION_DELIVERIES,
        MetricKind::Counter,
        "Provider webhook deliveries, by provider and outcome (received, rejected, deduplicated, ignored).",
    ),
    metric(
        INTEGRATION_REPLIES,
        MetricKind::Counter,
        "Replies posted to providers, by provider and outcome (sent, retried, dead).",
    ),
];

/// The upper bounds (seconds) of the latency histogram's buckets.
pub const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One addition to a series: `name{labels} += value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Series name (a histogram's `_bucket`, `_sum` or `_count`).
    pub name: String,
    /// Canonical labels, as [`labels`] writes them.
    pub labels: String,
    /// The amount.
    pub value: f64,
}

/// Canonical label text: sorted by name, values escaped as the exposition
/// format requires (`\\`, `\"`, `\n`), `name="value"` joined by commas.
#[must_use]
pub fn labels(pairs: &[(&str, &str)]) -> String {
    let mut pairs = pairs.to_vec();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
        .iter()
        .map(|(name, value)| {
            let value = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{name}=\"{value}\"")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A counter increment.
#[must_use]
pub fn increment(name: &str, pairs: &[(&str, &str)]) -> Sample {
    Sample {
        name: name.to_owned(),
        labels: labels(pairs),
        value: 1.0,
    }
}

/// The samples one observation of `seconds` adds to histogram `name`:
/// every bucket it falls in (cumulative, `+Inf` included), `_sum` and `_count`.
#[must_use]
pub fn observe(name: &str, pairs: &[(&str, &str)], seconds: f64) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(DURATION_BUCKETS.len() + 3);
    let bucket = |le: &str| {
        let mut with_le = pairs.to_vec();
        with_le.push(("le", le));
        Sample {
            name: format!("{name}_bucket"),
            labels: labels(&with_le),
            value: 1.0,
        }
    };
    for bound in DURATION_BUCKETS {
        if seconds <= bound {
            samples.push(bucket(&bound.to_string()));
        }
    }
    samples.push(bucket("+Inf"));
    samples.push(Sample {
        name: format!("{name}_sum"),
        labels: labels(pairs),
        value: seconds,
    });
    samples.push(Sample {
        name: format!("{name}_count"),
        labels: labels(pairs),
        value: 1.0,
    });
    samples
}

/// The Prometheus text exposition (version 0.0.4) of `series` (name,
/// labels, value): each catalogue metric with `# HELP` and `# TYPE`, then
/// its series in name and label order. Series of unknown names are left out.
#[must_use]
pub fn render(series: &[(String, String, f64)]) -> String {
    let mut sorted: Vec<&(String, String, f64)> = series.iter().collect();
    sorted.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut out = String::new();
    for metric in CATALOGUE {
        let _ = writeln!(out, "# HELP {} {}", metric.name, metric.help);
        let _ = writeln!(out, "# TYPE {} {}", metric.name, metric.kind.as_str());
        let belongs = |name: &str| match metric.kind {
            MetricKind::Histogram => name
                .strip_prefix(metric.name)
                .is_some_and(|rest| matches!(rest, "_bucket" | "_sum" | "_count")),
            _ => name == metric.name,
        };
        for (name, labels, value) in sorted.iter().filter(|s| belongs(&s.0)) {
            let value = if value.fract() == 0.0 && value.abs() < 1e15 {
                format!("{}", *value as i64)
            } else {
                value.to_string()
            };
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
    }
    out
}

/// The route label of a request path: each segment that is an object id
/// (`prefix_` then at least 16 letters or digits) becomes `{id}`, so the
/// label names the route, not the object.
#[must_use]
pub fn route_label(path: &str) -> String {
    let is_id = |segment: &str| {
        segment.split_once('_').is_some_and(|(prefix, rest)| {
            !prefix.is_empty()
                && prefix.bytes().all(|b| b.is_ascii_lowercase())
                && rest.len() >= 16
                && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    };
    let label: Vec<&str> = path
        .split('/')
        .map(|segment| if is_id(segment) { "{id}" } else { segment })
        .collect();
    label.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_and_escaped() {
        assert_eq!(
            labels(&[("status", "200"), ("route", "/a\"b\\c\n")]),
            r#"route="/a\"b\\c\n",status="200""#
        );
        assert_eq!(labels(&[]), "");
    }

    #[test]
    fn an_observation_fills_its_buckets_sum_and_count() {
        let samples = observe(HTTP_DURATION, &[("route", "/v1/agents")], 0.03);
        let buckets: Vec<&str> = samples
            .iter()
            .filter(|s| s.name.ends_with("_bucket"))
            .map(|s| s.labels.as_str())
            .collect();
        assert_eq!(buckets.len(), 9, "0.05 and up, and +Inf: {buckets:?}");
        assert!(buckets[0].starts_with("le=\"0.05\""));
        assert!(buckets.last().unwrap().starts_with("le=\"+Inf\""));
        assert!(
            samples
                .iter()
                .any(|s| s.name.ends_with("_sum") && s.value == 0.03)
        );
    }

    #[test]
    fn the_exposition_has_help_type_and_known_series_only() {
        let series = vec![
            (
                TOOL_CALLS.to_owned(),
                labels(&[("tool", "bash"), ("outcome", "ok")]),
                2.0,
            ),
            ("oma_unknown".to_owned(), String::new(), 1.0),
            (
                format!("{HTTP_DURATION}_count"),
                labels(&[("route", "/x")]),
                3.0,
            ),
            (SANDBOX_STARTS.to_owned(), String::new(), 1.0),
        ];
        let text = render(&series);
        assert!(text.contains("# HELP oma_tool_calls_total "));
        assert!(text.contains("# TYPE oma_tool_calls_total counter\n"));
        assert!(text.contains("oma_tool_calls_total{outcome=\"ok\",tool=\"bash\"} 2\n"));
        assert!(text.contains("oma_http_request_duration_seconds_count{route=\"/x\"} 3\n"));
        assert!(text.contains("oma_sandbox_starts_total 1\n"));
        assert!(text.contains("# TYPE oma_http_request_duration_seconds histogram\n"));
        assert!(!text.contains("oma_unknown"));
        for metric in CATALOGUE {
            assert!(metric.name.starts_with("oma_"));
        }
    }

    #[test]
    fn ids_in_paths_become_placeholders() {
        assert_eq!(
            route_label("/v1/sessions/sesn_01M994M1E2HJ2Q5165BBBW6T25/events"),
            "/v1/sessions/{id}/events"
        );
        assert_eq!(route_label("/v1/agents"), "/v1/agents");
        assert_eq!(
            route_label("/v1/model_providers/x_short"),
            "/v1/model_providers/x_short"
        );
    }
}
