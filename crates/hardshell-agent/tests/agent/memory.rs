//! Memory notes and search against a real store, directly and through the tools.

use std::sync::Arc;

use hardshell_agent::{Circle, OwnerTimeZone, ToolError};
use hardshell_agent::{
    FixedClock, HitSource, MAX_NOTE_FILE_BYTES, Memory, MemoryError, NoteDraft, Notebook,
    SessionStore, ToolContext, ToolRegistry, builtin,
};
use hardshell_llm::Message;

use crate::support::{AgentScope, TestStore, at, key, session};

async fn memory(store: &TestStore) -> (Memory, SessionStore) {
    let scope = store.agent_scope().await;
    let clock = Arc::new(FixedClock(at()));
    let sessions = SessionStore::new(scope.clone(), clock.clone());
    (Memory::new(scope, sessions.clone(), clock), sessions)
}

fn draft(title: &str, body: &str) -> NoteDraft {
    NoteDraft {
        title: title.into(),
        body: body.into(),
        tags: vec![],
    }
}

async fn note_text(store: &TestStore, slug: &str) -> Option<String> {
    let stored = store
        .agent_scope()
        .await
        .get(&key(&format!("memory/notes/{slug}.md")))
        .await
        .unwrap()?;
    Some(String::from_utf8(stored.value.to_vec()).unwrap())
}

#[tokio::test]
async fn a_saved_note_is_plain_markdown_at_its_slug() {
    let store = TestStore::new().await;
    let (memory, _) = memory(&store).await;
    let saved = memory
        .save(
            &Circle::Owner,
            &NoteDraft {
                title: "Coffee order".into(),
                body: "Two flat whites, oat milk.".into(),
                tags: vec!["Coffee".into(), "prefs".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(saved.slug, "coffee-order");
    assert!(!saved.replaced);
    let text = note_text(&store, "coffee-order").await.unwrap();
    assert_eq!(
        text,
        "---\ntitle: Coffee order\ntags: coffee, prefs\ncreated: 2026-06-01T10:00:00+00:00\n\
         updated: 2026-06-01T10:00:00+00:00\n---\n\nTwo flat whites, oat milk.\n"
    );
}

#[tokio::test]
async fn saving_the_same_slug_replaces_the_note_and_keeps_created() {
    let store = TestStore::new().await;
    let (memory, _) = memory(&store).await;
    memory
        .save(&Circle::Owner, &draft("Coffee order", "flat white"))
        .await
        .unwrap();
    let scope = store.agent_scope().await;
    let later = Arc::new(FixedClock(at() + chrono::Duration::days(1)));
    let later_memory = Memory::new(
        scope.clone(),
        SessionStore::new(scope, later.clone()),
        later,
    );
    let saved = later_memory
        .save(&Circle::Owner, &draft("coffee ORDER!", "espresso"))
        .await
        .unwrap();
    assert!(saved.replaced);
    let text = note_text(&store, "coffee-order").await.unwrap();
    assert!(
        text.contains("created: 2026-06-01T10:00:00+00:00"),
        "{text}"
    );
    assert!(
        text.contains("updated: 2026-06-02T10:00:00+00:00"),
        "{text}"
    );
    assert!(text.ends_with("\n\nespresso\n"));
    assert!(!text.contains("flat white"));
}

#[tokio::test]
async fn concurrent_saves_are_each_applied_whole() {
    let store = TestStore::new().await;
    let mut saves = Vec::new();
    for n in 0..6 {
        // Separate store handles, as separate processes would have.
        let (memory, _) = memory(&store).await;
        saves.push(tokio::spawn(async move {
            memory
                .save(
                    &Circle::Owner,
                    &draft("Shared", &format!("version {n} ").repeat(500)),
                )
                .await
                .unwrap();
            memory
                .save(&Circle::Owner, &draft(&format!("Own {n}"), "mine"))
                .await
                .unwrap()
        }));
    }
    for save in saves {
        save.await.unwrap();
    }
    let shared = note_text(&store, "shared").await.unwrap();
    let body = shared.split("---\n\n").nth(1).unwrap().trim_end();
    let winner = (0..6)
        .map(|n| format!("version {n} ").repeat(500))
        .find(|b| b.trim_end() == body);
    assert!(winner.is_some(), "the note is not one save, whole");
    for n in 0..6 {
        assert!(note_text(&store, &format!("own-{n}")).await.is_some());
    }
}

#[tokio::test]
async fn invalid_notes_are_refused() {
    let store = TestStore::new().await;
    let (memory, _) = memory(&store).await;
    for bad in [
        draft("  \n ", "body"),
        draft("title", "   "),
        draft(
            "title",
            &"x".repeat(hardshell_agent::MAX_NOTE_BODY_BYTES + 1),
        ),
    ] {
        assert!(matches!(
            memory.save(&Circle::Owner, &bad).await,
            Err(MemoryError::InvalidNote { .. })
        ));
    }
    assert!(store.agent_scope().await.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_short_note_repeating_the_term_outranks_a_long_single_mention() {
    let store = TestStore::new().await;
    let (memory, _) = memory(&store).await;
    memory
        .save(
            &Circle::Owner,
            &draft(
                "Travel diary",
                &format!(
                    "{} and once an espresso in Rome.",
                    "Trains, museums, long walks. ".repeat(40)
                ),
            ),
        )
        .await
        .unwrap();
    memory
        .save(
            &Circle::Owner,
            &draft("Coffee", "Espresso. Always espresso, a double espresso."),
        )
        .await
        .unwrap();
    memory
        .save(&Circle::Owner, &draft("Tea", "Green tea at four."))
        .await
        .unwrap();
    let hits = memory
        .search(&Circle::Owner, "espresso", 5, None)
        .await
        .unwrap();
    let slugs: Vec<&str> = hits
        .iter()
        .map(|h| match &h.source {
            HitSource::Note { slug, .. } => slug.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(slugs, ["coffee", "travel-diary"]);
    assert!(hits[0].score > hits[1].score);
    assert!(
        hits[1].snippet.contains("espresso in Rome"),
        "{}",
        hits[1].snippet
    );
}

#[tokio::test]
async fn search_matches_exact_terms_only_and_may_find_nothing() {
    let store = TestStore::new().await;
    let (memory, _) = memory(&store).await;
    memory
        .save(
            &Circle::Owner,
            &draft("Order", "Two coffees for the office"),
        )
        .await
        .unwrap();
    assert!(
        memory
            .search(&Circle::Owner, "coffee", 5, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        memory
            .search(&Circle::Owner, "zebra", 5, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        memory
            .search(&Circle::Owner, "the of", 5, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        memory
            .search(&Circle::Owner, "COFFEES", 5, None)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn search_finds_past_conversations_but_not_the_current_turn() {
    let store = TestStore::new().await;
    let (memory, sessions) = memory(&store).await;
    let old = session("web-7");
    sessions
        .append(&old, &Message::user("my passport number ends in 4242"))
        .await
        .unwrap();
    sessions
        .append(&old, &Message::assistant("Noted the passport."))
        .await
        .unwrap();
    let now = session("web-now");
    let turn_seq = sessions
        .append(&now, &Message::user("what is my passport number?"))
        .await
        .unwrap();
    let hits = memory
        .search(&Circle::Owner, "passport number", 5, Some((&now, turn_seq)))
        .await
        .unwrap();
    assert_eq!(hits.len(), 2, "{hits:#?}");
    assert!(matches!(
        &hits[0].source,
        HitSource::Message { session, seq: 0, .. } if *session == old
    ));
    assert!(hits[0].snippet.contains("4242"));
    // Without the exclusion the question itself is found too.
    assert_eq!(
        memory
            .search(&Circle::Owner, "passport", 5, None)
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn search_sees_notes_the_owner_edited_by_hand() {
    let store = TestStore::new().await;
    let (memory, _) = memory(&store).await;
    memory
        .save(&Circle::Owner, &draft("Plants", "water the fern"))
        .await
        .unwrap();
    assert_eq!(
        memory
            .search(&Circle::Owner, "fern", 5, None)
            .await
            .unwrap()
            .len(),
        1
    );
    let scope = store.agent_scope().await;
    scope
        .put(
            &key("memory/notes/plants.md"),
            b"# Plants\n\nwater the cactus monthly",
        )
        .await
        .unwrap();
    assert!(
        memory
            .search(&Circle::Owner, "fern", 5, None)
            .await
            .unwrap()
            .is_empty()
    );
    let hits = memory
        .search(&Circle::Owner, "cactus", 5, None)
        .await
        .unwrap();
    assert!(matches!(
        &hits[0].source,
        HitSource::Note { slug, title } if slug == "plants" && title == "Plants"
    ));
}

#[tokio::test]
async fn memory_tools_save_and_search_through_the_registry() {
    let store = TestStore::new().await;
    let (memory, _) = memory(&store).await;
    let mut tools = ToolRegistry::new();
    builtin::register_builtin_tools(
        &mut tools,
        &memory,
        Arc::new(FixedClock(at())),
        OwnerTimeZone::utc(),
    )
    .unwrap();
    let cx = ToolContext::new(session("web-tools"), 0);
    let saved = tools
        .dispatch(
            "memory_save",
            r#"{"title":"Bike","body":"The bike lock code is 1234","tags":["bike"]}"#,
            &cx,
        )
        .await
        .unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved.content).unwrap();
    assert_eq!(saved["saved"], "memory/notes/bike.md");
    let found = tools
        .dispatch("memory_search", r#"{"query":"lock code","limit":3}"#, &cx)
        .await
        .unwrap();
    let found: serde_json::Value = serde_json::from_str(&found.content).unwrap();
    assert_eq!(found["results"][0]["source"]["kind"], "note");
    assert_eq!(found["results"][0]["source"]["slug"], "bike");
    let none = tools
        .dispatch("memory_search", r#"{"query":"submarine"}"#, &cx)
        .await
        .unwrap();
    assert_eq!(none.content.replace([' ', '\n'], ""), r#"{"results":[]}"#);
    for bad in [r#"{"title":"x"}"#, r#"{"title":"x","body":"y","extra":1}"#] {
        assert!(matches!(
            tools.dispatch("memory_save", bad, &cx).await,
            Err(hardshell_agent::DispatchError::Tool(
                ToolError::InvalidArguments { .. }
            ))
        ));
    }
    assert!(
        tools
            .dispatch("memory_search", r#"{"query":" "}"#, &cx)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn current_time_reports_utc_and_the_owner_offset() {
    let store = TestStore::new().await;
    let (memory, _) = memory(&store).await;
    let mut tools = ToolRegistry::new();
    builtin::register_builtin_tools(
        &mut tools,
        &memory,
        Arc::new(FixedClock(at())),
        OwnerTimeZone::new(Some("America/New_York"), Some("-04:00")).unwrap(),
    )
    .unwrap();
    let out = tools
        .dispatch("current_time", "{}", &ToolContext::new(session("web-t"), 0))
        .await
        .unwrap();
    let out: serde_json::Value = serde_json::from_str(&out.content).unwrap();
    assert_eq!(out["utc"], "2026-06-01T10:00:00Z");
    assert_eq!(out["local"], "2026-06-01T06:00:00-04:00");
    assert_eq!(out["time_zone"], "America/New_York");
    assert_eq!(out["utc_offset"], "-04:00");
    assert_eq!(out["weekday"], "Monday");
}

#[tokio::test]
async fn the_owner_lists_reads_and_edits_notes_as_files() {
    let store = TestStore::new().await;
    let (memory, _) = memory(&store).await;
    memory
        .save(&Circle::Owner, &draft("Coffee order", "Two flat whites."))
        .await
        .unwrap();
    let notebook = Notebook::new(&store.agent_scope().await).unwrap();
    let listed = notebook.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].slug, "coffee-order");
    assert_eq!(listed[0].title, "Coffee order");

    let file = notebook.read("coffee-order").await.unwrap().unwrap();
    assert!(file.text.contains("Two flat whites."));
    let edited = file
        .text
        .replace("Two flat whites.", "One espresso, no sugar.");
    notebook
        .write("coffee-order", &edited, Some(&file.version))
        .await
        .unwrap();

    // The agent searches what the owner wrote.
    let hits = memory
        .search(&Circle::Owner, "espresso", 5, None)
        .await
        .unwrap();
    assert!(
        matches!(&hits[0].source, HitSource::Note { slug, .. } if slug == "coffee-order"),
        "{hits:?}"
    );
    assert!(
        memory
            .search(&Circle::Owner, "flat whites", 5, None)
            .await
            .unwrap()
            .is_empty()
    );

    // A note the owner writes from scratch, without front matter, is found too.
    notebook
        .write("holiday", "# Holiday\n\nLisbon in May.\n", None)
        .await
        .unwrap();
    let hits = memory
        .search(&Circle::Owner, "lisbon", 5, None)
        .await
        .unwrap();
    assert!(
        matches!(&hits[0].source, HitSource::Note { title, .. } if title == "Holiday"),
        "{hits:?}"
    );
    assert!(notebook.delete("holiday").await.unwrap());
    assert!(!notebook.delete("holiday").await.unwrap());
    assert!(notebook.read("holiday").await.unwrap().is_none());
}

#[tokio::test]
async fn an_edit_never_overwrites_a_note_that_changed_meanwhile() {
    let store = TestStore::new().await;
    let (memory, _) = memory(&store).await;
    memory
        .save(&Circle::Owner, &draft("Plans", "Read a book."))
        .await
        .unwrap();
    let notebook = Notebook::new(&store.agent_scope().await).unwrap();
    let file = notebook.read("plans").await.unwrap().unwrap();

    // The agent saves while the owner's editor is open.
    memory
        .save(&Circle::Owner, &draft("Plans", "Read two books."))
        .await
        .unwrap();
    let error = notebook
        .write("plans", "Watch a film.", Some(&file.version))
        .await
        .unwrap_err();
    assert!(matches!(error, MemoryError::Changed { .. }), "{error}");
    assert!(
        note_text(&store, "plans")
            .await
            .unwrap()
            .contains("Read two books.")
    );

    // Creating a note that exists is the same conflict, not an overwrite.
    let error = notebook.write("plans", "Sleep.", None).await.unwrap_err();
    assert!(matches!(error, MemoryError::Changed { .. }), "{error}");
    assert!(
        note_text(&store, "plans")
            .await
            .unwrap()
            .contains("Read two books.")
    );
}

#[tokio::test]
async fn the_notebook_refuses_names_that_are_not_slugs_and_empty_or_huge_notes() {
    let store = TestStore::new().await;
    let notebook = Notebook::new(&store.agent_scope().await).unwrap();
    for bad in [
        "",
        "../sessions/x",
        "a/b",
        "Capital",
        "trailing-",
        "-leading",
        "double--dash",
        "dot.md",
        &"x".repeat(81),
    ] {
        let error = notebook.write(bad, "text", None).await.unwrap_err();
        assert!(
            matches!(error, MemoryError::InvalidNote { .. }),
            "{bad:?}: {error}"
        );
        assert!(notebook.read(bad).await.is_err(), "{bad:?}");
        assert!(notebook.delete(bad).await.is_err(), "{bad:?}");
    }
    for empty in ["", "  \n\t"] {
        assert!(notebook.write("ok", empty, None).await.is_err());
    }
    let huge = "x".repeat(MAX_NOTE_FILE_BYTES + 1);
    assert!(notebook.write("ok", &huge, None).await.is_err());
    assert!(
        notebook.list().await.unwrap().is_empty(),
        "nothing was stored"
    );
    // Nothing outside memory/notes was touched either.
    assert!(store.agent_scope().await.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_channel_guest_remembers_apart_from_the_owner_and_sees_nothing_of_theirs() {
    let store = TestStore::new().await;
    let (memory, sessions) = memory(&store).await;
    let owner_tag = hardshell_protocol::subject_tag("owner");
    let guest_tag = hardshell_protocol::subject_tag("telegram:555");
    let owners_chat = session(&format!("telegram-{owner_tag}-01"));
    let guests_chat = session(&format!("telegram-{guest_tag}-01"));
    let guest = Circle::of(&guests_chat);
    assert_eq!(Circle::of(&owners_chat), Circle::Owner);
    sessions
        .append(&owners_chat, &Message::user("my bank pin is 9911"))
        .await
        .unwrap();
    memory
        .save(&Circle::Owner, &draft("Bank", "the bank pin is 9911"))
        .await
        .unwrap();
    sessions
        .append(&guests_chat, &Message::user("my locker code is 5150"))
        .await
        .unwrap();
    memory
        .save(&guest, &draft("Locker", "locker code 5150"))
        .await
        .unwrap();

    // The guest finds its own, nothing of the owner's.
    assert!(
        memory
            .search(&guest, "pin bank 9911", 5, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        memory
            .search(&guest, "locker", 5, None)
            .await
            .unwrap()
            .len(),
        2
    );
    // The owner, from the web or a linked account, nothing of the guest's.
    assert!(
        memory
            .search(&Circle::Owner, "locker 5150", 5, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        memory
            .search(&Circle::Owner, "pin", 5, None)
            .await
            .unwrap()
            .len(),
        2
    );
    // The guest's notes are apart from the owner's notebook.
    assert!(note_text(&store, "locker").await.is_none());
    assert!(note_text(&store, "bank").await.is_some());
}
