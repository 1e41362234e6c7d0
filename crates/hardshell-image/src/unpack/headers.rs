//! What a layer's headers may say, checked before anything is written: the
//! raw pre-pass over extension headers, and a path split into plain components.

use std::io::Read;

use super::UnpackError;

/// The largest long name, long link target or PAX extension record accepted.
pub const MAX_EXTENSION_BYTES: u64 = 1 << 20;

/// Checks a layer's raw headers without reading their contents.
pub(crate) fn preflight(layer: impl Read) -> Result<(), UnpackError> {
    let mut archive = tar::Archive::new(layer);
    for entry in archive.entries().map_err(UnpackError::Read)?.raw(true) {
        let entry = entry.map_err(UnpackError::Read)?;
        let header = entry.header();
        let kind = header.entry_type();
        let size = header.size().map_err(UnpackError::Read)?;
        let extension = kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        if extension && size > MAX_EXTENSION_BYTES {
            return Err(UnpackError::ExtensionTooLarge {
                size,
                limit: MAX_EXTENSION_BYTES,
            });
        }
        if kind.is_gnu_sparse() {
            let path = String::from_utf8_lossy(&header.path_bytes()).into_owned();
            return Err(UnpackError::EntryType {
                path,
                kind: "GNU sparse file".into(),
            });
        }
    }
    Ok(())
}

/// Splits a layer path into plain components; `None` for the root itself.
pub(crate) fn components(raw: &[u8]) -> Result<Option<Vec<String>>, UnpackError> {
    let text = std::str::from_utf8(raw).map_err(|_| UnpackError::NotUtf8)?;
    // A leading `/` names the image's root, as for every image tool (umoci
    // and others write `/`, `/bin/sh`): the entry is placed beneath the root
    // like any other, since every write is resolved from the root's
    // descriptor, never from the host's `/`.
    let mut out = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(UnpackError::Traversal(text.to_owned())),
            part => out.push(part.to_owned()),
        }
    }
    Ok(if out.is_empty() { None } else { Some(out) })
}
