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

/// What one step of the walk up works on and finds (the caller's stack, handed to
/// `bpf_loop`).
#[repr(C)]
struct Walk {
    scratch: *mut Scratch,
    active: u32,
    buckets: u32,
    /// The name's length.
    len: u64,
    /// Set by the step that finds the entry: the ancestor's hash, check and word (none
    /// starts [`NOT_FOUND`], nor zero, which would compile to a call of a byte-wise memset).
    name_hash: u64,
    check: u64,
    word: u64,
}

/// `Walk::word` until an entry is found (words are 32 bits).
const NOT_FOUND: u64 = u64::MAX;

/// One step up from the second (`bpf_loop`'s callback, verified once whatever the level):
/// looks up the entry of the ancestor `index` + 2 labels up. 1 stops the loop.
#[inline(never)]
extern "C" fn walk_step(index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    // SAFETY: `ctx` is the `Walk` on the caller's stack that `closest_ancestor` passed.
    let walk = unsafe { &mut *(ctx as *mut Walk) };
    match step(walk, index as usize + 1) {
        Some(()) => 0,
        None => 1,
    }
}

/// Looks up the ancestor `index` + 1 labels up; `None` when the walk stops there, found or
/// not. Where that ancestor starts is in the scratch, from the name's
/// scan: nothing is carried from one step to the next, so the verifier checks a step once.
#[inline(always)]
fn step(walk: &mut Walk, index: usize) -> Option<()> {
    let scratch = walk.scratch;
    let len = walk.len as usize;
    let level = index + 1;
    // SAFETY: per-CPU scratch, filled by `scan_name` for this packet; `get` bounds the index.
    let (count, start) = unsafe {
        (
            (*scratch).label_count as usize,
            (*scratch).labels.get(level),
        )
    };
    let start = *start? as usize;
    if level >= count || start >= len {
        return None;
    }
    let suffix_len = query::launder(scratch, len - start).ok()?;
    let (hash, check) = query::suffix_hash(scratch, suffix_len)?;
    let table = Table {
        active: walk.active,
        buckets: walk.buckets,
    };
    let key = Key {
        name_hash: hash,
        check,
        qtype: DEFAULT_QTYPE,
        dnssec_ok: false,
        scope: SCOPE_BELOW,
    };
    if let Some(word) = table.find(&key) {
        walk.name_hash = hash;
        walk.check = check as u64;
        walk.word = word as u64;
        return None;
    }
    Some(())
}

/// Walks up from a question name that does not exist to its closest ancestor with an entry
/// for the names below it: the first level here, the others one `bpf_loop` step each, so
/// that the verifier checks a step once rather than once per level.
#[inline(always)]
fn closest_ancestor(
    table: &Table,
    mut key: Key,
    scratch: *mut Scratch,
    len: usize,
) -> Result<Found, Pass> {
    key.qtype = DEFAULT_QTYPE;
    key.scope = SCOPE_BELOW;
    let mut walk = Walk {
        scratch,
        active: table.active,
        buckets: table.buckets,
        len: len as u64,
        name_hash: key.name_hash,
        check: key.check as u64,
        word: NOT_FOUND,
    };
    // The first step here: a name that does not exist is most often one label below one
    // that does, and a `bpf_loop` step costs a call.
    if step(&mut walk, 0).is_some() {
        // SAFETY: `walk_step` takes the `Walk` it is given, which outlives the call.
        unsafe {
            aya_ebpf::helpers::generated::bpf_loop(
                (MAX_WALK - 1) as u32,
                walk_step as *mut core::ffi::c_void,
                &raw mut walk as *mut core::ffi::c_void,
                0,
            )
        };
    }
    if walk.word == NOT_FOUND {
        return Err(Pass(Counter::Miss));
    }
    key.name_hash = walk.name_hash;
    key.check = walk.check as u32;
    Ok(Found {
        key,
        word: walk.word as u32,
    })
}
