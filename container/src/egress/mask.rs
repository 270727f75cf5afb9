//! Length-preserving masking of secret values in a byte stream, so a server
//! that echoes a request back can never hand the secret to the sandbox.

/// Streaming masker: replaces every occurrence of a secret with `*`s of the
/// same length, across chunk boundaries.
#[derive(Debug)]
pub struct Masker {
    secrets: Vec<Vec<u8>>,
    carry: Vec<u8>,
    keep: usize,
}

impl Masker {
    /// A masker for these secret values (ones shorter than
    /// [`MIN_REDACTED_SECRET_LEN`](openma_core::egress::MIN_REDACTED_SECRET_LEN) are ignored).
    pub fn new(secrets: Vec<Vec<u8>>) -> Self {
        let secrets: Vec<Vec<u8>> = secrets
            .into_iter()
            .filter(|s| s.len() >= openma_core::egress::MIN_REDACTED_SECRET_LEN)
            .collect();
        let keep = secrets
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(1)
            .saturating_sub(1);
        Self {
            secrets,
            carry: Vec::new(),
            keep,
        }
    }

    /// Feeds a chunk; returns the bytes that are safe to forward now.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.secrets.is_empty() {
            return chunk.to_vec();
        }
        self.carry.extend_from_slice(chunk);
        self.mask_in_place();
        let ready = self.carry.len().saturating_sub(self.keep);
        self.carry.drain(..ready).collect()
    }

    /// Returns the bytes held back at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        self.mask_in_place();
        std::mem::take(&mut self.carry)
    }

    fn mask_in_place(&mut self) {
        for secret in &self.secrets {
            let mut i = 0;
            while i + secret.len() <= self.carry.len() {
                if self.carry[i..i + secret.len()] == secret[..] {
                    self.carry[i..i + secret.len()].fill(b'*');
                    i += secret.len();
                } else {
                    i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Masker;

    #[test]
    fn masks_secrets_split_across_chunks() {
        let mut m = Masker::new(vec![b"s3cr3t".to_vec()]);
        let mut out = m.feed(b"abc s3c");
        out.extend(m.feed(b"r3t def s3cr3t"));
        out.extend(m.finish());
        assert_eq!(out, b"abc ****** def ******");
    }

    #[test]
    fn without_secrets_passes_bytes_through() {
        let mut m = Masker::new(vec![]);
        assert_eq!(m.feed(b"hello"), b"hello");
        assert!(m.finish().is_empty());
    }
}
