//! What the health checkers say about each real server, in keepalived's terms (check_api.c,
//! ipwrapper.c): a real server is alive while none of its checkers has failed, and its IPVS
//! weight is the configured weight plus what dynamic checkers add.

use crate::config::compact::Few;
use crate::config::{CheckKind, Config, RealServer, VirtualServer};

/// The largest weight IPVS stores: the kernel keeps it in an `int` and refuses negatives.
pub const IPVS_WEIGHT_MAX: i64 = i32::MAX as i64;

/// Where a checker sits in the config: `Config::virtual_servers[vs].real_servers[rs].checkers[checker]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckerId {
    pub vs: usize,
    pub rs: usize,
    pub checker: usize,
}

/// One checker's standing, as keepalived's `checker_t` keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckerHealth {
    /// `false` counts the checker among the real server's failed ones (`num_failed_checkers`).
    pub up: bool,
    /// A result has come in. An alpha checker's first failure is reported once even though it
    /// changes nothing (keepalived runs notify_down for it).
    pub has_run: bool,
    /// What this checker adds to the real server's configured weight (keepalived's
    /// `cur_weight`): MISC_CHECK with `misc_dynamic`, FILE_CHECK with a `weight`. 0 otherwise.
    pub weight: i64,
}

/// One real server's standing: keepalived's `alive` and `effective_weight`, and, when the
/// health is fed per checker, each checker's share of them.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RealServerHealth {
    /// In the pool as far as health goes (keepalived's `ISALIVE(rs)`).
    pub alive: bool,
    /// The configured weight plus what dynamic checkers add, before IPVS's limits.
    pub effective_weight: i64,
    /// The checkers, in config order. Fed per real server (see `Lvs::real_server`), these are
    /// left as they are and mean nothing.
    pub checkers: Few<CheckerHealth>,
}

impl RealServerHealth {
    /// A server whose `alive` and `effective_weight` follow its checkers: alive while no
    /// checker has failed (always, without checkers), weighing the configured weight plus every
    /// checker's addition.
    pub fn from_checkers(configured: u32, checkers: Vec<CheckerHealth>) -> Self {
        let mut h = RealServerHealth {
            alive: false,
            effective_weight: 0,
            checkers: Few::from(checkers),
        };
        h.follow_checkers(configured);
        h
    }

    /// Recomputes `alive` and `effective_weight` from the checkers.
    pub fn follow_checkers(&mut self, configured: u32) {
        self.alive = self.checkers.iter().all(|c| c.up);
        self.effective_weight = self
            .checkers
            .iter()
            .fold(i64::from(configured), |w, c| w.saturating_add(c.weight));
    }

    pub fn is_alive(&self) -> bool {
        self.alive
    }

    /// The weight IPVS gets while the server is alive.
    pub fn ipvs_weight(&self) -> u32 {
        ipvs_weight(self.effective_weight)
    }
}

/// The health of every real server of every virtual server, shaped like the `Config` it was
/// built from (indices follow `Config::virtual_servers` and each `real_servers`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HealthState {
    virtual_servers: Vec<Vec<RealServerHealth>>,
}

impl HealthState {
    /// The state at start, before any check has run: a checker in alpha mode starts failed (so
    /// its real server is down until the first success), any other starts up. FILE_CHECK has no
    /// alpha: it starts up with no weight, and the caller sets what the tracked file says with
    /// [`HealthState::set_checker`] before starting the pool, as keepalived reads the files
    /// before it fills IPVS.
    pub fn initial(config: &Config) -> Self {
        let virtual_servers = config
            .virtual_servers
            .iter()
            .map(|vs| {
                vs.real_servers
                    .iter()
                    .map(|rs| {
                        let checkers = (0..rs.checkers.len())
                            .map(|i| CheckerHealth {
                                up: !alpha(vs, rs, i),
                                has_run: false,
                                weight: 0,
                            })
                            .collect();
                        RealServerHealth::from_checkers(rs.weight, checkers)
                    })
                    .collect()
            })
            .collect();
        HealthState { virtual_servers }
    }

    pub fn real_server(&self, vs: usize, rs: usize) -> Option<&RealServerHealth> {
        self.virtual_servers.get(vs)?.get(rs)
    }

    pub fn checker(&self, id: CheckerId) -> Option<&CheckerHealth> {
        self.real_server(id.vs, id.rs)?.checkers.get(id.checker)
    }

    /// Sets a checker's state and weight addition without reporting anything (for the state
    /// before start); its real server follows. `false` when the checker is unknown.
    pub fn set_checker(&mut self, config: &Config, id: CheckerId, up: bool, weight: i64) -> bool {
        let Some(configured) = config
            .virtual_servers
            .get(id.vs)
            .and_then(|vs| vs.real_servers.get(id.rs))
            .map(|rs| rs.weight)
        else {
            return false;
        };
        let Some(h) = self.real_server_mut(id.vs, id.rs) else {
            return false;
        };
        let Some(checker) = h.checkers.get_mut(id.checker) else {
            return false;
        };
        checker.up = up;
        checker.weight = weight;
        h.follow_checkers(configured);
        true
    }

    pub fn real_server_mut(&mut self, vs: usize, rs: usize) -> Option<&mut RealServerHealth> {
        self.virtual_servers.get_mut(vs)?.get_mut(rs)
    }

    /// A real server this state does not know (built from another config) counts as down.
    pub fn is_alive(&self, vs: usize, rs: usize) -> bool {
        self.real_server(vs, rs).is_some_and(|h| h.is_alive())
    }

    /// The weight IPVS gets for an alive real server: configured plus dynamic, within
    /// 0..=[`IPVS_WEIGHT_MAX`] (keepalived's `real_weight`); 0 for one this state does not know.
    pub fn ipvs_weight(&self, vs: usize, rs: usize) -> u32 {
        self.real_server(vs, rs).map_or(0, |h| h.ipvs_weight())
    }

    /// The summed IPVS weight of the alive real servers of a virtual server: what quorum is
    /// measured against (keepalived's `weigh_live_realservers`). A real server displaced by the
    /// sorry server still counts: it is alive, only kept out of the pool.
    pub fn live_weight(&self, config: &Config, vs: usize) -> u64 {
        let Some(cfg) = config.virtual_servers.get(vs) else {
            return 0;
        };
        (0..cfg.real_servers.len())
            .filter(|&rs| self.is_alive(vs, rs))
            .map(|rs| u64::from(self.ipvs_weight(vs, rs)))
            .sum()
    }
}

/// keepalived's `real_weight`: an effective weight as IPVS can hold it.
pub fn ipvs_weight(effective: i64) -> u32 {
    // The clamp bounds the value to 0..=i32::MAX, which always fits a u32.
    u32::try_from(effective.clamp(0, IPVS_WEIGHT_MAX)).unwrap_or(0)
}

/// Whether a checker starts failed: the checker's own `alpha`, else the real server's, else the
/// virtual server's (`alpha` in its block or in its checker timing defaults).
pub fn alpha(vs: &VirtualServer, rs: &RealServer, checker: usize) -> bool {
    let own = rs.checkers.get(checker).and_then(|c| {
        if matches!(c.kind, CheckKind::File(_)) {
            // FILE_CHECK starts from the file's content, never from alpha.
            Some(false)
        } else {
            c.timing.alpha
        }
    });
    own.or(rs.timing.alpha)
        .or(vs.timing.alpha)
        .unwrap_or(vs.alpha)
}

/// The weight a MISC_CHECK with `misc_dynamic` adds for an exit status, or `None` for a failure
/// (status 1, or anything above 255): exit 2..=255 sets the real server's weight to status − 2,
/// i.e. adds `status − 2 − configured`; exit 0 is a plain success and goes back to the
/// configured weight (adds 0), as keepalived 2.x does for a dynamic checker.
pub fn misc_dynamic_weight(exit_status: u32, configured: u32) -> Option<i64> {
    match exit_status {
        0 => Some(0),
        2..=255 => Some(i64::from(exit_status) - 2 - i64::from(configured)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    fn config(text: &str) -> Config {
        let loaded = parse_str("test.conf", text);
        loaded.config
    }

    #[test]
    fn effective_weight_adds_checker_weights_and_clamps() {
        let mut h = RealServerHealth::from_checkers(
            3,
            vec![
                CheckerHealth {
                    up: true,
                    has_run: true,
                    weight: 5,
                },
                CheckerHealth {
                    up: true,
                    has_run: true,
                    weight: -2,
                },
            ],
        );
        assert_eq!((h.alive, h.effective_weight, h.ipvs_weight()), (true, 6, 6));
        h.checkers[1].weight = -20;
        h.checkers[0].up = false;
        h.follow_checkers(3);
        assert_eq!(
            (h.alive, h.effective_weight, h.ipvs_weight()),
            (false, -12, 0)
        );
        assert_eq!(ipvs_weight(-7), 0);
        assert_eq!(ipvs_weight(i64::MAX), i32::MAX as u32);
        assert_eq!(ipvs_weight(42), 42);
    }

    #[test]
    fn misc_dynamic_exit_codes() {
        // exit 10 with configured weight 3: the weight becomes 8.
        assert_eq!(misc_dynamic_weight(10, 3), Some(5));
        assert_eq!(misc_dynamic_weight(2, 3), Some(-3));
        assert_eq!(misc_dynamic_weight(255, 1), Some(252));
        assert_eq!(misc_dynamic_weight(0, 3), Some(0));
        assert_eq!(misc_dynamic_weight(1, 3), None);
        assert_eq!(misc_dynamic_weight(256, 3), None);
    }

    #[test]
    fn alpha_is_taken_from_checker_then_real_server_then_virtual_server() {
        let c = config(
            "virtual_server 10.0.0.1 80 {
                alpha
                real_server 10.0.1.1 80 {
                    TCP_CHECK {
                    }
                    TCP_CHECK {
                        alpha no
                    }
                }
                real_server 10.0.1.2 80 {
                    alpha no
                    TCP_CHECK {
                    }
                    TCP_CHECK {
                        alpha yes
                    }
                }
                real_server 10.0.1.3 80 {
                }
            }",
        );
        let h = HealthState::initial(&c);
        let up = |vs, rs, checker| h.checker(CheckerId { vs, rs, checker }).map(|c| c.up);
        assert_eq!(up(0, 0, 0), Some(false), "VS alpha");
        assert_eq!(up(0, 0, 1), Some(true), "checker alpha no");
        assert_eq!(up(0, 1, 0), Some(true), "RS alpha no");
        assert_eq!(up(0, 1, 1), Some(false), "checker alpha yes");
        assert!(!h.is_alive(0, 0));
        assert!(!h.is_alive(0, 1));
        assert!(h.is_alive(0, 2), "no checker: alive");
        assert!(!h.is_alive(0, 9), "unknown: down");
    }
}
