//! Monotonic time as integer microseconds: what the sans-IO state machines are fed and return.

pub use crate::config::model::Micros;

/// A point on the monotonic clock, in microseconds since an arbitrary origin (boot, or 0 in tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

impl Instant {
    pub fn saturating_since(self, earlier: Instant) -> Micros {
        Micros(self.0.saturating_sub(earlier.0))
    }
}

impl core::ops::Add<Micros> for Instant {
    type Output = Instant;
    fn add(self, d: Micros) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl core::ops::Sub<Micros> for Instant {
    type Output = Instant;
    fn sub(self, d: Micros) -> Instant {
        Instant(self.0.saturating_sub(d.0))
    }
}
