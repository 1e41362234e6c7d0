//! The browser (`hardshell-browser`): each session a fresh Chromium in a
//! shell of its own, its only way out its broker, against a test site served
//! from a network namespace the test makes (`scripts/test-site.py`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cdp;
mod cdp_proxy;
mod inside;
mod pool;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hardshell_audit::{AuditLog, AuditOptions, LogId};
use hardshell_broker::secrets::{LeakScanner, LiveScanner};
use hardshell_browser::{BrowserPool, PoolSettings};
use hardshell_config::Cidr;
use hardshell_sandbox::Launcher;
use hardshell_shells::{BrowserLimits, BrowserShells};
use hardshell_testkit::netns::NetnsSite;
use hardshell_testkit::{TestStore, browser};
use hardshell_vocabulary::HostPattern;

/// A browser pool over real shells, its broker allowing the test site only.
#[allow(missing_debug_implementations)]
pub struct Browsing {
    pub pool: BrowserPool,
    pub site: NetnsSite,
    pub audit: Arc<AuditLog>,
    pub store: TestStore,
    pub run_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Browsing {
    /// Every audit record written so far, as JSON.
    pub async fn records(&self) -> Vec<serde_json::Value> {
        self.audit.flush().await.unwrap();
        let mut tail = hardshell_audit::Tail::new(
            &self.store.scope("audit"),
            &LogId::new("browsing-test").unwrap(),
            1,
        )
        .unwrap();
        tail.read()
            .await
            .unwrap()
            .iter()
            .map(|record| serde_json::to_value(record.event()).unwrap())
            .collect()
    }

    pub async fn new(max_instances: usize) -> Self {
        assert!(
            std::path::Path::new(browser::CHROMIUM).exists(),
            "{} is missing: scripts/install.sh installs chromium",
            browser::CHROMIUM
        );
        let site = NetnsSite::serve(&browser::script("test-site.py"));
        let store = TestStore::new().await;
        let audit = Arc::new(
            AuditLog::open(
                &store.scope("audit"),
                &LogId::new("browsing-test").unwrap(),
                AuditOptions::default(),
            )
            .await
            .unwrap(),
        );
        let allow = [HostPattern::parse(&site.address.to_string()).unwrap()];
        let internal = [Cidr::parse(&site.cidr()).unwrap()];
        let broker = hardshell_egress::browser_broker(
            hardshell_egress::BrowserEgress {
                allow: &allow,
                allow_public: false,
                internal: &internal,
                own: &[std::net::IpAddr::V4(site.host_address)],
            },
            LiveScanner::fixed(LeakScanner::new(&[])),
            audit.clone(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join("run/browser");
        let launcher = Launcher {
            program: PathBuf::from(env!("CARGO_BIN_EXE_hardshell")),
            args: vec!["shell-init".into()],
        };
        let shells = BrowserShells::new(
            launcher,
            run_dir.clone(),
            std::path::Path::new("/usr/lib/chromium/chromium"),
            Arc::new(broker),
            BrowserLimits {
                memory_bytes: 1 << 30,
                cpu_percent: 100,
                tmp_bytes: 256 << 20,
            },
        )
        .unwrap();
        let pool = BrowserPool::new(
            Arc::new(shells),
            PoolSettings {
                max_instances,
                ready_within: Duration::from_secs(30),
                browser: hardshell_browser::RelayLimits::default().browser_config(),
            },
        );
        Self {
            pool,
            site,
            audit,
            store,
            run_dir: run_dir.canonicalize().unwrap(),
            _dir: dir,
        }
    }
}
