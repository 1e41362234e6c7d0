//! Raw tunnels: a `CONNECT` on a route the broker need not read, joined
//! to the destination byte for byte, counted against the shell's budget.

use std::net::SocketAddr;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::shell::{Shell, pump};
use super::{Body, Broker, empty, refusal};
use crate::host::Host;

impl Broker {
    pub(super) async fn tunnel(
        &self,
        shell: &Shell,
        request: Request<Incoming>,
        host: &Host,
        port: u16,
        address: SocketAddr,
    ) -> Response<Body> {
        // Counted before anything is dialled: a shell at its limit does not
        // get the broker to open connections for it.
        let Some(slot) = shell.slot(&self.limits) else {
            return refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "hardshell broker: too many connections at once\n",
            );
        };
        self.allowed(host, port, true, false);
        let upstream = match self.dial(address).await {
            Ok(stream) => stream,
            Err(e) => return refusal(StatusCode::BAD_GATEWAY, &format!("{e}\n")),
        };
        let (shell, limits) = (shell.clone(), self.limits.clone());
        tokio::spawn(async move {
            // Counted for as long as the tunnel is open.
            let _slot = slot;
            if let Ok(upgraded) = hyper::upgrade::on(request).await {
                let (from_shell, to_shell) = tokio::io::split(TokioIo::new(upgraded));
                let (from_upstream, to_upstream) = upstream.into_split();
                // Either direction spending the budget, or ending, ends both.
                tokio::select! {
                    () = pump(from_shell, to_upstream, &shell, &limits) => {}
                    () = pump(from_upstream, to_shell, &shell, &limits) => {}
                }
            }
        });
        Response::new(empty())
    }
}
