//! Query strings, parsed from the raw URL without the `url` crate (which
//! costs about 190 KB of wasm).

/// The decoded `(key, value)` pairs of `raw_url`'s query, in order; keys keep
/// their brackets (`types[]`, `created_at[gte]`).
pub fn query_pairs(raw_url: &str) -> Vec<(String, String)> {
    let Some((_, query)) = raw_url.split_once('?') else {
        return Vec::new();
    };
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (as a space); invalid escapes stay literal.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_brackets_arrays_and_escapes() {
        let pairs = query_pairs(
            "https://h/v1/sessions/s/events?types%5B%5D=agent.message&types[]=user.message&created_at%5Bgte%5D=2026-01-01T00%3A00%3A00Z&q=a+b&empty=&flag#frag",
        );
        assert_eq!(
            pairs,
            vec![
                ("types[]".into(), "agent.message".into()),
                ("types[]".into(), "user.message".into()),
                ("created_at[gte]".into(), "2026-01-01T00:00:00Z".into()),
                ("q".into(), "a b".into()),
                ("empty".into(), String::new()),
                ("flag".into(), String::new()),
            ]
        );
    }

    #[test]
    fn no_query_and_bad_escapes() {
        assert!(query_pairs("https://h/path").is_empty());
        assert_eq!(percent_decode("100%zz%4"), "100%zz%4");
    }
}
