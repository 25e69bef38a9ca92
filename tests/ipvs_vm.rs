//! The IPVS client against a real IPVS kernel. The host has no IPVS, so this test boots Debian's
//! stock kernel under qemu (TCG) with the harness in `tests/ipvs_vm/`, and runs *this same test
//! binary* inside the guest (built for x86_64-unknown-linux-musl, so it needs no libraries there)
//! with `KEEPLITE_IPVS_GUEST=1`, where `guest_scenarios` drives `sys::ipvs::Ipvs` and compares
//! every step with `ipvsadm -Ln` and with the model of what was added.
//!
//! Host needs: qemu-system-x86 (apt), apt-get (to fetch the kernel, busybox, ipvsadm debs), the
//! rustup target x86_64-unknown-linux-musl. Without them the test prints a loud SKIP and passes.
//! `KEEPLITE_SKIP_IPVS_VM=1` skips it on purpose.

use keeplite::sys::ipvs::Ipvs;
use keeplite::sys::rtnl::ErrorKind;
use keeplite::wire::ipvs::{
    protocol_name, Destination, ForwardMethod, Service, ServiceKey, TunnelType, IPPROTO_SCTP,
    IPPROTO_TCP, IPPROTO_UDP, IP_VS_SVC_F_ONEPACKET, IP_VS_SVC_F_PERSISTENT, IP_VS_SVC_F_SCHED1,
    IP_VS_SVC_F_SCHED2, IP_VS_SVC_F_SCHED3, IP_VS_SVC_F_SCHED_MH_FALLBACK,
    IP_VS_SVC_F_SCHED_MH_PORT, IP_VS_SVC_F_SCHED_SH_FALLBACK, IP_VS_SVC_F_SCHED_SH_PORT,
    IP_VS_TUNNEL_ENCAP_FLAG_CSUM, IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM, IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
};
use keeplite::wire::netlink::AF_INET6;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const GUEST_ENV: &str = "KEEPLITE_IPVS_GUEST";
mod common;

use common::{loud, on_path, rust_target_installed, target_dir};

const MUSL: &str = "x86_64-unknown-linux-musl";

fn in_guest() -> bool {
    std::env::var_os(GUEST_ENV).is_some()
}

fn skip(why: &str) {
    common::skip("ipvs_vm", why);
}

// ---------------------------------------------------------------------------------------------
// Host side: build the harness and the guest binary, boot, report.

/// Builds this test for musl (same profile as the running one) and returns the executable.
fn build_guest_binary() -> PathBuf {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["test", "--target", MUSL, "--test", "ipvs_vm", "--no-run"])
        .args(["--message-format", "json-render-diagnostics"])
        .env("CARGO_TARGET_DIR", target_dir());
    if !cfg!(debug_assertions) {
        cargo.arg("--release");
    }
    let out = cargo.output().expect("run cargo");
    assert!(
        out.status.success(),
        "building the guest test binary failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The compiler-artifact line of this test carries `"executable":"/path"`.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("\"compiler-artifact\"") && l.contains("\"name\":\"ipvs_vm\""))
        .expect("cargo reported no ipvs_vm artifact");
    let start = line
        .find("\"executable\":\"")
        .expect("artifact has no executable")
        + 14;
    let end = start + line[start..].find('"').expect("unterminated path");
    PathBuf::from(&line[start..end])
}

#[test]
fn ipvs_in_vm() {
    if in_guest() {
        return;
    }
    if std::env::var_os("KEEPLITE_SKIP_IPVS_VM").is_some() {
        return skip("KEEPLITE_SKIP_IPVS_VM is set");
    }
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return skip("the VM harness is for x86_64 Linux hosts");
    }
    if !on_path("qemu-system-x86_64") {
        return skip("qemu-system-x86_64 missing (apt-get install qemu-system-x86)");
    }
    for tool in ["apt-get", "dpkg", "xz", "readelf", "gzip", "flock"] {
        if !on_path(tool) {
            return skip(&format!(
                "{tool} missing (the harness fetches Debian packages)"
            ));
        }
    }
    if !rust_target_installed(MUSL) {
        return skip(&format!(
            "rust target {MUSL} missing (rustup target add {MUSL})"
        ));
    }
    let started = Instant::now();
    let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ipvs_vm");
    let work = target_dir().join("ipvs-vm");

    let out = Command::new(harness.join("build.sh"))
        .arg(&work)
        .output()
        .expect("run build.sh");
    assert!(
        out.status.success(),
        "tests/ipvs_vm/build.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let prepared = started.elapsed();

    let exe = build_guest_binary();
    // A fixed name in the guest, whatever cargo's hash; a directory per run, so that two test
    // runs sharing the target directory do not swap binaries.
    let guest_dir = work.join(format!("guest-{}", std::process::id()));
    std::fs::create_dir_all(&guest_dir).expect("guest dir");
    let guest_exe = guest_dir.join("ipvs_vm");
    std::fs::copy(&exe, &guest_exe).expect("copy the guest binary");
    let built = started.elapsed();

    let out = Command::new(harness.join("run.sh"))
        .arg(&work)
        .arg(harness.join("guest.sh"))
        .arg(&guest_exe)
        .output()
        .expect("run run.sh");
    let _ = std::fs::remove_dir_all(&guest_dir);
    let console = String::from_utf8_lossy(&out.stdout);
    let booted = started.elapsed();
    eprintln!("{console}{}", String::from_utf8_lossy(&out.stderr));
    loud(&format!(
        "ipvs_vm timings: harness {:.1} s, guest binary {:.1} s, VM {:.1} s, total {:.1} s",
        prepared.as_secs_f64(),
        (built - prepared).as_secs_f64(),
        (booted - built).as_secs_f64(),
        booted.as_secs_f64()
    ));
    assert!(
        out.status.success(),
        "the guest failed (rc {:?}); its console is above",
        out.status.code()
    );
    assert!(
        console.contains("GUEST SCENARIOS PASSED"),
        "the guest did not run its scenarios; its console is above"
    );
}

/// On a kernel without IPVS (this host's), opening says so in words a user can act on.
#[test]
fn open_without_ipvs_says_so() {
    if in_guest() {
        return;
    }
    match Ipvs::open() {
        Ok(_) => skip("this kernel has IPVS: nothing to check here"),
        Err(error) if !matches!(error.kind, ErrorKind::Kernel { .. }) => {
            skip(&format!("no generic netlink here: {error}"))
        }
        Err(error) => {
            assert!(error.is_unavailable(), "{error}");
            assert!(
                error.to_string().starts_with(
                    "IPVS is not available in this kernel (modprobe ip_vs): No such file"
                ),
                "{error}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Guest side.

/// Runs ipvsadm; returns its stdout, panicking with its output when it fails.
fn ipvsadm(args: &[&str]) -> String {
    let out = Command::new("ipvsadm")
        .args(args)
        .output()
        .expect("run ipvsadm");
    assert!(
        out.status.success(),
        "ipvsadm {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The listing modes compared at every step, as ipvsadm options.
const LISTINGS: [&[&str]; 4] = [
    &[],
    &["--tun-info"],
    &["--thresholds"],
    &["--persistent-conn"],
];

/// ipvsadm's table as lines of words: `-Ln --nosort` keeps the kernel's order, which our dump
/// also has; the first line (version) is kept, the two column-title lines dropped.
fn ipvsadm_listing(mode: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec!["-Ln", "--nosort"];
    args.extend_from_slice(mode);
    let text = ipvsadm(&args);
    let words = |line: &str| line.split_whitespace().map(str::to_owned).collect();
    let mut lines = text.lines();
    let mut table = vec![words(lines.next().unwrap_or(""))];
    table.extend(lines.skip(2).map(words));
    table
}

fn sched_flag_names(service: &Service) -> Vec<String> {
    let names = match service.scheduler.as_str() {
        "sh" => ["sh-fallback", "sh-port", "flag-3"],
        "mh" => ["mh-fallback", "mh-port", "flag-3"],
        _ => ["flag-1", "flag-2", "flag-3"],
    };
    [IP_VS_SVC_F_SCHED1, IP_VS_SVC_F_SCHED2, IP_VS_SVC_F_SCHED3]
        .iter()
        .zip(names)
        .filter(|(bit, _)| service.flags & **bit != 0)
        .map(|(_, name)| name.to_owned())
        .collect()
}

fn render_service(service: &Service) -> Vec<String> {
    let mut words = Vec::new();
    match service.key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            words.push(protocol_name(protocol).unwrap_or("?").to_owned());
            words.push(std::net::SocketAddr::new(addr, port).to_string());
        }
        ServiceKey::Fwmark { mark, ipv6 } => {
            words.push("FWM".into());
            // ipvsadm prints the mark as a signed int: 0xfffffffe is "-2".
            words.push((mark as i32).to_string());
            if ipv6 {
                words.push("IPv6".into());
            }
        }
    }
    words.push(service.scheduler.clone());
    let flags = sched_flag_names(service);
    if !flags.is_empty() {
        words.push(format!("({})", flags.join(",")));
    }
    if service.flags & IP_VS_SVC_F_PERSISTENT != 0 {
        words.push("persistent".into());
        words.push(service.timeout.to_string());
        let ipv6 = service.key.family() == AF_INET6;
        let full = if ipv6 { 128 } else { u32::MAX };
        if service.netmask != full {
            words.push("mask".into());
            words.push(if ipv6 {
                service.netmask.to_string()
            } else {
                std::net::Ipv4Addr::from(service.netmask).to_string()
            });
        }
    }
    if let Some(pe) = &service.pe_name {
        words.push("pe".into());
        words.push(pe.clone());
    }
    if service.flags & IP_VS_SVC_F_ONEPACKET != 0 {
        words.push("ops".into());
    }
    words
}

fn tunnel_info(dest: &Destination) -> String {
    if dest.forward != ForwardMethod::Tunnel {
        return "n/a".into();
    }
    let csum = |flags: u16| {
        // ipvsadm's words for remote checksum offload.
        if flags & IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM != 0 {
            "r+c"
        } else if flags & IP_VS_TUNNEL_ENCAP_FLAG_CSUM != 0 {
            "+c"
        } else {
            "-c"
        }
    };
    match dest.tunnel_type.unwrap_or(TunnelType::Ipip) {
        TunnelType::Ipip => "ipip".into(),
        TunnelType::Gue => format!("gue:{}:{}", dest.tunnel_port, csum(dest.tunnel_flags)),
        TunnelType::Gre => format!("gre:{}", csum(dest.tunnel_flags)),
    }
}

fn render_dest(dest: &Destination, stats: (u32, u32, u32), mode: &[&str]) -> Vec<String> {
    let (active, inactive, persistent) = stats;
    let forward = match dest.forward {
        ForwardMethod::Masq => "Masq",
        ForwardMethod::DirectRoute => "Route",
        ForwardMethod::Tunnel => "Tunnel",
    };
    let mut words = vec!["->".to_owned(), dest.to_string()];
    let columns: Vec<String> = match mode.first().copied() {
        None => vec![forward.into(), dest.weight.to_string()],
        Some("--tun-info") => vec![forward.into(), tunnel_info(dest), dest.weight.to_string()],
        Some("--thresholds") => vec![
            dest.upper_threshold.to_string(),
            dest.lower_threshold.to_string(),
        ],
        Some("--persistent-conn") => vec![dest.weight.to_string(), persistent.to_string()],
        Some(other) => panic!("no rendering for {other}"),
    };
    words.extend(columns);
    words.push(active.to_string());
    words.push(inactive.to_string());
    words
}

/// Our client's view of the table, in ipvsadm's words for `mode`.
fn our_listing(ipvs: &mut Ipvs, mode: &[&str]) -> Vec<Vec<String>> {
    let info = ipvs.info().expect("info");
    let first = format!(
        "IP Virtual Server version {info} (size={})",
        info.conn_table_size
    );
    let mut table = vec![first.split_whitespace().map(str::to_owned).collect()];
    for service in ipvs.services().expect("services") {
        table.push(render_service(&service));
        let dests = ipvs.destinations_with_stats(&service.key).expect("dests");
        for (dest, stats) in dests {
            let counts = (
                stats.active_conns,
                stats.inactive_conns,
                stats.persistent_conns,
            );
            table.push(render_dest(&dest, counts, mode));
        }
    }
    table
}

/// What the test has put in the kernel: services and their destinations.
#[derive(Default)]
struct Model {
    services: Vec<(Service, Vec<Destination>)>,
}

impl Model {
    fn add_service(&mut self, ipvs: &mut Ipvs, service: Service) {
        ipvs.add_service(&service).unwrap_or_else(|e| panic!("{e}"));
        self.services.push((service, Vec::new()));
    }

    fn entry(&mut self, key: &ServiceKey) -> &mut (Service, Vec<Destination>) {
        self.services
            .iter_mut()
            .find(|(s, _)| s.key == *key)
            .unwrap_or_else(|| panic!("{key} not in the model"))
    }

    fn edit_service(&mut self, ipvs: &mut Ipvs, service: Service) {
        ipvs.edit_service(&service)
            .unwrap_or_else(|e| panic!("{e}"));
        let key = service.key;
        self.entry(&key).0 = service;
    }

    fn del_service(&mut self, ipvs: &mut Ipvs, key: &ServiceKey) {
        ipvs.del_service(key).unwrap_or_else(|e| panic!("{e}"));
        self.services.retain(|(s, _)| s.key != *key);
    }

    fn add_dest(&mut self, ipvs: &mut Ipvs, key: &ServiceKey, dest: Destination) {
        ipvs.add_dest(key, &dest).unwrap_or_else(|e| panic!("{e}"));
        self.entry(key).1.push(dest);
    }

    fn edit_dest(&mut self, ipvs: &mut Ipvs, key: &ServiceKey, dest: Destination) {
        ipvs.edit_dest(key, &dest).unwrap_or_else(|e| panic!("{e}"));
        let dests = &mut self.entry(key).1;
        let old = dests
            .iter_mut()
            .find(|d| d.addr == dest.addr && d.port == dest.port)
            .expect("edited destination in the model");
        *old = dest;
    }

    fn del_dest(&mut self, ipvs: &mut Ipvs, key: &ServiceKey, addr: IpAddr, port: u16) {
        ipvs.del_dest(key, addr, port)
            .unwrap_or_else(|e| panic!("{e}"));
        self.entry(key)
            .1
            .retain(|d| !(d.addr == addr && d.port == port));
    }

    fn flush(&mut self, ipvs: &mut Ipvs) {
        ipvs.flush().unwrap_or_else(|e| panic!("{e}"));
        self.services.clear();
    }

    /// Compares the kernel's table three ways: our dump against the model (order aside), and
    /// our dump rendered against ipvsadm's listing in every mode (in the kernel's order).
    fn check(&self, ipvs: &mut Ipvs, step: &str) {
        let mut ours: Vec<(Service, Vec<Destination>)> = ipvs
            .services()
            .unwrap_or_else(|e| panic!("{step}: {e}"))
            .into_iter()
            .map(|s| {
                let mut dests = ipvs
                    .destinations(&s.key)
                    .unwrap_or_else(|e| panic!("{step}: {e}"));
                dests.sort_by_key(|d| (d.addr, d.port));
                (s, dests)
            })
            .collect();
        ours.sort_by_key(|(s, _)| s.key);
        let mut want = self.services.clone();
        for (_, dests) in &mut want {
            dests.sort_by_key(|d| (d.addr, d.port));
        }
        want.sort_by_key(|(s, _)| s.key);
        assert_eq!(ours, want, "{step}: our dump differs from what was added");
        for mode in LISTINGS {
            let theirs = ipvsadm_listing(mode);
            let ours = our_listing(ipvs, mode);
            if ours != theirs {
                let show = |t: &[Vec<String>]| {
                    t.iter().map(|l| l.join(" ")).collect::<Vec<_>>().join("\n")
                };
                panic!(
                    "{step}: listing {mode:?} differs\n--- ipvsadm\n{}\n--- ours\n{}",
                    show(&theirs),
                    show(&ours)
                );
            }
        }
        let services = self.services.len();
        let dests: usize = self.services.iter().map(|(_, d)| d.len()).sum();
        println!("ok: {step} ({services} services, {dests} destinations)");
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

fn addr_key(protocol: u8, addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol,
        addr: ip(addr),
        port,
    }
}

fn service(key: ServiceKey, scheduler: &str) -> Service {
    Service {
        key,
        scheduler: scheduler.into(),
        flags: 0,
        timeout: 0,
        netmask: if key.family() == AF_INET6 {
            128
        } else {
            u32::MAX
        },
        pe_name: None,
    }
}

fn dest(addr: &str, port: u16, forward: ForwardMethod, weight: u32) -> Destination {
    Destination {
        addr: ip(addr),
        port,
        forward,
        weight,
        upper_threshold: 0,
        lower_threshold: 0,
        tunnel_type: (forward == ForwardMethod::Tunnel).then_some(TunnelType::Ipip),
        tunnel_port: 0,
        tunnel_flags: 0,
    }
}

fn tunnel(addr: &str, kind: TunnelType, port: u16, flags: u16) -> Destination {
    Destination {
        tunnel_type: Some(kind),
        tunnel_port: port,
        tunnel_flags: flags,
        ..dest(addr, 0, ForwardMethod::Tunnel, 1)
    }
}

const SCHEDULERS: [&str; 13] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
];

fn write_file(path: &str, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {path}: {e}"));
}

fn module_loaded(name: &str) -> bool {
    std::fs::read_to_string("/proc/modules")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

/// Before ip_vs is loaded, with module loading disabled: the clear "not available" error.
fn scenario_unavailable() {
    if module_loaded("ip_vs") {
        println!("ip_vs already loaded: unavailable case not checked");
        return;
    }
    write_file("/proc/sys/kernel/modprobe", "/bin/false\n");
    let result = Ipvs::open();
    write_file("/proc/sys/kernel/modprobe", "/sbin/modprobe\n");
    let error = result.expect_err("IPVS opened with module loading disabled");
    assert!(error.is_unavailable(), "{error}");
    assert!(error.to_string().contains("modprobe ip_vs"), "{error}");
    println!("ok: without ip_vs: {error}");
}

fn scenario_info_and_timeouts(ipvs: &mut Ipvs) {
    let info = ipvs.info().expect("info");
    assert_eq!(info.to_string(), "1.2.1");
    let shown = |t: keeplite::wire::ipvs::Timeouts| {
        format!(
            "Timeout (tcp tcpfin udp): {} {} {}",
            t.tcp, t.tcp_fin, t.udp
        )
    };
    let before = ipvs.timeouts().expect("timeouts");
    assert_eq!(shown(before), ipvsadm(&["-L", "--timeout"]).trim());
    ipvs.set_timeouts(1000, 130, 310).expect("set timeouts");
    let after = ipvs.timeouts().expect("timeouts");
    assert_eq!((after.tcp, after.tcp_fin, after.udp), (1000, 130, 310));
    assert_eq!(shown(after), ipvsadm(&["-L", "--timeout"]).trim());
    // Zero leaves a timeout as it is.
    ipvs.set_timeouts(0, 0, 77).expect("set udp timeout");
    let partial = ipvs.timeouts().expect("timeouts");
    assert_eq!((partial.tcp, partial.tcp_fin, partial.udp), (1000, 130, 77));
    ipvs.set_timeouts(before.tcp, before.tcp_fin, before.udp)
        .expect("restore timeouts");
    println!("ok: info {info} (size={}), timeouts", info.conn_table_size);
}

fn scenario_schedulers(ipvs: &mut Ipvs, model: &mut Model) {
    for (i, scheduler) in SCHEDULERS.iter().enumerate() {
        let key = addr_key(IPPROTO_TCP, "10.1.0.1", 8000 + i as u16);
        model.add_service(ipvs, service(key, scheduler));
    }
    model.check(ipvs, "every scheduler");
    // Not in Debian's 6.1: a clear error naming the module.
    let twos = service(addr_key(IPPROTO_TCP, "10.1.0.2", 80), "twos");
    let error = ipvs.add_service(&twos).expect_err("twos exists?");
    assert_eq!(
        error.to_string(),
        "add service TCP 10.1.0.2:80 (twos): No such file or directory (ENOENT): scheduler \
         module ip_vs_twos not found?"
    );
    println!("ok: {error}");
    model.flush(ipvs);
    model.check(ipvs, "flush");
}

fn scenario_services(ipvs: &mut Ipvs, model: &mut Model) {
    let keys = [
        addr_key(IPPROTO_TCP, "10.2.0.1", 80),
        addr_key(IPPROTO_UDP, "2001:db8::1", 53),
        addr_key(IPPROTO_SCTP, "10.2.0.1", 9),
        addr_key(IPPROTO_SCTP, "2001:db8::1", 9),
        addr_key(IPPROTO_UDP, "10.2.0.1", 65535),
        ServiceKey::Fwmark {
            mark: 1,
            ipv6: false,
        },
        ServiceKey::Fwmark {
            mark: 0xffff_fffe,
            ipv6: true,
        },
    ];
    for key in keys {
        model.add_service(ipvs, service(key, "wlc"));
    }
    model.check(ipvs, "TCP/UDP/SCTP, IPv4/IPv6, fwmark");

    // Persistence, with netmasks in both families' conventions, and a persistence engine.
    model.add_service(
        ipvs,
        Service {
            flags: IP_VS_SVC_F_PERSISTENT,
            timeout: 300,
            netmask: 0xffff_ff00,
            ..service(addr_key(IPPROTO_TCP, "10.2.1.1", 443), "wlc")
        },
    );
    model.add_service(
        ipvs,
        Service {
            flags: IP_VS_SVC_F_PERSISTENT,
            timeout: 60,
            netmask: 64,
            ..service(addr_key(IPPROTO_TCP, "2001:db8::2", 443), "rr")
        },
    );
    model.add_service(
        ipvs,
        Service {
            flags: IP_VS_SVC_F_PERSISTENT,
            timeout: 360,
            ..service(
                ServiceKey::Fwmark {
                    mark: 3,
                    ipv6: false,
                },
                "lc",
            )
        },
    );
    model.add_service(
        ipvs,
        Service {
            flags: IP_VS_SVC_F_PERSISTENT,
            timeout: 60,
            pe_name: Some("sip".into()),
            ..service(addr_key(IPPROTO_UDP, "10.2.1.2", 5060), "rr")
        },
    );
    model.check(ipvs, "persistence, netmasks, pe sip");

    // One-packet scheduling and the sh/mh scheduler flags.
    let flagged = [
        (
            addr_key(IPPROTO_UDP, "10.2.2.1", 53),
            "rr",
            IP_VS_SVC_F_ONEPACKET,
        ),
        (
            addr_key(IPPROTO_TCP, "10.2.2.2", 80),
            "sh",
            IP_VS_SVC_F_SCHED_SH_PORT | IP_VS_SVC_F_SCHED_SH_FALLBACK,
        ),
        (
            addr_key(IPPROTO_UDP, "10.2.2.3", 80),
            "sh",
            IP_VS_SVC_F_SCHED_SH_PORT | IP_VS_SVC_F_ONEPACKET,
        ),
        (
            addr_key(IPPROTO_TCP, "10.2.2.4", 80),
            "mh",
            IP_VS_SVC_F_SCHED_MH_PORT,
        ),
        (
            ServiceKey::Fwmark {
                mark: 4,
                ipv6: true,
            },
            "mh",
            IP_VS_SVC_F_SCHED_MH_FALLBACK | IP_VS_SVC_F_SCHED_MH_PORT,
        ),
        (
            addr_key(IPPROTO_TCP, "10.2.2.5", 80),
            "rr",
            IP_VS_SVC_F_SCHED3,
        ),
    ];
    for (key, scheduler, flags) in flagged {
        model.add_service(
            ipvs,
            Service {
                flags,
                ..service(key, scheduler)
            },
        );
    }
    model.check(ipvs, "ops and scheduler flags");

    // Edits: scheduler, persistence on and off, flags.
    let web = addr_key(IPPROTO_TCP, "10.2.0.1", 80);
    model.edit_service(
        ipvs,
        Service {
            flags: IP_VS_SVC_F_PERSISTENT,
            timeout: 120,
            netmask: 0xffff_0000,
            ..service(web, "sh")
        },
    );
    model.check(ipvs, "edit: scheduler and persistence");
    model.edit_service(
        ipvs,
        Service {
            flags: IP_VS_SVC_F_SCHED_SH_PORT,
            ..service(web, "sh")
        },
    );
    let sip = addr_key(IPPROTO_UDP, "10.2.1.2", 5060);
    model.edit_service(ipvs, service(sip, "wrr"));
    model.check(ipvs, "edit: flags, persistence and pe off");

    model.del_service(ipvs, &addr_key(IPPROTO_SCTP, "2001:db8::1", 9));
    model.del_service(
        ipvs,
        &ServiceKey::Fwmark {
            mark: 3,
            ipv6: false,
        },
    );
    model.check(ipvs, "delete services");
    model.flush(ipvs);
    model.check(ipvs, "flush");
}

fn scenario_destinations(ipvs: &mut Ipvs, model: &mut Model) {
    let web = addr_key(IPPROTO_TCP, "10.0.0.1", 80);
    let dns6 = addr_key(IPPROTO_UDP, "2001:db8::1", 53);
    let mark4 = ServiceKey::Fwmark {
        mark: 10,
        ipv6: false,
    };
    let mark6 = ServiceKey::Fwmark {
        mark: 11,
        ipv6: true,
    };
    for (key, scheduler) in [(web, "wlc"), (dns6, "rr"), (mark4, "wrr"), (mark6, "lc")] {
        model.add_service(ipvs, service(key, scheduler));
    }
    let web_dests = [
        Destination {
            upper_threshold: 100,
            lower_threshold: 10,
            ..dest("192.168.1.2", 8080, ForwardMethod::Masq, 3)
        },
        dest("192.168.1.3", 80, ForwardMethod::DirectRoute, 1),
        dest("192.168.1.4", 80, ForwardMethod::Tunnel, 2),
        Destination {
            port: 80,
            ..tunnel(
                "192.168.1.5",
                TunnelType::Gue,
                6080,
                IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
            )
        },
        Destination {
            port: 80,
            ..tunnel(
                "192.168.1.6",
                TunnelType::Gue,
                6081,
                IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
            )
        },
        Destination {
            port: 80,
            ..tunnel(
                "192.168.1.7",
                TunnelType::Gre,
                0,
                IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
            )
        },
        Destination {
            port: 80,
            ..tunnel(
                "192.168.1.8",
                TunnelType::Gre,
                0,
                IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM,
            )
        },
        dest("192.168.1.9", 80, ForwardMethod::Masq, 0),
    ];
    for d in web_dests {
        model.add_dest(ipvs, &web, d);
    }
    model.add_dest(ipvs, &dns6, dest("2001:db8::2", 53, ForwardMethod::Masq, 5));
    model.add_dest(
        ipvs,
        &dns6,
        Destination {
            upper_threshold: 7,
            ..dest("2001:db8::3", 5353, ForwardMethod::DirectRoute, 1)
        },
    );
    model.add_dest(
        ipvs,
        &mark4,
        dest("192.168.2.1", 0, ForwardMethod::DirectRoute, 1),
    );
    model.add_dest(
        ipvs,
        &mark4,
        dest("192.168.2.2", 0, ForwardMethod::DirectRoute, 2),
    );
    // A tunnel may cross families (3.18+): an IPv4 real server behind an IPv6 service.
    model.add_dest(ipvs, &mark6, tunnel("192.168.3.1", TunnelType::Ipip, 0, 0));
    model.add_dest(
        ipvs,
        &mark6,
        tunnel(
            "2001:db8::4",
            TunnelType::Gue,
            5555,
            IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM,
        ),
    );
    model.check(
        ipvs,
        "destinations: NAT, DR, TUN ipip/gue/gre, mixed family",
    );

    // Edits: weight and thresholds, forwarding method, tunnel type.
    model.edit_dest(
        ipvs,
        &web,
        dest("192.168.1.2", 8080, ForwardMethod::Masq, 5),
    );
    model.edit_dest(
        ipvs,
        &web,
        Destination {
            upper_threshold: 1000,
            lower_threshold: 900,
            ..dest("192.168.1.3", 80, ForwardMethod::Masq, 9)
        },
    );
    model.edit_dest(
        ipvs,
        &web,
        Destination {
            port: 80,
            ..tunnel(
                "192.168.1.4",
                TunnelType::Gre,
                0,
                IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
            )
        },
    );
    model.check(ipvs, "edit destinations");

    model.del_dest(ipvs, &web, ip("192.168.1.9"), 80);
    model.del_dest(ipvs, &dns6, ip("2001:db8::3"), 5353);
    model.del_dest(ipvs, &mark6, ip("192.168.3.1"), 0);
    model.check(ipvs, "delete destinations");
    model.del_service(ipvs, &web);
    model.check(ipvs, "delete a service with destinations");
}

/// The kernel's refusals, each with the request and a hint.
fn scenario_errors(ipvs: &mut Ipvs, model: &mut Model) {
    let key = addr_key(IPPROTO_TCP, "10.5.0.1", 80);
    model.add_service(ipvs, service(key, "rr"));
    let real = dest("192.168.5.1", 80, ForwardMethod::Masq, 1);
    model.add_dest(ipvs, &key, real.clone());
    let missing = addr_key(IPPROTO_TCP, "10.5.0.2", 80);

    let e = ipvs.add_service(&service(key, "rr")).expect_err("EEXIST");
    assert!(e.is_exists(), "{e}");
    assert_eq!(
        e.to_string(),
        "add service TCP 10.5.0.1:80 (rr): File exists (EEXIST): the service already exists"
    );
    println!("ok: {e}");
    let e = ipvs.add_dest(&key, &real).expect_err("EEXIST");
    assert!(e.is_exists(), "{e}");
    println!("ok: {e}");
    let e = ipvs.del_service(&missing).expect_err("ESRCH");
    assert!(e.is_no_service(), "{e}");
    assert_eq!(
        e.to_string(),
        "delete service TCP 10.5.0.2:80: No such process (ESRCH): no such service"
    );
    println!("ok: {e}");
    let e = ipvs
        .edit_service(&service(missing, "rr"))
        .expect_err("ESRCH");
    assert!(e.is_no_service(), "{e}");
    let e = ipvs.add_dest(&missing, &real).expect_err("ESRCH");
    assert!(e.is_no_service(), "{e}");
    println!("ok: {e}");
    let e = ipvs
        .del_dest(&key, ip("192.168.5.2"), 80)
        .expect_err("ENOENT");
    assert!(e.is_no_dest(), "{e}");
    assert_eq!(
        e.to_string(),
        "delete destination 192.168.5.2:80 in TCP 10.5.0.1:80: No such file or directory \
         (ENOENT): no such destination in this service"
    );
    println!("ok: {e}");
    let ghost = dest("192.168.5.3", 80, ForwardMethod::Masq, 1);
    let e = ipvs.edit_dest(&key, &ghost).expect_err("ENOENT");
    assert!(e.is_no_dest(), "{e}");
    // Only tunnels may cross families.
    let e = ipvs
        .add_dest(&key, &dest("2001:db8::9", 80, ForwardMethod::Masq, 1))
        .expect_err("EINVAL");
    assert_eq!(e.errno(), Some(rustix::io::Errno::INVAL), "{e}");
    println!("ok: {e}");
    // A lower threshold above the upper one.
    let e = ipvs
        .add_dest(
            &key,
            &Destination {
                upper_threshold: 5,
                lower_threshold: 10,
                ..dest("192.168.5.4", 80, ForwardMethod::Masq, 1)
            },
        )
        .expect_err("thresholds");
    assert_eq!(e.errno(), Some(rustix::io::Errno::RANGE), "{e}");
    assert!(
        e.to_string().ends_with("lower threshold above the upper?"),
        "{e}"
    );
    println!("ok: {e}");
    let e = ipvs
        .add_service(&Service {
            pe_name: Some("nope".into()),
            ..service(addr_key(IPPROTO_UDP, "10.5.0.3", 5060), "rr")
        })
        .expect_err("pe");
    assert!(e.to_string().contains("ip_vs_pe_nope"), "{e}");
    println!("ok: {e}");
    model.check(ipvs, "errors leave the table alone");
    model.flush(ipvs);
}

/// What ipvsadm adds, our dump reads back as the same services.
fn scenario_read_ipvsadm(ipvs: &mut Ipvs, model: &mut Model) {
    ipvsadm(&[
        "-A",
        "-t",
        "10.6.0.1:443",
        "-s",
        "wlc",
        "-p",
        "600",
        "-M",
        "255.255.255.0",
    ]);
    ipvsadm(&[
        "-a",
        "-t",
        "10.6.0.1:443",
        "-r",
        "192.168.6.1:8443",
        "-m",
        "-w",
        "4",
    ]);
    ipvsadm(&[
        "-a",
        "-t",
        "10.6.0.1:443",
        "-r",
        "192.168.6.2",
        "-g",
        "-x",
        "50",
        "-y",
        "20",
    ]);
    ipvsadm(&[
        "-A",
        "-u",
        "[2001:db8::6]:53",
        "-s",
        "sh",
        "-b",
        "sh-port",
        "-o",
    ]);
    ipvsadm(&[
        "-a",
        "-u",
        "[2001:db8::6]:53",
        "-r",
        "[2001:db8::7]:53",
        "-i",
        "--tun-type",
        "gue",
        "--tun-port",
        "6080",
        "--tun-remcsum",
    ]);
    let https = addr_key(IPPROTO_TCP, "10.6.0.1", 443);
    let dns = addr_key(IPPROTO_UDP, "2001:db8::6", 53);
    model.services.push((
        Service {
            flags: IP_VS_SVC_F_PERSISTENT,
            timeout: 600,
            netmask: 0xffff_ff00,
            ..service(https, "wlc")
        },
        vec![
            dest("192.168.6.1", 8443, ForwardMethod::Masq, 4),
            Destination {
                upper_threshold: 50,
                lower_threshold: 20,
                ..dest("192.168.6.2", 443, ForwardMethod::DirectRoute, 1)
            },
        ],
    ));
    model.services.push((
        Service {
            flags: IP_VS_SVC_F_SCHED_SH_PORT | IP_VS_SVC_F_ONEPACKET,
            ..service(dns, "sh")
        },
        vec![Destination {
            port: 53,
            ..tunnel(
                "2001:db8::7",
                TunnelType::Gue,
                6080,
                IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
            )
        }],
    ));
    model.check(ipvs, "read what ipvsadm added");
    model.flush(ipvs);
    model.check(ipvs, "flush");
}

/// Traffic through a NAT service our client made: guest.sh put busybox httpd behind a veth in
/// another namespace at 192.168.100.2 and routed 10.0.0.100 there.
fn scenario_datapath(ipvs: &mut Ipvs, model: &mut Model) {
    if !Path::new("/tmp/realserver-ready").exists() {
        println!("no real server set up: data path not checked");
        return;
    }
    let vip = addr_key(IPPROTO_TCP, "10.0.0.100", 80);
    model.add_service(ipvs, service(vip, "rr"));
    model.add_dest(
        ipvs,
        &vip,
        dest("192.168.100.2", 80, ForwardMethod::Masq, 1),
    );
    let out = Command::new("sh")
        .args([
            "-c",
            "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc 10.0.0.100 80",
        ])
        .output()
        .expect("nc");
    let reply = String::from_utf8_lossy(&out.stdout);
    assert!(
        reply.contains("hello-from-realserver"),
        "no answer through the virtual service: {reply:?}"
    );
    let counted = ipvs.destinations_with_stats(&vip).expect("stats");
    let (_, stats) = counted.first().expect("the destination");
    assert_eq!(stats.active_conns + stats.inactive_conns, 1, "{stats:?}");
    println!("ok: data path through NAT service {vip} ({stats:?})");
    model.flush(ipvs);
}

#[test]
fn guest_scenarios() {
    if !in_guest() {
        return;
    }
    let started = Instant::now();
    scenario_unavailable();
    let mut ipvs = Ipvs::open().unwrap_or_else(|e| panic!("{e}"));
    let mut model = Model::default();
    model.flush(&mut ipvs);
    model.check(&mut ipvs, "empty table");
    scenario_info_and_timeouts(&mut ipvs);
    scenario_schedulers(&mut ipvs, &mut model);
    scenario_services(&mut ipvs, &mut model);
    scenario_destinations(&mut ipvs, &mut model);
    model.flush(&mut ipvs);
    scenario_errors(&mut ipvs, &mut model);
    scenario_read_ipvsadm(&mut ipvs, &mut model);
    scenario_datapath(&mut ipvs, &mut model);
    model.check(&mut ipvs, "empty at the end");
    println!(
        "GUEST SCENARIOS PASSED in {:.2} s",
        started.elapsed().as_secs_f64()
    );
}
