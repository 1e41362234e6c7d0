//! Which deliveries become messages for the dispatch, and which are dropped.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;

fn bot() -> BotIdentity {
    BotIdentity {
        user_id: "U0BOT".into(),
        team_id: "T0TEAM".into(),
        bot_id: Some("B0BOT".into()),
    }
}

fn inbox() -> (Inbox, mpsc::Receiver<Inbound>) {
    let (queue, waiting) = mpsc::channel(8);
    (Inbox::new(bot(), queue), waiting)
}

fn callback(event_id: &str, event: Value) -> Callback {
    serde_json::from_value(json!({
        "type": "event_callback",
        "team_id": "T0TEAM",
        "event_id": event_id,
        "event": event,
    }))
    .unwrap()
}

fn im(user: &str, text: &str, ts: &str) -> Value {
    json!({
        "type": "message", "channel": "D0DM", "channel_type": "im",
        "user": user, "text": text, "ts": ts, "team": "T0TEAM",
    })
}

#[test]
fn a_direct_message_becomes_a_direct_inbound_from_team_and_user() {
    let (mut inbox, mut waiting) = inbox();
    let taken = inbox.take(callback("Ev1", im("U0PERSON", "hi", "1700000000.000100")));
    assert_eq!(taken, Taken::Queued);
    let inbound = waiting.try_recv().unwrap();
    assert_eq!(inbound.sender.id(), "T0TEAM:U0PERSON");
    assert_eq!(inbound.chat, "D0DM");
    assert_eq!(inbound.place, Place::Direct);
    assert_eq!(inbound.text, "hi");
    assert_eq!(
        inbound.message, None,
        "a top-level direct message is not threaded"
    );
}

#[test]
fn bots_the_bot_itself_and_subtypes_are_dropped() {
    let (mut inbox, mut waiting) = inbox();
    let mut from_bot = im("U0OTHER", "beep", "1700000000.000101");
    from_bot["bot_id"] = "B0OTHER".into();
    let own = im("U0BOT", "my own words", "1700000000.000102");
    let mut edited = im("U0PERSON", "edited", "1700000000.000103");
    edited["subtype"] = "message_changed".into();
    let mut bot_message = im("U0PERSON", "x", "1700000000.000104");
    bot_message["subtype"] = "bot_message".into();
    for (id, event) in [
        ("Ev1", from_bot),
        ("Ev2", own),
        ("Ev3", edited),
        ("Ev4", bot_message),
    ] {
        assert_eq!(inbox.take(callback(id, event)), Taken::Ignored, "{id}");
    }
    assert!(waiting.try_recv().is_err());
    // The same shape from a person is taken: the drops above are for the
    // bot fields, not the shape.
    let person = im("U0PERSON", "x", "1700000000.000105");
    assert_eq!(inbox.take(callback("Ev5", person)), Taken::Queued);
}

#[test]
fn a_repeated_event_id_is_taken_once() {
    let (mut inbox, mut waiting) = inbox();
    let event = im("U0PERSON", "hi", "1700000000.000100");
    // Another message under a delivery id already taken: a replay.
    let replayed = im("U0PERSON", "hi again", "1700000000.000101");
    assert_eq!(inbox.take(callback("Ev1", event)), Taken::Queued);
    assert_eq!(inbox.take(callback("Ev1", replayed)), Taken::Duplicate);
    assert!(waiting.try_recv().is_ok());
    assert!(waiting.try_recv().is_err());
}

#[test]
fn a_message_and_its_app_mention_are_one_message() {
    let (mut inbox, mut waiting) = inbox();
    let text = "<@U0BOT> what's up";
    let message = json!({
        "type": "message", "channel": "C0GROUP", "channel_type": "channel",
        "user": "U0PERSON", "text": text, "ts": "1700000000.000200", "team": "T0TEAM",
    });
    let mention = json!({
        "type": "app_mention", "channel": "C0GROUP",
        "user": "U0PERSON", "text": text, "ts": "1700000000.000200", "team": "T0TEAM",
    });
    assert_eq!(inbox.take(callback("Ev1", message)), Taken::Queued);
    assert_eq!(inbox.take(callback("Ev2", mention)), Taken::Duplicate);
    let inbound = waiting.try_recv().unwrap();
    assert_eq!(inbound.place, Place::Group { mentioned: true });
    assert_eq!(
        inbound.message.as_deref(),
        Some("1700000000.000200"),
        "a channel message is answered in its thread"
    );
}

#[test]
fn a_channel_message_is_mentioned_only_when_it_names_the_bot() {
    let (mut inbox, mut waiting) = inbox();
    let said = |text: &str, ts: &str| {
        json!({
            "type": "message", "channel": "C0GROUP", "channel_type": "channel",
            "user": "U0PERSON", "text": text, "ts": ts, "thread_ts": "1700000000.000001",
        })
    };
    inbox.take(callback("Ev1", said("hello all", "1700000000.000301")));
    inbox.take(callback(
        "Ev2",
        said("<@U0BOT|bot> hi", "1700000000.000302"),
    ));
    inbox.take(callback(
        "Ev3",
        said("<@U0BOTX> not me", "1700000000.000303"),
    ));
    let places: Vec<_> = std::iter::from_fn(|| waiting.try_recv().ok())
        .map(|i| (i.place, i.message))
        .collect();
    let thread = Some("1700000000.000001".to_owned());
    assert_eq!(
        places,
        vec![
            (Place::Group { mentioned: false }, thread.clone()),
            (Place::Group { mentioned: true }, thread.clone()),
            (Place::Group { mentioned: false }, thread),
        ]
    );
}

#[test]
fn malformed_ids_and_oversized_text_are_dropped() {
    let (mut inbox, mut waiting) = inbox();
    let mut bad_channel = im("U0PERSON", "hi", "1700000000.000100");
    bad_channel["channel"] = "d0dm\n".into();
    let bad_ts = im("U0PERSON", "hi", "17000.00.0100");
    let bad_user = im("u0person", "hi", "1700000000.000101");
    let huge = im(
        "U0PERSON",
        &"x".repeat(MAX_TEXT_BYTES + 1),
        "1700000000.000102",
    );
    for (id, event) in [
        ("Ev1", bad_channel),
        ("Ev2", bad_ts),
        ("Ev3", bad_user),
        ("Ev4", huge),
    ] {
        assert_eq!(inbox.take(callback(id, event)), Taken::Ignored, "{id}");
    }
    assert!(waiting.try_recv().is_err());
}

#[test]
fn a_full_queue_drops_rather_than_grows() {
    let (queue, _waiting) = mpsc::channel(1);
    let mut inbox = Inbox::new(bot(), queue);
    let first = im("U0PERSON", "1", "1700000000.000001");
    let second = im("U0PERSON", "2", "1700000000.000002");
    assert_eq!(inbox.take(callback("Ev1", first)), Taken::Queued);
    assert_eq!(inbox.take(callback("Ev2", second)), Taken::Dropped);
}

#[test]
fn slacks_escapes_are_undone_for_the_agent() {
    let (mut inbox, mut waiting) = inbox();
    let text = "a &lt;b&gt; &amp;amp; c";
    inbox.take(callback("Ev1", im("U0PERSON", text, "1700000000.000100")));
    assert_eq!(waiting.try_recv().unwrap().text, "a <b> &amp; c");
}
