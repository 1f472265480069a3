//! A node's owner and RRsets, packed: the owner's wire form and every set and record of the
//! name in one allocation once the zone is built. A million names held as vectors of vectors
//! cost about 430 bytes a name in allocations and their slack (a host with one address held
//! 16 bytes of data in five allocations); with its owner and sets in three allocations, 128;
//! packed whole, a host is one 48-byte allocation and its 16-byte node in the zone's table.
//!
//! A node being changed (while a zone is built, or by an IXFR) holds its sets open, as
//! vectors ([`RrsetBuf`]); the builder packs them again. Readers see either form through
//! the same view, [`Rrset`].

use super::Rdata;
use crate::dns::{Dname, Name};

/// Bytes before a packed set's records: type, covered type, TTL, record count, record bytes.
pub const HEADER: usize = 16;

/// An RRset as a zone holds it, to read.
#[derive(Clone, Copy, Debug)]
pub struct Rrset<'a> {
    pub rtype: u16,
    /// For RRSIG: the type the signatures cover (signatures of each type form their own set,
    /// with their own TTL). Zero for every other type.
    pub covers: u16,
    pub ttl: u32,
    pub rdatas: Rdatas<'a>,
}

impl PartialEq for Rrset<'_> {
    fn eq(&self, other: &Self) -> bool {
        (self.rtype, self.covers, self.ttl) == (other.rtype, other.covers, other.ttl)
            && self.rdatas.len() == other.rdatas.len()
            && self.rdatas.iter().eq(other.rdatas.iter())
    }
}

/// The records of an RRset, in uncompressed wire form, in the order held.
#[derive(Clone, Copy)]
pub enum Rdatas<'a> {
    /// `count` records, each a 16-bit length and the data.
    Packed {
        count: u32,
        bytes: &'a [u8],
    },
    Open(&'a [Rdata]),
}

impl<'a> Rdatas<'a> {
    pub fn len(&self) -> usize {
        match self {
            Self::Packed { count, .. } => *count as usize,
            Self::Open(rdatas) => rdatas.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> RdataIter<'a> {
        match *self {
            Self::Packed { bytes, .. } => RdataIter::Packed(bytes),
            Self::Open(rdatas) => RdataIter::Open(rdatas.iter()),
        }
    }

    pub fn first(&self) -> Option<&'a [u8]> {
        self.iter().next()
    }

    pub fn contains(&self, rdata: &[u8]) -> bool {
        self.iter().any(|d| d == rdata)
    }
}

impl std::fmt::Debug for Rdatas<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Rdatas<'a> {
    type Item = &'a [u8];
    type IntoIter = RdataIter<'a>;
    fn into_iter(self) -> RdataIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Rdatas<'a> {
    type Item = &'a [u8];
    type IntoIter = RdataIter<'a>;
    fn into_iter(self) -> RdataIter<'a> {
        self.iter()
    }
}

#[derive(Clone)]
pub enum RdataIter<'a> {
    Packed(&'a [u8]),
    Open(std::slice::Iter<'a, Rdata>),
}

impl<'a> Iterator for RdataIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Self::Packed(bytes) => {
                let (len, rest) = bytes.split_first_chunk::<2>()?;
                let (data, rest) = rest.split_at_checked(u16::from_ne_bytes(*len) as usize)?;
                *bytes = rest;
                Some(data)
            }
            Self::Open(rdatas) => rdatas.next().map(|d| &d[..]),
        }
    }
}

/// An RRset being changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RrsetBuf {
    pub rtype: u16,
    pub covers: u16,
    pub ttl: u32,
    pub rdatas: Vec<Rdata>,
}

impl RrsetBuf {
    pub fn view(&self) -> Rrset<'_> {
        Rrset {
            rtype: self.rtype,
            covers: self.covers,
            ttl: self.ttl,
            rdatas: Rdatas::Open(&self.rdatas),
        }
    }
}

/// The owner and RRsets of one node, packed or open to change.
#[derive(Clone, Debug)]
pub enum NodeData {
    /// The owner's length (one octet), its wire form, then the sets (see [`Packer`]).
    Packed(Box<[u8]>),
    Open(Box<OpenNode>),
}

#[derive(Clone, Debug)]
pub struct OpenNode {
    owner: Name,
    sets: Vec<RrsetBuf>,
}

impl NodeData {
    /// `owner` with no sets: an empty non-terminal, or a node about to take some.
    pub fn empty(owner: &Name) -> Self {
        Packer::for_owner(owner, 0).finish()
    }

    pub fn owner(&self) -> &Dname {
        match self {
            Self::Packed(bytes) => Dname::of_checked_wire(packed_parts(bytes).0),
            Self::Open(node) => &node.owner,
        }
    }

    pub fn iter(&self) -> RrsetIter<'_> {
        match self {
            Self::Packed(bytes) => RrsetIter::Packed(packed_parts(bytes).1),
            Self::Open(node) => RrsetIter::Open(node.sets.iter()),
        }
    }

    /// Where the node's memory starts (for [`crate::prefetch`]).
    pub fn as_ptr(&self) -> *const u8 {
        match self {
            Self::Packed(bytes) => bytes.as_ptr(),
            Self::Open(node) => node.sets.as_ptr().cast(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Self::Packed(bytes) => packed_parts(bytes).1.is_empty(),
            Self::Open(node) => node.sets.is_empty(),
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open(_))
    }

    /// The sets, to change: unpacked first if packed.
    pub fn open(&mut self) -> &mut Vec<RrsetBuf> {
        if let Self::Packed(_) = self {
            let sets = self
                .iter()
                .map(|r| RrsetBuf {
                    rtype: r.rtype,
                    covers: r.covers,
                    ttl: r.ttl,
                    rdatas: r.rdatas.iter().map(Rdata::from).collect(),
                })
                .collect();
            let owner = self.owner().to_owned();
            *self = Self::Open(Box::new(OpenNode { owner, sets }));
        }
        match self {
            Self::Open(node) => &mut node.sets,
            Self::Packed(_) => unreachable!("unpacked just above"),
        }
    }

    /// Packs open sets into one buffer with the owner. Records longer than 65,535 octets
    /// cannot be held (the builder refuses them: no message could carry one).
    pub fn pack(&mut self) {
        let Self::Open(node) = self else {
            return;
        };
        let size: usize = node
            .sets
            .iter()
            .map(|r| HEADER + r.rdatas.iter().map(|d| 2 + d.len()).sum::<usize>())
            .sum();
        let mut packer = Packer::for_owner(&node.owner, size);
        for set in node.sets.iter() {
            packer.set(set.rtype, set.covers, set.ttl);
            for data in &set.rdatas {
                packer.record(data);
            }
        }
        *self = packer.finish();
    }
}

/// A packed node's owner (wire form) and sets. The owner's length came from a `Name`: the
/// split is always in range, the fallback never taken.
fn packed_parts(bytes: &[u8]) -> (&[u8], &[u8]) {
    let len = bytes.first().map_or(0, |&len| len as usize);
    let rest = bytes.get(1..).unwrap_or_default();
    rest.split_at_checked(len).unwrap_or((rest, &[]))
}

/// Writes a node's sets a record at a time after its owner (for data that arrives in order:
/// a transfer's records, a saved copy).
pub struct Packer {
    bytes: Vec<u8>,
    /// Where the header of the set being written is, and its records so far.
    open: Option<(usize, u32)>,
}

impl Packer {
    /// For `owner`'s sets, `size` bytes of them.
    pub fn for_owner(owner: &Name, size: usize) -> Self {
        let wire = owner.wire();
        let mut bytes = Vec::with_capacity(1 + wire.len() + size);
        // A name is at most 255 octets.
        bytes.push(wire.len() as u8);
        bytes.extend_from_slice(wire);
        Self { bytes, open: None }
    }

    /// Starts a set; the records that follow are its own.
    pub fn set(&mut self, rtype: u16, covers: u16, ttl: u32) {
        self.close();
        self.open = Some((self.bytes.len(), 0));
        self.bytes.extend_from_slice(&rtype.to_ne_bytes());
        self.bytes.extend_from_slice(&covers.to_ne_bytes());
        self.bytes.extend_from_slice(&ttl.to_ne_bytes());
        self.bytes.extend_from_slice(&[0; 8]);
    }

    /// Adds a record to the set started last; one over 65,535 octets is left out.
    pub fn record(&mut self, rdata: &[u8]) {
        let (Some((_, count)), Ok(len)) = (&mut self.open, u16::try_from(rdata.len())) else {
            return;
        };
        *count += 1;
        self.bytes.extend_from_slice(&len.to_ne_bytes());
        self.bytes.extend_from_slice(rdata);
    }

    /// Writes the count and length of the set being written into its header.
    fn close(&mut self) {
        let Some((at, count)) = self.open.take() else {
            return;
        };
        let len = (self.bytes.len() - at - HEADER) as u32;
        let mut fields = count.to_ne_bytes().into_iter().chain(len.to_ne_bytes());
        for byte in self.bytes.iter_mut().skip(at + 8).take(8) {
            *byte = fields.next().unwrap_or_default();
        }
    }

    pub fn finish(mut self) -> NodeData {
        self.close();
        NodeData::Packed(self.bytes.into_boxed_slice())
    }
}

#[derive(Clone)]
pub enum RrsetIter<'a> {
    Packed(&'a [u8]),
    Open(std::slice::Iter<'a, RrsetBuf>),
}

impl<'a> Iterator for RrsetIter<'a> {
    type Item = Rrset<'a>;

    fn next(&mut self) -> Option<Rrset<'a>> {
        match self {
            Self::Packed(bytes) => {
                let (header, rest) = bytes.split_first_chunk::<HEADER>()?;
                let field =
                    |at: usize| [header[at], header[at + 1], header[at + 2], header[at + 3]];
                let len = u32::from_ne_bytes(field(12)) as usize;
                let (records, rest) = rest.split_at_checked(len)?;
                *bytes = rest;
                Some(Rrset {
                    rtype: u16::from_ne_bytes([header[0], header[1]]),
                    covers: u16::from_ne_bytes([header[2], header[3]]),
                    ttl: u32::from_ne_bytes(field(4)),
                    rdatas: Rdatas::Packed {
                        count: u32::from_ne_bytes(field(8)),
                        bytes: records,
                    },
                })
            }
            Self::Open(sets) => sets.next().map(RrsetBuf::view),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What goes in open comes out packed, the same sets in the same order, and opens again
    /// to the same.
    #[test]
    fn packing_keeps_every_set_and_record() {
        let sets = vec![
            RrsetBuf {
                rtype: 1,
                covers: 0,
                ttl: 300,
                rdatas: vec![[10, 0, 0, 1][..].into(), [10, 0, 0, 2][..].into()],
            },
            RrsetBuf {
                rtype: 46,
                covers: 1,
                ttl: 60,
                rdatas: vec![vec![7; 300].into()],
            },
            RrsetBuf {
                rtype: 16,
                covers: 0,
                ttl: u32::MAX,
                rdatas: vec![Rdata::default()],
            },
        ];
        let owner: Name = "Host-1.Example.".parse().unwrap();
        let mut rrsets = NodeData::empty(&owner);
        *rrsets.open() = sets.clone();
        let open: Vec<Rrset> = sets.iter().map(RrsetBuf::view).collect();
        assert!(rrsets.iter().eq(open.iter().copied()));
        rrsets.pack();
        assert!(!rrsets.is_open());
        assert!(rrsets.iter().eq(open.iter().copied()));
        // The owner as it came, case kept, in either form.
        assert_eq!(rrsets.owner().wire(), owner.wire());
        let second = rrsets.iter().nth(1).unwrap();
        assert_eq!(
            (second.rdatas.len(), second.rdatas.first().map(<[u8]>::len)),
            (1, Some(300))
        );
        assert_eq!(rrsets.open(), &sets);
        assert_eq!(rrsets.owner().wire(), owner.wire());
        let empty = NodeData::empty(&owner);
        assert!(empty.is_empty() && empty.iter().next().is_none());
        assert_eq!(empty.owner().wire(), owner.wire());
        // A node is one pointer and a length: the niche of the packed form's pointer tells
        // the open one apart.
        assert_eq!(std::mem::size_of::<NodeData>(), 16);
    }
}
