use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::TimeZone;
use hardshell_vocabulary::{ChannelRole, Platform};

use super::*;

fn rid() -> RequestId {
    RequestId::new("req-1").unwrap()
}

fn client() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))
}

fn get() -> HttpMethod {
    HttpMethod::new("GET").unwrap()
}

fn route() -> Option<Route> {
    Some(Route::new("/v1/chat/completions").unwrap())
}

fn when() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

fn state_name(name: &str) -> StateName {
    StateName::new(name).unwrap()
}

fn owner() -> Option<String> {
    Some("owner".to_owned())
}

fn sender(platform: hardshell_vocabulary::Platform, id: &str) -> hardshell_vocabulary::Sender {
    hardshell_vocabulary::Sender::parse(platform, id).unwrap()
}

/// One of each event type.
pub(super) fn samples() -> Vec<AuditEvent> {
    vec![
        AuditEvent::RequestAllowed(RequestAllowed {
            request_id: rid(),
            client: client(),
            method: get(),
            route: route(),
            subject: owner(),
            auth_method: Some(Method::Passkey),
        }),
        AuditEvent::RequestDenied(RequestDenied {
            request_id: rid(),
            client: IpAddr::V6(Ipv6Addr::LOCALHOST),
            method: HttpMethod::new("POST").unwrap(),
            route: None,
            subject: None,
            auth_method: None,
            status: 401,
            reason: "not authenticated".to_owned(),
        }),
        AuditEvent::RateLimited(RateLimited {
            request_id: rid(),
            client: client(),
            method: get(),
            route: route(),
            subject: None,
            limited_by: LimitedBy::ClientAddress,
            retry_after_secs: 3,
        }),
        AuditEvent::LoginSucceeded(LoginSucceeded {
            request_id: rid(),
            client: client(),
            subject: "owner".to_owned(),
            auth_method: Method::Passkey,
        }),
        AuditEvent::LoginFailed(LoginFailed {
            request_id: rid(),
            client: client(),
            auth_method: Method::Oidc,
            reason: "id token signature did not verify".to_owned(),
        }),
        AuditEvent::SessionHandedOver(SessionHandedOver {
            request_id: rid(),
            client: client(),
            subject: "owner".to_owned(),
            auth_method: Method::Oidc,
        }),
        AuditEvent::CredentialRejected(CredentialRejected {
            request_id: rid(),
            client: client(),
            credential: CredentialKind::ApiToken,
            token_id: Some(TokenId::new("0123456789abcdef").unwrap()),
            reason: "revoked".to_owned(),
        }),
        AuditEvent::PasskeyRegistered(PasskeyRegistered {
            request_id: rid(),
            client: client(),
            passkey: "pk_1".to_owned(),
        }),
        AuditEvent::PasskeyRemoved(PasskeyRemoved {
            passkey: "pk_1".to_owned(),
            actor: owner(),
        }),
        AuditEvent::TurnFinished(TurnFinished {
            request_id: rid(),
            subject: "owner".to_owned(),
            session: "web-1234abcd-x".to_owned(),
            end: TurnEnding::Failed,
            reason: Some("step limit".to_owned()),
            steps: 8,
            tool_calls: 7,
            input_tokens: 100,
            output_tokens: 20,
        }),
        AuditEvent::SessionRevoked(SessionRevoked {
            subject: "owner".to_owned(),
            actor: owner(),
        }),
        AuditEvent::TokenCreated(TokenCreated {
            token_id: TokenId::new("tok_1").unwrap(),
            scope: TokenScope::Chat,
            expires_at: Some(when()),
            actor: owner(),
        }),
        AuditEvent::TokenRevoked(TokenRevoked {
            token_id: TokenId::new("tok_1").unwrap(),
            actor: None,
        }),
        AuditEvent::SecretStored(SecretStored {
            name: SecretName::parse("ANTHROPIC_API_KEY").unwrap(),
            replaced: false,
            actor: None,
        }),
        AuditEvent::SecretRemoved(SecretRemoved {
            name: SecretName::parse("ANTHROPIC_API_KEY").unwrap(),
            actor: owner(),
        }),
        AuditEvent::WorkloadImageResolved(WorkloadImageResolved {
            reference: "ghcr.io/openclaw/openclaw:2026.9.6".to_owned(),
            resolved: format!("sha256:{}", "a".repeat(64)),
            manifest: format!("sha256:{}", "b".repeat(64)),
            pinned: false,
        }),
        AuditEvent::WorkloadStatePrepared(WorkloadStatePrepared {
            workload: state_name("workload"),
            outcome: StateOutcome::SetAside,
            generation: Some(7),
            files: None,
            local_base: Some(5),
            set_aside: Some(state_name("set-aside-20261205T082149.123Z-host-0a1b")),
        }),
        AuditEvent::WorkloadStateLost(WorkloadStateLost {
            workload: state_name("workload"),
            cause: StateLoss::RemoteChanged,
            generation: Some(8),
        }),
        AuditEvent::WorkloadStateRestored(WorkloadStateRestored {
            workload: state_name("workload"),
            snapshot: Some(state_name("before-upgrade")),
            generation: 9,
            files: Some(12),
            set_aside: None,
            actor: None,
        }),
        AuditEvent::WorkloadStateSnapshotted(WorkloadStateSnapshotted {
            workload: state_name("workload"),
            snapshot: state_name("before-upgrade"),
            generation: 7,
            files: 12,
            actor: None,
        }),
        AuditEvent::BrowserSessionStarted(BrowserSessionStarted {
            session: "brs-1".to_owned(),
            client: CdpClient::Edge,
        }),
        AuditEvent::BrowserSessionEnded(BrowserSessionEnded {
            session: "brs-1".to_owned(),
            ended: BrowserEnding::Idle,
            pages: 2,
            refused: 130,
            navigated: 4,
            seconds: 300,
        }),
        AuditEvent::CdpRefused(CdpRefused {
            session: "brs-1".to_owned(),
            method: CdpMethod::new("SystemInfo.getInfo").unwrap(),
            reason: CdpRefusal::Denied,
        }),
        AuditEvent::BrowserNavigated(BrowserNavigated {
            session: "brs-1".to_owned(),
            host: BrowserHost::new("example.com").unwrap(),
        }),
        AuditEvent::DeviceIssued(DeviceIssued {
            device: "laptop".to_owned(),
            serial: "0a1b".to_owned(),
            actor: owner(),
        }),
        AuditEvent::DeviceRevoked(DeviceRevoked {
            serial: "0a1b".to_owned(),
            actor: owner(),
        }),
        AuditEvent::SetupLinkIssued(SetupLinkIssued {
            expires_at: when(),
            actor: None,
        }),
        AuditEvent::ProviderSwitched(ProviderSwitched {
            from: ChainModel::new("anthropic/claude-sonnet-4-5")
                .unwrap()
                .into(),
            to: ChainModel::new("ollama/llama3.2").unwrap().into(),
            reason: SwitchReason::Overloaded.into(),
        }),
        AuditEvent::MemoryNoteChanged(MemoryNoteChanged {
            note: "coffee-order".to_owned(),
            change: NoteChange::Written,
            actor: None,
        }),
        AuditEvent::ExecDecided(ExecDecided {
            session: "web-0a1b2c3d-00112233".to_owned(),
            command_sha256: "ab".repeat(32),
            decision: ExecDecision::Refused,
            reason: Some(ExecReason::OwnerRefused),
            actor: owner(),
        }),
        AuditEvent::ExecFinished(ExecFinished {
            session: "web-0a1b2c3d-00112233".to_owned(),
            command_sha256: "ab".repeat(32),
            ended: ExecEnding::Pids,
            exit_code: Some(254),
            duration_ms: 12,
            pids_limit_hit: Some(true),
        }),
        AuditEvent::EgressDecided(EgressDecided {
            shell: ShellKind::Exec,
            host: "api.example.com".to_owned(),
            port: 443,
            decision: EgressDecision::Allowed,
            reason: None,
            carriage: Some(EgressCarriage::InspectedRequest),
        }),
        AuditEvent::SecretMisdirected(SecretMisdirected {
            shell: ShellKind::Exec,
            secret: SecretName::parse("GITHUB_TOKEN").unwrap(),
            host: "evil.example".to_owned(),
        }),
        AuditEvent::ApprovalEventDropped(ApprovalEventDropped {
            request_id: rid(),
            session: "web-0a1b2c3d-00112233".to_owned(),
        }),
        AuditEvent::SecretRedacted(SecretRedacted {
            session: "web-0a1b2c3d-00112233".to_owned(),
            secret: SecretName::parse("GITHUB_TOKEN").unwrap(),
        }),
        AuditEvent::RequestsSummarized(RequestsSummarized {
            client: Some(client()),
            kind: SummarizedKind::CredentialRejected,
            count: 19_980,
            window_start: chrono::DateTime::UNIX_EPOCH,
            window_secs: 60,
        }),
        AuditEvent::SecretLeakBlocked(SecretLeakBlocked {
            shell: ShellKind::Exec,
            secret: SecretName::parse("GITHUB_TOKEN").unwrap(),
            host: "evil.example".to_owned(),
        }),
        AuditEvent::PairingRequested(PairingRequested {
            sender: sender(Platform::Telegram, "123456789"),
        }),
        AuditEvent::PairingApproved(PairingApproved {
            sender: sender(Platform::Slack, "T0123ABCD:U0123ABCD"),
            role: ChannelRole::Guest,
            subject: "slack:T0123ABCD:U0123ABCD".to_owned(),
            actor: owner(),
        }),
        AuditEvent::PairingRevoked(PairingRevoked {
            sender: sender(Platform::Discord, "80351110224678912"),
            actor: None,
        }),
        AuditEvent::ChannelMessageRefused(ChannelMessageRefused {
            platform: Platform::Whatsapp,
            sender: Some(sender(Platform::Whatsapp, "15551234567")),
            reason: ChannelRefusal::SenderNotAllowed,
        }),
        AuditEvent::WebhookRejected(WebhookRejected {
            request_id: rid(),
            client: client(),
            platform: Platform::Slack,
            reason: WebhookRejection::StaleTimestamp,
        }),
        AuditEvent::FileDeposited(FileDeposited {
            session: "tg-0a1b2c3d-00112233".to_owned(),
            name: "report.pdf".to_owned(),
            size: 5,
            sha256: "cd".repeat(32),
        }),
        AuditEvent::FileShared(FileShared {
            session: "web-0a1b2c3d-00112233".to_owned(),
            name: "plot.png".to_owned(),
            size: 7,
            sha256: "ef".repeat(32),
        }),
        AuditEvent::ModuleAdded(ModuleAdded {
            module: module_name("web-search"),
            package: digest('a'),
            key_id: "0807060504030201".to_owned(),
            official: true,
            actor: None,
        }),
        AuditEvent::ModuleUpdated(ModuleUpdated {
            module: module_name("web-search"),
            previous: digest('a'),
            package: digest('b'),
            key_id: "0807060504030201".to_owned(),
            widened: true,
            actor: None,
        }),
        AuditEvent::ModuleRemoved(ModuleRemoved {
            module: module_name("fetch"),
            package: digest('c'),
            actor: None,
        }),
        AuditEvent::ModuleRefused(ModuleRefused {
            module: Some(module_name("fetch")),
            package: Some(digest('d')),
            reason: ModuleRefusal::FileDigest,
            actor: None,
        }),
        AuditEvent::ModuleCalled(ModuleCalled {
            module: module_name("web-search"),
            tool: "search".to_owned(),
            package: digest('a'),
            session: "web-abc".to_owned(),
            outcome: ModuleOutcome::Timeout,
            duration_ms: 5002,
        }),
    ]
}

fn module_name(name: &str) -> hardshell_vocabulary::ModuleName {
    hardshell_vocabulary::ModuleName::parse(name).unwrap()
}

fn digest(digit: char) -> hardshell_vocabulary::Digest {
    hardshell_vocabulary::Digest::from_hex(&digit.to_string().repeat(64)).unwrap()
}

/// The declared shape of each type. The match has no wildcard, so a new event
/// type does not compile until its fields are declared here.
fn declared_fields(event: &AuditEvent) -> &'static [&'static str] {
    match event {
        AuditEvent::RequestAllowed(_) => &[
            "request_id",
            "client",
            "method",
            "route",
            "subject",
            "auth_method",
        ],
        AuditEvent::RequestDenied(_) => &[
            "request_id",
            "client",
            "method",
            "route",
            "subject",
            "auth_method",
            "status",
            "reason",
        ],
        AuditEvent::RateLimited(_) => &[
            "request_id",
            "client",
            "method",
            "route",
            "subject",
            "limited_by",
            "retry_after_secs",
        ],
        AuditEvent::LoginSucceeded(_) => &["request_id", "client", "subject", "auth_method"],
        AuditEvent::LoginFailed(_) => &["request_id", "client", "auth_method", "reason"],
        AuditEvent::SessionHandedOver(_) => &["request_id", "client", "subject", "auth_method"],
        AuditEvent::CredentialRejected(_) => {
            &["request_id", "client", "credential", "token_id", "reason"]
        }
        AuditEvent::SessionRevoked(_) => &["subject", "actor"],
        AuditEvent::TokenCreated(_) => &["token_id", "scope", "expires_at", "actor"],
        AuditEvent::TokenRevoked(_) => &["token_id", "actor"],
        AuditEvent::SecretStored(_) => &["name", "replaced", "actor"],
        AuditEvent::SecretRemoved(_) => &["name", "actor"],
        AuditEvent::WorkloadImageResolved(_) => &["reference", "resolved", "manifest", "pinned"],
        AuditEvent::WorkloadStatePrepared(_) => &[
            "workload",
            "outcome",
            "generation",
            "files",
            "local_base",
            "set_aside",
        ],
        AuditEvent::WorkloadStateLost(_) => &["workload", "cause", "generation"],
        AuditEvent::WorkloadStateRestored(_) => &[
            "workload",
            "snapshot",
            "generation",
            "files",
            "set_aside",
            "actor",
        ],
        AuditEvent::WorkloadStateSnapshotted(_) => {
            &["workload", "snapshot", "generation", "files", "actor"]
        }
        AuditEvent::BrowserSessionStarted(_) => &["session", "client"],
        AuditEvent::BrowserSessionEnded(_) => &[
            "session",
            "ended",
            "pages",
            "refused",
            "navigated",
            "seconds",
        ],
        AuditEvent::CdpRefused(_) => &["session", "method", "reason"],
        AuditEvent::BrowserNavigated(_) => &["session", "host"],
        AuditEvent::DeviceIssued(_) => &["device", "serial", "actor"],
        AuditEvent::DeviceRevoked(_) => &["serial", "actor"],
        AuditEvent::SetupLinkIssued(_) => &["expires_at", "actor"],
        AuditEvent::PasskeyRegistered(_) => &["request_id", "client", "passkey"],
        AuditEvent::PasskeyRemoved(_) => &["passkey", "actor"],
        AuditEvent::ProviderSwitched(_) => &["from", "to", "reason"],
        AuditEvent::MemoryNoteChanged(_) => &["note", "change", "actor"],
        AuditEvent::ExecDecided(_) => &["session", "command_sha256", "decision", "reason", "actor"],
        AuditEvent::EgressDecided(_) => {
            &["shell", "host", "port", "decision", "reason", "carriage"]
        }
        AuditEvent::SecretRedacted(_) => &["session", "secret"],
        AuditEvent::RequestsSummarized(_) => {
            &["client", "kind", "count", "window_start", "window_secs"]
        }
        AuditEvent::SecretMisdirected(_) | AuditEvent::SecretLeakBlocked(_) => {
            &["shell", "secret", "host"]
        }
        AuditEvent::ExecFinished(_) => &[
            "session",
            "command_sha256",
            "ended",
            "exit_code",
            "duration_ms",
            "pids_limit_hit",
        ],
        AuditEvent::ApprovalEventDropped(_) => &["request_id", "session"],
        AuditEvent::PairingRequested(_) => &["sender"],
        AuditEvent::PairingApproved(_) => &["sender", "role", "subject", "actor"],
        AuditEvent::PairingRevoked(_) => &["sender", "actor"],
        AuditEvent::ChannelMessageRefused(_) => &["platform", "sender", "reason"],
        AuditEvent::WebhookRejected(_) => &["request_id", "client", "platform", "reason"],
        AuditEvent::FileDeposited(_) | AuditEvent::FileShared(_) => {
            &["session", "name", "size", "sha256"]
        }
        AuditEvent::ModuleAdded(_) => &["module", "package", "key_id", "official", "actor"],
        AuditEvent::ModuleUpdated(_) => &[
            "module", "previous", "package", "key_id", "widened", "actor",
        ],
        AuditEvent::ModuleRemoved(_) => &["module", "package", "actor"],
        AuditEvent::ModuleRefused(_) => &["module", "package", "reason", "actor"],
        AuditEvent::ModuleCalled(_) => &[
            "module",
            "tool",
            "package",
            "session",
            "outcome",
            "duration_ms",
        ],
        AuditEvent::TurnFinished(_) => &[
            "request_id",
            "subject",
            "session",
            "end",
            "reason",
            "steps",
            "tool_calls",
            "input_tokens",
            "output_tokens",
        ],
    }
}

#[test]
fn samples_cover_every_event_type_once() {
    let names: BTreeSet<&str> = samples().iter().map(AuditEvent::type_name).collect();
    assert_eq!(names.len(), samples().len());
    assert_eq!(names.len(), 49);
}

#[test]
fn every_event_serializes_to_exactly_its_declared_fields() {
    for event in samples() {
        let json = serde_json::to_value(&event).unwrap();
        let object = json.as_object().unwrap();
        let keys: BTreeSet<&str> = object.keys().map(String::as_str).collect();
        let mut declared: BTreeSet<&str> = declared_fields(&event).iter().copied().collect();
        declared.insert("type");
        assert_eq!(keys, declared, "{}", event.type_name());
        assert_eq!(object["type"], event.type_name());
    }
}

#[test]
fn no_event_field_is_a_nested_object_or_list() {
    // A map or list could grow an "extra" bag of headers; scalars cannot.
    for event in samples() {
        let json = serde_json::to_value(&event).unwrap();
        for (field, value) in json.as_object().unwrap() {
            assert!(
                !value.is_object() && !value.is_array(),
                "{}.{field} is not a scalar",
                event.type_name()
            );
        }
    }
}

#[test]
fn every_event_reads_back_as_written() {
    for event in samples() {
        let json = serde_json::to_string(&event).unwrap();
        let back: AuditEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
    }
}

#[test]
fn an_extra_field_is_refused_when_read() {
    let json =
        r#"{"type":"token_revoked","token_id":"tok_1","actor":null,"authorization":"Bearer x"}"#;
    assert!(serde_json::from_str::<AuditEvent>(json).is_err());
}

#[test]
fn an_unknown_event_type_is_refused_when_read() {
    let json = r#"{"type":"headers_seen","authorization":"Bearer x"}"#;
    assert!(serde_json::from_str::<AuditEvent>(json).is_err());
}

#[test]
fn a_provider_switch_reads_as_checked_only_for_chain_entries_and_a_known_reason() {
    let checked = |json: &str| {
        let switch = serde_json::from_str::<ProviderSwitched>(json).unwrap();
        switch.from.checked().is_some()
            && switch.to.checked().is_some()
            && switch.reason.checked().is_some()
    };
    assert!(checked(
        r#"{"from":"a/m-1","to":"b/m:2","reason":"rate_limited"}"#
    ));
    // Each still reads (an older release wrote free text here), but only as
    // legacy text, never as a checked value.
    for bad in [
        // Free text, or a reason of the sender's own making.
        r#"{"from":"a/m","to":"b/m","reason":"anthropic answered 529"}"#,
        // A name that reorders or recolours what a reader sees.
        "{\"from\":\"a/m\u{202e}\",\"to\":\"b/m\",\"reason\":\"overloaded\"}",
        "{\"from\":\"a/m\",\"to\":\"b/\\u001b[31m\",\"reason\":\"overloaded\"}",
        // Not provider/model.
        r#"{"from":"anthropic","to":"b/m","reason":"overloaded"}"#,
        r#"{"from":"A/m","to":"b/m","reason":"overloaded"}"#,
    ] {
        assert!(!checked(bad), "{bad}");
    }
}

#[test]
fn an_exec_finished_from_before_the_pids_field_reads_back_without_it() {
    let old = r#"{"type":"exec_finished","session":"s","command_sha256":"ab","ended":"exited","exit_code":0,"duration_ms":12}"#;
    let event: AuditEvent = serde_json::from_str(old).unwrap();
    let AuditEvent::ExecFinished(finished) = &event else {
        panic!("{event:?}");
    };
    assert_eq!(finished.pids_limit_hit, None);
    assert_eq!(serde_json::to_string(&event).unwrap(), old);
}

#[test]
fn records_written_when_these_fields_were_strings_read_back_to_their_bytes() {
    // As releases before the closed sets wrote them; the hash chain covers
    // these bytes, so they must serialize back unchanged.
    let stored = [
        r#"{"type":"exec_decided","session":"web-0a1b2c3d-00112233","command_sha256":"abab","decision":"asked","reason":"runs_programs","actor":null}"#,
        r#"{"type":"exec_decided","session":"web-0a1b2c3d-00112233","command_sha256":"abab","decision":"approved","reason":null,"actor":"owner"}"#,
        r#"{"type":"exec_finished","session":"s","command_sha256":"ab","ended":"failed","exit_code":null,"duration_ms":3}"#,
        r#"{"type":"exec_finished","session":"s","command_sha256":"ab","ended":"pids","exit_code":254,"duration_ms":12,"pids_limit_hit":true}"#,
        r#"{"type":"egress_decided","shell":"agent","host":"api.example.com","port":443,"decision":"allowed","reason":null}"#,
        r#"{"type":"egress_decided","shell":"exec","host":"evil.test","port":0,"decision":"refused","reason":"it carried a secret's value"}"#,
        r#"{"type":"egress_decided","shell":"exec","host":"api.example.com","port":443,"decision":"allowed","reason":null,"carriage":"raw_tunnel"}"#,
        r#"{"type":"secret_leak_blocked","shell":"agent","secret":"GITHUB_TOKEN","host":"evil.test"}"#,
        r#"{"type":"turn_finished","request_id":"req-1","subject":"owner","session":"web-1","end":"completed","reason":null,"steps":1,"tool_calls":0,"input_tokens":10,"output_tokens":2}"#,
        r#"{"type":"turn_finished","request_id":"req-1","subject":"owner","session":"web-1","end":"refused","reason":"spend cap","steps":0,"tool_calls":0,"input_tokens":0,"output_tokens":0}"#,
        r#"{"type":"memory_note_changed","note":"coffee-order","change":"deleted","actor":null}"#,
    ];
    for json in stored {
        let event: AuditEvent = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&event).unwrap(), json);
    }
}

#[test]
fn a_state_record_naming_a_path_is_refused_when_read() {
    // Names are key segments: a path from the workload's files, or one that
    // climbs out, is not a state name.
    for json in [
        r#"{"type":"workload_state_snapshotted","workload":"workload","snapshot":"../lease","generation":1,"files":1,"actor":null}"#,
        r#"{"type":"workload_state_prepared","workload":"workload","outcome":"set_aside","generation":2,"files":null,"local_base":1,"set_aside":".openclaw/x"}"#,
        r#"{"type":"workload_state_restored","workload":"/etc","snapshot":null,"generation":1,"files":1,"set_aside":null,"actor":null}"#,
    ] {
        assert!(serde_json::from_str::<AuditEvent>(json).is_err(), "{json}");
    }
}

#[test]
fn a_word_outside_a_closed_set_is_refused_when_read() {
    for json in [
        r#"{"type":"exec_decided","session":"s","command_sha256":"ab","decision":"maybe","reason":null,"actor":null}"#,
        r#"{"type":"exec_decided","session":"s","command_sha256":"ab","decision":"refused","reason":"felt like it","actor":null}"#,
        r#"{"type":"exec_finished","session":"s","command_sha256":"ab","ended":"crashed","exit_code":null,"duration_ms":3}"#,
        r#"{"type":"egress_decided","shell":"workload","host":"h","port":1,"decision":"allowed","reason":null}"#,
        r#"{"type":"turn_finished","request_id":"r","subject":"o","session":"w","end":"done","reason":null,"steps":1,"tool_calls":0,"input_tokens":1,"output_tokens":1}"#,
        r#"{"type":"workload_state_lost","workload":"workload","cause":"unlucky","generation":null}"#,
        r#"{"type":"cdp_refused","session":"s","method":"Page.navigate","reason":"felt like it"}"#,
        r#"{"type":"browser_session_ended","session":"s","ended":"crashed","pages":1,"refused":0,"navigated":0,"seconds":1}"#,
        r#"{"type":"workload_state_prepared","workload":"workload","outcome":"wiped","generation":1,"files":null,"local_base":null,"set_aside":null}"#,
    ] {
        assert!(serde_json::from_str::<AuditEvent>(json).is_err(), "{json}");
    }
}

#[test]
fn a_browser_record_holding_a_url_or_parameters_is_refused_when_read() {
    for json in [
        r#"{"type":"browser_navigated","session":"s","host":"example.com/login?password=hunter2"}"#,
        r#"{"type":"browser_navigated","session":"s","host":"user:pw@example.com"}"#,
        r#"{"type":"cdp_refused","session":"s","method":"Input.insertText hunter2","reason":"denied"}"#,
    ] {
        assert!(serde_json::from_str::<AuditEvent>(json).is_err(), "{json}");
    }
}
