//! Files over raw HTTP: multipart upload, metadata, listing (pages, `ids[]`,
//! `scope_id`), exact-byte downloads of text and binary files, expiry
//! settings, the size limit (413), deletes and tenant isolation.

use openma_e2e::Api;
use openma_e2e::MULTIPART_BOUNDARY as BOUNDARY;
use openma_e2e::Platform;
use openma_e2e::multipart;
use reqwest::Method;
use serde_json::Value;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;

struct Client {
    api: Api,
}

impl Client {
    fn new(platform: &Platform, key: &str) -> Self {
        Self {
            api: Api::with_key(platform, key),
        }
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        self.api
            .raw(method, path, content_type, body)
            .await
            .unwrap()
    }

    async fn call(&self, method: Method, path: &str) -> (u16, Value) {
        let (status, _, body) = self.raw(method, path, None, None).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: Method, path: &str) -> Value {
        let (status, body) = self.call(method.clone(), path).await;
        assert_eq!(status, 200, "{method} {path}: {body:#}");
        body
    }

    async fn upload(&self, body: Vec<u8>) -> (u16, Value) {
        let (status, _, body) = self
            .raw(
                Method::POST,
                "/v1/files",
                Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
                Some(body),
            )
            .await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

fn assert_error(status: u16, body: &Value, expected: u16, kind: &str) {
    assert_eq!(status, expected, "{body:#}");
    assert_eq!(body["type"], "error", "{body:#}");
    assert_eq!(body["error"]["type"], kind, "{body:#}");
    assert!(body["request_id"].as_str().unwrap().starts_with("req_"));
}

#[tokio::test(flavor = "multi_thread")]
async fn files_upload_list_download_and_delete_exact_bytes() {
    let platform = Platform::start().unwrap();
    let api = Client::new(&platform, platform.api_key());

    // A text file and a binary one (every byte value, CR/LF and the
    // boundary-like dashes included).
    let text = "hello, files\nline two\r\n".as_bytes().to_vec();
    let (status, txt) = api
        .upload(multipart("notes/hello.txt", "text/plain", &text, &[]))
        .await;
    assert_eq!(status, 200, "{txt:#}");
    assert!(txt["id"].as_str().unwrap().starts_with("file_"));
    assert_eq!(txt["type"], "file");
    assert_eq!(txt["filename"], "hello.txt");
    assert_eq!(txt["mime_type"], "text/plain");
    assert_eq!(txt["size_bytes"], text.len());
    assert_eq!(txt["downloadable"], true);
    assert_eq!(txt["expires_at"], Value::Null);

    let mut binary: Vec<u8> = (0..=255u8).collect();
    binary.extend_from_slice(b"\r\n--openma-e2e-boundary\r\n\0\0\xff\xfe");
    binary.extend((0..70_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let (status, bin) = api
        .upload(multipart(
            "../tmp/data/blob.bin",
            "application/octet-stream",
            &binary,
            &[("expires_in_seconds", "3600")],
        ))
        .await;
    assert_eq!(status, 200, "{bin:#}");
    assert_eq!(bin["filename"], "blob.bin");
    assert_eq!(bin["size_bytes"], binary.len());
    assert!(bin["expires_at"].is_string());
    let (tid, bid) = (
        txt["id"].as_str().unwrap().to_owned(),
        bin["id"].as_str().unwrap().to_owned(),
    );

    // Metadata and downloads.
    assert_eq!(api.ok(Method::GET, &format!("/v1/files/{tid}")).await, txt);
    let (status, headers, bytes) = api
        .raw(Method::GET, &format!("/v1/files/{bid}/content"), None, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert!(bytes == binary, "binary round trip differs");
    let (status, headers, bytes) = api
        .raw(Method::GET, &format!("/v1/files/{tid}/content"), None, None)
        .await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(bytes, text);

    // Listing: newest first, pages, ids[], scope_id.
    let list = api.ok(Method::GET, "/v1/files").await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [bid.as_str(), tid.as_str()]);
    assert_eq!(list["next_page"], Value::Null);
    let first = api.ok(Method::GET, "/v1/files?limit=1").await;
    assert_eq!(first["data"][0]["id"], bid.as_str());
    let cursor = first["next_page"].as_str().unwrap();
    let second = api
        .ok(Method::GET, &format!("/v1/files?limit=1&page={cursor}"))
        .await;
    assert_eq!(second["data"][0]["id"], tid.as_str());
    assert_eq!(second["next_page"], Value::Null);
    let by_id = api
        .ok(
            Method::GET,
            &format!("/v1/files?ids%5B%5D={tid}&ids%5B%5D=file_unknown"),
        )
        .await;
    assert_eq!(by_id["data"].as_array().unwrap().len(), 1);
    assert_eq!(by_id["data"][0]["id"], tid.as_str());
    let scoped = api.ok(Method::GET, "/v1/files?scope_id=sesn_none").await;
    assert_eq!(scoped["data"], json!([]));
    for bad in [
        "/v1/files?limit=0".to_owned(),
        "/v1/files?limit=1001".to_owned(),
        "/v1/files?page=garbage".to_owned(),
        format!("/v1/files?ids%5B%5D={tid}&limit=5"),
        format!(
            "/v1/files?{}",
            (0..101)
                .map(|i| format!("ids%5B%5D=file_{i}"))
                .collect::<Vec<_>>()
                .join("&")
        ),
    ] {
        let (status, body) = api.call(Method::GET, &bad).await;
        assert_error(status, &body, 400, "invalid_request_error");
    }
    api.ok(Method::GET, "/v1/files?limit=1000").await;

    // Upload errors.
    for fields in [
        [("expires_in_seconds", "60")],
        [("expires_in_seconds", "7776001")],
        [("expires_in_seconds", "soon")],
    ] {
        let (status, body) = api
            .upload(multipart("a.txt", "text/plain", b"x", &fields))
            .await;
        assert_error(status, &body, 400, "invalid_request_error");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("expires_in_seconds:")
        );
    }
    let no_file = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--{BOUNDARY}--\r\n"
    );
    let (status, body) = api.upload(no_file.into_bytes()).await;
    assert_error(status, &body, 400, "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("file:")
    );
    let (status, _, body) = api
        .raw(
            Method::POST,
            "/v1/files",
            Some("application/json"),
            Some(b"{}".to_vec()),
        )
        .await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_error(status, &body, 400, "invalid_request_error");

    // Over the size limit: 413 in the error envelope, answered from the
    // declared length without parsing the body (the local proxy forwards a
    // request once its body has arrived, so the whole body is sent).
    let declared: usize = 600 * 1000 * 1000;
    let url = platform.base_url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&url).await.unwrap();
    let head = format!(
        "POST /v1/files HTTP/1.1\r\nHost: {url}\r\nx-api-key: {}\r\ncontent-type: multipart/form-data; boundary={BOUNDARY}\r\ncontent-length: {declared}\r\nconnection: close\r\n\r\n",
        platform.api_key()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 0;
    while sent < declared {
        let n = chunk.len().min(declared - sent);
        if stream.write_all(&chunk[..n]).await.is_err() {
            break;
        }
        sent += n;
    }
    let mut response = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        stream.read_to_end(&mut response),
    )
    .await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("\"request_too_large\""), "{response}");

    // Tenant isolation.
    let (status, tenant) = {
        let resp = reqwest::Client::new()
            .post(platform.url("/v1/tenants"))
            .header("x-api-key", platform.api_key())
            .json(&json!({"name": "files-other"}))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200, "{tenant:#}");
    let other = Client::new(&platform, tenant["api_key"]["key"].as_str().unwrap());
    assert_eq!(other.ok(Method::GET, "/v1/files").await["data"], json!([]));
    let by_id = other
        .ok(Method::GET, &format!("/v1/files?ids%5B%5D={tid}"))
        .await;
    assert_eq!(by_id["data"], json!([]));
    for (method, path) in [
        (Method::GET, format!("/v1/files/{tid}")),
        (Method::GET, format!("/v1/files/{tid}/content")),
        (Method::DELETE, format!("/v1/files/{tid}")),
    ] {
        let (status, body) = other.call(method, &path).await;
        assert_error(status, &body, 404, "not_found_error");
    }

    // Delete.
    let deleted = api.ok(Method::DELETE, &format!("/v1/files/{tid}")).await;
    assert_eq!(deleted, json!({"id": tid, "type": "file_deleted"}));
    for (method, path) in [
        (Method::GET, format!("/v1/files/{tid}")),
        (Method::GET, format!("/v1/files/{tid}/content")),
        (Method::DELETE, format!("/v1/files/{tid}")),
    ] {
        let (status, body) = api.call(method, &path).await;
        assert_error(status, &body, 404, "not_found_error");
    }
    let list = api.ok(Method::GET, "/v1/files").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}
