use super::SseDecoder;
use super::SseFrame;

fn frame(event: &str, data: &str) -> SseFrame {
    SseFrame {
        event: Some(event.into()),
        data: data.into(),
        id: None,
    }
}

#[test]
fn decodes_frames_comments_and_multiline_data() {
    let mut decoder = SseDecoder::new();
    let frames =
        decoder.feed(b": keep-alive\n\nevent: a\ndata: 1\ndata: 2\n\nevent: b\r\ndata: x\r\n\r\n");
    assert_eq!(frames, vec![frame("a", "1\n2"), frame("b", "x")]);
}

#[test]
fn any_split_decodes_identically() {
    let input = "event: a\r\ndata: h\u{e9}llo\r\n\r\nevent: b\ndata: {\"k\":1}\n\n".as_bytes();
    let mut whole = SseDecoder::new();
    let expected = whole.feed(input);
    for cut in 0..=input.len() {
        let mut decoder = SseDecoder::new();
        let mut frames = decoder.feed(&input[..cut]);
        frames.extend(decoder.feed(&input[cut..]));
        assert_eq!(frames, expected, "cut at {cut}");
    }
}

#[test]
fn finish_dispatches_an_unterminated_frame() {
    let mut decoder = SseDecoder::new();
    assert!(decoder.feed(b"event: a\ndata: 1").is_empty());
    assert_eq!(decoder.finish(), Some(frame("a", "1")));
}
