//! What every JSON request body must be before it is parsed: UTF-8 text
//! that nests no deeper than [`MAX_JSON_DEPTH`]. Checked in one pass over
//! the bytes, so a hostile body costs linear time and no recursion.

/// The deepest nesting of arrays and objects a request body may have (tool
/// input schemas included, 64 levels is far beyond what the API needs).
pub const MAX_JSON_DEPTH: usize = 64;

/// Why a body was refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The bytes are not UTF-8.
    #[error("the request body is not valid UTF-8 (at byte {offset})")]
    NotUtf8 {
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// Arrays and objects nest too deep.
    #[error("the request body nests arrays and objects deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
}

/// Checks that `bytes` are UTF-8 and nest at most `max_depth` levels
/// (brackets inside strings do not count); returns the text.
pub fn check_json_body(bytes: &[u8], max_depth: usize) -> Result<&str, BodyError> {
    let text = std::str::from_utf8(bytes).map_err(|e| BodyError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in text.bytes() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(BodyError::TooDeep { max: max_depth });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(check_json_body(nested(64).as_bytes(), 64).is_ok());
        assert_eq!(
            check_json_body(nested(65).as_bytes(), 64),
            Err(BodyError::TooDeep { max: 64 })
        );
        assert_eq!(
            check_json_body(nested(10_000).as_bytes(), 64),
            Err(BodyError::TooDeep { max: 64 })
        );
        let in_string = format!(r#"{{"text": "{}\"{}"}}"#, "[".repeat(100), "{".repeat(100));
        assert!(check_json_body(in_string.as_bytes(), 2).is_ok());
        assert!(check_json_body(br#"{"a": {"b": [1, {"c": "\\"}]}}"#, 4).is_ok());
        assert!(check_json_body(br#"{"a": {"b": [1, {"c": "\\"}]}}"#, 3).is_err());
    }

    #[test]
    fn invalid_utf8_is_refused_with_its_offset() {
        let body = b"{\"text\": \"caf\xe9\"}";
        assert_eq!(
            check_json_body(body, 64),
            Err(BodyError::NotUtf8 { offset: 13 })
        );
        assert_eq!(
            check_json_body("{\"t\": \"café\"}".as_bytes(), 64),
            Ok("{\"t\": \"café\"}")
        );
    }
}
