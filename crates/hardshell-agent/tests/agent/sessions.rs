//! Sessions in a real store: durable appends with unique sequence numbers,
//! history, listing, and recovery from a missing summary.

use std::sync::Arc;

use hardshell_agent::{FixedClock, SessionStore};
use hardshell_llm::{Message, Role};

use crate::support::{AgentScope, TestStore, at, key, session};

async fn sessions(store: &TestStore) -> SessionStore {
    SessionStore::new(store.agent_scope().await, Arc::new(FixedClock(at())))
}

/// The text of the session's last ten messages, oldest first.
async fn texts(sessions: &SessionStore, id: &hardshell_agent::SessionId) -> Vec<String> {
    sessions
        .history(id, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.message.text())
        .collect()
}

#[tokio::test]
async fn appended_messages_come_back_in_order_with_their_seq() {
    let store = TestStore::new().await;
    let sessions = sessions(&store).await;
    let id = session("web-a1");
    assert_eq!(
        sessions.append(&id, &Message::user("one")).await.unwrap(),
        0
    );
    assert_eq!(
        sessions
            .append(&id, &Message::assistant("two"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        sessions.append(&id, &Message::user("three")).await.unwrap(),
        2
    );
    let history = sessions.history(&id, 10).await.unwrap();
    let texts: Vec<(u64, String)> = history.iter().map(|m| (m.seq, m.message.text())).collect();
    assert_eq!(
        texts,
        [(0, "one".into()), (1, "two".into()), (2, "three".into())]
    );
    assert_eq!(history[0].at, at());
}

#[tokio::test]
async fn history_limit_keeps_the_latest_messages() {
    let store = TestStore::new().await;
    let sessions = sessions(&store).await;
    let id = session("web-a1");
    for n in 0..12 {
        sessions
            .append(&id, &Message::user(format!("m{n}")))
            .await
            .unwrap();
    }
    let history = sessions.history(&id, 3).await.unwrap();
    let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [9, 10, 11]);
    assert!(sessions.history(&id, 0).await.unwrap().is_empty());
    assert!(
        sessions
            .history(&session("web-none"), 5)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn appended_messages_survive_reopening_the_store() {
    let store = TestStore::new().await;
    let id = session("telegram-42");
    let seq = sessions(&store)
        .await
        .append(&id, &Message::user("remember me"))
        .await
        .unwrap();
    // A new process: a new store handle over the same directory.
    let reopened = sessions(&store).await;
    let history = reopened.history(&id, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].seq, seq);
    assert_eq!(history[0].message, Message::user("remember me"));
    assert_eq!(
        reopened
            .append(&id, &Message::assistant("ok"))
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn concurrent_writers_never_share_a_seq() {
    let store = TestStore::new().await;
    let id = session("api-race");
    // Separate store handles, as two processes would have.
    let mut writers = Vec::new();
    for n in 0..8 {
        let writer = sessions(&store).await;
        let id = id.clone();
        writers.push(tokio::spawn(async move {
            writer
                .append(&id, &Message::user(format!("writer {n}")))
                .await
                .unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for writer in writers {
        seqs.push(writer.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (0..8).collect::<Vec<u64>>());
    let history = sessions(&store).await.history(&id, 100).await.unwrap();
    let mut texts: Vec<String> = history.iter().map(|m| m.message.text()).collect();
    texts.sort();
    assert_eq!(
        texts,
        (0..8).map(|n| format!("writer {n}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_stale_summary_never_overwrites_a_message() {
    let store = TestStore::new().await;
    let sessions = sessions(&store).await;
    let id = session("web-stale");
    sessions.append(&id, &Message::user("first")).await.unwrap();
    sessions
        .append(&id, &Message::user("second"))
        .await
        .unwrap();
    // A crash between a message and its summary update leaves the count behind.
    let scope = store.agent_scope().await;
    scope.delete(&key("sessions/web-stale/meta")).await.unwrap();
    assert_eq!(
        sessions.append(&id, &Message::user("third")).await.unwrap(),
        2
    );
    assert_eq!(texts(&sessions, &id).await, ["first", "second", "third"]);
}

#[tokio::test]
async fn list_is_newest_first_titled_by_the_first_user_message() {
    let store = TestStore::new().await;
    let scope = store.agent_scope().await;
    let older = SessionStore::new(scope.clone(), Arc::new(FixedClock(at())));
    let newer = SessionStore::new(
        scope.clone(),
        Arc::new(FixedClock(at() + chrono::Duration::hours(1))),
    );
    older
        .append(
            &session("web-old"),
            &Message::user("Plan the\ntrip to Rome"),
        )
        .await
        .unwrap();
    older
        .append(&session("web-old"), &Message::assistant("Sure"))
        .await
        .unwrap();
    newer
        .append(&session("api-new"), &Message::user("x".repeat(300)))
        .await
        .unwrap();
    let list = older.list().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].id, session("api-new"));
    assert_eq!(list[0].title.as_ref().unwrap().chars().count(), 81);
    assert_eq!(list[1].id, session("web-old"));
    assert_eq!(list[1].title.as_deref(), Some("Plan the trip to Rome"));
    assert_eq!(list[1].message_count, 2);
    assert_eq!(list[1].created, at());
}

#[tokio::test]
async fn list_rebuilds_a_missing_summary_from_the_messages() {
    let store = TestStore::new().await;
    let sessions = sessions(&store).await;
    let id = session("web-nometa");
    sessions
        .append(&id, &Message::user("hello there"))
        .await
        .unwrap();
    sessions
        .append(&id, &Message::assistant("hi"))
        .await
        .unwrap();
    store
        .agent_scope()
        .await
        .delete(&key("sessions/web-nometa/meta"))
        .await
        .unwrap();
    let list = sessions.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].title.as_deref(), Some("hello there"));
    assert_eq!(list[0].message_count, 2);
}

#[tokio::test]
async fn messages_are_sealed_at_rest() {
    let store = TestStore::new().await;
    let sessions = sessions(&store).await;
    let id = session("web-sealed");
    sessions
        .append(&id, &Message::user("my secret plan"))
        .await
        .unwrap();
    let path = store.objects().join(".logs/agent/sessions/web-sealed/log");
    let raw = std::fs::read(path).unwrap();
    assert!(!raw.windows(6).any(|w| w == b"secret"));
    let history = sessions.history(&id, 1).await.unwrap();
    assert_eq!(history[0].message.role, Role::User);
}

#[tokio::test]
async fn a_store_sees_what_another_writer_appended_after_it_remembered_the_session() {
    let store = TestStore::new().await;
    let first = sessions(&store).await;
    let second = sessions(&store).await;
    let id = session("web-shared");
    first.append(&id, &Message::user("one")).await.unwrap();
    first.append(&id, &Message::assistant("two")).await.unwrap();
    assert_eq!(first.history(&id, 10).await.unwrap().len(), 2);

    // Another store (another agent, or one restarted) continues the session.
    assert_eq!(
        second.append(&id, &Message::user("three")).await.unwrap(),
        2
    );
    assert_eq!(
        second
            .append(&id, &Message::assistant("four"))
            .await
            .unwrap(),
        3
    );

    // The first store's memory of the session is not the whole truth any more.
    assert_eq!(texts(&first, &id).await, ["one", "two", "three", "four"]);
    // And it appends after them, not over them.
    assert_eq!(first.append(&id, &Message::user("five")).await.unwrap(), 4);
    let seqs: Vec<u64> = second
        .history(&id, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
    // Listing counts every message and keeps the first message's title.
    let list = first.list().await.unwrap();
    assert_eq!(list[0].message_count, 5);
    assert_eq!(list[0].title.as_deref(), Some("one"));
}

#[tokio::test]
async fn history_past_the_remembered_tail_reads_storage() {
    let store = TestStore::new().await;
    let writer = sessions(&store).await;
    let id = session("web-long");
    for n in 0..300 {
        writer
            .append(&id, &Message::user(format!("m{n}")))
            .await
            .unwrap();
    }
    // More than a store keeps in memory: the oldest come from storage.
    let all = writer.history(&id, 300).await.unwrap();
    assert_eq!(all.len(), 300);
    assert_eq!(all[0].message.text(), "m0");
    assert_eq!(all[299].message.text(), "m299");
    let fresh = sessions(&store).await;
    assert_eq!(
        fresh.history(&id, 2).await.unwrap()[1].message.text(),
        "m299"
    );
}

#[tokio::test]
async fn a_session_kept_as_objects_is_read_and_continued_as_objects() {
    use hardshell_protocol::StoredMessage;
    let store = TestStore::new().await;
    let scope = store.agent_scope().await;
    let id = session("web-old");
    // A session as hardshell stored them before logs: one object per message.
    for (seq, message) in [
        Message::user("old question"),
        Message::assistant("old answer"),
    ]
    .into_iter()
    .enumerate()
    {
        let stored = StoredMessage {
            seq: seq as u64,
            at: at(),
            message,
        };
        scope
            .create(
                &key(&format!("sessions/web-old/messages/{seq:012}")),
                &serde_json::to_vec(&stored).unwrap(),
            )
            .await
            .unwrap();
    }
    let meta = serde_json::json!({
        "title": "old question", "created": at(), "updated": at(), "message_count": 2
    });
    scope
        .create(&key("sessions/web-old/meta"), meta.to_string().as_bytes())
        .await
        .unwrap();
    let first = sessions(&store).await;
    assert_eq!(texts(&first, &id).await, ["old question", "old answer"]);
    assert_eq!(first.append(&id, &Message::user("new")).await.unwrap(), 2);
    // Continued where it is: no log begun beside it.
    assert!(
        scope
            .get(&key("sessions/web-old/messages/000000000002"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(scope.logs().await.unwrap().is_empty());
    // A fresh store (the agent restarted) appends after it too.
    let fresh = sessions(&store).await;
    assert_eq!(fresh.append(&id, &Message::user("newer")).await.unwrap(), 3);
    let list = fresh.list().await.unwrap();
    assert_eq!(list[0].message_count, 4);
    assert_eq!(list[0].title.as_deref(), Some("old question"));
    // And a new session beside it is a log.
    fresh
        .append(&session("web-new"), &Message::user("hi"))
        .await
        .unwrap();
    let logs: Vec<String> = scope
        .logs()
        .await
        .unwrap()
        .iter()
        .map(|log| log.key.to_string())
        .collect();
    assert_eq!(logs, ["sessions/web-new/log"]);
    assert_eq!(fresh.list().await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_messages_before_a_turn_are_those_before_its_message_whoever_wrote_after() {
    let store = TestStore::new().await;
    let first = sessions(&store).await;
    let id = session("web-before");
    for text in ["a", "b", "c"] {
        first.append(&id, &Message::user(text)).await.unwrap();
    }
    let before = |messages: Vec<hardshell_protocol::StoredMessage>| -> Vec<String> {
        messages.iter().map(|m| m.message.text()).collect()
    };
    assert_eq!(
        before(first.history_before(&id, 2, 10).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        before(first.history_before(&id, 3, 2).await.unwrap()),
        ["b", "c"]
    );
    // Another writer goes on: what came before message 3 stays what it was.
    let second = sessions(&store).await;
    second.append(&id, &Message::user("d")).await.unwrap();
    assert_eq!(
        before(first.history_before(&id, 3, 10).await.unwrap()),
        ["a", "b", "c"]
    );
    // Past what the store holds it reads storage.
    assert_eq!(
        before(first.history_before(&id, 4, 10).await.unwrap()),
        ["a", "b", "c", "d"]
    );
    assert_eq!(
        before(second.history_before(&id, 2, 1).await.unwrap()),
        ["b"]
    );
    let fresh = sessions(&store).await;
    assert_eq!(
        before(fresh.history_before(&id, 4, 3).await.unwrap()),
        ["b", "c", "d"]
    );
}
