//! What the Cloud API's media are, as data: the shape of a media id, the
//! types a file is named or sent by, and the SHA-256 Meta gives for a file.
//! (developers.facebook.com/docs/whatsapp/cloud-api/reference/media,
//! "Supported Media Types".)

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::super::error::WhatsappError;

/// Longest media id taken. Meta's are 15 to 17 digits.
pub const MAX_MEDIA_ID_DIGITS: usize = 32;
/// Longest document name sent (what `network::clean` keeps whole).
const MAX_DOCUMENT_NAME_CHARS: usize = crate::network::MAX_TEXT_CHARS;

/// The media types a received file is named by, with the extension it is
/// given. Anything else is named `.bin`: a name never says more than the
/// type Meta checked.
const RECEIVED: [(&str, &str); 11] = [
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/webp", "webp"),
    ("text/plain", "txt"),
    ("application/pdf", "pdf"),
    ("application/msword", "doc"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
    ("application/vnd.ms-excel", "xls"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
    ("application/vnd.ms-powerpoint", "ppt"),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "pptx",
    ),
];

/// The document types the Cloud API takes, by extension: the last seven
/// rows of [`RECEIVED`], whose first four are images and plain text.
fn document_types() -> &'static [(&'static str, &'static str)] {
    &RECEIVED[4..]
}

/// A media id: digits only, bounded, so it is one plain path segment.
pub(crate) fn is_media_id(text: &str) -> bool {
    (1..=MAX_MEDIA_ID_DIGITS).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// The extension for a received file of `mime_type` (parameters such as
/// `; codecs=` ignored), `bin` for a type not in the list.
pub(crate) fn extension(mime_type: Option<&str>) -> &'static str {
    let essence = mime_type
        .and_then(|text| text.split(';').next())
        .map(|text| text.trim().to_ascii_lowercase());
    RECEIVED
        .iter()
        .find(|(mime, _)| Some(*mime) == essence.as_deref())
        .map_or("bin", |(_, extension)| extension)
}

/// A name the Cloud API and a filename header can carry: printable (no
/// control or bidi character), bounded, without quotes, slashes or
/// backslashes.
pub(crate) fn is_document_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.chars().count() <= MAX_DOCUMENT_NAME_CHARS
        && crate::network::clean(name, &[]) == name
        && !name.contains(['"', '/', '\\'])
}

/// The type a document `name` with `bytes` is uploaded as: Meta's type for
/// its extension, or plain text for any other name whose content is UTF-8
/// (a script, a CSV, a log). Other content is not sent: the Cloud API
/// takes documents of its listed types only.
pub(crate) fn document_type(name: &str, bytes: &[u8]) -> Result<&'static str, WhatsappError> {
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase());
    if let Some(found) = document_types()
        .iter()
        .find(|(_, known)| Some(*known) == extension.as_deref())
    {
        return Ok(found.0);
    }
    if std::str::from_utf8(bytes).is_ok() {
        return Ok("text/plain");
    }
    Err(WhatsappError::Argument(
        "whatsapp takes documents of its own types only (txt, pdf, doc, docx, xls, xlsx, ppt, pptx) or text; this file is neither",
    ))
}

/// The SHA-256 Meta gave for a file, in hex (64 digits) or base64 (both are
/// seen in its answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sha256Sum([u8; 32]);

impl Sha256Sum {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let decoded = if text.len() == 64 {
            hex::decode(text).ok()?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()?
        };
        decoded.try_into().ok().map(Self)
    }

    /// Whether `bytes` are the file Meta described.
    pub(crate) fn check(&self, bytes: &[u8]) -> Result<(), WhatsappError> {
        let actual: [u8; 32] = Sha256::digest(bytes).into();
        // Both sides are public (Meta's claim, the bytes received): no
        // need for a constant-time comparison.
        if actual == self.0 {
            Ok(())
        } else {
            Err(WhatsappError::Digest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ids_are_bounded_digits() {
        assert!(is_media_id("1037543291543636"));
        for bad in [
            "",
            "12a",
            "../1",
            "1?x=2",
            "1/2",
            "１２",
            " 12",
            &"1".repeat(MAX_MEDIA_ID_DIGITS + 1),
        ] {
            assert!(!is_media_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_received_file_is_named_by_an_allowlisted_type_only() {
        assert_eq!(extension(Some("image/jpeg")), "jpg");
        assert_eq!(extension(Some("IMAGE/PNG; charset=x")), "png");
        assert_eq!(extension(Some("application/pdf")), "pdf");
        for other in [
            Some("application/x-sh"),
            Some("text/html"),
            Some("image/svg+xml"),
            Some("application/x-msdownload"),
            Some(""),
            None,
        ] {
            assert_eq!(extension(other), "bin", "{other:?}");
        }
    }

    #[test]
    fn document_names_are_printable_and_plain() {
        assert!(is_document_name("report 2026 (final).pdf"));
        assert!(is_document_name("résumé.txt"));
        for bad in [
            "",
            "  ",
            "a/b.txt",
            "..\\x.txt",
            "say\"hi\".txt",
            "line\nbreak.txt",
            "txt.\u{202E}fdp",
            &"x".repeat(MAX_DOCUMENT_NAME_CHARS + 1),
        ] {
            assert!(!is_document_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_document_is_sent_as_metas_type_for_its_extension_or_as_text() {
        assert_eq!(
            document_type("Report.PDF", b"%PDF").unwrap(),
            "application/pdf"
        );
        assert_eq!(
            document_type("x.docx", &[0xff]).unwrap(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        // Text under any name is text, never what its name suggests.
        assert_eq!(document_type("run.sh", b"echo hi").unwrap(), "text/plain");
        assert_eq!(document_type("page.html", b"<b>").unwrap(), "text/plain");
        assert_eq!(document_type("photo.jpg", b"text").unwrap(), "text/plain");
        // Binary content of another type is not sent.
        for name in ["photo.jpg", "tool.exe", "no-extension"] {
            assert!(
                matches!(
                    document_type(name, &[0xff, 0xfe, 0x00]),
                    Err(WhatsappError::Argument(_))
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn a_digest_in_hex_or_base64_is_checked() {
        let hex = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
        let sum = Sha256Sum::parse(hex).unwrap();
        assert_eq!(sum.check(b"hello world"), Ok(()));
        assert_eq!(sum.check(b"hello world!"), Err(WhatsappError::Digest));
        let base64 = "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=";
        assert_eq!(Sha256Sum::parse(base64), Some(sum));
        for bad in ["", "abc", &hex[..62], &"zz".repeat(32), "aGVsbG8="] {
            assert_eq!(Sha256Sum::parse(bad), None, "{bad:?}");
        }
    }
}
