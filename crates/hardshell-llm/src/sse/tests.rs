use super::*;

fn event(event: &str, data: &str) -> SseEvent {
    SseEvent {
        event: event.to_owned(),
        data: data.to_owned(),
    }
}

/// Feeds `stream` in pieces of `size` bytes and collects every event.
fn parse_in_pieces(stream: &[u8], size: usize) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    for piece in stream.chunks(size) {
        events.extend(parser.feed(piece).unwrap());
    }
    events
}

#[test]
fn events_split_anywhere_parse_the_same_as_whole() {
    let stream = "event: message_start\r\ndata: {\"a\":1}\r\n\r\n: keep-alive\n\nevent: ping\rdata: {}\r\rdata: x\ndata: y\n\n";
    let whole = parse_in_pieces(stream.as_bytes(), stream.len());
    assert_eq!(
        whole,
        vec![
            event("message_start", "{\"a\":1}"),
            event("ping", "{}"),
            event("message", "x\ny"),
        ]
    );
    for size in 1..stream.len() {
        assert_eq!(
            parse_in_pieces(stream.as_bytes(), size),
            whole,
            "pieces of {size}"
        );
    }
}

#[test]
fn a_crlf_split_between_pieces_ends_one_line() {
    let mut parser = SseParser::new();
    assert!(parser.feed(b"data: a\r").unwrap().is_empty());
    // The LF completes the CR's line ending; only the next line end dispatches.
    assert!(parser.feed(b"\n").unwrap().is_empty());
    assert_eq!(parser.feed(b"\r\n").unwrap(), vec![event("message", "a")]);
}

#[test]
fn comments_and_unknown_fields_are_ignored() {
    let events = parse_in_pieces(b": comment\nid: 7\nretry: 10\nfoo: bar\ndata: kept\n\n", 64);
    assert_eq!(events, vec![event("message", "kept")]);
}

#[test]
fn data_lines_join_with_newlines_and_keep_empty_lines() {
    let events = parse_in_pieces(b"data: one\ndata:\ndata:  two\n\ndata\n\n", 64);
    // One space after the colon is syntax; a second is data. `data` alone is an empty line.
    assert_eq!(
        events,
        vec![event("message", "one\n\n two"), event("message", "")]
    );
}

#[test]
fn an_event_without_data_is_not_dispatched() {
    let events = parse_in_pieces(b"event: ping\n\nevent: x\ndata: 1\n\n", 64);
    assert_eq!(events, vec![event("x", "1")]);
}

#[test]
fn a_leading_byte_order_mark_is_skipped() {
    let events = parse_in_pieces(b"\xEF\xBB\xBFdata: a\n\n", 64);
    assert_eq!(events, vec![event("message", "a")]);
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    let events = parse_in_pieces(b"data: \xFF\n\n", 64);
    assert_eq!(events, vec![event("message", "\u{FFFD}")]);
}

#[test]
fn a_cut_off_event_is_reported_as_partial() {
    let mut parser = SseParser::new();
    parser.feed(b"data: complete\n\n").unwrap();
    assert!(!parser.has_partial_event());
    parser.feed(b"event: message_stop\ndata: {\"ty").unwrap();
    assert!(parser.has_partial_event());
    let mut parser = SseParser::new();
    parser.feed(b"data: no blank line yet\n").unwrap();
    assert!(parser.has_partial_event());
}

#[test]
fn an_overlong_line_is_refused() {
    let mut parser = SseParser::with_limit(16);
    assert_eq!(
        parser.feed(&[b'x'; 17]),
        Err(SseError::EventTooLong { limit: 16 })
    );
}

#[test]
fn an_event_of_many_short_lines_is_bounded_too() {
    let mut parser = SseParser::with_limit(16);
    let result = parser.feed(b"data: 12345\ndata: 12345\ndata: 12345\n");
    assert_eq!(result, Err(SseError::EventTooLong { limit: 16 }));
}
