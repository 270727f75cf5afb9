//! A pure Server-Sent Events decoder, robust to any chunk boundaries
//! (including inside a UTF-8 sequence or between `\r` and `\n`).

/// One dispatched SSE frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseFrame {
    /// The `event:` name, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` value, if any.
    pub id: Option<String>,
}

/// Incremental SSE decoder.
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    after_cr: bool,
    frame: SseFrame,
    has_fields: bool,
    has_data: bool,
}

impl SseDecoder {
    /// A decoder at the start of a stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns every frame they complete.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseFrame> {
        let mut frames = Vec::new();
        for &byte in chunk {
            if self.after_cr {
                self.after_cr = false;
                if byte == b'\n' {
                    continue;
                }
            }
            match byte {
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut frames);
                }
                b'\n' => self.end_line(&mut frames),
                _ => self.line.push(byte),
            }
        }
        frames
    }

    /// Ends the stream: a frame missing its final blank line is still dispatched.
    pub fn finish(&mut self) -> Option<SseFrame> {
        let mut frames = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut frames);
        }
        self.dispatch(&mut frames);
        frames.pop()
    }

    fn end_line(&mut self, frames: &mut Vec<SseFrame>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            self.dispatch(frames);
            return;
        }
        if line.first() == Some(&b':') {
            return;
        }
        let text = String::from_utf8_lossy(&line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "event" => self.frame.event = Some(value.to_owned()),
            "data" => {
                if self.has_data {
                    self.frame.data.push('\n');
                }
                self.frame.data.push_str(value);
                self.has_data = true;
            }
            "id" => self.frame.id = Some(value.to_owned()),
            _ => return,
        }
        self.has_fields = true;
    }

    fn dispatch(&mut self, frames: &mut Vec<SseFrame>) {
        if self.has_fields {
            frames.push(std::mem::take(&mut self.frame));
        }
        self.frame = SseFrame::default();
        self.has_fields = false;
        self.has_data = false;
    }
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
