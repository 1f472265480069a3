//! Response rate limiting (RRL): the bucket of one (client prefix, response class, name) key
//! as a single `u64`, charged by the XDP program and by userspace alike, so that an answer
//! costs the same whichever path sends it (both update the word with one compare-and-swap).
//!
//! The bucket is GCRA's ("virtual scheduling"): it holds the time at which it is next due a
//! token, so it needs no fractions and no refill step. As BIND's RRL: a client may take one
//! second's worth of responses at once, then `per_second`; a limited response adds to the
//! debt too, up to `window` seconds' worth, so a flood stays limited until it has been quiet
//! for about that long; the first limited response and every `slip`-th after it are slipped
//! (a truncated reply that sends a real client to TCP), the others dropped.
//!
//! Which bucket a response is charged to: [`BucketKeys::key`], from the client's prefix, the
//! response's class ([`ResponseClass::of`], read from the reply's header the same way on
//! both paths) and its subject (the question for positive answers, the zone otherwise).

use crate::{COUNTED_ZONE_SLOTS, RCODE_MASK, RCODE_NXDOMAIN, SipState, ZoneSlot};

/// What to do with one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Answer,
    /// Send a minimal TC=1 reply instead.
    Slip,
    Drop,
}

/// A limit in the units [`charge`] works in (microseconds of the monotonic clock); userspace
/// works it out once (see [`RateLimit::new`]) and hands it to the program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct RateLimit {
    /// Microseconds one response costs: a second over the rate.
    pub interval_us: u64,
    /// How far ahead of now the bucket may be due before it limits: one second.
    pub burst_us: u64,
    /// How far ahead of that limited responses may push it: the window.
    pub debt_us: u64,
    /// Every how many limited responses one is slipped; 0 drops them all.
    pub slip: u64,
}

const US_PER_SECOND: u64 = 1_000_000;
/// A response costs at least a microsecond.
pub const MAX_PER_SECOND: u32 = 1_000_000;
/// BIND's largest window; the debt stays far inside the due time's range.
pub const MAX_WINDOW_S: u32 = 3600;

/// Bits of the word that hold the due time (microseconds: 8.9 years before it wraps, and it
/// is compared wrapping).
const DUE_BITS: u32 = 48;
const DUE_MASK: u64 = (1 << DUE_BITS) - 1;
/// Then 8 bits counting the limited responses since the bucket last answered, modulo the slip
/// (so that it never saturates), and 8 bits of the key's hash, so that a key that lands in
/// another's slot starts afresh.
const LIMITED_SHIFT: u32 = DUE_BITS;
const TAG_SHIFT: u32 = 56;

impl RateLimit {
    /// `per_second` responses a second (1 to [`MAX_PER_SECOND`]), debts remembered for
    /// `window_s` seconds (at most [`MAX_WINDOW_S`]), one limited response in `slip` slipped;
    /// values outside are taken as the nearest inside.
    pub const fn new(per_second: u32, window_s: u32, slip: u8) -> Self {
        let per_second = match per_second {
            0 => 1,
            rate if rate > MAX_PER_SECOND => MAX_PER_SECOND as u64,
            rate => rate as u64,
        };
        let window_s = if window_s > MAX_WINDOW_S {
            MAX_WINDOW_S
        } else {
            window_s
        };
        Self {
            interval_us: US_PER_SECOND / per_second,
            burst_us: US_PER_SECOND,
            debt_us: window_s as u64 * US_PER_SECOND,
            slip: slip as u64,
        }
    }
}

/// The classes of responses, as BIND and NSD count them: each has buckets of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ResponseClass {
    /// Records in the answer section (a CNAME chain ending in NXDOMAIN too).
    Positive = 0,
    Nxdomain = 1,
    /// No records, authoritative: the name exists, the type does not.
    Nodata = 2,
    /// No answer records, not authoritative, NS records in the authority section: a
    /// delegation.
    Referral = 3,
    /// Any other RCODE (REFUSED, FORMERR, SERVFAIL, NOTIMP ...); only userspace sends these.
    Error = 4,
}

pub const RESPONSE_CLASSES: usize = 5;

impl ResponseClass {
    pub const ALL: [ResponseClass; RESPONSE_CLASSES] = [
        ResponseClass::Positive,
        ResponseClass::Nxdomain,
        ResponseClass::Nodata,
        ResponseClass::Referral,
        ResponseClass::Error,
    ];

    /// The class of a reply with header `flags`, `ancount` answer records and `nscount`
    /// authority records. (A reply without records, not authoritative, and not a referral
    /// is an error whose RCODE is in OPT, as BADVERS.)
    #[inline(always)]
    pub const fn of(flags: u16, ancount: u16, nscount: u16) -> Self {
        let rcode = flags & RCODE_MASK;
        if rcode == RCODE_NXDOMAIN && ancount == 0 {
            ResponseClass::Nxdomain
        } else if rcode != 0 && rcode != RCODE_NXDOMAIN {
            ResponseClass::Error
        } else if ancount > 0 {
            ResponseClass::Positive
        } else if flags & crate::FLAG_AA != 0 {
            ResponseClass::Nodata
        } else if nscount > 0 {
            ResponseClass::Referral
        } else {
            ResponseClass::Error
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            ResponseClass::Positive => "positive",
            ResponseClass::Nxdomain => "nxdomain",
            ResponseClass::Nodata => "nodata",
            ResponseClass::Referral => "referral",
            ResponseClass::Error => "error",
        }
    }
}

/// What a response's bucket is for besides the client and the class: the question (name
/// hash and type) for a positive answer, as BIND keys them, so that a resolver asking for
/// many names is limited per name; the zone for the others, so that a flood of random names
/// shares one bucket. (BIND keys a referral by its delegation; here the zone holding it.)
#[inline(always)]
pub const fn subject(class: ResponseClass, name_hash: u64, qtype: u16, zone: u64) -> u64 {
    match class {
        ResponseClass::Positive => name_hash ^ (qtype as u64) << 48,
        _ => zone,
    }
}

/// The zone part of a [`subject`] for a zone with an XDP slot (the program knows no other):
/// userspace uses the same for the zones it shares with the kernel.
#[inline(always)]
pub const fn zone_subject(slot: ZoneSlot) -> u64 {
    slot as u64
}

/// The client's prefix as one word: the first `bits` of an IPv4 address (host order), or of
/// the top 64 bits of an IPv6 address (a /64 at most, as NSD's `rrl-ipv6-prefix-length`).
#[inline(always)]
pub const fn prefix_word(top: u64, width: u32, bits: u8) -> u64 {
    let bits = if bits as u32 > width {
        width
    } else {
        bits as u32
    };
    if bits == 0 {
        return 0;
    }
    let mask = (u64::MAX << (64 - bits)) >> (64 - width);
    top & mask
}

/// The keyed hash of a bucket's key ([`BucketKeys::key`]): its top 32 bits choose the
/// bucket ([`bucket_at`]), the 8 below them tag it ([`bucket_tag`]).
///
/// Thorup's pair-multiply-shift over the key's 32-bit halves: universal in its top 32 bits
/// (two keys share a bucket with a chance of about 2 in 2^32 / buckets, whatever the keys),
/// which is what a table of buckets needs, with random multipliers nobody outside sees, so
/// that a flood cannot aim at another's bucket. Three multiplications, where the SipHash it
/// replaced took a seventh of each limited packet's time in the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BucketKeys {
    pub multipliers: [u64; 6],
    pub offset: u64,
}

impl BucketKeys {
    /// Multipliers drawn from the secret `hash_key` (that of the answer index), so that the
    /// program and userspace, given the same secret, find the same bucket.
    pub fn new(hash_key: [u64; 2]) -> Self {
        let draw = |index: u64| {
            let mut state = SipState::new(hash_key);
            state.compress(0x7272_6c2d_6b65_7973 ^ index); // "rrl-keys"
            state.finish(8).0
        };
        let mut multipliers = [0; 6];
        for (index, multiplier) in (0..).zip(multipliers.iter_mut()) {
            *multiplier = draw(index);
        }
        Self {
            multipliers,
            offset: draw(6),
        }
    }

    /// The hash of the bucket key (client prefix, family, class, subject).
    #[inline(always)]
    pub fn key(&self, ipv6: bool, prefix: u64, class: ResponseClass, subject: u64) -> u64 {
        let [a0, a1, a2, a3, a4, a5] = self.multipliers;
        let high = |word: u64| word >> 32;
        let low = |word: u64| word & 0xffff_ffff;
        let pair =
            |a: u64, x: u64, b: u64, y: u64| a.wrapping_add(x).wrapping_mul(b.wrapping_add(y));
        let kind = class as u64 | (ipv6 as u64) << 8;
        pair(a0, high(prefix), a1, low(prefix))
            .wrapping_add(pair(a2, high(subject), a3, low(subject)))
            .wrapping_add(pair(a4, kind, a5, 0))
            .wrapping_add(self.offset)
    }
}

/// The bucket of `key` in a table of `words` buckets.
#[inline(always)]
pub const fn bucket_at(key: u64, words: u32) -> u32 {
    (((key >> 32) * words as u64) >> 32) as u32
}

/// The tag [`charge`] keeps with the bucket of `key`: the 8 bits below those [`bucket_at`]
/// takes.
#[inline(always)]
pub const fn bucket_tag(key: u64) -> u8 {
    (key >> 24) as u8
}

/// Times a response is charged to a bucket that others charge at the same moment before
/// its verdict stands uncharged.
pub const CHARGE_TRIES: usize = 3;

/// Prefixes the allow list holds at most.
pub const RRL_ALLOW_MAX: u32 = 4096;

/// [`RrlSettings::flags`]: limits are applied.
pub const RRL_ON: u32 = 1;
/// [`RrlSettings::flags`]: limits are counted, not applied.
pub const RRL_LOG_ONLY: u32 = 2;
/// [`RrlSettings::flags`]: the allow list holds prefixes (without, a limited response
/// costs no lookup in it).
pub const RRL_HAS_ALLOW: u32 = 4;

/// Response rate limiting as the program applies it (part of `XdpConfig`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct RrlSettings {
    pub limit: RateLimit,
    pub keys: BucketKeys,
    /// Buckets in the RRL_BUCKETS array (its `max_entries`).
    pub words: u32,
    pub flags: u32,
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    pub reserved: [u8; 6],
}

/// Limited responses counted by zone (the counted zone slots, then one row for the others),
/// class and verdict (slipped, dropped): see [`count_index`].
pub const RRL_COUNT_ZONES: u32 = COUNTED_ZONE_SLOTS + 1;
pub const RRL_COUNT_COUNT: u32 = RRL_COUNT_ZONES * RESPONSE_CLASSES as u32 * 2;

/// Where a limited response of zone `slot` and `class` is counted.
#[inline(always)]
pub const fn count_index(slot: ZoneSlot, class: ResponseClass, dropped: bool) -> u32 {
    let row = if slot < COUNTED_ZONE_SLOTS {
        slot
    } else {
        COUNTED_ZONE_SLOTS
    };
    (row * RESPONSE_CLASSES as u32 + class as u32) * 2 + dropped as u32
}

/// Charges one response to the bucket `word` of the key whose hash has `tag` (see
/// [`bucket_tag`]), at `now_us` (the monotonic clock, in microseconds): the word to store and what to do
/// with the response. A zero word is a bucket never charged.
#[inline(always)]
pub fn charge(word: u64, tag: u8, now_us: u64, limit: &RateLimit) -> (u64, Verdict) {
    let now = now_us & DUE_MASK;
    let ours = (word >> TAG_SHIFT) as u8 == tag && word != 0;
    let (stored, limited) = match ours {
        true => (word & DUE_MASK, (word >> LIMITED_SHIFT) & 0xff),
        false => (now, 0),
    };
    // A bucket due in the past is due now: what it earned since is capped at the burst.
    let owed = ahead(stored, now);
    let due = now + owed;
    let (due, limited, verdict) = if owed <= limit.burst_us {
        (due.wrapping_add(limit.interval_us), 0, Verdict::Answer)
    } else {
        // The debt grows with the flood, up to the window's worth.
        let most = limit.burst_us + limit.debt_us;
        let due = if owed + limit.interval_us <= most {
            due.wrapping_add(limit.interval_us)
        } else {
            now.wrapping_add(most)
        };
        let slips = limit.slip != 0;
        let verdict = if slips && limited == 0 {
            Verdict::Slip
        } else {
            Verdict::Drop
        };
        let limited = if slips {
            (limited + 1) % limit.slip.min(0xff)
        } else {
            0
        };
        (due, limited, verdict)
    };
    let word = (due & DUE_MASK) | (limited << LIMITED_SHIFT) | (u64::from(tag) << TAG_SHIFT);
    (word, verdict)
}

/// How far `due` is ahead of `now` (both [`DUE_BITS`] wide, wrapping), or 0 if it is not.
#[inline(always)]
fn ahead(due: u64, now: u64) -> u64 {
    let difference = due.wrapping_sub(now) & DUE_MASK;
    // More than half the range ahead means behind.
    if difference < 1 << (DUE_BITS - 1) {
        difference
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    const TAG: u8 = 0x5a;

    /// Charges `count` responses at `now_us`, returning the verdicts.
    fn burst(word: &mut u64, now_us: u64, count: usize, limit: &RateLimit) -> [usize; 3] {
        let mut tally = [0; 3];
        for _ in 0..count {
            let (next, verdict) = charge(*word, TAG, now_us, limit);
            *word = next;
            tally[verdict as usize] += 1;
        }
        tally
    }

    #[test]
    fn a_second_of_responses_at_once_then_the_rate() {
        let limit = RateLimit::new(10, 15, 0);
        let mut word = 0;
        let start = 5 * US_PER_SECOND;
        // A second's worth at once (and the one the burst starts with).
        assert_eq!(burst(&mut word, start, 20, &limit), [11, 0, 9]);
        // Once that is paid off, ten seconds at the rate are all answered.
        let paid = start + 3 * US_PER_SECOND;
        for tenth in 0..100u64 {
            let at = paid + tenth * US_PER_SECOND / 10;
            assert_eq!(burst(&mut word, at, 1, &limit), [1, 0, 0], "at {tenth}");
        }
        // A flood gets the burst and nothing more: limited responses cost too.
        let flood = paid + 11 * US_PER_SECOND;
        let mut answered = 0;
        for ms in 0..3000u64 {
            answered += burst(&mut word, flood + ms * 1000, 1, &limit)[0];
        }
        assert!(
            (11..=13).contains(&answered),
            "{answered} answered in a flood"
        );
    }

    #[test]
    fn the_first_limited_response_and_every_slipth_after_it_slip() {
        let limit = RateLimit::new(1, 15, 2);
        let mut word = 0;
        let now = US_PER_SECOND;
        assert_eq!(burst(&mut word, now, 2, &limit), [2, 0, 0]);
        let verdicts: [Verdict; 5] = core::array::from_fn(|_| {
            let (next, verdict) = charge(word, TAG, now, &limit);
            word = next;
            verdict
        });
        use Verdict::{Drop, Slip};
        assert_eq!(verdicts, [Slip, Drop, Slip, Drop, Slip]);
        // Still every other one (a drop next) after more limited responses than the counter
        // could hold.
        assert_eq!(burst(&mut word, now, 1001, &limit), [0, 500, 501]);
        // No slip drops everything; a slip of 1 slips everything.
        let (mut never, mut always) = (word, word);
        assert_eq!(
            burst(&mut never, now, 4, &RateLimit::new(1, 15, 0)),
            [0, 0, 4]
        );
        assert_eq!(
            burst(&mut always, now, 4, &RateLimit::new(1, 15, 1)),
            [0, 4, 0]
        );
    }

    #[test]
    fn a_flood_stays_limited_for_the_window_after_it_stops() {
        let limit = RateLimit::new(100, 5, 0);
        let mut word = 0;
        let start = 7 * US_PER_SECOND;
        // Ten seconds of flood at a thousand a second.
        for ms in 0..10_000u64 {
            burst(&mut word, start + ms * 1000, 1, &limit);
        }
        let end = start + 10 * US_PER_SECOND;
        // Quiet for four seconds: still limited (the debt is five seconds' worth).
        assert_eq!(
            burst(&mut word, end + 4 * US_PER_SECOND, 1, &limit),
            [0, 0, 1]
        );
        // Quiet for more than the window: a full second's worth again.
        let later = end + 7 * US_PER_SECOND;
        assert_eq!(burst(&mut word, later, 101, &limit)[0], 101);
    }

    #[test]
    fn another_key_in_the_slot_starts_afresh() {
        let limit = RateLimit::new(1, 15, 0);
        let mut word = 0;
        assert_eq!(burst(&mut word, US_PER_SECOND, 5, &limit), [2, 0, 3]);
        let (_, verdict) = charge(word, TAG ^ 1, US_PER_SECOND, &limit);
        assert_eq!(verdict, Verdict::Answer);
    }

    #[test]
    fn classes_from_the_header() {
        use ResponseClass::*;
        let aa = crate::FLAG_AA;
        assert_eq!(ResponseClass::of(aa, 1, 0), Positive);
        assert_eq!(ResponseClass::of(aa | 3, 1, 1), Positive); // CNAME to a missing name
        assert_eq!(ResponseClass::of(aa | 3, 0, 1), Nxdomain);
        assert_eq!(ResponseClass::of(aa, 0, 1), Nodata);
        assert_eq!(ResponseClass::of(0, 0, 2), Referral);
        assert_eq!(ResponseClass::of(0, 0, 0), Error); // BADVERS: the RCODE is in OPT
        assert_eq!(ResponseClass::of(5, 0, 0), Error);
        assert_eq!(ResponseClass::of(aa | 2, 0, 0), Error);
    }

    #[test]
    fn prefixes_keep_their_first_bits() {
        assert_eq!(prefix_word(0xc000_0263, 32, 24), 0xc000_0200);
        assert_eq!(prefix_word(0xc000_0263, 32, 32), 0xc000_0263);
        assert_eq!(prefix_word(0xc000_0263, 32, 40), 0xc000_0263);
        assert_eq!(prefix_word(0xc000_0263, 32, 0), 0);
        let v6 = 0x2001_0db8_1234_5678;
        assert_eq!(prefix_word(v6, 64, 56), 0x2001_0db8_1234_5600);
        assert_eq!(prefix_word(v6, 64, 64), v6);
        assert_eq!(prefix_word(v6, 64, 128), v6);
    }

    #[test]
    fn keys_differ_by_prefix_class_family_and_subject() {
        let keys = BucketKeys::new([1, 2]);
        let base = keys.key(false, 10, ResponseClass::Nxdomain, 7);
        for other in [
            keys.key(false, 11, ResponseClass::Nxdomain, 7),
            keys.key(false, 10 << 32, ResponseClass::Nxdomain, 7),
            keys.key(true, 10, ResponseClass::Nxdomain, 7),
            keys.key(false, 10, ResponseClass::Nodata, 7),
            keys.key(false, 10, ResponseClass::Nxdomain, 8),
            keys.key(false, 10, ResponseClass::Nxdomain, 7 << 32),
            BucketKeys::new([1, 3]).key(false, 10, ResponseClass::Nxdomain, 7),
        ] {
            assert_ne!(base >> 24, other >> 24);
        }
        for words in [1u32, 2, 1000, u32::MAX] {
            assert!(bucket_at(base, words) < words);
        }
        let last = count_index(COUNTED_ZONE_SLOTS + 5, ResponseClass::Error, true);
        assert_eq!(last, RRL_COUNT_COUNT - 1);
        assert_eq!(
            count_index(crate::NO_ZONE_SLOT, ResponseClass::Error, true),
            last
        );
    }

    /// Neighbouring prefixes (a flood from one network) and a client's subjects (names
    /// hashed, or small zone slots) spread over the table, and the tags within a bucket
    /// differ: no bucket holds more than twice its share.
    #[test]
    fn keys_spread_over_the_buckets() {
        let keys = BucketKeys::new([0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210]);
        let words = 1024u32;
        let prefixes = (0..65_536u64).map(|n| (0xc633_6400 + (n << 8), n % 4));
        let mut load = [0u32; 1024];
        let mut tags = [0u32; 256];
        for (prefix, slot) in prefixes {
            let key = keys.key(false, prefix, ResponseClass::Nxdomain, slot);
            load[bucket_at(key, words) as usize] += 1;
            tags[bucket_tag(key) as usize] += 1;
        }
        let share = 65_536 / words;
        assert!(
            load.iter().all(|&n| n > share / 2 && n < share * 2),
            "{load:?}"
        );
        assert!(tags.iter().all(|&n| n > 128 && n < 512));
    }

    #[test]
    fn the_clock_wrapping_changes_nothing() {
        let limit = RateLimit::new(10, 15, 0);
        let mut word = 0;
        // Just before the due time wraps, and after.
        let before = DUE_MASK - US_PER_SECOND / 2;
        assert_eq!(burst(&mut word, before, 20, &limit), [11, 0, 9]);
        assert_eq!(burst(&mut word, DUE_MASK + 1, 1, &limit), [0, 0, 1]);
        // Two seconds after the first burst: due again.
        let after = (before + 2 * US_PER_SECOND) & DUE_MASK;
        assert_eq!(burst(&mut word, after, 1, &limit), [1, 0, 0]);
    }
}
