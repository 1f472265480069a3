//! An answer-map value as userspace keeps it: what [`AnswerValue`] holds, without its
//! fixed-size buffers (most names and bodies are a small part of them). Packed into the map's
//! form only when written.

use secdns_common::{AnswerValue, MAX_BODY_LEN, MAX_FIXUPS, NAME_BUF_LEN, NO_ZONE_SLOT, ZoneSlot};

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

    /// The map's form. Names and bodies beyond the buffers are cut (the compiler never makes
    /// them).
    pub fn packed(&self) -> AnswerValue {
        let mut out = empty();
        self.pack_into(&mut out);
        out
    }

    /// Writes the map's form into `out`, which may hold an earlier value.
    pub fn pack_into(&self, out: &mut AnswerValue) {
        let name_len = self.name.len().min(NAME_BUF_LEN);
        let body_len = self.body.len().min(MAX_BODY_LEN);
        let fixup_count = self.fixups.len().min(MAX_FIXUPS);
        out.name_len = name_len as u16;
        out.body_len = body_len as u16;
        out.flags = self.flags;
        out.ancount = self.ancount;
        out.nscount = self.nscount;
        out.arcount = self.arcount;
        out.question_len = self.question_len;
        out.fixup_count = fixup_count as u16;
        out.body_csum = self.body_csum;
        out.options = self.options;
        out.serial_at = self.serial_at;
        out.zone_slot = self.zone_slot;
        out.fixups = [0; MAX_FIXUPS];
        out.fixups[..fixup_count].copy_from_slice(&self.fixups[..fixup_count]);
        // Names sit right-aligned (see `secdns_common::name_hash`).
        out.name[..NAME_BUF_LEN - name_len].fill(0);
        out.name[NAME_BUF_LEN - name_len..].copy_from_slice(&self.name[..name_len]);
        out.body[..body_len].copy_from_slice(&self.body[..body_len]);
        out.body[body_len..].fill(0);
    }
}

/// An all-zero value.
pub fn empty() -> AnswerValue {
    AnswerValue {
        name_len: 0,
        body_len: 0,
        flags: 0,
        ancount: 0,
        nscount: 0,
        arcount: 0,
        question_len: 0,
        fixup_count: 0,
        body_csum: 0,
        options: 0,
        serial_at: 0,
        zone_slot: 0,
        fixups: [0; MAX_FIXUPS],
        name: [0; NAME_BUF_LEN],
        body: [0; MAX_BODY_LEN],
    }
}
