//! Response rate limiting: charges the answer about to be sent to its bucket (shared with
//! userspace's UDP responder, which charges the same words through a mapping of the array)
//! and says whether to send it, a truncated reply instead, or nothing.

use core::intrinsics::{AtomicOrdering::Relaxed, atomic_cxchg, atomic_xadd};

use aya_ebpf::{
    helpers::generated::bpf_ktime_get_coarse_ns, maps::lpm_trie::Key, programs::XdpContext,
};
use secdns_common::{
    BodyHeader,
    rrl::{
        CHARGE_TRIES, RRL_HAS_ALLOW, RRL_LOG_ONLY, RRL_ON, ResponseClass, RrlSettings, Verdict,
        bucket_at, bucket_tag, charge, count_index, prefix_word, subject, zone_subject,
    },
};

use crate::{
    CONFIG, RRL_ALLOW, RRL_BUCKETS, RRL_COUNTS, SCRATCH, Scratch, packet::ptr_at, query::Query,
};

/// What to do with the answer with `header` to `q`, charged to its bucket, and whether the
/// charge can be taken back (see [`refund`]).
///
/// The work runs in a global function (see [`secdns_rrl_charge`]): the verifier checks it
/// once, and its stack is its own, not the program's, whose frame is near the kernel's
/// limit.
#[inline(always)]
pub fn judge(q: &Query, header: &BodyHeader, settings: &RrlSettings) -> (Verdict, bool) {
    if settings.flags & RRL_ON == 0 {
        return (Verdict::Answer, false);
    }
    // SAFETY: per-CPU scratch.
    unsafe {
        (*q.scratch).rrl_work = Work {
            name_hash: q.name_hash,
            qtype: q.qtype,
            flags: header.flags,
            ancount: header.ancount,
            nscount: header.nscount,
            zone_slot: header.zone_slot,
            bucket: 0,
            before: 0,
            after: 0,
        }
    };
    match secdns_rrl_charge() {
        SLIP => (Verdict::Slip, false),
        DROP => (Verdict::Drop, false),
        CHARGED => (Verdict::Answer, true),
        _ => (Verdict::Answer, false),
    }
}

/// What [`secdns_rrl_charge`] returns besides 0, an answer sent uncharged.
const SLIP: u32 = 1;
const DROP: u32 = 2;
/// An answer, charged.
const CHARGED: u32 = 3;

/// What [`secdns_rrl_charge`] works on, in the scratch (with `Scratch::source`).
#[repr(C)]
pub struct Work {
    name_hash: u64,
    qtype: u16,
    /// The answer's header flags and counts.
    flags: u16,
    ancount: u16,
    nscount: u16,
    zone_slot: u32,
    /// An answer charged: the bucket, and its word before and after (see [`refund`]).
    bucket: u32,
    before: u64,
    after: u64,
}

/// Takes back the charge of an answer the kernel could not send after all (the frame could
/// not be resized: userspace sends it, and charges it), if nobody charged the bucket since.
#[inline(always)]
pub fn refund() {
    secdns_rrl_refund();
}

/// See [`refund`]; a global function, as [`secdns_rrl_charge`].
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn secdns_rrl_refund() -> u32 {
    let Some(scratch) = SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: per-CPU scratch, filled by the charge for this packet.
    let work = unsafe { &(*scratch).rrl_work };
    let Some(word) = RRL_BUCKETS.get_ptr_mut(work.bucket) else {
        return 0;
    };
    // SAFETY: as in `charged`.
    let (_, swapped) =
        unsafe { atomic_cxchg::<u64, { Relaxed }, { Relaxed }>(word, work.after, work.before) };
    swapped as u32
}

/// Charges the answer the scratch describes: 0 to send it, [`CHARGED`] to send it charged,
/// [`SLIP`] or [`DROP`]. A global function: the verifier checks it once, on its own, and
/// its callers see an unknown.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn secdns_rrl_charge() -> u32 {
    let (Some(scratch), Some(config)) = (SCRATCH.get_ptr_mut(0), CONFIG.get(0)) else {
        return 0;
    };
    // SAFETY: per-CPU scratch, filled by `judge` for this packet.
    charged(unsafe { &mut *scratch }, &config.rrl)
}

/// Charges the answer the scratch describes to its bucket: what to do with it (see
/// [`secdns_rrl_charge`]).
#[inline(always)]
fn charged(scratch: &mut Scratch, settings: &RrlSettings) -> u32 {
    let work = &scratch.rrl_work;
    let address = scratch.source.data;
    let word = |at: usize| {
        let mut word = 0u64;
        let mut i = 0;
        while i < 8 {
            word = word << 8 | address[at + i] as u64;
            i += 1;
        }
        word
    };
    let (top, low) = (word(0), word(8));
    // An IPv4 address is kept as ::ffff:a.b.c.d (for the allow list), and so is an
    // IPv4-mapped IPv6 source: both are IPv4 clients, as userspace takes them.
    let ipv6 = top != 0 || low >> 32 != 0xffff;
    let prefix = if ipv6 {
        prefix_word(top, 64, settings.ipv6_prefix)
    } else {
        prefix_word(low & 0xffff_ffff, 32, settings.ipv4_prefix)
    };
    let class = ResponseClass::of(work.flags, work.ancount, work.nscount);
    let zone = zone_subject(work.zone_slot);
    let key = settings.keys.key(
        ipv6,
        prefix,
        class,
        subject(class, work.name_hash, work.qtype, zone),
    );
    let bucket = bucket_at(key, settings.words);
    let Some(word) = RRL_BUCKETS.get_ptr_mut(bucket) else {
        return 0;
    };
    // The coarse clock (a tick's resolution, milliseconds) is plenty for a limit of seconds,
    // and costs a fraction of the precise one. Userspace reads the same clock.
    // SAFETY: a helper without arguments.
    let now_us = unsafe { bpf_ktime_get_coarse_ns() } / 1000;
    // SAFETY: an 8-aligned u64 of the map's value area, which other CPUs and userspace
    // change only with atomic operations.
    let mut old = unsafe { core::ptr::read_volatile(word) };
    let mut verdict = Verdict::Answer;
    // Another CPU (or userspace) may charge the bucket at the same moment: a few tries,
    // then the last verdict stands uncharged, so that a flood from every CPU stays limited.
    let mut tries = 0;
    while tries < CHARGE_TRIES {
        let (new, this) = charge(old, bucket_tag(key), now_us, &settings.limit);
        verdict = this;
        // SAFETY: as above. (The target's core has no atomic types beyond loads and
        // stores; the kernel has the instruction.)
        let (seen, swapped) =
            unsafe { atomic_cxchg::<u64, { Relaxed }, { Relaxed }>(word, old, new) };
        if swapped {
            if verdict == Verdict::Answer {
                let work = &mut scratch.rrl_work;
                (work.bucket, work.before, work.after) = (bucket, old, new);
                return CHARGED;
            }
            break;
        }
        old = seen;
        tries += 1;
    }
    let work = &scratch.rrl_work;
    let allowed =
        || settings.flags & RRL_HAS_ALLOW != 0 && RRL_ALLOW.get(&scratch.source).is_some();
    if verdict == Verdict::Answer || allowed() {
        return 0;
    }
    let dropped = verdict == Verdict::Drop;
    if let Some(count) = RRL_COUNTS.get_ptr_mut(count_index(work.zone_slot, class, dropped)) {
        // SAFETY: as the bucket above.
        unsafe { atomic_xadd::<u64, u64, { Relaxed }>(count, 1) };
    }
    match verdict {
        _ if settings.flags & RRL_LOG_ONLY != 0 => 0,
        Verdict::Slip => SLIP,
        _ => DROP,
    }
}

/// Leaves the query's source address in the scratch (`Scratch::source`) while the frame
/// still holds the query: IPv6, or IPv4 mapped (::ffff:a.b.c.d), as the rate limit's allow
/// list is keyed and the cookie hash takes it.
#[inline(always)]
pub fn remember_source(ctx: &XdpContext, q: &Query) -> Option<()> {
    let mut address = [0u8; 16];
    if q.ipv6 {
        let p = ptr_at(ctx, q.l3_off + 8, 16)?;
        let mut i = 0;
        while i < 16 {
            // SAFETY: `ptr_at` checked 16 bytes.
            address[i] = unsafe { *p.add(i) };
            i += 1;
        }
    } else {
        let p = ptr_at(ctx, q.l3_off + 12, 4)?;
        address[10] = 0xff;
        address[11] = 0xff;
        // SAFETY: `ptr_at` checked 4 bytes.
        unsafe {
            address[12] = *p;
            address[13] = *p.add(1);
            address[14] = *p.add(2);
            address[15] = *p.add(3);
        }
    }
    // SAFETY: per-CPU scratch.
    unsafe { (*q.scratch).source = Key::new(128, address) };
    Some(())
}
