//! Priority offset and fault from tracked objects, as keepalived 2.2's vrrp_track.c and
//! track_file.c compute them: `track_interface`, `track_script` (with the rise/fall counter of
//! `vrrp_script`) and `track_file`, on an instance and on its sync group. Sans-IO: the daemon
//! reports link changes, script exits and file values; [`Tracker::verdict`] gives the
//! `set_fault` / `set_priority_offset` inputs of [`super::Instance`].
//!
//! The rise/fall counting is done here ([`ScriptRiseFall`], one per `vrrp_script`, fed every
//! exit by the daemon); a [`Tracker`] only sees the resulting [`ScriptStatus`].
//!
//! Weights (`reverse` flips the sign; "up" is link up, script OK):
//! - weight 0: fault while down (with `reverse`: while up);
//! - weight > 0: + weight while up, nothing while down;
//! - weight < 0: − |weight| while down, nothing while up;
//! - track_file: weight 0 faults on a non-zero value (with `reverse`: on zero); otherwise
//!   value × weight is added, capped at 253, and −254 or less means fault.

use crate::config::model::{Config, IfName, SyncGroup, TrackedByName, VrrpInstance, VrrpScript};

/// A tracked script's state after rise/fall counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptStatus {
    /// Not yet run: an unweighted script holds its instances in Initialize until it reports.
    Pending,
    Ok,
    Failed,
}

/// keepalived's `vrrp_script` result counter: `rise` consecutive successes make a failed script
/// OK, `fall` consecutive failures make an OK script fail. Before the first run one result is
/// enough either way; `init_fail` starts it failed.
#[derive(Clone, Copy, Debug)]
pub struct ScriptRiseFall {
    rise: u32,
    fall: u32,
    /// 0..rise is failed, rise..rise+fall is OK: keepalived's `result`.
    result: u32,
    first: bool,
    status: ScriptStatus,
}

impl ScriptRiseFall {
    pub fn new(script: &VrrpScript) -> Self {
        let rise = script.rise.max(1);
        let fall = script.fall.max(1);
        if script.init_fail {
            ScriptRiseFall {
                rise,
                fall,
                result: 0,
                first: false,
                status: ScriptStatus::Failed,
            }
        } else {
            ScriptRiseFall {
                rise,
                fall,
                result: rise - 1,
                first: true,
                status: ScriptStatus::Pending,
            }
        }
    }

    pub fn status(&self) -> ScriptStatus {
        self.status
    }

    /// One script exit (`success`: exit status 0). Returns the new status when it changed.
    pub fn record(&mut self, success: bool) -> Option<ScriptStatus> {
        let before = self.status;
        let top = self.rise + self.fall - 1;
        if success {
            if self.result + 1 < self.rise {
                self.result += 1;
            } else if self.result != top {
                if self.result < self.rise {
                    self.status = ScriptStatus::Ok;
                }
                // Once OK it takes `fall` failures to go down, however it got here.
                self.result = top;
            }
        } else if self.result > self.rise {
            self.result -= 1;
        } else {
            if self.result == self.rise || self.first {
                self.status = ScriptStatus::Failed;
            }
            self.result = 0;
        }
        self.first = false;
        (self.status != before).then_some(self.status)
    }
}

/// What tracking asks of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Sum of the weights in force (give to `set_priority_offset`).
    pub offset: i32,
    /// An unweighted object is down (give to `set_fault`).
    pub fault: bool,
    /// An unweighted script has not reported yet: keep the instance in Initialize (do not call
    /// `start`), as keepalived holds it silently until then.
    pub pending: bool,
}

#[derive(Clone, Debug)]
struct TrackedIf {
    name: IfName,
    weight: i32,
    reverse: bool,
    up: bool,
}

#[derive(Clone, Debug)]
struct TrackedScript {
    name: String,
    weight: i32,
    reverse: bool,
    status: ScriptStatus,
}

#[derive(Clone, Debug)]
struct TrackedFile {
    name: String,
    weight: i32,
    reverse: bool,
    value: i64,
}

/// The tracked objects of one instance, its sync group's included.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    interfaces: Vec<TrackedIf>,
    scripts: Vec<TrackedScript>,
    files: Vec<TrackedFile>,
}

impl Tracker {
    /// Collects what `instance` tracks, applying keepalived's rules:
    /// - its own interface is tracked unweighted unless `dont_track_primary`;
    /// - an address owner (priority 255) drops weighted interfaces and scripts and keeps only
    ///   unweighted files (a file left at its default weight 1 becomes unweighted);
    /// - a sync-group member without `sync_group_tracking_weight` turns its weighted interfaces
    ///   unweighted and drops weighted scripts and files the same way;
    /// - the group's own `track_*` apply to every member, unweighted if a member is an owner.
    ///
    /// Interfaces start down and files at their `init_file` value (else 0): the daemon reports
    /// the real states before calling `verdict` for startup.
    pub fn new(config: &Config, instance: &VrrpInstance) -> Tracker {
        let owner = instance.priority.get() == 255;
        let group = config
            .sync_groups
            .iter()
            .find(|g| g.group.contains(&instance.name));
        let unweight = owner || group.is_some_and(|g| !g.sync_group_tracking_weight);
        let mut t = Tracker::default();
        if !instance.dont_track_primary {
            t.add_interface(instance.interface.clone(), 0, false);
        }
        for i in &instance.track_interface {
            match i.weight.map_or(0, |w| w.get()) {
                0 => t.add_interface(i.name.clone(), 0, i.reverse),
                // keepalived stops tracking the interface for an owner, and makes a group
                // member go to fault on it instead.
                _ if owner => {}
                _ if unweight => t.add_interface(i.name.clone(), 0, i.reverse),
                w => t.add_interface(i.name.clone(), w, i.reverse),
            }
        }
        t.add_by_name(
            config,
            &instance.track_script,
            &instance.track_file,
            unweight,
        );
        if let Some(g) = group {
            t.add_group(config, g);
        }
        t
    }

    fn add_group(&mut self, config: &Config, g: &SyncGroup) {
        let has_owner = config
            .instances
            .iter()
            .filter(|i| g.group.contains(&i.name))
            .any(|i| i.priority.get() == 255);
        for i in &g.track_interface {
            let w = if has_owner {
                0
            } else {
                i.weight.map_or(0, |w| w.get())
            };
            self.add_interface(i.name.clone(), w, i.reverse);
        }
        let before = (self.scripts.len(), self.files.len());
        self.add_by_name(config, &g.track_script, &g.track_file, false);
        if has_owner {
            for s in &mut self.scripts[before.0..] {
                s.weight = 0;
            }
            for f in &mut self.files[before.1..] {
                f.weight = 0;
            }
        }
    }

    fn add_interface(&mut self, name: IfName, weight: i32, reverse: bool) {
        self.interfaces.push(TrackedIf {
            name,
            weight,
            reverse,
            up: false,
        });
    }

    fn add_by_name(
        &mut self,
        config: &Config,
        scripts: &[TrackedByName],
        files: &[TrackedByName],
        unweight: bool,
    ) {
        for t in scripts {
            let Some(s) = config.scripts.iter().find(|s| s.name == t.name) else {
                continue;
            };
            let (weight, reverse) = match t.weight {
                Some(w) => (w, t.reverse),
                None => (s.weight.get(), s.weight_reverse || t.reverse),
            };
            if weight != 0 && unweight {
                continue;
            }
            self.scripts.push(TrackedScript {
                name: t.name.clone(),
                weight,
                reverse,
                status: ScriptRiseFall::new(s).status(),
            });
        }
        for t in files {
            let Some(f) = config.track_files.iter().find(|f| f.name == t.name) else {
                continue;
            };
            let (mut weight, reverse) = match t.weight {
                Some(w) => (w, t.reverse),
                None => (f.weight, f.weight_reverse || t.reverse),
            };
            if unweight && weight != 0 {
                if weight != 1 {
                    continue;
                }
                weight = 0;
            }
            self.files.push(TrackedFile {
                name: t.name.clone(),
                weight,
                reverse,
                value: f.init_file.as_ref().map_or(0, |i| i.value),
            });
        }
    }

    /// Interface names to watch (the daemon resolves them to ifindexes).
    pub fn interfaces(&self) -> impl Iterator<Item = &str> {
        self.interfaces.iter().map(|i| i.name.as_str())
    }

    /// Link state of `name` (IFF_UP and carrier, as the daemon defines "up"). Returns whether
    /// anything tracked it.
    pub fn set_interface(&mut self, name: &str, up: bool) -> bool {
        let mut found = false;
        for i in self
            .interfaces
            .iter_mut()
            .filter(|i| i.name.as_str() == name)
        {
            i.up = up;
            found = true;
        }
        found
    }

    /// Status of the `vrrp_script` `name` (from its [`ScriptRiseFall`]).
    pub fn set_script(&mut self, name: &str, status: ScriptStatus) -> bool {
        let mut found = false;
        for s in self.scripts.iter_mut().filter(|s| s.name == name) {
            s.status = status;
            found = true;
        }
        found
    }

    /// Value read from the `track_file` `name`.
    pub fn set_file(&mut self, name: &str, value: i64) -> bool {
        let mut found = false;
        for f in self.files.iter_mut().filter(|f| f.name == name) {
            f.value = value;
            found = true;
        }
        found
    }

    pub fn verdict(&self) -> Verdict {
        let mut offset: i64 = 0;
        let mut fault = false;
        let mut pending = false;
        for i in &self.interfaces {
            match weighted(i.weight, i.reverse, i.up) {
                None => fault = true,
                Some(w) => offset += w,
            }
        }
        for s in &self.scripts {
            match s.status {
                ScriptStatus::Pending => pending |= s.weight == 0,
                status => match weighted(s.weight, s.reverse, status == ScriptStatus::Ok) {
                    None => fault = true,
                    Some(w) => offset += w,
                },
            }
        }
        for f in &self.files {
            if f.weight == 0 {
                fault |= (f.value != 0) != f.reverse;
                continue;
            }
            let sign: i64 = if f.reverse { -1 } else { 1 };
            let status = f
                .value
                .saturating_mul(i64::from(f.weight))
                .saturating_mul(sign);
            if status <= -254 {
                fault = true;
            } else {
                offset += status.min(253);
            }
        }
        Verdict {
            offset: i32::try_from(offset.clamp(i64::from(i32::MIN), i64::from(i32::MAX)))
                .unwrap_or(0),
            fault,
            pending,
        }
    }
}

/// The contribution of an interface or script; `None` means fault.
fn weighted(weight: i32, reverse: bool, up: bool) -> Option<i64> {
    let sign: i64 = if reverse { -1 } else { 1 };
    let w = i64::from(weight);
    match weight {
        0 if up == reverse => None,
        0 => Some(0),
        _ if up && w > 0 => Some(w * sign),
        _ if !up && w < 0 => Some(w * sign),
        _ => Some(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{
        Command, InitFile, TrackFile, TrackWeight, TrackedInterface, VrrpScript,
    };

    fn script(name: &str, weight: i32, rise: u32, fall: u32) -> VrrpScript {
        VrrpScript {
            name: name.into(),
            script: Command {
                command: "/bin/true".into(),
                run_as: None,
            },
            interval: crate::time::Micros::from_secs(1),
            timeout: None,
            weight: TrackWeight::new(weight).expect("test weight"),
            weight_reverse: false,
            rise,
            fall,
            init_fail: false,
        }
    }

    fn by_name(name: &str, weight: Option<i32>, reverse: bool) -> TrackedByName {
        TrackedByName {
            name: name.into(),
            weight,
            reverse,
        }
    }

    fn iface(name: &str, weight: Option<i32>, reverse: bool) -> TrackedInterface {
        TrackedInterface {
            name: IfName::new(name).expect("test name"),
            weight: weight.map(|w| TrackWeight::new(w).expect("test weight")),
            reverse,
        }
    }

    fn setup(priority: u8) -> (Config, VrrpInstance) {
        let mut i = crate::vrrp::instance::tests::config(3, priority);
        i.name = "VI".into();
        let c = Config {
            scripts: vec![script("chk", 0, 2, 3), script("w10", 10, 1, 1)],
            track_files: vec![TrackFile {
                name: "tf".into(),
                file: "/run/tf".into(),
                weight: 1,
                weight_reverse: false,
                init_file: Some(InitFile {
                    value: 5,
                    overwrite: false,
                }),
            }],
            ..Config::default()
        };
        (c, i)
    }

    #[test]
    fn rise_and_fall_counts() {
        let mut r = ScriptRiseFall::new(&script("s", 0, 2, 3));
        assert_eq!(r.status(), ScriptStatus::Pending);
        // Before the first run one result decides.
        assert_eq!(r.record(false), Some(ScriptStatus::Failed));
        assert_eq!(r.record(true), None);
        assert_eq!(r.record(true), Some(ScriptStatus::Ok));
        assert_eq!(r.record(false), None);
        assert_eq!(r.record(false), None);
        assert_eq!(
            r.record(true),
            None,
            "a success restores the full fall count"
        );
        assert_eq!(r.record(false), None);
        assert_eq!(r.record(false), None);
        assert_eq!(r.record(false), Some(ScriptStatus::Failed));
        assert_eq!(r.record(true), None);
        assert_eq!(r.record(false), None, "a failure restarts rise");
        assert_eq!(r.record(true), None);
        assert_eq!(r.record(true), Some(ScriptStatus::Ok));
    }

    #[test]
    fn first_success_is_enough_and_init_fail_starts_failed() {
        let mut r = ScriptRiseFall::new(&script("s", 0, 3, 1));
        assert_eq!(r.record(true), Some(ScriptStatus::Ok));
        assert_eq!(r.record(false), Some(ScriptStatus::Failed));
        let mut s = script("s", 0, 2, 1);
        s.init_fail = true;
        let mut r = ScriptRiseFall::new(&s);
        assert_eq!(r.status(), ScriptStatus::Failed);
        assert_eq!(r.record(false), None);
        assert_eq!(r.record(true), None);
        assert_eq!(r.record(true), Some(ScriptStatus::Ok));
    }

    #[test]
    fn weight_rules() {
        assert_eq!(weighted(0, false, true), Some(0));
        assert_eq!(weighted(0, false, false), None);
        assert_eq!(weighted(0, true, true), None);
        assert_eq!(weighted(0, true, false), Some(0));
        assert_eq!(weighted(10, false, true), Some(10));
        assert_eq!(weighted(10, false, false), Some(0));
        assert_eq!(weighted(10, true, true), Some(-10));
        assert_eq!(weighted(-10, false, false), Some(-10));
        assert_eq!(weighted(-10, false, true), Some(0));
        assert_eq!(weighted(-10, true, false), Some(10));
    }

    #[test]
    fn interfaces_offset_and_fault() {
        let (c, mut i) = setup(100);
        i.track_interface = vec![
            iface("eth1", None, false),
            iface("eth2", Some(-20), false),
            iface("eth3", Some(15), true),
        ];
        let mut t = Tracker::new(&c, &i);
        assert_eq!(
            t.interfaces().collect::<Vec<_>>(),
            ["eth0", "eth1", "eth2", "eth3"]
        );
        assert!(t.verdict().fault, "everything starts down");
        for n in ["eth0", "eth1", "eth2", "eth3"] {
            assert!(t.set_interface(n, true));
        }
        assert_eq!(
            t.verdict(),
            Verdict {
                offset: -15,
                fault: false,
                pending: false
            }
        );
        t.set_interface("eth2", false);
        t.set_interface("eth3", false);
        assert_eq!(t.verdict().offset, -20);
        t.set_interface("eth1", false);
        assert!(t.verdict().fault);
        assert!(!t.set_interface("wlan0", true));
    }

    #[test]
    fn dont_track_primary_skips_own_interface() {
        let (c, mut i) = setup(100);
        i.dont_track_primary = true;
        let t = Tracker::new(&c, &i);
        assert_eq!(t.interfaces().count(), 0);
        assert_eq!(t.verdict(), Verdict::default());
    }

    #[test]
    fn scripts_pending_then_weights() {
        let (c, mut i) = setup(100);
        i.dont_track_primary = true;
        i.track_script = vec![by_name("chk", None, false), by_name("w10", None, false)];
        let mut t = Tracker::new(&c, &i);
        assert!(t.verdict().pending);
        assert_eq!(
            t.verdict().offset,
            0,
            "a pending weighted script adds nothing"
        );
        t.set_script("chk", ScriptStatus::Ok);
        t.set_script("w10", ScriptStatus::Ok);
        assert_eq!(
            t.verdict(),
            Verdict {
                offset: 10,
                fault: false,
                pending: false
            }
        );
        t.set_script("chk", ScriptStatus::Failed);
        assert!(t.verdict().fault);
    }

    #[test]
    fn script_weight_override_and_reverse() {
        let (c, mut i) = setup(100);
        i.dont_track_primary = true;
        i.track_script = vec![by_name("w10", Some(-30), true)];
        let mut t = Tracker::new(&c, &i);
        t.set_script("w10", ScriptStatus::Failed);
        assert_eq!(t.verdict().offset, 30);
        t.set_script("w10", ScriptStatus::Ok);
        assert_eq!(t.verdict().offset, 0);
    }

    #[test]
    fn files_values() {
        let (c, mut i) = setup(100);
        i.dont_track_primary = true;
        i.track_file = vec![by_name("tf", Some(3), false)];
        let mut t = Tracker::new(&c, &i);
        assert_eq!(t.verdict().offset, 15, "init_file value 5 × 3");
        t.set_file("tf", 100);
        assert_eq!(t.verdict().offset, 253, "capped");
        t.set_file("tf", -84);
        assert_eq!(t.verdict().offset, -252);
        assert!(!t.verdict().fault);
        t.set_file("tf", -85);
        assert!(t.verdict().fault, "-255 is fault");
        t.set_file("tf", i64::MIN);
        assert!(t.verdict().fault, "no overflow");
    }

    #[test]
    fn unweighted_file_faults_on_nonzero() {
        let (c, mut i) = setup(100);
        i.dont_track_primary = true;
        i.track_file = vec![by_name("tf", Some(0), false), by_name("tf", Some(0), true)];
        let mut t = Tracker::new(&c, &i);
        t.set_file("tf", 0);
        assert!(t.verdict().fault, "the reverse entry faults on zero");
        i.track_file.truncate(1);
        let mut t = Tracker::new(&c, &i);
        t.set_file("tf", 0);
        assert!(!t.verdict().fault);
        t.set_file("tf", 7);
        assert!(t.verdict().fault);
    }

    #[test]
    fn owner_drops_weighted_objects() {
        let (c, mut i) = setup(255);
        i.track_interface = vec![iface("eth1", Some(10), false)];
        i.track_script = vec![by_name("w10", None, false), by_name("chk", None, false)];
        i.track_file = vec![by_name("tf", None, false), by_name("tf", Some(5), false)];
        let t = Tracker::new(&c, &i);
        assert_eq!(t.interfaces().collect::<Vec<_>>(), ["eth0"]);
        assert_eq!(t.scripts.len(), 1);
        assert_eq!(t.scripts[0].name, "chk");
        assert_eq!(t.files.len(), 1);
        assert_eq!(t.files[0].weight, 0, "default weight 1 becomes unweighted");
    }

    #[test]
    fn sync_group_member_unweights_and_inherits_group_tracking() {
        let (mut c, mut i) = setup(100);
        i.track_interface = vec![iface("eth1", Some(10), false)];
        i.track_script = vec![by_name("w10", None, false)];
        let mut other = crate::vrrp::instance::tests::config(3, 100);
        other.name = "VI2".into();
        c.instances = vec![i.clone(), other];
        c.sync_groups = vec![SyncGroup {
            name: "G".into(),
            group: vec!["VI".into(), "VI2".into()],
            notify: Default::default(),
            smtp_alert: false,
            global_tracking: false,
            sync_group_tracking_weight: false,
            track_interface: vec![iface("wan", Some(-50), false)],
            track_script: vec![by_name("w10", Some(20), false)],
            track_file: vec![],
        }];
        let mut t = Tracker::new(&c, &i);
        assert_eq!(t.interfaces().collect::<Vec<_>>(), ["eth0", "eth1", "wan"]);
        for n in ["eth0", "eth1", "wan"] {
            t.set_interface(n, true);
        }
        t.set_script("w10", ScriptStatus::Ok);
        assert_eq!(t.verdict().offset, 20, "only the group's weight counts");
        t.set_interface("eth1", false);
        assert!(
            t.verdict().fault,
            "the member's weighted interface is now unweighted"
        );
        t.set_interface("eth1", true);
        t.set_interface("wan", false);
        assert_eq!(t.verdict().offset, -50 + 20);
        // With an owner in the group, the group's objects are unweighted too.
        c.instances[1].priority = crate::config::model::Priority::new(255).expect("255");
        let mut t = Tracker::new(&c, &i);
        for n in ["eth0", "eth1"] {
            t.set_interface(n, true);
        }
        t.set_interface("wan", false);
        assert!(t.verdict().fault);
    }
}
