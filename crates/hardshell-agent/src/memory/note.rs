//! Memory notes as the owner sees them: plain markdown files with a small front
//! matter block, readable and editable by hand.
//!
//! ```text
//! ---
//! title: Coffee order
//! tags: coffee, preferences
//! created: 2026-06-01T10:00:00+00:00
//! updated: 2026-06-02T08:30:00+00:00
//! ---
//!
//! Two flat whites, oat milk.
//! ```
//!
//! The front matter is optional when reading: a note the owner wrote without one
//! takes its title from its first `# heading`, or else from its file name.

use chrono::{DateTime, Utc};

/// Longest slug, in bytes; well under a storage key segment with `.md`.
const MAX_SLUG_LEN: usize = 80;
/// Longest title, in characters.
pub(crate) const MAX_TITLE_CHARS: usize = 200;
/// Most tags a note keeps.
pub(crate) const MAX_TAGS: usize = 20;

/// A note read back from storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    pub title: String,
    pub tags: Vec<String>,
    pub created: Option<DateTime<Utc>>,
    pub body: String,
}

/// The file name stem for a title: lower-case ASCII letters and digits, runs of
/// anything else as one `-`. A title with no such characters at all (`日記`) gets
/// `note-` and a hash of the title, so saving it again still finds the same note.
pub(crate) fn slug(title: &str) -> String {
    let slug = ascii_slug(title);
    if slug.is_empty() {
        format!("note-{:016x}", fnv1a(title.as_bytes()))
    } else {
        slug
    }
}

/// Whether `text` is a slug as [`slug`] makes them.
pub(crate) fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_SLUG_LEN
        && !text.starts_with('-')
        && !text.ends_with('-')
        && !text.contains("--")
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Lower-case ASCII letters and digits, runs of anything else as one `-`; empty
/// when `text` has none.
fn ascii_slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(MAX_SLUG_LEN);
    slug.trim_end_matches('-').to_owned()
}

/// FNV-1a, 64 bits: a stable, dependency-free name for titles without ASCII
/// letters. Not a security boundary; a collision only makes two notes share a file.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A title on one line, cut to [`MAX_TITLE_CHARS`].
pub(crate) fn clean_title(title: &str) -> String {
    let line = title.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(MAX_TITLE_CHARS).collect()
}

/// Tags as slugs, without duplicates or empties, at most [`MAX_TAGS`].
pub(crate) fn clean_tags(tags: &[String]) -> Vec<String> {
    let mut clean: Vec<String> = Vec::new();
    for tag in tags {
        let tag = ascii_slug(tag);
        if !tag.is_empty() && !clean.contains(&tag) && clean.len() < MAX_TAGS {
            clean.push(tag);
        }
    }
    clean
}

pub(crate) fn render(note: &Note, updated: DateTime<Utc>) -> String {
    let mut text = String::from("---\n");
    text.push_str(&format!("title: {}\n", note.title));
    if !note.tags.is_empty() {
        text.push_str(&format!("tags: {}\n", note.tags.join(", ")));
    }
    let created = note.created.unwrap_or(updated);
    text.push_str(&format!("created: {}\n", created.to_rfc3339()));
    text.push_str(&format!("updated: {}\n", updated.to_rfc3339()));
    text.push_str("---\n\n");
    text.push_str(note.body.trim_end());
    text.push('\n');
    text
}

/// Reads a note, tolerating whatever the owner's editor left: no front matter,
/// unknown keys, Windows line endings.
pub(crate) fn parse(slug: &str, text: &str) -> Note {
    let text = text.replace("\r\n", "\n");
    let (front, body) = split_front_matter(&text);
    let mut note = Note {
        title: String::new(),
        tags: Vec::new(),
        created: None,
        body: body.trim().to_owned(),
    };
    for line in front.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "title" => note.title = clean_title(value),
            "tags" => {
                let tags: Vec<String> = value
                    .trim_matches(|c| c == '[' || c == ']')
                    .split(',')
                    .map(str::to_owned)
                    .collect();
                note.tags = clean_tags(&tags);
            }
            "created" => {
                note.created = DateTime::parse_from_rfc3339(value).ok().map(|t| t.to_utc());
            }
            _ => {}
        }
    }
    if note.title.is_empty() {
        note.title = note
            .body
            .lines()
            .find_map(|line| line.strip_prefix("# "))
            .map(clean_title)
            .unwrap_or_else(|| slug.to_owned());
    }
    note
}

fn split_front_matter(text: &str) -> (&str, &str) {
    let Some(rest) = text.strip_prefix("---\n") else {
        return ("", text);
    };
    match rest.find("\n---") {
        Some(end) => {
            let after = &rest[end + 4..];
            let body = after.split_once('\n').map_or("", |(_, body)| body);
            (&rest[..end], body)
        }
        None => ("", text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_ascii_words() {
        assert_eq!(slug("Coffee order"), "coffee-order");
        assert_eq!(
            slug("  Trip: Rome / Naples (2026)! "),
            "trip-rome-naples-2026"
        );
        assert_eq!(slug("Café au lait"), "caf-au-lait");
        assert_eq!(slug(&"x".repeat(300)).len(), MAX_SLUG_LEN);
    }

    #[test]
    fn titles_without_ascii_get_a_stable_hashed_slug() {
        let first = slug("日記");
        assert!(first.starts_with("note-"), "{first}");
        assert_eq!(first, slug("日記"));
        assert_ne!(first, slug("日本"));
        assert!(hardshell_storage::ObjectKey::segment(&format!("{first}.md")).is_ok());
    }

    #[test]
    fn rendered_notes_parse_back() {
        let at = DateTime::parse_from_rfc3339("2026-06-01T10:00:00Z")
            .unwrap()
            .to_utc();
        let note = Note {
            title: "Coffee order".into(),
            tags: vec!["coffee".into(), "prefs".into()],
            created: Some(at),
            body: "Two flat whites.\n\n---\nnot front matter".into(),
        };
        let text = render(&note, at);
        assert!(text.starts_with("---\ntitle: Coffee order\ntags: coffee, prefs\n"));
        assert_eq!(parse("coffee-order", &text), note);
    }

    #[test]
    fn hand_written_notes_are_read_leniently() {
        let plain = parse("groceries", "# Shopping list\r\n\r\n- milk\r\n");
        assert_eq!(plain.title, "Shopping list");
        assert_eq!(plain.body, "# Shopping list\n\n- milk");
        let bare = parse("groceries", "milk, eggs");
        assert_eq!(bare.title, "groceries");
        let unclosed = parse("x", "---\ntitle: never closed");
        assert_eq!(unclosed.body, "---\ntitle: never closed");
        let odd = parse("x", "---\ntags: [A b, a-b, ,]\nfoo: bar\n---\nbody");
        assert_eq!(odd.tags, ["a-b"]);
        assert_eq!(odd.body, "body");
    }
}
