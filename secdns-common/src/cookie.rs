//! DNS Cookies (RFC 7873): the server cookie as RFC 9018 makes it, so that every secdns host
//! sharing a secret (and Knot, BIND or NSD with it) makes and accepts the same cookies.

/// EDNS option code of COOKIE (RFC 7873 §4).
pub const COOKIE_OPTION: u16 = 10;
/// The server cookie's layout version (RFC 9018 §4.2).
pub const SERVER_COOKIE_VERSION: u8 = 1;
/// Client cookie, then version, reserved bytes, timestamp and hash.
pub const CLIENT_COOKIE_LEN: usize = 8;
pub const SERVER_COOKIE_LEN: usize = 16;

/// SipHash-2-4 of `bytes` (at most 32) under `secret`: the hash RFC 9018 §4.4 names.
#[inline(always)]
pub fn siphash24(secret: &[u8; 16], bytes: &[u8]) -> u64 {
    let (k0, k1) = (le_word(&secret[..8]), le_word(&secret[8..]));
    let mut state = crate::SipState {
        v: [
            k0 ^ 0x736f_6d65_7073_6575,
            k1 ^ 0x646f_7261_6e64_6f6d,
            k0 ^ 0x6c79_6765_6e65_7261,
            k1 ^ 0x7465_6462_7974_6573,
        ],
    };
    let mut take = |word: u64| {
        state.v[3] ^= word;
        state.round();
        state.round();
        state.v[0] ^= word;
    };
    let mut words = bytes.chunks_exact(8);
    for word in words.by_ref() {
        take(le_word(word));
    }
    // The last bytes, and the length in the top byte.
    take(le_word(words.remainder()) | (bytes.len() as u64) << 56);
    state.v[2] ^= 0xff;
    for _ in 0..4 {
        state.round();
    }
    state.v[0] ^ state.v[1] ^ state.v[2] ^ state.v[3]
}

/// Up to eight bytes as a little-endian word, the missing high bytes zero.
#[inline(always)]
fn le_word(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .enumerate()
        .fold(0, |word, (i, &b)| word | u64::from(b) << (8 * i))
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
    let mut cookie = [0u8; SERVER_COOKIE_LEN];
    cookie[0] = SERVER_COOKIE_VERSION;
    cookie[4..8].copy_from_slice(&timestamp.to_be_bytes());
    let mut input = [0u8; CLIENT_COOKIE_LEN + 8 + 16];
    input[..8].copy_from_slice(client_cookie);
    input[8..16].copy_from_slice(&cookie[..8]);
    let ip_len = client_ip.len().min(16);
    input[16..16 + ip_len].copy_from_slice(&client_ip[..ip_len]);
    let hash = siphash24(secret, &input[..16 + ip_len]);
    cookie[8..].copy_from_slice(&hash.to_le_bytes());
    cookie
}

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

    #[test]
    fn the_server_cookie_has_version_reserved_and_timestamp_in_front() {
        let cookie = server_cookie(&[7; 16], &[1; 8], 0x5cf7_9f11, &[192, 0, 2, 1]);
        assert_eq!(&cookie[..8], &[1, 0, 0, 0, 0x5c, 0xf7, 0x9f, 0x11]);
        // The hash covers the address: another client gets another cookie.
        let other = server_cookie(&[7; 16], &[1; 8], 0x5cf7_9f11, &[192, 0, 2, 2]);
        assert_ne!(cookie[8..], other[8..]);
    }
}
