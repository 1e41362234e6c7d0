//! Authorization: one pure function from (policy, who, what) to a permit or a
//! denial. No I/O, no clock of its own, no defaults that allow.
//!
//! Roles: `chat` talks to the agent; `browser` drives a browser through `/cdp`
//! and nothing else; `admin` may do both, and also pairs devices, manages
//! secrets, config, modules and reads the audit log. `chat` and `browser` are
//! apart: neither includes the other. How a principal gets a role:
//! - the owner's passkey login is `admin` (the owner set the instance up);
//! - an API token has the role of its scope;
//! - a Cloudflare Access or OIDC identity gets the roles of the [`Rule`]s whose
//!   email or group it matches — and no role if none matches.
//!
//! Device posture: when the policy (or the matching rule) requires a device
//! certificate, a principal without a valid one is denied whatever its role.

use std::marker::PhantomData;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{Device, Method, Principal, TokenScope};

/// The roles. `Admin` includes everything the others may do; `Chat` and
/// `Browser` do not include each other (see [`Role::grants`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Chat,
    /// Only `/cdp`: a browser-automation client's token must not also be a
    /// way to talk to the agent (and so to its tools).
    Browser,
    Admin,
}

impl Role {
    /// Whether holding `self` is enough for what `needs` allows. Not an
    /// order: `Chat` and `Browser` are apart, `Admin` grants everything.
    pub fn grants(self, needs: Role) -> bool {
        self == needs || self == Role::Admin
    }

    /// The role's name in errors and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Chat => "chat",
            Role::Browser => "browser",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Grants `role` to identities whose email or groups match. An empty rule
/// matches nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub role: Role,
    /// Exact addresses, compared case-insensitively.
    pub emails: Vec<String>,
    /// Group names, compared exactly.
    pub groups: Vec<String>,
    /// Also require a device certificate for this rule to apply.
    pub require_device: bool,
}

/// The access policy, built from `[access]` in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub rules: Vec<Rule>,
    /// Require a valid device certificate for every authenticated request.
    pub require_device: bool,
    /// How recent a login must be for actions that weaken security.
    pub fresh_login: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            require_device: false,
            fresh_login: Duration::from_secs(10 * 60),
        }
    }
}

/// What is known about the requester when authorization runs.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// `None` when no authentication method succeeded.
    pub principal: Option<&'a Principal>,
    /// A verified, unrevoked device certificate on this connection.
    pub device: Option<&'a Device>,
    pub now: DateTime<Utc>,
}

/// Why a request was refused. The gateway answers 401 for
/// [`Denied::Unauthenticated`] and 403 for the rest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("not authenticated")]
    Unauthenticated,
    #[error("no access rule grants {subject} any role")]
    NoMatchingRule { subject: String },
    #[error("{subject} has role {has}, this needs {needs}")]
    InsufficientRole {
        subject: String,
        has: Role,
        needs: Role,
    },
    #[error("a device certificate is required")]
    DeviceRequired,
    #[error("this action needs a login within the last {} minutes", .window.as_secs() / 60)]
    LoginNotFresh { window: Duration },
    #[error("this action needs an interactive login; API tokens cannot perform it")]
    NotInteractive,
}

impl Denied {
    /// Whether the requester simply has not proven who it is (HTTP 401).
    pub fn is_unauthenticated(&self) -> bool {
        matches!(self, Denied::Unauthenticated)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// What a route requires. Sealed: the set of requirements is fixed here.
pub trait Requirement: sealed::Sealed + Send + Sync + 'static {
    /// What a permit for this requirement proves about the requester.
    type Identity: Clone + Send + Sync + std::fmt::Debug;
    #[doc(hidden)]
    fn check(policy: &Policy, subject: &Subject<'_>) -> Result<Self::Identity, Denied>;
    /// A short name for logs and audit records.
    const NAME: &'static str;
}

/// No requirement: health checks, the login pages, webhooks that verify their
/// own signatures. The permit carries whoever authenticated, if anyone.
#[derive(Debug)]
pub enum Public {}
/// Talk to the agent.
#[derive(Debug)]
pub enum Chat {}
/// Drive a browser through `/cdp`: a `browser`-scoped token, or an admin.
#[derive(Debug)]
pub enum Browser {}
/// Administer the instance.
#[derive(Debug)]
pub enum Admin {}
/// Administer in a way that weakens security (pairing, secrets, access, modules):
/// an admin whose interactive login is recent.
#[derive(Debug)]
pub enum FreshAdmin {}

impl sealed::Sealed for Public {}
impl sealed::Sealed for Chat {}
impl sealed::Sealed for Browser {}
impl sealed::Sealed for Admin {}
impl sealed::Sealed for FreshAdmin {}

impl Requirement for Public {
    type Identity = Option<Principal>;
    const NAME: &'static str = "public";
    fn check(_: &Policy, subject: &Subject<'_>) -> Result<Self::Identity, Denied> {
        Ok(subject.principal.cloned())
    }
}

impl Requirement for Chat {
    type Identity = Principal;
    const NAME: &'static str = "chat";
    fn check(policy: &Policy, subject: &Subject<'_>) -> Result<Principal, Denied> {
        require_role(policy, subject, Role::Chat).cloned()
    }
}

impl Requirement for Browser {
    type Identity = Principal;
    const NAME: &'static str = "browser";
    fn check(policy: &Policy, subject: &Subject<'_>) -> Result<Principal, Denied> {
        require_role(policy, subject, Role::Browser).cloned()
    }
}

impl Requirement for Admin {
    type Identity = Principal;
    const NAME: &'static str = "admin";
    fn check(policy: &Policy, subject: &Subject<'_>) -> Result<Principal, Denied> {
        require_role(policy, subject, Role::Admin).cloned()
    }
}

impl Requirement for FreshAdmin {
    type Identity = Principal;
    const NAME: &'static str = "fresh_admin";
    fn check(policy: &Policy, subject: &Subject<'_>) -> Result<Principal, Denied> {
        let principal = require_role(policy, subject, Role::Admin)?;
        if !principal.method.is_interactive() {
            return Err(Denied::NotInteractive);
        }
        let age = subject
            .now
            .signed_duration_since(principal.authenticated_at);
        let fresh = age
            .to_std()
            .map(|age| age <= policy.fresh_login)
            // A login time in the future is clock skew, not freshness.
            .unwrap_or(false);
        if !fresh {
            return Err(Denied::LoginNotFresh {
                window: policy.fresh_login,
            });
        }
        Ok(principal.clone())
    }
}

/// Proof that [`authorize`] allowed a request for requirement `R`. Only this
/// module can make one; handlers take one as an argument.
#[derive(Debug, Clone)]
pub struct Permit<R: Requirement> {
    identity: R::Identity,
    _requirement: PhantomData<R>,
}

impl<R: Requirement> Permit<R> {
    /// Who was allowed: a [`Principal`] for every requirement but [`Public`],
    /// whose permit carries `Option<Principal>`.
    pub fn identity(&self) -> &R::Identity {
        &self.identity
    }
}

/// Decides whether `subject` may do what `R` requires. Pure: same input, same answer.
pub fn authorize<R: Requirement>(
    policy: &Policy,
    subject: &Subject<'_>,
) -> Result<Permit<R>, Denied> {
    R::check(policy, subject).map(|identity| Permit {
        identity,
        _requirement: PhantomData,
    })
}

fn require_role<'a>(
    policy: &Policy,
    subject: &Subject<'a>,
    needs: Role,
) -> Result<&'a Principal, Denied> {
    let principal = subject.principal.ok_or(Denied::Unauthenticated)?;
    if policy.require_device && subject.device.is_none() {
        return Err(Denied::DeviceRequired);
    }
    grant(policy, principal, subject.device.is_some(), needs)?;
    Ok(principal)
}

/// Whether any role `principal` holds grants `needs`. A set, not the
/// highest role: with `Chat` and `Browser` apart there is no highest.
fn grant(
    policy: &Policy,
    principal: &Principal,
    has_device: bool,
    needs: Role,
) -> Result<(), Denied> {
    let insufficient = |has: Role| Denied::InsufficientRole {
        subject: describe(principal),
        has,
        needs,
    };
    let held = match principal.method {
        Method::Passkey => Role::Admin,
        Method::ApiToken => match principal.token_scope {
            Some(TokenScope::Admin) => Role::Admin,
            Some(TokenScope::Chat) => Role::Chat,
            Some(TokenScope::Browser) => Role::Browser,
            // A token record without a scope is malformed: grant nothing.
            None => {
                return Err(Denied::NoMatchingRule {
                    subject: describe(principal),
                });
            }
        },
        Method::CloudflareAccess | Method::Oidc => {
            let mut held: Option<Role> = None;
            let mut needed_device = false;
            for rule in policy
                .rules
                .iter()
                .filter(|rule| matches_rule(rule, principal))
            {
                if rule.require_device && !has_device {
                    needed_device = true;
                    continue;
                }
                if rule.role.grants(needs) {
                    return Ok(());
                }
                held = held.or(Some(rule.role));
            }
            return match held {
                Some(has) => Err(insufficient(has)),
                None if needed_device => Err(Denied::DeviceRequired),
                None => Err(Denied::NoMatchingRule {
                    subject: describe(principal),
                }),
            };
        }
    };
    if held.grants(needs) {
        Ok(())
    } else {
        Err(insufficient(held))
    }
}

fn matches_rule(rule: &Rule, principal: &Principal) -> bool {
    let email_matches = principal.email.as_deref().is_some_and(|email| {
        rule.emails
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(email))
    });
    let group_matches = principal
        .groups
        .iter()
        .any(|group| rule.groups.iter().any(|allowed| allowed == group));
    email_matches || group_matches
}

fn describe(principal: &Principal) -> String {
    match &principal.email {
        Some(email) => format!("{} {email}", principal.method.as_str()),
        None => format!("{} {}", principal.method.as_str(), principal.subject),
    }
}

#[cfg(test)]
mod tests;
