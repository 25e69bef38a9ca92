//! The rtnetlink client against the real kernel, each test in a throwaway network namespace:
//! addresses (label, flags, peer, lifetimes, EEXIST/EADDRNOTAVAIL), routes (tables, types,
//! multipath), macvlan VMACs, and monitor events; checked against `ip`'s own view.
//!
//! Needs root and `ip netns`; otherwise every test prints a loud SKIP and passes.

use keeplite::sys::rtnl::{genl_family_id, Event, Monitor, NetlinkSocket, Rtnl, NETLINK_GENERIC};
use keeplite::wire::netlink::addr::{
    CacheInfo, IFA_F_HOMEADDRESS, IFA_F_MANAGETEMPADDR, IFA_F_NODAD, IFA_F_NOPREFIXROUTE,
};
use keeplite::wire::netlink::link::virtual_router_mac;
use keeplite::wire::netlink::route::{
    RTN_BLACKHOLE, RTN_PROHIBIT, RTN_THROW, RTN_UNREACHABLE, RTPROT_STATIC, RT_SCOPE_LINK,
};
use keeplite::wire::netlink::{AddressRepr, NextHop, RouteRepr};
use rustix::fd::AsFd;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

/// A named network namespace (`ip netns add`), deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn create(tag: &str) -> Option<Netns> {
        let name = format!("keeplite-rtnl-{}-{tag}", std::process::id());
        let status = Command::new("ip").args(["netns", "add", &name]).status();
        match status {
            Ok(s) if s.success() => Some(Netns { name }),
            other => {
                eprintln!("SKIP rtnl_netns::{tag}: `ip netns add {name}` failed: {other:?}");
                None
            }
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs `body` on a thread moved into a fresh namespace (child processes it spawns, such as
/// `ip`, inherit it). Skips loudly when not root or when namespaces are unavailable.
fn in_netns(tag: &str, body: impl FnOnce() + Send + 'static) {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIP rtnl_netns::{tag}: needs root for network namespaces");
        return;
    }
    let Some(netns) = Netns::create(tag) else {
        return;
    };
    let path = format!("/run/netns/{}", netns.name);
    let thread = std::thread::spawn(move || {
        let fd = rustix::fs::open(
            path.as_str(),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .expect("open the namespace file");
        rustix::thread::move_into_link_name_space(
            fd.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns into the test namespace");
        body();
    });
    let outcome = thread.join();
    drop(netns);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `ip args…` in the current thread's namespace and returns its stdout.
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates `dummy0` (a dummy link, or one end of a veth pair with `peer0` where the kernel has
/// no dummy driver) with both ends up, and returns its index.
fn make_dummy0(rtnl: &mut Rtnl) -> u32 {
    let dummy = Command::new("ip")
        .args(["link", "add", "dummy0", "type", "dummy"])
        .output()
        .expect("run ip");
    if !dummy.status.success() {
        ip(&[
            "link", "add", "dummy0", "type", "veth", "peer", "name", "peer0",
        ]);
        let peer = rtnl.ifindex("peer0").expect("peer0 exists");
        rtnl.set_link_up(peer).expect("set peer0 up");
    }
    let index = rtnl.ifindex("dummy0").expect("dummy0 exists");
    rtnl.set_link_up(index).expect("set dummy0 up");
    index
}

fn v4(s: &str) -> IpAddr {
    s.parse().expect("an IPv4 literal")
}

#[test]
fn addresses() {
    in_netns("addresses", || {
        let mut rtnl = Rtnl::open().expect("open rtnetlink");
        let index = make_dummy0(&mut rtnl);
        assert!(rtnl.link(index).expect("link").is_up());

        let mut vip = AddressRepr::new(index, v4("10.55.0.1"), 24, None);
        vip.label = Some("dummy0:1");
        rtnl.add_address(&vip).expect("add 10.55.0.1/24");
        let shown = ip(&["-o", "address", "show", "dev", "dummy0"]);
        assert!(
            shown.contains("inet 10.55.0.1/24 brd") || shown.contains("inet 10.55.0.1/24 scope"),
            "{shown}"
        );
        assert!(shown.contains("dummy0:1"), "{shown}");

        // Adding it again is detectable, and says what was asked.
        let again = rtnl.add_address(&vip).expect_err("second add must fail");
        assert!(again.is_exists(), "{again}");
        eprintln!("as reported: {again}");
        let text = again.to_string();
        assert!(
            text.starts_with("add 10.55.0.1/24 on dummy0: File exists (EEXIST)"),
            "{text}"
        );

        // Broadcast and scope.
        let mut scoped = AddressRepr::new(index, v4("10.55.0.2"), 32, None);
        scoped.broadcast = Some(Ipv4Addr::new(10, 55, 0, 255));
        scoped.scope = RT_SCOPE_LINK;
        rtnl.add_address(&scoped)
            .expect("add 10.55.0.2/32 brd scope link");
        let shown = ip(&["-o", "address", "show", "dev", "dummy0"]);
        assert!(
            shown.contains("inet 10.55.0.2/32 brd 10.55.0.255 scope link"),
            "{shown}"
        );

        // A point-to-point address: IFA_LOCAL is ours, IFA_ADDRESS the peer.
        let peer = AddressRepr::new(index, v4("10.55.1.1"), 32, Some(v4("10.55.1.2")));
        rtnl.add_address(&peer).expect("add with peer");
        let shown = ip(&["-o", "address", "show", "dev", "dummy0"]);
        assert!(
            shown.contains("inet 10.55.1.1 peer 10.55.1.2/32"),
            "{shown}"
        );

        // IPv6 with every flag keepalived can set and a preferred lifetime.
        let mut v6 = AddressRepr::new(index, "2001:db8::1".parse().unwrap(), 64, None);
        v6.flags = IFA_F_NODAD | IFA_F_HOMEADDRESS | IFA_F_MANAGETEMPADDR | IFA_F_NOPREFIXROUTE;
        v6.cache_info = Some(CacheInfo::preferred_for(100));
        rtnl.add_address(&v6).expect("add 2001:db8::1/64");
        let shown = ip(&["-o", "-6", "address", "show", "dev", "dummy0"]);
        assert!(
            shown.contains("inet6 2001:db8::1/64 scope global nodad home mngtmpaddr noprefixroute"),
            "{shown}"
        );
        assert!(shown.contains("preferred_lft 100sec"), "{shown}");

        // The dump sees them all, with labels and peers.
        let listed = rtnl.list_addresses(Some(index)).expect("list addresses");
        let find = |a: &str| {
            listed
                .iter()
                .find(|x| x.addr == a.parse::<IpAddr>().unwrap())
        };
        let first = find("10.55.0.1").expect("10.55.0.1 listed");
        assert_eq!(
            (first.prefix_len, first.label.as_deref()),
            (24, Some("dummy0:1"))
        );
        assert_eq!(
            find("10.55.1.1").expect("peer listed").peer,
            Some(v4("10.55.1.2"))
        );
        assert!(find("2001:db8::1").is_some(), "{listed:?}");
        assert!(listed.iter().all(|a| a.index == index));
        // A new namespace's loopback is down and bare; up, it gets 127.0.0.1 and ::1.
        let lo = rtnl.ifindex("lo").expect("lo exists");
        rtnl.set_link_up(lo).expect("set lo up");
        let everything = rtnl.list_addresses(None).expect("list all");
        assert!(
            everything.iter().any(|a| a.addr == v4("127.0.0.1")),
            "{everything:?}"
        );
        assert_eq!(
            rtnl.primary_address(index, false).expect("primary"),
            Some(v4("10.55.0.1"))
        );

        // Delete, then delete again: EADDRNOTAVAIL.
        rtnl.del_address(&vip).expect("delete 10.55.0.1/24");
        let shown = ip(&["-o", "address", "show", "dev", "dummy0"]);
        assert!(!shown.contains("10.55.0.1/"), "{shown}");
        let again = rtnl.del_address(&vip).expect_err("second delete must fail");
        eprintln!("as reported: {again}");
        assert!(again.is_addr_not_avail(), "{again}");
        assert!(
            again
                .to_string()
                .starts_with("delete 10.55.0.1/24 from dummy0: "),
            "{again}"
        );
        rtnl.del_address(&peer).expect("delete peer address");
        rtnl.del_address(&v6).expect("delete v6 address");
        let shown = ip(&["-o", "address", "show", "dev", "dummy0"]);
        assert!(
            !shown.contains("10.55.1.1") && !shown.contains("2001:db8::1"),
            "{shown}"
        );
    });
}

/// Dumps larger than the socket's starting receive buffer (~4 KiB) arrive as many datagrams, all
/// read (the buffer grows only for a single message larger than it).
#[test]
fn large_dumps() {
    in_netns("large_dumps", || {
        let mut rtnl = Rtnl::open().expect("open rtnetlink");
        let index = make_dummy0(&mut rtnl);
        for k in 0..600u32 {
            let addr = IpAddr::V4(Ipv4Addr::new(10, 56, (k / 250) as u8, (k % 250 + 1) as u8));
            rtnl.add_address(&AddressRepr::new(index, addr, 32, None))
                .expect("add a /32");
        }
        let listed = rtnl
            .list_addresses(Some(index))
            .expect("dump 600 addresses");
        let ours = listed
            .iter()
            .filter(|a| matches!(a.addr, IpAddr::V4(v) if v.octets()[..2] == [10, 56]))
            .count();
        assert_eq!(ours, 600, "every address of a multi-datagram dump");

        // 40 links with their (large) messages: a dump of ~40 KiB at least.
        for k in 0..40 {
            let name = format!("dl{k}");
            let made = Command::new("ip")
                .args(["link", "add", &name, "type", "dummy"])
                .status()
                .expect("run ip");
            if !made.success() {
                ip(&[
                    "link",
                    "add",
                    &name,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &format!("dp{k}"),
                ]);
            }
        }
        let links = rtnl.links().expect("dump links");
        assert!(
            (0..40).all(|k| links.iter().any(|l| l.name == format!("dl{k}"))),
            "every link of a multi-datagram dump: {:?}",
            links.iter().map(|l| &l.name).collect::<Vec<_>>()
        );
        let dl0 = rtnl.ifindex("dl0").expect("dl0");
        assert_eq!(rtnl.link(dl0).expect("one link's message").name, "dl0");
    });
}

#[test]
fn routes() {
    in_netns("routes", || {
        let mut rtnl = Rtnl::open().expect("open rtnetlink");
        let index = make_dummy0(&mut rtnl);
        rtnl.add_address(&AddressRepr::new(index, v4("10.55.0.1"), 24, None))
            .expect("add 10.55.0.1/24");

        let mut via = RouteRepr::new(v4("10.66.0.0"), 16);
        via.gateway = Some(v4("10.55.0.254"));
        via.prefsrc = Some(v4("10.55.0.1"));
        via.oif = Some(index);
        via.metric = Some(50);
        via.table = 100;
        via.protocol = RTPROT_STATIC;
        rtnl.add_route(&via)
            .expect("add route via gateway in table 100");
        let shown = ip(&["route", "show", "table", "100"]);
        assert!(
            shown.contains(
                "10.66.0.0/16 via 10.55.0.254 dev dummy0 proto static src 10.55.0.1 metric 50"
            ),
            "{shown}"
        );
        let again = rtnl.add_route(&via).expect_err("second add must fail");
        assert!(again.is_exists(), "{again}");
        assert!(
            again
                .to_string()
                .starts_with("add route 10.66.0.0/16 via 10.55.0.254 dev dummy0 table 100: "),
            "{again}"
        );

        // A table id above 255 goes in RTA_TABLE.
        let mut blackhole = RouteRepr::new(v4("10.77.0.0"), 16);
        blackhole.kind = RTN_BLACKHOLE;
        blackhole.table = 1000;
        rtnl.add_route(&blackhole)
            .expect("add blackhole in table 1000");
        let shown = ip(&["route", "show", "table", "1000"]);
        assert!(shown.contains("blackhole 10.77.0.0/16"), "{shown}");

        let mut others = Vec::new();
        for (kind, dst, word) in [
            (RTN_UNREACHABLE, "10.78.0.0", "unreachable"),
            (RTN_PROHIBIT, "10.79.0.0", "prohibit"),
            (RTN_THROW, "10.80.0.0", "throw"),
        ] {
            let mut route = RouteRepr::new(v4(dst), 16);
            route.kind = kind;
            rtnl.add_route(&route).expect("add typed route");
            let shown = ip(&["route", "show"]);
            assert!(shown.contains(&format!("{word} {dst}/16")), "{shown}");
            others.push(route);
        }

        // Two gateways: RTA_MULTIPATH.
        let mut multipath = RouteRepr::new(v4("10.88.0.0"), 16);
        let hop = |gateway: &str| NextHop {
            gateway: Some(v4(gateway)),
            oif: index,
            ..NextHop::default()
        };
        multipath.multipath = Some([hop("10.55.0.253"), hop("10.55.0.254")]);
        rtnl.add_route(&multipath).expect("add multipath route");
        let shown = ip(&["route", "show", "10.88.0.0/16"]);
        assert!(
            shown.contains("nexthop via 10.55.0.253 dev dummy0")
                && shown.contains("nexthop via 10.55.0.254 dev dummy0"),
            "{shown}"
        );

        for route in [&via, &blackhole, &multipath].into_iter().chain(&others) {
            rtnl.del_route(route).expect("delete route");
        }
        let main = ip(&["route", "show"]);
        assert!(!main.contains("10.7") && !main.contains("10.8"), "{main}");
        assert_eq!(ip(&["route", "show", "table", "100"]).trim(), "");
        assert_eq!(ip(&["route", "show", "table", "1000"]).trim(), "");
        let again = rtnl.del_route(&via).expect_err("second delete must fail");
        eprintln!("as reported: {again}");
        assert!(again.is_no_such_route(), "{again}");
    });
}

#[test]
fn macvlan_vmac() {
    in_netns("macvlan", || {
        let mut rtnl = Rtnl::open().expect("open rtnetlink");
        let parent = make_dummy0(&mut rtnl);

        let mac = virtual_router_mac(51, false);
        let index = rtnl
            .add_macvlan(parent, "vrrp.51", mac)
            .expect("create vrrp.51");
        let shown = ip(&["-d", "-o", "link", "show", "vrrp.51"]);
        assert!(shown.contains("link/ether 00:00:5e:00:01:33"), "{shown}");
        assert!(shown.contains("macvlan mode private"), "{shown}");
        assert!(shown.contains("vrrp.51@dummy0: <"), "{shown}");
        assert!(shown.contains(",UP"), "{shown}");

        let links = rtnl.links().expect("dump links");
        let vmac = links.iter().find(|l| l.name == "vrrp.51").expect("listed");
        assert_eq!(vmac.index, index);
        assert_eq!(vmac.kind.as_deref(), Some("macvlan"));
        assert_eq!(vmac.parent, Some(parent));
        assert_eq!(vmac.mac, Some(mac));
        assert!(vmac.is_up());
        assert!(links.iter().any(|l| l.name == "lo"));

        let mac6 = virtual_router_mac(51, true);
        let index6 = rtnl
            .add_macvlan(parent, "vrrp6.51", mac6)
            .expect("create vrrp6.51");
        let shown = ip(&["-o", "link", "show", "vrrp6.51"]);
        assert!(shown.contains("link/ether 00:00:5e:00:02:33"), "{shown}");

        let again = rtnl
            .add_macvlan(parent, "vrrp.51", mac)
            .expect_err("duplicate name must fail");
        assert!(again.is_exists(), "{again}");
        assert!(
            again
                .to_string()
                .starts_with("create macvlan vrrp.51 on dummy0: File exists (EEXIST)"),
            "{again}"
        );

        rtnl.del_link(index).expect("delete vrrp.51");
        rtnl.del_link(index6).expect("delete vrrp6.51");
        let missing = rtnl.ifindex("vrrp.51").expect_err("gone");
        assert!(missing.is_no_device(), "{missing}");
        assert!(
            missing
                .to_string()
                .starts_with("look up interface vrrp.51: No such device (ENODEV)"),
            "{missing}"
        );
    });
}

/// An [`Event`] the test can keep.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Link {
        name: String,
        up: bool,
        running: bool,
    },
    LinkDeleted(String),
    Address {
        added: bool,
        index: u32,
        addr: IpAddr,
        prefix: u8,
    },
    Overrun,
}

/// Reads monitor events (waiting on the fd with poll, as the daemon's epoll would) until one
/// satisfies `want`, for at most 5 s.
fn wait_for(monitor: &mut Monitor, seen: &mut Vec<Seen>, want: impl Fn(&Seen) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if seen.iter().any(&want) {
            return;
        }
        let mut fds = [rustix::event::PollFd::new(
            monitor,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 200_000_000,
        };
        rustix::event::poll(&mut fds, Some(&timeout)).expect("poll the monitor");
        monitor
            .read_events(|event| {
                seen.push(match event {
                    Event::Link {
                        name, up, running, ..
                    } => Seen::Link {
                        name: name.to_owned(),
                        up,
                        running,
                    },
                    Event::LinkDeleted { name, .. } => Seen::LinkDeleted(name.to_owned()),
                    Event::Address {
                        added,
                        index,
                        addr,
                        prefix,
                    } => Seen::Address {
                        added,
                        index,
                        addr,
                        prefix,
                    },
                    Event::Overrun => Seen::Overrun,
                })
            })
            .expect("read events");
    }
    panic!("no matching event within 5 s; saw {seen:?}");
}

#[test]
fn monitor_events() {
    in_netns("monitor", || {
        let mut rtnl = Rtnl::open().expect("open rtnetlink");
        let index = make_dummy0(&mut rtnl);
        let mut monitor = Monitor::open().expect("open monitor");
        let mut seen = Vec::new();

        ip(&["link", "set", "dummy0", "down"]);
        wait_for(
            &mut monitor,
            &mut seen,
            |e| matches!(e, Seen::Link { name, up: false, running: false } if name == "dummy0"),
        );
        rtnl.set_link_up(index).expect("set dummy0 up");
        wait_for(
            &mut monitor,
            &mut seen,
            |e| matches!(e, Seen::Link { name, up: true, .. } if name == "dummy0"),
        );

        let vip = AddressRepr::new(index, v4("10.55.0.9"), 24, None);
        rtnl.add_address(&vip).expect("add 10.55.0.9/24");
        let added = Seen::Address {
            added: true,
            index,
            addr: v4("10.55.0.9"),
            prefix: 24,
        };
        wait_for(&mut monitor, &mut seen, |e| *e == added);
        ip(&["address", "del", "10.55.0.9/24", "dev", "dummy0"]);
        let removed = Seen::Address {
            added: false,
            index,
            addr: v4("10.55.0.9"),
            prefix: 24,
        };
        wait_for(&mut monitor, &mut seen, |e| *e == removed);

        let vmac = rtnl
            .add_macvlan(index, "vrrp.7", virtual_router_mac(7, false))
            .expect("create vrrp.7");
        rtnl.del_link(vmac).expect("delete vrrp.7");
        wait_for(
            &mut monitor,
            &mut seen,
            |e| matches!(e, Seen::LinkDeleted(name) if name == "vrrp.7"),
        );
        assert_eq!(monitor.dropped(), 0);
        assert!(!seen.contains(&Seen::Overrun), "{seen:?}");
    });
}

#[test]
fn unknown_interface() {
    in_netns("unknown", || {
        let mut rtnl = Rtnl::open().expect("open rtnetlink");
        let error = rtnl.ifindex("nope0").expect_err("no such interface");
        assert!(error.is_no_device(), "{error}");
        assert_eq!(
            error.to_string(),
            "look up interface nope0: No such device (ENODEV)"
        );
        let error = rtnl
            .add_address(&AddressRepr::new(999, v4("10.0.0.1"), 24, None))
            .expect_err("no such ifindex");
        assert!(
            error
                .to_string()
                .starts_with("add 10.0.0.1/24 on ifindex 999: "),
            "{error}"
        );
    });
}

#[test]
fn generic_netlink_family() {
    // Any user may ask the controller; IPVS itself is absent from this kernel, "nlctrl" never is.
    let mut socket = NetlinkSocket::open(Some(NETLINK_GENERIC)).expect("open generic netlink");
    assert_eq!(genl_family_id(&mut socket, "nlctrl").expect("nlctrl"), 0x10);
    let missing = genl_family_id(&mut socket, "no-such-family").expect_err("unknown family");
    assert_eq!(missing.errno(), Some(rustix::io::Errno::NOENT), "{missing}");
}
