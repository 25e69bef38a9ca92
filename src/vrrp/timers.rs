//! VRRP timer arithmetic in integer microseconds: Skew_Time and Master_Down_Interval of
//! RFC 5798 §6.1 (VRRPv3) and RFC 3768 §6.1 (VRRPv2), rounded exactly as keepalived 2.2 does so
//! that failover timing matches a keepalived peer to the microsecond.
//!
//! VRRPv3: RFC 5798 writes Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256 with the
//! interval in centiseconds. keepalived 2.2 (`VRRP_TIMER_SKEW_CALC` in vrrp.h) keeps the interval
//! in µs, truncates it to whole centiseconds and multiplies by 10 000 / 256 (as 625 / 16), so the
//! skew is *not* rounded to a centisecond: priority 200 at 100 cs gives 218 750 µs, and
//! Master_Down_Interval = 3 × 1 s + 218.75 ms = 3 218 750 µs. (Rounding the skew down to whole
//! centiseconds would give 21 cs and 3.21 s; keepalived does not do that.)
//!
//! VRRPv2: Skew_Time = (256 − Priority) / 256 seconds, independent of the advertisement interval;
//! priority 100 at 1 s gives 609 375 µs and Master_Down_Interval 3 609 375 µs.
//!
//! keepalived uses the *effective* priority (configured plus tracking) in the skew, and
//! `down_timer_adverts` (default 3) as the multiplier; so do we. Checked against keepalived
//! 2.2.7's own state dump (SIGUSR1, "Master down timer"): 3218750 µs for v3 priority 200 at
//! 1 s, 3609375 µs for v2 priority 100 at 1 s.

use crate::time::Micros;

/// Microseconds in a centisecond, the VRRPv3 interval unit.
pub const MICROS_PER_CENTI: u64 = 10_000;

/// The multiplier of RFC 5798 §6.1 / RFC 3768 §6.1: adverts missed before the master is down.
pub const DEFAULT_DOWN_TIMER_ADVERTS: u8 = 3;

/// A VRRPv3 interval in centiseconds as µs.
pub fn centis(cs: u16) -> Micros {
    Micros(u64::from(cs) * MICROS_PER_CENTI)
}

/// Skew_Time for `priority` (a priority-0 sender never needs one; 0 gives 256 units).
pub fn skew_time(version: u8, priority: u8, master_adver_int: Micros) -> Micros {
    skew_units(version, 256 - u64::from(priority), master_adver_int)
}

/// keepalived's `VRRP_TIMER_SKEW_MIN`: the skew of one priority unit. A sync-group member
/// configured `state MASTER` waits one interval plus this before taking over at startup.
pub fn skew_time_min(version: u8, master_adver_int: Micros) -> Micros {
    skew_units(version, 1, master_adver_int)
}

fn skew_units(version: u8, units: u64, master_adver_int: Micros) -> Micros {
    if version == 3 {
        // Whole centiseconds first, then × 10_000 / 256 without a second rounding to cs.
        Micros(units * (master_adver_int.0 / MICROS_PER_CENTI) * 625 / 16)
    } else {
        Micros(units * 1_000_000 / 256)
    }
}

/// Master_Down_Interval = down_timer_adverts × Master_Adver_Interval + Skew_Time.
pub fn master_down_interval(
    version: u8,
    priority: u8,
    master_adver_int: Micros,
    down_timer_adverts: u8,
) -> Micros {
    let adverts = u64::from(down_timer_adverts).saturating_mul(master_adver_int.0);
    Micros(adverts.saturating_add(skew_time(version, priority, master_adver_int).0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_priority_200_at_100_centis() {
        assert_eq!(skew_time(3, 200, centis(100)), Micros(218_750));
        assert_eq!(
            master_down_interval(3, 200, centis(100), 3),
            Micros(3_218_750)
        );
    }

    #[test]
    fn v2_priority_100_at_1_second() {
        assert_eq!(skew_time(2, 100, Micros::from_secs(1)), Micros(609_375));
        assert_eq!(
            master_down_interval(2, 100, Micros::from_secs(1), 3),
            Micros(3_609_375)
        );
    }

    #[test]
    fn v2_skew_ignores_the_interval() {
        assert_eq!(skew_time(2, 100, Micros::from_secs(5)), Micros(609_375));
        assert_eq!(
            master_down_interval(2, 100, Micros::from_secs(5), 3),
            Micros(15_609_375)
        );
    }

    #[test]
    fn v3_skew_scales_with_the_interval() {
        // 128 at 1 s: half a second (the man page's preempt_delay example, "3.5 seconds").
        assert_eq!(
            master_down_interval(3, 128, centis(100), 3),
            Micros(3_500_000)
        );
        // 254 at 10 cs: 2 × 10 / 256 cs = 781.25 µs, truncated to 781.
        assert_eq!(skew_time(3, 254, centis(10)), Micros(781));
        assert_eq!(master_down_interval(3, 254, centis(10), 3), Micros(300_781));
    }

    #[test]
    fn priority_zero_and_owner_extremes() {
        assert_eq!(skew_time(3, 0, centis(100)), Micros(1_000_000));
        assert_eq!(skew_time(3, 255, centis(100)), Micros(3_906));
        assert_eq!(skew_time(2, 255, Micros::from_secs(1)), Micros(3_906));
        assert_eq!(skew_time_min(3, centis(100)), Micros(3_906));
        assert_eq!(skew_time_min(2, Micros::from_secs(1)), Micros(3_906));
    }

    #[test]
    fn down_timer_adverts_multiplier() {
        assert_eq!(
            master_down_interval(3, 200, centis(100), 1),
            Micros(1_218_750)
        );
        assert_eq!(
            master_down_interval(3, 200, centis(4095), 100),
            Micros(4_095_000_000 + 8_957_812)
        );
    }
}
