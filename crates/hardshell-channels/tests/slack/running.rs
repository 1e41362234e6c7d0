//! A Socket Mode channel running against the fake, until stopped.
#![allow(dead_code)]

use hardshell_channels::slack::SlackChannel;
use hardshell_channels::slack::api::SlackApi;
use tokio::sync::oneshot;

use crate::fake::{APP_TOKEN, BOT_TOKEN, FakeSlack};
use crate::setup::{Setup, secret};

pub struct Running {
    pub fake: FakeSlack,
    pub setup: Setup,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// The channel in Socket Mode, connected, with `C0GROUP` an allowed group.
pub async fn running() -> Running {
    let fake = FakeSlack::start().await;
    let mut setup = Setup::new(&["C0GROUP"]).await;
    let api = SlackApi::new(fake.api_root(), secret(BOT_TOKEN), Some(secret(APP_TOKEN))).unwrap();
    let channel = SlackChannel::socket(api, setup.dispatcher(), setup.state()).unwrap();
    assert!(channel.webhook().is_none(), "Socket Mode opens no route");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(channel.run(async move {
        let _ = stopped.await;
    }));
    fake.wait_connections(1).await;
    Running {
        fake,
        setup,
        stop,
        task,
    }
}

impl Running {
    pub async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap();
    }
}
