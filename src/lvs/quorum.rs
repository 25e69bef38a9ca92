//! A virtual server's quorum with hysteresis, as keepalived's ipwrapper.c keeps it: gained when
//! the live weight reaches quorum + hysteresis, lost when it falls below quorum − hysteresis
//! (or to nothing), and sticky in between.

use crate::config::VirtualServer;

/// A change of quorum the daemon acts on: run `quorum_up` / `quorum_down`, write the FIFO line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuorumChange {
    Up,
    Down,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuorumState {
    up: bool,
}

impl QuorumState {
    /// The first evaluation, once the real servers without failed checkers are in the pool.
    /// keepalived starts every virtual server without quorum and reports "starting with quorum
    /// up" (quorum_up runs) when the live weight reaches quorum + hysteresis; starting without
    /// quorum is only reported (quorum_down runs, the sorry server goes in) when the virtual
    /// server has a sorry server.
    pub fn start(vs: &VirtualServer, live_weight: u64) -> (QuorumState, Option<QuorumChange>) {
        let (quorum, hysteresis) = thresholds(vs);
        if gains(live_weight, quorum, hysteresis) {
            (QuorumState { up: true }, Some(QuorumChange::Up))
        } else {
            let change = vs.sorry_server.is_some().then_some(QuorumChange::Down);
            (QuorumState { up: false }, change)
        }
    }

    /// Re-evaluates after a real server's state or weight changed.
    pub fn update(&mut self, vs: &VirtualServer, live_weight: u64) -> Option<QuorumChange> {
        let (quorum, hysteresis) = thresholds(vs);
        if self.up {
            // Lost below quorum − hysteresis, or when nothing is left at all.
            if live_weight == 0 || live_weight < quorum - hysteresis {
                self.up = false;
                return Some(QuorumChange::Down);
            }
        } else if gains(live_weight, quorum, hysteresis) {
            self.up = true;
            return Some(QuorumChange::Up);
        }
        None
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// A state for tests and for carrying a state across a reload, as keepalived copies
    /// `quorum_state_up` to the reloaded virtual server.
    pub fn with_up(up: bool) -> Self {
        QuorumState { up }
    }
}

/// Regained at quorum + hysteresis; a live weight of 0 never holds quorum (it would be lost again
/// at once, see `update`).
fn gains(live_weight: u64, quorum: u64, hysteresis: u64) -> bool {
    live_weight > 0 && live_weight >= quorum + hysteresis
}

/// The quorum and hysteresis keepalived's config check leaves: a quorum above the summed
/// configured weights is lowered to that sum (it could never be met), and the hysteresis is
/// kept below the quorum.
pub fn thresholds(vs: &VirtualServer) -> (u64, u64) {
    let total: u64 = vs.real_servers.iter().map(|rs| u64::from(rs.weight)).sum();
    let quorum = u64::from(vs.quorum).min(total);
    let hysteresis = u64::from(vs.hysteresis).min(quorum.saturating_sub(1));
    (quorum, hysteresis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_str, Config};

    fn vs(text: &str) -> VirtualServer {
        let c: Config = parse_str("t.conf", text).config;
        c.virtual_servers
            .into_iter()
            .next()
            .expect("one virtual server")
    }

    fn four_servers(extra: &str) -> VirtualServer {
        vs(&format!(
            "virtual_server 10.0.0.1 80 {{
                {extra}
                real_server 10.0.1.1 80 {{ }}
                real_server 10.0.1.2 80 {{ }}
                real_server 10.0.1.3 80 {{ }}
                real_server 10.0.1.4 80 {{ }}
            }}"
        ))
    }

    #[test]
    fn hysteresis_makes_quorum_sticky() {
        // quorum 3 ± 1: gained at 4, lost below 2.
        let v = four_servers("quorum 3\n hysteresis 1");
        assert_eq!(thresholds(&v), (3, 1));
        let (mut q, change) = QuorumState::start(&v, 3);
        assert_eq!(change, None, "3 < 3+1 and no sorry server: silent start");
        assert!(!q.is_up());
        assert_eq!(q.update(&v, 3), None);
        assert_eq!(q.update(&v, 4), Some(QuorumChange::Up));
        assert_eq!(q.update(&v, 3), None, "3 >= 3-1: kept");
        assert_eq!(q.update(&v, 2), None, "2 >= 3-1: kept");
        assert_eq!(q.update(&v, 1), Some(QuorumChange::Down));
        assert_eq!(q.update(&v, 1), None);
        assert_eq!(q.update(&v, 3), None, "3 < 3+1: still down");
        assert_eq!(q.update(&v, 4), Some(QuorumChange::Up));
    }

    #[test]
    fn without_hysteresis() {
        let v = four_servers("quorum 2");
        let (mut q, change) = QuorumState::start(&v, 2);
        assert_eq!(change, Some(QuorumChange::Up), "starting with quorum up");
        assert_eq!(q.update(&v, 1), Some(QuorumChange::Down));
        assert_eq!(q.update(&v, 2), Some(QuorumChange::Up));
    }

    #[test]
    fn starting_down_is_reported_only_with_a_sorry_server() {
        let plain = four_servers("quorum 2");
        assert_eq!(
            QuorumState::start(&plain, 0),
            (QuorumState::with_up(false), None)
        );
        let sorry = four_servers("quorum 2\n sorry_server 10.0.2.1 80");
        assert_eq!(
            QuorumState::start(&sorry, 0),
            (QuorumState::with_up(false), Some(QuorumChange::Down))
        );
    }

    #[test]
    fn zero_live_weight_loses_quorum_even_within_hysteresis() {
        let v = four_servers("quorum 1\n hysteresis 5");
        // hysteresis is cut to quorum − 1 = 0.
        assert_eq!(thresholds(&v), (1, 0));
        let (mut q, _) = QuorumState::start(&v, 1);
        assert!(q.is_up());
        assert_eq!(q.update(&v, 0), Some(QuorumChange::Down));
    }

    #[test]
    fn quorum_above_total_weight_is_lowered() {
        let v = four_servers("quorum 10");
        assert_eq!(thresholds(&v), (4, 0));
        let (q, change) = QuorumState::start(&v, 4);
        assert!(q.is_up());
        assert_eq!(change, Some(QuorumChange::Up));
    }
}
