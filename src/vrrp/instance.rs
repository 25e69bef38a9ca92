//! One `vrrp_instance` as a sans-IO state machine: RFC 5798 §6.4 (Initialize, Backup, Master)
//! plus keepalived's Fault state, with keepalived 2.2's choices where the RFC leaves room
//! (preempt_delay, lower-priority adverts to a master, GARP repeats, address-owner conflicts).
//!
//! Inputs carry `now` (monotonic µs); outputs are [`Action`]s drained with
//! [`Instance::poll_action`]; [`Instance::poll_timeout`] says when to call
//! [`Instance::handle_timeout`]. No clock, socket or allocation after [`Instance::new`].
//!
//! GARP/NA pacing: an [`Action::Announce`] is one burst of `repeat` rounds, each round one
//! gratuitous ARP (IPv4) or unsolicited NA (IPv6) per VIP and eVIP, as keepalived's
//! `vrrp_send_link_update`. The daemon sends the burst and spaces the packets on an interface by
//! `vrrp_garp_interval` / `vrrp_gna_interval` (keepalived queues them per interface, shared by
//! all instances on it); the state machine only decides when a burst starts:
//! - on becoming master, right after the first advert and the address add (`garp_master_repeat`);
//! - `garp_master_delay` later, again (`garp_master_repeat`), if the delay is not 0;
//! - while master, at the first advert sent at least `garp_master_refresh` after the previous
//!   burst (`garp_master_refresh_repeat`) — keepalived checks the refresh only when it sends;
//! - when a lower-priority advert reaches the master: at once and `garp_lower_prio_delay` later
//!   (`garp_lower_prio_repeat`; 0 repeats disables both).

use super::advert::{ah_key, compare_sender, Advert, ReceiveChecks};
use super::ah::AhSequence;
use super::stats::{DropReason, Stats};
use super::timers;
use crate::config::model::{InitialState, VrrpInstance};
use crate::time::{Instant, Micros};
use core::cmp::Ordering;
use heapless::Deque;
use std::net::IpAddr;

/// The address owner's priority (RFC 5798 §5.2.4).
pub const PRIORITY_OWNER: u8 = 255;
/// The priority a master sends when it stops (RFC 5798 §5.2.4).
pub const PRIORITY_STOP: u8 = 0;

/// Pending actions: the largest burst (becoming master) is four; the daemon drains after each
/// event, so 16 leaves room for a sync group forcing several transitions in one call.
const ACTION_QUEUE: usize = 16;
/// Pending delayed lower-priority GARP bursts (keepalived starts one timer per lower advert).
const LOWER_PRIO_GARPS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Initialize,
    Backup,
    Master,
    /// keepalived's extension: a tracked interface, script or file says this router must not
    /// take part; it neither sends nor listens.
    Fault,
}

impl State {
    /// The word keepalived passes to `notify` scripts and FIFOs.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send one advertisement (to the multicast group or to each unicast peer). With
    /// `auth_type AH`, the AH sequence number it carries (the same for every unicast peer).
    SendAdvert {
        priority: u8,
        adver_int_centis: u16,
        ah_sequence: Option<u32>,
    },
    /// Add the VIPs, eVIPs and virtual routes (and accept-mode rules).
    AddAddresses,
    /// Remove them.
    RemoveAddresses,
    /// One GARP/NA burst for all VIPs and eVIPs: `repeat` rounds (see the module comment).
    Announce { repeat: u32 },
    /// Run `notify_<state>` and `notify` and write the FIFO for the new state.
    Notify(State),
    /// A master received a lower-priority advert: `notify_master_rx_lower_pri`.
    NotifyMasterRxLowerPri,
    /// One GARP/NA for our own source address: a unicast instance leaving Fault, so that its
    /// peers can send to it before their ARP/ND entries would otherwise be renewed
    /// (keepalived's `try_up_instance`).
    AnnounceSource,
    /// The instance stopped: `notify_stop`.
    NotifyStop,
}

/// GARP/NA burst settings after keepalived's defaults and strict-mode rules.
#[derive(Clone, Copy, Debug)]
struct GarpTiming {
    master_delay: Micros,
    master_repeat: u32,
    refresh: Option<Micros>,
    refresh_repeat: u32,
    lower_prio_delay: Micros,
    lower_prio_repeat: u32,
}

/// How a sync group constrains this instance (set by [`super::sync::SyncGroup`]).
#[derive(Clone, Copy, Debug)]
struct SyncRole {
    member: bool,
    /// May this member become master when its down timer fires? keepalived's
    /// `vrrp_sync_can_goto_master`: the group is master, or every other member wants master.
    gate: bool,
    /// At startup the group as a whole is master (all members are address owners).
    group_master: bool,
    /// Another member is in fault: this one must stay in fault too.
    forced_fault: bool,
}

#[derive(Debug)]
pub struct Instance {
    // Settings, fixed after `new`.
    version: u8,
    adver_int: Micros,
    adver_int_centis: u16,
    down_timer_adverts: u8,
    nopreempt: bool,
    preempt_delay: Micros,
    accept: bool,
    lower_prio_no_advert: bool,
    higher_prio_send_advert: bool,
    skip_check_adv_addr: bool,
    initial_want_master: bool,
    garp: GarpTiming,
    checks: ReceiveChecks,

    // Run-time state.
    src_addr: Option<IpAddr>,
    base_priority: u8,
    priority_offset: i32,
    effective_priority: u8,
    state: State,
    /// keepalived's `wantstate`: the state this instance would be in without its sync group.
    want: State,
    master_adver_int: Micros,
    /// keepalived's `ms_down_timer`: the span the Backup timer is (re)armed with.
    down_timer: Micros,
    /// keepalived's `sands`: Master_Down_Timer expiry in Backup, next advert in Master.
    timer: Option<Instant>,
    preempt_time: Option<Instant>,
    master_addr: Option<IpAddr>,
    own_fault: bool,
    sync: SyncRole,
    rx_lower_prio: bool,
    garp_delay_at: Option<Instant>,
    garp_refresh_at: Option<Instant>,
    lower_prio_garps: Deque<Instant, LOWER_PRIO_GARPS>,
    /// `auth_type AH` only.
    ah: Option<AhSequence>,
    actions: Deque<Action, ACTION_QUEUE>,
    stats: Stats,
}

impl Instance {
    /// Builds the instance in Initialize. Applies keepalived's `vrrp_complete_instance` rules
    /// the config model leaves to the runtime: priority 255 or `state MASTER` cancel `nopreempt`
    /// and `preempt_delay`; strict mode forces `lower_prio_no_advert`, clears
    /// `higher_prio_send_advert`, lower-priority GARPs and `preempt_delay`, and the default
    /// `down_timer_adverts`; accept mode defaults to on unless strict (always on for the owner);
    /// `auth_type AH` turns a non-owner's `state MASTER` into BACKUP (before the rules above
    /// look at it: "Initial state master is incompatible with AH authentication").
    pub fn new(config: &VrrpInstance, _now: Instant) -> Instance {
        let base_priority = config.priority.get();
        let owner = base_priority == PRIORITY_OWNER;
        let strict = config.strict_mode;
        let ah = ah_key(config).is_some();
        // keepalived's default state for an owner is MASTER (RFC 5798 §6.4.1 makes the owner
        // master at startup); an owner with an explicit `state BACKUP` waits
        // Master_Down_Interval like keepalived 2.2.7. Strict mode ties MASTER to ownership.
        // With AH keepalived wants to hear an advert (and its sequence number) before taking
        // over.
        let initial_want_master = (owner && config.state != Some(InitialState::Backup))
            || (!strict && !ah && config.state == Some(InitialState::Master));
        let nopreempt = config.nopreempt && !owner && !initial_want_master;
        let preempt_delay = if nopreempt || initial_want_master || strict {
            Micros(0)
        } else {
            config.preempt_delay
        };
        let accept = match config.accept {
            None => owner || !strict,
            Some(on) => on && (owner || !(strict && config.version.number() == 2)),
        };
        let g = &config.garp;
        let garp = GarpTiming {
            master_delay: g.master_delay,
            master_repeat: g.master_repeat,
            refresh: g.master_refresh.filter(|r| r.0 > 0),
            refresh_repeat: g.master_refresh_repeat,
            // keepalived defaults these to the global vrrp_garp_master_*; the model resolves
            // globals into each instance, so the instance's own master values stand in.
            lower_prio_delay: if strict {
                Micros(0)
            } else {
                g.lower_prio_delay.unwrap_or(g.master_delay)
            },
            lower_prio_repeat: if strict {
                0
            } else {
                g.lower_prio_repeat.unwrap_or(g.master_repeat)
            },
        };
        let adver_int_centis = config.version.advert_int_centis();
        let adver_int = timers::centis(adver_int_centis);
        let down_timer_adverts = match config.down_timer_adverts {
            Some(n) if !strict && (1..=100).contains(&n) => n,
            _ => timers::DEFAULT_DOWN_TIMER_ADVERTS,
        };
        let mut i = Instance {
            version: config.version.number(),
            adver_int,
            adver_int_centis,
            down_timer_adverts,
            nopreempt,
            preempt_delay,
            accept,
            lower_prio_no_advert: config.lower_prio_no_advert || strict,
            higher_prio_send_advert: config.higher_prio_send_advert && !strict,
            skip_check_adv_addr: config.skip_check_adv_addr,
            initial_want_master,
            garp,
            checks: ReceiveChecks::new(config),
            src_addr: config.unicast_src_ip.or(config.mcast_src_ip),
            base_priority,
            priority_offset: 0,
            effective_priority: base_priority,
            state: State::Initialize,
            want: if initial_want_master {
                State::Master
            } else {
                State::Backup
            },
            master_adver_int: adver_int,
            down_timer: Micros(0),
            timer: None,
            preempt_time: None,
            master_addr: None,
            own_fault: false,
            sync: SyncRole {
                member: false,
                gate: true,
                group_master: false,
                forced_fault: false,
            },
            rx_lower_prio: false,
            garp_delay_at: None,
            garp_refresh_at: None,
            lower_prio_garps: Deque::new(),
            ah: ah.then(AhSequence::new),
            actions: Deque::new(),
            stats: Stats::default(),
        };
        i.down_timer = i.master_down_interval();
        i
    }

    // ---- queries ----

    pub fn state(&self) -> State {
        self.state
    }

    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Accept mode (RFC 5798 §6.1) after keepalived's defaults; the daemon installs the
    /// matching firewall rules, the state machine does not use it.
    pub fn accept(&self) -> bool {
        self.accept
    }

    /// Master_Adver_Interval: ours, or the one learned from the current master (VRRPv3).
    pub fn master_adver_int(&self) -> Micros {
        self.master_adver_int
    }

    /// Master_Down_Interval for the current priority and Master_Adver_Interval.
    pub fn master_down_interval(&self) -> Micros {
        timers::master_down_interval(
            self.version,
            self.effective_priority,
            self.master_adver_int,
            self.down_timer_adverts,
        )
    }

    /// Skew_Time for the current priority and Master_Adver_Interval.
    pub fn skew_time(&self) -> Micros {
        timers::skew_time(self.version, self.effective_priority, self.master_adver_int)
    }

    /// The VIPs our adverts carry, in order (the daemon's advert builder uses the same list).
    pub fn advertised_addresses(&self) -> &[IpAddr] {
        self.checks.advertised()
    }

    /// Sender address of the last advert accepted from another router.
    pub fn master_address(&self) -> Option<IpAddr> {
        self.master_addr
    }

    /// The state this instance would be in if it were not held by its sync group.
    pub fn wanted_state(&self) -> State {
        self.want
    }

    /// The AH sequence counter (`auth_type AH` only), to carry over a reload.
    pub fn ah_sequence(&self) -> Option<AhSequence> {
        self.ah
    }

    /// Its own tracking says fault (not counting a fault forced by the sync group).
    pub fn own_fault(&self) -> bool {
        self.own_fault
    }

    // ---- inputs ----

    /// The counter of this instance before a reload (keepalived keeps it too) or a restart of
    /// the process. Ignored unless the instance uses AH; call before [`Instance::start`].
    pub fn restore_ah_sequence(&mut self, sequence: AhSequence) {
        if let Some(s) = &mut self.ah {
            *s = sequence;
        }
    }

    /// The address our adverts are sent from (`unicast_src_ip`/`mcast_src_ip`, else the
    /// interface's primary address, which only the daemon knows). Used for the equal-priority
    /// tie-break; while unknown, an equal-priority advert neither wins nor loses.
    pub fn set_src_addr(&mut self, addr: Option<IpAddr>) {
        self.src_addr = addr;
    }

    /// Startup event (RFC 5798 §6.4.1), keepalived's `vrrp_init_state`:
    /// - in fault: Fault, without a notify (keepalived runs no notify for an initial fault);
    /// - the address owner: Master at once;
    /// - a sync-group member configured `state MASTER` whose group is not master: Backup, with
    ///   the timer at one interval plus the minimum skew;
    /// - otherwise Backup with Master_Down_Interval. A non-owner `state MASTER` outside a sync
    ///   group therefore waits the full interval too (keepalived 2.2 does the same), then
    ///   preempts any lower-priority master since `nopreempt`/`preempt_delay` were cancelled.
    pub fn start(&mut self, now: Instant) {
        if self.state != State::Initialize {
            return;
        }
        self.master_adver_int = self.adver_int;
        self.master_addr = None;
        self.preempt_time = None;
        if self.own_fault || self.sync.forced_fault {
            self.state = State::Fault;
            self.want = State::Fault;
            self.timer = None;
            return;
        }
        if self.base_priority == PRIORITY_OWNER
            && self.initial_want_master
            && (!self.sync.member || self.sync.group_master)
        {
            self.become_master(now);
            return;
        }
        self.down_timer = if self.sync.member && self.initial_want_master && !self.sync.group_master
        {
            Micros(self.adver_int.0 + timers::skew_time_min(self.version, self.master_adver_int).0)
        } else {
            self.master_down_interval()
        };
        self.state = State::Backup;
        self.timer = Some(now + self.down_timer);
        self.push(Action::Notify(State::Backup));
    }

    /// Startup of an instance the previous run of this daemon left as master (a restarted VRRP
    /// child, or a reload that kept the instance): Master at once with an advert now, so that
    /// backups never see Master_Down_Interval pass. Not in fault, not held by a sync group
    /// that is not master; otherwise the normal [`Instance::start`]. A better router on the
    /// LAN still wins by the usual rules when its advert arrives.
    /// `ah_skip`: AH sequence numbers the previous run may have sent past the counter given to
    /// [`Instance::restore_ah_sequence`]; skipped only when resuming as master (peers refuse a
    /// number they saw, while a backup must stay below the master's numbers to accept them).
    pub fn resume_master(&mut self, now: Instant, ah_skip: u32) {
        if self.state != State::Initialize {
            return;
        }
        if self.own_fault || self.sync.forced_fault || (self.sync.member && !self.sync.gate) {
            self.start(now);
            return;
        }
        self.master_addr = None;
        self.preempt_time = None;
        if let Some(s) = &mut self.ah {
            s.skip(ah_skip);
        }
        self.become_master(now);
    }

    /// A received advertisement (RFC 5798 §6.4.2 in Backup, §6.4.3 in Master).
    pub fn handle_advert(&mut self, now: Instant, advert: &Advert) -> Result<(), DropReason> {
        if !matches!(self.state, State::Backup | State::Master) {
            self.stats.count_drop(DropReason::NotRunning);
            return Err(DropReason::NotRunning);
        }
        let check_addresses = self.state == State::Master
            || !self.skip_check_adv_addr
            || self.master_addr != Some(advert.src);
        if let Err(reason) = self.checks.check(advert, check_addresses, self.ah.as_mut()) {
            self.stats.count_drop(reason);
            return Err(reason);
        }
        if let (Some(s), State::Backup) = (&mut self.ah, self.state) {
            s.clear_cycle();
        }
        self.stats.adverts_received += 1;
        if advert.priority == PRIORITY_STOP {
            self.stats.priority_zero_received += 1;
        }
        if self.state == State::Backup {
            self.backup_rx(now, advert);
        } else {
            self.master_rx(now, advert);
        }
        Ok(())
    }

    /// Timer expiry; call when `now >= poll_timeout()`. Does nothing if nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timer.is_some_and(|t| t <= now) {
            match self.state {
                State::Backup => self.master_down(now),
                State::Master => self.master_tx(now),
                State::Initialize | State::Fault => self.timer = None,
            }
        }
        if self.garp_delay_at.is_some_and(|t| t <= now) {
            self.garp_delay_at = None;
            if self.state == State::Master {
                self.announce(self.garp.master_repeat);
            }
        }
        while self.lower_prio_garps.front().is_some_and(|t| *t <= now) {
            self.lower_prio_garps.pop_front();
            if self.state == State::Master {
                self.announce(self.garp.lower_prio_repeat);
            }
        }
    }

    /// The earliest instant `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timer,
            self.garp_delay_at,
            self.lower_prio_garps.front().copied(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Tracking says this instance must (not) be in Fault. From Master: a priority-0 advert,
    /// address removal, Notify(Fault). Leaving Fault: Backup with Master_Down_Interval (also for
    /// the address owner, as keepalived's `try_up_instance`).
    pub fn set_fault(&mut self, now: Instant, fault: bool) {
        self.own_fault = fault;
        self.apply_fault(now);
    }

    /// The sum of tracking weights. Effective priority = configured + offset within 1..=254;
    /// the address owner's 255 never changes (keepalived's `vrrp_set_effective_priority`). In
    /// Backup the running Master_Down_Timer moves by the change in Master_Down_Interval.
    pub fn set_priority_offset(&mut self, now: Instant, offset: i32) {
        let _ = now;
        self.priority_offset = offset;
        self.update_effective_priority();
    }

    /// Shutdown event (RFC 5798 §6.4.3): a master sends priority 0 and removes its addresses;
    /// every state reports `NotifyStop` and ends in Initialize with no timers.
    pub fn shutdown(&mut self, now: Instant) {
        let _ = now;
        if self.state == State::Master {
            self.send_advert(PRIORITY_STOP);
            self.push(Action::RemoveAddresses);
            self.stats.release_master += 1;
        }
        if self.state != State::Initialize {
            self.push(Action::NotifyStop);
        }
        self.state = State::Initialize;
        self.clear_timers();
    }

    // ---- sync-group hooks (used by `super::sync`) ----

    pub(crate) fn join_sync_group(&mut self, group_master: bool) {
        self.sync.member = true;
        self.sync.group_master = group_master;
    }

    pub(crate) fn set_sync_gate(&mut self, allow_master: bool) {
        self.sync.gate = allow_master;
    }

    pub(crate) fn set_forced_fault(&mut self, now: Instant, fault: bool) {
        if self.sync.forced_fault != fault {
            self.sync.forced_fault = fault;
            self.apply_fault(now);
        }
    }

    /// keepalived's `vrrp_sync_master` on this member: go master without waiting.
    pub(crate) fn force_master(&mut self, now: Instant) {
        if self.state == State::Backup {
            self.become_master(now);
        }
    }

    /// keepalived's `vrrp_sync_backup` on this member.
    pub(crate) fn force_backup(&mut self, now: Instant) {
        match self.state {
            State::Master => self.leave_master(now, None),
            State::Initialize | State::Backup | State::Fault => {}
        }
    }

    /// A lower-priority advert reached this member's master, or another member's: keepalived
    /// refreshes every member's GARPs (those with `garp_lower_prio_repeat`).
    pub(crate) fn take_rx_lower_prio(&mut self) -> bool {
        core::mem::take(&mut self.rx_lower_prio)
    }

    pub(crate) fn announce_lower_prio(&mut self, now: Instant) {
        if self.state != State::Master || self.garp.lower_prio_repeat == 0 {
            return;
        }
        self.announce(self.garp.lower_prio_repeat);
        if self.garp.lower_prio_delay.0 > 0
            && self
                .lower_prio_garps
                .push_back(now + self.garp.lower_prio_delay)
                .is_err()
        {
            self.stats.garp_lower_prio_dropped += 1;
        }
    }

    // ---- the state machine ----

    /// RFC 5798 §6.4.2 as keepalived's `vrrp_state_backup`.
    fn backup_rx(&mut self, now: Instant, a: &Advert) {
        if a.priority == PRIORITY_STOP {
            // The master is leaving: take over after Skew_Time only.
            self.down_timer = self.skew_time();
            self.timer = Some(now + self.down_timer);
            return;
        }
        let ours = self.effective_priority;
        let delaying = self.preempt_delay.0 > 0 && self.preempt_time.is_none_or(|t| t > now);
        if self.nopreempt || a.priority >= ours || delaying {
            if self.version == 3 {
                // RFC 5798 §6.4.2: Master_Adver_Interval := the advert's Max Adver Int.
                self.master_adver_int = timers::centis(a.adver_int_centis);
            }
            self.down_timer = self.master_down_interval();
            self.master_addr = Some(a.src);
            if self.preempt_delay.0 > 0 {
                if a.priority >= ours {
                    self.preempt_time = None;
                } else if self.preempt_time.is_none() {
                    // A lower-priority master: preempt it only after preempt_delay, counted
                    // from its first advert; until then treat it as the master.
                    self.preempt_time = Some(now + self.preempt_delay);
                }
            }
            self.want = State::Backup;
            self.timer = Some(now + self.down_timer);
        } else {
            // A lower-priority master we will preempt: ignore it and let the timer run out.
            self.master_addr = Some(a.src);
        }
    }

    /// RFC 5798 §6.4.3 as keepalived's `vrrp_state_master_rx`.
    fn master_rx(&mut self, now: Instant, a: &Advert) {
        let cmp = compare_sender(a.src, self.src_addr);
        let ours = self.effective_priority;
        let they_win = a.priority > ours || (a.priority == ours && cmp == Ordering::Greater);
        if a.priority == PRIORITY_STOP || (self.higher_prio_send_advert && they_win) {
            // Priority 0: another master is leaving; assert ourselves at once. The other case
            // makes a higher-priority master that sees us re-send its GARPs.
            self.send_advert(self.effective_priority);
            self.timer = Some(now + self.adver_int);
            if a.priority == PRIORITY_STOP {
                return;
            }
        }
        if a.priority == ours && cmp != Ordering::Equal && ours == PRIORITY_OWNER {
            // Two address owners: a configuration error. keepalived lowers its own priority
            // to 254 so that one of them wins.
            self.base_priority = PRIORITY_OWNER - 1;
            self.update_effective_priority();
        }
        let ours = self.effective_priority;
        if a.priority < ours || (a.priority == ours && cmp == Ordering::Less) {
            // A lower-priority router is master too (a partition healed): stay master,
            // advertise now so it steps down (unless lower_prio_no_advert), refresh ARP caches.
            if let (Some(s), Some(ah)) = (&mut self.ah, a.ah) {
                // keepalived "syncs" its counter to the lower router's (see `super::ah`).
                s.sync_from_lower(ah.sequence_number);
            }
            if !self.lower_prio_no_advert {
                self.send_advert(ours);
                self.timer = Some(now + self.adver_int);
            }
            self.announce_lower_prio(now);
            self.rx_lower_prio = true;
            self.push(Action::NotifyMasterRxLowerPri);
            return;
        }
        if a.priority > ours || (a.priority == ours && cmp == Ordering::Greater) {
            if let Some(s) = &mut self.ah {
                s.clear_cycle();
            }
            let learned = (self.version == 3).then(|| timers::centis(a.adver_int_centis));
            self.master_addr = Some(a.src);
            self.leave_master(now, learned);
        }
        // Equal priority from our own address: keepalived only logs it.
    }

    /// Backup's Master_Down_Timer fired.
    fn master_down(&mut self, now: Instant) {
        self.want = State::Master;
        if self.sync.member && !self.sync.gate {
            // Held by the sync group until the other members want master too; re-arm.
            self.down_timer = self.master_down_interval();
            self.timer = Some(now + self.down_timer);
            return;
        }
        self.become_master(now);
    }

    /// keepalived's `vrrp_state_goto_master` + `vrrp_state_become_master`: advert first so
    /// the old master drops the VIPs before our GARPs go out.
    fn become_master(&mut self, now: Instant) {
        if let Some(s) = &mut self.ah {
            s.become_master();
        }
        self.state = State::Master;
        self.want = State::Master;
        self.master_adver_int = self.adver_int;
        self.timer = Some(now + self.adver_int);
        self.send_advert(self.effective_priority);
        self.stats.become_master += 1;
        self.push(Action::AddAddresses);
        self.announce(self.garp.master_repeat);
        self.garp_refresh_at = self.garp.refresh.map(|r| now + r);
        self.garp_delay_at = (self.garp.master_delay.0 > 0).then(|| now + self.garp.master_delay);
        self.push(Action::Notify(State::Master));
    }

    /// Master's advert timer fired (RFC 5798 §6.4.3).
    fn master_tx(&mut self, now: Instant) {
        self.send_advert(self.effective_priority);
        self.timer = Some(now + self.adver_int);
        if let (Some(at), Some(every)) = (self.garp_refresh_at, self.garp.refresh) {
            if at <= now {
                self.announce(self.garp.refresh_repeat);
                self.garp_refresh_at = Some(now + every);
            }
        }
    }

    /// Master → Backup (a better master, or the sync group). `learned`: the new master's
    /// VRRPv3 interval.
    fn leave_master(&mut self, now: Instant, learned: Option<Micros>) {
        if let Some(interval) = learned {
            self.master_adver_int = interval;
        }
        self.push(Action::RemoveAddresses);
        self.state = State::Backup;
        self.want = State::Backup;
        self.preempt_time = None;
        self.clear_garp_timers();
        self.stats.release_master += 1;
        self.push(Action::Notify(State::Backup));
        self.down_timer = self.master_down_interval();
        self.timer = Some(now + self.down_timer);
    }

    fn apply_fault(&mut self, now: Instant) {
        let fault = self.own_fault || self.sync.forced_fault;
        match (fault, self.state) {
            (_, State::Initialize) => {}
            (true, State::Fault) | (false, State::Backup | State::Master) => {}
            (true, previous) => {
                if previous == State::Master {
                    // keepalived sends this twice (leave_master and restore_interface); once
                    // is enough for the backups to start their Skew_Time takeover.
                    self.send_advert(PRIORITY_STOP);
                    self.push(Action::RemoveAddresses);
                    self.stats.release_master += 1;
                }
                self.state = State::Fault;
                self.want = State::Fault;
                self.clear_timers();
                self.push(Action::Notify(State::Fault));
            }
            (false, State::Fault) => {
                if self.checks.unicast() {
                    self.push(Action::AnnounceSource);
                }
                self.state = State::Backup;
                self.want = State::Backup;
                self.master_adver_int = self.adver_int;
                self.preempt_time = None;
                self.down_timer = self.master_down_interval();
                self.timer = Some(now + self.down_timer);
                self.push(Action::Notify(State::Backup));
            }
        }
    }

    fn update_effective_priority(&mut self) {
        let new = if self.base_priority == PRIORITY_OWNER {
            PRIORITY_OWNER
        } else {
            let total = i64::from(self.base_priority) + i64::from(self.priority_offset);
            // In 1..=254 by the clamp, so the conversion cannot fail.
            u8::try_from(total.clamp(1, i64::from(PRIORITY_OWNER - 1))).unwrap_or(1)
        };
        if new == self.effective_priority {
            return;
        }
        let old_down = self.down_timer;
        self.effective_priority = new;
        self.down_timer = self.master_down_interval();
        if self.state == State::Backup {
            // keepalived moves the running timer by the change rather than restarting it.
            if let Some(t) = self.timer {
                self.timer = Some(if self.down_timer >= old_down {
                    t + Micros(self.down_timer.0 - old_down.0)
                } else {
                    t - Micros(old_down.0 - self.down_timer.0)
                });
            }
        }
    }

    fn send_advert(&mut self, priority: u8) {
        self.stats.adverts_sent += 1;
        if priority == PRIORITY_STOP {
            self.stats.priority_zero_sent += 1;
        }
        let ah_sequence = self.ah.as_mut().map(AhSequence::next_to_send);
        self.push(Action::SendAdvert {
            priority,
            adver_int_centis: self.adver_int_centis,
            ah_sequence,
        });
    }

    fn announce(&mut self, repeat: u32) {
        if repeat > 0 {
            self.push(Action::Announce { repeat });
        }
    }

    fn clear_garp_timers(&mut self) {
        self.garp_delay_at = None;
        self.garp_refresh_at = None;
        self.lower_prio_garps.clear();
    }

    fn clear_timers(&mut self) {
        self.timer = None;
        self.clear_garp_timers();
    }

    fn push(&mut self, action: Action) {
        if self.actions.push_back(action).is_err() {
            self.stats.actions_dropped += 1;
        }
    }
}

#[cfg(test)]
#[path = "instance_tests.rs"]
pub(crate) mod tests;
