//! Response rate limiting (RRL) of what is sent over UDP. The XDP program limits what it
//! answers (`secdns-ebpf/src/rate_limit.rs`); userspace charges the same buckets, found the
//! same way (`secdns_common::rrl`), for what it answers, so that moving an answer from one
//! path to the other changes no limit. TCP is never limited: it is where a limited client
//! is sent.

mod settings;
mod words;

use std::{collections::HashMap, net::IpAddr, sync::Arc};

use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use secdns_common::{
    NO_ZONE_SLOT, NameHasher, ZoneSlot,
    rrl::{
        BucketKeys, CHARGE_TRIES, RESPONSE_CLASSES, RRL_COUNT_COUNT, RRL_COUNT_ZONES, RateLimit,
        ResponseClass, RrlSettings, Verdict, bucket_at, bucket_tag, charge, count_index,
        prefix_word, subject, zone_subject,
    },
};

pub use settings::{MAX_TABLE_SIZE, Prefix, RrlConfig, mapped};
pub use words::Words;

use crate::{
    answer::query::Question,
    dns::{Name, wire::be16},
    stats::{self, ZoneCounters},
};

/// Limited responses of one zone: by class, slipped then dropped.
pub type LimitedCounts = [[u64; 2]; RESPONSE_CLASSES];

type AtomicCounts = [[AtomicU64; 2]; RESPONSE_CLASSES];

pub struct RateLimiter {
    config: ArcSwap<RrlConfig>,
    /// The buckets; replaced when the XDP program's are mapped.
    buckets: ArcSwap<Words>,
    /// The kernel's counts of what it limited (see `secdns_common::rrl::count_index`), once
    /// the buckets are the XDP program's.
    kernel_counts: ArcSwap<Option<Words>>,
    /// The XDP slot of each zone, which keys its buckets on both paths.
    zone_slots: ArcSwap<HashMap<Name, ZoneSlot>>,
    /// What userspace limited, by zone.
    counts: ZoneCounters<AtomicCounts>,
    /// The answer index's secret: for hashing names as the program does.
    hash_key: [u64; 2],
    keys: BucketKeys,
}

impl RateLimiter {
    /// Limits as `config` says, hashing keys with `hash_key` (the XDP program's, so that
    /// both find the same bucket).
    pub fn new(config: RrlConfig, hash_key: [u64; 2]) -> Self {
        let words = Words::in_memory(config.table_size as usize);
        Self {
            config: ArcSwap::from_pointee(config),
            buckets: ArcSwap::from_pointee(words),
            kernel_counts: ArcSwap::from_pointee(None),
            zone_slots: ArcSwap::default(),
            counts: ZoneCounters::default(),
            hash_key,
            keys: BucketKeys::new(hash_key),
        }
    }

    pub fn config(&self) -> Arc<RrlConfig> {
        self.config.load_full()
    }

    /// The limits as the XDP program takes them, for a table of `words` buckets, hashed
    /// with the keys this limiter uses: both find the same bucket.
    pub fn kernel_settings(&self, words: u32) -> RrlSettings {
        self.config.load().kernel(words, self.keys)
    }

    /// Changes the limits at runtime (the table keeps its size).
    pub fn set_config(&self, mut config: RrlConfig) -> anyhow::Result<()> {
        config.table_size = self.config.load().table_size;
        config.check()?;
        self.config.store(Arc::new(config));
        Ok(())
    }

    /// From now on, the buckets and counts the XDP program uses.
    pub fn use_kernel_words(&self, buckets: Words, counts: Words) {
        self.buckets.store(Arc::new(buckets));
        self.kernel_counts.store(Arc::new(Some(counts)));
    }

    /// The XDP slot of each zone, after a publication assigned them.
    pub fn set_zone_slots(&self, slots: HashMap<Name, ZoneSlot>) {
        self.zone_slots.store(Arc::new(slots));
    }

    /// Charges `reply` to `question`, about to go to `source` over UDP, for answering from
    /// `zone`: what to do with it.
    pub fn judge(
        &self,
        source: IpAddr,
        reply: &[u8],
        question: Option<&Question<'_>>,
        zone: Option<&Name>,
    ) -> Verdict {
        let config = self.config.load();
        if !config.enabled {
            return Verdict::Answer;
        }
        let (Some(flags), Some(ancount), Some(nscount)) =
            (be16(reply, 2), be16(reply, 6), be16(reply, 8))
        else {
            return Verdict::Answer;
        };
        let class = ResponseClass::of(flags, ancount, nscount);
        // An IPv4-mapped source is an IPv4 client, as the kernel takes it.
        let (ipv6, prefix) = match source.to_canonical() {
            IpAddr::V4(v4) => (
                false,
                prefix_word(u32::from(v4).into(), 32, config.ipv4_prefix),
            ),
            IpAddr::V6(v6) => {
                let top = (u128::from(v6) >> 64) as u64;
                (true, prefix_word(top, 64, config.ipv6_prefix))
            }
        };
        let subject = match (class, question) {
            (ResponseClass::Positive, Some(question)) => {
                let name_hash = NameHasher { key: self.hash_key }.hash(question.qname).0;
                subject(class, name_hash, question.qtype, 0)
            }
            (ResponseClass::Positive, None) => return Verdict::Answer,
            _ => zone_subject(zone.map_or(NO_ZONE_SLOT, |zone| self.slot_of(zone))),
        };
        let key = self.keys.key(ipv6, prefix, class, subject);
        let buckets = self.buckets.load();
        let words = buckets.as_slice();
        let Some(bucket) = words.get(bucket_at(key, words.len() as u32) as usize) else {
            return Verdict::Answer;
        };
        let verdict = charge_shared(bucket, bucket_tag(key), &config.limit());
        if verdict == Verdict::Answer || config.allow.iter().any(|prefix| prefix.contains(source)) {
            return Verdict::Answer;
        }
        // Errors are never slipped: a truncated error is no use to a real client.
        let verdict = if class == ResponseClass::Error {
            Verdict::Drop
        } else {
            verdict
        };
        self.count(zone, class, verdict);
        if config.log_only {
            Verdict::Answer
        } else {
            verdict
        }
    }

    fn count(&self, zone: Option<&Name>, class: ResponseClass, verdict: Verdict) {
        self.counts.bump(zone, |counts| {
            if let Some(count) = counts
                .get(class as usize)
                .and_then(|c| c.get(usize::from(verdict == Verdict::Drop)))
            {
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    /// The slot that keys `zone`'s buckets: its XDP slot; with XDP, none for a zone
    /// without one, as the program has it (every such zone shares one negative bucket per
    /// client, as in the kernel); without XDP, one from its name beyond every slot.
    fn slot_of(&self, zone: &Name) -> ZoneSlot {
        if let Some(slot) = self.zone_slots.load().get(zone) {
            return *slot;
        }
        if self.kernel_counts.load().is_some() {
            return NO_ZONE_SLOT;
        }
        let hash = NameHasher { key: self.hash_key }.hash(zone.wire()).0 as u32;
        hash | 1 << 31
    }

    /// Limited responses by zone, userspace's and the kernel's together.
    pub fn limited(&self) -> Vec<(Option<Name>, LimitedCounts)> {
        let mut all: HashMap<Option<Name>, LimitedCounts> =
            self.counts.read(stats::load_all).into_iter().collect();
        if let Some(kernel) = self.kernel_counts.load().as_ref() {
            let words = kernel.as_slice();
            let read = |slot: ZoneSlot, class: ResponseClass, dropped: bool| {
                words
                    .get(count_index(slot, class, dropped) as usize)
                    .map_or(0, |w| w.load(Ordering::Relaxed))
            };
            let mut add = |zone: Option<Name>, slot: ZoneSlot| {
                let counts = all.entry(zone).or_default();
                for class in ResponseClass::ALL {
                    counts[class as usize][0] += read(slot, class, false);
                    counts[class as usize][1] += read(slot, class, true);
                }
            };
            for (apex, slot) in self.zone_slots.load().iter() {
                if *slot < RRL_COUNT_ZONES - 1 {
                    add(Some(apex.clone()), *slot);
                }
            }
            // Zones beyond the counted slots.
            add(None, NO_ZONE_SLOT);
            debug_assert!(words.len() >= RRL_COUNT_COUNT as usize);
        }
        let mut all: Vec<_> = all
            .into_iter()
            .filter(|(_, c)| c.iter().flatten().any(|n| *n > 0))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// Tries to charge one response to `bucket` a few times: another CPU or thread may charge it
/// at the same moment. After that, the verdict of the last try stands uncharged, so that a
/// flood from every CPU at once stays limited.
fn charge_shared(bucket: &AtomicU64, tag: u8, limit: &RateLimit) -> Verdict {
    let now = monotonic_us();
    let mut old = bucket.load(Ordering::Relaxed);
    let mut verdict = Verdict::Answer;
    for _ in 0..CHARGE_TRIES {
        let (new, this) = charge(old, tag, now, limit);
        verdict = this;
        match bucket.compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break,
            Err(seen) => old = seen,
        }
    }
    verdict
}

/// CLOCK_MONOTONIC_COARSE in microseconds: the clock the XDP program reads
/// (`bpf_ktime_get_coarse_ns`).
pub fn monotonic_us() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill; the clock always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
    now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1000
}
