use serde_json::json;

use super::*;

fn bot() -> User {
    User {
        id: 424242,
        is_bot: true,
        username: Some("crabline_bot".into()),
    }
}

fn message(text: &str, entities: serde_json::Value) -> Message {
    serde_json::from_value(json!({
        "message_id": 7,
        "chat": {"id": -100, "type": "supergroup"},
        "from": {"id": 555, "is_bot": false, "first_name": "A"},
        "text": text,
        "entities": entities,
        "unknown_future_field": {"x": 1},
    }))
    .unwrap()
}

#[test]
fn mention_entity_of_the_bot_username_is_a_mention_in_any_ascii_case() {
    let m = message(
        "hi @Crabline_BOT",
        json!([{"type": "mention", "offset": 3, "length": 13}]),
    );
    assert!(m.mentions(&bot()));
}

#[test]
fn mention_of_another_username_is_not() {
    let m = message(
        "hi @crabline_bot2",
        json!([{"type": "mention", "offset": 3, "length": 14}]),
    );
    assert!(!m.mentions(&bot()));
}

#[test]
fn username_in_text_without_an_entity_is_not_a_mention() {
    let m = message("hi @crabline_bot", json!([]));
    assert!(!m.mentions(&bot()));
}

#[test]
fn offsets_count_utf16_units() {
    // "😀" is two UTF-16 units (four UTF-8 bytes): the entity starts at 3.
    let m = message(
        "😀 @crabline_bot",
        json!([{"type": "mention", "offset": 3, "length": 13}]),
    );
    assert!(m.mentions(&bot()));
    let shifted = message(
        "😀 @crabline_bot",
        json!([{"type": "mention", "offset": 2, "length": 13}]),
    );
    assert!(!shifted.mentions(&bot()));
}

#[test]
fn entity_past_the_text_is_not_a_mention() {
    let m = message(
        "@x",
        json!([{"type": "mention", "offset": 0, "length": 999}]),
    );
    assert!(!m.mentions(&bot()));
    let huge = message(
        "@x",
        json!([{"type": "mention", "offset": usize::MAX, "length": 2}]),
    );
    assert!(!huge.mentions(&bot()));
}

#[test]
fn text_mention_counts_by_id_only() {
    let of_bot = json!([{"type": "text_mention", "offset": 0, "length": 3, "user": {"id": 424242, "is_bot": true}}]);
    assert!(message("bot", of_bot).mentions(&bot()));
    let of_other = json!([{"type": "text_mention", "offset": 0, "length": 3, "user": {"id": 1, "is_bot": false, "username": "crabline_bot"}}]);
    assert!(!message("bot", of_other).mentions(&bot()));
}

#[test]
fn bot_command_addressed_to_the_bot_is_a_mention_and_to_another_is_not() {
    let cmd = |text: &str| {
        let length = text.encode_utf16().count();
        message(
            text,
            json!([{"type": "bot_command", "offset": 0, "length": length}]),
        )
    };
    assert!(cmd("/start@crabline_bot").mentions(&bot()));
    assert!(!cmd("/start@other_bot").mentions(&bot()));
    assert!(!cmd("/start").mentions(&bot()));
}

#[test]
fn caption_mentions_count() {
    let m: Message = serde_json::from_value(json!({
        "message_id": 1,
        "chat": {"id": -1, "type": "group"},
        "caption": "see @crabline_bot",
        "caption_entities": [{"type": "mention", "offset": 4, "length": 13}],
        "photo": [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}],
    }))
    .unwrap();
    assert!(m.mentions(&bot()));
    assert_eq!(m.text_or_caption(), Some("see @crabline_bot"));
}

#[test]
fn bot_without_username_is_mentioned_only_by_text_mention() {
    let nameless = User {
        username: None,
        ..bot()
    };
    let m = message(
        "hi @crabline_bot",
        json!([{"type": "mention", "offset": 3, "length": 13}]),
    );
    assert!(!m.mentions(&nameless));
}

#[test]
fn unknown_chat_type_does_not_parse() {
    let parsed = serde_json::from_value::<Chat>(json!({"id": 1, "type": "galaxy"}));
    assert!(parsed.is_err());
}

#[test]
fn button_press_parses_as_the_bot_api_documents_it() {
    let update: Update = serde_json::from_value(json!({
        "update_id": 9,
        "callback_query": {
            "id": "4382bfdwdsb323b2d9",
            "from": {"id": 555, "is_bot": false, "first_name": "A", "language_code": "en"},
            "chat_instance": "-1",
            "data": "approve:1",
            "message": {"message_id": 3, "date": 0, "chat": {"id": 555, "type": "private"}},
        },
    }))
    .unwrap();
    let pressed = update.callback_query.unwrap();
    assert_eq!(pressed.from.id, 555);
    assert_eq!(pressed.data.as_deref(), Some("approve:1"));
    assert_eq!(pressed.message.unwrap().message_id, 3);
    assert!(update.message.is_none());
}
