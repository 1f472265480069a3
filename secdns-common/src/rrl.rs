//! Response rate limiting (RRL): the bucket of one (client prefix, response class, name) key
//! as a single `u64`, charged by the XDP program and by userspace alike, so that an answer
//! costs the same whichever path sends it (both update the word with one compare-and-swap).
//!
//! The bucket is GCRA's ("virtual scheduling"): it holds the time at which it is next due a
//! token, so it needs no fractions and no refill step. As BIND's RRL: a client may take one
//! second's worth of responses at once, then `per_second`; a limited response adds to the
//! debt too, up to `window` seconds' worth, so a flood stays limited until it has been quiet
//! for about that long; the first limited response and every `slip`-th after it are slipped
//! (a truncated reply that sends a real client to TCP), the others dropped.

/// What to do with one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Answer,
    /// Send a minimal TC=1 reply instead.
    Slip,
    Drop,
}

/// A limit in the units [`charge`] works in (microseconds of the monotonic clock); userspace
/// works it out once (see [`RateLimit::new`]) and hands it to the program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct RateLimit {
    /// Microseconds one response costs: a second over the rate.
    pub interval_us: u64,
    /// How far ahead of now the bucket may be due before it limits: one second.
    pub burst_us: u64,
    /// How far ahead of that limited responses may push it: the window.
    pub debt_us: u64,
    /// Every how many limited responses one is slipped; 0 drops them all.
    pub slip: u64,
}

const US_PER_SECOND: u64 = 1_000_000;
/// A response costs at least a microsecond.
pub const MAX_PER_SECOND: u32 = 1_000_000;
/// BIND's largest window; the debt stays far inside the due time's range.
pub const MAX_WINDOW_S: u32 = 3600;

/// Bits of the word that hold the due time (microseconds: 8.9 years before it wraps, and it
/// is compared wrapping).
const DUE_BITS: u32 = 48;
const DUE_MASK: u64 = (1 << DUE_BITS) - 1;
/// Then 8 bits counting the limited responses since the bucket last answered, modulo the slip
/// (so that it never saturates), and 8 bits of the key's hash, so that a key that lands in
/// another's slot starts afresh.
const LIMITED_SHIFT: u32 = DUE_BITS;
const TAG_SHIFT: u32 = 56;

impl RateLimit {
    /// `per_second` responses a second (1 to [`MAX_PER_SECOND`]), debts remembered for
    /// `window_s` seconds (at most [`MAX_WINDOW_S`]), one limited response in `slip` slipped;
    /// values outside are taken as the nearest inside.
    pub const fn new(per_second: u32, window_s: u32, slip: u8) -> Self {
        let per_second = match per_second {
            0 => 1,
            rate if rate > MAX_PER_SECOND => MAX_PER_SECOND as u64,
            rate => rate as u64,
        };
        let window_s = if window_s > MAX_WINDOW_S {
            MAX_WINDOW_S
        } else {
            window_s
        };
        Self {
            interval_us: US_PER_SECOND / per_second,
            burst_us: US_PER_SECOND,
            debt_us: window_s as u64 * US_PER_SECOND,
            slip: slip as u64,
        }
    }
}

/// Charges one response to the bucket `word` of the key whose hash has `tag` as its top
/// byte, at `now_us` (the monotonic clock, in microseconds): the word to store and what to do
/// with the response. A zero word is a bucket never charged.
#[inline(always)]
pub fn charge(word: u64, tag: u8, now_us: u64, limit: &RateLimit) -> (u64, Verdict) {
    let now = now_us & DUE_MASK;
    let ours = (word >> TAG_SHIFT) as u8 == tag && word != 0;
    let (stored, limited) = match ours {
        true => (word & DUE_MASK, (word >> LIMITED_SHIFT) & 0xff),
        false => (now, 0),
    };
    // A bucket due in the past is due now: what it earned since is capped at the burst.
    let owed = ahead(stored, now);
    let due = now + owed;
    let (due, limited, verdict) = if owed <= limit.burst_us {
        (due.wrapping_add(limit.interval_us), 0, Verdict::Answer)
    } else {
        // The debt grows with the flood, up to the window's worth.
        let most = limit.burst_us + limit.debt_us;
        let due = if owed + limit.interval_us <= most {
            due.wrapping_add(limit.interval_us)
        } else {
            now.wrapping_add(most)
        };
        let slips = limit.slip != 0;
        let verdict = if slips && limited == 0 {
            Verdict::Slip
        } else {
            Verdict::Drop
        };
        let limited = if slips {
            (limited + 1) % limit.slip.min(0xff)
        } else {
            0
        };
        (due, limited, verdict)
    };
    let word = (due & DUE_MASK) | (limited << LIMITED_SHIFT) | (u64::from(tag) << TAG_SHIFT);
    (word, verdict)
}

/// How far `due` is ahead of `now` (both [`DUE_BITS`] wide, wrapping), or 0 if it is not.
#[inline(always)]
fn ahead(due: u64, now: u64) -> u64 {
    let difference = due.wrapping_sub(now) & DUE_MASK;
    // More than half the range ahead means behind.
    if difference < 1 << (DUE_BITS - 1) {
        difference
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    const TAG: u8 = 0x5a;

    /// Charges `count` responses at `now_us`, returning the verdicts.
    fn burst(word: &mut u64, now_us: u64, count: usize, limit: &RateLimit) -> [usize; 3] {
        let mut tally = [0; 3];
        for _ in 0..count {
            let (next, verdict) = charge(*word, TAG, now_us, limit);
            *word = next;
            tally[verdict as usize] += 1;
        }
        tally
    }

    #[test]
    fn a_second_of_responses_at_once_then_the_rate() {
        let limit = RateLimit::new(10, 15, 0);
        let mut word = 0;
        let start = 5 * US_PER_SECOND;
        // A second's worth at once (and the one the burst starts with).
        assert_eq!(burst(&mut word, start, 20, &limit), [11, 0, 9]);
        // Once that is paid off, ten seconds at the rate are all answered.
        let paid = start + 3 * US_PER_SECOND;
        for tenth in 0..100u64 {
            let at = paid + tenth * US_PER_SECOND / 10;
            assert_eq!(burst(&mut word, at, 1, &limit), [1, 0, 0], "at {tenth}");
        }
        // A flood gets the burst and nothing more: limited responses cost too.
        let flood = paid + 11 * US_PER_SECOND;
        let mut answered = 0;
        for ms in 0..3000u64 {
            answered += burst(&mut word, flood + ms * 1000, 1, &limit)[0];
        }
        assert!(
            (11..=13).contains(&answered),
            "{answered} answered in a flood"
        );
    }

    #[test]
    fn the_first_limited_response_and_every_slipth_after_it_slip() {
        let limit = RateLimit::new(1, 15, 2);
        let mut word = 0;
        let now = US_PER_SECOND;
        assert_eq!(burst(&mut word, now, 2, &limit), [2, 0, 0]);
        let verdicts: [Verdict; 5] = core::array::from_fn(|_| {
            let (next, verdict) = charge(word, TAG, now, &limit);
            word = next;
            verdict
        });
        use Verdict::{Drop, Slip};
        assert_eq!(verdicts, [Slip, Drop, Slip, Drop, Slip]);
        // Still every other one (a drop next) after more limited responses than the counter
        // could hold.
        assert_eq!(burst(&mut word, now, 1001, &limit), [0, 500, 501]);
        // No slip drops everything; a slip of 1 slips everything.
        let (mut never, mut always) = (word, word);
        assert_eq!(
            burst(&mut never, now, 4, &RateLimit::new(1, 15, 0)),
            [0, 0, 4]
        );
        assert_eq!(
            burst(&mut always, now, 4, &RateLimit::new(1, 15, 1)),
            [0, 4, 0]
        );
    }

    #[test]
    fn a_flood_stays_limited_for_the_window_after_it_stops() {
        let limit = RateLimit::new(100, 5, 0);
        let mut word = 0;
        let start = 7 * US_PER_SECOND;
        // Ten seconds of flood at a thousand a second.
        for ms in 0..10_000u64 {
            burst(&mut word, start + ms * 1000, 1, &limit);
        }
        let end = start + 10 * US_PER_SECOND;
        // Quiet for four seconds: still limited (the debt is five seconds' worth).
        assert_eq!(
            burst(&mut word, end + 4 * US_PER_SECOND, 1, &limit),
            [0, 0, 1]
        );
        // Quiet for more than the window: a full second's worth again.
        let later = end + 7 * US_PER_SECOND;
        assert_eq!(burst(&mut word, later, 101, &limit)[0], 101);
    }

    #[test]
    fn another_key_in_the_slot_starts_afresh() {
        let limit = RateLimit::new(1, 15, 0);
        let mut word = 0;
        assert_eq!(burst(&mut word, US_PER_SECOND, 5, &limit), [2, 0, 3]);
        let (_, verdict) = charge(word, TAG ^ 1, US_PER_SECOND, &limit);
        assert_eq!(verdict, Verdict::Answer);
    }

    #[test]
    fn the_clock_wrapping_changes_nothing() {
        let limit = RateLimit::new(10, 15, 0);
        let mut word = 0;
        // Just before the due time wraps, and after.
        let before = DUE_MASK - US_PER_SECOND / 2;
        assert_eq!(burst(&mut word, before, 20, &limit), [11, 0, 9]);
        assert_eq!(burst(&mut word, DUE_MASK + 1, 1, &limit), [0, 0, 1]);
        // Two seconds after the first burst: due again.
        let after = (before + 2 * US_PER_SECOND) & DUE_MASK;
        assert_eq!(burst(&mut word, after, 1, &limit), [1, 0, 0]);
    }
}
