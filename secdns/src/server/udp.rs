//! The userspace UDP responder: what XDP passes on (and everything, without XDP).

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::Shared;
use crate::{answer::Transport, dns::codes::flags, stats::ResponderStats};

pub fn bind(addr: SocketAddr) -> anyhow::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .context("creating UDP socket")?;
    if addr.is_ipv6() {
        // Lets "[::]:53" and "0.0.0.0:53" be listed side by side.
        socket.set_only_v6(true).context("IPV6_V6ONLY")?;
    }
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .with_context(|| format!("cannot listen on UDP {addr}"))?;
    UdpSocket::from_std(socket.into()).context("registering UDP socket")
}

pub async fn serve(socket: Arc<UdpSocket>, shared: Shared, payload: u16) {
    let mut buf = vec![0u8; 65535];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                tracing::debug!("UDP receive: {e}");
                continue;
            }
        };
        let Some(reply) = super::reply(&shared, &buf[..len], peer.ip(), Transport::Udp { payload })
        else {
            ResponderStats::bump(&shared.stats.udp_ignored);
            continue;
        };
        if reply
            .get(2)
            .is_some_and(|b| u16::from(*b) << 8 & flags::TC != 0)
        {
            ResponderStats::bump(&shared.stats.udp_truncated);
        }
        match socket.send_to(&reply, peer).await {
            Ok(_) => ResponderStats::bump(&shared.stats.udp_answered),
            Err(e) => tracing::debug!(%peer, "UDP send: {e}"),
        }
    }
}
