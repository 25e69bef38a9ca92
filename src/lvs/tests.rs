//! The load-balancing rules end to end: config text in, events and IPVS tables out.

use super::desired::{self, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use super::diff::{apply, same_service};
use super::*;
use crate::config::GroupEntry;
use crate::wire::ipvs::{
    Destination, ForwardMethod, Service, ServiceKey, TunnelType, IP_VS_SVC_F_HASHED,
    IP_VS_SVC_F_ONEPACKET, IP_VS_SVC_F_PERSISTENT, IP_VS_SVC_F_SCHED1, IP_VS_SVC_F_SCHED2,
    IP_VS_SVC_F_SCHED3, IP_VS_SVC_F_SCHED_MH_FALLBACK, IP_VS_SVC_F_SCHED_MH_PORT,
    IP_VS_SVC_F_SCHED_SH_FALLBACK, IP_VS_SVC_F_SCHED_SH_PORT,
};
use std::net::IpAddr;

use crate::config::parse_valid as config;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn started(c: &Config) -> (Lvs, Vec<Event>) {
    Lvs::start(c, HealthState::initial(c))
}

fn ck(vs: usize, rs: usize) -> CheckerId {
    CheckerId { vs, rs, checker: 0 }
}

/// (address, port, weight) of each destination of the only service.
fn dests(table: &Table) -> Vec<(IpAddr, u16, u32)> {
    assert_eq!(table.len(), 1, "one service: {table:?}");
    table[0]
        .1
        .iter()
        .map(|d| (d.addr, d.port, d.weight))
        .collect()
}

fn addr_key(protocol: u8, addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol,
        addr: ip(addr),
        port,
    }
}

// ---- services ----

#[test]
fn service_attributes_and_weights() {
    let c = config(
        "virtual_server 10.0.0.1 80 {
            lvs_sched wlc
            protocol TCP
            real_server 10.0.1.1 80 {
                weight 3
                uthreshold 100
                lthreshold 10
            }
            real_server 10.0.1.2 80 {
            }
        }",
    );
    let (lvs, events) = started(&c);
    assert_eq!(
        events,
        vec![Event::QuorumUp { vs: 0 }],
        "starting with quorum up"
    );
    let table = lvs.desired(&c);
    let svc = &table[0].0;
    assert_eq!(
        *svc,
        Service {
            key: addr_key(IPPROTO_TCP, "10.0.0.1", 80),
            scheduler: "wlc".into(),
            flags: 0,
            timeout: 0,
            netmask: 0xffff_ffff,
            pe_name: None,
        }
    );
    assert_eq!(
        table[0].1[0],
        Destination {
            addr: ip("10.0.1.1"),
            port: 80,
            forward: ForwardMethod::Masq,
            weight: 3,
            upper_threshold: 100,
            lower_threshold: 10,
            tunnel_type: None,
            tunnel_port: 0,
            tunnel_flags: 0,
        }
    );
    assert_eq!(
        dests(&table),
        vec![(ip("10.0.1.1"), 80, 3), (ip("10.0.1.2"), 80, 1)]
    );
}

#[test]
fn protocols() {
    for (name, number) in [
        ("TCP", IPPROTO_TCP),
        ("UDP", IPPROTO_UDP),
        ("SCTP", IPPROTO_SCTP),
    ] {
        let c = config(&format!(
            "virtual_server 10.0.0.1 53 {{
                protocol {name}
                real_server 10.0.1.1 53 {{ }}
            }}"
        ));
        let services = desired::services(&c, 0);
        assert_eq!(services[0].key, addr_key(number, "10.0.0.1", 53));
    }
}

#[test]
fn forwarding_methods_and_tunnels() {
    let c = config(
        "virtual_server 10.0.0.1 80 {
            lvs_method DR
            real_server 10.0.1.1 8080 { }
            real_server 10.0.1.2 8080 {
                lvs_method NAT
            }
            real_server 10.0.1.3 80 {
                lvs_method TUN type gue port 6080 csum
            }
            real_server 10.0.1.4 80 {
                lvs_method TUN type gre csum
            }
            real_server 10.0.1.5 80 {
                lvs_method TUN
            }
        }",
    );
    let table = started(&c).0.desired(&c);
    let d = &table[0].1;
    assert_eq!(d[0].forward, ForwardMethod::DirectRoute);
    assert_eq!(d[0].port, 80, "DR takes the virtual server's port");
    assert_eq!((d[1].forward, d[1].port), (ForwardMethod::Masq, 8080));
    assert_eq!(
        (
            d[2].forward,
            d[2].tunnel_type,
            d[2].tunnel_port,
            d[2].tunnel_flags
        ),
        (
            ForwardMethod::Tunnel,
            Some(TunnelType::Gue),
            6080,
            desired::IP_VS_TUNNEL_ENCAP_FLAG_CSUM
        )
    );
    assert_eq!(
        (d[3].tunnel_type, d[3].tunnel_port, d[3].tunnel_flags),
        (
            Some(TunnelType::Gre),
            0,
            desired::IP_VS_TUNNEL_ENCAP_FLAG_CSUM
        )
    );
    assert_eq!(
        (d[4].forward, d[4].tunnel_type, d[4].tunnel_flags),
        (ForwardMethod::Tunnel, Some(TunnelType::Ipip), 0)
    );
}

#[test]
fn persistence_flags_and_netmask() {
    let c = config(
        "virtual_server 10.0.0.1 80 {
            persistence_timeout 600
            persistence_granularity 255.255.255.0
            persistence_engine sip
            protocol UDP
            real_server 10.0.1.1 80 { }
        }
        virtual_server 2001:db8::1 443 {
            persistence_timeout
            persistence_granularity 64
            real_server 2001:db8::10 443 { }
        }
        virtual_server 10.0.0.2 0 {
            persistence_timeout 30
            real_server 10.0.1.1 0 { }
        }
        virtual_server 2001:db8::2 80 {
            real_server 2001:db8::10 80 { }
        }",
    );
    let s = |vs| desired::services(&c, vs).remove(0);
    let v4 = s(0);
    assert_eq!(v4.flags, IP_VS_SVC_F_PERSISTENT);
    assert_eq!((v4.timeout, v4.netmask), (600, 0xffff_ff00));
    assert_eq!(v4.pe_name.as_deref(), Some("sip"));
    let v6 = s(1);
    assert_eq!(v6.flags, IP_VS_SVC_F_PERSISTENT);
    assert_eq!((v6.timeout, v6.netmask), (360, 64), "IPv6: a prefix length");
    let whole = s(2);
    assert_eq!((whole.timeout, whole.netmask), (30, 0xffff_ffff));
    let plain6 = s(3);
    assert_eq!(
        (plain6.flags, plain6.timeout, plain6.netmask),
        (0, 0, 128),
        "IPv6 services always carry a valid prefix"
    );
    assert_eq!(desired::persistence_netmask(false, Some(1)), 0x8000_0000);
    assert_eq!(desired::persistence_netmask(false, Some(32)), 0xffff_ffff);
    assert_eq!(desired::persistence_netmask(false, Some(0)), 0);
    assert_eq!(desired::persistence_netmask(true, None), 128);
}

#[test]
fn scheduler_flags_mapping() {
    let flags = |body: &str| {
        let c = config(&format!(
            "virtual_server 10.0.0.1 80 {{
                {body}
                real_server 10.0.1.1 80 {{ }}
            }}"
        ));
        desired::services(&c, 0)[0].flags
    };
    assert_eq!(flags("lvs_sched sh\n sh-port"), IP_VS_SVC_F_SCHED_SH_PORT);
    assert_eq!(
        flags("lvs_sched sh\n sh-fallback"),
        IP_VS_SVC_F_SCHED_SH_FALLBACK
    );
    assert_eq!(
        flags("lvs_sched mh\n mh-port\n mh-fallback"),
        IP_VS_SVC_F_SCHED_MH_PORT | IP_VS_SVC_F_SCHED_MH_FALLBACK
    );
    assert_eq!(IP_VS_SVC_F_SCHED_SH_PORT, IP_VS_SVC_F_SCHED2);
    assert_eq!(IP_VS_SVC_F_SCHED_SH_FALLBACK, IP_VS_SVC_F_SCHED1);
    assert_eq!(
        flags("flag-1\n flag-2\n flag-3"),
        IP_VS_SVC_F_SCHED1 | IP_VS_SVC_F_SCHED2 | IP_VS_SVC_F_SCHED3
    );
    assert_eq!(flags("protocol UDP\n ops"), IP_VS_SVC_F_ONEPACKET);
    assert_eq!(flags(""), 0);
}

#[test]
fn ops_on_a_fwmark_service_whatever_the_protocol() {
    let c = config(
        "virtual_server fwmark 7 {
            ops
            real_server 10.0.1.1 80 { }
        }",
    );
    assert_eq!(desired::services(&c, 0)[0].flags, IP_VS_SVC_F_ONEPACKET);
}

// ---- groups and fwmarks ----

#[test]
fn group_expands_ranges_and_fwmarks_with_the_same_destinations() {
    let c = config(
        "virtual_server_group web {
            10.0.0.1-3 80
            192.168.200.8/30 443
            fwmark 5
        }
        virtual_server group web {
            protocol TCP
            real_server 10.0.1.1 80 { weight 2 }
            real_server 10.0.1.2 80 { }
        }",
    );
    let table = started(&c).0.desired(&c);
    let keys: Vec<ServiceKey> = table.iter().map(|(s, _)| s.key).collect();
    assert_eq!(
        keys,
        vec![
            addr_key(IPPROTO_TCP, "10.0.0.1", 80),
            addr_key(IPPROTO_TCP, "10.0.0.2", 80),
            addr_key(IPPROTO_TCP, "10.0.0.3", 80),
            addr_key(IPPROTO_TCP, "192.168.200.8", 443),
            addr_key(IPPROTO_TCP, "192.168.200.9", 443),
            addr_key(IPPROTO_TCP, "192.168.200.10", 443),
            addr_key(IPPROTO_TCP, "192.168.200.11", 443),
            ServiceKey::Fwmark {
                mark: 5,
                ipv6: false
            },
        ]
    );
    for (_, d) in &table {
        assert_eq!(d, &table[0].1);
        assert_eq!(d.len(), 2);
    }
    assert_eq!(owned_keys(&c), keys);
}

#[test]
fn ipv6_group_ranges_and_fwmark_families() {
    let c = config(
        "virtual_server_group v6 {
            2001:db8::1-3 80
            fwmark 9
        }
        virtual_server_group marks {
            fwmark 10 inet6
            fwmark 11
        }
        virtual_server group v6 {
            protocol TCP
            real_server 2001:db8::10 80 { }
        }
        virtual_server group marks {
            ip_family inet6
            real_server 2001:db8::10 80 { }
        }",
    );
    let keys = owned_keys(&c);
    assert_eq!(
        keys,
        vec![
            addr_key(IPPROTO_TCP, "2001:db8::1", 80),
            addr_key(IPPROTO_TCP, "2001:db8::2", 80),
            addr_key(IPPROTO_TCP, "2001:db8::3", 80),
            ServiceKey::Fwmark {
                mark: 9,
                ipv6: true
            },
            ServiceKey::Fwmark {
                mark: 10,
                ipv6: true
            },
            ServiceKey::Fwmark {
                mark: 11,
                ipv6: true
            },
        ]
    );
}

#[test]
fn fwmark_family_from_ip_family_real_servers_or_ipv4() {
    let family = |body: &str| {
        let c = config(&format!("virtual_server fwmark 1 {{\n{body}\n}}"));
        match desired::services(&c, 0)[0].key {
            ServiceKey::Fwmark { ipv6, .. } => ipv6,
            other => panic!("not a fwmark: {other:?}"),
        }
    };
    assert!(family("real_server 2001:db8::1 80 { }"), "NAT real server");
    assert!(!family("real_server 10.0.0.1 80 { }"));
    assert!(family(
        "ip_family inet6\n lvs_method TUN\n real_server 10.0.0.1 80 { }"
    ));
    assert!(
        family("lvs_method TUN\n real_server 2001:db8::1 80 { }\n real_server 2001:db8::2 80 { }"),
        "all tunnelled, all IPv6"
    );
    assert!(
        !family("lvs_method TUN\n real_server 2001:db8::1 80 { }\n real_server 10.0.0.2 80 { }"),
        "mixed tunnelled families: IPv4"
    );
}

#[test]
fn fwmark_destinations_have_no_port_unless_nat() {
    let c = config(
        "virtual_server fwmark 3 {
            lvs_method DR
            real_server 10.0.1.1 80 { }
            real_server 10.0.1.2 8080 {
                lvs_method NAT
            }
        }",
    );
    let table = started(&c).0.desired(&c);
    assert_eq!(
        dests(&table),
        vec![(ip("10.0.1.1"), 0, 1), (ip("10.0.1.2"), 8080, 1)]
    );
}

#[test]
fn portless_group_address_implies_persistence() {
    let c = config(
        "virtual_server_group g {
            10.0.0.1
        }
        virtual_server group g {
            real_server 10.0.1.1 80 { }
        }",
    );
    let s = &desired::services(&c, 0)[0];
    assert_eq!((s.flags, s.timeout), (IP_VS_SVC_F_PERSISTENT, 360));
}

#[test]
fn virtual_servers_sharing_a_fwmark_share_its_service() {
    let c = config(
        "virtual_server_group g {
            fwmark 4
        }
        virtual_server group g {
            protocol TCP
            real_server 10.0.1.1 80 { }
        }
        virtual_server group g {
            protocol UDP
            real_server 10.0.1.2 80 { }
            real_server 10.0.1.1 80 { }
        }",
    );
    let table = started(&c).0.desired(&c);
    assert_eq!(
        dests(&table),
        vec![(ip("10.0.1.1"), 80, 1), (ip("10.0.1.2"), 80, 1)]
    );
    assert_eq!(owned_keys(&c).len(), 1);
}

#[test]
fn wide_ranges_are_cut() {
    let mut c = config(
        "virtual_server_group g {
            2001:db8::1 80
        }
        virtual_server group g {
            real_server 2001:db8::10 80 { }
        }",
    );
    c.server_groups[0].entries[0] = GroupEntry::Range {
        first: ip("2001:db8::"),
        last: ip("2001:db8::ffff:ffff"),
        port: 80,
    };
    assert_eq!(
        desired::range_len(ip("2001:db8::"), ip("2001:db8::ffff:ffff")),
        1 << 32
    );
    assert_eq!(
        desired::services(&c, 0).len() as u128,
        desired::MAX_RANGE_ADDRESSES
    );
    assert_eq!(desired::range_len(ip("10.0.0.5"), ip("10.0.0.1")), 0);
    assert_eq!(desired::range_len(ip("10.0.0.1"), ip("2001:db8::1")), 0);
    assert_eq!(
        desired::range_len(ip("255.255.255.255"), ip("255.255.255.255")),
        1
    );
}

// ---- health, inhibit, weights ----

const TWO_CHECKED: &str = "
    real_server 10.0.1.1 80 {
        weight 2
        TCP_CHECK { }
    }
    real_server 10.0.1.2 80 {
        TCP_CHECK { }
    }";

#[test]
fn a_down_real_server_leaves_the_pool() {
    let c = config(&format!("virtual_server 10.0.0.1 80 {{ {TWO_CHECKED} }}"));
    let (mut lvs, _) = started(&c);
    let u = lvs.checker_result(&c, ck(0, 0), false);
    assert_eq!(u.real_server, Some(Event::RealServerDown { vs: 0, rs: 0 }));
    assert_eq!(u.changed, Some(0));
    assert_eq!(
        dests(&lvs.virtual_server_table(&c, 0)),
        vec![(ip("10.0.1.2"), 80, 1)]
    );
    let u = lvs.checker_result(&c, ck(0, 0), false);
    assert_eq!(u, Update::default(), "a repeated failure changes nothing");
    let u = lvs.checker_result(&c, ck(0, 0), true);
    assert_eq!(u.real_server, Some(Event::RealServerUp { vs: 0, rs: 0 }));
    assert_eq!(dests(&lvs.desired(&c)).len(), 2);
}

#[test]
fn inhibit_on_failure_keeps_a_down_server_with_weight_zero() {
    let c = config(
        "virtual_server 10.0.0.1 80 {
            inhibit_on_failure
            real_server 10.0.1.1 80 {
                weight 2
                TCP_CHECK { }
            }
            real_server 10.0.1.2 80 {
                inhibit_on_failure no
                TCP_CHECK { }
            }
        }
        virtual_server 10.0.0.2 80 {
            real_server 10.0.1.1 80 {
                inhibit_on_failure
                TCP_CHECK { }
            }
            real_server 10.0.1.2 80 {
                TCP_CHECK { }
            }
        }",
    );
    let (mut lvs, _) = started(&c);
    for vs in 0..2 {
        for rs in 0..2 {
            lvs.checker_result(&c, ck(vs, rs), false);
        }
    }
    // VS-level inhibit, overridden off by the second real server.
    assert_eq!(
        dests(&lvs.virtual_server_table(&c, 0)),
        vec![(ip("10.0.1.1"), 80, 0)]
    );
    // RS-level inhibit only.
    assert_eq!(
        dests(&lvs.virtual_server_table(&c, 1)),
        vec![(ip("10.0.1.1"), 80, 0)]
    );
    lvs.checker_result(&c, ck(0, 0), true);
    assert_eq!(
        dests(&lvs.virtual_server_table(&c, 0)),
        vec![(ip("10.0.1.1"), 80, 2)]
    );
}

#[test]
fn every_checker_must_pass() {
    let c = config(
        "virtual_server 10.0.0.1 80 {
            real_server 10.0.1.1 80 {
                TCP_CHECK { }
                TCP_CHECK { connect_port 81 }
            }
        }",
    );
    let (mut lvs, _) = started(&c);
    let second = CheckerId {
        vs: 0,
        rs: 0,
        checker: 1,
    };
    let u = lvs.checker_result(&c, ck(0, 0), false);
    assert_eq!(u.real_server, Some(Event::RealServerDown { vs: 0, rs: 0 }));
    assert_eq!(u.quorum, Some(Event::QuorumDown { vs: 0 }));
    assert_eq!(lvs.checker_result(&c, second, false), Update::default());
    assert_eq!(lvs.checker_result(&c, ck(0, 0), true), Update::default());
    let u = lvs.checker_result(&c, second, true);
    assert_eq!(
        u.events().collect::<Vec<_>>(),
        vec![
            Event::RealServerUp { vs: 0, rs: 0 },
            Event::QuorumUp { vs: 0 }
        ]
    );
}

#[test]
fn dynamic_weights_from_misc_check() {
    let c = config(
        "virtual_server 10.0.0.1 80 {
            quorum 5
            real_server 10.0.1.1 80 {
                weight 3
                MISC_CHECK {
                    misc_path /bin/check
                    misc_dynamic
                }
            }
            real_server 10.0.1.2 80 {
                weight 3
            }
        }",
    );
    let (mut lvs, events) = started(&c);
    assert_eq!(events, vec![Event::QuorumUp { vs: 0 }], "3 + 3 >= 5");
    // Exit status 12: weight 10.
    let add = health::misc_dynamic_weight(12, 3).expect("success");
    let u = lvs.checker_weight(&c, ck(0, 0), add);
    assert_eq!((u.changed, u.quorum), (Some(0), None));
    assert_eq!(dests(&lvs.desired(&c))[0], (ip("10.0.1.1"), 80, 10));
    assert_eq!(lvs.checker_weight(&c, ck(0, 0), add), Update::default());
    // Exit status 2: weight 0; 0 + 3 < 5 loses quorum, the server stays in with weight 0.
    let u = lvs.checker_weight(&c, ck(0, 0), health::misc_dynamic_weight(2, 3).unwrap_or(0));
    assert_eq!(u.quorum, Some(Event::QuorumDown { vs: 0 }));
    assert_eq!(dests(&lvs.desired(&c))[0], (ip("10.0.1.1"), 80, 0));
    // Exit status 0: back to the configured 3.
    let u = lvs.checker_weight(&c, ck(0, 0), health::misc_dynamic_weight(0, 3).unwrap_or(0));
    assert_eq!(u.quorum, Some(Event::QuorumUp { vs: 0 }));
    assert_eq!(dests(&lvs.desired(&c))[0], (ip("10.0.1.1"), 80, 3));
}

#[test]
fn real_server_verdicts_fed_whole() {
    let c = config(
        "virtual_server 10.0.0.1 80 {
            quorum 4
            real_server 10.0.1.1 80 {
                weight 3
                MISC_CHECK {
                    misc_path /bin/check
                    misc_dynamic
                }
            }
            real_server 10.0.1.2 80 { }
        }",
    );
    let (mut lvs, events) = started(&c);
    assert_eq!(events, vec![Event::QuorumUp { vs: 0 }]);
    let u = lvs.real_server(&c, 0, 0, true, 7);
    assert_eq!((u.real_server, u.quorum, u.changed), (None, None, Some(0)));
    assert_eq!(dests(&lvs.desired(&c))[0], (ip("10.0.1.1"), 80, 7));
    assert_eq!(lvs.real_server(&c, 0, 0, true, 7), Update::default());
    let u = lvs.real_server(&c, 0, 0, false, 7);
    assert_eq!(
        u.events().collect::<Vec<_>>(),
        vec![
            Event::RealServerDown { vs: 0, rs: 0 },
            Event::QuorumDown { vs: 0 }
        ]
    );
    assert_eq!(dests(&lvs.desired(&c)), vec![(ip("10.0.1.2"), 80, 1)]);
    let u = lvs.real_server(&c, 0, 0, true, 2);
    assert_eq!(u.real_server, Some(Event::RealServerUp { vs: 0, rs: 0 }));
    assert_eq!(u.quorum, None, "2 + 1 < 4");
    let u = lvs.real_server(&c, 0, 0, true, 3);
    assert_eq!(
        (u.real_server, u.quorum),
        (None, Some(Event::QuorumUp { vs: 0 }))
    );
    assert_eq!(lvs.real_server(&c, 3, 0, true, 1), Update::default());
}

#[test]
fn file_check_state_is_set_before_start() {
    let c = config(
        "track_file weight_file {
            file /run/weight
        }
        virtual_server 10.0.0.1 80 {
            alpha
            sorry_server 10.0.9.9 80
            real_server 10.0.1.1 80 {
                FILE_CHECK {
                    track_file weight_file
                    weight 2
                }
            }
            real_server 10.0.1.2 80 {
                FILE_CHECK {
                    track_file weight_file
                }
            }
        }",
    );
    let mut health = HealthState::initial(&c);
    assert!(health.is_alive(0, 0), "FILE_CHECK ignores alpha");
    // The file says 3: weight 2 × 3 added to the first; the second server's file is in fault.
    assert!(health.set_checker(&c, ck(0, 0), true, 6));
    assert!(health.set_checker(&c, ck(0, 1), false, 0));
    assert!(!health.set_checker(&c, ck(0, 5), true, 0));
    let (lvs, events) = Lvs::start(&c, health);
    assert_eq!(events, vec![Event::QuorumUp { vs: 0 }]);
    assert_eq!(dests(&lvs.desired(&c)), vec![(ip("10.0.1.1"), 80, 7)]);
}

// ---- quorum and sorry server ----

fn four_checked(extra: &str) -> Config {
    config(&format!(
        "virtual_server 10.0.0.1 80 {{
            {extra}
            real_server 10.0.1.1 80 {{ TCP_CHECK {{ }} }}
            real_server 10.0.1.2 80 {{ TCP_CHECK {{ }} }}
            real_server 10.0.1.3 80 {{ TCP_CHECK {{ }} }}
            real_server 10.0.1.4 80 {{ TCP_CHECK {{ }} }}
        }}"
    ))
}

#[test]
fn quorum_with_hysteresis_reports_transitions() {
    // quorum 3 ± 1: lost below 2, regained at 4.
    let c = four_checked("quorum 3\n hysteresis 1\n quorum_up /bin/up\n quorum_down /bin/down");
    let (mut lvs, events) = started(&c);
    assert_eq!(events, vec![Event::QuorumUp { vs: 0 }]);
    let quorum = |lvs: &mut Lvs, rs, up| lvs.checker_result(&c, ck(0, rs), up).quorum;
    assert_eq!(quorum(&mut lvs, 0, false), None, "3 left");
    assert_eq!(
        quorum(&mut lvs, 1, false),
        None,
        "2 left: within hysteresis"
    );
    assert_eq!(
        quorum(&mut lvs, 2, false),
        Some(Event::QuorumDown { vs: 0 })
    );
    assert!(!lvs.quorum_up(0));
    assert_eq!(quorum(&mut lvs, 2, true), None, "2 back");
    assert_eq!(quorum(&mut lvs, 1, true), None, "3 < 4");
    assert_eq!(quorum(&mut lvs, 0, true), Some(Event::QuorumUp { vs: 0 }));
    // Without a sorry server the live servers stay whatever the quorum.
    quorum(&mut lvs, 0, false);
    quorum(&mut lvs, 1, false);
    quorum(&mut lvs, 2, false);
    assert_eq!(dests(&lvs.desired(&c)), vec![(ip("10.0.1.4"), 80, 1)]);
}

#[test]
fn sorry_server_engages_and_disengages() {
    let c = four_checked("quorum 4\n sorry_server 10.0.9.9 8080");
    let (mut lvs, _) = started(&c);
    assert_eq!(
        dests(&lvs.desired(&c)).len(),
        4,
        "no sorry server while quorum holds"
    );
    let u = lvs.checker_result(&c, ck(0, 0), false);
    assert_eq!(u.quorum, Some(Event::QuorumDown { vs: 0 }));
    lvs.checker_result(&c, ck(0, 1), false);
    assert_eq!(
        dests(&lvs.desired(&c)),
        vec![(ip("10.0.9.9"), 8080, 1)],
        "every real server out, the sorry server in"
    );
    // A server coming back without bringing quorum back stays out.
    assert_eq!(lvs.checker_result(&c, ck(0, 0), true).quorum, None);
    assert_eq!(dests(&lvs.desired(&c)), vec![(ip("10.0.9.9"), 8080, 1)]);
    let u = lvs.checker_result(&c, ck(0, 1), true);
    assert_eq!(u.quorum, Some(Event::QuorumUp { vs: 0 }));
    assert_eq!(
        dests(&lvs.desired(&c)),
        vec![
            (ip("10.0.1.1"), 80, 1),
            (ip("10.0.1.2"), 80, 1),
            (ip("10.0.1.3"), 80, 1),
            (ip("10.0.1.4"), 80, 1)
        ]
    );
}

#[test]
fn sorry_server_inhibit_and_real_server_inhibit() {
    let c = four_checked(
        "quorum 4\n inhibit_on_failure\n sorry_server 10.0.9.9 80\n sorry_server_inhibit",
    );
    let (mut lvs, _) = started(&c);
    let t = dests(&lvs.desired(&c));
    assert_eq!(t.len(), 5);
    assert_eq!(
        t[4],
        (ip("10.0.9.9"), 80, 0),
        "sorry server idle with weight 0"
    );
    lvs.checker_result(&c, ck(0, 0), false);
    let t = dests(&lvs.desired(&c));
    assert!(
        t[..4].iter().all(|d| d.2 == 0),
        "inhibited, alive or not: {t:?}"
    );
    assert_eq!(t[4], (ip("10.0.9.9"), 80, 1));
    lvs.checker_result(&c, ck(0, 0), true);
    let t = dests(&lvs.desired(&c));
    assert!(t[..4].iter().all(|d| d.2 == 1));
    assert_eq!(t[4], (ip("10.0.9.9"), 80, 0));
}

#[test]
fn sorry_server_that_is_also_a_real_server() {
    let c = four_checked("quorum 4\n sorry_server 10.0.1.4 80\n sorry_server_inhibit");
    let (mut lvs, _) = started(&c);
    assert_eq!(
        dests(&lvs.desired(&c)).len(),
        4,
        "one destination per address"
    );
    lvs.checker_result(&c, ck(0, 0), false);
    assert_eq!(dests(&lvs.desired(&c)), vec![(ip("10.0.1.4"), 80, 1)]);
}

// ---- alpha and omega ----

#[test]
fn alpha_starts_down_until_the_first_success() {
    let c = four_checked("alpha\n quorum 2");
    let (mut lvs, events) = started(&c);
    assert_eq!(
        events,
        vec![],
        "no sorry server: starting down is not reported"
    );
    assert!(lvs.desired(&c)[0].1.is_empty());
    // keepalived reports an alpha checker's first failure, once.
    let u = lvs.checker_result(&c, ck(0, 0), false);
    assert_eq!(
        u,
        Update {
            real_server: Some(Event::RealServerDown { vs: 0, rs: 0 }),
            quorum: None,
            changed: None
        }
    );
    assert_eq!(lvs.checker_result(&c, ck(0, 0), false), Update::default());
    let u = lvs.checker_result(&c, ck(0, 1), true);
    assert_eq!(u.real_server, Some(Event::RealServerUp { vs: 0, rs: 1 }));
    assert_eq!(u.quorum, None, "1 < 2");
    let u = lvs.checker_result(&c, ck(0, 2), true);
    assert_eq!(u.quorum, Some(Event::QuorumUp { vs: 0 }));
    assert_eq!(dests(&lvs.desired(&c)).len(), 2);
}

#[test]
fn alpha_with_a_sorry_server_starts_on_the_sorry_server() {
    let c = four_checked("alpha\n sorry_server 10.0.9.9 80");
    let (lvs, events) = started(&c);
    assert_eq!(events, vec![Event::QuorumDown { vs: 0 }]);
    assert_eq!(dests(&lvs.desired(&c)), vec![(ip("10.0.9.9"), 80, 1)]);
}

#[test]
fn a_non_alpha_first_success_is_silent() {
    let c = four_checked("");
    let (mut lvs, _) = started(&c);
    assert_eq!(lvs.checker_result(&c, ck(0, 0), true), Update::default());
}

#[test]
fn omega_shutdown_notifies_down() {
    let c = config(&format!(
        "virtual_server 10.0.0.1 80 {{ omega\n {TWO_CHECKED} }}
        virtual_server 10.0.0.2 80 {{ {TWO_CHECKED} }}"
    ));
    let (mut lvs, _) = started(&c);
    lvs.checker_result(&c, ck(0, 1), false);
    assert_eq!(
        lvs.shutdown_actions(&c),
        vec![
            Event::RealServerDown { vs: 0, rs: 0 },
            Event::QuorumDown { vs: 0 }
        ],
        "only alive servers, only with omega"
    );
}

#[test]
fn omega_skips_servers_the_sorry_server_displaced() {
    let c = four_checked("omega\n quorum 4\n sorry_server 10.0.9.9 80");
    let (mut lvs, _) = started(&c);
    lvs.checker_result(&c, ck(0, 0), false);
    assert_eq!(lvs.shutdown_actions(&c), vec![Event::QuorumDown { vs: 0 }]);
}

#[test]
fn a_reload_keeps_the_quorum_state_it_knows() {
    let c = four_checked("quorum 3\n hysteresis 1");
    // Live weight 4 (every server starts up): a new virtual server gains quorum (4 >= 3 + 1).
    let (_, events) = Lvs::start_with(&c, HealthState::initial(&c), |_| None);
    assert_eq!(events, vec![Event::QuorumUp { vs: 0 }]);
    // Known up: kept, no event (keepalived copies quorum_state_up on reload).
    let (lvs, events) = Lvs::start_with(&c, HealthState::initial(&c), |_| Some(true));
    assert!(events.is_empty());
    assert!(lvs.quorum_up(0));
    // Known down: regained from there, with its event.
    let (lvs, events) = Lvs::start_with(&c, HealthState::initial(&c), |_| Some(false));
    assert_eq!(events, vec![Event::QuorumUp { vs: 0 }]);
    assert!(lvs.quorum_up(0));
    // Known up with 3 alive (3 >= 3 - 1): the hysteresis keeps it, where a start would not
    // gain it (3 < 3 + 1).
    let mut health = HealthState::initial(&c);
    health.set_checker(&c, ck(0, 3), false, 0);
    let (lvs, events) = Lvs::start_with(&c, health.clone(), |_| Some(true));
    assert!(events.is_empty() && lvs.quorum_up(0));
    let (lvs, events) = Lvs::start_with(&c, health, |_| None);
    assert!(events.is_empty() && !lvs.quorum_up(0));
}

#[test]
fn a_reload_notifies_the_real_servers_it_drops() {
    let c = config(&format!(
        "virtual_server 10.0.0.1 80 {{ {TWO_CHECKED} }}
        virtual_server 10.0.0.2 80 {{ {TWO_CHECKED} }}
        virtual_server 10.0.0.3 80 {{ {TWO_CHECKED} }}"
    ));
    let (mut lvs, _) = started(&c);
    lvs.checker_result(&c, ck(0, 1), false);
    lvs.checker_result(&c, ck(2, 0), false);
    lvs.checker_result(&c, ck(2, 1), false);
    // 10.0.0.1 dropped whole (its alive server goes down, then its quorum), 10.0.1.2 dropped
    // from 10.0.0.2 (which keeps its quorum for the next round to judge), 10.0.0.3 dropped
    // with nothing alive and no quorum: nothing to say.
    let events = lvs.reload_drop_actions(&c, |v| v == 1, |v, r| v == 1 && r == 0);
    assert_eq!(
        events,
        vec![
            Event::RealServerDown { vs: 0, rs: 0 },
            Event::QuorumDown { vs: 0 },
            Event::RealServerDown { vs: 1, rs: 1 },
        ]
    );
    // Kept whole: nothing.
    assert!(lvs
        .reload_drop_actions(&c, |_| true, |_, _| true)
        .is_empty());
}

#[test]
fn a_reload_skips_servers_the_sorry_server_displaced() {
    let c = four_checked("quorum 4\n sorry_server 10.0.9.9 80");
    let (mut lvs, _) = started(&c);
    lvs.checker_result(&c, ck(0, 0), false);
    assert!(!lvs.quorum_up(0));
    assert!(lvs
        .reload_drop_actions(&c, |_| false, |_, _| false)
        .is_empty());
}

#[test]
fn unknown_indices_change_nothing() {
    let c = four_checked("");
    let (mut lvs, _) = started(&c);
    let far = CheckerId {
        vs: 7,
        rs: 0,
        checker: 0,
    };
    assert_eq!(lvs.checker_result(&c, far, false), Update::default());
    assert_eq!(lvs.checker_weight(&c, far, 5), Update::default());
    assert!(lvs.virtual_server_table(&c, 7).is_empty());
}

// ---- diff ----

fn svc(port: u16, scheduler: &str) -> Service {
    Service {
        key: addr_key(IPPROTO_TCP, "10.0.0.1", port),
        scheduler: scheduler.into(),
        flags: 0,
        timeout: 0,
        netmask: 0xffff_ffff,
        pe_name: None,
    }
}

fn dest(addr: &str, weight: u32) -> Destination {
    Destination {
        addr: ip(addr),
        port: 80,
        forward: ForwardMethod::Masq,
        weight,
        upper_threshold: 0,
        lower_threshold: 0,
        tunnel_type: None,
        tunnel_port: 0,
        tunnel_flags: 0,
    }
}

/// The kernel's view of a table: HASHED set, zero netmask where it means nothing, tunnel
/// fields reported for every destination.
fn as_kernel_reports(table: &Table) -> Table {
    table
        .iter()
        .map(|(s, d)| {
            let mut s = s.clone();
            s.flags |= IP_VS_SVC_F_HASHED;
            if s.flags & IP_VS_SVC_F_PERSISTENT == 0 {
                s.netmask = 0;
            }
            let d = d
                .iter()
                .rev()
                .map(|d| {
                    let mut d = d.clone();
                    d.tunnel_type = d.tunnel_type.or(Some(TunnelType::Ipip));
                    d
                })
                .collect();
            (s, d)
        })
        .collect()
}

#[test]
fn diff_of_equal_tables_is_empty() {
    let c = four_checked("lvs_method DR\n persistence_timeout 60");
    let wanted = started(&c).0.desired(&c);
    let current = as_kernel_reports(&wanted);
    assert_eq!(diff(&wanted, &current, &owned_keys(&c)), vec![]);
    assert_eq!(diff(&wanted, &wanted, &owned_keys(&c)), vec![]);
}

#[test]
fn diff_edits_rather_than_replaces() {
    let current = vec![(
        svc(80, "rr"),
        vec![dest("10.0.1.1", 1), dest("10.0.1.2", 1)],
    )];
    let mut persistent = svc(80, "wlc");
    persistent.flags = IP_VS_SVC_F_PERSISTENT;
    persistent.timeout = 300;
    let wanted = vec![(
        persistent.clone(),
        vec![dest("10.0.1.1", 5), dest("10.0.1.2", 1)],
    )];
    let key = persistent.key;
    assert_eq!(
        diff(&wanted, &current, &[key]),
        vec![
            Op::EditService(persistent),
            Op::EditDest(key, dest("10.0.1.1", 5))
        ]
    );
}

#[test]
fn diff_leaves_services_it_does_not_own() {
    let foreign = (svc(22, "rr"), vec![dest("10.0.1.9", 1)]);
    let old = (svc(81, "rr"), vec![dest("10.0.1.1", 1)]);
    let kept = (svc(80, "rr"), vec![dest("10.0.1.1", 1)]);
    let current = vec![foreign, old.clone(), kept.clone()];
    let owned = [old.0.key, kept.0.key];
    assert_eq!(
        diff(&vec![kept], &current, &owned),
        vec![Op::DelService(old.0.key)],
        "the dropped service goes with its destinations; port 22 is someone else's"
    );
}

#[test]
fn diff_orders_operations_so_they_apply() {
    let current = vec![
        (svc(81, "rr"), vec![dest("10.0.1.1", 1)]),
        (
            svc(80, "rr"),
            vec![dest("10.0.1.1", 1), dest("10.0.1.2", 1)],
        ),
    ];
    let wanted = vec![
        (
            svc(80, "rr"),
            vec![dest("10.0.1.2", 1), dest("10.0.1.3", 1)],
        ),
        (svc(82, "sh"), vec![dest("10.0.1.4", 1)]),
    ];
    let k = |p| svc(p, "rr").key;
    let owned = [k(80), k(81), k(82)];
    let ops = diff(&wanted, &current, &owned);
    assert_eq!(
        ops,
        vec![
            Op::DelService(k(81)),
            Op::DelDest(k(80), ip("10.0.1.1"), 80),
            Op::AddDest(k(80), dest("10.0.1.3", 1)),
            Op::AddService(svc(82, "sh")),
            Op::AddDest(k(82), dest("10.0.1.4", 1)),
        ]
    );
    let mut table = current.clone();
    for op in &ops {
        apply(&mut table, op).expect("applies");
    }
    assert_eq!(diff(&wanted, &table, &owned), vec![]);
}

#[test]
fn diff_drives_the_table_through_quorum_changes() {
    let c = four_checked("quorum 3\n inhibit_on_failure\n sorry_server 10.0.9.9 80");
    let owned = owned_keys(&c);
    let (mut lvs, _) = started(&c);
    let mut kernel: Table = vec![(svc(22, "rr"), vec![dest("10.0.7.7", 1)])];
    let sync = |lvs: &Lvs, kernel: &mut Table| {
        let wanted = lvs.desired(&c);
        let ops = diff(&wanted, kernel, &owned);
        for op in &ops {
            apply(kernel, op).expect("applies");
        }
        assert_eq!(diff(&wanted, kernel, &owned), vec![], "converged");
        ops
    };
    let ops = sync(&lvs, &mut kernel);
    assert_eq!(ops.len(), 5, "service + 4 destinations: {ops:?}");
    lvs.checker_result(&c, ck(0, 0), false);
    let ops = sync(&lvs, &mut kernel);
    assert_eq!(ops.len(), 1, "one weight to 0: {ops:?}");
    lvs.checker_result(&c, ck(0, 1), false);
    let ops = sync(&lvs, &mut kernel);
    // Quorum lost: the failed server and the two alive ones to weight 0, the sorry server in.
    assert_eq!(ops.len(), 4, "{ops:?}");
    assert!(matches!(ops[3], Op::AddDest(_, ref d) if d.addr == ip("10.0.9.9")));
    lvs.checker_result(&c, ck(0, 0), true);
    let ops = sync(&lvs, &mut kernel);
    assert_eq!(ops.len(), 4, "3 weights back, sorry server out: {ops:?}");
    assert!(matches!(ops[0], Op::DelDest(_, a, 80) if a == ip("10.0.9.9")));
    assert_eq!(
        kernel[0].1,
        vec![dest("10.0.7.7", 1)],
        "foreign service untouched"
    );
}

#[test]
fn diff_ignores_tunnel_fields_of_non_tunnel_destinations() {
    let mut reported = dest("10.0.1.1", 1);
    reported.tunnel_type = Some(TunnelType::Ipip);
    assert!(diff::same_destination(&dest("10.0.1.1", 1), &reported));
    let mut tun = dest("10.0.1.1", 1);
    tun.forward = ForwardMethod::Tunnel;
    let mut gue = tun.clone();
    gue.tunnel_type = Some(TunnelType::Gue);
    gue.tunnel_port = 6080;
    assert!(diff::same_destination(&tun, &reported_tunnel(&tun)));
    assert!(!diff::same_destination(&tun, &gue));
}

fn reported_tunnel(d: &Destination) -> Destination {
    let mut d = d.clone();
    d.tunnel_type = Some(TunnelType::Ipip);
    d
}

#[test]
fn diff_compares_persistence_only_when_persistent() {
    let a = svc(80, "rr");
    let mut b = a.clone();
    b.netmask = 0;
    b.timeout = 7;
    b.flags |= IP_VS_SVC_F_HASHED;
    b.pe_name = Some(String::new());
    assert!(same_service(&a, &b));
    let mut p = a.clone();
    p.flags = IP_VS_SVC_F_PERSISTENT;
    let mut q = p.clone();
    q.netmask = 0xffff_ff00;
    assert!(!same_service(&p, &q));
}

#[test]
fn remove_all() {
    let k = |p| svc(p, "rr").key;
    assert_eq!(
        ops_to_remove_all(&[k(80), k(81), k(80)]),
        vec![Op::DelService(k(80)), Op::DelService(k(81))]
    );
    let current = vec![(svc(80, "rr"), vec![dest("10.0.1.1", 1)])];
    assert_eq!(
        diff(&vec![], &current, &[k(80), k(81)]),
        vec![Op::DelService(k(80))]
    );
}

#[test]
fn apply_refuses_what_the_kernel_refuses() {
    let mut t: Table = Vec::new();
    let k = svc(80, "rr").key;
    assert_eq!(
        apply(&mut t, &Op::DelService(k)),
        Err(diff::ApplyError::NoSuchService)
    );
    apply(&mut t, &Op::AddService(svc(80, "rr"))).expect("new");
    assert_eq!(
        apply(&mut t, &Op::AddService(svc(80, "rr"))),
        Err(diff::ApplyError::ServiceExists)
    );
    assert_eq!(
        apply(&mut t, &Op::EditDest(k, dest("10.0.1.1", 1))),
        Err(diff::ApplyError::NoSuchDestination)
    );
    apply(&mut t, &Op::AddDest(k, dest("10.0.1.1", 1))).expect("new");
    assert_eq!(
        apply(&mut t, &Op::AddDest(k, dest("10.0.1.1", 1))),
        Err(diff::ApplyError::DestinationExists)
    );
}
