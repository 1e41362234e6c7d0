//! `hardshell egress ca [rotate]`: the certificate for an operator's own
//! clients, never the key; a rotation is a new CA, on record.

use hardshell_testkit::instance::Instance;

#[test]
fn egress_ca_prints_the_certificate_only_and_rotate_replaces_it_on_record() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let first = hs.run(&["egress", "ca"]).ok();
    assert!(
        first.stdout.starts_with("-----BEGIN CERTIFICATE-----\n")
            && first.stdout.ends_with("-----END CERTIFICATE-----\n"),
        "{}",
        first.stdout
    );
    assert!(
        first.stderr.contains("fingerprint sha256:"),
        "{}",
        first.stderr
    );
    // Made once, then the same: a second look shows the same CA.
    assert_eq!(hs.run(&["egress", "ca"]).ok().stdout, first.stdout);
    let listed = hs.run(&["secret", "list"]).ok().stdout;
    assert!(listed.contains("EGRESS_CA"), "{listed}");

    let rotated = hs.run(&["egress", "ca", "rotate"]).ok();
    assert!(
        rotated.stdout.contains("replaced the egress CA"),
        "{}",
        rotated.stdout
    );
    assert!(
        rotated.stdout.contains("within a second"),
        "{}",
        rotated.stdout
    );
    let second = hs.run(&["egress", "ca"]).ok().stdout;
    assert_ne!(second, first.stdout);
    for text in [
        &first.stdout,
        &first.stderr,
        &rotated.stdout,
        &rotated.stderr,
        &second,
    ] {
        assert!(!text.contains("PRIVATE KEY"), "{text}");
    }
    // The CLI's own log: `audit verify` names it.
    let verify = hs.run(&["audit", "verify"]).ok().stdout;
    let log = verify.split(':').next().unwrap().to_owned();
    let records = hs.run(&["audit", "tail", "--log", &log]).ok().stdout;
    // Made on record, then replaced on record: one of each.
    for replaced in ["false", "true"] {
        let found = records
            .lines()
            .filter(|line| {
                line.contains("\"type\":\"secret_stored\"")
                    && line.contains("\"name\":\"EGRESS_CA\"")
                    && line.contains(&format!("\"replaced\":{replaced}"))
            })
            .count();
        assert_eq!(found, 1, "replaced {replaced}: {records}");
    }
}
