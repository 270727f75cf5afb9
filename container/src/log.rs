//! Structured JSON log lines on stderr: one object per line, never a secret.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

/// Milliseconds since the Unix epoch (the one place the server reads the wall clock).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A monotonic instant, for durations.
pub fn monotonic() -> std::time::Instant {
    std::time::Instant::now()
}

type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Where log lines go: stderr in the binary, a buffer in tests.
#[derive(Clone)]
pub struct Logger {
    sink: Sink,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Logger")
    }
}

impl Logger {
    /// Writes each line to stderr.
    pub fn stderr() -> Self {
        Self {
            sink: Arc::new(|line| eprintln!("{line}")),
        }
    }

    /// Keeps lines in memory; returns the logger and the buffer.
    pub fn memory() -> (Self, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink_lines = Arc::clone(&lines);
        let sink: Sink = Arc::new(move |line| {
            if let Ok(mut l) = sink_lines.lock() {
                l.push(line.to_owned());
            }
        });
        (Self { sink }, lines)
    }

    /// Emits `{"ts_ms", "level", "event", ...fields}` as one line.
    pub fn log(&self, level: &str, event: &str, fields: Value) {
        let mut obj = Map::new();
        obj.insert("ts_ms".into(), now_ms().into());
        obj.insert("level".into(), level.into());
        obj.insert("event".into(), event.into());
        if let Value::Object(extra) = fields {
            obj.extend(extra);
        }
        (self.sink)(&Value::Object(obj).to_string());
    }

    /// An `info` line.
    pub fn info(&self, event: &str, fields: Value) {
        self.log("info", event, fields);
    }

    /// A `warn` line.
    pub fn warn(&self, event: &str, fields: Value) {
        self.log("warn", event, fields);
    }
}
