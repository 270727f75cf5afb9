use super::*;

const OLD: &str = "an-old-root-secret-of-at-least-32-bytes";
const NEW: &str = "a-new-root-secret-that-replaced-the-old-one";

#[test]
fn seal_then_open_round_trips_under_the_current_key() {
    let ring = Keyring::new(NEW, None).unwrap();
    let sealed = ring
        .seal(b"s3cret-token", b"tenant/vcrd_1", [7; 12])
        .unwrap();
    assert_eq!(sealed.key_id, ring.current_key_id());
    assert_eq!(sealed.key_id.len(), 8);
    assert!(!sealed.ciphertext.contains(&hex(b"s3cret-token")));
    let opened = ring
        .open(&sealed.key_id, &sealed.ciphertext, b"tenant/vcrd_1")
        .unwrap();
    assert_eq!(opened.plaintext, b"s3cret-token");
    assert!(!opened.stale);
}

#[test]
fn key_derivation_is_deterministic_and_the_id_is_the_digest_prefix() {
    let a = DerivedKey::derive(NEW).unwrap();
    let b = DerivedKey::derive(NEW).unwrap();
    assert_eq!(a.id(), b.id());
    assert_eq!(a.id(), &sha256_hex(&a.key)[..8]);
    assert_ne!(a.id(), DerivedKey::derive(OLD).unwrap().id());
    // The debug form never shows the key.
    assert!(!format!("{a:?}").contains(&hex(&a.key)));
}

#[test]
fn short_root_secrets_are_refused() {
    assert_eq!(
        DerivedKey::derive("short").unwrap_err(),
        CryptoError::RootSecretTooShort(5)
    );
}

#[test]
fn the_wrong_owner_or_a_tampered_ciphertext_does_not_open() {
    let ring = Keyring::new(NEW, None).unwrap();
    let sealed = ring.seal(b"value", b"owner-a", [1; 12]).unwrap();
    assert_eq!(
        ring.open(&sealed.key_id, &sealed.ciphertext, b"owner-b"),
        Err(CryptoError::Decrypt)
    );
    let mut tampered = sealed.ciphertext.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        ring.open(&sealed.key_id, &tampered, b"owner-a"),
        Err(CryptoError::Decrypt)
    );
    assert_eq!(
        ring.open(&sealed.key_id, "zz", b"owner-a"),
        Err(CryptoError::Decrypt)
    );
}

#[test]
fn rotation_opens_old_ciphertext_marks_it_stale_and_reseals_it() {
    let old_ring = Keyring::new(OLD, None).unwrap();
    let sealed = old_ring.seal(b"rotated", b"aad", [9; 12]).unwrap();

    // Without the previous secret the old ciphertext is unreadable.
    let new_only = Keyring::new(NEW, None).unwrap();
    assert_eq!(
        new_only.open(&sealed.key_id, &sealed.ciphertext, b"aad"),
        Err(CryptoError::UnknownKey(sealed.key_id.clone()))
    );

    // With it, it opens and is flagged for re-encryption.
    let rotating = Keyring::new(NEW, Some(OLD)).unwrap();
    assert_eq!(rotating.previous_key_id(), Some(old_ring.current_key_id()));
    let opened = rotating
        .open(&sealed.key_id, &sealed.ciphertext, b"aad")
        .unwrap();
    assert_eq!(opened.plaintext, b"rotated");
    assert!(opened.stale);
    let resealed = rotating.seal(&opened.plaintext, b"aad", [10; 12]).unwrap();
    assert_eq!(resealed.key_id, new_only.current_key_id());

    // After the rotation the previous secret is no longer needed.
    let reopened = new_only
        .open(&resealed.key_id, &resealed.ciphertext, b"aad")
        .unwrap();
    assert_eq!(reopened.plaintext, b"rotated");
    assert!(!reopened.stale);
}

#[test]
fn a_previous_secret_equal_to_the_current_one_is_ignored() {
    let ring = Keyring::new(NEW, Some(NEW)).unwrap();
    assert_eq!(ring.previous_key_id(), None);
    let ring = Keyring::new(NEW, Some("")).unwrap();
    assert_eq!(ring.previous_key_id(), None);
}

#[test]
fn sha256_matches_the_standard_vector() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
