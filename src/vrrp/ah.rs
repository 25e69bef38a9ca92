//! The AH sequence number of a VRRPv2 instance with `auth_type AH`, by keepalived 2.2's rules
//! (its `ipsecah_counter`), which read RFC 2402 §3.3.2 / §3.4.3 in their own way:
//!
//! - one counter per instance serves both directions: it holds the highest sequence number
//!   accepted from a peer or sent by us, so a backup that takes over goes on from the old
//!   master's numbers and the other routers, which remember those, accept it;
//! - received: accepted only if strictly above the counter (no window), which then takes it;
//! - sent: the counter is incremented and sent (the first advert of a fresh instance is 1);
//!   above 0xFFFF_FFFD it stops counting and is marked cycled (the same number goes out again,
//!   and peers drop it as a replay); becoming master with a cycled counter starts again at 0;
//! - a master that hears a lower-priority advert takes that advert's number plus one (wrapping),
//!   so that its next advert (the one that makes the other step down) is above it;
//! - keepalived keeps the counter across a reload; keeplite also across a restart of its VRRP
//!   process (the watchdog holds the last reported counter), where a resumed master first skips
//!   the numbers the dead process may have sent after its last report ([`AhSequence::skip`]).
//!
//! The SPI (the sender's address) and the ICV are checked by [`super::advert`] before this.

/// keepalived stops counting above this value.
const LAST_COUNTED: u32 = 0xFFFF_FFFD;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AhSequence {
    /// Highest sequence number seen or sent.
    last: u32,
    cycled: bool,
}

impl AhSequence {
    pub const fn new() -> Self {
        AhSequence {
            last: 0,
            cycled: false,
        }
    }

    /// A counter as a previous run of the instance left it (`last()`, `cycled()`).
    pub const fn from_parts(last: u32, cycled: bool) -> Self {
        AhSequence { last, cycled }
    }

    /// Highest sequence number accepted or sent so far.
    pub fn last(&self) -> u32 {
        self.last
    }

    /// Whether the counter ran out (see the module comment).
    pub fn cycled(&self) -> bool {
        self.cycled
    }

    /// The sequence number of an advert about to be sent.
    pub fn next_to_send(&mut self) -> u32 {
        if self.last > LAST_COUNTED {
            self.cycled = true;
        } else {
            self.last += 1;
        }
        self.last
    }

    /// A received advert with a valid ICV: `false` (a replay) unless `seq` is above the counter.
    pub fn accept(&mut self, seq: u32) -> bool {
        if seq > self.last {
            self.last = seq;
            true
        } else {
            false
        }
    }

    /// An accepted advert while backup, or a better master's while master.
    pub fn clear_cycle(&mut self) {
        self.cycled = false;
    }

    /// Becoming master: a counter that ran out starts again.
    pub fn become_master(&mut self) {
        if self.cycled {
            self.cycled = false;
            self.last = 0;
        }
    }

    /// Moves the counter `n` numbers on (stopping at the top): numbers that may have gone out
    /// unrecorded, which peers would refuse as replays if sent again.
    pub fn skip(&mut self, n: u32) {
        self.last = self.last.saturating_add(n);
    }

    /// A master heard a lower-priority advert carrying `seq`.
    pub fn sync_from_lower(&mut self, seq: u32) {
        self.last = seq.wrapping_add(1);
        self.cycled = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_advert_is_one_and_sending_counts_up() {
        let mut s = AhSequence::new();
        assert_eq!((s.next_to_send(), s.next_to_send()), (1, 2));
        assert_eq!(s.last(), 2);
    }

    #[test]
    fn receive_needs_strictly_greater_and_shares_the_counter() {
        let mut s = AhSequence::new();
        assert!(s.accept(5));
        assert!(!s.accept(5), "a replay");
        assert!(!s.accept(4), "an older one");
        assert!(s.accept(9), "gaps are fine");
        // Taking over: we go on from the old master's numbers.
        assert_eq!(s.next_to_send(), 10);
        // Our own numbers count too: a peer still at 10 is refused.
        assert!(!s.accept(10));
        assert!(s.accept(11));
    }

    #[test]
    fn zero_is_never_accepted() {
        assert!(!AhSequence::new().accept(0));
    }

    #[test]
    fn counter_stops_at_the_top_and_restarts_on_becoming_master() {
        let mut s = AhSequence::new();
        assert!(s.accept(LAST_COUNTED));
        assert_eq!(s.next_to_send(), 0xFFFF_FFFE);
        assert!(!s.cycled());
        assert_eq!(s.next_to_send(), 0xFFFF_FFFE);
        assert!(s.cycled());
        s.become_master();
        assert!(!s.cycled());
        assert_eq!(s.next_to_send(), 1);
        // Not cycled: becoming master keeps the count.
        s.become_master();
        assert_eq!(s.next_to_send(), 2);
        // clear_cycle keeps the number.
        let mut t = AhSequence::new();
        t.accept(0xFFFF_FFFF);
        t.next_to_send();
        assert!(t.cycled());
        t.clear_cycle();
        assert_eq!((t.cycled(), t.last()), (false, 0xFFFF_FFFF));
    }

    #[test]
    fn a_kept_counter_goes_on_and_skipping_stops_at_the_top() {
        let mut s = AhSequence::from_parts(70, false);
        s.skip(64);
        assert_eq!(s.next_to_send(), 135);
        let mut t = AhSequence::from_parts(0xFFFF_FFF0, false);
        t.skip(64);
        assert_eq!(t.last(), u32::MAX);
        // Past the top: the same number again, as keepalived does.
        assert_eq!((t.next_to_send(), t.cycled()), (u32::MAX, true));
        let kept = AhSequence::from_parts(t.last(), t.cycled());
        assert_eq!(kept, t);
    }

    #[test]
    fn lower_priority_advert_sets_the_counter_above_it() {
        let mut s = AhSequence::new();
        s.accept(100);
        assert!(s.accept(140));
        s.sync_from_lower(140);
        assert_eq!(s.next_to_send(), 142);
        s.sync_from_lower(u32::MAX);
        assert_eq!(s.last(), 0);
    }
}
