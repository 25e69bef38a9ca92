//! The monotonic clock (CLOCK_MONOTONIC, clock_gettime(2)) in the integer microseconds that the
//! sans-IO state machines and the event loop's timerfd (also CLOCK_MONOTONIC) share.

use crate::time::Instant;
use rustix::time::{clock_gettime, ClockId, Timespec};

/// Now on CLOCK_MONOTONIC, in microseconds. Truncates the nanoseconds: a deadline computed from
/// this value is never earlier than the true one by more than 1 µs.
pub fn now() -> Instant {
    from_timespec(&clock_gettime(ClockId::Monotonic))
}

/// A monotonic timespec as an `Instant`; negative fields (not produced by CLOCK_MONOTONIC) clamp
/// to zero rather than wrapping.
pub fn from_timespec(ts: &Timespec) -> Instant {
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let micros = u64::try_from(ts.tv_nsec).unwrap_or(0) / 1_000;
    Instant(secs.saturating_mul(1_000_000).saturating_add(micros))
}

/// An `Instant` as a timespec on the same clock, for absolute timers (TFD_TIMER_ABSTIME).
pub fn to_timespec(at: Instant) -> Timespec {
    Timespec {
        // u64 µs / 10^6 fits in i64 for any u64 input.
        tv_sec: (at.0 / 1_000_000) as i64,
        tv_nsec: ((at.0 % 1_000_000) * 1_000) as _,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_nonzero() {
        let a = now();
        let b = now();
        assert!(b >= a);
        assert!(a.0 > 0);
    }

    #[test]
    fn timespec_round_trip() {
        let at = Instant(12_345_678_901);
        let ts = to_timespec(at);
        assert_eq!(ts.tv_sec, 12_345);
        assert_eq!(ts.tv_nsec, 678_901_000);
        assert_eq!(from_timespec(&ts), at);
        let neg = Timespec {
            tv_sec: -1,
            tv_nsec: 5,
        };
        assert_eq!(from_timespec(&neg), Instant(0));
    }
}
