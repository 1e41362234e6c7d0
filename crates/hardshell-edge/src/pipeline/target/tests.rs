use http::HeaderValue;

use super::*;

fn host(lines: &[&'static str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in lines {
        headers.append(HOST, HeaderValue::from_static(line));
    }
    headers
}

fn origin_form() -> Uri {
    Uri::from_static("/x")
}

#[test]
fn one_valid_host_passes() {
    for ok in [
        "localhost",
        "localhost:8787",
        "hs.example",
        "[::1]:8787",
        "127.0.0.1",
    ] {
        assert_eq!(
            check_host(Version::HTTP_11, &origin_form(), &host(&[ok])),
            Ok(()),
            "{ok}"
        );
    }
    // HTTP/1.0 predates Host.
    assert_eq!(
        check_host(Version::HTTP_10, &origin_form(), &HeaderMap::new()),
        Ok(())
    );
}

#[test]
fn missing_duplicate_and_malformed_hosts_are_refused() {
    let uri = origin_form();
    assert_eq!(
        check_host(Version::HTTP_11, &uri, &HeaderMap::new()),
        Err(TargetRefusal::MissingHost)
    );
    assert_eq!(
        check_host(Version::HTTP_11, &uri, &host(&["a.example", "b.example"])),
        Err(TargetRefusal::DuplicateHost)
    );
    for bad in [
        "",
        "user@hs.example",
        "hs.example/path",
        "hs example",
        "hs.example:x",
    ] {
        assert_eq!(
            check_host(Version::HTTP_11, &uri, &host(&[bad])),
            Err(TargetRefusal::BadHost),
            "{bad:?}"
        );
    }
}

#[test]
fn an_absolute_target_must_name_the_host_it_is_sent_with() {
    let uri = Uri::from_static("http://other.example/x");
    assert_eq!(
        check_host(Version::HTTP_11, &uri, &host(&["hs.example"])),
        Err(TargetRefusal::BadHost)
    );
    let uri = Uri::from_static("http://hs.example/x");
    assert_eq!(
        check_host(Version::HTTP_11, &uri, &host(&["hs.example"])),
        Ok(())
    );
}

#[test]
fn paths_with_one_meaning_pass() {
    for ok in [
        "/",
        "/admin/tokens",
        "/v1/chat/",
        "/a%20b",
        "/x.y/..z/.w",
        "/%41",
    ] {
        assert_eq!(check_path(ok), Ok(()), "{ok}");
    }
}

#[test]
fn paths_another_parser_reads_differently_are_refused() {
    for bad in [
        "//admin",
        "/x//admin",
        "/.",
        "/./admin",
        "/x/../admin",
        "/x/..",
        "/admin%2ftokens",
        "/admin%2Ftokens",
        "/%2e%2e/admin",
        "/x%5cadmin",
        "/x\\admin",
        "/admin%252ftokens",
        "/x%00",
    ] {
        assert_eq!(check_path(bad), Err(TargetRefusal::AmbiguousPath), "{bad}");
    }
}

#[test]
fn the_first_segment_is_read_as_a_lenient_upstream_reads_it() {
    assert_eq!(first_segment("/admin").as_deref(), Some("admin"));
    assert_eq!(first_segment("/ADMIN/x").as_deref(), Some("admin"));
    assert_eq!(first_segment("/%61dmin").as_deref(), Some("admin"));
    assert_eq!(first_segment("/metrics;x=1/").as_deref(), Some("metrics"));
    assert_eq!(first_segment("/").as_deref(), Some(""));
    assert_eq!(first_segment("/%ff"), None);
    assert_eq!(first_segment("/%zz"), None);
}
