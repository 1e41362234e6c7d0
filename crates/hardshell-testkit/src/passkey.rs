//! Owner passkey ceremonies with a software authenticator, as a browser at
//! the edge's origin would run them.

use chrono::{DateTime, TimeZone, Utc};
use hardshell_auth::Principal;
use hardshell_auth::passkey::{
    LoginState, OwnerPasskeys, PasskeyError, PasskeyInfo, PublicKeyCredential,
    RegisterPublicKeyCredential, RelyingParty, RequestChallengeResponse, SetupToken,
};
use hardshell_storage::Store;
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::TestStore;

pub const ORIGIN: &str = "http://localhost:8787";

pub struct Fixture {
    /// The store the passkeys live in (under `auth/passkey`).
    pub store: Store,
    pub passkeys: OwnerPasskeys,
    _store: TestStore,
}

/// The owner's passkeys for [`ORIGIN`], in a fresh store.
pub async fn fixture() -> Fixture {
    let test_store = TestStore::new().await;
    let party = RelyingParty::new("localhost", ORIGIN, "hardshell").unwrap();
    let passkeys = OwnerPasskeys::new(&test_store.scope("auth/passkey"), &party).unwrap();
    Fixture {
        store: test_store.store.clone(),
        passkeys,
        _store: test_store,
    }
}

/// A fixed instant, so expiry tests say exactly how far past a limit they are.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

pub fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

pub fn origin() -> Url {
    Url::parse(ORIGIN).unwrap()
}

/// A software passkey that claims user verification, as a phone's passkey does
/// after a fingerprint.
pub fn authenticator() -> SoftPasskey {
    SoftPasskey::new(true)
}

/// What a browser at `origin` would send back for a registration started with `token`.
pub async fn browser_registration(
    f: &Fixture,
    device: &mut SoftPasskey,
    token: &SetupToken,
    origin: &Url,
    now: DateTime<Utc>,
) -> (
    hardshell_auth::passkey::RegistrationState,
    RegisterPublicKeyCredential,
) {
    let (options, state) = f.passkeys.start_registration(token, now).await.unwrap();
    let credential = device.do_registration(origin.clone(), options).unwrap();
    (state, credential)
}

/// Issues a link and registers `device` with it, as the owner would.
pub async fn register(f: &Fixture, device: &mut SoftPasskey, now: DateTime<Utc>) -> PasskeyInfo {
    let token = f.passkeys.setup_links().issue(now).await.unwrap();
    let (state, credential) = browser_registration(f, device, &token, &origin(), now).await;
    f.passkeys
        .finish_registration(&state, &credential, now)
        .await
        .unwrap()
}

/// Starts a login and has `device` answer it from `origin`.
pub async fn browser_login(
    f: &Fixture,
    device: &mut SoftPasskey,
    origin: &Url,
    now: DateTime<Utc>,
) -> (LoginState, PublicKeyCredential) {
    let (options, state) = f.passkeys.start_login(now).await.unwrap();
    (state, sign(device, origin, options))
}

pub fn sign(
    device: &mut SoftPasskey,
    origin: &Url,
    options: RequestChallengeResponse,
) -> PublicKeyCredential {
    device.do_authentication(origin.clone(), options).unwrap()
}

pub async fn login(
    f: &Fixture,
    device: &mut SoftPasskey,
    now: DateTime<Utc>,
) -> Result<Principal, PasskeyError> {
    let (state, credential) = browser_login(f, device, &origin(), now).await;
    f.passkeys.finish_login(&state, &credential, now).await
}

/// Every refusal in these tests must be one the gateway answers as such (401),
/// not as an internal error.
pub fn refused(result: Result<impl std::fmt::Debug, PasskeyError>) -> PasskeyError {
    let err = result.expect_err("the ceremony must be refused");
    assert!(err.is_refusal(), "{err} must count as a refusal");
    err
}
