//! Reading fixed-size fields of wire-format data (RFC 1035 §2.3.2: big-endian), each read
//! checked against the bytes there are.

/// A message's header: ID, flags and the four counts (the XDP program's too).
pub const HEADER_LEN: usize = secdns_common::DNS_HEADER_LEN;

/// The 16-bit field at `at`, if `bytes` holds it.
pub fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        bytes.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// The 32-bit field at `at`, if `bytes` holds it.
pub fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_past_the_end_are_none() {
        let bytes = [0x12, 0x34, 0x56, 0x78, 0x9a];
        assert_eq!(be16(&bytes, 0), Some(0x1234));
        assert_eq!(be16(&bytes, 3), Some(0x789a));
        assert_eq!(be16(&bytes, 4), None);
        assert_eq!(be32(&bytes, 1), Some(0x3456_789a));
        assert_eq!(be32(&bytes, 2), None);
        assert_eq!(be16(&bytes, usize::MAX), None);
    }
}
