//! Which interactions become presses and slash commands, and which are
//! dropped.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;
use crate::slack::events::{Delivery, Inbox, Taken};

/// A `block_actions` payload as Slack sends one for a button in a message.
fn pressed(channel: &str, user: &str, value: &str, trigger: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "owner", "name": "owner", "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "token": "verification-token",
        "container": {
            "type": "message", "message_ts": "1700000000.000101",
            "channel_id": channel, "is_ephemeral": false,
        },
        "trigger_id": trigger,
        "team": {"id": "T0TEAM", "domain": "team"},
        "channel": {"id": channel, "name": "directmessage"},
        "message": {
            "type": "message", "user": "U0BOT", "ts": "1700000000.000101",
            "text": "Run &lt;this&gt;?", "bot_id": "B0BOT",
        },
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/abc",
        "actions": [{
            "action_id": "run", "block_id": "b1", "type": "button",
            "text": {"type": "plain_text", "text": "Run it"},
            "value": value, "style": "primary", "action_ts": "1700000001.000200",
        }],
    })
}

/// A slash command's fields as Slack sends them.
fn slash(channel: &str, text: &str, trigger: &str) -> CommandFields {
    serde_json::from_value(json!({
        "token": "verification-token", "team_id": "T0TEAM", "team_domain": "team",
        "channel_id": channel, "channel_name": "directmessage", "user_id": "U0OWNER",
        "user_name": "owner", "command": "/hardshell", "text": text,
        "api_app_id": "A0APP", "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.com/commands/T0TEAM/1/abc",
        "trigger_id": trigger,
    }))
    .unwrap()
}

fn sender(id: &str) -> Sender {
    Sender::parse(Platform::Slack, id).unwrap()
}

#[test]
fn a_press_in_a_direct_message_names_team_user_channel_and_value() {
    let press = press(&pressed("D0DM", "U0OWNER", "x:abc:1", "13.45.ab")).unwrap();
    assert_eq!(
        press,
        Press {
            trigger: "13.45.ab".into(),
            sender: sender("T0TEAM:U0OWNER"),
            user: "U0OWNER".into(),
            channel: "D0DM".into(),
            place: Place::Direct,
            value: "x:abc:1".into(),
            message: Some("1700000000.000101".into()),
            question: Some("Run <this>?".into()),
        }
    );
}

#[test]
fn a_press_anywhere_but_a_direct_message_is_not_direct() {
    for channel in ["C0CHANNEL", "G0GROUP"] {
        let press = press(&pressed(channel, "U0OWNER", "x:abc:1", "1.2")).unwrap();
        assert_eq!(press.place, Place::Group { mentioned: false });
    }
}

#[test]
fn the_presser_is_named_by_their_own_team() {
    let mut payload = pressed("D0DM", "U0GUEST", "x:abc:1", "1.2");
    payload["user"]["team_id"] = "T0OTHER".into();
    assert_eq!(
        press(&payload).unwrap().sender,
        sender("T0OTHER:U0GUEST"),
        "a user of another workspace is never taken for one of ours"
    );
}

#[test]
fn what_is_no_press_of_a_button_is_dropped() {
    let good = pressed("D0DM", "U0OWNER", "x:abc:1", "1.2");
    let changed = |change: &dyn Fn(&mut Value)| {
        let mut payload = good.clone();
        change(&mut payload);
        payload
    };
    let cases = [
        changed(&|p| p["type"] = "view_submission".into()),
        changed(&|p| p["type"] = "shortcut".into()),
        changed(&|p| p["actions"] = json!([])),
        changed(&|p| {
            let action = p["actions"][0].clone();
            p["actions"] = json!([action.clone(), action]);
        }),
        changed(&|p| p["actions"][0]["type"] = "static_select".into()),
        changed(&|p| p["actions"][0]["value"] = "x".repeat(MAX_VALUE_BYTES + 1).into()),
        changed(&|p| p["actions"][0]["value"] = Value::Null),
        changed(&|p| p["trigger_id"] = Value::Null),
        changed(&|p| p["trigger_id"] = "a b\n".into()),
        changed(&|p| p["user"]["id"] = "U0OWNER|admin".into()),
        changed(&|p| p["user"] = Value::Null),
        changed(&|p| {
            p["user"]["team_id"] = Value::Null;
            p["team"] = Value::Null;
        }),
        changed(&|p| p["user"]["team_id"] = "t0lower".into()),
        changed(&|p| {
            p["channel"] = Value::Null;
            p["container"]["channel_id"] = Value::Null;
        }),
        changed(&|p| p["channel"]["id"] = "../D0DM".into()),
        json!("not an object"),
    ];
    for payload in cases {
        assert_eq!(press(&payload), None, "{payload}");
    }
    // A message id or text not as Slack writes them is left out, not used.
    let odd = changed(&|p| {
        p["container"]["message_ts"] = "now".into();
        p["message"]["text"] = "x".repeat(MAX_TEXT_BYTES + 1).into();
    });
    let press = press(&odd).unwrap();
    assert_eq!((press.message, press.question), (None, None));
}

#[test]
fn an_empty_command_or_new_starts_a_new_conversation() {
    for text in ["", "  ", "new", " new "] {
        let command = command(slash("D0DM", text, "1.2"), DEFAULT_COMMAND).unwrap();
        assert_eq!(command.inbound.text, "/new", "{text:?}");
    }
    let command = command(slash("D0DM", "what is &lt;up&gt;", "1.2"), DEFAULT_COMMAND).unwrap();
    assert_eq!(command.trigger, "1.2");
    let inbound = command.inbound;
    assert_eq!(inbound.text, "what is <up>");
    assert_eq!(inbound.sender, sender("T0TEAM:U0OWNER"));
    assert_eq!(inbound.chat, "D0DM");
    assert_eq!(inbound.place, Place::Direct);
    assert_eq!(inbound.message, None);
}

#[test]
fn a_command_in_a_channel_is_addressed_to_the_bot() {
    let command = command(slash("C0CHANNEL", "hi", "1.2"), DEFAULT_COMMAND).unwrap();
    assert_eq!(command.inbound.place, Place::Group { mentioned: true });
}

#[test]
fn another_command_or_fields_not_as_slack_sends_them_are_dropped() {
    let with = |change: &dyn Fn(&mut Value)| -> CommandFields {
        let mut fields = json!({
            "team_id": "T0TEAM", "channel_id": "D0DM", "user_id": "U0OWNER",
            "command": "/hardshell", "text": "hi", "trigger_id": "1.2",
        });
        change(&mut fields);
        serde_json::from_value(fields).unwrap()
    };
    let cases = [
        with(&|f| f["command"] = "/other".into()),
        with(&|f| f["command"] = "/HARDSHELL".into()),
        with(&|f| f["command"] = Value::Null),
        with(&|f| f["trigger_id"] = Value::Null),
        with(&|f| f["team_id"] = "T0TEAM:U0ADMIN".into()),
        with(&|f| f["user_id"] = Value::Null),
        with(&|f| f["user_id"] = "u0owner".into()),
        with(&|f| f["channel_id"] = "D0DM/../C0X".into()),
        with(&|f| f["text"] = "x".repeat(MAX_TEXT_BYTES + 1).into()),
    ];
    for fields in cases {
        assert!(command(fields, DEFAULT_COMMAND).is_none());
    }
    // The command the config names is the one answered.
    let renamed = with(&|f| f["command"] = "/assistant".into());
    assert!(command(renamed, "/assistant").is_some());
}

#[test]
fn a_form_is_an_interaction_or_a_command_and_nothing_else() {
    let payload = pressed("D0DM", "U0OWNER", "x:abc:1", "1.2");
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    match form(body.as_bytes()) {
        Some(Form::Interaction(read)) => assert_eq!(read, payload),
        _ => panic!("an interaction"),
    }
    let body = "token=t&team_id=T0TEAM&channel_id=D0DM&user_id=U0OWNER&command=%2Fhardshell&text=hi+there&trigger_id=1.2";
    match form(body.as_bytes()) {
        Some(Form::Command(fields)) => {
            let command = command(fields, DEFAULT_COMMAND).unwrap();
            assert_eq!(command.inbound.text, "hi there");
        }
        _ => panic!("a command"),
    }
    assert!(matches!(form(b"ssl_check=1&token=t"), Some(Form::SslCheck)));
    for body in [
        // A field twice: which one Slack meant cannot be told.
        "command=%2Fhardshell&command=%2Fother&trigger_id=1.2",
        "payload=%7B%7D&payload=%7B%7D",
        "payload=not+json",
        "text=no+command",
        "",
    ] {
        assert!(form(body.as_bytes()).is_none(), "{body}");
    }
}

#[test]
fn a_press_or_command_is_taken_once_by_its_trigger() {
    let (queue, mut waiting) = mpsc::channel(8);
    let (presses, mut pressed_queue) = mpsc::channel(8);
    let mut inbox = Inbox::new(queue, presses, DEFAULT_COMMAND);
    let payload = pressed("D0DM", "U0OWNER", "x:abc:1", "1.2");
    assert_eq!(inbox.take_interaction(&payload), Taken::Queued);
    assert_eq!(inbox.take_interaction(&payload), Taken::Duplicate);
    let shortcut = json!({"type": "shortcut", "trigger_id": "9.9"});
    assert_eq!(inbox.take_interaction(&shortcut), Taken::Ignored);
    assert_eq!(
        inbox.take_slash_command(slash("D0DM", "hi", "3.4")),
        Taken::Queued
    );
    assert_eq!(
        inbox.take_slash_command(slash("D0DM", "hi", "3.4")),
        Taken::Duplicate
    );
    assert!(pressed_queue.try_recv().is_ok());
    assert!(pressed_queue.try_recv().is_err());
    assert!(matches!(waiting.try_recv(), Ok(Delivery::Command(_))));
    assert!(
        waiting.try_recv().is_err(),
        "presses do not queue with messages"
    );
}
