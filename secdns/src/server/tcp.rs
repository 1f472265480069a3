//! The userspace TCP responder (RFC 7766): several queries per connection, answered in
//! order, an idle timeout, and caps on concurrent connections (see `tcp_connections`).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    time::timeout,
};

use super::{
    RequestHandler,
    tcp_connections::{Admission, Connections, Slot},
};
use crate::{answer::Transport, stats::ResponderStats};

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub idle: Duration,
    pub max_connections: usize,
    pub max_per_client: usize,
    pub payload: u16,
}

pub fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .context("creating TCP socket")?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).context("IPV6_V6ONLY")?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .with_context(|| format!("cannot listen on TCP {addr}"))?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into()).context("registering TCP listener")
}

/// The caps every listener's connections count against together (see `tcp_connections`).
pub fn connections(limits: Limits) -> Arc<Connections> {
    Connections::new(limits.max_connections, limits.max_per_client)
}

/// The next connection of `listener`. A failure to accept (out of file descriptors, most
/// often) is logged for `what`, and accepting resumes a moment later: some may have closed.
pub async fn accept(listener: &TcpListener, what: &str) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!("{what}: accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

pub async fn serve<H: RequestHandler>(
    listener: TcpListener,
    handler: H,
    limits: Limits,
    connections: Arc<Connections>,
) {
    loop {
        let (stream, peer) = accept(&listener, "DNS over TCP").await;
        ResponderStats::bump(&handler.stats().tcp_connections);
        let Some(slot) = admit(&connections, peer, &handler, limits).await else {
            continue; // closed by dropping it
        };
        if slot.evicted_another {
            ResponderStats::bump(&handler.stats().tcp_idle_closed);
        }
        let handler = handler.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, peer, &handler, limits, &slot).await {
                tracing::debug!(%peer, "TCP connection: {e:#}");
            }
        });
    }
}

/// A place for the connection from `peer`; with every connection busy, accepting waits (the
/// rest wait in the kernel's backlog) for one to end or go idle, for an idle timeout at most.
async fn admit<H: RequestHandler>(
    connections: &Arc<Connections>,
    peer: SocketAddr,
    handler: &H,
    limits: Limits,
) -> Option<Slot> {
    let deadline = tokio::time::Instant::now() + limits.idle;
    loop {
        match connections.admit(peer.ip()) {
            Admission::Admitted(slot) => return Some(slot),
            Admission::TooManyFromClient => {
                ResponderStats::bump(&handler.stats().tcp_refused_per_client);
                tracing::debug!(%peer, "TCP connection refused: too many from this client");
                return None;
            }
            Admission::Full => {
                let _waiting = connections.will_wait();
                // A connection that ended or went idle since the refusal made room.
                if let Admission::Admitted(slot) = connections.admit(peer.ip()) {
                    return Some(slot);
                }
                if tokio::time::timeout_at(deadline, connections.room())
                    .await
                    .is_err()
                {
                    tracing::debug!(%peer, "TCP connection refused: every connection busy");
                    return None;
                }
            }
        }
    }
}

async fn connection<H: RequestHandler>(
    mut stream: TcpStream,
    peer: std::net::SocketAddr,
    handler: &H,
    limits: Limits,
    slot: &Slot,
) -> anyhow::Result<()> {
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.split();
    // A length prefix and its message (and often the next queries) arrive together: one read
    // for all of them rather than two reads a query.
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    loop {
        let mut len = [0u8; 2];
        // With the next query already here, the connection is not idle.
        let waiting = reader.buffer().is_empty();
        slot.set_idle(waiting);
        tokio::select! {
            // The query first when both are ready: a query that came is answered.
            biased;
            read = timeout(limits.idle, reader.read_exact(&mut len)) => match read {
                Ok(Ok(_)) => {}
                // Idle timeout or the client closed: both end the connection quietly.
                Ok(Err(_)) | Err(_) => return Ok(()),
            },
            // Closed to make room for another client.
            () = slot.closed() => return Ok(()),
        }
        slot.set_idle(false);
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        timeout(limits.idle, reader.read_exact(&mut msg))
            .await
            .context("timed out inside a message")?
            .context("reading a message")?;
        let transport = Transport::Tcp {
            payload: limits.payload,
            keepalive: Some(keepalive_units(limits.idle)),
        };
        let Some((reply, _)) = handler.reply(&msg, peer.ip(), transport) else {
            return Ok(()); // not a query: nothing sensible to say on this stream
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        framed.extend_from_slice(&reply);
        timeout(limits.idle, writer.write_all(&framed))
            .await
            .context("timed out writing a reply")?
            .context("writing a reply")?;
        ResponderStats::bump(&handler.stats().tcp_answered);
    }
}

/// The idle timeout as edns-tcp-keepalive gives it: in units of 100 ms (RFC 7828 §3.1).
fn keepalive_units(idle: Duration) -> u16 {
    u16::try_from(idle.as_millis() / 100).unwrap_or(u16::MAX)
}
