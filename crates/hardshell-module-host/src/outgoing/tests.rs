use super::*;

fn grant(path_prefix: Option<&str>, methods: Option<&[&str]>) -> HostGrant {
    HostGrant {
        scheme: "http".into(),
        host: Host::parse("api.example.com").expect("a host name"),
        port: 8080,
        methods: methods.map(|methods| methods.iter().map(|m| m.to_string()).collect()),
        path_prefix: path_prefix.map(str::to_string),
    }
}

fn request(method: &str, uri: &str) -> http::Request<()> {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .body(())
        .expect("a valid test request")
}

fn check(method: &str, uri: &str, grants: &[HostGrant]) -> Result<(), Denial> {
    permit(&request(method, uri), grants, false).map(|_| ())
}

fn check_public(method: &str, uri: &str, grants: &[HostGrant]) -> Result<(), Denial> {
    permit(&request(method, uri), grants, true).map(|_| ())
}

#[test]
fn the_public_web_is_read_of_any_host_on_its_default_port_and_nothing_more() {
    assert_eq!(
        check_public("GET", "https://news.example.org/a?b=c", &[]),
        Ok(())
    );
    assert_eq!(
        check_public("HEAD", "http://news.example.org/", &[]),
        Ok(())
    );
    assert!(matches!(
        check_public("POST", "https://news.example.org/form", &[]),
        Err(Denial::MethodNotGranted { .. })
    ));
    for uri in [
        "https://news.example.org:8443/",
        "http://news.example.org:443/",
        "https://[::1]/",
        "ftp://news.example.org/",
    ] {
        assert!(
            matches!(
                check_public("GET", uri, &[]),
                Err(Denial::HostNotGranted { .. })
            ),
            "{uri}"
        );
    }
    assert!(matches!(
        check_public("GET", "https://user:pw@news.example.org/", &[]),
        Err(Denial::Userinfo { .. })
    ));
    // Without the grant, the same read is refused.
    assert!(matches!(
        check("GET", "https://news.example.org/", &[]),
        Err(Denial::HostNotGranted { .. })
    ));
    // A host a grant names keeps that grant's rules, public web or not.
    let grants = [grant(Some("/v1"), Some(&["GET"]))];
    assert!(matches!(
        check_public("GET", "http://api.example.com:8080/admin", &grants),
        Err(Denial::PathNotGranted { .. })
    ));
}

#[test]
fn granted_host_port_and_scheme_is_permitted() {
    let grants = [grant(None, None)];
    assert_eq!(
        check("GET", "http://api.example.com:8080/x", &grants),
        Ok(())
    );
    assert_eq!(
        check("GET", "http://API.Example.COM:8080/", &grants),
        Ok(())
    );
}

#[test]
fn a_host_is_compared_as_a_host_name() {
    let grants = [grant(None, None)];
    // One name, spelled with a trailing dot: the same host.
    assert_eq!(
        check("GET", "http://api.example.com.:8080/x", &grants),
        Ok(())
    );
    for other in [
        "http://api.example.com.evil.net:8080/x",
        "http://[::1]:8080/x",
        "http://127.0.0.1:8080/x",
    ] {
        assert!(
            matches!(
                check("GET", other, &grants),
                Err(Denial::HostNotGranted { .. })
            ),
            "{other}"
        );
    }
}

#[test]
fn undeclared_host_is_denied() {
    let denial = check(
        "GET",
        "http://evil.example.com:8080/x",
        &[grant(None, None)],
    );
    assert!(
        matches!(denial, Err(Denial::HostNotGranted { host, .. }) if host == "evil.example.com")
    );
}

#[test]
fn declared_host_on_another_port_or_scheme_is_denied() {
    let grants = [grant(None, None)];
    assert!(matches!(
        check("GET", "http://api.example.com:8081/x", &grants),
        Err(Denial::HostNotGranted { port: 8081, .. })
    ));
    assert!(matches!(
        check("GET", "http://api.example.com/x", &grants),
        Err(Denial::HostNotGranted { port: 80, .. })
    ));
    assert!(matches!(
        check("GET", "https://api.example.com:8080/x", &grants),
        Err(Denial::HostNotGranted { .. })
    ));
}

#[test]
fn userinfo_is_denied_even_for_a_granted_host() {
    assert!(matches!(
        check(
            "GET",
            "http://user:pw@api.example.com:8080/x",
            &[grant(None, None)]
        ),
        Err(Denial::Userinfo { .. })
    ));
}

#[test]
fn ungranted_method_is_denied_and_granted_one_permitted() {
    let grants = [grant(None, Some(&["GET"]))];
    assert_eq!(
        check("GET", "http://api.example.com:8080/x", &grants),
        Ok(())
    );
    assert!(matches!(
        check("POST", "http://api.example.com:8080/x", &grants),
        Err(Denial::MethodNotGranted { .. })
    ));
}

#[test]
fn no_method_list_allows_the_common_methods_and_never_trace_or_connect() {
    let grants = [grant(None, None)];
    for method in ANY_METHOD {
        assert_eq!(
            check(method, "http://api.example.com:8080/x", &grants),
            Ok(()),
            "{method}"
        );
    }
    for method in ["TRACE", "CONNECT", "PURGE", "get"] {
        assert!(
            matches!(
                check(method, "http://api.example.com:8080/x", &grants),
                Err(Denial::MethodNotGranted { .. })
            ),
            "{method}"
        );
    }
}

#[test]
fn path_prefix_is_a_whole_segment() {
    let grants = [grant(Some("/api"), None)];
    assert_eq!(
        check("GET", "http://api.example.com:8080/api", &grants),
        Ok(())
    );
    assert_eq!(
        check("GET", "http://api.example.com:8080/api/v1?q=1", &grants),
        Ok(())
    );
    // Parameters on a segment that is not a dot segment are only text.
    assert_eq!(
        check("GET", "http://api.example.com:8080/api/v1;page=2", &grants),
        Ok(())
    );
    for outside in [
        "/apix",
        "/admin",
        "/",
        "/api/../admin",
        "/api/%2e%2e/admin",
        "/api/.%2E/x",
        "/api%2fx",
        "/api/..;/admin",
        "/api/..;x=1/admin",
    ] {
        let uri = format!("http://api.example.com:8080{outside}");
        assert!(
            matches!(
                check("GET", &uri, &grants),
                Err(Denial::PathNotGranted { .. })
            ),
            "{outside} must be outside /api"
        );
    }
}

#[test]
fn path_prefix_ending_in_slash_covers_what_is_below() {
    let grants = [grant(Some("/v1/"), None)];
    assert_eq!(
        check("GET", "http://api.example.com:8080/v1/search", &grants),
        Ok(())
    );
    assert!(check("GET", "http://api.example.com:8080/v1", &grants).is_err());
}

#[test]
fn no_grants_deny_everything() {
    assert!(matches!(
        check("GET", "http://api.example.com:8080/x", &[]),
        Err(Denial::HostNotGranted { .. })
    ));
}

#[test]
fn denial_message_names_no_path_or_query() {
    let denial = check(
        "GET",
        "http://evil.example.com/secret-path?token=abc",
        &[grant(None, None)],
    )
    .expect_err("an undeclared host is denied");
    let message = denial.to_string();
    assert!(
        !message.contains("secret-path") && !message.contains("token"),
        "{message}"
    );
}

#[test]
fn a_long_host_or_method_is_cut_in_the_denial() {
    let long_host = format!("{}.example.com", "a".repeat(10_000));
    let denial = check(
        "GET",
        &format!("http://{long_host}/x"),
        &[grant(None, None)],
    )
    .expect_err("an undeclared host is denied");
    assert!(
        matches!(&denial, Denial::HostNotGranted { host, .. } if host.chars().count() == 254 && host.ends_with('…')),
        "{denial:?}"
    );
    assert!(denial.to_string().len() < 400, "{denial}");

    let long_method = "A".repeat(10_000);
    let denial = check(
        &long_method,
        "http://api.example.com:8080/x",
        &[grant(None, Some(&["GET"]))],
    )
    .expect_err("an ungranted method is denied");
    assert!(
        matches!(&denial, Denial::MethodNotGranted { method, .. } if method.chars().count() == 33),
        "{denial:?}"
    );
    assert!(denial.to_string().len() < 400, "{denial}");

    // A host within the bound is named whole.
    let denial = check(
        "GET",
        "http://evil.example.com:8080/x",
        &[grant(None, None)],
    )
    .expect_err("denied");
    assert_eq!(
        denial,
        Denial::HostNotGranted {
            scheme: "http".into(),
            host: "evil.example.com".into(),
            port: 8080
        }
    );
}
