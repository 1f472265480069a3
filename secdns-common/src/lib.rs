//! Types shared by the XDP program and userspace: map keys, map values, counters and the
//! name hash both sides must compute identically.
#![no_std]

/// Longest DNS name in wire form, root label included (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;
/// Space reserved for a name in a map value: one byte more than the longest name, so that
/// loops indexed by a byte-sized counter stay in bounds.
pub const NAME_BUF_LEN: usize = 256;
/// Largest precompiled answer body (answer + authority + additional records) the fast path
/// carries. Bigger answers are left to userspace. Chosen so that a map entry (element header,
/// key, value) fits the kernel allocator's 1 KiB size class rather than 2 KiB.
pub const MAX_BODY_LEN: usize = 608;
/// Size of the EDNS(0) OPT record the fast path appends (root name, type, class, TTL, RDLEN).
pub const OPT_RR_LEN: usize = 11;
/// Number of answer maps: userspace fills the inactive one and then flips `XdpConfig::active`.
pub const ANSWER_MAP_COUNT: u32 = 2;
/// Upper bound on entries per answer map (entries are not preallocated; the hash buckets,
/// 16 bytes each, are).
pub const ANSWER_MAP_MAX_ENTRIES: u32 = 1 << 21;
/// A zone's index in the SERIALS array and the per-zone counters.
pub type ZoneSlot = u32;
/// Zones whose SOA serial the program writes into answers (see [`AnswerValue::serial_at`]):
/// more than an edge host serves (a hundred thousand customers' zones and room to spare).
/// The SERIALS array holds one half of this size per answer map, flipped with it (2 MiB).
pub const ZONE_SLOTS: u32 = 1 << 18;
/// An answer of a zone without a slot (there are more zones than slots).
pub const NO_ZONE_SLOT: ZoneSlot = ZoneSlot::MAX;
/// Zones whose answers the program counts by zone: those in the first slots.
pub const COUNTED_ZONE_SLOTS: u32 = 4096;
/// Per-CPU counters of answers by zone: at `slot * 2` those with RCODE NOERROR, at
/// `slot * 2 + 1` those with NXDOMAIN (the only two the program sends; see
/// [`zone_counter_index`]).
pub const ZONE_COUNTER_COUNT: u32 = COUNTED_ZONE_SLOTS * 2;

/// The RCODE bits of the DNS header flags, and the one RCODE besides NOERROR that a
/// precompiled answer can carry.
pub const RCODE_MASK: u16 = 0x000f;
pub const RCODE_NXDOMAIN: u16 = 3;

/// Where the program counts an answer of zone `slot` with header `flags`.
pub const fn zone_counter_index(slot: u32, flags: u16) -> u32 {
    slot * 2 + (flags & RCODE_MASK == RCODE_NXDOMAIN) as u32
}

/// Key of the answer maps: the hash of a lowercased name, the query type, and whether the
/// entry answers for the name itself or for names below it that do not exist.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    pub name_hash: u64,
    pub qtype: u16,
    /// 1 for the variant served to queries with the EDNS DO bit, 0 otherwise.
    pub dnssec_ok: u16,
    /// [`SCOPE_NAME`] or [`SCOPE_BELOW`].
    pub scope: u32,
}

/// The entry answers queries for its name.
pub const SCOPE_NAME: u32 = 0;
/// The entry answers queries for names below its name that do not exist (NXDOMAIN, wildcard
/// synthesis, a referral from a cut, or "pass" where userspace must decide), found by walking
/// up from the query name to its closest existing ancestor.
pub const SCOPE_BELOW: u32 = 1;
/// How many ancestors of a missing name the program tries before leaving it to userspace.
pub const MAX_WALK: usize = 16;
/// Compression pointers one answer may need moved (see [`AnswerValue::fixups`]).
pub const MAX_FIXUPS: usize = 16;

/// Header bits a reply copies from the query: OPCODE, RD and CD (RFC 1035 §4.1.1,
/// RFC 4035 §3.2.2). The reply's flags are QR | (query flags & this) | AA | RCODE on both paths.
pub const COPIED_QUERY_FLAGS: u16 = 0x7800 | 0x0100 | 0x0010;
pub const FLAG_QR: u16 = 0x8000;
pub const FLAG_AA: u16 = 0x0400;

/// `AnswerValue::options` bit: a separate entry with `dnssec_ok = 1` exists for this name and
/// type; queries with DO set must use it.
pub const OPTION_HAS_DO_VARIANT: u32 = 1;
/// `AnswerValue::options` bit: queries with DO set go to userspace (their answer needs a
/// denial proof computed per query).
pub const OPTION_DO_PASS: u32 = 2;
/// `AnswerValue::options` bit of a [`SCOPE_BELOW`] default entry: entries of the same name
/// and scope exist for some types (the types of a wildcard).
pub const OPTION_TYPED_BELOW: u32 = 4;

/// `AnswerKey::qtype` of a name's default entry: the answer (NODATA or a referral) for every
/// type that has no entry of its own, except the types [`has_own_answer`] names.
pub const DEFAULT_QTYPE: u16 = 0;

/// Question types whose answer at a name can differ from the name's default answer even when
/// no entry was compiled for them: ANY (one RRset), DS (answered by the parent at a cut), and
/// the meta types (OPT, TKEY, TSIG, IXFR, AXFR, MAILB, MAILA, type 0).
#[inline(always)]
pub const fn has_own_answer(qtype: u16) -> bool {
    qtype == 0 || qtype == 41 || qtype == 43 || (qtype >= 249 && qtype <= 255)
}

/// A precompiled answer. The reply is: the query's header with `flags` applied, the query's
/// question exactly as it arrived, `body`, then (if the query had one) an OPT record.
/// Owner names in `body` that equal the question (or a suffix of it) are compression pointers
/// into the question, so one body serves every letter case of the query.
///
/// A body with an empty `body_len` is a "pass" marker: the name exists (or the walk must stop
/// there), but userspace answers.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AnswerValue {
    /// Length of `name` (wire form, lowercased, root label included).
    pub name_len: u16,
    pub body_len: u16,
    /// Header bits 0..15 to set in the reply (AA, RCODE); QR, OPCODE, RD, CD come from the query.
    pub flags: u16,
    pub ancount: u16,
    pub nscount: u16,
    /// Additional records in `body`, not counting the OPT record.
    pub arcount: u16,
    /// Length of the question name `body` was compiled for. A [`SCOPE_BELOW`] body serves
    /// longer names: every pointer listed in `fixups` then moves by the difference.
    pub question_len: u16,
    pub fixup_count: u16,
    /// One's-complement sum of `body` as 16-bit big-endian words, folded, as if it started at
    /// an even offset of the UDP payload.
    pub body_csum: u32,
    pub options: u32,
    pub zone_slot: ZoneSlot,
    /// Offset in `body` of a SOA serial stored as zero, or 0 for none: the program writes
    /// the serial of zone `zone_slot` there (from the SERIALS half of the live answer map),
    /// so that a new serial does not change every negative answer of the zone.
    pub serial_at: u16,
    /// Offsets in `body` of the compression pointers that point past the start of the
    /// question name (into its ancestors, or into the body).
    pub fixups: [u16; MAX_FIXUPS],
    /// The owner name, to confirm a hash hit, right-aligned: it ends at `NAME_BUF_LEN`
    /// (see [`name_hash`]).
    pub name: [u8; NAME_BUF_LEN],
    pub body: [u8; MAX_BODY_LEN],
}

/// The single entry of the CONFIG array map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpConfig {
    /// Which answer map is live (0 or 1); `ANSWER_MAP_COUNT` or more means "answer nothing".
    pub active: u32,
    /// UDP destination port the server listens on, host byte order.
    pub port: u16,
    /// Our EDNS UDP payload size: the most we send, and what we advertise in OPT.
    pub udp_payload: u16,
}

/// Per-CPU counters kept by the XDP program; the value is the index into the COUNTERS map.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Answered in the kernel (XDP_TX) with records in the answer section.
    Answered = 0,
    /// Not a UDP packet to our port: passed without a look.
    NotDns = 1,
    /// A packet to our port that is not a well-formed query: passed for userspace to judge.
    Malformed = 2,
    /// A well-formed query the fast path does not handle (opcode, class, EDNS version ...).
    Unsupported = 3,
    /// No precompiled answer for this name and type.
    Miss = 4,
    /// The answer does not fit the client's or our UDP size.
    TooBig = 5,
    /// The kernel refused to resize the frame.
    ResizeFailed = 6,
    /// The frame was resized but could not be rewritten; it is dropped, never passed mangled.
    Dropped = 7,
    /// Answered in the kernel with NODATA (or NXDOMAIN at the end of a CNAME chain).
    AnsweredNegative = 8,
    /// Answered in the kernel with a referral.
    AnsweredReferral = 9,
}

pub const COUNTER_COUNT: u32 = 10;

impl Counter {
    pub const ALL: [Counter; COUNTER_COUNT as usize] = [
        Counter::Answered,
        Counter::NotDns,
        Counter::Malformed,
        Counter::Unsupported,
        Counter::Miss,
        Counter::TooBig,
        Counter::ResizeFailed,
        Counter::Dropped,
        Counter::AnsweredNegative,
        Counter::AnsweredReferral,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Counter::Answered => "answered_positive",
            Counter::AnsweredNegative => "answered_negative",
            Counter::AnsweredReferral => "answered_referral",
            Counter::NotDns => "passed_not_dns",
            Counter::Malformed => "passed_malformed",
            Counter::Unsupported => "passed_unsupported",
            Counter::Miss => "passed_miss",
            Counter::TooBig => "passed_too_big",
            Counter::ResizeFailed => "passed_resize_failed",
            Counter::Dropped => "dropped",
        }
    }
}

/// The name hash works on the lowercased wire form eight bytes at a time, from the end of the
/// name backwards (little-endian words aligned at the name's end, the first bytes of the name
/// in a zero-padded word), so that the XDP program hashes a name in a few steps and gets the
/// hash of every ancestor (a suffix of the name) from the same chain with one more step.
/// Collisions are harmless: a hit is always confirmed against the stored name.
pub const NAME_HASH_SEED: u64 = 0xcbf2_9ce4_8422_2325;
const NAME_HASH_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline(always)]
pub const fn name_hash_step(hash: u64, word: u64) -> u64 {
    let mixed = (hash ^ word).wrapping_mul(NAME_HASH_MULTIPLIER);
    mixed ^ (mixed >> 32)
}

/// Hash of a lowercased wire-form name, root label included.
pub fn name_hash(lowercased_wire: &[u8]) -> u64 {
    let mut hash = NAME_HASH_SEED;
    for chunk in lowercased_wire.rchunks(8) {
        let mut word = [0u8; 8];
        word[8 - chunk.len()..].copy_from_slice(chunk);
        hash = name_hash_step(hash, u64::from_le_bytes(word));
    }
    hash
}

/// [`name_hash`] of the name lowercased, without a lowercased copy.
pub fn name_hash_folding_case(wire: &[u8]) -> u64 {
    let mut hash = NAME_HASH_SEED;
    for chunk in wire.rchunks(8) {
        let mut word = [0u8; 8];
        word[8 - chunk.len()..].copy_from_slice(chunk);
        hash = name_hash_step(hash, dns_lowercase_word(u64::from_le_bytes(word)));
    }
    hash
}

/// ASCII lowercase of eight bytes at once (the bytes 'A'..='Z' get 0x20; label length octets,
/// below 64, and bytes from 0x80 up are left alone), as [`dns_lowercase`] does byte by byte.
#[inline(always)]
pub const fn dns_lowercase_word(word: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = word & !HIGH;
    let above_z = low7.wrapping_add(0x2525_2525_2525_2525); // high bit set: byte > 'Z'
    let from_a = low7.wrapping_add(0x3f3f_3f3f_3f3f_3f3f); // high bit set: byte >= 'A'
    let upper = !word & (from_a ^ above_z) & HIGH;
    word | (upper >> 2)
}

/// One's-complement sum of the four big-endian 16-bit words held in a little-endian `word`.
#[inline(always)]
pub const fn be16_sum(word: u64) -> u64 {
    const EVEN: u64 = 0x00ff_00ff_00ff_00ff;
    let lanes = ((word & EVEN) << 8) + ((word >> 8) & EVEN);
    (lanes & 0xffff) + ((lanes >> 16) & 0xffff) + ((lanes >> 32) & 0xffff) + (lanes >> 48)
}

/// ASCII lowercase, the only case folding DNS knows (RFC 4343).
#[inline(always)]
pub const fn dns_lowercase(b: u8) -> u8 {
    if b >= b'A' && b <= b'Z' { b | 0x20 } else { b }
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, `repr(C)`, every bit pattern valid.
    unsafe impl aya::Pod for super::AnswerKey {}
    unsafe impl aya::Pod for super::AnswerValue {}
    unsafe impl aya::Pod for super::XdpConfig {}
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn word_lowercase_matches_the_byte_version() {
        for start in (0u16..256).step_by(8) {
            let bytes: [u8; 8] = core::array::from_fn(|i| (start as usize + i) as u8);
            let word = dns_lowercase_word(u64::from_le_bytes(bytes));
            let expected: [u8; 8] = core::array::from_fn(|i| dns_lowercase(bytes[i]));
            assert_eq!(word.to_le_bytes(), expected, "bytes {bytes:?}");
        }
    }

    #[test]
    fn be16_sum_adds_big_endian_pairs() {
        let bytes = [0x12u8, 0x34, 0xff, 0xff, 0x00, 0x01, 0xab, 0xcd];
        let expected = 0x1234u64 + 0xffff + 0x0001 + 0xabcd;
        assert_eq!(be16_sum(u64::from_le_bytes(bytes)), expected);
    }
}
