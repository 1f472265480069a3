//! Ethernet frames carrying UDP, built and checked by hand for BPF_PROG_TEST_RUN: an
//! implementation independent of the XDP program's own header and checksum code.

use std::net::IpAddr;

use anyhow::{bail, ensure};

pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
pub const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpFrame {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub ttl: u8,
    /// An 802.1Q tag (its TCI), if the frame carries one.
    pub vlan: Option<u16>,
    pub payload: Vec<u8>,
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn sum_words(bytes: &[u8]) -> u64 {
    bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u64)
        .sum()
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

fn udp_checksum(src: IpAddr, dst: IpAddr, udp: &[u8]) -> u16 {
    let mut sum = sum_words(&ip_bytes(src)) + sum_words(&ip_bytes(dst));
    sum += 17 + udp.len() as u64;
    sum += sum_words(udp);
    !fold(sum)
}

impl UdpFrame {
    /// A query from the test client to the server's port 53.
    pub fn query(src: IpAddr, dst: IpAddr, payload: Vec<u8>) -> Self {
        Self {
            src_mac: CLIENT_MAC,
            dst_mac: SERVER_MAC,
            src,
            dst,
            src_port: 40000,
            dst_port: 53,
            ttl: 63,
            vlan: None,
            payload,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut udp = Vec::with_capacity(8 + self.payload.len());
        udp.extend_from_slice(&self.src_port.to_be_bytes());
        udp.extend_from_slice(&self.dst_port.to_be_bytes());
        udp.extend_from_slice(&((8 + self.payload.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&self.payload);
        let csum = udp_checksum(self.src, self.dst, &udp);
        udp[6..8].copy_from_slice(&(if csum == 0 { 0xffff } else { csum }).to_be_bytes());

        let mut frame = Vec::new();
        frame.extend_from_slice(&self.dst_mac);
        frame.extend_from_slice(&self.src_mac);
        if let Some(tci) = self.vlan {
            frame.extend_from_slice(&0x8100u16.to_be_bytes());
            frame.extend_from_slice(&tci.to_be_bytes());
        }
        match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                frame.extend_from_slice(&0x0800u16.to_be_bytes());
                let mut ip = vec![0x45, 0];
                ip.extend_from_slice(&((20 + udp.len()) as u16).to_be_bytes());
                ip.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, self.ttl, 17, 0, 0]);
                ip.extend_from_slice(&src.octets());
                ip.extend_from_slice(&dst.octets());
                let csum = !fold(sum_words(&ip));
                ip[10..12].copy_from_slice(&csum.to_be_bytes());
                frame.extend_from_slice(&ip);
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                frame.extend_from_slice(&0x86ddu16.to_be_bytes());
                frame.extend_from_slice(&[0x60, 0, 0, 0]);
                frame.extend_from_slice(&(udp.len() as u16).to_be_bytes());
                frame.extend_from_slice(&[17, self.ttl]);
                frame.extend_from_slice(&src.octets());
                frame.extend_from_slice(&dst.octets());
            }
            _ => panic!("mixed address families"),
        }
        frame.extend_from_slice(&udp);
        frame
    }

    /// Parses a frame, checking every length and checksum on the way.
    pub fn parse(frame: &[u8]) -> anyhow::Result<Self> {
        ensure!(frame.len() >= 14, "frame shorter than an Ethernet header");
        let mac = |at: usize| -> [u8; 6] { frame[at..at + 6].try_into().unwrap_or_default() };
        let (vlan, frame_without_tag);
        let frame = if u16::from_be_bytes([frame[12], frame[13]]) == 0x8100 {
            ensure!(frame.len() >= 18, "short VLAN tag");
            vlan = Some(u16::from_be_bytes([frame[14], frame[15]]));
            frame_without_tag = [&frame[..12], &frame[16..]].concat();
            &frame_without_tag[..]
        } else {
            vlan = None;
            frame
        };
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let (src, dst, ttl, udp) = match ethertype {
            0x0800 => {
                let ip = frame
                    .get(14..34)
                    .ok_or_else(|| anyhow::anyhow!("short IPv4 header"))?;
                ensure!(ip[0] == 0x45, "IPv4 version/IHL {:#x}", ip[0]);
                ensure!(fold(sum_words(ip)) == 0xffff, "bad IPv4 header checksum");
                ensure!(ip[9] == 17, "not UDP");
                let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
                ensure!(
                    total == frame.len() - 14,
                    "IPv4 total length {total} vs frame {}",
                    frame.len() - 14
                );
                let src = IpAddr::from(<[u8; 4]>::try_from(&ip[12..16])?);
                let dst = IpAddr::from(<[u8; 4]>::try_from(&ip[16..20])?);
                (src, dst, ip[8], &frame[34..])
            }
            0x86dd => {
                let ip = frame
                    .get(14..54)
                    .ok_or_else(|| anyhow::anyhow!("short IPv6 header"))?;
                ensure!(ip[0] >> 4 == 6, "IPv6 version");
                ensure!(ip[6] == 17, "not UDP");
                let payload = u16::from_be_bytes([ip[4], ip[5]]) as usize;
                ensure!(
                    payload == frame.len() - 54,
                    "IPv6 payload length {payload} vs {}",
                    frame.len() - 54
                );
                let src = IpAddr::from(<[u8; 16]>::try_from(&ip[8..24])?);
                let dst = IpAddr::from(<[u8; 16]>::try_from(&ip[24..40])?);
                (src, dst, ip[7], &frame[54..])
            }
            other => bail!("ethertype {other:#06x}"),
        };
        ensure!(udp.len() >= 8, "short UDP header");
        let udp_len = u16::from_be_bytes([udp[4], udp[5]]) as usize;
        ensure!(
            udp_len == udp.len(),
            "UDP length {udp_len} vs {}",
            udp.len()
        );
        let csum = u16::from_be_bytes([udp[6], udp[7]]);
        ensure!(csum != 0, "UDP checksum missing");
        let mut zeroed = udp.to_vec();
        zeroed[6..8].copy_from_slice(&[0, 0]);
        let expected = udp_checksum(src, dst, &zeroed);
        ensure!(
            csum == if expected == 0 { 0xffff } else { expected },
            "bad UDP checksum {csum:#06x}, expected {expected:#06x}"
        );
        Ok(Self {
            src_mac: mac(6),
            dst_mac: mac(0),
            src,
            dst,
            src_port: u16::from_be_bytes([udp[0], udp[1]]),
            dst_port: u16::from_be_bytes([udp[2], udp[3]]),
            ttl,
            vlan,
            payload: udp[8..].to_vec(),
        })
    }
}

/// A DNS query message: ID, flags, one question, optionally an OPT record.
pub struct QueryBuilder {
    pub id: u16,
    pub flags: u16,
    pub name: Vec<u8>,
    pub qtype: u16,
    pub qclass: u16,
    /// (UDP payload size, version, DO, option bytes)
    pub opt: Option<(u16, u8, bool, Vec<u8>)>,
}

impl QueryBuilder {
    pub fn new(name: &str, qtype: u16) -> Self {
        let parsed: secdns::dns::Name = name.parse().unwrap_or_else(|e| panic!("{e}"));
        Self {
            id: 0xbeef,
            flags: 0x0100,
            name: parsed.wire().to_vec(),
            qtype,
            qclass: 1,
            opt: None,
        }
    }

    pub fn with_opt(mut self, udp: u16, dnssec_ok: bool) -> Self {
        self.opt = Some((udp, 0, dnssec_ok, Vec::new()));
        self
    }

    /// Adds an EDNS option (after an OPT record, which `with_opt` must have made).
    pub fn with_option(mut self, code: u16, data: &[u8]) -> Self {
        if let Some((_, _, _, options)) = &mut self.opt {
            options.extend_from_slice(&code.to_be_bytes());
            options.extend_from_slice(&(data.len() as u16).to_be_bytes());
            options.extend_from_slice(data);
        }
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&self.id.to_be_bytes());
        m.extend_from_slice(&self.flags.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 0]);
        m.extend_from_slice(&(self.opt.is_some() as u16).to_be_bytes());
        m.extend_from_slice(&self.name);
        m.extend_from_slice(&self.qtype.to_be_bytes());
        m.extend_from_slice(&self.qclass.to_be_bytes());
        if let Some((udp, version, dnssec_ok, options)) = &self.opt {
            m.push(0);
            m.extend_from_slice(&41u16.to_be_bytes());
            m.extend_from_slice(&udp.to_be_bytes());
            m.extend_from_slice(&[0, *version, if *dnssec_ok { 0x80 } else { 0 }, 0]);
            m.extend_from_slice(&(options.len() as u16).to_be_bytes());
            m.extend_from_slice(options);
        }
        m
    }
}
