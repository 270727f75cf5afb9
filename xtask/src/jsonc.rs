//! Reading the JSONC wrangler configs: comments and trailing commas removed,
//! strings left untouched.

use anyhow::Context;
use anyhow::Result;
use serde_json::Value;

/// Parses JSON with `//` and `/* */` comments and trailing commas.
pub(crate) fn parse(text: &str) -> Result<Value> {
    serde_json::from_str(&strip(text)).context("parsing JSONC")
}

fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '"' => {
                // Copy the string literal verbatim, honouring escapes.
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    if chars[i] == '\\' {
                        if let Some(&escaped) = chars.get(i + 1) {
                            out.push(escaped);
                        }
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if chars[i - 1] == '"' {
                        break;
                    }
                }
            }
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            ',' => {
                let rest = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if !matches!(rest, Some('}') | Some(']')) {
                    out.push(c);
                }
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde_json::json;

    #[test]
    fn strips_comments_and_trailing_commas_but_not_strings() {
        let text = r#"{
            // a comment
            "url": "https://example.com/a//b", /* block */
            "list": [1, 2,],
            "quote": "say \"hi\" // not a comment",
        }"#;
        assert_eq!(
            parse(text).unwrap(),
            json!({"url": "https://example.com/a//b", "list": [1, 2], "quote": "say \"hi\" // not a comment"})
        );
    }
}
