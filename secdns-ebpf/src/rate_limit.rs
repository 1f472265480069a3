//! Response rate limiting: charges the answer about to be sent to its bucket (shared with
//! userspace's UDP responder, which charges the same words through a mapping of the array)
//! and says whether to send it, a truncated reply instead, or nothing.

use core::intrinsics::{AtomicOrdering::Relaxed, atomic_cxchg, atomic_xadd};

use aya_ebpf::{helpers::generated::bpf_ktime_get_ns, maps::lpm_trie::Key, programs::XdpContext};
use secdns_common::{
    BodyHeader,
    rrl::{
        RRL_LOG_ONLY, RRL_ON, ResponseClass, RrlSettings, Verdict, bucket_at, bucket_key,
        bucket_tag, charge, count_index, prefix_word, subject, zone_subject,
    },
};

use crate::{RRL_ALLOW, RRL_BUCKETS, RRL_COUNTS, packet::ptr_at, query::Query};

/// What to do with the answer with `header` to `q`.
#[inline(always)]
pub fn judge(
    ctx: &XdpContext,
    q: &Query,
    header: &BodyHeader,
    settings: &RrlSettings,
    hash_key: [u64; 2],
) -> Verdict {
    if settings.flags & RRL_ON == 0 {
        return Verdict::Answer;
    }
    let Some(source) = source_address(ctx, q) else {
        return Verdict::Answer;
    };
    let top = u64::from_be_bytes([
        source[0], source[1], source[2], source[3], source[4], source[5], source[6], source[7],
    ]);
    let prefix = if q.ipv6 {
        prefix_word(top, 64, settings.ipv6_prefix)
    } else {
        // An IPv4 address is kept as ::ffff:a.b.c.d (for the allow list): its last 32 bits.
        let v4 = u32::from_be_bytes([source[12], source[13], source[14], source[15]]);
        prefix_word(v4 as u64, 32, settings.ipv4_prefix)
    };
    let class = ResponseClass::of(header.flags, header.ancount);
    let zone = zone_subject(header.zone_slot);
    let key = bucket_key(
        hash_key,
        q.ipv6,
        prefix,
        class,
        subject(class, q.name_hash, q.qtype, zone),
    );
    let Some(word) = RRL_BUCKETS.get_ptr_mut(bucket_at(key, settings.words)) else {
        return Verdict::Answer;
    };
    // SAFETY: a helper without arguments.
    let now_us = unsafe { bpf_ktime_get_ns() } / 1000;
    // SAFETY: an 8-aligned u64 of the map's value area, which other CPUs and userspace
    // change only with atomic operations.
    let old = unsafe { core::ptr::read_volatile(word) };
    let (new, verdict) = charge(old, bucket_tag(key), now_us, &settings.limit);
    // SAFETY: as above. (The target's core has no atomic types beyond loads and stores; the
    // kernel has the instruction.)
    let (_, swapped) = unsafe { atomic_cxchg::<u64, { Relaxed }, { Relaxed }>(word, old, new) };
    // Another CPU (or userspace) charged the bucket meanwhile: its charge stands, this
    // response goes out, as a lost race should fail.
    if !swapped {
        return Verdict::Answer;
    }
    if verdict == Verdict::Answer || allowed(&source) {
        return Verdict::Answer;
    }
    let dropped = verdict == Verdict::Drop;
    if let Some(count) = RRL_COUNTS.get_ptr_mut(count_index(header.zone_slot, class, dropped)) {
        // SAFETY: as the bucket above.
        unsafe { atomic_xadd::<u64, u64, { Relaxed }>(count, 1) };
    }
    if settings.flags & RRL_LOG_ONLY != 0 {
        return Verdict::Answer;
    }
    verdict
}

/// The query's source address as IPv6 (IPv4 mapped: ::ffff:a.b.c.d).
#[inline(always)]
fn source_address(ctx: &XdpContext, q: &Query) -> Option<[u8; 16]> {
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
    Some(address)
}

/// Whether `source` is in a prefix exempt from limits (looked up only for a limited
/// response: what the others pay is nothing).
#[inline(always)]
fn allowed(source: &[u8; 16]) -> bool {
    RRL_ALLOW.get(Key::new(128, *source)).is_some()
}
