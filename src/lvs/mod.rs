//! Load balancing without I/O: the IPVS table the config and the health verdicts call for, and
//! the minimal changes that bring the kernel's table there, with keepalived 2.2's semantics
//! (check/ipwrapper.c): weights, inhibit_on_failure, quorum with hysteresis, sorry_server,
//! alpha and omega.
//!
//! The daemon feeds [`Lvs`] the verdicts, per checker ([`Lvs::checker_result`],
//! [`Lvs::checker_weight`]) or per real server ([`Lvs::real_server`], for a checker layer that
//! aggregates its checkers itself); each [`Update`] says which notify scripts to run
//! and which virtual server's services to recompute ([`Lvs::virtual_server_table`]) and diff
//! ([`diff::diff`]) against the kernel's table before sending the [`diff::Op`]s.

pub mod desired;
pub mod diff;
pub mod health;
pub mod quorum;

#[cfg(test)]
mod tests;

pub use desired::{desired, owned_keys, Table};
pub use diff::{diff, ops_to_remove_all, Op};
pub use health::{CheckerHealth, CheckerId, HealthState, RealServerHealth};
pub use quorum::{QuorumChange, QuorumState};

use crate::config::Config;

/// Something the daemon acts on: run a notify script, write the `lvs_notify_fifo` line, send
/// the SMTP alert. Indices are into `Config::virtual_servers` and its `real_servers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The real server's `notify_up`.
    RealServerUp { vs: usize, rs: usize },
    /// The real server's `notify_down`.
    RealServerDown { vs: usize, rs: usize },
    /// The virtual server's `quorum_up`.
    QuorumUp { vs: usize },
    /// The virtual server's `quorum_down`.
    QuorumDown { vs: usize },
}

/// What one checker verdict changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Update {
    /// The real server went up or down (or, for an alpha checker's first failure, is reported
    /// down once more, as keepalived does).
    pub real_server: Option<Event>,
    /// The virtual server gained or lost quorum; comes after `real_server`.
    pub quorum: Option<Event>,
    /// The virtual server whose wanted services may differ now.
    pub changed: Option<usize>,
}

impl Update {
    /// The events in the order keepalived runs their scripts.
    pub fn events(&self) -> impl Iterator<Item = Event> {
        self.real_server.into_iter().chain(self.quorum)
    }
}

/// The pool's state: every checker's verdict and every virtual server's quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lvs {
    health: HealthState,
    quorum: Vec<QuorumState>,
}

impl Lvs {
    /// Starts the pool from `health` (usually [`HealthState::initial`], with FILE_CHECK values
    /// filled in) and evaluates each virtual server's quorum once, as keepalived does when it
    /// first fills IPVS. The events are the quorum notifications of that start.
    pub fn start(config: &Config, health: HealthState) -> (Lvs, Vec<Event>) {
        Self::start_with(config, health, |_| None)
    }

    /// [`Lvs::start`] after a reload: a virtual server whose quorum state `known` gives (the
    /// old config had it) keeps that state, as keepalived copies `quorum_state_up`, and is
    /// re-evaluated from it: an event only if it changes. The others start as new.
    pub fn start_with(
        config: &Config,
        health: HealthState,
        known: impl Fn(usize) -> Option<bool>,
    ) -> (Lvs, Vec<Event>) {
        let mut events = Vec::new();
        let quorum = config
            .virtual_servers
            .iter()
            .enumerate()
            .map(|(i, vs)| {
                let live = health.live_weight(config, i);
                let (state, change) = match known(i) {
                    Some(up) => {
                        let mut state = QuorumState::with_up(up);
                        let change = state.update(vs, live);
                        (state, change)
                    }
                    None => QuorumState::start(vs, live),
                };
                events.extend(change.map(|c| quorum_event(i, c)));
                state
            })
            .collect();
        (Lvs { health, quorum }, events)
    }

    pub fn health(&self) -> &HealthState {
        &self.health
    }

    /// Whether the virtual server holds quorum (an unknown one does, so it never summons a
    /// sorry server).
    pub fn quorum_up(&self, vs: usize) -> bool {
        self.quorum.get(vs).is_none_or(|q| q.is_up())
    }

    pub fn quorum_states(&self) -> &[QuorumState] {
        &self.quorum
    }

    /// A checker's verdict: `up` true for success, false for failure (after its retries). An
    /// unknown checker changes nothing.
    pub fn checker_result(&mut self, config: &Config, id: CheckerId, up: bool) -> Update {
        let Some(configured) = configured_weight(config, id.vs, id.rs) else {
            return Update::default();
        };
        let Some(h) = self.health.real_server_mut(id.vs, id.rs) else {
            return Update::default();
        };
        let was_alive = h.alive;
        let Some(checker) = h.checkers.get_mut(id.checker) else {
            return Update::default();
        };
        let first = !checker.has_run;
        checker.has_run = true;
        if checker.up == up {
            // An alpha checker starts failed; keepalived still reports its first failure.
            let real_server = (first && !up).then_some(Event::RealServerDown {
                vs: id.vs,
                rs: id.rs,
            });
            return Update {
                real_server,
                ..Update::default()
            };
        }
        checker.up = up;
        h.follow_checkers(configured);
        if h.alive == was_alive {
            // Another checker of the same real server still fails.
            return Update::default();
        }
        let alive = h.alive;
        self.alive_changed(config, id.vs, id.rs, alive)
    }

    /// A dynamic checker's new weight addition (see [`CheckerHealth::weight`] and
    /// [`health::misc_dynamic_weight`]). Only a change of the resulting IPVS weight counts.
    pub fn checker_weight(&mut self, config: &Config, id: CheckerId, weight: i64) -> Update {
        let Some(configured) = configured_weight(config, id.vs, id.rs) else {
            return Update::default();
        };
        let Some(h) = self.health.real_server_mut(id.vs, id.rs) else {
            return Update::default();
        };
        let before = h.ipvs_weight();
        let Some(checker) = h.checkers.get_mut(id.checker) else {
            return Update::default();
        };
        checker.weight = weight;
        h.follow_checkers(configured);
        if h.ipvs_weight() == before {
            return Update::default();
        }
        self.weight_changed(config, id.vs)
    }

    /// A real server's verdict as a whole, for a checker layer that aggregates its checkers
    /// itself (`check::RealServerVerdict`'s `Up { weight }`, `Down`, `Weight`): `alive`, and
    /// the weight (configured plus dynamic) it has while alive. Feed a real server either this
    /// way or per checker, not both. An alpha checker's first failure is the caller's to
    /// report here.
    pub fn real_server(
        &mut self,
        config: &Config,
        vs: usize,
        rs: usize,
        alive: bool,
        weight: u32,
    ) -> Update {
        let Some(h) = self.health.real_server_mut(vs, rs) else {
            return Update::default();
        };
        let (was_alive, was_weight) = (h.alive, h.ipvs_weight());
        h.alive = alive;
        h.effective_weight = i64::from(weight);
        if alive != was_alive {
            self.alive_changed(config, vs, rs, alive)
        } else if h.ipvs_weight() != was_weight {
            self.weight_changed(config, vs)
        } else {
            Update::default()
        }
    }

    /// The whole wanted table.
    pub fn desired(&self, config: &Config) -> Table {
        desired::desired(config, &self.health, &self.quorum)
    }

    /// The wanted services of one virtual server, after an [`Update`] named it.
    pub fn virtual_server_table(&self, config: &Config, vs: usize) -> Table {
        desired::virtual_server_table(config, vs, &self.health, self.quorum_up(vs))
    }

    /// The notifications keepalived sends at shutdown for virtual servers with `omega`: each
    /// alive real server still in the pool goes down (notify_down), then the virtual server
    /// loses quorum (quorum_down, whatever its state was). Without omega, nothing runs.
    pub fn shutdown_actions(&self, config: &Config) -> Vec<Event> {
        let mut events = Vec::new();
        for (v, vs) in config.virtual_servers.iter().enumerate() {
            if !vs.omega {
                continue;
            }
            for r in 0..vs.real_servers.len() {
                if self.in_pool(config, v, r) {
                    events.push(Event::RealServerDown { vs: v, rs: r });
                }
            }
            events.push(Event::QuorumDown { vs: v });
        }
        events
    }

    /// The notifications keepalived sends for what a reload drops (ipwrapper.c
    /// clear_diff_services, whatever `omega`): each dropped real server still in the pool goes
    /// down; a virtual server dropped as a whole then loses its quorum if it held it. `kept(v)`
    /// is the new config's virtual server for `v`, if any; `kept_rs(v, r)` whether the new
    /// config still has real server `r` of `v`. (Whether the servers left behind in a kept
    /// virtual server still hold quorum is for [`Lvs::start_with`] to say.)
    pub fn reload_drop_actions(
        &self,
        config: &Config,
        kept: impl Fn(usize) -> bool,
        kept_rs: impl Fn(usize, usize) -> bool,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        for (v, vs) in config.virtual_servers.iter().enumerate() {
            let whole = !kept(v);
            for r in 0..vs.real_servers.len() {
                if (whole || !kept_rs(v, r)) && self.in_pool(config, v, r) {
                    events.push(Event::RealServerDown { vs: v, rs: r });
                }
            }
            if whole && self.quorum_up(v) {
                events.push(Event::QuorumDown { vs: v });
            }
        }
        events
    }

    /// keepalived notifies the servers it removes from IPVS: an alive one the sorry server
    /// displaced is not there any more (unless inhibit kept it with weight 0).
    fn in_pool(&self, config: &Config, v: usize, r: usize) -> bool {
        let Some(vs) = config.virtual_servers.get(v) else {
            return false;
        };
        let Some(rs) = vs.real_servers.get(r) else {
            return false;
        };
        let sorry_serving = vs.sorry_server.is_some() && !self.quorum_up(v);
        let inhibit = rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure);
        self.health.is_alive(v, r) && (!sorry_serving || inhibit)
    }

    fn alive_changed(&mut self, config: &Config, vs: usize, rs: usize, alive: bool) -> Update {
        let real_server = Some(if alive {
            Event::RealServerUp { vs, rs }
        } else {
            Event::RealServerDown { vs, rs }
        });
        Update {
            real_server,
            quorum: self.update_quorum(config, vs),
            changed: Some(vs),
        }
    }

    fn weight_changed(&mut self, config: &Config, vs: usize) -> Update {
        Update {
            real_server: None,
            quorum: self.update_quorum(config, vs),
            changed: Some(vs),
        }
    }

    fn update_quorum(&mut self, config: &Config, vs: usize) -> Option<Event> {
        let live = self.health.live_weight(config, vs);
        let cfg = config.virtual_servers.get(vs)?;
        let state = self.quorum.get_mut(vs)?;
        state.update(cfg, live).map(|c| quorum_event(vs, c))
    }
}

fn configured_weight(config: &Config, vs: usize, rs: usize) -> Option<u32> {
    Some(config.virtual_servers.get(vs)?.real_servers.get(rs)?.weight)
}

fn quorum_event(vs: usize, change: QuorumChange) -> Event {
    match change {
        QuorumChange::Up => Event::QuorumUp { vs },
        QuorumChange::Down => Event::QuorumDown { vs },
    }
}
