//! The secdns XDP program: answers UDP DNS queries whose answer userspace has precompiled into
//! the answer maps, and passes every other packet on unchanged.
//!
//! Where the reply is built: [`reply::write_reply`]. Where the query is parsed: [`query`].
#![no_std]
#![no_main]

mod checksum;
mod packet;
mod query;
mod reply;

use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, xdp_action},
    macros::{map, xdp},
    maps::{Array, HashMap, PerCpuArray},
    programs::XdpContext,
};
use secdns_common::{
    ANSWER_MAP_COUNT, ANSWER_MAP_MAX_ENTRIES, AnswerKey, AnswerValue, COUNTED_ZONE_SLOTS,
    COUNTER_COUNT, Counter, DEFAULT_QTYPE, MAX_WALK, NAME_BUF_LEN, OPTION_DO_PASS,
    OPTION_HAS_DO_VARIANT, OPTION_TYPED_BELOW, SCOPE_BELOW, SCOPE_NAME, XdpConfig,
    ZONE_COUNTER_COUNT, ZONE_SLOTS, has_own_answer, zone_counter_index,
};

#[map]
static CONFIG: Array<XdpConfig> = Array::with_max_entries(1, 0);

#[map]
static ANSWERS_0: HashMap<AnswerKey, AnswerValue> =
    HashMap::with_max_entries(ANSWER_MAP_MAX_ENTRIES, BPF_F_NO_PREALLOC);

#[map]
static ANSWERS_1: HashMap<AnswerKey, AnswerValue> =
    HashMap::with_max_entries(ANSWER_MAP_MAX_ENTRIES, BPF_F_NO_PREALLOC);

/// The SOA serial of every zone with a slot, one half per answer map (see
/// `AnswerValue::serial_at`).
#[map]
static SERIALS: Array<u32> = Array::with_max_entries(ANSWER_MAP_COUNT * ZONE_SLOTS, 0);

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_COUNT, 0);

/// Answers sent, by zone slot and RCODE (see `ZONE_COUNTER_COUNT`).
#[map]
static ZONE_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(ZONE_COUNTER_COUNT, 0);

/// The question name as the current packet asked it, lowercased, for confirming a hash hit
/// and walking up to its ancestors.
#[repr(C, align(8))]
pub struct Scratch {
    /// See `query::launder`. Eight bytes, so that `name` is 8-aligned for word access.
    pub name_len: u64,
    /// The name as it arrived, ending at `query::NAME_END`; the room before it lets the
    /// verifier see that a copy of any length to a right-aligned position stays inside.
    pub name: [u8; 2 * NAME_BUF_LEN],
    /// `chain[k]`: the name hash after the name's last `k` words (see `query::suffix_hash`).
    pub chain: [u64; NAME_BUF_LEN / 8],
    /// `words[k]`: the name's `k`-th word from the end, lowercased (the name's first bytes
    /// zero-padded), as `chain` consumed it.
    pub words: [u64; NAME_BUF_LEN / 8],
    /// Headers and question of the frame, while the frame grows at its head; see
    /// `reply::grow`.
    pub prefix: [u8; reply::MAX_PREFIX_LEN],
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
    let query = query::parse(ctx, config.port)?;
    let answers = match config.active {
        0 => &ANSWERS_0,
        1 => &ANSWERS_1,
        _ => return Err(Pass(Counter::Miss)),
    };
    let mut key = AnswerKey {
        name_hash: query.name_hash,
        qtype: query.qtype,
        dnssec_ok: 0,
        scope: SCOPE_NAME,
    };
    let (mut value, name_len) = find_entry(answers, &query, &mut key)?;
    // SAFETY: map value pointers stay valid for the whole run (RCU).
    let options = unsafe { (*value).options };
    if query.dnssec_ok && options & OPTION_DO_PASS != 0 {
        return Err(Pass(Counter::Unsupported));
    }
    if query.dnssec_ok && options & OPTION_HAS_DO_VARIANT != 0 {
        key.dnssec_ok = 1;
        value = answers.get_ptr(key).ok_or(Pass(Counter::Miss))?;
    }
    // SAFETY: as above.
    let value = unsafe { &*value };
    query::confirm_name(query.scratch, name_len, value)?;
    let serial = if value.serial_at != 0 {
        let slot = config.active * ZONE_SLOTS + value.zone_slot;
        *SERIALS.get(slot).ok_or(Pass(Counter::Miss))?
    } else {
        0
    };
    let sent = reply::write_reply(ctx, &query, value, serial, config.udp_payload)?;
    let slot = value.zone_slot;
    if slot < COUNTED_ZONE_SLOTS {
        if let Some(count) = ZONE_COUNTERS.get_ptr_mut(zone_counter_index(slot, value.flags)) {
            // SAFETY: per-CPU slot, nobody else writes it while we run.
            unsafe { *count += 1 };
        }
    }
    Ok(sent)
}

/// The entry that answers the query (`key` is left as its key), and the length of the name
/// it was found for: the question name, or its closest existing ancestor.
#[inline(always)]
fn find_entry(
    answers: &HashMap<AnswerKey, AnswerValue>,
    query: &query::Query,
    key: &mut AnswerKey,
) -> Result<(*const AnswerValue, usize), Pass> {
    if let Some(value) = answers.get_ptr(*key) {
        return Ok((value, query.qname_len));
    }
    // The name's own answers are all there is for the types with an answer of their own.
    if has_own_answer(query.qtype) {
        return Err(Pass(Counter::Miss));
    }
    // No entry for this type: the name's default (NODATA, referral) answers the rest.
    key.qtype = DEFAULT_QTYPE;
    if let Some(value) = answers.get_ptr(*key) {
        return Ok((value, query.qname_len));
    }
    // Every name that exists has a default entry: the name does not exist, and its closest
    // existing ancestor says what that means.
    let (value, name_len) = closest_ancestor(answers, key, query.scratch, query.qname_len)?;
    // SAFETY: map value pointers stay valid for the whole run (RCU).
    if unsafe { (*value).options } & OPTION_TYPED_BELOW != 0 {
        // A wildcard below the ancestor has entries for its types.
        key.qtype = query.qtype;
        if let Some(typed) = answers.get_ptr(*key) {
            return Ok((typed, name_len));
        }
    }
    Ok((value, name_len))
}

/// Walks up from a question name that does not exist to its closest ancestor with an entry
/// for the names below it; `key` is left as that entry's key. Returns the entry and the
/// ancestor's length.
#[inline(always)]
fn closest_ancestor(
    answers: &HashMap<AnswerKey, AnswerValue>,
    key: &mut AnswerKey,
    scratch: *mut Scratch,
    len: usize,
) -> Result<(*const AnswerValue, usize), Pass> {
    key.qtype = DEFAULT_QTYPE;
    key.scope = SCOPE_BELOW;
    // The name sits right-aligned in the buffer; hop over its labels there. (Laundered, or
    // the compiler folds the subtraction into the pointer, a negative offset to the verifier.)
    let first = query::launder(scratch, query::NAME_END - len)?;
    let mut start = 0usize;
    let mut level = 0;
    while level < MAX_WALK {
        // SAFETY: per-CPU scratch; `get` bounds the index.
        let label = unsafe { (*scratch).name.get(first + start) }.copied();
        start += label.ok_or(Pass(Counter::Miss))? as usize + 1;
        if start >= len {
            break;
        }
        // The verifier does not relate `start` to `len`: give it the difference's bounds.
        let suffix_len = query::launder(scratch, len - start)?;
        key.name_hash = query::suffix_hash(scratch, suffix_len).ok_or(Pass(Counter::Miss))?;
        if let Some(value) = answers.get_ptr(*key) {
            return Ok((value, suffix_len));
        }
        level += 1;
    }
    Err(Pass(Counter::Miss))
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
