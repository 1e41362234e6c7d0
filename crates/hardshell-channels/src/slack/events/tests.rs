//! Which deliveries become messages for the dispatch, and which are dropped,
//! through both stages as the channel runs them.
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

/// The inbox where deliveries arrive and the reader after its queue.
struct Stages {
    inbox: Inbox,
    waiting: mpsc::Receiver<Delivery>,
    _presses: mpsc::Receiver<Press>,
    reader: Reader,
}

impl Stages {
    fn new() -> Self {
        let (queue, waiting) = mpsc::channel(8);
        let (presses, _presses) = mpsc::channel(8);
        Stages {
            inbox: Inbox::new(queue, presses, "/hardshell"),
            waiting,
            _presses,
            reader: Reader::new(bot()),
        }
    }

    fn take(&mut self, callback: Callback) -> Taken {
        self.inbox.take(callback)
    }

    /// Every message the dispatch would get from what was taken so far.
    fn read(&mut self) -> Vec<Inbound> {
        let mut read = Vec::new();
        while let Ok(delivery) = self.waiting.try_recv() {
            if let Delivery::Event(callback) = delivery {
                read.extend(self.reader.read(&callback).map(|(_, inbound)| inbound));
            }
        }
        read
    }
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
    let mut stages = Stages::new();
    let taken = stages.take(callback("Ev1", im("U0PERSON", "hi", "1700000000.000100")));
    assert_eq!(taken, Taken::Queued);
    let read = stages.read();
    assert_eq!(read.len(), 1);
    let inbound = &read[0];
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
    let mut stages = Stages::new();
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
        stages.take(callback(id, event));
    }
    assert!(stages.read().is_empty());
    // The same shape from a person is read: the drops above are for the
    // bot fields, not the shape.
    stages.take(callback("Ev5", im("U0PERSON", "x", "1700000000.000105")));
    assert_eq!(stages.read().len(), 1);
}

#[test]
fn a_repeated_event_id_is_taken_once() {
    let mut stages = Stages::new();
    let event = im("U0PERSON", "hi", "1700000000.000100");
    // Another message under a delivery id already taken: a replay.
    let replayed = im("U0PERSON", "hi again", "1700000000.000101");
    assert_eq!(stages.take(callback("Ev1", event)), Taken::Queued);
    assert_eq!(stages.take(callback("Ev1", replayed)), Taken::Duplicate);
    assert_eq!(stages.read().len(), 1);
}

#[test]
fn what_is_not_an_event_is_ignored() {
    let mut stages = Stages::new();
    let rate_limited: Callback =
        serde_json::from_value(json!({"type": "app_rate_limited", "team_id": "T0TEAM"})).unwrap();
    assert_eq!(stages.take(rate_limited), Taken::Ignored);
    let no_id: Callback = serde_json::from_value(json!({
        "type": "event_callback", "event": im("U0PERSON", "hi", "1700000000.000100"),
    }))
    .unwrap();
    assert_eq!(stages.take(no_id), Taken::Ignored);
    assert!(stages.read().is_empty());
}

#[test]
fn a_message_and_its_app_mention_are_one_message() {
    let mut stages = Stages::new();
    let text = "<@U0BOT> what's up";
    let message = json!({
        "type": "message", "channel": "C0GROUP", "channel_type": "channel",
        "user": "U0PERSON", "text": text, "ts": "1700000000.000200", "team": "T0TEAM",
    });
    let mention = json!({
        "type": "app_mention", "channel": "C0GROUP",
        "user": "U0PERSON", "text": text, "ts": "1700000000.000200", "team": "T0TEAM",
    });
    assert_eq!(stages.take(callback("Ev1", message)), Taken::Queued);
    assert_eq!(stages.take(callback("Ev2", mention)), Taken::Queued);
    let read = stages.read();
    assert_eq!(read.len(), 1, "one message, though two events");
    assert_eq!(read[0].place, Place::Group { mentioned: true });
    assert_eq!(
        read[0].message.as_deref(),
        Some("1700000000.000200"),
        "a channel message is answered in its thread"
    );
}

#[test]
fn a_channel_message_is_mentioned_only_when_it_names_the_bot() {
    let mut stages = Stages::new();
    let said = |text: &str, ts: &str| {
        json!({
            "type": "message", "channel": "C0GROUP", "channel_type": "channel",
            "user": "U0PERSON", "text": text, "ts": ts, "thread_ts": "1700000000.000001",
        })
    };
    stages.take(callback("Ev1", said("hello all", "1700000000.000301")));
    stages.take(callback(
        "Ev2",
        said("<@U0BOT|bot> hi", "1700000000.000302"),
    ));
    stages.take(callback(
        "Ev3",
        said("<@U0BOTX> not me", "1700000000.000303"),
    ));
    let places: Vec<_> = stages
        .read()
        .into_iter()
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
    let mut stages = Stages::new();
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
        stages.take(callback(id, event));
    }
    assert!(stages.read().is_empty());
}

#[test]
fn a_full_queue_drops_rather_than_grows() {
    let (queue, _waiting) = mpsc::channel(1);
    let (presses, _presses) = mpsc::channel(1);
    let mut inbox = Inbox::new(queue, presses, "/hardshell");
    let first = im("U0PERSON", "1", "1700000000.000001");
    let second = im("U0PERSON", "2", "1700000000.000002");
    assert_eq!(inbox.take(callback("Ev1", first)), Taken::Queued);
    assert_eq!(inbox.take(callback("Ev2", second)), Taken::Dropped);
}

#[test]
fn slacks_escapes_are_undone_for_the_agent() {
    let mut stages = Stages::new();
    let text = "a &lt;b&gt; &amp;amp; c";
    stages.take(callback("Ev1", im("U0PERSON", text, "1700000000.000100")));
    assert_eq!(stages.read()[0].text, "a <b> &amp; c");
}

#[test]
fn an_event_of_another_shape_is_taken_and_read_as_nothing() {
    let mut stages = Stages::new();
    let created = json!({
        "type": "channel_created",
        "channel": {"id": "C0NEW", "name": "new", "created": 1_700_000_000, "creator": "U0PERSON"},
    });
    assert_eq!(stages.take(callback("Ev1", created)), Taken::Queued);
    assert!(stages.read().is_empty());
}

#[test]
fn a_shared_file_comes_with_its_message() {
    let mut stages = Stages::new();
    let mut shared = im("U0PERSON", "see this", "1700000000.000100");
    shared["subtype"] = "file_share".into();
    shared["upload"] = true.into();
    let file = |name: &str| {
        json!({
            "id": "F0FILE", "name": name, "title": name, "mimetype": "text/plain",
            "filetype": "text", "size": 12, "mode": "hosted",
            "url_private": format!("https://files.slack.com/files-pri/T0TEAM-F0FILE/{name}"),
            "url_private_download": format!("https://files.slack.com/files-pri/T0TEAM-F0FILE/download/{name}"),
        })
    };
    let withheld =
        json!({"id": "F0HIDDEN", "mode": "hidden_by_limit", "file_access": "check_file_info"});
    let mut files = vec![
        file("notes.txt"),
        withheld,
        file(&"n".repeat(MAX_FILE_FIELD_BYTES + 1)),
    ];
    files.extend((0..12).map(|n| file(&format!("{n}.txt"))));
    shared["files"] = files.into();
    stages.take(callback("Ev1", shared));
    let read = stages.read();
    assert_eq!(read.len(), 1);
    let files = &read[0].files;
    assert_eq!(
        files.len(),
        MAX_FILES,
        "at most Slack's ten, the odd ones dropped"
    );
    assert_eq!(
        files[0],
        InboundFile {
            reference: "https://files.slack.com/files-pri/T0TEAM-F0FILE/notes.txt".into(),
            name: Some("notes.txt".into()),
            size: Some(12),
        }
    );
    assert_eq!(files[1].name.as_deref(), Some("0.txt"));
    assert_eq!(read[0].text, "see this");
}
