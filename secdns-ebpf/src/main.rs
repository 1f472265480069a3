//! The secdns XDP program: answers UDP DNS queries whose answer userspace has precompiled into
//! the answer index and bodies, and passes every other packet on unchanged.
//!
//! Where the query is parsed: [`query`]. Where its entry is found: [`lookup`]. Where the reply
//! is built: [`reply::write_reply`].
#![no_std]
#![no_main]
// Atomic compare-and-swap and add, which the bpf target's `core` leaves out of its atomic
// types (see `rate_limit`).
#![allow(internal_features)]
#![feature(core_intrinsics)]

mod checksum;
mod cookie;
mod lookup;
mod packet;
mod query;
mod rate_limit;
mod reply;

use aya_ebpf::{
    bindings::xdp_action,
    macros::{map, xdp},
    maps::{Array, LpmTrie, PerCpuArray},
    programs::XdpContext,
};
use secdns_common::{
    ANSWER_MAP_COUNT, BODY_HEADER_LEN, BodyHeader, Bucket, CHUNK_LEN, COUNTED_ZONE_SLOTS,
    COUNTER_COUNT, Chunk, Counter, DEFAULT_QTYPE, NAME_BUF_LEN, OPTION_DO_PASS,
    OPTION_HAS_DO_VARIANT, PASS_CHUNK, SCOPE_ZONE_PREFIX, SipState, WORD_CHUNK_MASK,
    WORD_OPTIONS_SHIFT, XdpConfig, ZONE_COUNTER_COUNT, ZONE_SLOTS,
    cookie::COOKIE_REPLY_LEN,
    rrl::{RRL_ALLOW_MAX, RRL_COUNT_COUNT, Verdict},
    zone_counter_index,
};

/// Shared with userspace through a mapping of the array (see `xdp::maps` there).
const BPF_F_MMAPABLE: u32 = 1 << 10;

#[map]
static CONFIG: Array<XdpConfig> = Array::with_max_entries(1, 0);

/// The answer index (see `secdns_common::Bucket`). Userspace sets its size at load.
#[map]
static INDEX: Array<Bucket> = Array::with_max_entries(1, BPF_F_MMAPABLE);

/// Answer bodies, in runs of chunks (see `secdns_common::BodyHeader`). Sized at load.
#[map]
static BODIES: Array<Chunk> = Array::with_max_entries(1, BPF_F_MMAPABLE);

/// The SOA serial of every zone with a slot, one half per parity (see
/// `BodyHeader::serial_at`).
#[map]
static SERIALS: Array<u32> = Array::with_max_entries(ANSWER_MAP_COUNT * ZONE_SLOTS, 0);

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_COUNT, 0);

/// Answers sent, by zone slot and RCODE (see `ZONE_COUNTER_COUNT`).
#[map]
static ZONE_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(ZONE_COUNTER_COUNT, 0);

/// Response rate limiting's buckets (see `secdns_common::rrl`), charged by userspace too
/// through a mapping of the array. Sized at load.
#[map]
static RRL_BUCKETS: Array<u64> = Array::with_max_entries(1, BPF_F_MMAPABLE);

/// Responses limited, by zone, class and verdict (see `secdns_common::rrl::count_index`),
/// read by userspace through a mapping.
#[map]
static RRL_COUNTS: Array<u64> = Array::with_max_entries(RRL_COUNT_COUNT, BPF_F_MMAPABLE);

/// Client prefixes exempt from rate limits, IPv4 as ::ffff:a.b.c.d/(96 + length).
#[map]
static RRL_ALLOW: LpmTrie<[u8; 16], u8> = LpmTrie::with_max_entries(RRL_ALLOW_MAX, 0);

/// The question name as the current packet asked it, lowercased, and the hash state after
/// each of its words, for hashing its ancestors while walking up.
#[repr(C, align(8))]
pub struct Scratch {
    /// See `query::launder`. Eight bytes, so that `name` is 8-aligned for word access.
    pub name_len: u64,
    /// The name as it arrived, ending at `query::NAME_END`; the room before it lets the
    /// verifier see that a copy of any length to a right-aligned position stays inside.
    pub name: [u8; 2 * NAME_BUF_LEN],
    /// `states[k]`: the hash state before the name's `k`-th word from the end (see
    /// `query::suffix_hash`).
    pub states: [SipState; NAME_BUF_LEN / 8],
    /// `words[k]`: the name's `k`-th word from the end, lowercased (the name's first bytes
    /// zero-padded), as `states` took it in.
    pub words: [u64; NAME_BUF_LEN / 8],
    /// `labels[k]`: where the name's `k`-th label starts, from the name's start (see
    /// `query::scan_name`); `label_count` of them, the root label's included.
    pub labels: [u16; query::MAX_LABELS],
    pub label_count: u64,
    /// Headers and question of the frame, while the frame grows at its head; see
    /// `reply::grow`.
    pub prefix: [u8; reply::MAX_PREFIX_LEN],
    /// The query's COOKIE option (client cookie, server cookie's 16 bytes), then the
    /// reply's, as little-endian words (see `cookie`).
    pub cookie: [u64; 3],
    /// The query's cookie kind while its cookie is checked (see `cookie::answer`).
    pub cookie_kind: u64,
    /// What the rate limit works on (see `rate_limit::judge`).
    pub rrl_work: rate_limit::Work,
    /// The query's source address, as the rate limit's allow list is keyed (see
    /// `rate_limit::remember_source`).
    pub source: aya_ebpf::maps::lpm_trie::Key<[u8; 16]>,
}

#[map]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// Lets an unanswerable packet through; the frame is untouched at that point.
pub struct Pass(pub Counter);

#[xdp]
pub fn secdns_xdp(ctx: XdpContext) -> u32 {
    let (action, counter) = match answer(&ctx) {
        Ok(answered) => (xdp_action::XDP_TX, answered),
        Err(Pass(Counter::Dropped)) => (xdp_action::XDP_DROP, Counter::Dropped),
        Err(Pass(Counter::RateLimited)) => (xdp_action::XDP_DROP, Counter::RateLimited),
        Err(Pass(counter)) => (xdp_action::XDP_PASS, counter),
    };
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: per-CPU slot, nobody else writes it while we run.
        unsafe { *slot += 1 };
    }
    action
}

#[inline(always)]
fn answer(ctx: &XdpContext) -> Result<Counter, Pass> {
    let config = CONFIG.get(0).ok_or(Pass(Counter::NotDns))?;
    let query = query::parse(ctx, config.port, config.hash_key)?;
    rate_limit::remember_source(ctx, &query).ok_or(Pass(Counter::Malformed))?;
    // Here, where the verifier has one way through so far, and settled into one unknown for
    // the rest (see `query::settle_offsets`): whether the reply carries a cookie, and
    // whether the query's was ours.
    let cookie = query::opaque(query.scratch, cookie::answer(&query, &config.cookies));
    // Kept as numbers, not branched on: each branch would have the verifier check all
    // that follows once more.
    let cookie_len = query::opaque(
        query.scratch,
        (cookie & cookie::IN_REPLY) * COOKIE_REPLY_LEN as u64,
    ) as usize;
    // Once: a flip while this runs must not mix one version's entries with the other's
    // serials.
    // SAFETY: a field of the CONFIG value, valid for the whole run.
    let active = unsafe { core::ptr::read_volatile(&config.active) };
    if active >= ANSWER_MAP_COUNT {
        return Err(Pass(Counter::Miss));
    }
    let table = lookup::Table {
        active,
        buckets: config.buckets,
    };
    let mut entry = lookup::find_entry(&table, &query)?;
    let options = (entry.word >> WORD_OPTIONS_SHIFT) & 7;
    if query.dnssec_ok && options & OPTION_DO_PASS != 0 {
        return Err(Pass(Counter::Unsupported));
    }
    if query.dnssec_ok && options & OPTION_HAS_DO_VARIANT != 0 {
        entry.key.dnssec_ok = true;
        entry.word = table.find(&entry.key).ok_or(Pass(Counter::Miss))?;
    }
    let found = record_at(entry.word)?;
    let plain = found.header;
    let header = if query.dnssec_ok && plain.dnssec_at != 0 {
        dnssec_header(query.scratch, found.chunk, plain.dnssec_at as usize)
            .ok_or(Pass(Counter::Miss))?
    } else {
        plain
    };
    let prefix = match header.prefix_len {
        0 => None,
        len => Some(zone_prefix(&table, &query, len as usize)?),
    };
    let record = reply::Record {
        own: reply::Piece { header, ..found },
        prefix,
    };
    let fixed = record.fixed().header;
    let serial = if fixed.serial_at != 0 {
        let slot = active * ZONE_SLOTS + fixed.zone_slot;
        *SERIALS.get(slot).ok_or(Pass(Counter::Miss))?
    } else {
        0
    };
    let dns_len = reply::reply_len(&query, &record, config.udp_payload, cookie_len)?;
    // Charged once the kernel has what it needs to send the answer (what it passes,
    // userspace charges), before the frame is resized: a limited one costs no resize. A
    // client with our cookie is no spoofed one: never limited.
    let (verdict, charged) = match cookie & cookie::OURS {
        0 => rate_limit::judge(&query, header, &config.rrl),
        _ => (Verdict::Answer, false),
    };
    match verdict {
        Verdict::Answer => {}
        Verdict::Slip => {
            return reply::write_slip(ctx, &query, header.flags, config.udp_payload, cookie_len)
                .ok_or(Pass(Counter::Dropped));
        }
        Verdict::Drop => return Err(Pass(Counter::RateLimited)),
    }
    if let Err(failed) = reply::make_room(ctx, &query, dns_len) {
        // Passed to userspace, which charges it (the frame is as it came).
        if charged && failed.0 == Counter::ResizeFailed {
            rate_limit::refund();
        }
        return Err(failed);
    }
    // The frame no longer holds the query: never pass it on from here.
    let reply = reply::Reply {
        serial,
        our_udp: config.udp_payload,
        dns_len,
        cookie_len,
    };
    let sent = reply::write_reply(ctx, &query, &record, reply)?;
    let slot = header.zone_slot;
    if slot < COUNTED_ZONE_SLOTS {
        if let Some(count) = ZONE_COUNTERS.get_ptr_mut(zone_counter_index(slot, header.flags)) {
            // SAFETY: per-CPU slot, nobody else writes it while we run.
            unsafe { *count += 1 };
        }
    }
    Ok(sent)
}

/// The body record an entry's `word` leads to; a pass entry has none.
#[inline(always)]
fn record_at(word: u32) -> Result<reply::Piece<'static>, Pass> {
    let chunk = word & WORD_CHUNK_MASK;
    if chunk == PASS_CHUNK {
        return Err(Pass(Counter::Miss));
    }
    let first = BODIES.get(chunk).ok_or(Pass(Counter::Miss))?;
    // SAFETY: a chunk is 64 bytes, 8-aligned, and begins with the header.
    let header = unsafe { &*(first.bytes.as_ptr() as *const BodyHeader) };
    Ok(reply::Piece {
        header,
        first,
        chunk,
    })
}

/// The record of the zone prefix that goes before a body (see
/// `secdns_common::BodyHeader::prefix_len`): the entry of the question's suffix of `len`
/// bytes, the zone's apex. Without it, userspace answers.
#[inline(always)]
fn zone_prefix(
    table: &lookup::Table,
    query: &query::Query,
    len: usize,
) -> Result<reply::Piece<'static>, Pass> {
    if len > query.qname_len {
        return Err(Pass(Counter::Miss));
    }
    let (name_hash, check) = query::suffix_hash(query.scratch, len).ok_or(Pass(Counter::Miss))?;
    let key = lookup::Key {
        name_hash,
        check,
        qtype: DEFAULT_QTYPE,
        dnssec_ok: true,
        scope: SCOPE_ZONE_PREFIX,
    };
    record_at(table.find(&key).ok_or(Pass(Counter::Miss))?)
}

/// The header of the answer to DO queries kept in the record at `chunk`, `at` bytes in
/// (see `secdns_common::dnssec_header_at`): the body is the same, only longer.
#[inline(always)]
fn dnssec_header(scratch: *mut Scratch, chunk: u32, at: usize) -> Option<&'static BodyHeader> {
    let holder = BODIES.get(chunk.checked_add((at / CHUNK_LEN) as u32)?)?;
    // Through the scratch, so that the compiler cannot move the offset's addition ahead of
    // the lookup's null check, which the verifier forbids.
    let within = query::opaque(scratch, (at % CHUNK_LEN) as u64) as usize;
    if within > CHUNK_LEN - BODY_HEADER_LEN || within & 3 != 0 {
        return None;
    }
    // SAFETY: `within` leaves a whole header in the 64-byte, 8-aligned chunk, 4-aligned
    // as userspace writes it.
    Some(unsafe { &*(holder.bytes.as_ptr().add(within) as *const BodyHeader) })
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
