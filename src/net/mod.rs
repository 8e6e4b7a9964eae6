//! Operator → aggregator wire: bounded, length-prefixed frames over a byte stream.
//!
//! A frame is `length: u32 BE | body`, body at most `MAX_FRAME` bytes; bodies are `codec`
//! messages. One connection carries any number of request/reply pairs: the operator sends a
//! `Response`, the aggregator answers `Ack` or `Reject{code, text}`. Everything runs on
//! `tokio::net` (madsim's simulated TCP under `--cfg madsim`), and the frame functions take any
//! `AsyncRead`/`AsyncWrite`, so the simulator can also hand in its own streams.
//!
//! # Connection limits (the aggregator is a public server)
//!
//! Anyone can connect, so no connection is ever waited for before `accept`: the server always
//! accepts and then makes room. Operators open one connection per response and send it at once,
//! so what an honest operator needs is that a fresh connection is served now.
//! - **Two pools.** A connection starts *unproven*. Once one of its responses gets an `Ack` (it
//!   passed the aggregator's checks, signature included, or was buffered for a task not yet
//!   seen) it becomes *proven* and moves to a separate pool of `max_proven` slots that new
//!   arrivals never evict.
//! - **Eviction, not refusal.** The unproven pool holds `max_unproven` connections, at most
//!   `max_per_ip` from one IP. A new connection from an IP at its cap evicts that IP's oldest
//!   unproven connection; otherwise a new connection into a full pool evicts the oldest unproven
//!   one overall. A flood of idle or junk connections therefore only evicts itself, and a fresh
//!   honest connection (even from the attacker's IP, e.g. loopback) is admitted and served; to
//!   push it out before its first frame is read, an attacker must open `max_per_ip` connections
//!   in that instant.
//! - **Timers junk cannot refresh.** The first valid frame is due within
//!   `first_frame_timeout`; after that a connection is closed `idle_timeout` after its last
//!   frame that decoded as a response. Malformed frames are answered with a `Reject` but do not
//!   move the deadline, and after `max_malformed` of them the connection is closed.
//! - **Quiet logs.** Malformed frames, evictions and idle closes are counted and logged as one
//!   summary line per `log_interval`, never one line per frame.

pub mod codec;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, oneshot};

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
    /// Connections not (yet) proven honest, served at once. When full, a new connection evicts
    /// the oldest of them.
    pub max_unproven: usize,
    /// Of those, at most this many from one IP address. When one IP is at its cap, its new
    /// connection evicts that IP's oldest unproven connection (never another IP's).
    pub max_per_ip: usize,
    /// Connections that earned an `Ack`: kept apart and never evicted by new arrivals. Beyond
    /// this many, a connection stays unproven.
    pub max_proven: usize,
    /// A connection without a valid frame for this long is closed. Only a frame that decodes as
    /// a response restarts this timer; malformed frames do not.
    pub idle_timeout: Duration,
    /// A new connection must deliver its first valid frame within this.
    pub first_frame_timeout: Duration,
    /// Malformed frames tolerated on one connection; the next closes it.
    pub max_malformed: u32,
    /// Longest wait for the verdict and for writing the reply.
    pub reply_timeout: Duration,
    /// Rejections and evictions are logged as one summary line per this interval.
    pub log_interval: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_unproven: 192,
            max_per_ip: 64,
            max_proven: 256,
            idle_timeout: Duration::from_secs(30),
            first_frame_timeout: Duration::from_secs(5),
            max_malformed: 3,
            reply_timeout: Duration::from_secs(10),
            log_interval: Duration::from_secs(10),
        }
    }
}

/// What the server did to misbehaving peers since the last summary line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Abuse {
    pub malformed_frames: u64,
    pub closed_for_malformed: u64,
    pub evicted: u64,
    pub idle_closed: u64,
}

impl Abuse {
    fn is_empty(&self) -> bool {
        *self == Abuse::default()
    }
}

struct Conn {
    ip: IpAddr,
    proven: bool,
    stop: Arc<Notify>,
}

/// Every live connection, in arrival order (ids grow), and the counters for the log summary.
#[derive(Default)]
struct Registry {
    conns: BTreeMap<u64, Conn>,
    next: u64,
    abuse: Abuse,
    last_log: Option<tokio::time::Instant>,
}

impl Registry {
    fn unproven(&self) -> impl Iterator<Item = (&u64, &Conn)> {
        self.conns.iter().filter(|(_, c)| !c.proven)
    }

    fn evict(&mut self, id: u64) {
        if let Some(c) = self.conns.remove(&id) {
            c.stop.notify_one();
            self.abuse.evicted += 1;
        }
    }

    /// Make room for a new connection from `ip`, then register it.
    fn admit(&mut self, ip: IpAddr, cfg: &ServerConfig) -> (u64, Arc<Notify>) {
        let same_ip = self.unproven().filter(|(_, c)| c.ip == ip).count();
        let victim = if same_ip >= cfg.max_per_ip.max(1) {
            self.unproven().find(|(_, c)| c.ip == ip).map(|(id, _)| *id)
        } else if self.unproven().count() >= cfg.max_unproven.max(1) {
            self.unproven().next().map(|(id, _)| *id)
        } else {
            None
        };
        if let Some(id) = victim {
            self.evict(id);
        }
        let id = self.next;
        self.next += 1;
        let stop = Arc::new(Notify::new());
        self.conns.insert(
            id,
            Conn {
                ip,
                proven: false,
                stop: stop.clone(),
            },
        );
        (id, stop)
    }

    fn promote(&mut self, id: u64, cfg: &ServerConfig) {
        let proven = self.conns.values().filter(|c| c.proven).count();
        if proven < cfg.max_proven
            && let Some(c) = self.conns.get_mut(&id)
        {
            c.proven = true;
        }
    }

    /// One summary line per `log_interval`, and only when something happened.
    fn maybe_log(&mut self, cfg: &ServerConfig) {
        let now = tokio::time::Instant::now();
        let due = self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= cfg.log_interval);
        if due && !self.abuse.is_empty() {
            let a = std::mem::take(&mut self.abuse);
            tracing::warn!(
                malformed_frames = a.malformed_frames,
                closed_for_malformed = a.closed_for_malformed,
                evicted = a.evicted,
                idle_closed = a.idle_closed,
                connections = self.conns.len(),
                "connections: misbehaving peers since the last summary"
            );
            self.last_log = Some(now);
        }
    }
}

/// Shared state of a running server: live connections and abuse counters.
#[derive(Clone, Default)]
pub struct ServerState(Arc<Mutex<Registry>>);

impl ServerState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Live connections: (unproven, proven).
    pub fn connections(&self) -> (usize, usize) {
        let r = self.lock();
        let proven = r.conns.values().filter(|c| c.proven).count();
        (r.conns.len() - proven, proven)
    }
}

/// How one connection ended, for the counters.
enum End {
    Clean,
    Idle,
    Malformed,
    Other,
}

/// Accept connections forever (until `tx`'s receiver is dropped), handing each decoded response
/// to `tx` and writing back the verdict. Bad frames get a `Reject` (code of
/// `RejectReason::Malformed`); an oversized frame also closes its connection, since the stream
/// can no longer be parsed. See the module doc for the connection limits.
pub async fn serve(listener: tokio::net::TcpListener, tx: mpsc::Sender<Incoming>) {
    serve_with(
        listener,
        tx,
        ServerConfig::default(),
        ServerState::default(),
    )
    .await
}

pub async fn serve_with(
    listener: tokio::net::TcpListener,
    tx: mpsc::Sender<Incoming>,
    cfg: ServerConfig,
    state: ServerState,
) {
    loop {
        if tx.is_closed() {
            return;
        }
        // Never wait for a slot before accepting: a full server makes room by eviction, so the
        // accept queue cannot be filled by connections that hold slots and say nothing.
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (id, stop) = {
            let mut r = state.lock();
            let admitted = r.admit(peer.ip(), &cfg);
            r.maybe_log(&cfg);
            admitted
        };
        let tx = tx.clone();
        let cfg = cfg.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let mut stream = stream;
            let end = tokio::select! {
                biased;
                _ = stop.notified() => End::Other,
                r = serve_connection_gated(&mut stream, &tx, &cfg, &state, id) => match r {
                    Ok(()) => End::Clean,
                    Err(NetError::Timeout("idle")) => End::Idle,
                    Err(NetError::Unexpected("too many malformed frames")) | Err(NetError::FrameTooLarge(_)) => End::Malformed,
                    Err(e) => {
                        tracing::debug!(%peer, "connection ended: {e}");
                        End::Other
                    }
                },
            };
            let mut r = state.lock();
            r.conns.remove(&id);
            match end {
                End::Idle => r.abuse.idle_closed += 1,
                End::Malformed => r.abuse.closed_for_malformed += 1,
                End::Clean | End::Other => {}
            }
            r.maybe_log(&cfg);
        });
    }
}

/// Serve request/reply pairs on one stream until it closes, idles, or breaks.
pub async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    tx: &mpsc::Sender<Incoming>,
    cfg: &ServerConfig,
) -> Result<(), NetError> {
    serve_connection_gated(stream, tx, cfg, &ServerState::default(), u64::MAX).await
}

async fn serve_connection_gated<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    tx: &mpsc::Sender<Incoming>,
    cfg: &ServerConfig,
    state: &ServerState,
    id: u64,
) -> Result<(), NetError> {
    // The deadline moves only when a frame decodes as a response: junk cannot keep a slot.
    let mut deadline = tokio::time::Instant::now() + cfg.first_frame_timeout.min(cfg.idle_timeout);
    let mut malformed = 0u32;
    loop {
        // `timeout` with the time left, not `timeout_at`: madsim's time module has no `timeout_at`.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = match tokio::time::timeout(left, read_frame(stream)).await {
            Err(_) => return Err(NetError::Timeout("idle")),
            Ok(Ok(None)) => return Ok(()),
            Ok(Ok(Some(f))) => f,
            Ok(Err(NetError::FrameTooLarge(n))) => {
                state.lock().abuse.malformed_frames += 1;
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
                deadline = tokio::time::Instant::now() + cfg.idle_timeout;
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
        let bad = matches!(verdict, Err(RejectReason::Malformed(_)));
        if bad {
            malformed += 1;
            state.lock().abuse.malformed_frames += 1;
        }
        within(cfg.reply_timeout, "replying", reply(stream, &verdict)).await?;
        if verdict.is_ok() {
            state.lock().promote(id, cfg);
        }
        if bad && malformed > cfg.max_malformed {
            return Err(NetError::Unexpected("too many malformed frames"));
        }
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
