//! Object keys: every key a client or a stored record can name passes
//! `ObjectKey::parse` before it reaches storage.
//!
//! Input: one or two candidate keys separated by a NUL byte (NUL is refused in
//! keys, so the separator never hides a valid key).
//!
//! Properties: never panics; an accepted key is plainly relative
//! (`[A-Za-z0-9._-]` segments joined by `/`, none empty or starting with `.`,
//! within the length limits) and prints as itself; `segment` accepts exactly the
//! one-segment keys; errors print on one line with control characters escaped;
//! `join` and `strip_prefix` are inverses and never leave the prefix.
#![no_main]

use hardshell_fuzz::split_at_byte;
use hardshell_storage::{MAX_KEY_LEN, MAX_SEGMENT_LEN, ObjectKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (first, second) = split_at_byte(data, 0);
    let (Ok(first), Ok(second)) = (std::str::from_utf8(first), std::str::from_utf8(second)) else {
        return;
    };
    let a = check_one(first);
    let b = check_one(second);
    if let (Some(a), Some(b)) = (a, b) {
        check_pair(&a, &b);
        check_pair(&b, &a);
    }
});

fn check_one(text: &str) -> Option<ObjectKey> {
    let parsed = ObjectKey::parse(text);
    let as_segment = ObjectKey::segment(text);
    assert_eq!(
        as_segment.is_ok(),
        parsed.is_ok() && !text.contains('/'),
        "segment({text:?}) disagrees with parse"
    );
    match parsed {
        Ok(key) => {
            assert_accepted_shape(key.as_str());
            assert_eq!(key.as_str(), text);
            assert_eq!(key.to_string(), text);
            assert_eq!(text.parse::<ObjectKey>().ok().as_ref(), Some(&key));
            assert_eq!(Some(key.name()), text.rsplit('/').next());
            Some(key)
        }
        Err(err) => {
            let shown = err.to_string();
            assert!(
                !shown.chars().any(char::is_control),
                "error is not one clean line: {shown:?}"
            );
            None
        }
    }
}

fn assert_accepted_shape(key: &str) {
    assert!(
        !key.is_empty() && key.len() <= MAX_KEY_LEN,
        "{key:?}: length"
    );
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)),
        "{key:?}: character"
    );
    for segment in key.split('/') {
        assert!(
            !segment.is_empty() && segment.len() <= MAX_SEGMENT_LEN,
            "{key:?}: segment length"
        );
        assert!(!segment.starts_with('.'), "{key:?}: dot segment");
    }
}

fn check_pair(prefix: &ObjectKey, child: &ObjectKey) {
    match prefix.join(child) {
        Ok(joined) => {
            assert_accepted_shape(joined.as_str());
            assert_eq!(
                ObjectKey::parse(joined.as_str()).ok().as_ref(),
                Some(&joined)
            );
            assert_eq!(joined.strip_prefix(prefix).as_ref(), Some(child));
        }
        Err(_) => assert!(
            prefix.as_str().len() + 1 + child.as_str().len() > MAX_KEY_LEN,
            "join({prefix:?}, {child:?}) refused a key within the limit"
        ),
    }
    if let Some(rest) = child.strip_prefix(prefix) {
        assert_accepted_shape(rest.as_str());
        assert_eq!(prefix.join(&rest).ok().as_ref(), Some(child));
        // Segment boundaries: `agents/x` is not under `agent`.
        assert!(child.as_str().starts_with(&format!("{}/", prefix.as_str())));
    }
}
