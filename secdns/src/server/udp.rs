//! The userspace UDP responder: what XDP passes on (and everything, without XDP).
//!
//! Each socket is served by one OS thread per core, blocked in `recv_from`: the kernel wakes
//! one of them per datagram. As tokio tasks sharing a socket, every datagram woke the runtime
//! and both tasks, and answering cost twice knotd's CPU per query (`cargo xtask bench servers`).

use std::{
    net::{SocketAddr, UdpSocket},
    sync::Arc,
};

use anyhow::Context as _;
use secdns_common::rrl::Verdict;
use socket2::{Domain, Protocol, Socket, Type};

use super::RequestHandler;
use crate::{answer::Transport, dns::codes::flags, stats::ResponderStats};

pub fn bind(addr: SocketAddr) -> anyhow::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .context("creating UDP socket")?;
    if addr.is_ipv6() {
        // Lets "[::]:53" and "0.0.0.0:53" be listed side by side.
        socket.set_only_v6(true).context("IPV6_V6ONLY")?;
    }
    socket
        .bind(&addr.into())
        .with_context(|| format!("cannot listen on UDP {addr}"))?;
    Ok(socket.into())
}

/// Starts the threads answering on `socket`.
pub fn start<H: RequestHandler>(
    socket: UdpSocket,
    handler: &H,
    payload: u16,
) -> anyhow::Result<()> {
    let socket = Arc::new(socket);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    for i in 0..threads {
        let (socket, handler) = (socket.clone(), handler.clone());
        std::thread::Builder::new()
            .name(format!("udp-{i}"))
            .spawn(move || serve(&socket, &handler, payload))
            .context("starting a UDP responder thread")?;
    }
    Ok(())
}

fn serve<H: RequestHandler>(socket: &UdpSocket, handler: &H, payload: u16) {
    let mut buf = vec![0u8; 65535];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf) {
            Ok(received) => received,
            Err(e) => {
                tracing::debug!("UDP receive: {e}");
                continue;
            }
        };
        let Some((reply, verdict)) =
            handler.reply(&buf[..len], peer.ip(), Transport::Udp { payload })
        else {
            ResponderStats::bump(&handler.stats().udp_ignored);
            continue;
        };
        match verdict {
            Verdict::Answer => {}
            Verdict::Slip => ResponderStats::bump(&handler.stats().udp_slipped),
            Verdict::Drop => {
                ResponderStats::bump(&handler.stats().udp_rate_limited);
                continue;
            }
        }
        if verdict == Verdict::Answer
            && reply
                .get(2)
                .is_some_and(|b| u16::from(*b) << 8 & flags::TC != 0)
        {
            ResponderStats::bump(&handler.stats().udp_truncated);
        }
        match socket.send_to(&reply, peer) {
            Ok(_) => ResponderStats::bump(&handler.stats().udp_answered),
            Err(e) => tracing::debug!(%peer, "UDP send: {e}"),
        }
    }
}
