//! Types shared by the XDP program and userspace: map keys, map values, counters and the
//! name hash both sides must compute identically.
#![no_std]

pub mod cookie;
pub mod rrl;

/// Longest DNS name in wire form, root label included (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;
/// Space reserved for a name in a map value: one byte more than the longest name, so that
/// loops indexed by a byte-sized counter stay in bounds.
pub const NAME_BUF_LEN: usize = 256;
/// Largest precompiled answer body (answer + authority + additional records) the fast path
/// carries. Bigger answers are left to userspace.
pub const MAX_BODY_LEN: usize = 608;
/// Size of the EDNS(0) OPT record the fast path appends (root name, type, class, TTL, RDLEN).
pub const OPT_RR_LEN: usize = 11;
/// A DNS message's header: ID, flags and the four counts (RFC 1035 §4.1.1).
pub const DNS_HEADER_LEN: usize = 12;
/// The OPT pseudo-record's type (RFC 6891 §6.1.1).
pub const TYPE_OPT: u16 = 41;
/// The Internet class, the only one answered.
pub const CLASS_IN: u16 = 1;
/// Versions of the answer set the maps hold at once: the live one and the next.
pub const ANSWER_MAP_COUNT: u32 = 2;
/// Upper bound on the entries of the answer index (a 0.7 GiB index at most): room for ten
/// million host records (1.8 entries each). Bodies are numbered apart, in 25 bits (see
/// [`slot_word`]), and shared between entries.
pub const ANSWER_MAP_MAX_ENTRIES: u32 = 1 << 25;
/// A zone's index in the SERIALS array and the per-zone counters.
pub type ZoneSlot = u32;
/// Zones whose SOA serial the program writes into answers (see [`BodyHeader::serial_at`]):
/// more than an edge host serves (a hundred thousand customers' zones and room to spare).
/// The SERIALS array holds one half of this size per parity, flipped with it (2 MiB).
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

/// The answer index: a hash table in an array of buckets, written by userspace through a
/// shared mapping. An entry sits in one of two buckets chosen by its [`entry_tag`] (a keyed
/// hash of name, type and scope; see [`home_bucket`] and [`other_bucket`]) and is confirmed
/// by a second keyed hash of the name ([`Slot::check`]), so no name is stored: 96 bits the
/// client cannot steer must match. Two choices of eight slots hold 70 % of the slots with
/// none left over in practice; userspace rebuilds the table bigger when one is.
pub const SLOTS_PER_BUCKET: usize = 8;
/// [`Slot::tag`] of a free slot; [`entry_tag`] is never this. A slot is freed by clearing
/// its word first and its tag second, and filled in the opposite order, so that a reader
/// that reads tag, check and word in this order never matches a half-written slot.
pub const TAG_EMPTY: u64 = 0;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    pub tag: u64,
    /// The low half of the name's second keyed hash.
    pub check: u32,
    /// Body chunk, options and visibility; see [`slot_word`].
    pub word: u32,
}

#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    pub slots: [Slot; SLOTS_PER_BUCKET],
}

/// [`Slot::word`]: bits 0..25 the first chunk of the body in the BODIES array, bits 25..28
/// the `OPTION_*` bits, bit 28 + p: the entry is live while `XdpConfig::active` is p. A
/// publication adds entries visible only to the next parity and takes the next parity's bit
/// from entries it removes, then flips `active`: a packet sees one version or the other.
pub const WORD_CHUNK_MASK: u32 = (1 << 25) - 1;
/// The chunk of a "pass" entry: the name exists (or a walk must stop there), but userspace
/// answers.
pub const PASS_CHUNK: u32 = WORD_CHUNK_MASK;
pub const WORD_OPTIONS_SHIFT: u32 = 25;
pub const WORD_VISIBLE_SHIFT: u32 = 28;

#[inline(always)]
pub const fn slot_word(chunk: u32, options: u32, visible: u32) -> u32 {
    (chunk & WORD_CHUNK_MASK)
        | ((options & 7) << WORD_OPTIONS_SHIFT)
        | ((visible & 3) << WORD_VISIBLE_SHIFT)
}

/// Whether a slot's word is live for readers of parity `active` (0 or 1).
#[inline(always)]
pub const fn word_visible(word: u32, active: u32) -> bool {
    word & (1 << (WORD_VISIBLE_SHIFT + (active & 1))) != 0
}

/// The entry of a name found by its hashes: for queries of `qtype` (or [`DEFAULT_QTYPE`]),
/// with or without DO, for the name itself or the names below it.
#[inline(always)]
pub const fn entry_tag(name_hash: u64, qtype: u16, dnssec_ok: bool, scope: u32) -> u64 {
    let selector = (qtype as u64) | ((dnssec_ok as u64) << 16) | (((scope & 3) as u64) << 17);
    let tag = name_hash ^ (selector + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    if tag == TAG_EMPTY { 1 } else { tag }
}

/// The first of the two buckets of `tag` in a table of `buckets` buckets.
#[inline(always)]
pub const fn home_bucket(tag: u64, buckets: u32) -> u32 {
    (((tag >> 32) * buckets as u64) >> 32) as u32
}

/// The second bucket of `tag`: from the tag's other half, never the first.
#[inline(always)]
pub const fn other_bucket(tag: u64, buckets: u32) -> u32 {
    let first = home_bucket(tag, buckets);
    let second = (((tag & 0xffff_ffff) * buckets as u64) >> 32) as u32;
    if second != first {
        second
    } else if first + 1 < buckets {
        first + 1
    } else {
        0
    }
}

/// The entry answers queries for its name.
pub const SCOPE_NAME: u32 = 0;
/// The entry answers queries for names below its name that do not exist (NXDOMAIN, wildcard
/// synthesis, a referral from a cut, or "pass" where userspace must decide), found by walking
/// up from the query name to its closest existing ancestor.
pub const SCOPE_BELOW: u32 = 1;
/// The entry of a signed zone's apex that holds the start of its negative answers to DO
/// queries: the SOA and its signatures (see [`BodyHeader::prefix_len`]). No query looks up
/// this scope, so none is answered from it.
pub const SCOPE_ZONE_PREFIX: u32 = 2;
/// How many ancestors of a missing name the program tries before leaving it to userspace.
pub const MAX_WALK: usize = 16;
/// Compression pointers one answer may need moved (see [`BodyHeader::fixup_count`]).
pub const MAX_FIXUPS: usize = 16;

/// Header bits a reply copies from the query: OPCODE, RD and CD (RFC 1035 §4.1.1,
/// RFC 4035 §3.2.2). The reply's flags are QR | (query flags & this) | AA | RCODE on both paths.
pub const COPIED_QUERY_FLAGS: u16 = 0x7800 | 0x0100 | 0x0010;
pub const FLAG_QR: u16 = 0x8000;
pub const FLAG_AA: u16 = 0x0400;
pub const FLAG_TC: u16 = 0x0200;

/// Option bit of an entry (see [`slot_word`]): a separate entry with DO set exists for this
/// name and type; queries with DO set must use it.
pub const OPTION_HAS_DO_VARIANT: u32 = 1;
/// Option bit of an entry: queries with DO set go to userspace (their answer needs a
/// denial proof computed per query).
pub const OPTION_DO_PASS: u32 = 2;
/// Option bit of a [`SCOPE_BELOW`] default entry: entries of the same name and scope exist
/// for some types (the types of a wildcard).
pub const OPTION_TYPED_BELOW: u32 = 4;

/// The query type of a name's default entry: the answer (NODATA or a referral) for every
/// type that has no entry of its own, except the types [`has_own_answer`] names.
pub const DEFAULT_QTYPE: u16 = 0;

/// Question types whose answer at a name can differ from the name's default answer even when
/// no entry was compiled for them: ANY (one RRset), DS (answered by the parent at a cut), the
/// meta types (OPT, TKEY, TSIG, IXFR, AXFR, MAILB, MAILA, type 0), and the types left to
/// userspace (see [`left_to_userspace`]).
#[inline(always)]
pub const fn has_own_answer(qtype: u16) -> bool {
    qtype == 0
        || qtype == 41
        || qtype == 43
        || (qtype >= 249 && qtype <= 255)
        || left_to_userspace(qtype)
}

/// Question types no entry is compiled for: RRSIG and NSEC. Hardly anyone asks for them,
/// and in a signed zone their answers (every signature at a name, the NSEC with its own)
/// would take more kernel memory than all the other answers of the name.
#[inline(always)]
pub const fn left_to_userspace(qtype: u16) -> bool {
    qtype == 46 || qtype == 47
}

/// Answer bodies live in the BODIES array as runs of 64-byte chunks: a [`BodyHeader`], the
/// body, then (at an even offset) the fixups as big-endian u16.
pub const CHUNK_LEN: usize = 64;
pub const BODY_HEADER_LEN: usize = 24;
/// Chunks of the largest body record: a body and its fixups, or a body and the header of
/// its DO variant (whose answers have no fixups).
pub const MAX_BODY_CHUNKS: usize =
    (BODY_HEADER_LEN + MAX_BODY_LEN + 1 + 2 * MAX_FIXUPS).div_ceil(CHUNK_LEN);

#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub bytes: [u8; CHUNK_LEN],
}

/// Where a body record's fixups start: after the body, at an even offset so that no
/// pointer straddles two chunks.
#[inline(always)]
pub const fn fixups_at(body_len: usize) -> usize {
    (BODY_HEADER_LEN + body_len + 1) & !1
}

/// A precompiled answer. The reply is: the query's header with `flags` applied, the query's
/// question exactly as it arrived, the body, then (if the query had one) an OPT record.
/// Owner names in the body that equal the question (or a suffix of it) are compression
/// pointers into the question, so one body serves every letter case of the query.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BodyHeader {
    pub body_len: u16,
    /// Header bits 0..15 to set in the reply (AA, RCODE); QR, OPCODE, RD, CD come from the query.
    pub flags: u16,
    pub ancount: u16,
    pub nscount: u16,
    /// Additional records in the body, not counting the OPT record.
    pub arcount: u16,
    /// Length of the question name the body was compiled for. Longer names use it too (a
    /// name below an ancestor, or any name of a zone for a shared NODATA): every pointer
    /// listed in the fixups then moves by the difference.
    pub question_len: u16,
    /// At most [`MAX_FIXUPS`].
    pub fixup_count: u8,
    /// The length of the zone's apex name (a suffix of the question) whose
    /// [`SCOPE_ZONE_PREFIX`] entry's body goes before this one, or 0 for none: the SOA and
    /// its signatures that start every negative DO answer of a signed zone are held once per
    /// zone, not in each name's NODATA. This body's pointers then lead into the question
    /// only, and its counts are those of the whole answer.
    pub prefix_len: u8,
    /// Offset in the body of a SOA serial stored as zero, or 0 for none: the program writes
    /// the serial of zone `zone_slot` there (from the SERIALS half of the live parity),
    /// so that a new serial does not change every negative answer of the zone.
    pub serial_at: u16,
    /// One's-complement sum of the body as 16-bit big-endian words, folded, as if it
    /// started at an even offset of the UDP payload.
    pub body_csum: u16,
    /// Where in the record the header of the answer to DO queries starts, or 0 for none
    /// (see [`dnssec_header_at`]): its body is this one's with the signatures after it.
    pub dnssec_at: u16,
    pub zone_slot: ZoneSlot,
}

/// Where the DO header of a record whose (DO) body is `body_len` bytes starts: after the
/// body, 4-aligned, and inside one chunk. Answers to queries with and without DO share the
/// record when the one without is the start of the other (an RRset, then its RRSIG): one
/// entry and one body instead of two of each.
#[inline(always)]
pub const fn dnssec_header_at(body_len: usize) -> usize {
    let at = (BODY_HEADER_LEN + body_len + 3) & !3;
    if at % CHUNK_LEN + BODY_HEADER_LEN > CHUNK_LEN {
        at.next_multiple_of(CHUNK_LEN)
    } else {
        at
    }
}

/// The single entry of the CONFIG array map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpConfig {
    /// Which version of the answer set is live (0 or 1, see [`word_visible`]);
    /// `ANSWER_MAP_COUNT` or more means "answer nothing".
    pub active: u32,
    /// UDP destination port the server listens on, host byte order.
    pub port: u16,
    /// Our EDNS UDP payload size: the most we send, and what we advertise in OPT.
    pub udp_payload: u16,
    /// Buckets in the INDEX array (its `max_entries`).
    pub buckets: u32,
    pub reserved: u32,
    /// The secret of [`NameHasher`], chosen by userspace (and the source of `rrl::BucketKeys`).
    pub hash_key: [u64; 2],
    pub rrl: rrl::RrlSettings,
    pub cookies: cookie::CookieSettings,
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
    /// Over the rate limit: answered with a truncated reply, for the client to retry over TCP.
    Slipped = 10,
    /// Over the rate limit: dropped.
    RateLimited = 11,
}

pub const COUNTER_COUNT: u32 = 12;

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
        Counter::Slipped,
        Counter::RateLimited,
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
            Counter::Slipped => "rate_limit_slipped",
            Counter::RateLimited => "rate_limit_dropped",
        }
    }
}

/// The keyed name hash of the answer index: SipHash-1-3 (one compression round per word,
/// three to finalize; two 64-bit parts taken from the final state), over the lowercased wire form eight
/// bytes at a time from the end of the name backwards (little-endian words aligned at the
/// name's end, the first bytes of the name in a zero-padded word). Working from the end, the
/// XDP program keeps the state after each word and gets the hash of every ancestor (a suffix
/// of the name) with one more word and a finalization. The key is secret (see
/// `XdpConfig::hash_key`), so nobody can choose names that collide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipState {
    pub v: [u64; 4],
}

impl SipState {
    #[inline(always)]
    pub const fn new(key: [u64; 2]) -> Self {
        Self {
            v: [
                key[0] ^ 0x736f_6d65_7073_6575,
                key[1] ^ 0x646f_7261_6e64_6f6d ^ 0xee,
                key[0] ^ 0x6c79_6765_6e65_7261,
                key[1] ^ 0x7465_6462_7974_6573,
            ],
        }
    }

    #[inline(always)]
    pub(crate) fn round(&mut self) {
        let [mut v0, mut v1, mut v2, mut v3] = self.v;
        v0 = v0.wrapping_add(v1);
        v1 = v1.rotate_left(13) ^ v0;
        v0 = v0.rotate_left(32);
        v2 = v2.wrapping_add(v3);
        v3 = v3.rotate_left(16) ^ v2;
        v0 = v0.wrapping_add(v3);
        v3 = v3.rotate_left(21) ^ v0;
        v2 = v2.wrapping_add(v1);
        v1 = v1.rotate_left(17) ^ v2;
        v2 = v2.rotate_left(32);
        self.v = [v0, v1, v2, v3];
    }

    /// Takes in one word of the name.
    #[inline(always)]
    pub fn compress(&mut self, word: u64) {
        self.v[3] ^= word;
        self.round();
        self.v[0] ^= word;
    }

    /// The hash of a name of `len` bytes whose words this state has taken in, in two parts:
    /// (the index hash, the check). One finalization gives both, from different words of the
    /// state, where SipHash-128 runs a second one: the program finalizes once per ancestor it
    /// tries, and nobody sees either part.
    #[inline(always)]
    pub fn finish(mut self, len: usize) -> (u64, u64) {
        self.compress((len as u64) << 56);
        self.v[2] ^= 0xee;
        self.round();
        self.round();
        self.round();
        (
            self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3],
            self.v[0] ^ self.v[2],
        )
    }
}

/// [`SipState`] over a whole lowercased name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameHasher {
    pub key: [u64; 2],
}

impl NameHasher {
    /// (index hash, check) of a wire-form name, root label included, in any case: the
    /// same as of its lowercase form, which is what the program hashes.
    pub fn hash(&self, wire: &[u8]) -> (u64, u64) {
        let mut state = SipState::new(self.key);
        for word in words_from_end(wire) {
            state.compress(dns_lowercase_word(word));
        }
        state.finish(wire.len())
    }
}

/// Userspace's own quick hash of a lowercased name (which names an answer read, see
/// `zone::reads`); not used by the kernel, and not keyed: only ever compared, never trusted.
pub const NAME_HASH_SEED: u64 = 0xcbf2_9ce4_8422_2325;
const NAME_HASH_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline(always)]
pub const fn name_hash_step(hash: u64, word: u64) -> u64 {
    let mixed = (hash ^ word).wrapping_mul(NAME_HASH_MULTIPLIER);
    mixed ^ (mixed >> 32)
}

/// Hash of a lowercased wire-form name, root label included.
pub fn name_hash(lowercased_wire: &[u8]) -> u64 {
    words_from_end(lowercased_wire).fold(NAME_HASH_SEED, name_hash_step)
}

/// [`name_hash`] of the name lowercased, without a lowercased copy.
pub fn name_hash_folding_case(wire: &[u8]) -> u64 {
    words_from_end(wire).fold(NAME_HASH_SEED, |hash, word| {
        name_hash_step(hash, dns_lowercase_word(word))
    })
}

/// `bytes` as little-endian words of eight, from the end: the first bytes, when fewer than
/// eight are left, in a word's high bytes (zeros below). Whole words are read as they are:
/// the copy a short one needs, made for each, was most of the hashing.
#[inline(always)]
fn words_from_end(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes
        .rchunks(8)
        .map(|chunk| match <[u8; 8]>::try_from(chunk) {
            Ok(word) => u64::from_le_bytes(word),
            Err(_) => {
                let mut word = [0u8; 8];
                word[8 - chunk.len()..].copy_from_slice(chunk);
                u64::from_le_bytes(word)
            }
        })
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
    unsafe impl aya::Pod for super::Bucket {}
    unsafe impl aya::Pod for super::Chunk {}
    unsafe impl aya::Pod for super::XdpConfig {}
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn words_from_the_end_pad_the_first_bytes_in_front() {
        let bytes: [u8; 41] = core::array::from_fn(|i| i as u8 + 1);
        for len in 0..=bytes.len() {
            let bytes = &bytes[..len];
            let mut expected = std::vec::Vec::new();
            for chunk in bytes.rchunks(8) {
                let mut word = [0u8; 8];
                word[8 - chunk.len()..].copy_from_slice(chunk);
                expected.push(u64::from_le_bytes(word));
            }
            let words: std::vec::Vec<u64> = words_from_end(bytes).collect();
            assert_eq!(words, expected, "{len} bytes");
        }
    }

    #[test]
    fn word_lowercase_matches_the_byte_version() {
        for start in (0u16..256).step_by(8) {
            let bytes: [u8; 8] = core::array::from_fn(|i| (start as usize + i) as u8);
            let word = dns_lowercase_word(u64::from_le_bytes(bytes));
            let expected: [u8; 8] = core::array::from_fn(|i| dns_lowercase(bytes[i]));
            assert_eq!(word.to_le_bytes(), expected, "bytes {bytes:?}");
        }
    }

    /// SipHash-1-3 over whole 8-byte words (the 128-bit variant's initialization, one
    /// finalization) is what `NameHasher` computes; checked against a straightforward
    /// rendering of the algorithm.
    #[test]
    fn name_hash_is_siphash_over_words_from_the_end() {
        let key = [0x0706_0504_0302_0100u64, 0x0f0e_0d0c_0b0a_0908];
        let name = b"\x03www\x07example\x03com\x00";
        let (first, second) = NameHasher { key }.hash(name);
        // Words as the hasher takes them: from the end, the first bytes zero-padded.
        let mut words = [0u64; 3];
        let mut padded = [0u8; 24];
        padded[24 - name.len()..].copy_from_slice(name);
        for (i, w) in words.iter_mut().enumerate() {
            let at = 24 - 8 * (i + 1);
            *w = u64::from_le_bytes(padded[at..at + 8].try_into().unwrap());
        }
        let mut v = [
            key[0] ^ 0x736f6d6570736575,
            key[1] ^ 0x646f72616e646f6d ^ 0xee,
            key[0] ^ 0x6c7967656e657261,
            key[1] ^ 0x7465646279746573,
        ];
        fn round(v: &mut [u64; 4]) {
            v[0] = v[0].wrapping_add(v[1]);
            v[1] = v[1].rotate_left(13) ^ v[0];
            v[0] = v[0].rotate_left(32);
            v[2] = v[2].wrapping_add(v[3]);
            v[3] = v[3].rotate_left(16) ^ v[2];
            v[0] = v[0].wrapping_add(v[3]);
            v[3] = v[3].rotate_left(21) ^ v[0];
            v[2] = v[2].wrapping_add(v[1]);
            v[1] = v[1].rotate_left(17) ^ v[2];
            v[2] = v[2].rotate_left(32);
        }
        for m in words.into_iter().chain([(name.len() as u64) << 56]) {
            v[3] ^= m;
            round(&mut v);
            v[0] ^= m;
        }
        v[2] ^= 0xee;
        (0..3).for_each(|_| round(&mut v));
        assert_eq!(first, v[0] ^ v[1] ^ v[2] ^ v[3]);
        assert_eq!(second, v[0] ^ v[2]);
        // Another key, another hash; a name and its ancestor differ.
        assert_ne!(NameHasher { key: [1, 2] }.hash(name).0, first);
        assert_ne!(NameHasher { key }.hash(&name[4..]).0, first);
    }

    #[test]
    fn tags_differ_by_type_and_scope_and_are_never_empty_or_removed() {
        let tags = [
            entry_tag(7, 1, false, SCOPE_NAME),
            entry_tag(7, 1, true, SCOPE_NAME),
            entry_tag(7, 1, false, SCOPE_BELOW),
            entry_tag(7, 28, false, SCOPE_NAME),
            entry_tag(7, DEFAULT_QTYPE, false, SCOPE_NAME),
            entry_tag(7, DEFAULT_QTYPE, true, SCOPE_NAME),
            entry_tag(7, DEFAULT_QTYPE, true, SCOPE_BELOW),
            entry_tag(7, DEFAULT_QTYPE, true, SCOPE_ZONE_PREFIX),
        ];
        for (i, a) in tags.iter().enumerate() {
            assert_ne!(*a, TAG_EMPTY);
            assert!(tags[i + 1..].iter().all(|b| b != a));
        }
        // qtype 0, scope 0: selector + 1 = 1, so this name hash gives a tag of zero.
        let selector_hash = 0x9e37_79b9_7f4a_7c15u64;
        assert_ne!(
            entry_tag(selector_hash, DEFAULT_QTYPE, false, SCOPE_NAME),
            TAG_EMPTY
        );
    }

    #[test]
    fn both_buckets_stay_in_the_table_and_differ() {
        for tag in [
            0u64,
            1,
            u64::MAX,
            1 << 63,
            0xdead_beef_0000_0000,
            0xffff_ffff,
        ] {
            for buckets in [2u32, 3, 1000, u32::MAX] {
                let (a, b) = (home_bucket(tag, buckets), other_bucket(tag, buckets));
                assert!(a < buckets && b < buckets && a != b, "{tag:x} {buckets}");
            }
        }
    }

    #[test]
    fn body_records_fit_their_chunks() {
        assert_eq!(core::mem::size_of::<BodyHeader>(), BODY_HEADER_LEN);
        assert_eq!(core::mem::size_of::<Bucket>(), 128);
        assert!(fixups_at(MAX_BODY_LEN) + 2 * MAX_FIXUPS <= MAX_BODY_CHUNKS * CHUNK_LEN);
        assert_eq!(fixups_at(3) % 2, 0);
        for body_len in 0..=MAX_BODY_LEN {
            let at = dnssec_header_at(body_len);
            assert!(
                at >= BODY_HEADER_LEN + body_len && at.is_multiple_of(4),
                "{body_len}"
            );
            assert!(at % CHUNK_LEN + BODY_HEADER_LEN <= CHUNK_LEN, "{body_len}");
            assert!(
                at + BODY_HEADER_LEN <= MAX_BODY_CHUNKS * CHUNK_LEN,
                "{body_len}"
            );
        }
    }

    #[test]
    fn be16_sum_adds_big_endian_pairs() {
        let bytes = [0x12u8, 0x34, 0xff, 0xff, 0x00, 0x01, 0xab, 0xcd];
        let expected = 0x1234u64 + 0xffff + 0x0001 + 0xabcd;
        assert_eq!(be16_sum(u64::from_le_bytes(bytes)), expected);
    }
}
