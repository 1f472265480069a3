//! DNS Cookies (RFC 7873, server cookies as RFC 9018): finding a query's COOKIE option,
//! checking its server cookie, and the cookie the reply carries. The same secrets and
//! rules as userspace (`secdns/src/cookies.rs`, `secdns_common::cookie`).

use aya_ebpf::{
    helpers::generated::{bpf_ktime_get_coarse_ns, bpf_xdp_load_bytes},
    programs::XdpContext,
};
use secdns_common::cookie::{
    COOKIE_OPTION, COOKIES_ON, COOKIES_PREVIOUS, CookieSettings, Validity, address_words,
    check_server_cookie, cookie_hash, cookie_head,
};

use crate::{
    CONFIG, Pass, SCRATCH, Scratch,
    packet::{get_be16, ptr_at},
    query::{Query, launder_within},
};
use secdns_common::Counter;

/// [`Query::cookie`]: none; a client cookie alone; with a 16-byte server cookie (ours if
/// it checks); with a server cookie of another length (never ours).
pub const NO_COOKIE: u8 = 0;
pub const CLIENT_COOKIE: u8 = 1;
pub const SERVER_COOKIE: u8 = 2;
pub const OTHER_COOKIE: u8 = 3;

/// OPT data beyond this many bytes, or beyond this many options, is left to userspace.
const MAX_OPTIONS_LEN: usize = 128;
const MAX_OPTIONS: usize = 6;

/// Finds the first COOKIE option in the OPT data of `rdlen` bytes at `at` and copies it to
/// the scratch (client cookie, then 16 bytes of server cookie). An option running past the
/// data hides what follows, as in userspace; a COOKIE of a length RFC 7873 forbids is
/// FORMERR, which userspace sends.
#[inline(always)]
pub fn find(ctx: &XdpContext, scratch: *mut Scratch, at: usize, rdlen: usize) -> Result<u8, Pass> {
    if rdlen == 0 {
        return Ok(NO_COOKIE);
    }
    if rdlen > MAX_OPTIONS_LEN {
        return Err(Pass(Counter::Unsupported));
    }
    let mut done = 0usize;
    let mut i = 0;
    while i < MAX_OPTIONS {
        if done + 4 > rdlen {
            return Ok(NO_COOKIE);
        }
        let p = ptr_at(ctx, at + done, 4).ok_or(Pass(Counter::Malformed))?;
        // SAFETY: `ptr_at` checked four bytes.
        let (code, len) = unsafe { (get_be16(p), get_be16(p.add(2)) as usize) };
        if done + 4 + len > rdlen {
            return Ok(NO_COOKIE);
        }
        if code == COOKIE_OPTION {
            return copy(ctx, scratch, at + done + 4, len);
        }
        done = launder_within(scratch, done + 4 + len, MAX_OPTIONS_LEN)
            .ok_or(Pass(Counter::Unsupported))?;
        i += 1;
    }
    if done + 4 <= rdlen {
        return Err(Pass(Counter::Unsupported));
    }
    Ok(NO_COOKIE)
}

/// Copies a COOKIE option's `len` bytes at `at` into the scratch.
#[inline(always)]
fn copy(ctx: &XdpContext, scratch: *mut Scratch, at: usize, len: usize) -> Result<u8, Pass> {
    let (copied, kind) = match len {
        8 => (8, CLIENT_COOKIE),
        24 => (24, SERVER_COOKIE),
        16..=40 => (8, OTHER_COOKIE),
        _ => return Err(Pass(Counter::Unsupported)),
    };
    // SAFETY: the scratch's cookie holds 24 bytes; the helper checks the packet range.
    let to = unsafe { (*scratch).cookie.as_mut_ptr() } as *mut core::ffi::c_void;
    if unsafe { bpf_xdp_load_bytes(ctx.ctx, at as u32, to, copied) } != 0 {
        return Err(Pass(Counter::Malformed));
    }
    Ok(kind)
}

/// [`answer`]'s bits: the reply carries a cookie; the query's server cookie was ours
/// (which exempts it from rate limits).
pub const IN_REPLY: u64 = 1;
pub const OURS: u64 = 2;

/// Checks the query's cookie and leaves the reply's server cookie in the scratch after the
/// client cookie: the one that came, if it is ours and fresh, else a new one. What it found
/// ([`IN_REPLY`], [`OURS`]).
///
/// The hashing runs in a global function (see [`secdns_cookie_check`]), whose stack is its
/// own: its frame and the program's must fit the kernel's 512 bytes together.
#[inline(always)]
pub fn answer(q: &Query, settings: &CookieSettings) -> u64 {
    if q.cookie == NO_COOKIE || settings.flags & COOKIES_ON == 0 {
        return 0;
    }
    // SAFETY: per-CPU scratch.
    unsafe { (*q.scratch).cookie_kind = q.cookie as u64 };
    secdns_cookie_check()
}

/// Checks the cookie the scratch holds (from the source address `Scratch::source` holds)
/// and makes the reply's: [`IN_REPLY`], and [`OURS`] when the query's was. A global
/// function: the verifier checks it once, on its own, and its callers see an unknown.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn secdns_cookie_check() -> u64 {
    let (Some(scratch), Some(config)) = (SCRATCH.get_ptr_mut(0), CONFIG.get(0)) else {
        return 0;
    };
    let settings = &config.cookies;
    // SAFETY: per-CPU scratch, filled for this packet.
    let (kind, source) = unsafe { ((*scratch).cookie_kind, (*scratch).source.data) };
    let cookie = unsafe { &mut (*scratch).cookie };
    let (address, ipv6) = address_words(&source);
    // SAFETY: a helper without arguments.
    let wall_ns = unsafe { bpf_ktime_get_coarse_ns() }.wrapping_add(settings.wall_offset_ns);
    let now = (wall_ns / 1_000_000_000) as u32;
    let client = cookie[0];
    let validity = if kind as u8 == SERVER_COOKIE {
        let previous = settings.flags & COOKIES_PREVIOUS != 0;
        let words = (client, cookie[1], cookie[2]);
        check_server_cookie(&settings.secrets, previous, words, (address, ipv6), now)
    } else {
        Validity::Invalid
    };
    if validity != Validity::Valid {
        let head = cookie_head(now);
        cookie[1] = head;
        cookie[2] = cookie_hash(settings.secrets[0], client, head, address, ipv6);
    }
    match validity {
        Validity::Invalid => IN_REPLY,
        _ => IN_REPLY | OURS,
    }
}
