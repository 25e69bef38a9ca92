//! Fake-clock scenarios for [`super::Instance`]: every transition, the timer numbers, the GARP
//! schedule and each drop counter.

use super::*;
use crate::config::model::{
    AdvertIntCentis, AdvertIntSecs, Auth, Garp, IfName, Priority, UnicastPeer, Version,
    VirtualAddress, VirtualAddresses, Vrid,
};
use std::net::Ipv4Addr;

pub(crate) fn at(us: u64) -> Instant {
    Instant(us)
}

const SEC: u64 = 1_000_000;
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const VIPS: [IpAddr; 1] = [IpAddr::V4(VIP)];
const OURS: [u8; 4] = [10, 0, 0, 5];

fn vip(addr: Ipv4Addr) -> VirtualAddress<Ipv4Addr> {
    VirtualAddress {
        addr,
        prefix_len: 24,
        broadcast: None,
        dev: None,
        scope: None,
        label: None,
        peer: None,
        home: false,
        no_dad: false,
        mngtmpaddr: false,
        no_prefix_route: false,
        autojoin: false,
        no_track: false,
        use_vmac: false,
        preferred_lft: None,
    }
}

/// VRRPv3 at 100 cs (or v2 at 1 s), one VIP, multicast, our address 10.0.0.5, VRID 1.
pub(crate) fn config(version: u8, priority: u8) -> VrrpInstance {
    VrrpInstance {
        name: "VI_1".into(),
        state: None,
        interface: IfName::new("eth0").expect("name"),
        virtual_router_id: Vrid::new(1).expect("vrid"),
        priority: Priority::new(priority).expect("priority"),
        version: if version == 2 {
            Version::V2 {
                advert_int: AdvertIntSecs::new(1).expect("1 s"),
                auth: None,
            }
        } else {
            Version::V3 {
                advert_int: AdvertIntCentis::new(100).expect("100 cs"),
            }
        },
        virtual_ipaddress: VirtualAddresses::V4(vec![vip(VIP)]),
        virtual_ipaddress_excluded: vec![],
        virtual_routes: vec![],
        mcast_src_ip: Some(IpAddr::from(OURS)),
        mcast_dst_ip: None,
        unicast_src_ip: None,
        unicast_peer: vec![],
        unicast_ttl: None,
        unicast_fault_no_peer: false,
        check_unicast_src: false,
        old_unicast_checksum: false,
        track_interface: vec![],
        track_script: vec![],
        track_file: vec![],
        dont_track_primary: false,
        track_src_ip: false,
        nopreempt: false,
        preempt_delay: Micros(0),
        accept: None,
        strict_mode: false,
        skip_check_adv_addr: false,
        lower_prio_no_advert: false,
        higher_prio_send_advert: false,
        garp: Garp::default(),
        down_timer_adverts: None,
        use_vmac: None,
        native_ipv6: false,
        promote_secondaries: false,
        lvs_sync_daemon_interface: None,
        smtp_alert: false,
        notify: Default::default(),
    }
}

/// A valid VRRPv3 multicast advert for VRID 1 carrying our VIP.
pub(crate) fn adv(src: [u8; 4], priority: u8) -> Advert<'static> {
    Advert {
        src: IpAddr::from(src),
        ttl: 255,
        unicast: false,
        version: 3,
        vrid: 1,
        priority,
        adver_int_centis: 100,
        auth: None,
        ah: None,
        addresses: &VIPS,
    }
}

pub(crate) fn drain(i: &mut Instance) -> Vec<Action> {
    core::iter::from_fn(|| i.poll_action()).collect()
}

fn send(priority: u8) -> Action {
    Action::SendAdvert {
        priority,
        adver_int_centis: 100,
        ah_sequence: None,
    }
}

fn became_master(priority: u8) -> Vec<Action> {
    vec![
        send(priority),
        Action::AddAddresses,
        Action::Announce { repeat: 5 },
        Action::Notify(State::Master),
    ]
}

fn started(c: &VrrpInstance) -> Instance {
    let mut i = Instance::new(c, at(0));
    i.start(at(0));
    drain(&mut i);
    i
}

/// Started as backup and timed out into master at `Master_Down_Interval`; actions drained.
fn master(c: &VrrpInstance) -> (Instance, Instant) {
    let mut i = started(c);
    let t = i.poll_timeout().expect("down timer");
    i.handle_timeout(t);
    assert_eq!(i.state(), State::Master);
    drain(&mut i);
    (i, t)
}

// ---- startup and the down timer ----

#[test]
fn startup_backup_then_master_after_master_down_v3() {
    let mut i = Instance::new(&config(3, 200), at(0));
    assert_eq!(i.state(), State::Initialize);
    assert_eq!(i.poll_timeout(), None);
    i.start(at(0));
    assert_eq!(i.state(), State::Backup);
    assert_eq!(drain(&mut i), [Action::Notify(State::Backup)]);
    // keepalived's v3 arithmetic: 3 × 1 s + (56 × 100 cs × 10_000 / 256) µs.
    assert_eq!(i.poll_timeout(), Some(at(3_218_750)));
    i.handle_timeout(at(3_218_749));
    assert!(drain(&mut i).is_empty());
    i.handle_timeout(at(3_218_750));
    assert_eq!(i.state(), State::Master);
    assert_eq!(drain(&mut i), became_master(200));
    assert_eq!(i.stats().become_master, 1);
    assert_eq!(i.stats().adverts_sent, 1);
}

#[test]
fn startup_v2_master_down_is_3_609375_s() {
    let mut i = Instance::new(&config(2, 100), at(0));
    i.start(at(0));
    assert_eq!(i.poll_timeout(), Some(at(3_609_375)));
}

#[test]
fn master_advertises_every_interval() {
    let (mut i, t) = master(&config(3, 200));
    assert_eq!(i.poll_timeout(), Some(t + Micros(SEC)));
    i.handle_timeout(t + Micros(SEC));
    assert_eq!(drain(&mut i), [send(200)]);
    assert_eq!(i.poll_timeout(), Some(t + Micros(2 * SEC)));
}

#[test]
fn owner_255_starts_master_at_once() {
    let mut i = Instance::new(&config(3, 255), at(0));
    i.start(at(7));
    assert_eq!(i.state(), State::Master);
    assert_eq!(drain(&mut i), became_master(255));
    assert_eq!(i.poll_timeout(), Some(at(7 + SEC)));
}

#[test]
fn resume_master_advertises_at_once_without_waiting() {
    // A restarted child on the master: no Backup phase, an advert right now.
    let mut i = Instance::new(&config(3, 100), at(0));
    i.resume_master(at(5), 0);
    assert_eq!(i.state(), State::Master);
    assert_eq!(drain(&mut i), became_master(100));
    assert_eq!(i.poll_timeout(), Some(at(5 + SEC)));
    // Only from Initialize.
    i.resume_master(at(9), 0);
    assert!(drain(&mut i).is_empty());
}

#[test]
fn resume_master_in_fault_starts_in_fault() {
    let mut i = Instance::new(&config(3, 100), at(0));
    i.set_fault(at(0), true);
    drain(&mut i);
    i.resume_master(at(1), 0);
    assert_eq!(i.state(), State::Fault);
}

#[test]
fn resumed_master_yields_to_a_higher_priority_master() {
    let mut i = Instance::new(&config(3, 100), at(0));
    i.resume_master(at(0), 0);
    drain(&mut i);
    i.handle_advert(at(10), &adv([10, 0, 0, 9], 200))
        .expect("accepted");
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn state_master_below_255_waits_the_full_down_interval() {
    let mut c = config(3, 200);
    c.state = Some(InitialState::Master);
    c.nopreempt = true;
    c.preempt_delay = Micros(10 * SEC);
    let mut i = Instance::new(&c, at(0));
    i.start(at(0));
    assert_eq!(drain(&mut i), [Action::Notify(State::Backup)]);
    assert_eq!(i.poll_timeout(), Some(at(3_218_750)));
    // nopreempt and preempt_delay were cancelled: a lower master is preempted.
    i.handle_advert(at(SEC), &adv([10, 0, 0, 1], 100))
        .expect("valid advert");
    i.handle_timeout(at(3_218_750));
    assert_eq!(i.state(), State::Master);
}

#[test]
fn start_twice_is_harmless() {
    let mut i = started(&config(3, 100));
    i.start(at(5));
    assert!(drain(&mut i).is_empty());
    assert_eq!(i.state(), State::Backup);
}

// ---- Backup receiving ----

#[test]
fn backup_higher_or_equal_advert_resets_the_down_timer() {
    let mut i = started(&config(3, 100));
    for (k, prio) in [(1, 200), (2, 100)] {
        let now = at(k * SEC);
        assert_eq!(i.handle_advert(now, &adv([10, 0, 0, 1], prio)), Ok(()));
        assert_eq!(i.poll_timeout(), Some(now + i.master_down_interval()));
    }
    assert_eq!(i.master_address(), Some(IpAddr::from([10, 0, 0, 1])));
    assert!(drain(&mut i).is_empty());
    assert_eq!(i.stats().adverts_received, 2);
}

#[test]
fn backup_ignores_a_lower_master_and_preempts_on_time() {
    let mut i = started(&config(3, 200));
    let down = i.poll_timeout();
    i.handle_advert(at(SEC), &adv([10, 0, 0, 1], 100))
        .expect("valid advert");
    assert_eq!(i.poll_timeout(), down, "the timer keeps running");
    i.handle_timeout(at(3_218_750));
    assert_eq!(i.state(), State::Master);
}

#[test]
fn backup_priority_zero_takes_over_after_skew_only() {
    let mut i = started(&config(3, 200));
    i.handle_advert(at(SEC), &adv([10, 0, 0, 1], 250))
        .expect("valid advert");
    i.handle_advert(at(2 * SEC), &adv([10, 0, 0, 1], 0))
        .expect("valid advert");
    assert_eq!(i.stats().priority_zero_received, 1);
    assert_eq!(i.poll_timeout(), Some(at(2 * SEC + 218_750)));
    i.handle_timeout(at(2 * SEC + 218_750));
    assert_eq!(i.state(), State::Master);
}

#[test]
fn nopreempt_stays_backup_behind_a_lower_master() {
    let mut c = config(3, 200);
    c.nopreempt = true;
    let mut i = started(&c);
    for k in 1..10 {
        i.handle_advert(at(k * SEC), &adv([10, 0, 0, 1], 100))
            .expect("valid advert");
        i.handle_timeout(at(k * SEC));
    }
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.poll_timeout(), Some(at(9 * SEC + 3_218_750)));
}

#[test]
fn preempt_delay_counts_from_the_first_lower_advert() {
    let mut c = config(3, 200);
    c.preempt_delay = Micros(5 * SEC);
    let mut i = started(&c);
    // The lower master's adverts arrive every second from t = 1 s.
    let mut now = 0;
    for k in 1..=20 {
        let t = k * SEC;
        if i.poll_timeout().is_some_and(|d| d <= at(t)) {
            now = i.poll_timeout().map_or(0, |d| d.0);
            i.handle_timeout(at(now));
            break;
        }
        i.handle_advert(at(t), &adv([10, 0, 0, 1], 100))
            .expect("valid advert");
    }
    assert_eq!(i.state(), State::Master);
    // Adverts up to t = 5 s (< 1 s + 5 s) re-arm the timer; the one at 6 s is ignored.
    assert_eq!(now, 5 * SEC + 3_218_750);
}

#[test]
fn preempt_delay_is_cancelled_by_a_higher_master() {
    let mut c = config(3, 200);
    c.preempt_delay = Micros(5 * SEC);
    let mut i = started(&c);
    i.handle_advert(at(SEC), &adv([10, 0, 0, 1], 100))
        .expect("valid advert");
    i.handle_advert(at(2 * SEC), &adv([10, 0, 0, 2], 250))
        .expect("valid advert");
    // The delay restarts at the next lower advert.
    i.handle_advert(at(7 * SEC), &adv([10, 0, 0, 1], 100))
        .expect("valid advert");
    assert_eq!(i.poll_timeout(), Some(at(7 * SEC + 3_218_750)));
}

#[test]
fn v3_backup_learns_the_masters_interval() {
    let mut i = started(&config(3, 200));
    let a = Advert {
        adver_int_centis: 50,
        ..adv([10, 0, 0, 1], 250)
    };
    i.handle_advert(at(SEC), &a).expect("valid advert");
    assert_eq!(i.master_adver_int(), Micros(500_000));
    // 3 × 0.5 s + 56 × 50 × 10_000 / 256 µs.
    assert_eq!(i.poll_timeout(), Some(at(SEC + 1_500_000 + 109_375)));
    // It still advertises its own interval once master.
    i.handle_timeout(at(SEC + 1_609_375));
    assert_eq!(drain(&mut i)[0], send(200));
    assert_eq!(i.master_adver_int(), Micros(SEC));
}

#[test]
fn v2_interval_mismatch_is_dropped_and_counted() {
    let mut i = started(&config(2, 100));
    let a = Advert {
        version: 2,
        adver_int_centis: 200,
        ..adv([10, 0, 0, 1], 250)
    };
    assert_eq!(i.handle_advert(at(SEC), &a), Err(DropReason::Interval));
    assert_eq!(i.stats().interval_error, 1);
    assert_eq!(i.poll_timeout(), Some(at(3_609_375)));
}

// ---- Master receiving ----

#[test]
fn master_seeing_higher_priority_goes_backup() {
    let (mut i, _) = master(&config(3, 200));
    let a = Advert {
        adver_int_centis: 200,
        ..adv([10, 0, 0, 1], 201)
    };
    i.handle_advert(at(10 * SEC), &a).expect("valid advert");
    assert_eq!(i.state(), State::Backup);
    assert_eq!(
        drain(&mut i),
        [Action::RemoveAddresses, Action::Notify(State::Backup)]
    );
    // Down timer from the new master's 2 s interval: 6 s + 56 × 200 × 10_000 / 256 µs.
    assert_eq!(i.poll_timeout(), Some(at(10 * SEC + 6_437_500)));
    assert_eq!(i.stats().release_master, 1);
}

#[test]
fn tie_break_on_the_sender_address() {
    let (mut i, _) = master(&config(3, 200));
    // Equal priority from a lower address: we win, and say so at once.
    i.handle_advert(at(10 * SEC), &adv([10, 0, 0, 4], 200))
        .expect("valid advert");
    assert_eq!(i.state(), State::Master);
    assert_eq!(drain(&mut i)[0], send(200));
    // From our own address: nothing (keepalived only logs it).
    i.handle_advert(at(10 * SEC), &adv(OURS, 200))
        .expect("valid advert");
    assert_eq!(i.state(), State::Master);
    assert!(drain(&mut i).is_empty());
    // From a higher address: they win.
    i.handle_advert(at(10 * SEC), &adv([10, 0, 0, 6], 200))
        .expect("valid advert");
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn lower_priority_advert_to_master_triggers_an_advert_and_garps() {
    let (mut i, t) = master(&config(3, 200));
    let now = t + Micros(SEC / 2);
    i.handle_advert(now, &adv([10, 0, 0, 9], 100))
        .expect("valid advert");
    assert_eq!(i.state(), State::Master);
    assert_eq!(
        drain(&mut i),
        [
            send(200),
            Action::Announce { repeat: 5 },
            Action::NotifyMasterRxLowerPri
        ]
    );
    // The advert timer restarts from the advert just sent.
    assert_eq!(i.poll_timeout(), Some(now + Micros(SEC)));
    // garp_lower_prio_delay defaults to garp_master_delay (5 s).
    i.handle_timeout(now + Micros(5 * SEC));
    assert_eq!(drain(&mut i).last(), Some(&Action::Announce { repeat: 5 }));
}

#[test]
fn lower_prio_no_advert_stays_quiet() {
    let mut c = config(3, 200);
    c.lower_prio_no_advert = true;
    c.garp.lower_prio_repeat = Some(0);
    let (mut i, t) = master(&c);
    i.handle_advert(at(10 * SEC), &adv([10, 0, 0, 9], 100))
        .expect("valid advert");
    assert_eq!(drain(&mut i), [Action::NotifyMasterRxLowerPri]);
    assert_eq!(i.poll_timeout(), Some(t + Micros(SEC)));
}

#[test]
fn master_answers_priority_zero_at_once() {
    let (mut i, t) = master(&config(3, 200));
    let now = t + Micros(SEC / 2);
    i.handle_advert(now, &adv([10, 0, 0, 9], 0))
        .expect("valid advert");
    assert_eq!(drain(&mut i), [send(200)]);
    assert_eq!(i.state(), State::Master);
    assert_eq!(i.poll_timeout(), Some(now + Micros(SEC)));
}

#[test]
fn higher_prio_send_advert_before_stepping_down() {
    let mut c = config(3, 200);
    c.higher_prio_send_advert = true;
    let (mut i, _) = master(&c);
    i.handle_advert(at(10 * SEC), &adv([10, 0, 0, 9], 250))
        .expect("valid advert");
    assert_eq!(
        drain(&mut i),
        [
            send(200),
            Action::RemoveAddresses,
            Action::Notify(State::Backup)
        ]
    );
}

#[test]
fn two_owners_the_lower_address_steps_down_to_254() {
    let mut i = Instance::new(&config(3, 255), at(0));
    i.start(at(0));
    drain(&mut i);
    i.handle_advert(at(SEC), &adv([10, 0, 0, 9], 255))
        .expect("valid advert");
    assert_eq!(i.effective_priority(), 254);
    assert_eq!(i.state(), State::Backup);
}

// ---- Fault, priority, shutdown ----

#[test]
fn fault_from_master_and_recovery() {
    let (mut i, _) = master(&config(3, 200));
    i.set_fault(at(10 * SEC), true);
    assert_eq!(i.state(), State::Fault);
    assert_eq!(
        drain(&mut i),
        [
            send(0),
            Action::RemoveAddresses,
            Action::Notify(State::Fault)
        ]
    );
    assert_eq!(i.poll_timeout(), None);
    assert_eq!(i.stats().priority_zero_sent, 1);
    assert_eq!(
        i.handle_advert(at(11 * SEC), &adv([10, 0, 0, 1], 100)),
        Err(DropReason::NotRunning)
    );
    i.set_fault(at(12 * SEC), true);
    assert!(drain(&mut i).is_empty());
    i.set_fault(at(20 * SEC), false);
    assert_eq!(i.state(), State::Backup);
    assert_eq!(drain(&mut i), [Action::Notify(State::Backup)]);
    assert_eq!(i.poll_timeout(), Some(at(20 * SEC + 3_218_750)));
}

#[test]
fn fault_from_backup_and_at_startup() {
    let mut i = started(&config(3, 100));
    i.set_fault(at(SEC), true);
    assert_eq!(drain(&mut i), [Action::Notify(State::Fault)]);
    // An instance faulted before start enters Fault silently, as keepalived.
    let mut j = Instance::new(&config(3, 255), at(0));
    j.set_fault(at(0), true);
    j.start(at(0));
    assert_eq!(j.state(), State::Fault);
    assert!(drain(&mut j).is_empty());
    // Recovery goes through Backup even for the owner.
    j.set_fault(at(SEC), false);
    assert_eq!(j.state(), State::Backup);
    assert_eq!(j.poll_timeout(), Some(at(SEC + 3_003_906)));
}

#[test]
fn priority_offset_is_clamped_and_moves_the_down_timer() {
    let mut i = started(&config(3, 100));
    assert_eq!(i.poll_timeout(), Some(at(3_609_375)));
    i.set_priority_offset(at(SEC), 100);
    assert_eq!(i.effective_priority(), 200);
    assert_eq!(i.poll_timeout(), Some(at(3_218_750)));
    i.set_priority_offset(at(SEC), 500);
    assert_eq!(i.effective_priority(), 254);
    i.set_priority_offset(at(SEC), -500);
    assert_eq!(i.effective_priority(), 1);
    let mut owner = started(&config(3, 255));
    owner.set_priority_offset(at(SEC), -100);
    assert_eq!(owner.effective_priority(), 255);
}

#[test]
fn master_advertises_its_new_priority() {
    let (mut i, t) = master(&config(3, 100));
    i.set_priority_offset(t, -30);
    i.handle_timeout(t + Micros(SEC));
    assert_eq!(drain(&mut i), [send(70)]);
}

#[test]
fn shutdown_master_sends_priority_zero_and_releases() {
    let (mut i, t) = master(&config(3, 200));
    i.shutdown(t + Micros(SEC / 2));
    assert_eq!(
        drain(&mut i),
        [send(0), Action::RemoveAddresses, Action::NotifyStop]
    );
    assert_eq!(i.state(), State::Initialize);
    assert_eq!(i.poll_timeout(), None);
    let mut b = started(&config(3, 100));
    b.shutdown(at(SEC));
    assert_eq!(drain(&mut b), [Action::NotifyStop]);
}

// ---- GARP schedule ----

#[test]
fn garp_schedule_on_becoming_master() {
    let mut c = config(3, 255);
    c.garp.master_refresh = Some(Micros(60 * SEC));
    c.garp.master_refresh_repeat = 2;
    let mut i = Instance::new(&c, at(0));
    i.start(at(0));
    let mut announces = vec![];
    let mut now = at(0);
    while now < at(125 * SEC) {
        for a in drain(&mut i) {
            if let Action::Announce { repeat } = a {
                announces.push((now.0 / 1000, repeat));
            }
        }
        now = i.poll_timeout().expect("a master always has a timer");
        i.handle_timeout(now);
    }
    // ms: at once, garp_master_delay later, then each refresh at an advert.
    assert_eq!(announces, [(0, 5), (5_000, 5), (60_000, 2), (120_000, 2)]);
}

#[test]
fn no_second_burst_when_garp_master_delay_is_zero() {
    let mut c = config(3, 255);
    c.garp.master_delay = Micros(0);
    c.garp.master_repeat = 1;
    let mut i = Instance::new(&c, at(0));
    i.start(at(0));
    assert!(drain(&mut i).contains(&Action::Announce { repeat: 1 }));
    for k in 1..10 {
        i.handle_timeout(at(k * SEC));
        assert_eq!(drain(&mut i), [send(255)]);
    }
}

#[test]
fn delayed_garp_is_cancelled_by_leaving_master() {
    let (mut i, t) = master(&config(3, 200));
    i.handle_advert(t + Micros(SEC), &adv([10, 0, 0, 9], 250))
        .expect("valid advert");
    drain(&mut i);
    assert_eq!(
        i.poll_timeout(),
        Some(t + Micros(SEC + 3_218_750)),
        "only the down timer is left"
    );
}

// ---- drops ----

fn dropped(i: &mut Instance, a: Advert) -> DropReason {
    let r = i.handle_advert(at(SEC), &a).expect_err("must be dropped");
    assert_eq!(i.stats().dropped(r), 1, "{r:?} counted once");
    assert!(i.poll_action().is_none(), "a drop queues nothing");
    r
}

#[test]
fn each_drop_reason_is_counted() {
    let mut i = started(&config(3, 100));
    let ok = adv([10, 0, 0, 1], 150);
    let other = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 200))];
    let two = [IpAddr::V4(VIP), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 200))];
    let cases = [
        (Advert { ttl: 64, ..ok }, DropReason::Ttl),
        (Advert { version: 2, ..ok }, DropReason::Version),
        (Advert { vrid: 2, ..ok }, DropReason::Vrid),
        (
            Advert {
                adver_int_centis: 0,
                ..ok
            },
            DropReason::Interval,
        ),
        (
            Advert {
                addresses: &two,
                ..ok
            },
            DropReason::AddressCount,
        ),
        (
            Advert {
                unicast: true,
                ..ok
            },
            DropReason::CastMismatch,
        ),
        (
            Advert {
                addresses: &other,
                ..ok
            },
            DropReason::AddressList,
        ),
    ];
    for (a, reason) in cases {
        assert_eq!(dropped(&mut i, a), reason);
    }
    assert_eq!(i.stats().adverts_received, 0);
    assert_eq!(
        i.poll_timeout(),
        Some(at(3_609_375)),
        "drops touch no timer"
    );
    let mut f = Instance::new(&config(3, 100), at(0));
    assert_eq!(dropped(&mut f, ok), DropReason::NotRunning);
}

#[test]
fn v2_auth_drops() {
    let mut c = config(2, 100);
    c.version = Version::V2 {
        advert_int: AdvertIntSecs::new(1).expect("1 s"),
        auth: Some(Auth::Pass(*b"secret\0\0")),
    };
    let mut i = started(&c);
    let ok = Advert {
        version: 2,
        auth: Some((1, *b"secret\0\0")),
        ..adv([10, 0, 0, 1], 150)
    };
    assert_eq!(i.handle_advert(at(SEC), &ok), Ok(()));
    let cases = [
        (Advert { auth: None, ..ok }, DropReason::AuthType),
        (
            Advert {
                auth: Some((3, [0; 8])),
                ..ok
            },
            DropReason::AuthType,
        ),
        (
            Advert {
                auth: Some((1, *b"secreT\0\0")),
                ..ok
            },
            DropReason::AuthFailure,
        ),
    ];
    let mut n = 0;
    for (a, reason) in cases {
        assert_eq!(i.handle_advert(at(2 * SEC), &a), Err(reason));
        n += 1;
    }
    assert_eq!(i.stats().auth_type_error + i.stats().auth_failure, n);
    assert_eq!(i.stats().auth_type_error, 2);
}

#[test]
fn unicast_source_and_ttl_checks() {
    let mut c = config(3, 100);
    c.unicast_peer = vec![UnicastPeer {
        addr: IpAddr::from([10, 0, 0, 1]),
        min_ttl: Some(250),
        max_ttl: None,
    }];
    let mut i = started(&c);
    let ok = Advert {
        unicast: true,
        ttl: 252,
        ..adv([10, 0, 0, 1], 150)
    };
    assert_eq!(i.handle_advert(at(SEC), &ok), Ok(()));
    let stranger = Advert {
        src: IpAddr::from([10, 0, 0, 2]),
        ..ok
    };
    assert_eq!(
        i.handle_advert(at(SEC), &stranger),
        Err(DropReason::UnicastSource)
    );
    assert_eq!(
        i.handle_advert(at(SEC), &Advert { ttl: 64, ..ok }),
        Err(DropReason::Ttl)
    );
    assert_eq!(
        i.handle_advert(
            at(SEC),
            &Advert {
                unicast: false,
                ..ok
            }
        ),
        Err(DropReason::CastMismatch)
    );
    assert_eq!(i.stats().unicast_source_error, 1);
    assert_eq!(i.stats().ttl_error, 1);
}

#[test]
fn unicast_instance_announces_its_source_when_leaving_fault() {
    let mut c = config(3, 100);
    c.unicast_peer = vec![UnicastPeer {
        addr: IpAddr::from([10, 0, 0, 1]),
        min_ttl: None,
        max_ttl: None,
    }];
    let mut i = started(&c);
    i.set_fault(at(SEC), true);
    i.set_fault(at(2 * SEC), false);
    assert_eq!(
        drain(&mut i),
        [
            Action::Notify(State::Fault),
            Action::AnnounceSource,
            Action::Notify(State::Backup)
        ]
    );
}

#[test]
fn unicast_without_peer_check_accepts_any_ttl_and_source() {
    let mut c = config(3, 100);
    c.unicast_peer = vec![UnicastPeer {
        addr: IpAddr::from([10, 0, 0, 1]),
        min_ttl: None,
        max_ttl: None,
    }];
    let mut i = started(&c);
    let a = Advert {
        unicast: true,
        ttl: 3,
        ..adv([10, 0, 0, 7], 150)
    };
    assert_eq!(i.handle_advert(at(SEC), &a), Ok(()));
}

#[test]
fn skip_check_adv_addr_checks_only_a_new_masters_first_advert() {
    let mut c = config(3, 100);
    c.skip_check_adv_addr = true;
    let mut i = started(&c);
    let other = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 200))];
    let bad = Advert {
        addresses: &other,
        ..adv([10, 0, 0, 1], 150)
    };
    assert_eq!(i.handle_advert(at(SEC), &bad), Err(DropReason::AddressList));
    i.handle_advert(at(SEC), &adv([10, 0, 0, 1], 150))
        .expect("valid advert");
    assert_eq!(i.handle_advert(at(2 * SEC), &bad), Ok(()));
    let from_new = Advert {
        src: IpAddr::from([10, 0, 0, 2]),
        ..bad
    };
    assert_eq!(
        i.handle_advert(at(3 * SEC), &from_new),
        Err(DropReason::AddressList)
    );
}

// ---- no storms ----

#[test]
fn poll_action_drains_and_timeouts_are_idempotent() {
    let (mut i, t) = master(&config(3, 200));
    for _ in 0..5 {
        i.handle_timeout(t);
        assert!(drain(&mut i).is_empty());
    }
    assert!(i.poll_action().is_none());
    let next = i.poll_timeout().expect("advert timer");
    assert!(next > t);
    i.handle_timeout(next);
    assert_eq!(drain(&mut i), [send(200)]);
    i.handle_timeout(next);
    assert!(drain(&mut i).is_empty());
}

#[test]
fn a_full_queue_counts_instead_of_growing() {
    let (mut i, _) = master(&config(3, 200));
    for k in 0..20 {
        i.handle_advert(at(10 * SEC + k), &adv([10, 0, 0, 9], 0))
            .expect("valid advert");
    }
    assert_eq!(drain(&mut i).len(), ACTION_QUEUE);
    assert_eq!(i.stats().actions_dropped, 4);
}

#[test]
fn strict_mode_rules() {
    let mut c = config(3, 100);
    c.strict_mode = true;
    c.preempt_delay = Micros(SEC);
    c.lower_prio_no_advert = false;
    c.down_timer_adverts = Some(5);
    c.state = Some(InitialState::Master);
    let i = Instance::new(&c, at(0));
    assert!(i.lower_prio_no_advert);
    assert_eq!(i.preempt_delay, Micros(0));
    assert_eq!(i.down_timer_adverts, 3);
    assert!(!i.initial_want_master);
    assert!(!i.accept());
    assert!(Instance::new(&config(3, 100), at(0)).accept());
}

// ---- auth_type AH ----

const AH_KEY: [u8; 8] = *b"secret\0\0";

fn ah_config(priority: u8) -> VrrpInstance {
    let mut c = config(2, priority);
    c.version = Version::V2 {
        advert_int: AdvertIntSecs::new(1).expect("1 s"),
        auth: Some(Auth::Ah(AH_KEY)),
    };
    c
}

/// What a peer puts on the wire: IPv4 header (protocol 51), AH, VRRPv2 advert for VRID 1 with
/// our VIP; `spi` 0 means the sender's address, as keepalived sends.
struct AhPacket {
    src: [u8; 4],
    dst: Ipv4Addr,
    ttl: u8,
    priority: u8,
    seq: u32,
    spi: u32,
    key: [u8; 8],
}

impl AhPacket {
    fn new(src: [u8; 4], priority: u8, seq: u32) -> AhPacket {
        AhPacket {
            src,
            dst: Ipv4Addr::new(224, 0, 0, 18),
            ttl: 255,
            priority,
            seq,
            spi: 0,
            key: AH_KEY,
        }
    }

    fn datagram(&self, zero_ttl: bool) -> Vec<u8> {
        use crate::wire::{ah, ipv4, vrrp as w};
        let mut list = [0u8; 4];
        let addresses =
            w::Addresses::encode(&mut list, w::Family::Ipv4, VIPS).expect("one address");
        let message = w::Repr {
            version: w::Version::V2 {
                auth_type: w::auth_type::AH,
                adver_int_secs: 1,
                auth_data: [0; 8],
            },
            vrid: 1,
            priority: self.priority,
            addresses,
        };
        let src = Ipv4Addr::from(self.src);
        let len = 20 + ah::HEADER_LEN + message.buffer_len();
        let mut out = vec![0u8; len];
        ipv4::Repr {
            src_addr: src,
            dst_addr: self.dst,
            protocol: ah::IP_PROTOCOL,
            payload_len: (len - 20) as u16,
            tos: 0xc0,
            ident: 7,
            dont_frag: false,
            ttl: self.ttl,
        }
        .emit(&mut ipv4::Packet::new_unchecked(&mut out[..]));
        ah::Repr {
            spi: if self.spi == 0 {
                ah::spi_of(src)
            } else {
                self.spi
            },
            sequence_number: self.seq,
        }
        .emit(&mut ah::Packet::new_unchecked(&mut out[20..]));
        let endpoints =
            w::Endpoints::new(IpAddr::V4(src), IpAddr::V4(self.dst)).expect("same family");
        message.emit(
            &mut w::Packet::new_unchecked(&mut out[44..], w::Family::Ipv4),
            &endpoints,
            w::ChecksumForm::default(),
        );
        ah::fill_icv(&mut out, &self.key, zero_ttl).expect("whole datagram");
        out
    }
}

/// The advert the daemon hands over for `datagram` (built by [`AhPacket`]).
fn ah_adv<'a>(p: &AhPacket, datagram: &'a [u8]) -> Advert<'a> {
    let header = crate::wire::ah::Packet::new_checked(&datagram[20..]).expect("AH header");
    Advert {
        src: IpAddr::from(p.src),
        ttl: p.ttl,
        unicast: !p.dst.is_multicast(),
        version: 2,
        vrid: 1,
        priority: p.priority,
        adver_int_centis: 100,
        auth: Some((2, [0; 8])),
        ah: Some(crate::vrrp::AhAdvert {
            spi: header.spi(),
            sequence_number: header.sequence_number(),
            datagram,
        }),
        addresses: &VIPS,
    }
}

fn feed(i: &mut Instance, when: u64, p: &AhPacket) -> Result<(), DropReason> {
    let d = p.datagram(!p.dst.is_multicast());
    i.handle_advert(at(when), &ah_adv(p, &d))
}

fn send_ah(priority: u8, seq: u32) -> Action {
    Action::SendAdvert {
        priority,
        adver_int_centis: 100,
        ah_sequence: Some(seq),
    }
}

#[test]
fn ah_receive_checks_icv_spi_and_sequence_each_counted() {
    let mut i = started(&ah_config(100));
    assert_eq!(
        feed(&mut i, SEC, &AhPacket::new([10, 0, 0, 1], 150, 1)),
        Ok(())
    );
    assert_eq!(i.stats().adverts_received, 1);
    let cases = [
        // The same sequence number again, and an older one: replays.
        (AhPacket::new([10, 0, 0, 1], 150, 1), DropReason::AhSequence),
        (AhPacket::new([10, 0, 0, 1], 150, 0), DropReason::AhSequence),
        (
            AhPacket {
                key: *b"secreT\0\0",
                ..AhPacket::new([10, 0, 0, 1], 150, 2)
            },
            DropReason::AhIcv,
        ),
        (
            AhPacket {
                spi: 0x0a00_0009,
                ..AhPacket::new([10, 0, 0, 1], 150, 2)
            },
            DropReason::AhSpi,
        ),
    ];
    for (p, reason) in &cases {
        assert_eq!(feed(&mut i, 2 * SEC, p), Err(*reason));
    }
    let s = i.stats();
    assert_eq!(
        (s.ah_sequence_error, s.ah_icv_failure, s.ah_spi_error),
        (2, 1, 1)
    );
    assert_eq!(s.adverts_received, 1);
    // Drops did not move the counter: 2 is still new.
    assert_eq!(
        feed(&mut i, 3 * SEC, &AhPacket::new([10, 0, 0, 1], 150, 2)),
        Ok(())
    );
    // A changed byte after signing (the priority) breaks the ICV.
    let p = AhPacket::new([10, 0, 0, 1], 150, 3);
    let mut d = p.datagram(false);
    d[46] = 250;
    let mut a = ah_adv(&p, &d);
    a.priority = 250;
    assert_eq!(i.handle_advert(at(4 * SEC), &a), Err(DropReason::AhIcv));
    // A multicast ICV computed with the TTL zeroed (keepalived's unicast rule) fails too.
    let d = p.datagram(true);
    assert_eq!(
        i.handle_advert(at(4 * SEC), &ah_adv(&p, &d)),
        Err(DropReason::AhIcv)
    );
    assert_eq!(i.stats().ah_icv_failure, 3);
}

#[test]
fn ah_presence_must_match_the_auth_type() {
    let mut i = started(&ah_config(100));
    let plain = Advert {
        version: 2,
        auth: Some((2, [0; 8])),
        ..adv([10, 0, 0, 1], 150)
    };
    assert_eq!(i.handle_advert(at(SEC), &plain), Err(DropReason::AuthType));
    // AH around a PASS advert, or an AH packet at a PASS instance.
    let p = AhPacket::new([10, 0, 0, 1], 150, 1);
    let d = p.datagram(false);
    let pass = Advert {
        auth: Some((1, AH_KEY)),
        ..ah_adv(&p, &d)
    };
    assert_eq!(i.handle_advert(at(SEC), &pass), Err(DropReason::AuthType));
    let mut c = ah_config(100);
    c.version = Version::V2 {
        advert_int: AdvertIntSecs::new(1).expect("1 s"),
        auth: Some(Auth::Pass(AH_KEY)),
    };
    let mut j = started(&c);
    assert_eq!(
        j.handle_advert(at(SEC), &ah_adv(&p, &d)),
        Err(DropReason::AuthType)
    );
    assert_eq!(i.stats().auth_type_error + j.stats().auth_type_error, 3);
}

#[test]
fn ah_new_master_goes_on_from_the_old_masters_sequence() {
    let mut i = started(&ah_config(100));
    assert_eq!(i.ah_sequence().map(|s| s.last()), Some(0));
    feed(&mut i, SEC, &AhPacket::new([10, 0, 0, 1], 150, 41)).expect("valid");
    // The master stops: priority 0, sequence 42; we take over after Skew_Time.
    feed(&mut i, 2 * SEC, &AhPacket::new([10, 0, 0, 1], 0, 42)).expect("valid");
    let t = i.poll_timeout().expect("skew timer");
    i.handle_timeout(t);
    assert_eq!(i.state(), State::Master);
    assert_eq!(drain(&mut i)[0], send_ah(100, 43));
    i.handle_timeout(t + Micros(SEC));
    assert_eq!(drain(&mut i), [send_ah(100, 44)]);
    // Stopping sends priority 0 with the next number.
    i.shutdown(t + Micros(SEC + 1));
    assert_eq!(drain(&mut i)[0], send_ah(0, 45));
}

#[test]
fn ah_fresh_instance_sends_one_first() {
    let (mut i, t) = master(&ah_config(100));
    assert_eq!(i.ah_sequence().map(|s| s.last()), Some(1));
    i.handle_timeout(t + Micros(SEC));
    assert_eq!(drain(&mut i), [send_ah(100, 2)]);
    // Non-AH instances send none.
    let (mut j, t) = master(&config(2, 100));
    j.handle_timeout(t + Micros(SEC));
    assert_eq!(drain(&mut j), [send(100)]);
    assert_eq!(j.ah_sequence(), None);
}

#[test]
fn ah_master_hearing_a_lower_router_goes_above_its_number() {
    let (mut i, t) = master(&ah_config(200));
    feed(&mut i, t.0 + 10, &AhPacket::new([10, 0, 0, 1], 100, 700)).expect("valid");
    // keepalived: counter := 700 + 1, then the advert that makes it step down carries 702.
    assert_eq!(drain(&mut i)[0], send_ah(200, 702));
    assert_eq!(i.state(), State::Master);
    // A higher master's advert is accepted (703) and we step down.
    feed(&mut i, t.0 + 20, &AhPacket::new([10, 0, 0, 1], 250, 703)).expect("valid");
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.ah_sequence().map(|s| s.last()), Some(703));
}

#[test]
fn ah_state_master_waits_as_backup_unless_owner() {
    let mut c = ah_config(200);
    c.state = Some(InitialState::Master);
    c.nopreempt = true;
    let mut i = Instance::new(&c, at(0));
    i.start(at(0));
    assert_eq!(drain(&mut i), [Action::Notify(State::Backup)]);
    // Unlike a plain `state MASTER`, nopreempt stays: a lower master keeps the VIPs.
    feed(&mut i, SEC, &AhPacket::new([10, 0, 0, 1], 100, 5)).expect("valid");
    let t = i.poll_timeout().expect("down timer");
    assert!(t.0 > 4 * SEC);
    feed(&mut i, 3 * SEC, &AhPacket::new([10, 0, 0, 1], 100, 6)).expect("valid");
    assert_eq!(i.state(), State::Backup);
    // The owner still starts as master.
    let mut o = ah_config(255);
    o.state = Some(InitialState::Master);
    let mut i = Instance::new(&o, at(0));
    i.start(at(0));
    assert_eq!(i.state(), State::Master);
    assert_eq!(drain(&mut i)[0], send_ah(255, 1));
}

#[test]
fn ah_unicast_icv_ignores_the_ttl() {
    let mut c = ah_config(100);
    c.unicast_peer = vec![UnicastPeer {
        addr: IpAddr::from([10, 0, 0, 1]),
        min_ttl: None,
        max_ttl: None,
    }];
    let mut i = started(&c);
    let p = AhPacket {
        dst: Ipv4Addr::from(OURS),
        ..AhPacket::new([10, 0, 0, 1], 150, 1)
    };
    // Signed at TTL 255, received at 62 after routers: still valid.
    let d = p.datagram(true);
    let mut routed = d.clone();
    routed[8] = 62;
    let a = Advert {
        ttl: 62,
        ..ah_adv(&p, &routed)
    };
    assert_eq!(i.handle_advert(at(SEC), &a), Ok(()));
}

#[test]
fn ah_sequence_carries_over_with_restore() {
    let mut i = started(&ah_config(100));
    feed(&mut i, SEC, &AhPacket::new([10, 0, 0, 1], 150, 90)).expect("valid");
    let kept = i.ah_sequence().expect("AH");
    let mut j = Instance::new(&ah_config(100), at(0));
    j.restore_ah_sequence(kept);
    j.start(at(0));
    assert_eq!(
        feed(&mut j, SEC, &AhPacket::new([10, 0, 0, 1], 150, 90)),
        Err(DropReason::AhSequence)
    );
    // Restoring into a non-AH instance does nothing.
    let mut k = Instance::new(&config(2, 100), at(0));
    k.restore_ah_sequence(kept);
    assert_eq!(k.ah_sequence(), None);
}

#[test]
fn ah_resumed_master_skips_the_numbers_the_dead_process_may_have_sent() {
    // The watchdog heard 90 last; the dead child may have sent up to 90 + 64.
    let mut i = Instance::new(&ah_config(100), at(0));
    i.restore_ah_sequence(AhSequence::from_parts(90, false));
    i.resume_master(at(0), 64);
    assert_eq!(i.state(), State::Master);
    assert_eq!(drain(&mut i)[0], send_ah(100, 155));
    // Resuming in fault starts as any instance does: no skip, so the master's next advert (91
    // or later) is still accepted.
    let mut j = Instance::new(&ah_config(100), at(0));
    j.restore_ah_sequence(AhSequence::from_parts(90, false));
    j.set_fault(at(0), true);
    j.resume_master(at(0), 64);
    assert_eq!(j.state(), State::Fault);
    assert_eq!(j.ah_sequence(), Some(AhSequence::from_parts(90, false)));
}

#[test]
fn ah_strict_mode_has_no_authentication() {
    let mut c = ah_config(100);
    c.strict_mode = true;
    let i = Instance::new(&c, at(0));
    assert_eq!(i.ah_sequence(), None);
}
