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
    ANSWER_MAP_MAX_ENTRIES, AnswerKey, AnswerValue, COUNTER_COUNT, Counter, DEFAULT_QTYPE,
    NAME_BUF_LEN, XdpConfig, has_own_answer,
};

#[map]
static CONFIG: Array<XdpConfig> = Array::with_max_entries(1, 0);

#[map]
static ANSWERS_0: HashMap<AnswerKey, AnswerValue> =
    HashMap::with_max_entries(ANSWER_MAP_MAX_ENTRIES, BPF_F_NO_PREALLOC);

#[map]
static ANSWERS_1: HashMap<AnswerKey, AnswerValue> =
    HashMap::with_max_entries(ANSWER_MAP_MAX_ENTRIES, BPF_F_NO_PREALLOC);

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_COUNT, 0);

/// The question name as the current packet asked it, lowercased, for confirming a hash hit.
#[repr(C, align(8))]
pub struct Scratch {
    /// See `query::launder`. Eight bytes, so that `name` is 8-aligned for word access.
    pub name_len: u64,
    pub name: [u8; NAME_BUF_LEN],
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
        _pad: 0,
    };
    let mut value = match answers.get_ptr(&key) {
        Some(value) => value,
        // No entry for this type: the name's default (NODATA, referral) answers the rest.
        None if !has_own_answer(query.qtype) => {
            key.qtype = DEFAULT_QTYPE;
            answers.get_ptr(&key).ok_or(Pass(Counter::Miss))?
        }
        None => return Err(Pass(Counter::Miss)),
    };
    // SAFETY: map value pointers stay valid for the whole program run (RCU).
    if query.dnssec_ok && unsafe { (*value).options } & secdns_common::OPTION_HAS_DO_VARIANT != 0 {
        key.dnssec_ok = 1;
        value = answers.get_ptr(&key).ok_or(Pass(Counter::Miss))?;
    }
    // SAFETY: as above.
    let value = unsafe { &*value };
    query::confirm_name(&query, value)?;
    reply::write_reply(ctx, &query, value, config.udp_payload)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
