//! What the codec suites share: decoding a body in chunks, and the check
//! that any chunking of a body decodes as the whole does.

use openma_core::llm::ModelError;
use openma_core::llm::ModelEvent;
use openma_core::llm::ProviderCodec;
use openma_core::llm::StreamDecoder;

/// The events of a body, and how its end was judged.
pub(super) type Decoded = (Vec<Result<ModelEvent, ModelError>>, Result<(), ModelError>);

/// Feeds `chunks` to a fresh decoder of `codec`, then finishes it.
pub(super) fn decode<C: ProviderCodec>(codec: &C, chunks: &[&[u8]]) -> Decoded {
    let mut decoder = codec.decoder();
    let events = chunks
        .iter()
        .flat_map(|chunk| decoder.feed(chunk))
        .collect();
    (events, decoder.finish())
}

// A small deterministic generator: chunk sizes vary without a dependency.
fn random_chunks(bytes: &[u8], mut seed: u64) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let size = usize::try_from(seed >> 59).unwrap_or(1) + 1;
        let (head, tail) = rest.split_at(size.min(rest.len()));
        chunks.push(head);
        rest = tail;
    }
    chunks
}

/// `body` decodes the same cut at every byte, one byte at a time, and in
/// `seeds` random chunkings.
pub(super) fn assert_split_invariant<C: ProviderCodec>(codec: &C, body: &str, seeds: u64) {
    let whole = decode(codec, &[body.as_bytes()]);
    let bytes = body.as_bytes();
    for cut in 0..=bytes.len() {
        assert_eq!(
            decode(codec, &[&bytes[..cut], &bytes[cut..]]),
            whole,
            "split at byte {cut}"
        );
    }
    let single_bytes: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode(codec, &single_bytes), whole, "one byte at a time");
    for seed in 0..seeds {
        assert_eq!(
            decode(codec, &random_chunks(bytes, seed)),
            whole,
            "random chunks, seed {seed}"
        );
    }
}
