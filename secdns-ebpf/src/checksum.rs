//! Internet checksum (RFC 1071) pieces. Sums are kept as u32/u64 of 16-bit big-endian words and
//! folded at the end; a block that starts at an odd offset contributes its byte-swapped sum.

#[inline(always)]
pub fn fold(mut sum: u64) -> u16 {
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// The contribution of a block whose even-aligned folded sum is `sum`, placed at a position of
/// parity `odd`.
#[inline(always)]
pub fn at_parity(sum: u16, odd: bool) -> u64 {
    if odd {
        sum.swap_bytes() as u64
    } else {
        sum as u64
    }
}
