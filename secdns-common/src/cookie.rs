//! DNS Cookies (RFC 7873): the server cookie as RFC 9018 makes it, so that every secdns host
//! sharing a secret (and Knot, BIND or NSD with it) makes and accepts the same cookies.

/// EDNS option code of COOKIE (RFC 7873 §4).
pub const COOKIE_OPTION: u16 = 10;
/// The server cookie's layout version (RFC 9018 §4.2).
pub const SERVER_COOKIE_VERSION: u8 = 1;
/// Client cookie, then version, reserved bytes, timestamp and hash.
pub const CLIENT_COOKIE_LEN: usize = 8;
pub const SERVER_COOKIE_LEN: usize = 16;

/// SipHash-2-4's state over 8-byte words (RFC 9018 §4.4 names SipHash-2-4).
struct Sip24 {
    state: crate::SipState,
}

impl Sip24 {
    #[inline(always)]
    fn new(key: [u64; 2]) -> Self {
        let [k0, k1] = key;
        Self {
            state: crate::SipState {
                v: [
                    k0 ^ 0x736f_6d65_7073_6575,
                    k1 ^ 0x646f_7261_6e64_6f6d,
                    k0 ^ 0x6c79_6765_6e65_7261,
                    k1 ^ 0x7465_6462_7974_6573,
                ],
            },
        }
    }

    #[inline(always)]
    fn take(&mut self, word: u64) {
        self.state.v[3] ^= word;
        self.state.round();
        self.state.round();
        self.state.v[0] ^= word;
    }

    #[inline(always)]
    fn finish(mut self) -> u64 {
        self.state.v[2] ^= 0xff;
        self.state.round();
        self.state.round();
        self.state.round();
        self.state.round();
        let v = self.state.v;
        v[0] ^ v[1] ^ v[2] ^ v[3]
    }
}

/// The key words of a 16-byte secret.
pub fn secret_words(secret: &[u8; 16]) -> [u64; 2] {
    [le_word(&secret[..8]), le_word(&secret[8..])]
}

/// SipHash-2-4 of `bytes` under `secret`.
pub fn siphash24(secret: &[u8; 16], bytes: &[u8]) -> u64 {
    let mut sip = Sip24::new(secret_words(secret));
    let mut words = bytes.chunks_exact(8);
    for word in words.by_ref() {
        sip.take(le_word(word));
    }
    // The last bytes, and the length in the top byte.
    sip.take(le_word(words.remainder()) | (bytes.len() as u64) << 56);
    sip.finish()
}

/// Up to eight bytes as a little-endian word, the missing high bytes zero.
#[inline(always)]
pub fn le_word(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .enumerate()
        .fold(0, |word, (i, &b)| word | u64::from(b) << (8 * i))
}

/// The hash of a server cookie (RFC 9018 §4.4) from words, as the XDP program has them: the
/// client cookie, the server cookie's first eight bytes (version, reserved, timestamp) and
/// the client's address (IPv4: its four bytes in `address[0]`; IPv6: two words), each
/// little-endian as the bytes come.
#[inline(always)]
pub fn cookie_hash(key: [u64; 2], client: u64, head: u64, address: [u64; 2], ipv6: bool) -> u64 {
    let mut sip = Sip24::new(key);
    sip.take(client);
    sip.take(head);
    if ipv6 {
        sip.take(address[0]);
        sip.take(address[1]);
        sip.take(32 << 56);
    } else {
        sip.take(address[0] | 20 << 56);
    }
    sip.finish()
}

/// The first eight bytes of a server cookie made at `timestamp`, as a little-endian word.
#[inline(always)]
pub const fn cookie_head(timestamp: u32) -> u64 {
    SERVER_COOKIE_VERSION as u64 | (timestamp.swap_bytes() as u64) << 32
}

/// Seconds a server cookie is accepted after it was made (RFC 9018 §4.3), and before (clock
/// differences between the hosts of a fleet).
pub const COOKIE_MAX_AGE: u32 = 3600;
pub const COOKIE_MAX_AHEAD: u32 = 300;
/// After this long, a valid server cookie is made anew rather than sent back.
pub const COOKIE_RENEW_AGE: u32 = 1800;

/// What a server cookie is worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// Made by us (under the current or the previous secret), in time: sent back as it came.
    Valid,
    /// Made by us, in time, but old enough to be made anew.
    Renew,
    /// Not ours, or out of time, or not of version 1.
    Invalid,
}

/// Checks the 16-byte server cookie `head` + `hash` (little-endian words of its two halves)
/// that came with `client` from `address` at `now` (seconds since the epoch) against
/// `secrets` (the second only when `previous`).
#[inline(always)]
pub fn check_server_cookie(
    secrets: &[[u64; 2]; 2],
    previous: bool,
    (client, head, hash): (u64, u64, u64),
    (address, ipv6): ([u64; 2], bool),
    now: u32,
) -> Validity {
    if head as u8 != SERVER_COOKIE_VERSION {
        return Validity::Invalid;
    }
    let timestamp = ((head >> 32) as u32).swap_bytes();
    let age = now.wrapping_sub(timestamp);
    let in_time = age <= COOKIE_MAX_AGE || timestamp.wrapping_sub(now) <= COOKIE_MAX_AHEAD;
    if !in_time {
        return Validity::Invalid;
    }
    let ours = cookie_hash(secrets[0], client, head, address, ipv6) == hash
        || (previous && cookie_hash(secrets[1], client, head, address, ipv6) == hash);
    match (ours, (COOKIE_RENEW_AGE..=COOKIE_MAX_AGE).contains(&age)) {
        (false, _) => Validity::Invalid,
        (true, false) => Validity::Valid,
        (true, true) => Validity::Renew,
    }
}

/// The address words [`cookie_hash`] takes from an address as IPv6 (IPv4 mapped,
/// ::ffff:a.b.c.d, as both paths keep the source): little-endian words of its bytes (IPv4:
/// its four bytes), and whether it is IPv6.
#[inline(always)]
pub fn address_words(address: &[u8; 16]) -> ([u64; 2], bool) {
    let word = |from: usize, len: usize| {
        let mut word = 0u64;
        let mut i = 0;
        while i < len {
            word |= (address[from + i] as u64) << (8 * i);
            i += 1;
        }
        word
    };
    let mapped = word(0, 8) == 0 && word(8, 4) == 0xffff_0000;
    if mapped {
        ([word(12, 4), 0], false)
    } else {
        ([word(0, 8), word(8, 8)], true)
    }
}

/// An address's bytes (4 or 16) as IPv6, IPv4 mapped.
pub fn mapped_address(ip: &[u8]) -> [u8; 16] {
    let mut address = [0u8; 16];
    match ip.len() {
        16 => address.copy_from_slice(ip),
        _ => {
            address[10] = 0xff;
            address[11] = 0xff;
            let len = ip.len().min(4);
            address[12..12 + len].copy_from_slice(&ip[..len]);
        }
    }
    address
}

/// The server cookie for `client_cookie` sent from `client_ip` (4 or 16 bytes) at
/// `timestamp` (seconds since the epoch, wrapping), under `secret` (RFC 9018 §4): version,
/// three reserved bytes, the timestamp, then the hash of all that after the client cookie and
/// before the client's address.
pub fn server_cookie(
    secret: &[u8; 16],
    client_cookie: &[u8; CLIENT_COOKIE_LEN],
    timestamp: u32,
    client_ip: &[u8],
) -> [u8; SERVER_COOKIE_LEN] {
    let head = cookie_head(timestamp);
    let (address, ipv6) = address_words(&mapped_address(client_ip));
    let hash = cookie_hash(
        secret_words(secret),
        le_word(client_cookie),
        head,
        address,
        ipv6,
    );
    let mut cookie = [0u8; SERVER_COOKIE_LEN];
    cookie[..8].copy_from_slice(&head.to_le_bytes());
    cookie[8..].copy_from_slice(&hash.to_le_bytes());
    cookie
}

/// Cookies as the XDP program makes and checks them (part of `XdpConfig`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct CookieSettings {
    /// The current secret and the previous one (see [`secret_words`]).
    pub secrets: [[u64; 2]; 2],
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC_COARSE, in nanoseconds: the program's clock to
    /// the epoch's, for timestamps.
    pub wall_offset_ns: u64,
    pub flags: u32,
    pub reserved: u32,
}

/// [`CookieSettings::flags`]: queries with a COOKIE option get one back.
pub const COOKIES_ON: u32 = 1;
/// [`CookieSettings::flags`]: cookies made under the previous secret are still accepted.
pub const COOKIES_PREVIOUS: u32 = 2;

/// The COOKIE option of a reply: code, length, client cookie and a 16-byte server cookie.
pub const COOKIE_REPLY_LEN: usize = 4 + CLIENT_COOKIE_LEN + SERVER_COOKIE_LEN;
/// Extended RCODE BADCOOKIE (RFC 7873 §8): 23, the upper bits 1 in OPT, the lower 7 in the
/// header.
pub const BADCOOKIE_UPPER: u8 = 1;
pub const BADCOOKIE_LOWER: u16 = 7;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash24_gives_the_reference_vector() {
        // The SipHash paper's test vector: key 00..0f, message 00..0e.
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let message: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash24(&key, &message), 0xa129_ca61_49be_45e5);
        // Its first vectors of other lengths too: the empty message and one byte.
        assert_eq!(siphash24(&key, &[]), 0x726f_db47_dd0e_0e31);
        assert_eq!(siphash24(&key, &[0]), 0x74f8_39c5_93dc_67fd);
    }

    /// RFC 9018 Appendix A.1: a client learning a new server cookie.
    #[test]
    fn rfc_9018_gives_this_cookie() {
        let secret = [
            0xe5, 0xe9, 0x73, 0xe5, 0xa6, 0xb2, 0xa4, 0x3f, 0x48, 0xe7, 0xdc, 0x84, 0x9e, 0x37,
            0xbf, 0xcf,
        ];
        let client = [0x24, 0x64, 0xc4, 0xab, 0xcf, 0x10, 0xc9, 0x57];
        let cookie = server_cookie(&secret, &client, 1_559_731_985, &[198, 51, 100, 100]);
        assert_eq!(
            cookie,
            [
                0x01, 0x00, 0x00, 0x00, 0x5c, 0xf7, 0x9f, 0x11, 0x1f, 0x81, 0x30, 0xc3, 0xee, 0xe2,
                0x94, 0x80
            ]
        );
    }

    #[test]
    fn the_word_hash_is_siphash24_over_the_bytes() {
        let secret: [u8; 16] = core::array::from_fn(|i| i as u8 * 3);
        let client = [9u8, 8, 7, 6, 5, 4, 3, 2];
        for ip in [
            &[192u8, 0, 2, 1][..],
            &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
        ] {
            let cookie = server_cookie(&secret, &client, 0x6000_0001, ip);
            let bytes = [&client[..], &cookie[..8], ip].concat();
            assert_eq!(cookie[8..], siphash24(&secret, &bytes).to_le_bytes());
        }
    }

    #[test]
    fn cookies_are_checked_for_secret_time_and_version() {
        let (current, previous) = ([3u8; 16], [4u8; 16]);
        let secrets = [secret_words(&current), secret_words(&previous)];
        let client = [5u8; 8];
        let ip = [198u8, 51, 100, 7];
        let now = 1_800_000_000u32;
        let check = |secret: &[u8; 16], made: u32, previous_ok: bool| {
            let cookie = server_cookie(secret, &client, made, &ip);
            let words = (
                le_word(&client),
                le_word(&cookie[..8]),
                le_word(&cookie[8..]),
            );
            let address = address_words(&mapped_address(&ip));
            check_server_cookie(&secrets, previous_ok, words, address, now)
        };
        assert_eq!(check(&current, now, false), Validity::Valid);
        assert_eq!(check(&current, now + 300, false), Validity::Valid);
        assert_eq!(check(&current, now + 301, false), Validity::Invalid);
        assert_eq!(check(&current, now - 1799, false), Validity::Valid);
        assert_eq!(check(&current, now - 1800, false), Validity::Renew);
        assert_eq!(check(&current, now - 3600, false), Validity::Renew);
        assert_eq!(check(&current, now - 3601, false), Validity::Invalid);
        assert_eq!(check(&previous, now, true), Validity::Valid);
        assert_eq!(check(&previous, now, false), Validity::Invalid);
        assert_eq!(check(&[6; 16], now, true), Validity::Invalid);
        // Another version, another client address: not ours.
        let cookie = server_cookie(&current, &client, now, &ip);
        let head = le_word(&cookie[..8]) ^ 3;
        let words = (le_word(&client), head, le_word(&cookie[8..]));
        assert_eq!(
            check_server_cookie(
                &secrets,
                false,
                words,
                address_words(&mapped_address(&ip)),
                now
            ),
            Validity::Invalid
        );
        let words = (
            le_word(&client),
            le_word(&cookie[..8]),
            le_word(&cookie[8..]),
        );
        let elsewhere = address_words(&mapped_address(&[198, 51, 100, 8]));
        assert_eq!(
            check_server_cookie(&secrets, false, words, elsewhere, now),
            Validity::Invalid
        );
    }

    #[test]
    fn the_server_cookie_has_version_reserved_and_timestamp_in_front() {
        let cookie = server_cookie(&[7; 16], &[1; 8], 0x5cf7_9f11, &[192, 0, 2, 1]);
        assert_eq!(&cookie[..8], &[1, 0, 0, 0, 0x5c, 0xf7, 0x9f, 0x11]);
        // The hash covers the address: another client gets another cookie.
        let other = server_cookie(&[7; 16], &[1; 8], 0x5cf7_9f11, &[192, 0, 2, 2]);
        assert_ne!(cookie[8..], other[8..]);
    }
}
