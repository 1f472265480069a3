//! A compiled answer as userspace keeps it: the name it answers for (to tell names with one
//! hash apart), its body and the header fields the program writes (see
//! `secdns_common::BodyHeader`), and the entry's options. Written into the maps by
//! `xdp::maps` (see `xdp::layout::body_record`).

use secdns_common::{NO_ZONE_SLOT, ZoneSlot};

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Value {
    /// Lowercased wire form; empty for the pass entry that stands for colliding names.
    pub name: Box<[u8]>,
    /// Empty for a pass entry.
    pub body: Box<[u8]>,
    pub flags: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
    pub question_len: u16,
    pub fixups: Box<[u16]>,
    pub body_csum: u32,
    pub options: u32,
    pub serial_at: u16,
    pub zone_slot: ZoneSlot,
    /// The length of the apex whose zone prefix goes before the body (see
    /// `secdns_common::BodyHeader::prefix_len`), or 0.
    pub prefix_len: u8,
    /// The answer to queries with DO, when it is this one's body followed by more (the
    /// signatures): kept in the same record (see `secdns_common::BodyHeader::dnssec_at`).
    pub dnssec: Option<Box<DnssecAnswer>>,
}

/// The answer to DO queries that extends a [`Value`]'s: what its body has after the plain
/// answer's (the signatures), and the header fields that differ. Flags, question, serial
/// and zone are the plain answer's (see `layout::dnssec_extension`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DnssecAnswer {
    pub signatures: Box<[u8]>,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
    pub body_csum: u32,
}

impl Value {
    /// A pass entry for `name`: lookups and walks that reach it leave the query to userspace.
    pub fn pass(name: &[u8]) -> Self {
        Self {
            name: name.into(),
            question_len: name.len() as u16,
            zone_slot: NO_ZONE_SLOT,
            ..Self::default()
        }
    }

    pub fn is_pass(&self) -> bool {
        self.body.is_empty()
    }
}
