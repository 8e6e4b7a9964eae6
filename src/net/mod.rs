//! Operator → aggregator wire: bounded, length-prefixed frames over a byte stream.
//!
//! A frame is `length: u32 BE | body`, body at most `MAX_FRAME` bytes; bodies are `codec`
//! messages. One connection carries any number of request/reply pairs: the operator sends a
//! `Response`, the aggregator answers `Ack` or `Reject{code, text}`. Everything runs on
//! `tokio::net` (madsim's simulated TCP under `--cfg madsim`), and the frame functions take any
//! `AsyncRead`/`AsyncWrite`, so the simulator can also hand in its own streams.

pub mod codec;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc, oneshot};

pub use codec::{CodecError, Message};

use crate::protocol::{RejectReason, Response};

/// Largest frame body accepted or sent. A response is 2 + 8 + 8 + 20 + 2 + 192 = 232 bytes.
pub const MAX_FRAME: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out while {0}")]
    Timeout(&'static str),
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME}")]
    FrameTooLarge(usize),
    #[error("connection closed by peer")]
    Closed,
    #[error("bad message: {0}")]
    Codec(#[from] CodecError),
    #[error("unexpected message from peer: {0}")]
    Unexpected(&'static str),
}

/// What the aggregator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ack,
    Rejected { code: u16, text: String },
}

/// Read one frame body. `Ok(None)` on a clean end of stream before a frame starts.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, NetError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(NetError::Closed)
            };
        }
        got += n;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(NetError::FrameTooLarge(len));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => NetError::Closed,
        _ => NetError::Io(e),
    })?;
    Ok(Some(body))
}

pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> Result<(), NetError> {
    if body.len() > MAX_FRAME {
        return Err(NetError::FrameTooLarge(body.len()));
    }
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(body);
    w.write_all(&buf).await?;
    w.flush().await?;
    Ok(())
}

async fn within<T>(
    d: Duration,
    what: &'static str,
    f: impl Future<Output = Result<T, NetError>>,
) -> Result<T, NetError> {
    tokio::time::timeout(d, f)
        .await
        .map_err(|_| NetError::Timeout(what))?
}

/// Send one response on an open stream and wait for the reply, all within `timeout`.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    response: &Response,
    timeout: Duration,
) -> Result<Reply, NetError> {
    let body = codec::encode(&Message::Response(response.clone()))?;
    within(timeout, "sending the response", write_frame(stream, &body)).await?;
    let reply = within(timeout, "waiting for the reply", read_frame(stream))
        .await?
        .ok_or(NetError::Closed)?;
    match codec::decode(&reply)? {
        Message::Ack => Ok(Reply::Ack),
        Message::Reject { code, text } => Ok(Reply::Rejected { code, text }),
        Message::Response(_) => Err(NetError::Unexpected("a response where a reply was due")),
    }
}

/// Connect to the aggregator (within `timeout`), send one response, return its reply.
pub async fn send_response(
    addr: SocketAddr,
    response: &Response,
    timeout: Duration,
) -> Result<Reply, NetError> {
    let mut stream = within(timeout, "connecting", async {
        tokio::net::TcpStream::connect(addr)
            .await
            .map_err(NetError::from)
    })
    .await?;
    exchange(&mut stream, response, timeout).await
}

/// The aggregator's verdict on one response, sent back through the channel `serve` feeds.
pub type Verdict = Result<(), RejectReason>;
/// A decoded response and where to put its verdict.
pub type Incoming = (Response, oneshot::Sender<Verdict>);

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Connections served at once; more wait in the accept queue.
    pub max_connections: usize,
    /// A connection idle (no complete frame) this long is closed.
    pub idle_timeout: Duration,
    /// Longest wait for the verdict and for writing the reply.
    pub reply_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_connections: 256,
            idle_timeout: Duration::from_secs(30),
            reply_timeout: Duration::from_secs(10),
        }
    }
}

/// Accept connections forever (until `tx`'s receiver is dropped), handing each decoded response
/// to `tx` and writing back the verdict. Bad frames get a `Reject` (code of
/// `RejectReason::Malformed`); an oversized frame also closes its connection, since the stream
/// can no longer be parsed.
pub async fn serve(listener: tokio::net::TcpListener, tx: mpsc::Sender<Incoming>) {
    serve_with(listener, tx, ServerConfig::default()).await
}

pub async fn serve_with(
    listener: tokio::net::TcpListener,
    tx: mpsc::Sender<Incoming>,
    cfg: ServerConfig,
) {
    let slots = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        if tx.is_closed() {
            return;
        }
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let tx = tx.clone();
        let cfg = cfg.clone();
        tokio::spawn(async move {
            let mut stream = stream;
            if let Err(e) = serve_connection(&mut stream, &tx, &cfg).await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
}

/// Serve request/reply pairs on one stream until it closes, idles, or breaks.
pub async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    tx: &mpsc::Sender<Incoming>,
    cfg: &ServerConfig,
) -> Result<(), NetError> {
    loop {
        let frame = match tokio::time::timeout(cfg.idle_timeout, read_frame(stream)).await {
            Err(_) => return Err(NetError::Timeout("idle")),
            Ok(Ok(None)) => return Ok(()),
            Ok(Ok(Some(f))) => f,
            Ok(Err(NetError::FrameTooLarge(n))) => {
                let reason =
                    RejectReason::Malformed(format!("frame of {n} bytes exceeds {MAX_FRAME}"));
                let _ = within(cfg.reply_timeout, "replying", async {
                    reply(stream, &Err(reason)).await?;
                    // Close our side gracefully so the reject is delivered before the close.
                    stream.shutdown().await.map_err(NetError::from)
                })
                .await;
                return Err(NetError::FrameTooLarge(n));
            }
            Ok(Err(e)) => return Err(e),
        };
        let verdict = match codec::decode(&frame) {
            Ok(Message::Response(r)) => {
                let (vtx, vrx) = oneshot::channel();
                if tx.send((r, vtx)).await.is_err() {
                    return Err(NetError::Closed);
                }
                match tokio::time::timeout(cfg.reply_timeout, vrx).await {
                    Ok(Ok(v)) => v,
                    Ok(Err(_)) => return Err(NetError::Closed),
                    Err(_) => return Err(NetError::Timeout("waiting for the verdict")),
                }
            }
            Ok(_) => Err(RejectReason::Malformed("expected a response".into())),
            Err(e) => Err(RejectReason::Malformed(e.to_string())),
        };
        within(cfg.reply_timeout, "replying", reply(stream, &verdict)).await?;
    }
}

async fn reply<W: AsyncWrite + Unpin>(w: &mut W, verdict: &Verdict) -> Result<(), NetError> {
    let msg = match verdict {
        Ok(()) => Message::Ack,
        Err(reason) => Message::reject(reason),
    };
    write_frame(w, &codec::encode(&msg)?).await
}

#[cfg(test)]
mod tests;
