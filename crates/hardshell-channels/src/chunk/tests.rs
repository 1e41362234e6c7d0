//! The chunker's promises, checked on chosen replies and, with proptest, on
//! arbitrary ones (fences, astral characters, CRLF, long words and runs of
//! whitespace included).

use proptest::prelude::*;

use super::fence::open_after;
use super::*;

/// Checks every promise `split` makes for `text` under `limit`, and returns
/// the chunks.
fn check(text: &str, limit: ChunkLimit) -> Vec<String> {
    let chunks = split(text, limit);
    let pieces = plan(text, limit);
    let rendered: Vec<String> = pieces.iter().map(Piece::render).collect();
    assert_eq!(chunks, rendered);
    let max = limit.max.max(MIN_MAX);
    for (i, chunk) in chunks.iter().enumerate() {
        let units = limit.unit.measure(chunk);
        assert!(
            units <= max,
            "chunk {i} has {units} units, over {max}: {chunk:?}"
        );
        assert!(!chunk.trim().is_empty(), "chunk {i} is empty or blank");
        assert_eq!(
            open_after(None, chunk),
            None,
            "chunk {i} leaves a fence open: {chunk:?}"
        );
    }
    // A fence closed at the end of one chunk is reopened at the top of the
    // next, by the line that opened it (or its bare marker, when too long).
    for pair in pieces.windows(2) {
        assert_eq!(
            pair[0].close.is_some(),
            pair[1].reopen.is_some(),
            "{pair:?}"
        );
        if let (Some(close), Some(reopen)) = (&pair[0].close, &pair[1].reopen) {
            let fence = Fence::opening(reopen).expect("the reopening line opens a fence");
            assert_eq!(&fence.closing(), close);
        }
    }
    assert!(pieces.first().is_none_or(|p| p.reopen.is_none()));
    // Without the added lines, the chunks are the text in order, but for
    // break whitespace.
    let mut at = 0;
    for piece in &pieces {
        let gap = &text[at..piece.range.start];
        assert!(gap.trim().is_empty(), "non-whitespace {gap:?} was dropped");
        at = piece.range.end;
    }
    assert!(
        text[at..].trim().is_empty(),
        "the text's end {:?} was dropped",
        &text[at..]
    );
    chunks
}

fn chars(max: usize) -> ChunkLimit {
    ChunkLimit {
        max,
        unit: LengthUnit::Chars,
    }
}

#[test]
fn empty_and_blank_texts_give_no_chunk() {
    assert!(check("", TELEGRAM).is_empty());
    assert!(check(" \n\t\r\n  ", TELEGRAM).is_empty());
}

#[test]
fn a_short_reply_is_one_chunk_as_written() {
    let text = "Hello!\n\n```rust\nfn main() {}\n```\n";
    assert_eq!(check(text, DISCORD), vec![text.trim_end().to_owned()]);
}

#[test]
fn breaks_prefer_a_blank_line_then_a_newline_then_whitespace() {
    let para = format!(
        "{}\n\n{}\n{}",
        "a".repeat(60),
        "b".repeat(60),
        "c".repeat(60)
    );
    assert_eq!(check(&para, chars(150))[0], "a".repeat(60));
    let lines = format!("{}\n{} {}", "a".repeat(60), "b".repeat(60), "c".repeat(60));
    assert_eq!(check(&lines, chars(150))[0], "a".repeat(60));
    let words = format!("{} {} {}", "a".repeat(60), "b".repeat(60), "c".repeat(60));
    assert_eq!(
        check(&words, chars(150)),
        [
            format!("{} {}", "a".repeat(60), "b".repeat(60)),
            "c".repeat(60)
        ]
    );
    let word = "x".repeat(300);
    assert_eq!(
        check(&word, chars(128)),
        ["x".repeat(128), "x".repeat(128), "x".repeat(44)]
    );
}

#[test]
fn a_fence_is_closed_and_reopened_with_its_info_string() {
    let code: String = (0..40).map(|i| format!("let x{i} = {i};\n")).collect();
    let text = format!("Here:\n\n```rust\n{code}```\nDone.");
    let chunks = check(&text, chars(200));
    assert!(chunks.len() > 3, "{chunks:?}");
    // The blank line after "Here:" is the preferred break.
    assert_eq!(chunks[0], "Here:");
    assert!(chunks[1].starts_with("```rust\nlet x0 = 0;") && chunks[1].ends_with("\n```"));
    for middle in &chunks[2..chunks.len() - 1] {
        assert!(middle.starts_with("```rust\nlet x"), "{middle:?}");
        assert!(middle.ends_with("\n```"), "{middle:?}");
    }
    assert!(chunks.last().unwrap().ends_with("```\nDone."));
}

#[test]
fn tilde_fences_and_longer_markers_close_with_their_own_marker() {
    let body = "y\n".repeat(100);
    let text = format!("~~~~ text\n{body}~~~~\n````\n{body}````");
    for chunk in check(&text, chars(128)) {
        assert!(
            !chunk.ends_with("\n```") || chunk.ends_with("````"),
            "{chunk:?}"
        );
    }
}

#[test]
fn an_overlong_opening_line_is_reopened_as_its_bare_marker() {
    let text = format!("```{}\n{}```", "i".repeat(40), "code\n".repeat(60));
    let chunks = check(&text, chars(128));
    assert!(chunks[1].starts_with("```\ncode"), "{:?}", chunks[1]);
}

#[test]
fn astral_characters_count_two_utf16_units_and_are_never_split() {
    let text = "😀".repeat(200);
    let chunks = check(
        &text,
        ChunkLimit {
            max: 129,
            unit: LengthUnit::Utf16,
        },
    );
    assert_eq!(
        chunks.iter().map(|c| c.chars().count()).collect::<Vec<_>>(),
        [64, 64, 64, 8]
    );
    assert_eq!(check(&text, chars(129)).len(), 2);
}

#[test]
fn a_break_inside_a_line_does_not_start_a_chunk_with_a_fence() {
    let text = format!(
        "{} {} ```{}",
        "a".repeat(100),
        "b".repeat(10),
        "c".repeat(100)
    );
    let chunks = check(&text, chars(128));
    assert!(chunks.iter().all(|c| !c.starts_with("```")), "{chunks:?}");
}

#[test]
fn whitespace_longer_than_a_chunk_is_dropped() {
    let text = format!("a\n{}b", " ".repeat(500));
    assert_eq!(check(&text, chars(128)), ["a", "b"]);
}

#[test]
fn a_20000_character_reply_with_fences_arrives_in_order_and_balanced() {
    let mut reply = String::new();
    let mut section = 0;
    while reply.chars().count() < 20_000 {
        section += 1;
        reply.push_str(&format!(
            "## Step {section}\n\nThis step explains a thing in prose, "
        ));
        reply.push_str(&"with words that wrap. ".repeat(section % 7 + 1));
        reply.push_str(&format!("\n\n```python title=\"step{section}.py\"\n"));
        for line in 0..(section % 40 + 5) {
            reply.push_str(&format!(
                "    value_{line} = compute({line}, \"é😀\")  # {section}\n"
            ));
        }
        reply.push_str("```\n\n");
    }
    let reply: String = reply.chars().take(20_000).collect();
    assert_eq!(reply.chars().count(), 20_000);
    for limit in [TELEGRAM, DISCORD, SLACK, WHATSAPP] {
        let chunks = check(&reply, limit);
        assert!(
            chunks.len() >= 20_000 / limit.max,
            "{} chunks",
            chunks.len()
        );
        let steps: Vec<usize> = chunks
            .iter()
            .flat_map(|c| c.match_indices("## Step ").map(|(at, _)| &c[at + 8..]))
            .map(|rest| rest.split('\n').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(
            steps,
            (1..=steps.len()).collect::<Vec<_>>(),
            "in order, none lost"
        );
        assert!(
            chunks
                .iter()
                .skip(1)
                .any(|c| c.starts_with("```python title=\"step"))
        );
    }
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,12}",
        2 => Just(" ".to_owned()),
        2 => Just("\n".to_owned()),
        1 => Just("\n\n".to_owned()),
        1 => Just("\r\n".to_owned()),
        1 => Just("\t".to_owned()),
        1 => Just("   ".to_owned()),
        2 => prop_oneof![Just("```"), Just("```rust"), Just("~~~"), Just("````"), Just("~~~~ x"), Just("``` a`b")]
            .prop_map(|fence| format!("\n{fence}\n")),
        1 => Just("```".to_owned()),
        1 => Just("😀".to_owned()),
        1 => Just("é".to_owned()),
        1 => "[x]{100,300}",
        1 => "[ ]{100,300}",
        1 => any::<char>().prop_map(String::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_reply_splits_within_the_limit_balanced_and_whole(
        tokens in prop::collection::vec(token(), 0..300),
        max in 100usize..600,
        utf16 in any::<bool>(),
    ) {
        let unit = if utf16 { LengthUnit::Utf16 } else { LengthUnit::Chars };
        check(&tokens.concat(), ChunkLimit { max, unit });
    }

    #[test]
    fn any_string_splits_within_the_limit(text in any::<String>(), max in 128usize..300) {
        check(&text, ChunkLimit { max, unit: LengthUnit::Utf16 });
    }
}
