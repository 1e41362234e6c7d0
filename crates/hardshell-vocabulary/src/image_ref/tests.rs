#![allow(clippy::unwrap_used)]
use super::*;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn registry(image: &ImageRef) -> (&str, &str) {
    match image.source() {
        ImageSource::Registry {
            registry,
            repository,
        } => (registry, repository),
        ImageSource::Layout { .. } => panic!("not a registry reference: {image}"),
    }
}

#[test]
fn a_pinned_registry_reference_splits_into_its_parts() {
    let text = format!("ghcr.io/openclaw/openclaw:2026.9.6@sha256:{HEX}");
    let image = ImageRef::parse(&text).unwrap();
    assert_eq!(registry(&image), ("ghcr.io", "openclaw/openclaw"));
    assert_eq!(image.tag(), Some("2026.9.6"));
    assert_eq!(image.digest().unwrap().to_string(), format!("sha256:{HEX}"));
    assert!(image.is_pinned());
    assert_eq!(image.to_string(), text);
    assert_eq!(image.image_name(), Some("openclaw"));
}

#[test]
fn docker_hub_names_are_normalised() {
    let image = ImageRef::parse("debian").unwrap();
    assert_eq!(registry(&image), ("docker.io", "library/debian"));
    assert_eq!(image.tag(), Some("latest"));
    assert!(!image.is_pinned());
    let image = ImageRef::parse("node:24").unwrap();
    assert_eq!(image.to_string(), "docker.io/library/node:24");
    let image = ImageRef::parse("index.docker.io/openclaw/openclaw:1.0").unwrap();
    assert_eq!(registry(&image), ("docker.io", "openclaw/openclaw"));
    assert_eq!(image.to_string(), "docker.io/openclaw/openclaw:1.0");
}

#[test]
fn a_registry_port_is_not_a_tag_and_a_digest_alone_implies_no_tag() {
    let text = format!("127.0.0.1:5000/team/app:2026.9.6@sha256:{HEX}");
    let image = ImageRef::parse(&text).unwrap();
    assert_eq!(registry(&image), ("127.0.0.1:5000", "team/app"));
    assert_eq!(image.tag(), Some("2026.9.6"));
    assert_eq!(image.to_string(), text);
    let image = ImageRef::parse(&format!("localhost:5000/app@sha256:{HEX}")).unwrap();
    assert_eq!(registry(&image), ("localhost:5000", "app"));
    assert_eq!(image.tag(), None);
    assert_eq!(
        image.to_string(),
        format!("localhost:5000/app@sha256:{HEX}")
    );
}

#[test]
fn an_oci_layout_is_an_absolute_plain_path_with_an_optional_tag() {
    let image = ImageRef::parse(&format!("oci:/srv/images/app:v1@sha256:{HEX}")).unwrap();
    assert_eq!(
        image.source(),
        &ImageSource::Layout {
            path: "/srv/images/app".into()
        }
    );
    assert_eq!(image.tag(), Some("v1"));
    assert!(image.is_pinned());
    assert_eq!(image.image_name(), None);
    let image = ImageRef::parse("oci:/srv/images/app").unwrap();
    assert!(!image.is_pinned());
    assert_eq!(image.tag(), None);
    assert!(image.how_to_pin().contains("/srv/images/app/index.json"));
    for bad in [
        "oci:images/openclaw",
        "oci:relative",
        "oci:/srv/../etc",
        "oci:/",
        "oci:",
    ] {
        assert_eq!(
            ImageRef::parse(bad),
            Err(ImageRefError::LayoutPath {
                reference: bad.into()
            }),
            "{bad}"
        );
    }
}

#[test]
fn malformed_references_are_refused_naming_the_part_that_is_wrong() {
    let reference = |text: &str| text.to_owned();
    let digest = |text: &str| Digest::parse(text).unwrap_err();
    for (text, error) in [
        (
            "",
            ImageRefError::Text {
                reference: "".into(),
            },
        ),
        (
            "a b",
            ImageRefError::Text {
                reference: "a b".into(),
            },
        ),
        (
            "a\u{1b}[2J",
            ImageRefError::Text {
                reference: "a\u{1b}[2J".into(),
            },
        ),
        (
            "ghcr.io/a/b@sha512:00",
            ImageRefError::Digest {
                reference: reference("ghcr.io/a/b@sha512:00"),
                cause: digest("sha512:00"),
            },
        ),
        // The seed's own placeholder digest.
        (
            "ghcr.io/openclaw/openclaw:v2.4.1@sha256:abc123...",
            ImageRefError::Digest {
                reference: reference("ghcr.io/openclaw/openclaw:v2.4.1@sha256:abc123..."),
                cause: digest("sha256:abc123..."),
            },
        ),
        (
            "ghcr.io/Open/claw",
            ImageRefError::Repository {
                reference: reference("ghcr.io/Open/claw"),
                repository: "Open/claw".into(),
            },
        ),
        (
            "ghcr.io//claw",
            ImageRefError::Repository {
                reference: reference("ghcr.io//claw"),
                repository: "/claw".into(),
            },
        ),
        (
            "a:-bad",
            ImageRefError::Tag {
                reference: reference("a:-bad"),
                tag: "-bad".into(),
            },
        ),
        (
            "bad_host.io:0/a",
            ImageRefError::Registry {
                reference: reference("bad_host.io:0/a"),
                registry: "bad_host.io:0".into(),
            },
        ),
    ] {
        assert_eq!(ImageRef::parse(text), Err(error), "{text:?}");
    }
    let upper = format!("a@sha256:{}", HEX.to_uppercase());
    assert!(matches!(
        ImageRef::parse(&upper),
        Err(ImageRefError::Digest {
            cause: DigestError::Hex(_),
            ..
        })
    ));
}

#[test]
fn bad_references_are_refused() {
    for bad in [
        "Debian",
        "ghcr.io/a//b",
        "ghcr.io/a/b:",
        "ghcr.io/a/b:-x",
        "ghcr.io/a/b@sha256:abc",
        "ghcr.io/a/b@md5:0123",
        "ghcr.io/a..b/c",
        "bad_host.io:99999/a",
        "-bad.io:5000/a",
        &"a/".repeat(600),
    ] {
        assert!(ImageRef::parse(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn an_overlong_or_control_character_reference_is_cut_in_its_error() {
    let long = "a".repeat(5000);
    let Err(ImageRefError::Text { reference }) = ImageRef::parse(&long) else {
        panic!("accepted");
    };
    assert_eq!(reference.len(), 100);
    let message = ImageRef::parse("a\u{1b}b").unwrap_err().to_string();
    assert!(!message.contains('\u{1b}'), "{message}");
}

#[test]
fn what_is_accepted_prints_as_a_reference_that_parses_back() {
    for text in [
        "node",
        "node:24",
        "localhost:5000",
        "localhost:5000/a/b:c",
        "registry.example.com:443/team/app_1.x-y:v1.2_3",
        "a__b/c-d--e",
        "ghcr.io/openclaw/openclaw@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "oci:/srv/a//b/",
        "oci:/srv/a:v1",
    ] {
        let image = ImageRef::parse(text).unwrap();
        assert_eq!(
            ImageRef::parse(&image.to_string()).unwrap(),
            image,
            "{text}"
        );
        let json = serde_json::to_string(&image).unwrap();
        assert_eq!(serde_json::from_str::<ImageRef>(&json).unwrap(), image);
    }
}

#[test]
fn how_to_pin_names_the_reference_to_write() {
    let image = ImageRef::parse("ghcr.io/openclaw/openclaw:2026.9.6").unwrap();
    let fix = image.how_to_pin();
    assert!(fix.contains("hardshell image pull ghcr.io/openclaw/openclaw:2026.9.6"));
    assert!(fix.contains("skopeo inspect"));
    assert!(fix.contains("ghcr.io/openclaw/openclaw:2026.9.6@sha256:<digest>"));
}
