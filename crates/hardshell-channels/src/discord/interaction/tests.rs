#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;

const TOKEN: &str = "aW50ZXJhY3Rpb246MTM1MDAwMDAwMDAwMDAwNzAwOnNlY3JldA";

fn press_in_dm() -> Value {
    json!({
        "id": "135000000000000700", "application_id": "135000000000000001",
        "type": 3, "token": TOKEN, "channel_id": "135000000000000020",
        "user": {"id": "135000000000000555"},
        "message": {"id": "135000000000000600", "content": "Run `ls`?"},
        "data": {"custom_id": "x:a1:1", "component_type": 2},
    })
}

#[test]
fn a_press_in_a_direct_chat_is_read_with_its_user_and_question() {
    let interaction = from_value(press_in_dm()).unwrap();
    assert_eq!(interaction.channel, "135000000000000020");
    assert!(!interaction.in_guild);
    assert_eq!(interaction.press_place(), Place::Direct);
    assert_eq!(interaction.user.unwrap().id(), "135000000000000555");
    assert_eq!(
        interaction.kind,
        Kind::Press {
            data: "x:a1:1".into(),
            question: "Run `ls`?".into()
        }
    );
}

#[test]
fn in_a_guild_the_presser_is_the_members_user_not_user() {
    let mut press = press_in_dm();
    press["guild_id"] = json!("135000000000000011");
    press["member"] = json!({"user": {"id": "135000000000000556"}});
    let interaction = from_value(press.clone()).unwrap();
    assert_eq!(interaction.user.unwrap().id(), "135000000000000556");
    assert_eq!(
        from_value(press).unwrap().press_place(),
        Place::Group { mentioned: false }
    );
    // A guild interaction without a member names no one.
    let mut memberless = press_in_dm();
    memberless["guild_id"] = json!("135000000000000011");
    assert!(from_value(memberless).is_none());
}

#[test]
fn a_bots_press_has_no_user() {
    let mut press = press_in_dm();
    press["user"]["bot"] = json!(true);
    assert!(from_value(press).unwrap().user.is_none());
}

#[test]
fn ids_and_tokens_outside_their_grammar_are_refused() {
    for (field, bad) in [
        ("id", json!("../1")),
        ("application_id", json!("1/x")),
        ("channel_id", json!("abc")),
        ("token", json!("a/b")),
        ("token", json!("")),
        ("token", json!("a".repeat(513))),
        ("guild_id", json!("x")),
    ] {
        let mut press = press_in_dm();
        press[field] = bad;
        assert!(from_value(press).is_none(), "{field}");
    }
    let mut press = press_in_dm();
    press["user"]["id"] = json!("not-a-snowflake");
    assert!(from_value(press).is_none());
}

#[test]
fn the_token_never_shows_in_debug() {
    let interaction = from_value(press_in_dm()).unwrap();
    let shown = format!("{interaction:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("redacted"), "{shown}");
}

#[test]
fn a_command_carries_its_name_and_text_option() {
    let command = json!({
        "id": "135000000000000701", "application_id": "135000000000000001",
        "type": 2, "token": TOKEN, "channel_id": "135000000000000020",
        "user": {"id": "135000000000000555"},
        "data": {"name": "hardshell", "type": 1,
                 "options": [{"name": "text", "type": 3, "value": "hello"}]},
    });
    let kind = from_value(command.clone()).unwrap().kind;
    assert_eq!(
        kind,
        Kind::Command {
            name: "hardshell".into(),
            text: "hello".into()
        }
    );
    let mut bare = command.clone();
    bare["data"]["options"] = json!([]);
    assert_eq!(
        from_value(bare).unwrap().kind,
        Kind::Command {
            name: "hardshell".into(),
            text: String::new()
        }
    );
    let mut long = command;
    long["data"]["options"][0]["value"] = json!("a".repeat(MAX_TEXT_CHARS + 1));
    assert_eq!(from_value(long).unwrap().kind, Kind::Other);
}

#[test]
fn other_components_and_oversized_custom_ids_are_not_presses() {
    let mut select = press_in_dm();
    select["data"]["component_type"] = json!(3);
    assert_eq!(from_value(select).unwrap().kind, Kind::Other);
    let mut long = press_in_dm();
    long["data"]["custom_id"] = json!("x".repeat(101));
    assert_eq!(from_value(long).unwrap().kind, Kind::Other);
}

#[test]
fn only_interaction_create_dispatches_are_read() {
    let event = json!({"op": 0, "s": 9, "t": "INTERACTION_CREATE", "d": press_in_dm()});
    assert!(from_gateway(&event.to_string()).is_some());
    let other = json!({"op": 0, "s": 9, "t": "MESSAGE_CREATE", "d": press_in_dm()});
    assert!(from_gateway(&other.to_string()).is_none());
    assert!(from_gateway("not json").is_none());
}
