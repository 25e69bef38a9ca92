//! Per-instance VRRP counters: adverts in and out, transitions, and one counter per reason an
//! advert was dropped (RFC 5798 §6.4.2/§6.4.3 receive checks; keepalived's `vrrp_stats`).

/// Why a received advertisement was not acted on. Each reason has its own counter in [`Stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Multicast advert whose IPv4 TTL / IPv6 hop limit is not 255, or a unicast advert outside
    /// the peer's `min_ttl`..`max_ttl`.
    Ttl,
    /// VRRP version differs from the instance's.
    Version,
    /// VRID is not this instance's (the daemon normally routes by VRID first).
    Vrid,
    /// VRRPv2 auth type unknown or different from ours (including AH present/absent).
    AuthType,
    /// VRRPv2 simple password differs.
    AuthFailure,
    /// `auth_type AH`: the ICV does not match (another key, or a changed packet).
    AhIcv,
    /// `auth_type AH`: the SPI is not the sender's address (keepalived's rule).
    AhSpi,
    /// `auth_type AH`: the sequence number is not above the last one seen or sent (a replay).
    AhSequence,
    /// Count IPvX Addrs differs from the number of VIPs we advertise.
    AddressCount,
    /// One of our advertised VIPs is missing from the advert.
    AddressList,
    /// VRRPv2 Adver Int differs from ours, or a VRRPv3 Max Adver Int of 0.
    Interval,
    /// `check_unicast_src`: the sender is not one of our `unicast_peer`s.
    UnicastSource,
    /// Multicast advert on a unicast instance, or unicast advert on a multicast one.
    CastMismatch,
    /// The instance is in Initialize or Fault and ignores adverts (keepalived does too).
    NotRunning,
}

/// Counters, all monotonically increasing `u64`s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Adverts that passed every check and were processed by the state machine.
    pub adverts_received: u64,
    pub adverts_sent: u64,
    pub become_master: u64,
    pub release_master: u64,
    pub priority_zero_received: u64,
    pub priority_zero_sent: u64,
    pub ttl_error: u64,
    pub version_error: u64,
    pub vrid_error: u64,
    pub auth_type_error: u64,
    pub auth_failure: u64,
    pub ah_icv_failure: u64,
    pub ah_spi_error: u64,
    pub ah_sequence_error: u64,
    pub address_count_error: u64,
    pub address_list_error: u64,
    pub interval_error: u64,
    pub unicast_source_error: u64,
    pub cast_error: u64,
    pub not_running: u64,
    /// Actions lost because the daemon did not drain `poll_action` (queue full).
    pub actions_dropped: u64,
    /// Delayed lower-priority GARP rounds not scheduled because too many were pending.
    pub garp_lower_prio_dropped: u64,
}

impl Stats {
    pub fn count_drop(&mut self, reason: DropReason) {
        let counter = match reason {
            DropReason::Ttl => &mut self.ttl_error,
            DropReason::Version => &mut self.version_error,
            DropReason::Vrid => &mut self.vrid_error,
            DropReason::AuthType => &mut self.auth_type_error,
            DropReason::AuthFailure => &mut self.auth_failure,
            DropReason::AhIcv => &mut self.ah_icv_failure,
            DropReason::AhSpi => &mut self.ah_spi_error,
            DropReason::AhSequence => &mut self.ah_sequence_error,
            DropReason::AddressCount => &mut self.address_count_error,
            DropReason::AddressList => &mut self.address_list_error,
            DropReason::Interval => &mut self.interval_error,
            DropReason::UnicastSource => &mut self.unicast_source_error,
            DropReason::CastMismatch => &mut self.cast_error,
            DropReason::NotRunning => &mut self.not_running,
        };
        *counter += 1;
    }

    /// The counter for one drop reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::Ttl => self.ttl_error,
            DropReason::Version => self.version_error,
            DropReason::Vrid => self.vrid_error,
            DropReason::AuthType => self.auth_type_error,
            DropReason::AuthFailure => self.auth_failure,
            DropReason::AhIcv => self.ah_icv_failure,
            DropReason::AhSpi => self.ah_spi_error,
            DropReason::AhSequence => self.ah_sequence_error,
            DropReason::AddressCount => self.address_count_error,
            DropReason::AddressList => self.address_list_error,
            DropReason::Interval => self.interval_error,
            DropReason::UnicastSource => self.unicast_source_error,
            DropReason::CastMismatch => self.cast_error,
            DropReason::NotRunning => self.not_running,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_counter() {
        let all = [
            DropReason::Ttl,
            DropReason::Version,
            DropReason::Vrid,
            DropReason::AuthType,
            DropReason::AuthFailure,
            DropReason::AhIcv,
            DropReason::AhSpi,
            DropReason::AhSequence,
            DropReason::AddressCount,
            DropReason::AddressList,
            DropReason::Interval,
            DropReason::UnicastSource,
            DropReason::CastMismatch,
            DropReason::NotRunning,
        ];
        let mut s = Stats::default();
        for (k, r) in all.iter().enumerate() {
            for _ in 0..=k {
                s.count_drop(*r);
            }
        }
        for (k, r) in all.iter().enumerate() {
            assert_eq!(s.dropped(*r), k as u64 + 1, "{r:?}");
        }
    }
}
