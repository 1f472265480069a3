//! Where a request that reached userspace is handled, whichever transport brought it: a
//! NOTIFY goes to the secondary zones, every other message is answered from the current
//! snapshot, with DNS Cookies and (over UDP) rate limits.

use std::{net::IpAddr, sync::Arc};

use secdns_common::rrl::Verdict;

use crate::{
    answer::{Transport, query, respond_keyed, slip_reply},
    cookies::Judged,
    publish::Shared,
    secondary::Secondaries,
    server::RequestHandler,
};

/// The request handler of `secdns serve`.
#[derive(Clone)]
pub struct Handler {
    pub shared: Shared,
    pub secondaries: Arc<Secondaries>,
}

impl RequestHandler for Handler {
    fn stats(&self) -> &crate::stats::ResponderStats {
        &self.shared.stats
    }

    fn reply(
        &self,
        msg: &[u8],
        source: IpAddr,
        transport: Transport,
    ) -> Option<(Vec<u8>, Verdict)> {
        let shared = &self.shared;
        let opcode = msg.get(2).map(|b| (b >> 3) & 0x0f);
        if opcode == Some(crate::dns::codes::opcode::NOTIFY) {
            let reply = self
                .secondaries
                .handle_notify(msg, source, transport.our_payload())?;
            return Some((reply, Verdict::Answer));
        }
        let snapshot = shared.snapshot.load();
        let parsed = query::parse(msg);
        let (cookie, judged) = shared.cookies.reply_cookie(&parsed, source);
        let (reply, zone) = respond_keyed(parsed, msg, &snapshot, transport, cookie, |name| {
            self.secondaries.key(name)
        })?;
        let rcode = reply.get(3).map_or(0, |b| b & 0x0f);
        let tcp = matches!(transport, Transport::Tcp { .. });
        shared.stats.queries.bump(tcp, zone, rcode);
        // A client with our cookie is no spoofed one: never limited.
        if tcp || judged == Judged::Valid {
            return Some((reply, Verdict::Answer));
        }
        Some(
            match shared
                .rate_limit
                .judge(source, &reply, parsed.question(), zone)
            {
                Verdict::Answer => (reply, Verdict::Answer),
                Verdict::Slip => match slip_reply(&parsed, &reply, transport, cookie) {
                    Some(slip) => (slip, Verdict::Slip),
                    None => (Vec::new(), Verdict::Drop),
                },
                Verdict::Drop => (Vec::new(), Verdict::Drop),
            },
        )
    }
}
