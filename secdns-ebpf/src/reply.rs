//! Turning the query frame into the reply frame in place: the question stays where it is, the
//! precompiled body and an OPT record follow it, and the headers are swapped and fixed up.

use aya_ebpf::helpers::generated::{
    bpf_xdp_adjust_head, bpf_xdp_get_buff_len, bpf_xdp_load_bytes, bpf_xdp_store_bytes,
};
use aya_ebpf::{helpers::generated::bpf_xdp_adjust_tail, programs::XdpContext};
use secdns_common::{
    BODY_HEADER_LEN, BodyHeader, CHUNK_LEN, COPIED_QUERY_FLAGS, Chunk, Counter, DNS_HEADER_LEN,
    FLAG_AA, FLAG_QR, FLAG_TC, MAX_BODY_CHUNKS, MAX_BODY_LEN, MAX_FIXUPS, OPT_RR_LEN, RCODE_MASK,
    TYPE_OPT, be16_sum,
    cookie::{BADCOOKIE_LOWER, BADCOOKIE_UPPER, COOKIE_OPTION, COOKIE_REPLY_LEN},
    fixups_at,
};

use crate::{
    BODIES, Pass, Scratch,
    checksum::{at_parity, fold},
    packet::{get_be16, ptr_at, put_be16},
    query::{
        ETH_LEN, IPPROTO_UDP, IPV4_LEN, IPV6_LEN, Query, UDP_LEN, launder, launder_within, opaque,
    },
};

const REPLY_TTL: u8 = 64;

/// What an answer is sent from: its own body record (with the header that applies to the
/// query: the plain one, or the DO one kept after the body), and the zone prefix that goes
/// before its body, if its header names one.
pub struct Record<'a> {
    pub own: Piece<'a>,
    pub prefix: Option<Piece<'a>>,
}

/// A body record as found: its header, first chunk and that chunk's index.
pub struct Piece<'a> {
    pub header: &'a BodyHeader,
    pub first: &'a Chunk,
    pub chunk: u32,
}

impl<'a> Record<'a> {
    /// The header whose pointers to move and serial to write apply: the prefix's when there
    /// is one (the body after it has none).
    #[inline(always)]
    pub fn fixed(&self) -> &Piece<'a> {
        self.prefix.as_ref().unwrap_or(&self.own)
    }
}

/// The length of the DNS message answering `q` from `record`, if it fits what the client
/// and we accept over UDP.
#[inline(always)]
pub fn reply_len(
    q: &Query,
    record: &Record<'_>,
    our_udp: u16,
    cookie_len: usize,
) -> Result<usize, Pass> {
    let v = record.own.header;
    let mut body_len = v.body_len as usize;
    if body_len == 0 || body_len > MAX_BODY_LEN || v.question_len as usize > q.qname_len {
        return Err(Pass(Counter::Miss));
    }
    if let Some(prefix) = &record.prefix {
        let len = prefix.header.body_len as usize;
        if len == 0 || len > MAX_BODY_LEN || prefix.header.question_len as usize > q.qname_len {
            return Err(Pass(Counter::Miss));
        }
        body_len += len;
    }
    let opt_len = opt_len(q, cookie_len);
    let question_len = q.qname_len + 4;
    let dns_len = DNS_HEADER_LEN + question_len + body_len + opt_len;
    let limit = if q.has_opt {
        if q.client_udp < our_udp {
            q.client_udp
        } else {
            our_udp
        }
    } else {
        512
    } as usize;
    // Within the limit, and (each way to `limit` bounding it differently) one unknown for
    // the rest.
    launder_within(q.scratch, dns_len, limit).ok_or(Pass(Counter::TooBig))
}

/// Resizes the frame for a DNS message of `dns_len` bytes, headers and question kept in
/// place. Past this, the frame may no longer hold the query: never pass it on.
#[inline(always)]
pub fn make_room(ctx: &XdpContext, q: &Query, dns_len: usize) -> Result<(), Pass> {
    // The verifier forbids arithmetic on data_end; the helper gives the same length.
    // SAFETY: helper call on our own context.
    let old_len = unsafe { bpf_xdp_get_buff_len(ctx.ctx) } as usize;
    let delta = (q.dns_off() + dns_len) as i32 - old_len as i32;
    grow(ctx, q, delta)
}

/// The OPT record a reply to `q` ends with: none, or with a COOKIE option of
/// `cookie_len` bytes (0 for none; a query with a cookie has OPT).
#[inline(always)]
fn opt_len(q: &Query, cookie_len: usize) -> usize {
    q.has_opt as usize * OPT_RR_LEN + cookie_len
}

/// What a reply is made of besides its record.
#[derive(Clone, Copy)]
pub struct Reply {
    /// The SOA serial of the record's zone (see `BodyHeader::serial_at`).
    pub serial: u32,
    pub our_udp: u16,
    /// Length of the DNS message (see [`reply_len`]).
    pub dns_len: usize,
    /// The OPT carries the COOKIE the scratch holds (`COOKIE_REPLY_LEN` bytes) or none (0).
    pub cookie_len: usize,
}

/// Turns the frame, resized by [`make_room`], into the reply answering `q` from `record`.
#[inline(always)]
pub fn write_reply(
    ctx: &XdpContext,
    q: &Query,
    record: &Record<'_>,
    reply: Reply,
) -> Result<Counter, Pass> {
    let v = record.own.header;
    rewrite(ctx, q, record, reply).ok_or(Pass(Counter::Dropped))?;
    // What kind of answer went out, for the counters.
    Ok(if v.ancount > 0 {
        Counter::Answered
    } else if v.flags & FLAG_AA != 0 {
        Counter::AnsweredNegative
    } else {
        Counter::AnsweredReferral
    })
}

/// Headers plus the longest question: 14 + 40 + 8 + 12 + 255 + 4, rounded up.
pub const MAX_PREFIX_LEN: usize = 352;

/// Resizes the frame by `delta` bytes so that everything up to the end of the question stays
/// where it is. Growing at the tail is cheapest, but a driver may leave almost no tailroom
/// (veth hands XDP frames cut to the packet's size); every driver guarantees headroom, so
/// the fallback grows at the head and moves headers and question forward.
#[inline(always)]
fn grow(ctx: &XdpContext, q: &Query, delta: i32) -> Result<(), Pass> {
    // SAFETY: helper calls on our own context; the frame is unchanged when they fail.
    if unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) } == 0 {
        return Ok(());
    }
    let prefix = q.dns_off() + DNS_HEADER_LEN + q.qname_len + 4;
    let scratch = q.scratch;
    if delta <= 0 || prefix == 0 || prefix > MAX_PREFIX_LEN {
        return Err(Pass(Counter::ResizeFailed));
    }
    // SAFETY: `prefix` is within 1..=MAX_PREFIX_LEN, the size of the scratch buffer.
    let buffer = unsafe { (*scratch).prefix.as_mut_ptr() } as *mut core::ffi::c_void;
    if unsafe { bpf_xdp_load_bytes(ctx.ctx, 0, buffer, prefix as u32) } != 0
        || unsafe { bpf_xdp_adjust_head(ctx.ctx, -delta) } != 0
    {
        return Err(Pass(Counter::ResizeFailed));
    }
    // SAFETY: as above; the frame is now `delta` bytes longer at its head.
    if unsafe { bpf_xdp_store_bytes(ctx.ctx, 0, buffer, prefix as u32) } != 0 {
        return Err(Pass(Counter::Dropped));
    }
    Ok(())
}

/// Copies `body_len` bytes of the body of the record starting at `chunk` (`first`) to
/// `body_off`: its first part from `first` (looked up once, by the caller), the rest a
/// chunk per `bpf_loop` step (a loop here would have the verifier check all that follows
/// once per way out of it).
#[inline(always)]
fn copy_body(
    ctx: &XdpContext,
    scratch: *mut Scratch,
    first: &Chunk,
    chunk: u32,
    body_off: usize,
    body_len: usize,
) -> Option<()> {
    // SAFETY: the header ends inside the 64-byte chunk; `store_piece` copies at most the
    // rest.
    let after_header = unsafe { first.bytes.as_ptr().add(BODY_HEADER_LEN) };
    store_piece(
        ctx.ctx,
        scratch,
        after_header,
        CHUNK_LEN - BODY_HEADER_LEN,
        body_off,
        body_len,
    )?;
    // Most bodies end in the first chunk or the next (a host's address, a negative answer
    // with its SOA): those without a `bpf_loop`, whose steps cost a call each.
    if copied_before(1) >= body_len {
        return Some(());
    }
    let mut copy = Copying {
        ctx: ctx.ctx,
        scratch,
        chunk: chunk as u64,
        body_off: body_off as u64,
        body_len: body_len as u64,
        failed: 0,
    };
    copy_chunk(&mut copy, 1, body_len)?;
    if copied_before(2) >= body_len {
        return Some(());
    }
    // SAFETY: `copy_step` takes the `Copying` it is given, which outlives the call.
    unsafe {
        aya_ebpf::helpers::generated::bpf_loop(
            (MAX_BODY_CHUNKS - 2) as u32,
            copy_step as *mut core::ffi::c_void,
            &raw mut copy as *mut core::ffi::c_void,
            0,
        )
    };
    // The chunks after the first hold the rest (see MAX_BODY_CHUNKS).
    (copy.failed == 0).then_some(())
}

/// What copying a body's later chunks works on (the caller's stack, handed to `bpf_loop`).
#[repr(C)]
struct Copying {
    ctx: *mut aya_ebpf::bindings::xdp_md,
    scratch: *mut Scratch,
    chunk: u64,
    body_off: u64,
    body_len: u64,
    failed: u64,
}

/// Copies chunk `index` + 2 of the body (`bpf_loop`'s callback); 1 stops. What
/// it copies follows from `index` alone: nothing carried from one call to the next, so
/// that the verifier checks it once.
#[inline(never)]
extern "C" fn copy_step(index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    // SAFETY: `ctx` is the `Copying` on the caller's stack that `copy_body` passed.
    let copy = unsafe { &mut *(ctx as *mut Copying) };
    // Chunk 2 onwards (`copy_body` copied chunks 0 and 1).
    let (body_len, k) = (copy.body_len as usize, index as usize + 2);
    if k >= MAX_BODY_CHUNKS || copied_before(k) >= body_len {
        return 1;
    }
    if copy_chunk(copy, k, body_len).is_none() {
        copy.failed = 1;
        return 1;
    }
    0
}

/// Bytes of a body before its chunk `k` (`k` >= 1): the first chunk holds the header too.
#[inline(always)]
fn copied_before(k: usize) -> usize {
    CHUNK_LEN - BODY_HEADER_LEN + (k - 1) * CHUNK_LEN
}

/// Copies the body's chunk `k` (`k` >= 1), the chunks before it copied and the body longer
/// than they are (the callers check).
#[inline(always)]
fn copy_chunk(copy: &mut Copying, k: usize, body_len: usize) -> Option<()> {
    let copied = copied_before(k);
    if body_len > MAX_BODY_LEN {
        return None;
    }
    let from = BODIES.get((copy.chunk as u32).checked_add(k as u32)?)?;
    store_piece(
        copy.ctx,
        copy.scratch,
        from.bytes.as_ptr(),
        CHUNK_LEN,
        copy.body_off as usize + copied,
        body_len - copied,
    )?;
    Some(())
}

/// Stores up to `room` bytes from `from` (`remaining` are left to copy) at frame offset
/// `at`; returns how many. (The length goes through `launder`: the compiler knows it is not
/// zero and would drop the check the helper's verifier needs.)
#[inline(always)]
fn store_piece(
    ctx: *mut aya_ebpf::bindings::xdp_md,
    scratch: *mut Scratch,
    from: *const u8,
    room: usize,
    at: usize,
    remaining: usize,
) -> Option<usize> {
    let len = if remaining > room { room } else { remaining };
    let len = launder(scratch, len).ok()?;
    if len > room {
        return None;
    }
    // SAFETY: the helper checks the packet range itself; `from` has `room` bytes of a map
    // value.
    let stored =
        unsafe { bpf_xdp_store_bytes(ctx, at as u32, from as *mut core::ffi::c_void, len as u32) };
    (stored == 0).then_some(len)
}

/// The `i`-th fixup of the record starting at `chunk` (see `secdns_common::fixups_at`).
#[inline(always)]
fn fixup(chunk: u32, body_len: usize, i: usize) -> Option<usize> {
    let at = fixups_at(body_len) + 2 * i;
    let from = BODIES.get(chunk.checked_add((at / CHUNK_LEN) as u32)?)?;
    let within = at % CHUNK_LEN;
    let bytes = [*from.bytes.get(within)?, *from.bytes.get(within + 1)?];
    Some(u16::from_be_bytes(bytes) as usize)
}

/// Writes the answer's body after the question (the zone prefix, then the record's own
/// body), moves its pointers to the question's length, writes the zone's serial, and then
/// the rest of the reply (see [`finish`]).
#[inline(always)]
fn rewrite(ctx: &XdpContext, q: &Query, record: &Record<'_>, reply: Reply) -> Option<()> {
    let body_off = q.dns_off() + DNS_HEADER_LEN + q.qname_len + 4;
    let odd_question = q.qname_len & 1 != 0;
    let (body_len, mut sum) = copy_bodies(ctx, q, record, body_off, odd_question)?;
    // An answer compiled for a shorter name (one below an ancestor, a zone's shared
    // NODATA, a zone prefix): the pointers into the question's suffix and into the body
    // move by the difference.
    let fixed = record.fixed();
    let question = fixed.header.question_len as usize;
    if question < q.qname_len {
        let shift = (q.qname_len - question) as u16;
        sum += move_pointers(ctx, fixed, body_off, shift, odd_question)?;
        // Each way out of the loop leaves a different sum range: one unknown for the rest.
        sum = opaque(q.scratch, sum);
    }
    let serial_at = fixed.header.serial_at as usize;
    if serial_at != 0 {
        sum += write_serial(ctx, body_off, serial_at, reply.serial, odd_question)?;
    }
    let v = record.own.header;
    let end = End {
        flags: v.flags,
        counts: [v.ancount, v.nscount, v.arcount],
        extended_rcode: 0,
        our_udp: reply.our_udp,
        dns_len: reply.dns_len,
        cookie_len: reply.cookie_len,
    };
    finish(ctx, q, end, body_len, sum)
}

/// Copies the zone prefix (if any) and the record's own body to `body_off`: their length,
/// and what they add to the UDP checksum.
#[inline(always)]
fn copy_bodies(
    ctx: &XdpContext,
    q: &Query,
    record: &Record<'_>,
    body_off: usize,
    odd_question: bool,
) -> Option<(usize, u64)> {
    let (v, chunk) = (record.own.header, record.own.chunk);
    let own_len = v.body_len as usize;
    if own_len == 0 || own_len > MAX_BODY_LEN {
        return None;
    }
    let mut sum: u64 = 0;
    // The prefix first.
    let prefix_len = match &record.prefix {
        Some(prefix) => {
            let len = prefix.header.body_len as usize;
            if len == 0 || len > MAX_BODY_LEN {
                return None;
            }
            copy_body(ctx, q.scratch, prefix.first, prefix.chunk, body_off, len)?;
            sum += at_parity(prefix.header.body_csum, odd_question);
            launder_within(q.scratch, len, MAX_BODY_LEN)?
        }
        None => 0,
    };
    copy_body(
        ctx,
        q.scratch,
        record.own.first,
        chunk,
        body_off + prefix_len,
        own_len,
    )?;
    sum += at_parity(v.body_csum, odd_question ^ (prefix_len & 1 != 0));
    // Bodies of one, two or more chunks took different ways through the copy: one unknown
    // for the rest.
    let body_len = launder_within(q.scratch, prefix_len + own_len, MAX_BODY_LEN)?;
    Some((body_len, sum))
}

/// Moves each compression pointer the record `fixed` lists by `shift`: what it adds to the
/// UDP checksum.
#[inline(always)]
fn move_pointers(
    ctx: &XdpContext,
    fixed: &Piece<'_>,
    body_off: usize,
    shift: u16,
    odd_question: bool,
) -> Option<u64> {
    let (w, fixed_chunk) = (fixed.header, fixed.chunk);
    let count = w.fixup_count as usize;
    let fixed_len = w.body_len as usize;
    let mut sum = 0;
    let mut i = 0;
    while i < MAX_FIXUPS {
        if i >= count {
            break;
        }
        let at = fixup(fixed_chunk, fixed_len, i)?;
        if at >= MAX_BODY_LEN {
            return None;
        }
        let p = ptr_at(ctx, body_off + at, 2)?;
        // SAFETY: `ptr_at` checked two bytes.
        unsafe { put_be16(p, get_be16(p).wrapping_add(shift)) };
        sum += at_parity(shift, odd_question ^ (at & 1 != 0));
        i += 1;
    }
    Some(sum)
}

/// Writes the zone's `serial` into the SOA at `at` in the body: what it adds to the UDP
/// checksum.
#[inline(always)]
fn write_serial(
    ctx: &XdpContext,
    body_off: usize,
    at: usize,
    serial: u32,
    odd_question: bool,
) -> Option<u64> {
    if at > MAX_BODY_LEN - 4 {
        return None;
    }
    let p = ptr_at(ctx, body_off + at, 4)?;
    let high = (serial >> 16) as u16;
    let low = serial as u16;
    // SAFETY: `ptr_at` checked four bytes.
    unsafe {
        put_be16(p, high);
        put_be16(p.add(2), low);
    }
    let odd = odd_question ^ (at & 1 != 0);
    Some(at_parity(high, odd) + at_parity(low, odd))
}

/// Turns the frame (the query, or its headers and question in place) into a truncated
/// reply to `q` (TC set, the question and OPT only) with the AA bit and RCODE of
/// `flags`: what a client over its rate limit gets instead of the answer (RRL's "slip"), so
/// that a real one behind a spoofed address retries over TCP.
#[inline(always)]
pub fn write_slip(
    ctx: &XdpContext,
    q: &Query,
    flags: u16,
    our_udp: u16,
    cookie_len: usize,
) -> Option<Counter> {
    let dns_len = DNS_HEADER_LEN + q.qname_len + 4 + opt_len(q, cookie_len);
    let dns_len = launder_within(q.scratch, dns_len, MAX_PREFIX_LEN)?;
    // Shorter than the query, or longer only by our cookie (BADCOOKIE to a client cookie
    // alone).
    make_room(ctx, q, dns_len).ok()?;
    // A client that sent a cookie is told to come back with ours (RFC 7873 §5.2.3), as
    // BIND does, rather than to retry over TCP.
    let (flags, extended) = match cookie_len {
        0 => ((flags & (FLAG_AA | RCODE_MASK)) | FLAG_TC, 0),
        _ => (BADCOOKIE_LOWER, BADCOOKIE_UPPER),
    };
    let end = End {
        flags,
        counts: [0; 3],
        extended_rcode: extended,
        our_udp,
        dns_len,
        cookie_len,
    };
    finish(ctx, q, end, 0, 0)?;
    Some(Counter::Slipped)
}

/// Writes the COOKIE option (client cookie and server cookie, as the scratch holds them)
/// at `at`, which is at an odd offset of the UDP payload when `odd`; its checksum sum.
#[inline(always)]
fn write_cookie(ctx: &XdpContext, q: &Query, at: usize, odd: bool) -> Option<u64> {
    let p = ptr_at(ctx, at, COOKIE_REPLY_LEN)?;
    // SAFETY: `ptr_at` checked COOKIE_REPLY_LEN bytes.
    unsafe {
        put_be16(p, COOKIE_OPTION);
        put_be16(p.add(2), (COOKIE_REPLY_LEN - 4) as u16);
    }
    // SAFETY: per-CPU scratch holding the reply's cookie (see `cookie::answer`).
    let words = unsafe { (*q.scratch).cookie };
    let mut sum = COOKIE_OPTION as u64 + (COOKIE_REPLY_LEN - 4) as u64;
    let mut i = 0;
    while i < 3 {
        let bytes = words[i].to_le_bytes();
        let mut j = 0;
        while j < 8 {
            // SAFETY: 4 + 8 * i + j < COOKIE_REPLY_LEN, checked by `ptr_at`.
            unsafe { *p.add(4 + 8 * i + j) = bytes[j] };
            j += 1;
        }
        sum += be16_sum(words[i]);
        i += 1;
    }
    Some(at_parity(fold(sum), odd))
}

/// How a reply ends (see [`finish`]).
#[derive(Clone, Copy)]
struct End {
    flags: u16,
    /// Answer, authority, additional records (without OPT).
    counts: [u16; 3],
    extended_rcode: u8,
    our_udp: u16,
    dns_len: usize,
    cookie_len: usize,
}

/// The end of a reply whose body (`body_len` bytes after the question, adding `sum` to the
/// UDP checksum) is in place: the OPT record, the DNS header, then the IP, UDP and Ethernet
/// headers turned round.
#[inline(always)]
fn finish(ctx: &XdpContext, q: &Query, end: End, body_len: usize, mut sum: u64) -> Option<()> {
    let End {
        flags,
        counts,
        extended_rcode,
        our_udp,
        dns_len,
        cookie_len,
    } = end;
    let odd_question = q.qname_len & 1 != 0;
    let body_off = q.dns_off() + DNS_HEADER_LEN + q.qname_len + 4;
    if q.has_opt {
        let p = ptr_at(ctx, body_off + body_len, OPT_RR_LEN)?;
        let do_bit: u8 = if q.dnssec_ok { 0x80 } else { 0 };
        let bytes = our_udp.to_be_bytes();
        // SAFETY: `ptr_at` checked OPT_RR_LEN bytes.
        unsafe {
            *p = 0;
            put_be16(p.add(1), TYPE_OPT);
            *p.add(3) = bytes[0];
            *p.add(4) = bytes[1];
            *p.add(5) = extended_rcode;
            *p.add(6) = 0; // version
            *p.add(7) = do_bit;
            *p.add(8) = 0;
        }
        let rdlen = cookie_len as u16;
        // SAFETY: `ptr_at` checked OPT_RR_LEN bytes.
        unsafe { put_be16(p.add(9), rdlen) };
        // As big-endian pairs from the OPT's start: (0, 0x00) (0x29, udp high) (udp low,
        // extended RCODE) (version, flags) (0, rdlen high) (rdlen low, -).
        let opt_sum = 0x2900u64
            + our_udp.swap_bytes() as u64
            + extended_rcode as u64
            + do_bit as u64
            + rdlen.swap_bytes() as u64;
        let odd_opt = odd_question ^ (body_len & 1 != 0);
        sum += at_parity(fold(opt_sum), odd_opt);
        if cookie_len != 0 {
            sum += write_cookie(ctx, q, body_off + body_len + OPT_RR_LEN, !odd_opt)?;
        }
    }

    // DNS header: the ID stays, the question stays.
    let dns = ptr_at(ctx, q.dns_off(), DNS_HEADER_LEN)?;
    let flags = FLAG_QR | (q.flags & COPIED_QUERY_FLAGS) | flags;
    let [ancount, nscount, arcount] = counts;
    let arcount = arcount + q.has_opt as u16;
    // SAFETY: `ptr_at` checked the whole header.
    let id = unsafe {
        put_be16(dns.add(2), flags);
        put_be16(dns.add(4), 1);
        put_be16(dns.add(6), ancount);
        put_be16(dns.add(8), nscount);
        put_be16(dns.add(10), arcount);
        get_be16(dns)
    };
    sum += id as u64 + flags as u64 + 1 + ancount as u64 + nscount as u64 + arcount as u64;
    sum += q.qname_sum;
    sum += at_parity(q.qtype, odd_question) + at_parity(q.qclass, odd_question);

    let udp_len = (UDP_LEN + dns_len) as u16;
    if q.ipv6 {
        let ip = ptr_at(ctx, q.l3_off, IPV6_LEN)?;
        // SAFETY: `ptr_at` checked the whole IPv6 header.
        unsafe {
            put_be16(ip.add(4), udp_len);
            *ip.add(7) = REPLY_TTL;
            let mut i = 0;
            while i < 16 {
                let s = *ip.add(8 + i);
                *ip.add(8 + i) = *ip.add(24 + i);
                *ip.add(24 + i) = s;
                sum += (s as u64) << (8 * ((i & 1) ^ 1)) as u64;
                sum += (*ip.add(8 + i) as u64) << (8 * ((i & 1) ^ 1)) as u64;
                i += 1;
            }
        }
    } else {
        let ip = ptr_at(ctx, q.l3_off, IPV4_LEN)?;
        // SAFETY: `ptr_at` checked the whole IPv4 header.
        unsafe {
            put_be16(ip.add(2), (IPV4_LEN as u16) + udp_len);
            *ip.add(8) = REPLY_TTL;
            put_be16(ip.add(10), 0);
            let mut i = 0;
            while i < 4 {
                let s = *ip.add(12 + i);
                *ip.add(12 + i) = *ip.add(16 + i);
                *ip.add(16 + i) = s;
                i += 1;
            }
            let mut header_sum: u64 = 0;
            let mut w = 0;
            while w < IPV4_LEN {
                header_sum += get_be16(ip.add(w)) as u64;
                w += 2;
            }
            put_be16(ip.add(10), !fold(header_sum));
            // Pseudo-header addresses: the same words, whatever their order.
            sum += get_be16(ip.add(12)) as u64
                + get_be16(ip.add(14)) as u64
                + get_be16(ip.add(16)) as u64
                + get_be16(ip.add(18)) as u64;
        }
    }
    sum += IPPROTO_UDP as u64 + udp_len as u64;

    let udp = ptr_at(ctx, q.udp_off, UDP_LEN)?;
    // SAFETY: `ptr_at` checked the UDP header.
    unsafe {
        let src = get_be16(udp);
        let dst = get_be16(udp.add(2));
        put_be16(udp, dst);
        put_be16(udp.add(2), src);
        put_be16(udp.add(4), udp_len);
        sum += src as u64 + dst as u64 + udp_len as u64;
        let csum = !fold(sum);
        // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
        put_be16(udp.add(6), if csum == 0 { 0xffff } else { csum });
    }

    let eth = ptr_at(ctx, 0, ETH_LEN)?;
    // SAFETY: `ptr_at` checked the Ethernet header.
    unsafe {
        let mut i = 0;
        while i < 6 {
            let s = *eth.add(i);
            *eth.add(i) = *eth.add(6 + i);
            *eth.add(6 + i) = s;
            i += 1;
        }
    }
    Some(())
}
