//! Serial number arithmetic (RFC 1982, SERIAL_BITS = 32).

use std::cmp::Ordering;

/// Compares two SOA serials. `None` when they are exactly 2^31 apart, which RFC 1982 leaves
/// undefined: such a serial is never treated as newer.
pub fn compare(a: u32, b: u32) -> Option<Ordering> {
    if a == b {
        return Some(Ordering::Equal);
    }
    let diff = a.wrapping_sub(b);
    match diff {
        0x8000_0000 => None,
        d if d < 0x8000_0000 => Some(Ordering::Greater),
        _ => Some(Ordering::Less),
    }
}

/// True when `candidate` is strictly newer than `current`.
pub fn is_newer(candidate: u32, current: u32) -> bool {
    compare(candidate, current) == Some(Ordering::Greater)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1982_cases() {
        assert!(is_newer(2, 1));
        assert!(is_newer(0, u32::MAX), "wraps around");
        assert!(is_newer(100, 0xffff_ff00));
        assert!(!is_newer(1, 2));
        assert!(!is_newer(0x8000_0000, 0), "exactly half way is undefined");
        assert_eq!(compare(0, 0x8000_0000), None);
        assert_eq!(compare(5, 5), Some(Ordering::Equal));
        assert!(!is_newer(0xffff_ff00, 100));
    }
}
