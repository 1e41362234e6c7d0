#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;

const BOT: &str = "135000000000000001";

fn event(d: Value) -> String {
    json!({"op": 0, "s": 7, "t": "MESSAGE_CREATE", "d": d}).to_string()
}

fn person(content: &str) -> Value {
    json!({
        "id": "135000000000000100", "channel_id": "135000000000000010",
        "author": {"id": "135000000000000555", "username": "p"},
        "content": content, "mentions": [], "type": 0,
    })
}

fn inbound(d: Value) -> Option<Inbound> {
    message_create(&event(d))?.inbound(BOT)
}

#[test]
fn a_direct_message_is_direct_with_its_ids() {
    let inbound = inbound(person("hello")).unwrap();
    assert_eq!(inbound.place, Place::Direct);
    assert_eq!(inbound.chat, "135000000000000010");
    assert_eq!(inbound.message.as_deref(), Some("135000000000000100"));
    assert_eq!(inbound.sender.id(), "135000000000000555");
    assert_eq!(inbound.text, "hello");
}

#[test]
fn a_guild_message_is_mentioned_only_by_the_bots_id() {
    let mut d = person("hi <@135000000000000001>");
    d["guild_id"] = json!("135000000000000011");
    assert_eq!(
        inbound(d.clone()).unwrap().place,
        Place::Group { mentioned: false }
    );
    d["mentions"] = json!([{"id": "135000000000000002"}]);
    assert_eq!(
        inbound(d.clone()).unwrap().place,
        Place::Group { mentioned: false }
    );
    d["mentions"] = json!([{"id": BOT}]);
    assert_eq!(inbound(d).unwrap().place, Place::Group { mentioned: true });
}

#[test]
fn bots_webhooks_notices_and_the_bot_itself_are_dropped() {
    let mut bot = person("x");
    bot["author"]["bot"] = json!(true);
    assert!(inbound(bot).is_none());
    let mut own = person("x");
    own["author"]["id"] = json!(BOT);
    assert!(inbound(own).is_none(), "the bot's own id, flag or not");
    let mut hook = person("x");
    hook["webhook_id"] = json!("135000000000000900");
    assert!(inbound(hook).is_none());
    let mut notice = person("x");
    notice["type"] = json!(7);
    assert!(inbound(notice).is_none());
    let mut reply = person("x");
    reply["type"] = json!(19);
    assert!(inbound(reply).is_some());
}

#[test]
fn empty_overlong_and_odd_messages_are_dropped() {
    assert!(inbound(person("  ")).is_none());
    assert!(inbound(person(&"a".repeat(MAX_TEXT_CHARS + 1))).is_none());
    assert!(inbound(person(&"a".repeat(MAX_TEXT_CHARS))).is_some());
    let mut odd = person("x");
    odd["channel_id"] = json!("../1");
    assert!(inbound(odd).is_none());
    let mut odd = person("x");
    odd["author"]["id"] = json!("abc");
    assert!(inbound(odd).is_none());
}

#[test]
fn only_message_create_dispatches_are_read() {
    let other = json!({"op": 0, "s": 1, "t": "MESSAGE_UPDATE", "d": person("x")});
    assert!(message_create(&other.to_string()).is_none());
    let hello = json!({"op": 10, "d": {"heartbeat_interval": 1}});
    assert!(message_create(&hello.to_string()).is_none());
    assert!(message_create("not json").is_none());
    let huge = event(person(&"a".repeat(MAX_EVENT_BYTES)));
    assert!(message_create(&huge).is_none());
}

#[test]
fn attachments_come_with_the_message_even_without_text() {
    let mut d = person("");
    d["attachments"] = json!([{
        "id": "135000000000000300", "filename": "notes.txt", "size": 12,
        "url": "https://cdn.discordapp.com/attachments/1/2/notes.txt?ex=1&is=2&hm=3",
        "proxy_url": "https://media.discordapp.net/attachments/1/2/notes.txt",
    }]);
    let inbound = inbound(d).unwrap();
    assert_eq!(inbound.text, "");
    assert_eq!(
        inbound.files,
        [InboundFile {
            reference: "https://cdn.discordapp.com/attachments/1/2/notes.txt?ex=1&is=2&hm=3".into(),
            name: Some("notes.txt".into()),
            size: Some(12),
        }]
    );
    let mut many = person("x");
    let one = json!({"url": "https://cdn.discordapp.com/a", "filename": "a"});
    many["attachments"] = json!(vec![one; 25]);
    assert_eq!(inbound_of(many).files.len(), MAX_ATTACHMENTS);
}

fn inbound_of(d: Value) -> Inbound {
    inbound(d).unwrap()
}
