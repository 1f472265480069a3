//! Finding the entry that answers a query in the answer index: the name's entry for the
//! type, its default, or the entry of its closest existing ancestor for names below it.

use secdns_common::{
    Bucket, Counter, DEFAULT_QTYPE, MAX_WALK, OPTION_TYPED_BELOW, SCOPE_BELOW, SCOPE_NAME,
    SLOTS_PER_BUCKET, WORD_OPTIONS_SHIFT, entry_tag, has_own_answer, home_bucket, other_bucket,
    word_visible,
};

use crate::{INDEX, Pass, Scratch, query};

/// The live version of the index.
pub struct Table {
    pub active: u32,
    pub buckets: u32,
}

/// What an entry is looked up by.
#[derive(Clone, Copy)]
pub struct Key {
    pub name_hash: u64,
    pub check: u32,
    pub qtype: u16,
    pub dnssec_ok: bool,
    pub scope: u32,
}

pub struct Found {
    pub key: Key,
    /// The slot's word: body chunk and options.
    pub word: u32,
}

impl Table {
    /// The word of the live entry with `key`, from either of its buckets.
    #[inline(always)]
    pub fn find(&self, key: &Key) -> Option<u32> {
        let buckets = self.buckets;
        if buckets < 2 {
            return None;
        }
        let tag = entry_tag(key.name_hash, key.qtype, key.dnssec_ok, key.scope);
        let first = INDEX.get(home_bucket(tag, buckets))?;
        if let Some(word) = self.in_bucket(first, tag, key.check) {
            return Some(word);
        }
        let second = INDEX.get(other_bucket(tag, buckets))?;
        self.in_bucket(second, tag, key.check)
    }

    /// Userspace writes slots while this runs: read tag, check and word in that order (see
    /// `secdns_common::TAG_EMPTY`).
    #[inline(always)]
    fn in_bucket(&self, bucket: &Bucket, tag: u64, check: u32) -> Option<u32> {
        let mut s = 0;
        while s < SLOTS_PER_BUCKET {
            let slot = bucket.slots.get(s)?;
            // SAFETY: pointers into a map value the program holds for this run.
            unsafe {
                if core::ptr::read_volatile(&slot.tag) == tag
                    && core::ptr::read_volatile(&slot.check) == check
                {
                    let word = core::ptr::read_volatile(&slot.word);
                    if word_visible(word, self.active) {
                        return Some(word);
                    }
                }
            }
            s += 1;
        }
        None
    }
}

/// The entry that answers the query: the question name's, or its closest existing
/// ancestor's for the names below it.
#[inline(always)]
pub fn find_entry(table: &Table, query: &query::Query) -> Result<Found, Pass> {
    let mut key = Key {
        name_hash: query.name_hash,
        check: query.name_check,
        qtype: query.qtype,
        dnssec_ok: false,
        scope: SCOPE_NAME,
    };
    if let Some(word) = table.find(&key) {
        return Ok(Found { key, word });
    }
    // The name's own answers are all there is for the types with an answer of their own.
    if has_own_answer(query.qtype) {
        return Err(Pass(Counter::Miss));
    }
    // No entry for this type: the name's default (NODATA, referral) answers the rest.
    key.qtype = DEFAULT_QTYPE;
    if let Some(word) = table.find(&key) {
        return Ok(Found { key, word });
    }
    // Every name that exists has a default entry: the name does not exist, and its closest
    // existing ancestor says what that means.
    let mut found = closest_ancestor(table, key, query.scratch, query.qname_len)?;
    if (found.word >> WORD_OPTIONS_SHIFT) & OPTION_TYPED_BELOW != 0 {
        // A wildcard below the ancestor has entries for its types.
        let mut typed = found.key;
        typed.qtype = query.qtype;
        if let Some(word) = table.find(&typed) {
            found = Found { key: typed, word };
        }
    }
    Ok(found)
}

/// Walks up from a question name that does not exist to its closest ancestor with an entry
/// for the names below it.
#[inline(always)]
fn closest_ancestor(
    table: &Table,
    mut key: Key,
    scratch: *mut Scratch,
    len: usize,
) -> Result<Found, Pass> {
    key.qtype = DEFAULT_QTYPE;
    key.scope = SCOPE_BELOW;
    // The name sits right-aligned in the buffer; hop over its labels there. (Laundered, or
    // the compiler folds the subtraction into the pointer, a negative offset to the verifier.)
    let first = query::launder(scratch, query::NAME_END - len)?;
    let mut start = 0usize;
    let mut level = 0;
    while level < MAX_WALK {
        // SAFETY: per-CPU scratch; `get` bounds the index.
        let label = unsafe { (*scratch).name.get(first + start) }.copied();
        start += label.ok_or(Pass(Counter::Miss))? as usize + 1;
        if start >= len {
            break;
        }
        // The verifier does not relate `start` to `len`: give it the difference's bounds.
        let suffix_len = query::launder(scratch, len - start)?;
        let (hash, check) = query::suffix_hash(scratch, suffix_len).ok_or(Pass(Counter::Miss))?;
        key.name_hash = hash;
        key.check = check;
        if let Some(word) = table.find(&key) {
            return Ok(Found { key, word });
        }
        level += 1;
    }
    Err(Pass(Counter::Miss))
}
