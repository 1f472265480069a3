//! A primary that replays what a test scripts, for the transfers a real primary will not send
//! on purpose: an IXFR whose deletions spell names in another case, a difference from a serial
//! to itself, a SOA that says newer than the zone it then sends, silence, replies without QR.
//! It answers SOA over UDP and TCP, AXFR and IXFR over TCP, each transfer in one message,
//! every record written out uncompressed by hand (independent of secdns's own encoder).

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

/// A record in wire form, uncompressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

/// `name` ("www.example.") in wire form, letter case kept.
pub fn wire(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

impl Rec {
    pub fn new(owner: &str, rtype: u16, ttl: u32, rdata: Vec<u8>) -> Self {
        Self {
            owner: wire(owner),
            rtype,
            ttl,
            rdata,
        }
    }

    /// The zone's SOA at `serial`, with `timers` (refresh, retry, expire, minimum).
    pub fn soa(apex: &str, serial: u32, timers: [u32; 4]) -> Self {
        let mut rdata = wire(&format!("ns.{apex}"));
        rdata.extend_from_slice(&wire(&format!("hostmaster.{apex}")));
        for value in std::iter::once(serial).chain(timers) {
            rdata.extend_from_slice(&value.to_be_bytes());
        }
        Self::new(apex, 6, 3600, rdata)
    }

    pub fn a(owner: &str, address: [u8; 4]) -> Self {
        Self::new(owner, 1, 3600, address.to_vec())
    }

    /// An RRSIG over `covered` signed by `signer` (written in the case given); the
    /// signature is `signature`, the other fields fixed.
    pub fn rrsig(owner: &str, covered: u16, signer: &str, signature: &[u8]) -> Self {
        let mut rdata = covered.to_be_bytes().to_vec();
        rdata.extend_from_slice(&[13, 2]); // algorithm, labels
        rdata.extend_from_slice(&3600u32.to_be_bytes());
        rdata.extend_from_slice(&2_000_000_000u32.to_be_bytes());
        rdata.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        rdata.extend_from_slice(&4242u16.to_be_bytes());
        rdata.extend_from_slice(&wire(signer));
        rdata.extend_from_slice(signature);
        Self::new(owner, 46, 3600, rdata)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.owner);
        out.extend_from_slice(&self.rtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&self.ttl.to_be_bytes());
        out.extend_from_slice(&(self.rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.rdata);
    }
}

/// What the primary does; a test changes it while the primary runs.
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// The SOA it answers SOA queries with.
    pub soa: Option<Rec>,
    /// The records of an AXFR: SOA, the rest, SOA.
    pub axfr: Vec<Rec>,
    /// The records of an IXFR reply; an AXFR-style reply when empty.
    pub ixfr: Vec<Rec>,
    /// No reply to anything over UDP.
    pub udp_silent: bool,
    /// TCP connections are taken and never answered.
    pub tcp_silent: bool,
    /// Replies go out without the QR bit.
    pub no_qr: bool,
    /// Over TCP, a transfer goes out in messages of this many records (one message when
    /// unset): a primary may end a message anywhere.
    pub records_per_message: Option<usize>,
    /// What was asked, in order: "UDP SOA", "TCP AXFR", ...
    pub asked: Vec<String>,
}

pub struct ScriptedPrimary {
    pub addr: SocketAddr,
    pub script: Arc<Mutex<Script>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// A UDP socket and a TCP listener on the same loopback port, each bound while the other is
/// held: a port found free and then bound can be taken in between by a test running beside.
fn udp_and_tcp_on_one_port() -> anyhow::Result<(UdpSocket, TcpListener, SocketAddr)> {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        let addr = udp.local_addr()?;
        if let Ok(tcp) = TcpListener::bind(addr) {
            return Ok((udp, tcp, addr));
        }
    }
    anyhow::bail!("no loopback port free for both UDP and TCP")
}

impl ScriptedPrimary {
    pub fn start(script: Script) -> anyhow::Result<Self> {
        let (udp, tcp, addr) = udp_and_tcp_on_one_port()?;
        udp.set_read_timeout(Some(Duration::from_millis(50)))?;
        tcp.set_nonblocking(true)?;
        let script = Arc::new(Mutex::new(script));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = vec![
            {
                let (script, stop) = (script.clone(), stop.clone());
                std::thread::spawn(move || serve_udp(udp, &script, &stop))
            },
            {
                let (script, stop) = (script.clone(), stop.clone());
                std::thread::spawn(move || serve_tcp(tcp, &script, &stop))
            },
        ];
        Ok(Self {
            addr,
            script,
            stop,
            threads,
        })
    }

    /// Changes the script.
    pub fn change(&self, f: impl FnOnce(&mut Script)) {
        f(&mut self.script.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn asked(&self) -> Vec<String> {
        self.script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .asked
            .clone()
    }
}

impl Drop for ScriptedPrimary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The ID, the question (as sent) and its type, and the question's end.
fn question(query: &[u8]) -> Option<(u16, &[u8], u16, usize)> {
    let mut at = 12;
    loop {
        let len = *query.get(at)? as usize;
        at += 1 + len;
        if len == 0 {
            break;
        }
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let id = u16::from_be_bytes([*query.first()?, *query.get(1)?]);
    Some((id, query.get(12..at + 4)?, qtype, at + 4))
}

/// A reply to `query` holding `answers`.
fn reply(query: &[u8], answers: &[Rec], no_qr: bool) -> Option<Vec<u8>> {
    let (id, question, _, _) = question(query)?;
    let mut out = id.to_be_bytes().to_vec();
    let flags: u16 = if no_qr { 0x0400 } else { 0x8400 };
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for record in answers {
        record.write(&mut out);
    }
    Some(out)
}

const SOA: u16 = 6;
const IXFR: u16 = 251;
const AXFR: u16 = 252;

/// The messages that answer `query`.
fn answer(script: &Mutex<Script>, query: &[u8], transport: &str) -> Vec<Vec<u8>> {
    let mut script = script.lock().unwrap_or_else(|e| e.into_inner());
    let Some((_, _, qtype, _)) = question(query) else {
        return Vec::new();
    };
    let name = match qtype {
        SOA => "SOA",
        AXFR => "AXFR",
        IXFR => "IXFR",
        _ => "other",
    };
    script.asked.push(format!("{transport} {name}"));
    let records: Vec<Rec> = match qtype {
        SOA => script.soa.iter().cloned().collect(),
        IXFR if !script.ixfr.is_empty() => script.ixfr.clone(),
        AXFR | IXFR => script.axfr.clone(),
        _ => Vec::new(),
    };
    let messages: Vec<&[Rec]> = match (transport, script.records_per_message) {
        _ if records.is_empty() => vec![&[]],
        ("TCP", Some(n)) => records.chunks(n.max(1)).collect(),
        _ => vec![&records[..]],
    };
    let no_qr = script.no_qr;
    messages
        .into_iter()
        .filter_map(|answers| reply(query, answers, no_qr))
        .collect()
}

fn serve_udp(socket: UdpSocket, script: &Mutex<Script>, stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let silent = script.lock().map(|s| s.udp_silent).unwrap_or(false);
        if silent {
            continue;
        }
        for out in answer(script, &buf[..len], "UDP") {
            let _ = socket.send_to(&out, from);
        }
    }
}

fn serve_tcp(listener: TcpListener, script: &Mutex<Script>, stop: &AtomicBool) {
    let mut held = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let Ok((stream, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let silent = script.lock().map(|s| s.tcp_silent).unwrap_or(false);
        if silent {
            held.push(stream);
            continue;
        }
        let _ = serve_connection(stream, script);
    }
}

fn serve_connection(mut stream: TcpStream, script: &Mutex<Script>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return Ok(());
        }
        let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut query)?;
        for out in answer(script, &query, "TCP") {
            stream.write_all(&(out.len() as u16).to_be_bytes())?;
            stream.write_all(&out)?;
        }
    }
}
