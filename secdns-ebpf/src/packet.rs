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

#[inline(always)]
pub fn put_be16(p: *mut u8, value: u16) {
    let b = value.to_be_bytes();
    // SAFETY: callers pass a pointer checked by `ptr_at` for at least two bytes.
    unsafe {
        *p = b[0];
        *p.add(1) = b[1];
    }
}

#[inline(always)]
pub fn get_be16(p: *const u8) -> u16 {
    // SAFETY: callers pass a pointer checked by `ptr_at` for at least two bytes.
    unsafe { u16::from_be_bytes([*p, *p.add(1)]) }
}
