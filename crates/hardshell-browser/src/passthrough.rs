//! TEMPORARY: frames relayed unread, until the policed relay lands (issue
//! 16, same stop). Never released: replaced by `relay.rs` before merge.

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;

pub(crate) async fn relay<C, B>(client: WebSocketStream<C>, browser: WebSocketStream<B>)
where
    C: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (mut client_out, mut client_in) = client.split();
    let (mut browser_out, mut browser_in) = browser.split();
    let up = async {
        while let Some(Ok(message)) = client_in.next().await {
            if message.is_close() || browser_out.send(message).await.is_err() {
                break;
            }
        }
    };
    let down = async {
        while let Some(Ok(message)) = browser_in.next().await {
            if message.is_close() || client_out.send(message).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}
