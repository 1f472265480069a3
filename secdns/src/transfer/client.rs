//! Talking to a primary: SOA queries (UDP, TCP when truncated) and AXFR/IXFR streams over
//! TCP, each message checked (ID, question, rcode, TSIG) and every limit enforced.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream, UdpSocket},
    time::{Instant, timeout, timeout_at},
};

use crate::dns::{
    Name,
    codes::{class, rcode, rcode_name, rtype},
    message::{self, Message, MessageError, Record},
    rdata,
    tsig::{self, Key, ResponseVerifier, TsigError},
};

/// A primary as the transfer code needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Primary {
    pub name: String,
    pub addr: SocketAddr,
    pub key: Option<Arc<Key>>,
    pub source: Option<IpAddr>,
    /// Ask for IXFR before AXFR.
    pub ixfr: bool,
}

/// Bounds on what a primary may send (RFC 5936 §4.1 leaves them to the operator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_records: usize,
    pub max_bytes: usize,
    /// Records in one RRset and at one name.
    pub records: crate::zone::RecordLimits,
    /// Whole transfer, from connecting to the last message.
    pub transfer_timeout: Duration,
    /// Longest wait for any single message or SOA reply.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_records: 5_000_000,
            max_bytes: 1 << 30,
            records: crate::zone::RecordLimits::default(),
            transfer_timeout: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    #[error("transfer took longer than {0:?}")]
    TransferTimeout(Duration),
    #[error("malformed message: {0}")]
    Message(#[from] MessageError),
    #[error("TSIG: {0}")]
    Tsig(#[from] TsigError),
    #[error("the primary answered {0}")]
    Rcode(String),
    #[error("{0}")]
    Protocol(String),
    #[error("limit reached: {0}")]
    Limit(String),
    #[error("connection closed in the middle of the transfer")]
    Broken,
}

impl TransferError {
    /// Errors after which trying the same primary again with AXFR makes sense.
    pub fn is_transport(&self) -> bool {
        matches!(self, TransferError::Connect(_) | TransferError::Timeout(_))
    }
}

fn random_id() -> u16 {
    let mut id = [0u8; 2];
    // Falling back to a fixed ID only weakens spoofing resistance; TSIG still protects.
    let _ = getrandom::fill(&mut id);
    u16::from_ne_bytes(id)
}

fn local_for(primary: &Primary) -> SocketAddr {
    let ip = primary.source.unwrap_or(match primary.addr {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    SocketAddr::new(ip, 0)
}

/// A signed (when the primary has a key) query and what is needed to check its replies.
struct Request {
    id: u16,
    bytes: Vec<u8>,
    mac: Option<Vec<u8>>,
}

fn request(primary: &Primary, zone: &Name, qtype: u16, authority: &[Record]) -> Request {
    let id = random_id();
    let mut bytes = message::build_query(id, 0, zone, qtype, authority);
    let mac = primary
        .key
        .as_ref()
        .map(|key| tsig::sign_request(key, &mut bytes));
    Request { id, bytes, mac }
}

/// Checks that `msg` answers `request` for `zone`/`qtype`; returns the parsed message.
fn check_reply(
    raw: &[u8],
    req: &Request,
    zone: &Name,
    qtype: u16,
    first: bool,
) -> Result<Message, TransferError> {
    let msg = message::parse(raw)?;
    if !msg.is_response() {
        return Err(TransferError::Protocol(format!(
            "a message with ID {} came back without QR: a query, not a reply",
            msg.id
        )));
    }
    if msg.id != req.id {
        return Err(TransferError::Protocol(format!(
            "reply ID {} does not match query ID {}",
            msg.id, req.id
        )));
    }
    // Later messages of a transfer may leave the question out (RFC 5936 §2.2.1).
    match &msg.question {
        Some((name, t, _)) if name != zone || *t != qtype => {
            return Err(TransferError::Protocol(format!(
                "reply is for {name}, not {zone}"
            )));
        }
        None if first => return Err(TransferError::Protocol("reply has no question".into())),
        _ => {}
    }
    Ok(msg)
}

fn check_rcode(msg: &Message) -> Result<(), TransferError> {
    // A TSIG failure comes as NOTAUTH with the reason in the TSIG record; report that.
    if let Some(tsig) = &msg.tsig
        && tsig.error != 0
    {
        return Err(TransferError::Tsig(match tsig.error {
            tsig::BADKEY => TsigError::ServerBadKey(tsig.key_name.to_string()),
            tsig::BADSIG => TsigError::ServerBadSig(tsig.key_name.to_string()),
            tsig::BADTIME => TsigError::ServerBadTime,
            other => TsigError::ServerOther(other),
        }));
    }
    if msg.rcode() != rcode::NOERROR {
        return Err(TransferError::Rcode(rcode_name(msg.rcode() as u16)));
    }
    Ok(())
}

/// How long each UDP SOA query waits for its reply before it is sent again: a silent primary
/// costs seconds, not the idle timeout (Knot gives up after 5 s, NSD after 10).
const SOA_UDP_WAITS: [Duration; 2] = [Duration::from_millis(1000), Duration::from_millis(2000)];

/// After the UDP tries, the TCP try gets this long (at most the idle timeout) for each of
/// connecting, sending and each read: a primary that takes only TCP is still reached, and
/// one that does not answer at all is given up on.
const SOA_TCP_TIMEOUT: Duration = Duration::from_secs(3);

/// The primary's SOA for `zone`: over UDP, sent again once when no reply comes; then over
/// TCP, also when the reply is truncated or the primary's UDP port is closed.
pub async fn query_soa(
    primary: &Primary,
    zone: &Name,
    limits: &Limits,
) -> Result<Record, TransferError> {
    let Some((msg, raw, req)) = query_soa_udp(primary, zone, limits).await? else {
        let quick_tcp = Limits {
            idle_timeout: SOA_TCP_TIMEOUT.min(limits.idle_timeout),
            ..*limits
        };
        let records = tcp_exchange(primary, zone, rtype::SOA, &[], &quick_tcp)
            .await
            .map_err(|e| match e {
                TransferError::Timeout(_) => TransferError::Timeout(
                    SOA_UDP_WAITS.iter().sum::<Duration>() + quick_tcp.idle_timeout,
                ),
                other => other,
            })?;
        return soa_from(records.into_iter().next(), zone);
    };
    if msg.truncated() {
        let records = tcp_exchange(primary, zone, rtype::SOA, &[], limits).await?;
        return soa_from(records.into_iter().next(), zone);
    }
    check_rcode(&msg)?;
    if let Some(key) = &primary.key {
        ResponseVerifier::new(key, req.mac.clone().unwrap_or_default())
            .verify(&raw, msg.tsig.as_ref())?;
    }
    if !msg.authoritative() {
        return Err(TransferError::Protocol(format!(
            "the primary is not authoritative for {zone}"
        )));
    }
    soa_from(
        msg.answers.into_iter().find(|r| r.rtype == rtype::SOA),
        zone,
    )
}

/// The UDP tries of [`query_soa`]: the reply, its bytes and the request it answers; `None`
/// when none came, or the primary's UDP port is closed.
async fn query_soa_udp(
    primary: &Primary,
    zone: &Name,
    limits: &Limits,
) -> Result<Option<(Message, Vec<u8>, Request)>, TransferError> {
    let socket = UdpSocket::bind(local_for(primary))
        .await
        .map_err(TransferError::Connect)?;
    socket
        .connect(primary.addr)
        .await
        .map_err(TransferError::Connect)?;
    let mut buf = vec![0u8; 65535];
    // Every try so far: a late reply to the first still answers during the second.
    let mut sent: Vec<Request> = Vec::with_capacity(SOA_UDP_WAITS.len());
    for wait in SOA_UDP_WAITS {
        let req = request(primary, zone, rtype::SOA, &[]);
        match socket.send(&req.bytes).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(None),
            other => other?,
        };
        sent.push(req);
        let deadline = Instant::now() + wait.min(limits.idle_timeout);
        loop {
            let Ok(received) = timeout_at(deadline, socket.recv(&mut buf)).await else {
                break;
            };
            let len = match received {
                Ok(len) => len,
                // ICMP port unreachable: no DNS over UDP there; TCP may still be.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let raw = &buf[..len];
            let Some(index) = sent
                .iter()
                .position(|r| raw.get(..2) == Some(&r.id.to_be_bytes()[..]))
            else {
                continue; // stray or spoofed: dropped, not fatal
            };
            match check_reply(raw, &sent[index], zone, rtype::SOA, true) {
                Ok(msg) => return Ok(Some((msg, raw.to_vec(), sent.swap_remove(index)))),
                Err(TransferError::Protocol(_)) | Err(TransferError::Message(_)) => continue,
                Err(other) => return Err(other),
            }
        }
    }
    Ok(None)
}

fn soa_from(record: Option<Record>, zone: &Name) -> Result<Record, TransferError> {
    match record {
        Some(r)
            if r.rtype == rtype::SOA
                && r.owner == *zone
                && rdata::soa_serial(&r.rdata).is_some() =>
        {
            Ok(r)
        }
        _ => Err(TransferError::Protocol(format!(
            "no SOA for {zone} in the reply"
        ))),
    }
}

async fn connect(primary: &Primary, limits: &Limits) -> Result<TcpStream, TransferError> {
    let socket = match primary.addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(TransferError::Connect)?;
    if primary.source.is_some() {
        socket
            .bind(local_for(primary))
            .map_err(TransferError::Connect)?;
    }
    timeout(limits.idle_timeout, socket.connect(primary.addr))
        .await
        .map_err(|_| TransferError::Timeout(limits.idle_timeout))?
        .map_err(TransferError::Connect)
}

/// One query over TCP whose reply is a single message (a truncated SOA).
async fn tcp_exchange(
    primary: &Primary,
    zone: &Name,
    qtype: u16,
    authority: &[Record],
    limits: &Limits,
) -> Result<Vec<Record>, TransferError> {
    let mut records = Vec::new();
    let mut collector = |rs: Vec<Record>| {
        records.extend(rs);
        Ok(true)
    };
    stream(primary, zone, qtype, authority, limits, &mut collector).await?;
    Ok(records)
}

/// Sends a query over TCP and feeds the answer records of each reply message to `accept`
/// until it returns `Ok(true)` (the transfer is complete). Checks IDs, rcodes, TSIG on every
/// message, sizes and times.
pub async fn stream(
    primary: &Primary,
    zone: &Name,
    qtype: u16,
    authority: &[Record],
    limits: &Limits,
    accept: &mut (dyn FnMut(Vec<Record>) -> Result<bool, TransferError> + Send),
) -> Result<(), TransferError> {
    let deadline = Instant::now() + limits.transfer_timeout;
    let within = |_| TransferError::TransferTimeout(limits.transfer_timeout);
    let mut conn = timeout_at(deadline, connect(primary, limits))
        .await
        .map_err(within)??;
    let req = request(primary, zone, qtype, authority);
    let mut framed = (req.bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&req.bytes);
    timeout_at(deadline, conn.write_all(&framed))
        .await
        .map_err(within)??;

    let mut verifier = primary
        .key
        .as_ref()
        .map(|key| ResponseVerifier::new(key, req.mac.clone().unwrap_or_default()));
    let mut first = true;
    let mut total_bytes = 0usize;
    loop {
        let mut len = [0u8; 2];
        read_within(&mut conn, &mut len, limits, deadline).await?;
        let len = u16::from_be_bytes(len) as usize;
        total_bytes += len;
        if total_bytes > limits.max_bytes {
            return Err(TransferError::Limit(format!(
                "more than {} bytes",
                limits.max_bytes
            )));
        }
        let mut raw = vec![0u8; len];
        read_within(&mut conn, &mut raw, limits, deadline).await?;
        let msg = check_reply(&raw, &req, zone, qtype, first)?;
        check_rcode(&msg)?;
        if let Some(verifier) = verifier.as_mut() {
            verifier.verify(&raw, msg.tsig.as_ref())?;
        }
        first = false;
        for record in &msg.answers {
            if record.class != class::IN {
                return Err(TransferError::Protocol(format!(
                    "record {} of class {} in the transfer",
                    record.owner, record.class
                )));
            }
        }
        if accept(msg.answers)? {
            if let Some(verifier) = &verifier {
                verifier.finish()?;
            }
            return Ok(());
        }
    }
}

/// Fills `buf` from the stream, within both the idle timeout and the transfer's deadline.
async fn read_within(
    conn: &mut TcpStream,
    buf: &mut [u8],
    limits: &Limits,
    deadline: Instant,
) -> Result<(), TransferError> {
    let read = timeout(limits.idle_timeout, conn.read_exact(buf));
    match timeout_at(deadline, read).await {
        Err(_) => Err(TransferError::TransferTimeout(limits.transfer_timeout)),
        Ok(Err(_)) => Err(TransferError::Timeout(limits.idle_timeout)),
        Ok(Ok(Err(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(TransferError::Broken)
        }
        Ok(Ok(Err(e))) => Err(e.into()),
        Ok(Ok(Ok(_))) => Ok(()),
    }
}
