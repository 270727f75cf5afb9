//! Identifiers, tokens and digests minted at the edge (core never draws
//! randomness: ids inside a session derive from its log).

use sha2::Digest;
use sha2::Sha256;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Fills `buf` from the runtime's cryptographic random source.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buf).map_err(|e| format!("random source unavailable: {e}"))
}

/// `prefix` followed by a 26-character, time-ordered identifier: 48 bits of
/// milliseconds then 80 random bits, in Crockford base32 (as a ULID), so that
/// ids sort by creation time.
pub fn mint_id(prefix: &str, now_ms: u64) -> Result<String, String> {
    let mut random = [0u8; 10];
    random_bytes(&mut random)?;
    Ok(format_id(prefix, now_ms, random))
}

/// The pure part of [`mint_id`].
pub fn format_id(prefix: &str, now_ms: u64, random: [u8; 10]) -> String {
    let mut value: u128 = u128::from(now_ms & 0xFFFF_FFFF_FFFF) << 80;
    for (i, byte) in random.iter().enumerate() {
        value |= u128::from(*byte) << (72 - 8 * i);
    }
    let mut out = String::with_capacity(prefix.len() + 26);
    out.push_str(prefix);
    for i in (0..26).rev() {
        let index = ((value >> (5 * i)) & 0x1F) as usize;
        out.push(char::from(CROCKFORD[index]));
    }
    out
}

/// A random secret token: `prefix` then 32 random bytes in unpadded
/// base64url.
pub fn random_token(prefix: &str) -> Result<String, String> {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes)?;
    Ok(format!("{prefix}{}", base64url(&bytes)))
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3F) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_fixed_length_and_time_ordered() {
        let a = format_id("agent_", 1_700_000_000_000, [0xFF; 10]);
        let b = format_id("agent_", 1_700_000_000_001, [0x00; 10]);
        assert!(a.starts_with("agent_"));
        assert_eq!(a.len(), "agent_".len() + 26);
        assert!(a < b, "{a} should sort before {b}");
        assert_eq!(format_id("x_", 0, [0; 10]), format!("x_{}", "0".repeat(26)));
    }

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn base64url_is_unpadded_rfc4648() {
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
