//! Sealed objects as read back from storage, which a bucket's operator (or
//! anyone who can write to it) controls.
//!
//! Two kinds of input, chosen by the first byte:
//! - even: the rest is a stored object; `open` must refuse it, since no input
//!   can carry a valid tag under a key the fuzzer never sees sealing with.
//! - odd: the rest is an object key, a plaintext and a list of edits. The
//!   plaintext is sealed under the key, the edits (flip, cut, append, replace)
//!   are applied, and the result is opened: it must give back the plaintext when
//!   no byte changed and be refused otherwise. Opening the untouched object
//!   under another key must be refused too.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use hardshell_fuzz::fixed_master_key;
use hardshell_storage::envelope::{self, EnvelopeError};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct SealThenEdit {
    object_key: String,
    other_key: String,
    plaintext: Vec<u8>,
    edits: Vec<Edit>,
}

#[derive(Debug, Arbitrary)]
enum Edit {
    Flip { at: u16, mask: u8 },
    Cut { len: u16 },
    Append { bytes: Vec<u8> },
    Replace { at: u16, bytes: Vec<u8> },
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let master = fixed_master_key();
    if mode % 2 == 0 {
        let opened = envelope::open(&master, "objects/fuzz", rest);
        assert!(opened.is_err(), "opened bytes that were never sealed");
        return;
    }
    let Ok(input) = SealThenEdit::arbitrary_take_rest(Unstructured::new(rest)) else {
        return;
    };
    let sealed = match envelope::seal(&master, &input.object_key, &input.plaintext) {
        Ok(sealed) => sealed,
        Err(EnvelopeError::Random) => return,
        Err(err) => panic!("sealing failed: {err}"),
    };
    assert_eq!(sealed.len(), input.plaintext.len() + envelope::OVERHEAD);

    let mut edited = sealed.clone();
    for edit in &input.edits {
        apply(&mut edited, edit);
    }
    let opened = envelope::open(&master, &input.object_key, &edited);
    if edited == sealed {
        let opened = opened.unwrap_or_else(|e| panic!("an untouched object did not open: {e}"));
        assert_eq!(opened.as_slice(), input.plaintext.as_slice());
    } else {
        assert!(
            opened.is_err(),
            "an edited object opened: {:?}",
            input.edits
        );
    }
    if input.other_key != input.object_key {
        assert!(
            envelope::open(&master, &input.other_key, &sealed).is_err(),
            "an object opened under another key"
        );
    }
});

fn apply(object: &mut Vec<u8>, edit: &Edit) {
    match edit {
        Edit::Flip { at, mask } => {
            if let Some(byte) = object.get_mut(usize::from(*at)) {
                *byte ^= mask;
            }
        }
        Edit::Cut { len } => object.truncate(usize::from(*len)),
        Edit::Append { bytes } => object.extend_from_slice(bytes),
        Edit::Replace { at, bytes } => {
            for (offset, byte) in bytes.iter().enumerate() {
                if let Some(slot) = object.get_mut(usize::from(*at) + offset) {
                    *slot = *byte;
                }
            }
        }
    }
}
