//! Redaction of free text bound for an operator's support bundle: whatever
//! a message echoes, no key, token, signed URL, email or host path leaves.
//!
//! It works word by word and errs on the side of removing: a word that
//! looks like a credential (a known key prefix, or a long run mixing
//! letters and digits that is not one of the platform's object ids) is
//! replaced, an email becomes `[email]`, a URL keeps only its scheme, host
//! and path, and an absolute host path becomes `[path]`.

/// Prefixes of credentials the platform and its providers issue.
const KEY_PREFIXES: [&str; 12] = [
    "sk-",
    "oma_",
    "whsec_",
    "ghp_",
    "gho_",
    "ghs_",
    "github_pat_",
    "xoxb-",
    "xoxp-",
    "lin_api_",
    "eyJ",
    "AKIA",
];

/// Host path roots that say where something lives on a machine.
const PATH_ROOTS: [&str; 8] = [
    "/home/", "/root/", "/Users/", "/tmp/", "/var/", "/work/", "/etc/", "/opt/",
];

/// `text` with every word that could carry a secret replaced.
#[must_use]
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars() {
        if c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '`' | ',' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>'
            )
        {
            out.push_str(&redact_word(&word));
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    out.push_str(&redact_word(&word));
    out
}

fn redact_word(word: &str) -> String {
    if word.is_empty() {
        return String::new();
    }
    let lower = word.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        // Scheme, host and path only: queries carry signatures and tokens,
        // user-info carries passwords.
        let end = word.find(['?', '#']).unwrap_or(word.len());
        let url = &word[..end];
        let (scheme, rest) = url.split_at(url.find("://").map_or(0, |i| i + 3));
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let suffix = if end < word.len() { "?[redacted]" } else { "" };
        return format!("{scheme}{rest}{suffix}");
    }
    if word.contains('@') && word.contains('.') {
        return "[email]".to_owned();
    }
    if PATH_ROOTS.iter().any(|root| word.starts_with(root)) {
        return "[path]".to_owned();
    }
    let trimmed = word.trim_end_matches(['.', ':', ';']);
    if KEY_PREFIXES.iter().any(|p| trimmed.starts_with(p)) && trimmed.len() > 8 {
        return "[redacted]".to_owned();
    }
    if looks_like_secret(trimmed) {
        return "[redacted]".to_owned();
    }
    word.to_owned()
}

/// A run of 20 or more token characters mixing letters and digits that is
/// not an object id (`prefix_` then 26 Crockford base32 characters).
fn looks_like_secret(word: &str) -> bool {
    let token_chars = word
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'+' | b'='));
    let has_letter = word.bytes().any(|b| b.is_ascii_alphabetic());
    let has_digit = word.bytes().any(|b| b.is_ascii_digit());
    token_chars && has_letter && has_digit && word.len() >= 20 && !is_object_id(word)
}

fn is_object_id(word: &str) -> bool {
    word.split_once('_').is_some_and(|(prefix, rest)| {
        !prefix.is_empty()
            && prefix.bytes().all(|b| b.is_ascii_lowercase())
            && rest.len() == 26
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    })
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn secrets_emails_urls_and_paths_are_removed() {
        let text = "key sk-ant-api03-abcdef123456 for ann@example.com at https://user:pw@r2.example.com/a/b?X-Amz-Signature=abc123 \
                    from /home/ann/project with token Zx81kLmq02PqrsTuvWxy7788 and \"oma_abcdef0123456789\"";
        let redacted = redact(text);
        for secret in [
            "sk-ant-api03-abcdef123456",
            "ann@example.com",
            "pw@",
            "X-Amz-Signature",
            "/home/ann",
            "Zx81kLmq02PqrsTuvWxy7788",
            "oma_abcdef0123456789",
        ] {
            assert!(!redacted.contains(secret), "{secret} in {redacted}");
        }
        assert!(
            redacted.contains("https://r2.example.com/a/b?[redacted]"),
            "{redacted}"
        );
    }

    #[test]
    fn ordinary_words_and_object_ids_stay() {
        let text =
            "session sesn_01M994M1E2HJ2Q5165BBBW6T25 is not found (status 404): retry later.";
        assert_eq!(redact(text), text);
    }
}
