//! Bounds-checked packet access. Every read re-derives the pointer from the context and checks
//! it against `data_end`, the form the verifier accepts.

use aya_ebpf::programs::XdpContext;

#[inline(always)]
pub fn ptr_at(ctx: &XdpContext, offset: usize, len: usize) -> Option<*mut u8> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + len > end {
        return None;
    }
    Some((start + offset) as *mut u8)
}

#[inline(always)]
pub fn be16_at(ctx: &XdpContext, offset: usize) -> Option<u16> {
    let p = ptr_at(ctx, offset, 2)?;
    // SAFETY: bounds checked by `ptr_at`.
    Some(unsafe { u16::from_be_bytes([*p, *p.add(1)]) })
}

/// Writes `value` big-endian at `p`.
///
/// # Safety
/// `p` and the byte after it are in the packet: `p` comes from [`ptr_at`] for at least two
/// bytes (or lies that far inside what it checked).
#[inline(always)]
pub unsafe fn put_be16(p: *mut u8, value: u16) {
    let b = value.to_be_bytes();
    // SAFETY: the caller's promise.
    unsafe {
        *p = b[0];
        *p.add(1) = b[1];
    }
}

/// The big-endian 16 bits at `p`.
///
/// # Safety
/// As [`put_be16`].
#[inline(always)]
pub unsafe fn get_be16(p: *const u8) -> u16 {
    // SAFETY: the caller's promise.
    unsafe { u16::from_be_bytes([*p, *p.add(1)]) }
}
