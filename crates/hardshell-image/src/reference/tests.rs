use super::*;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn registry(r: &ImageRef) -> (&str, &str) {
    match &r.source {
        ImageSource::Registry {
            registry,
            repository,
        } => (registry, repository),
        ImageSource::Layout { .. } => panic!("not a registry reference"),
    }
}

#[test]
fn docker_hub_names_are_normalised() {
    let r = ImageRef::parse("debian").unwrap();
    assert_eq!(registry(&r), ("docker.io", "library/debian"));
    assert_eq!(r.tag.as_deref(), Some("latest"));
    assert!(!r.is_pinned());
    let r = ImageRef::parse("index.docker.io/openclaw/openclaw:1.0").unwrap();
    assert_eq!(registry(&r), ("docker.io", "openclaw/openclaw"));
    assert_eq!(r.to_string(), "docker.io/openclaw/openclaw:1.0");
}

#[test]
fn pinned_reference_with_tag_port_and_digest() {
    let input = format!("127.0.0.1:5000/team/app:2026.9.6@sha256:{HEX}");
    let r = ImageRef::parse(&input).unwrap();
    assert_eq!(registry(&r), ("127.0.0.1:5000", "team/app"));
    assert_eq!(r.tag.as_deref(), Some("2026.9.6"));
    assert!(r.is_pinned());
    assert_eq!(r.to_string(), input);
    // A digest alone implies no tag.
    let r = ImageRef::parse(&format!("ghcr.io/openclaw/openclaw@sha256:{HEX}")).unwrap();
    assert_eq!(r.tag, None);
    assert_eq!(registry(&r), ("ghcr.io", "openclaw/openclaw"));
}

#[test]
fn oci_layout_reference() {
    let r = ImageRef::parse(&format!("oci:/srv/images/app:v1@sha256:{HEX}")).unwrap();
    assert_eq!(
        r.source,
        ImageSource::Layout {
            path: "/srv/images/app".into()
        }
    );
    assert_eq!(r.tag.as_deref(), Some("v1"));
    assert!(r.is_pinned());
    let r = ImageRef::parse("oci:/srv/images/app").unwrap();
    assert!(!r.is_pinned());
    assert_eq!(r.tag, None);
}

#[test]
fn bad_references_are_refused() {
    for bad in [
        "",
        "Debian",
        "ghcr.io/Open/claw",
        "ghcr.io/a//b",
        "ghcr.io/a/b:",
        "ghcr.io/a/b:-x",
        "ghcr.io/a/b@sha256:abc",
        "ghcr.io/a/b@md5:0123",
        "bad_host.io:99999/a",
        "oci:relative/path",
        "oci:/srv/../etc",
        "oci:/",
    ] {
        assert!(ImageRef::parse(bad).is_err(), "{bad:?} was accepted");
    }
}
