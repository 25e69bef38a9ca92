//! `vrrp_sync_group`: instances that change state together, as keepalived 2.2's vrrp_sync.c and
//! its transition matrix (`VRRP_TSM`) do it. Sans-IO: the group holds indices into the daemon's
//! slice of [`Instance`]s and is told to look at them after every event.
//!
//! Rules:
//! - a member may become master only when the group is master or every other member wants
//!   master too (`vrrp_sync_can_goto_master`); until then it stays backup and re-arms its timer;
//! - one member becoming master forces the others master at once;
//! - a master member going backup forces the other masters backup;
//! - any member in fault (its own tracking) forces every other member into fault, and they all
//!   leave fault together when no member has a fault of its own;
//! - a lower-priority advert reaching one master refreshes the GARPs of every member
//!   (those with `garp_lower_prio_repeat`).
//!
//! Deviation: keepalived's `vrrp_sync_master` walks the members in order and can leave a third
//! member in backup (its `can_goto_master` check still sees later members wanting backup); here
//! every member is forced master.

use super::instance::{Instance, State};
use crate::config::model::{SyncGroup as SyncGroupConfig, VrrpInstance};
use crate::time::Instant;
use heapless::Deque;

/// What the daemon does for the group (besides each member's own actions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupAction {
    /// Run the group's `notify_<state>` and `notify` (with "GROUP"), write the FIFO.
    Notify(State),
}

#[derive(Debug)]
pub struct SyncGroup {
    members: Vec<usize>,
    state: State,
    /// Each member's state at the previous `update`, to see its transitions.
    last: Vec<State>,
    actions: Deque<GroupAction, 8>,
    actions_dropped: u64,
}

impl SyncGroup {
    /// `instances[k]` must have been built from `configs[k]`. Unknown names and members
    /// already listed are skipped (the config validator reports them).
    pub fn new(
        config: &SyncGroupConfig,
        configs: &[VrrpInstance],
        instances: &mut [Instance],
    ) -> SyncGroup {
        let mut members: Vec<usize> = Vec::with_capacity(config.group.len());
        for name in &config.group {
            if let Some(k) = configs.iter().position(|c| c.name == *name) {
                if k < instances.len() && !members.contains(&k) {
                    members.push(k);
                }
            }
        }
        // keepalived starts the group master only if every member is an address owner.
        let group_master =
            !members.is_empty() && members.iter().all(|&k| configs[k].priority.get() == 255);
        for &k in &members {
            instances[k].join_sync_group(group_master);
        }
        let last = members.iter().map(|&k| instances[k].state()).collect();
        let group = SyncGroup {
            members,
            state: if group_master {
                State::Master
            } else {
                State::Backup
            },
            last,
            actions: Deque::new(),
            actions_dropped: 0,
        };
        group.set_gates(instances);
        group
    }

    /// Indices of the members in the daemon's instance slice.
    pub fn members(&self) -> &[usize] {
        &self.members
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn poll_action(&mut self) -> Option<GroupAction> {
        self.actions.pop_front()
    }

    /// Group notifies lost because `poll_action` was not drained.
    pub fn actions_dropped(&self) -> u64 {
        self.actions_dropped
    }

    /// Starts every member (instead of calling their `start`) and reports the group's first
    /// state, as keepalived notifies a group that starts in backup or fault.
    pub fn start(&mut self, now: Instant, instances: &mut [Instance]) {
        self.propagate_faults(now, instances);
        for &k in &self.members {
            instances[k].start(now);
        }
        let states = || self.members.iter().map(|&k| instances[k].state());
        self.state = if states().any(|s| s == State::Fault) {
            State::Fault
        } else if states().all(|s| s == State::Master) {
            State::Master
        } else {
            State::Backup
        };
        for (k, &m) in self.members.iter().enumerate() {
            self.last[k] = instances[m].state();
        }
        self.push(GroupAction::Notify(self.state));
        self.update(now, instances);
    }

    /// Call after any event on any member (advert, timeout, fault, priority change).
    pub fn update(&mut self, now: Instant, instances: &mut [Instance]) {
        // Each pass settles the transitions the previous one forced; a forced member only
        // moves towards the group's state, so members + 2 passes always suffice.
        for _ in 0..self.members.len() + 2 {
            self.propagate_faults(now, instances);
            if !self.follow_transitions(now, instances) {
                break;
            }
        }
        self.share_lower_prio_garps(now, instances);
        self.set_gates(instances);
    }

    fn propagate_faults(&mut self, now: Instant, instances: &mut [Instance]) {
        for &k in &self.members {
            let other_fault = self
                .members
                .iter()
                .any(|&o| o != k && instances[o].own_fault());
            instances[k].set_forced_fault(now, other_fault);
        }
    }

    /// keepalived's `VRRP_TSM_HANDLE`. Returns whether any member changed state.
    fn follow_transitions(&mut self, now: Instant, instances: &mut [Instance]) -> bool {
        let mut changed = false;
        for k in 0..self.members.len() {
            let m = self.members[k];
            let (before, now_state) = (self.last[k], instances[m].state());
            if before == now_state {
                continue;
            }
            changed = true;
            self.last[k] = now_state;
            match now_state {
                State::Fault if self.state != State::Fault => self.enter(State::Fault),
                State::Master if self.state != State::Master => {
                    for &o in &self.members {
                        if o != m {
                            instances[o].force_master(now);
                        }
                    }
                    self.enter(State::Master);
                }
                State::Backup
                    if matches!(before, State::Master | State::Fault)
                        && self.state != State::Backup =>
                {
                    for &o in &self.members {
                        if o != m {
                            instances[o].force_backup(now);
                        }
                    }
                    self.enter(State::Backup);
                }
                _ => {}
            }
        }
        changed
    }

    fn share_lower_prio_garps(&mut self, now: Instant, instances: &mut [Instance]) {
        for &k in &self.members {
            if instances[k].take_rx_lower_prio() {
                for &o in &self.members {
                    if o != k {
                        instances[o].announce_lower_prio(now);
                    }
                }
            }
        }
    }

    fn set_gates(&self, instances: &mut [Instance]) {
        for &k in &self.members {
            let allow = self.state == State::Master
                || self
                    .members
                    .iter()
                    .all(|&o| o == k || instances[o].wanted_state() == State::Master);
            instances[k].set_sync_gate(allow);
        }
    }

    fn enter(&mut self, state: State) {
        self.state = state;
        self.push(GroupAction::Notify(state));
    }

    fn push(&mut self, action: GroupAction) {
        if self.actions.push_back(action).is_err() {
            self.actions_dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Notify;
    use crate::vrrp::instance::tests::{adv, at, config, drain};
    use crate::vrrp::instance::Action;

    fn group(prios: &[u8]) -> (Vec<VrrpInstance>, Vec<Instance>, SyncGroup) {
        let configs: Vec<VrrpInstance> = prios
            .iter()
            .enumerate()
            .map(|(k, &p)| {
                let mut c = config(3, p);
                c.name = format!("VI{k}");
                c.virtual_router_id = crate::config::model::Vrid::new(k as u8 + 1).expect("vrid");
                c
            })
            .collect();
        let mut instances: Vec<Instance> =
            configs.iter().map(|c| Instance::new(c, at(0))).collect();
        let cfg = SyncGroupConfig {
            name: "G".into(),
            group: configs.iter().map(|c| c.name.clone()).collect(),
            notify: Notify::default(),
            smtp_alert: false,
            global_tracking: false,
            sync_group_tracking_weight: false,
            track_interface: vec![],
            track_script: vec![],
            track_file: vec![],
        };
        let g = SyncGroup::new(&cfg, &configs, &mut instances);
        (configs, instances, g)
    }

    fn group_actions(g: &mut SyncGroup) -> Vec<GroupAction> {
        core::iter::from_fn(|| g.poll_action()).collect()
    }

    fn timeout(g: &mut SyncGroup, v: &mut [Instance], k: usize, now: Instant) {
        v[k].handle_timeout(now);
        g.update(now, v);
    }

    #[test]
    fn starts_backup_and_notifies() {
        let (_, mut v, mut g) = group(&[100, 100]);
        g.start(at(0), &mut v);
        assert_eq!(g.state(), State::Backup);
        assert_eq!(group_actions(&mut g), [GroupAction::Notify(State::Backup)]);
        assert!(v.iter().all(|i| i.state() == State::Backup));
    }

    #[test]
    fn first_timer_is_held_until_all_want_master() {
        let (_, mut v, mut g) = group(&[100, 150]);
        g.start(at(0), &mut v);
        group_actions(&mut g);
        drain(&mut v[0]);
        drain(&mut v[1]);
        // VI1 (150) fires first but VI0 still wants backup: held, re-armed.
        let t1 = v[1].poll_timeout().expect("timer");
        timeout(&mut g, &mut v, 1, t1);
        assert_eq!(v[1].state(), State::Backup);
        assert_eq!(v[1].wanted_state(), State::Master);
        assert!(drain(&mut v[1]).is_empty());
        assert_eq!(v[1].poll_timeout(), Some(t1 + v[1].master_down_interval()));
        // VI0 fires: everyone else wants master, so it goes and drags VI1 along.
        let t0 = v[0].poll_timeout().expect("timer");
        timeout(&mut g, &mut v, 0, t0);
        assert_eq!(v[0].state(), State::Master);
        assert_eq!(v[1].state(), State::Master);
        assert!(drain(&mut v[1]).contains(&Action::Notify(State::Master)));
        assert_eq!(g.state(), State::Master);
        assert_eq!(group_actions(&mut g), [GroupAction::Notify(State::Master)]);
    }

    #[test]
    fn one_master_going_backup_takes_the_others() {
        let (_, mut v, mut g) = group(&[100, 100, 100]);
        g.start(at(0), &mut v);
        for i in v.iter_mut() {
            i.force_master(at(1));
        }
        g.update(at(1), &mut v);
        assert_eq!(g.state(), State::Master);
        group_actions(&mut g);
        v.iter_mut().for_each(|i| {
            drain(i);
        });
        // VI2 hears a better master.
        let a = adv([10, 0, 0, 9], 200);
        assert_eq!(v[2].handle_advert(at(2), &adv_vrid(&a, 3)), Ok(()));
        g.update(at(2), &mut v);
        assert!(v.iter().all(|i| i.state() == State::Backup));
        assert_eq!(
            drain(&mut v[0]),
            [Action::RemoveAddresses, Action::Notify(State::Backup)]
        );
        assert_eq!(group_actions(&mut g), [GroupAction::Notify(State::Backup)]);
    }

    fn adv_vrid<'a>(a: &crate::vrrp::Advert<'a>, vrid: u8) -> crate::vrrp::Advert<'a> {
        crate::vrrp::Advert { vrid, ..*a }
    }

    #[test]
    fn a_member_fault_faults_the_group_until_it_recovers() {
        let (_, mut v, mut g) = group(&[100, 100]);
        g.start(at(0), &mut v);
        v[0].force_master(at(1));
        g.update(at(1), &mut v);
        group_actions(&mut g);
        v.iter_mut().for_each(|i| {
            drain(i);
        });
        v[1].set_fault(at(2), true);
        g.update(at(2), &mut v);
        assert_eq!(v[0].state(), State::Fault);
        assert_eq!(
            drain(&mut v[0]),
            [
                Action::SendAdvert {
                    priority: 0,
                    adver_int_centis: 100,
                    ah_sequence: None
                },
                Action::RemoveAddresses,
                Action::Notify(State::Fault)
            ]
        );
        assert_eq!(group_actions(&mut g), [GroupAction::Notify(State::Fault)]);
        // VI0's own tracking is fine, but it stays in fault while VI1 is.
        v[0].set_fault(at(3), false);
        g.update(at(3), &mut v);
        assert_eq!(v[0].state(), State::Fault);
        v[1].set_fault(at(4), false);
        g.update(at(4), &mut v);
        assert!(v.iter().all(|i| i.state() == State::Backup));
        assert_eq!(group_actions(&mut g), [GroupAction::Notify(State::Backup)]);
    }

    #[test]
    fn fault_at_start_faults_every_member_silently() {
        let (_, mut v, mut g) = group(&[100, 100]);
        v[0].set_fault(at(0), true);
        g.start(at(0), &mut v);
        assert!(v.iter().all(|i| i.state() == State::Fault));
        assert_eq!(group_actions(&mut g), [GroupAction::Notify(State::Fault)]);
        assert!(drain(&mut v[1]).is_empty());
    }

    #[test]
    fn all_owners_start_master() {
        let (_, mut v, mut g) = group(&[255, 255]);
        assert_eq!(g.state(), State::Master);
        g.start(at(0), &mut v);
        assert!(v.iter().all(|i| i.state() == State::Master));
        assert_eq!(group_actions(&mut g), [GroupAction::Notify(State::Master)]);
    }

    #[test]
    fn mixed_owner_waits_one_interval_plus_min_skew() {
        let (_, mut v, mut g) = group(&[255, 100]);
        assert_eq!(g.state(), State::Backup);
        g.start(at(0), &mut v);
        assert_eq!(v[0].state(), State::Backup);
        // 1 s + 1 × 100 cs × 10_000 / 256 µs.
        assert_eq!(v[0].poll_timeout(), Some(at(1_003_906)));
    }

    #[test]
    fn lower_priority_advert_refreshes_every_members_garps() {
        let (_, mut v, mut g) = group(&[200, 200]);
        g.start(at(0), &mut v);
        v[0].force_master(at(1));
        g.update(at(1), &mut v);
        v.iter_mut().for_each(|i| {
            drain(i);
        });
        let a = adv([10, 0, 0, 1], 100);
        assert_eq!(v[0].handle_advert(at(2), &a), Ok(()));
        g.update(at(2), &mut v);
        assert_eq!(drain(&mut v[1]), [Action::Announce { repeat: 5 }]);
        // And again garp_lower_prio_delay (default: garp_master_delay, 5 s) later.
        v[1].handle_timeout(at(2 + 5_000_000));
        assert!(drain(&mut v[1]).contains(&Action::Announce { repeat: 5 }));
    }

    #[test]
    fn unknown_and_duplicate_names_are_skipped() {
        let (configs, mut v, _) = group(&[100, 100]);
        let mut cfg = SyncGroupConfig {
            name: "H".into(),
            group: vec!["VI1".into(), "nope".into(), "VI1".into()],
            notify: Notify::default(),
            smtp_alert: false,
            global_tracking: false,
            sync_group_tracking_weight: false,
            track_interface: vec![],
            track_script: vec![],
            track_file: vec![],
        };
        let g = SyncGroup::new(&cfg, &configs, &mut v);
        assert_eq!(g.members(), [1]);
        cfg.group.clear();
        let g = SyncGroup::new(&cfg, &configs, &mut v);
        assert!(g.members().is_empty());
    }
}
