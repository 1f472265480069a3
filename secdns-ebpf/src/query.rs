//! Parsing a query frame: Ethernet, IPv4/IPv6, UDP, DNS header, question, optional OPT.
//! Anything unusual is passed to the kernel (and so to userspace), which has the full rules.

use aya_ebpf::helpers::generated::bpf_xdp_load_bytes;
use aya_ebpf::programs::XdpContext;
use secdns_common::{
    CLASS_IN, Counter, DNS_HEADER_LEN, MAX_NAME_LEN, NAME_BUF_LEN, OPT_RR_LEN, SipState, TYPE_OPT,
    be16_sum, dns_lowercase_word,
};

use crate::{
    Pass, SCRATCH, Scratch,
    checksum::{at_parity, fold},
    packet::{be16_at, get_be16, ptr_at},
};

pub const ETH_LEN: usize = 14;
pub const IPV4_LEN: usize = 20;
pub const IPV6_LEN: usize = 40;
pub const UDP_LEN: usize = 8;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const VLAN_TAG_LEN: usize = 4;
pub const IPPROTO_UDP: u8 = 17;

pub struct Query {
    /// This CPU's scratch space, holding the lowercased question name (see `scan_name`).
    pub scratch: *mut Scratch,
    pub ipv6: bool,
    /// Frame offset of the IP header (after one VLAN tag, if any).
    pub l3_off: usize,
    /// Frame offset of the UDP header (the DNS header follows it: [`Query::dns_off`]).
    pub udp_off: usize,
    /// Wire length of the question name, root label included.
    pub qname_len: usize,
    /// Checksum contribution of the question name as it arrived (even-aligned).
    pub qname_sum: u64,
    /// The keyed hash of the lowercased name (see `secdns_common::SipState`) and its check.
    pub name_hash: u64,
    pub name_check: u32,
    pub qtype: u16,
    pub qclass: u16,
    /// Header flags of the query (bytes 2..4).
    pub flags: u16,
    pub has_opt: bool,
    pub dnssec_ok: bool,
    /// What COOKIE option the query had (see `cookie::NO_COOKIE` and the others); the
    /// cookie is in the scratch.
    pub cookie: u8,
    /// The largest reply the client accepts over UDP.
    pub client_udp: u16,
}

impl Query {
    /// Frame offset of the DNS header.
    #[inline(always)]
    pub fn dns_off(&self) -> usize {
        self.udp_off + UDP_LEN
    }
}

const fn malformed() -> Pass {
    Pass(Counter::Malformed)
}

#[inline(always)]
pub fn parse(ctx: &XdpContext, port: u16, hash_key: [u64; 2]) -> Result<Query, Pass> {
    let not_dns = Pass(Counter::NotDns);
    let mut ethertype = be16_at(ctx, 12).ok_or(Pass(Counter::NotDns))?;
    // One 802.1Q tag moves the IP header four bytes on; the reply keeps the tag.
    let mut l3_off = ETH_LEN;
    if ethertype == ETH_P_8021Q {
        ethertype = be16_at(ctx, 16).ok_or(Pass(Counter::NotDns))?;
        l3_off = ETH_LEN + VLAN_TAG_LEN;
    }
    let (ipv6, ip_len, udp_off) = match ethertype {
        ETH_P_IP => {
            let ip = ptr_at(ctx, l3_off, IPV4_LEN).ok_or(Pass(Counter::NotDns))?;
            // SAFETY: `ptr_at` checked the whole header.
            let (version_ihl, protocol, frag, total) = unsafe {
                (
                    *ip,
                    *ip.add(9),
                    get_be16(ip.add(6)),
                    get_be16(ip.add(2)) as usize,
                )
            };
            // IP options are rare enough on queries to leave to the kernel.
            if version_ihl != 0x45 || protocol != IPPROTO_UDP {
                return Err(not_dns);
            }
            // Fragments (MF set or an offset) cannot be answered from one frame.
            if frag & 0x3fff != 0 {
                return Err(not_dns);
            }
            (false, total, l3_off + IPV4_LEN)
        }
        ETH_P_IPV6 => {
            let ip = ptr_at(ctx, l3_off, IPV6_LEN).ok_or(Pass(Counter::NotDns))?;
            // SAFETY: `ptr_at` checked the whole header.
            let (version, next_header, payload) =
                unsafe { (*ip >> 4, *ip.add(6), get_be16(ip.add(4)) as usize) };
            // Extension headers are left to the kernel.
            if version != 6 || next_header != IPPROTO_UDP {
                return Err(not_dns);
            }
            (true, payload + IPV6_LEN, l3_off + IPV6_LEN)
        }
        _ => return Err(not_dns),
    };
    if be16_at(ctx, udp_off + 2) != Some(port) {
        return Err(not_dns);
    }
    let udp_len = be16_at(ctx, udp_off + 4).ok_or(malformed())? as usize;
    // A zero checksum means "none", which IPv6 forbids (RFC 8200 §8.1): the kernel drops it.
    if ipv6 && be16_at(ctx, udp_off + 6) == Some(0) {
        return Err(malformed());
    }
    let ip_header_len = udp_off - l3_off;
    // The UDP length must agree with the IP length, and the whole datagram must be present
    // (the frame may carry Ethernet padding beyond it).
    if udp_len != ip_len - ip_header_len
        || udp_len < UDP_LEN + DNS_HEADER_LEN
        || ctx.data() + l3_off + ip_len > ctx.data_end()
    {
        return Err(malformed());
    }
    let scratch = SCRATCH.get_ptr_mut(0).ok_or(malformed())?;
    let (l3_off, udp_off, ipv6) = settle_offsets(scratch, l3_off, udp_off, ipv6)?;
    let dns_off = udp_off + UDP_LEN;
    let msg_end = dns_off + (udp_len - UDP_LEN);

    let flags = be16_at(ctx, dns_off + 2).ok_or(malformed())?;
    if flags & 0x8000 != 0 {
        return Err(malformed()); // a response, not a query
    }
    // Opcode other than QUERY, or TC set on a query: userspace decides.
    if flags & 0x7a00 != 0 {
        return Err(Pass(Counter::Unsupported));
    }
    let qdcount = be16_at(ctx, dns_off + 4).ok_or(malformed())?;
    let ancount = be16_at(ctx, dns_off + 6).ok_or(malformed())?;
    let nscount = be16_at(ctx, dns_off + 8).ok_or(malformed())?;
    let arcount = be16_at(ctx, dns_off + 10).ok_or(malformed())?;
    if qdcount != 1 || ancount != 0 || nscount != 0 || arcount > 1 {
        return Err(Pass(Counter::Unsupported));
    }

    let qname_off = dns_off + DNS_HEADER_LEN;
    let (qname_len, (name_hash, name_check), qname_sum) =
        scan_name(ctx, scratch, qname_off, hash_key)?;
    let qtype_off = qname_off + qname_len;
    let tail = ptr_at(ctx, qtype_off, 4).ok_or(malformed())?;
    // SAFETY: `ptr_at` checked four bytes.
    let (qtype, qclass) = unsafe { (get_be16(tail), get_be16(tail.add(2))) };
    if qclass != CLASS_IN {
        return Err(Pass(Counter::Unsupported));
    }
    let question_end = qtype_off + 4;

    let mut query = Query {
        scratch,
        ipv6,
        l3_off,
        udp_off,
        qname_len,
        qname_sum,
        name_hash,
        name_check: name_check as u32,
        qtype,
        qclass,
        flags,
        has_opt: false,
        dnssec_ok: false,
        cookie: crate::cookie::NO_COOKIE,
        client_udp: 512,
    };
    if arcount == 0 {
        if question_end != msg_end {
            return Err(malformed());
        }
        return Ok(settle_options(query));
    }
    // The one additional record must be an OPT with an empty owner name. Read as one block:
    // the verifier accepts a variable offset only with a range check it can see.
    let opt = ptr_at(ctx, question_end, OPT_RR_LEN).ok_or(malformed())?;
    // SAFETY: `ptr_at` checked OPT_RR_LEN bytes.
    let (owner, rtype, udp_size, version, edns_flags, rdlen) = unsafe {
        (
            *opt,
            get_be16(opt.add(1)),
            get_be16(opt.add(3)),
            *opt.add(6),
            *opt.add(7),
            get_be16(opt.add(9)) as usize,
        )
    };
    if owner != 0 || rtype != TYPE_OPT {
        return Err(Pass(Counter::Unsupported));
    }
    if question_end + 11 + rdlen != msg_end {
        return Err(malformed());
    }
    if version != 0 {
        return Err(Pass(Counter::Unsupported)); // BADVERS comes from userspace
    }
    query.cookie = crate::cookie::find(ctx, scratch, question_end + OPT_RR_LEN, rdlen)?;
    query.has_opt = true;
    query.dnssec_ok = edns_flags & 0x80 != 0;
    query.client_udp = if udp_size < 512 { 512 } else { udp_size };
    Ok(settle_options(query))
}

/// The headers' offsets as one unknown range each, whichever way the frame was parsed (IPv4
/// or IPv6, a VLAN tag or none). Left as the constants each way knows, they would be tracked
/// precisely, and the verifier would check everything after the headers once per way. (One
/// round trip through the scratch for all three: each costs the packet a store and a load.)
#[inline(always)]
fn settle_offsets(
    scratch: *mut Scratch,
    l3_off: usize,
    udp_off: usize,
    ipv6: bool,
) -> Result<(usize, usize, bool), Pass> {
    let packed = opaque(
        scratch,
        l3_off as u64 | (udp_off as u64) << 8 | (ipv6 as u64) << 16,
    );
    let (l3_off, udp_off) = ((packed & 0xff) as usize, ((packed >> 8) & 0xff) as usize);
    if l3_off < ETH_LEN
        || l3_off > ETH_LEN + VLAN_TAG_LEN
        || udp_off < ETH_LEN + IPV4_LEN
        || udp_off > ETH_LEN + VLAN_TAG_LEN + IPV6_LEN
    {
        return Err(malformed());
    }
    Ok((l3_off, udp_off, packed & 1 << 16 != 0))
}

/// The OPT record's findings as unknowns, for the same reason as [`settle_offsets`]: a
/// query with OPT and one without take the same way through the rest.
#[inline(always)]
fn settle_options(mut query: Query) -> Query {
    let packed = opaque(
        query.scratch,
        query.client_udp as u64
            | (query.has_opt as u64) << 16
            | (query.dnssec_ok as u64) << 17
            | ((query.cookie & 3) as u64) << 18,
    );
    query.client_udp = packed as u16;
    query.has_opt = packed & 1 << 16 != 0;
    query.dnssec_ok = packed & 1 << 17 != 0;
    query.cookie = ((packed >> 18) & 3) as u8;
    query
}

/// Where the question name ends in `Scratch::name`: names are kept right-aligned, so that
/// every ancestor of the name (a suffix) is made of the same 8-byte words as the name itself.
pub const NAME_END: usize = NAME_BUF_LEN;

/// Reads the question name: walks its labels to find its length (a few hops, not a byte
/// loop), copies it right-aligned into the scratch buffer with one helper call (the ancestor
/// walk hops over the labels there), then works on it eight bytes at a time from its end: the
/// UDP checksum sum of the bytes as sent, their lowercase form (`Scratch::words`) and the
/// hash states (`Scratch::states`, see [`secdns_common::SipState`]) for `suffix_hash`.
/// Returns (wire length, (hash, check), checksum sum).
#[inline(always)]
fn scan_name(
    ctx: &XdpContext,
    scratch: *mut Scratch,
    off: usize,
    hash_key: [u64; 2],
) -> Result<(usize, (u64, u64), u64), Pass> {
    let mut pos = 0usize;
    let mut len = 0usize;
    let mut hops = 0usize;
    // At most 128 labels (the root label included) fit in 255 octets.
    while hops < MAX_LABELS {
        // Two bytes: the length octet, and either the label's first byte or (after the root
        // label) the question type, which a well-formed question always has.
        let p = ptr_at(ctx, off + pos, 2).ok_or(malformed())?;
        // SAFETY: `ptr_at` checked two bytes.
        let label = unsafe { *p } as usize;
        // SAFETY: per-CPU scratch; `get_mut` bounds the index.
        if let Some(start) = unsafe { (*scratch).labels.get_mut(hops) } {
            *start = pos as u16;
        }
        hops += 1;
        if label == 0 {
            len = pos + 1;
            break;
        }
        // Compression pointers and extended labels do not belong in a question.
        if label > 63 {
            return Err(malformed());
        }
        pos += label + 1;
        if pos >= MAX_NAME_LEN {
            return Err(malformed()); // longer than 255 octets
        }
    }
    // SAFETY: per-CPU scratch.
    unsafe { (*scratch).label_count = hops as u64 };
    let len = launder(scratch, len)?;
    // The mask changes nothing (1 <= len <= 255) but keeps the compiler from folding the
    // subtraction into the pointer, which the verifier would see as a negative offset.
    let start = (NAME_END - len) & (NAME_BUF_LEN - 1);
    // SAFETY: the copy ends at NAME_END, inside the buffer.
    let name = unsafe { (*scratch).name.as_mut_ptr() };
    if unsafe {
        bpf_xdp_load_bytes(
            ctx.ctx,
            off as u32,
            name.add(start) as *mut core::ffi::c_void,
            len as u32,
        )
    } != 0
    {
        return Err(malformed());
    }
    let mut state = SipState::new(hash_key);
    let mut sum: u64 = 0;
    let mut word = 0usize;
    while word < NAME_BUF_LEN / 8 {
        let done = word * 8;
        if done >= len {
            break;
        }
        // Bytes before the name are left over from earlier packets.
        let mask = word_mask(len - done);
        let at = NAME_END - done - 8;
        // SAFETY: at + 8 <= NAME_END; the buffer is 8-aligned (see `Scratch`).
        let sent = unsafe { *(name.add(at) as *const u64) } & mask;
        sum += be16_sum(sent);
        let lower = dns_lowercase_word(sent);
        // SAFETY: `word` < NAME_BUF_LEN / 8, the length of `states` and `words`.
        unsafe {
            (*scratch).states[word] = state;
            (*scratch).words[word] = lower;
        }
        state.compress(lower);
        word += 1;
    }
    // The name starts at an odd buffer offset when its length is odd: its bytes then sit in
    // the other halves of the 16-bit lanes than in the packet.
    let sum = at_parity(fold(sum), len & 1 != 0);
    // The loop's exits pin `len` to a different range each; launder it once more.
    let len = launder(scratch, len)?;
    Ok((len, state.finish(len), sum))
}

/// Labels of the longest name, root label included.
pub const MAX_LABELS: usize = 128;

/// The bytes of the 8-byte word that belong to a right-aligned name of which `remaining`
/// bytes are not yet in later words: all of them, or the top `remaining`.
#[inline(always)]
fn word_mask(remaining: usize) -> u64 {
    if remaining >= 8 {
        u64::MAX
    } else {
        u64::MAX << ((8 - remaining) * 8)
    }
}

/// The hash and check of the ancestor of the question name that is its last `suffix_len`
/// bytes, from the states `scan_name` left: the state before the ancestor's first word, and
/// that word masked to the ancestor's bytes.
#[inline(always)]
pub fn suffix_hash(scratch: *const Scratch, suffix_len: usize) -> Option<(u64, u32)> {
    if suffix_len == 0 || suffix_len > MAX_NAME_LEN {
        return None;
    }
    let word = (suffix_len - 1) / 8;
    // SAFETY: per-CPU scratch filled by `scan_name` for this packet.
    let (mut state, bytes) =
        unsafe { (*(*scratch).states.get(word)?, *(*scratch).words.get(word)?) };
    state.compress(bytes & word_mask(suffix_len - word * 8));
    let (hash, check) = state.finish(suffix_len);
    Some((hash, check as u32))
}

/// `value` after a round trip through the scratch: an unknown to the verifier, whatever it
/// knew of it (see [`launder`]).
#[inline(always)]
pub fn opaque(scratch: *mut Scratch, value: u64) -> u64 {
    // SAFETY: per-CPU slot owned by this program run.
    unsafe {
        let slot = &raw mut (*scratch).name_len;
        core::ptr::write_volatile(slot, value);
        core::ptr::read_volatile(slot)
    }
}

/// Each exit of the name loop leaves a different constant length, and the verifier would check
/// everything after the loop once per exit. A round trip through a map turns it into one
/// bounded unknown.
#[inline(always)]
pub fn launder(scratch: *mut Scratch, len: usize) -> Result<usize, Pass> {
    launder_within(scratch, len, MAX_NAME_LEN).ok_or(malformed())
}

/// As [`launder`], for a length of 1 to `most`: `None` outside that.
#[inline(always)]
pub fn launder_within(scratch: *mut Scratch, len: usize, most: usize) -> Option<usize> {
    let len = opaque(scratch, len as u64) as usize;
    if len == 0 || len > most {
        return None;
    }
    Some(len)
}
