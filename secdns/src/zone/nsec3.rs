//! The NSEC3 chain of a zone (RFC 5155): its parameters, its records ordered by hash, and the
//! hashed-name look-ups denial proofs need.

use sha1::{Digest, Sha1};

use super::Node;
use crate::dns::{Name, codes::rtype};

#[derive(Debug, Clone)]
pub struct Nsec3Chain {
    iterations: u16,
    salt: Vec<u8>,
    /// (hash, lowercased owner) sorted by hash.
    records: Vec<(Vec<u8>, Box<[u8]>)>,
}

/// RFC 4648 "base32hex" as NSEC3 owner labels use it (no padding, either case).
fn base32hex_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u64, 0u32);
    for &c in text {
        let value = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'v' => c - b'a' + 10,
            b'A'..=b'V' => c - b'A' + 10,
            _ => return None,
        };
        buffer = (buffer << 5) | value as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

impl Nsec3Chain {
    /// The chain of a zone whose apex holds NSEC3PARAM `param` (RFC 5155 §4.2); `nodes` are
    /// all the zone's nodes.
    pub fn build<'n>(
        param: &[u8],
        apex: &Name,
        nodes: impl Iterator<Item = &'n Node>,
    ) -> Option<Self> {
        // Hash algorithm 1 (SHA-1) is the only one defined.
        if param.first() != Some(&1) {
            return None;
        }
        let iterations = u16::from_be_bytes([*param.get(2)?, *param.get(3)?]);
        let salt_len = *param.get(4)? as usize;
        let salt = param.get(5..5 + salt_len)?.to_vec();
        let mut records: Vec<(Vec<u8>, Box<[u8]>)> = nodes
            .filter(|node| node.rrset(rtype::NSEC3).is_some())
            .filter_map(|node| {
                let wire = node.owner().lowercase_wire();
                // The owner is <base32hex hash>.<apex>.
                let label_len = *wire.first()? as usize;
                if node.owner().parent().as_ref() != Some(apex) {
                    return None;
                }
                Some((base32hex_decode(wire.get(1..1 + label_len)?)?, wire))
            })
            .collect();
        records.sort();
        Some(Self {
            iterations,
            salt,
            records,
        })
    }

    /// RFC 5155 §5: the iterated, salted SHA-1 of the lowercased wire form.
    pub fn hash(&self, lowercase_wire: &[u8]) -> Vec<u8> {
        let mut digest = Sha1::new()
            .chain_update(lowercase_wire)
            .chain_update(&self.salt)
            .finalize()
            .to_vec();
        for _ in 0..self.iterations {
            digest = Sha1::new()
                .chain_update(&digest)
                .chain_update(&self.salt)
                .finalize()
                .to_vec();
        }
        digest
    }

    /// The owner of the NSEC3 record whose hash is exactly that of `name`.
    pub fn matching(&self, lowercase_wire: &[u8]) -> Option<&[u8]> {
        let hash = self.hash(lowercase_wire);
        self.records
            .binary_search_by(|(h, _)| h.as_slice().cmp(&hash))
            .ok()
            .map(|i| &*self.records[i].1)
    }

    /// The owner of the NSEC3 record covering the hash of `name` (the last hash before it,
    /// wrapping around).
    pub fn covering(&self, lowercase_wire: &[u8]) -> Option<&[u8]> {
        let hash = self.hash(lowercase_wire);
        let index = match self
            .records
            .binary_search_by(|(h, _)| h.as_slice().cmp(&hash))
        {
            Ok(exact) => exact,
            Err(0) => self.records.len().checked_sub(1)?,
            Err(after) => after - 1,
        };
        self.records.get(index).map(|(_, owner)| &**owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5155_appendix_a_hashes() {
        // RFC 5155 Appendix A: salt aabbccdd, 12 iterations.
        let chain = Nsec3Chain {
            iterations: 12,
            salt: vec![0xaa, 0xbb, 0xcc, 0xdd],
            records: Vec::new(),
        };
        let example: Name = "example.".parse().unwrap();
        let hash = chain.hash(&example.lowercase_wire());
        assert_eq!(
            hash,
            base32hex_decode(b"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom").unwrap()
        );
        let a: Name = "a.example.".parse().unwrap();
        assert_eq!(
            chain.hash(&a.lowercase_wire()),
            base32hex_decode(b"35mthgpgcu1qg68fab165klnsnk3dpvl").unwrap()
        );
    }
}
