//! Just enough HTTP/1.1 for a filtering forward proxy: read a request head,
//! read its body (Content-Length or chunked), write simple responses.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request head accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest request body the proxy buffers (bodies are buffered to substitute placeholders).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A parsed request head.
#[derive(Debug)]
pub struct Head {
    /// Method, e.g. `GET` or `CONNECT`.
    pub method: String,
    /// Request target: absolute URI, or `host:port` for CONNECT.
    pub target: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// The first header value with this (case-insensitive) name, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// A malformed or oversized request.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The peer closed or failed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The request cannot be parsed.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The head or body is too large.
    #[error("request too large")]
    TooLarge,
}

/// Reads a request head; returns it and any bytes read past it.
pub async fn read_head<R: AsyncRead + Unpin>(r: &mut R) -> Result<(Head, Vec<u8>), HttpError> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            return Err(HttpError::Malformed(
                "connection closed before the request head".into(),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let head = Head {
                    method: req.method.unwrap_or_default().to_owned(),
                    target: req.path.unwrap_or_default().to_owned(),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| (h.name.to_owned(), h.value.to_vec()))
                        .collect(),
                };
                return Ok((head, buf[len..].to_vec()));
            }
            Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD_BYTES => {}
            Ok(httparse::Status::Partial) => return Err(HttpError::TooLarge),
            Err(e) => return Err(HttpError::Malformed(e.to_string())),
        }
    }
}

/// Reads the body announced by `head`, starting with the already-read `pre` bytes.
pub async fn read_body<R: AsyncRead + Unpin>(
    r: &mut R,
    head: &Head,
    pre: Vec<u8>,
) -> Result<Vec<u8>, HttpError> {
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return read_chunked(r, pre).await;
    }
    let len: usize = match head.header("content-length") {
        None => return Ok(Vec::new()),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| HttpError::Malformed("bad content-length".into()))?,
    };
    if len > MAX_BODY_BYTES {
        return Err(HttpError::TooLarge);
    }
    let mut body = pre;
    body.truncate(len);
    let mut rest = vec![0u8; len - body.len()];
    r.read_exact(&mut rest).await?;
    body.extend_from_slice(&rest);
    Ok(body)
}

async fn read_chunked<R: AsyncRead + Unpin>(r: &mut R, pre: Vec<u8>) -> Result<Vec<u8>, HttpError> {
    let mut raw = pre;
    let mut body = Vec::new();
    let mut pos = 0;
    let mut chunk = [0u8; 8192];
    loop {
        // Need a full size line.
        let Some(eol) = find_crlf(&raw[pos..]) else {
            fill(r, &mut raw, &mut chunk).await?;
            continue;
        };
        let line = String::from_utf8_lossy(&raw[pos..pos + eol]).into_owned();
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Malformed("bad chunk size".into()))?;
        if body.len() + size > MAX_BODY_BYTES {
            return Err(HttpError::TooLarge);
        }
        let data_start = pos + eol + 2;
        if size == 0 {
            // Skip trailers up to the blank line.
            loop {
                let rest = &raw[data_start..];
                if rest.starts_with(b"\r\n") || find_blank(rest) {
                    return Ok(body);
                }
                fill(r, &mut raw, &mut chunk).await?;
            }
        }
        while raw.len() < data_start + size + 2 {
            fill(r, &mut raw, &mut chunk).await?;
        }
        body.extend_from_slice(&raw[data_start..data_start + size]);
        pos = data_start + size + 2;
    }
}

async fn fill<R: AsyncRead + Unpin>(
    r: &mut R,
    raw: &mut Vec<u8>,
    chunk: &mut [u8],
) -> Result<(), HttpError> {
    let n = r.read(chunk).await?;
    if n == 0 {
        return Err(HttpError::Malformed(
            "connection closed inside a chunked body".into(),
        ));
    }
    if raw.len() + n > MAX_BODY_BYTES + MAX_HEAD_BYTES {
        return Err(HttpError::TooLarge);
    }
    raw.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

fn find_blank(b: &[u8]) -> bool {
    b.windows(4).any(|w| w == b"\r\n\r\n")
}

/// Writes a complete response with a plain body and closes the exchange.
pub async fn respond<W: AsyncWrite + Unpin>(
    w: &mut W,
    status: u16,
    reason: &str,
    extra_headers: &[(&str, &str)],
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes()).await?;
    w.write_all(body.as_bytes()).await?;
    w.flush().await
}
