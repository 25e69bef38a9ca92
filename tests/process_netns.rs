//! The watchdog process model in network namespaces, against a keeplite (and, where installed,
//! a keepalived) peer: a SIGKILLed VRRP child is restarted and resumes as master without the
//! peer ever taking the VIP (with `auth_type AH` too: its sequence numbers go on above the dead
//! child's); a hung child is killed and restarted; SIGHUP and `keeplite reload`
//! reload without flapping, keep the VIPs that stay and refuse a broken config; `keeplite
//! status`; `-R`; a child that cannot start stops the daemon; daemonizing without `-n`.
//! Needs root; skips loudly without it.

mod common;

use common::*;
use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const VIP: &str = "10.77.0.100";
const VIP2: &str = "10.77.0.101";
const VIP3: &str = "10.77.0.102";

fn ip(a: &str) -> IpAddr {
    a.parse().expect("literal")
}

/// VRRPv2 at 1 s adverts (Master_Down 3 s + skew): the restarted child must be advertising
/// again well inside it (the first quick death is restarted at once, like keepalived).
fn instance(priority: u8, vips: &[&str]) -> String {
    let vips: String = vips.iter().map(|v| format!("        {v}/24\n")).collect();
    format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 61\n    priority {priority}\n    advert_int 1\n    virtual_ipaddress {{\n{vips}    }}\n}}\n"
    )
}

/// The same with `virtual_ipaddress_excluded` (not in adverts, so one side can change them
/// without the peer seeing a different address list).
fn instance_excluded(priority: u8, excluded: &[&str]) -> String {
    let ex: String = excluded
        .iter()
        .map(|v| format!("        {v}/24\n"))
        .collect();
    instance(priority, &[VIP]).replacen(
        "}\n}\n",
        &format!("}}\n    virtual_ipaddress_excluded {{\n{ex}    }}\n}}\n"),
        1,
    )
}

/// `instance` with `auth_type AH`: keepalived's sequence numbers, which a receiver accepts only
/// above the last one it saw.
fn instance_ah(priority: u8) -> String {
    instance(priority, &[VIP]).replacen(
        "    advert_int 1\n",
        "    advert_int 1\n    authentication {\n        auth_type AH\n        auth_pass s3cret\n    }\n",
        1,
    )
}

/// The `ah_sequence` drops `keeplite status` shows for the instance on `host`.
fn ah_sequence_drops(lan: &Lan, host: usize) -> u64 {
    let text = status(lan, host, false);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("dropped "))
        .filter_map(|l| l.strip_suffix(": ah_sequence"))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

fn status(lan: &Lan, host: usize, json: bool) -> String {
    let sock = control_socket(lan, host);
    let mut cmd = Command::new(keeplite_bin());
    cmd.arg("status").arg("--control").arg(&sock);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("keeplite status");
    assert!(
        out.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Watches `host` in the background: records whether it ever held `addr` (`held`), or ever
/// lost it (`lost`) while `watching` is set.
struct Watch {
    stop: Arc<AtomicBool>,
    seen: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    /// `want_present`: records a sample where the address's presence differs from this.
    fn start(ns: &str, addr: IpAddr, want_present: bool) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicBool::new(false));
        let (s, f) = (stop.clone(), seen.clone());
        let ns = ns.to_string();
        let thread = std::thread::spawn(move || {
            let host = Host {
                ns,
                ifname: "eth0".into(),
                v4: "0.0.0.0".parse().expect("literal"),
                v6: "::".parse().expect("literal"),
            };
            while !s.load(Ordering::SeqCst) {
                if has_address(&host, addr) != want_present {
                    f.store(true, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Watch {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Whether a differing sample was seen.
    fn finish(mut self) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.seen.load(Ordering::SeqCst)
    }
}

fn became_master_lines(d: &Daemon) -> usize {
    d.log_text().matches("Entering MASTER STATE").count()
}

/// SIGKILLs the VRRP child of host 0 (the master), waits for its successor's `resumed` log line
/// and watches `watch` longer: the peer (host 1) never holds the VIP nor logs MASTER, and the
/// VIP never leaves host 0. The killed child's pid and the time from the kill to `resumed`.
fn kill_masters_child_without_a_flap(
    lan: &Lan,
    d0: &Daemon,
    d1: &Daemon,
    resumed: &str,
    watch: Duration,
) -> (u32, Duration) {
    let backup_masters = became_master_lines(d1);
    let first = d0.child_pid().expect("a VRRP child");
    let peer_took = Watch::start(&lan.hosts[1].ns, ip(VIP), false);
    let vip_gone = Watch::start(&lan.hosts[0].ns, ip(VIP), true);
    let killed = Instant::now();
    sh(&["kill", "-KILL", &first.to_string()]);
    let resumed = wait_until(Duration::from_secs(5), || d0.log_text().contains(resumed));
    let restart = killed.elapsed();
    assert!(resumed, "no resume: {}", d0.log_text());
    std::thread::sleep(watch);
    assert!(
        !peer_took.finish(),
        "the peer took the VIP: {}",
        d1.log_text()
    );
    assert!(
        !vip_gone.finish(),
        "the VIP left the master: {}",
        d0.log_text()
    );
    assert_eq!(
        became_master_lines(d1),
        backup_masters,
        "the peer became master: {}",
        d1.log_text()
    );
    (first, restart)
}

#[test]
fn vrrp_child_killed_on_the_master_resumes_without_a_flap() {
    let Some(lan) = Lan::new("vrrp_child_killed_on_the_master_resumes_without_a_flap", 2) else {
        return;
    };
    let c0 = lan.write("keeplite-0.conf", &instance(150, &[VIP]));
    let c1 = lan.write("keeplite-1.conf", &instance(100, &[VIP]));
    let d0 = start_keeplite(&lan, 0, &c0);
    let d1 = start_keeplite(&lan, 1, &c1);
    assert!(
        wait_until(Duration::from_secs(8), || has_address(
            &lan.hosts[0],
            ip(VIP)
        )),
        "no master: {}",
        d0.log_text()
    );
    std::thread::sleep(Duration::from_secs(1));
    // The new child resumes as master within the 1 s backoff plus start-up; the watch lasts
    // longer than the peer's Master_Down_Interval.
    let (first, restart) = kill_masters_child_without_a_flap(
        &lan,
        &d0,
        &d1,
        "resuming as master",
        Duration::from_secs(5),
    );
    let second = d0.child_pid().expect("a new VRRP child");
    assert_ne!(first, second);
    let text = status(&lan, 0, false);
    assert!(text.contains("1 restart(s)"), "{text}");
    assert!(text.contains("MASTER"), "{text}");
    loud(&format!(
        "process_netns: VRRP child SIGKILL -> resumed as master in {} ms",
        restart.as_millis()
    ));
}

/// The same with `auth_type AH`: the new child must not send sequence numbers the peer saw
/// from the dead one (the peer would drop them as replays and take over after its
/// Master_Down_Interval). The watchdog keeps the counter the child reports with its heartbeat,
/// and the resumed master skips the numbers the dead child may have sent since.
#[test]
fn vrrp_child_killed_on_an_ah_master_resumes_above_its_sequence_numbers() {
    let Some(lan) = Lan::new(
        "vrrp_child_killed_on_an_ah_master_resumes_above_its_sequence_numbers",
        2,
    ) else {
        return;
    };
    let c0 = lan.write("keeplite-0.conf", &instance_ah(150));
    let c1 = lan.write("keeplite-1.conf", &instance_ah(100));
    let d0 = start_keeplite(&lan, 0, &c0);
    let d1 = start_keeplite(&lan, 1, &c1);
    // With AH both start as backup (keepalived's rule): the higher priority takes over first.
    assert!(
        wait_until(Duration::from_secs(10), || has_address(
            &lan.hosts[0],
            ip(VIP)
        )),
        "no master: {}",
        d0.log_text()
    );
    // Let the master's numbers run past what a child starting from 1 would reach within the
    // peer's Master_Down_Interval (3.6 s): without the counter the peer would take over.
    std::thread::sleep(Duration::from_secs(8));
    let drops_before = ah_sequence_drops(&lan, 1);
    let (first, restart) = kill_masters_child_without_a_flap(
        &lan,
        &d0,
        &d1,
        "AH sequence numbers go on from",
        Duration::from_secs(6),
    );
    // The resumed master's first number is above any the dead child sent: not one replay.
    let drops_after = ah_sequence_drops(&lan, 1);
    assert_eq!(
        drops_after,
        drops_before,
        "the peer dropped adverts as replays: {}",
        status(&lan, 1, false)
    );
    let text = status(&lan, 1, false);
    assert!(text.contains("BACKUP"), "{text}");
    let from: u32 = d0
        .log_text()
        .lines()
        .find_map(|l| l.split("AH sequence numbers go on from ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .expect("the resumed number");
    assert_ne!(first, d0.child_pid().expect("a new VRRP child"));
    loud(&format!(
        "process_netns: AH VRRP child SIGKILL -> resumed as master in {} ms, sequence numbers \
         from {from} (slack 64), peer drops {drops_before} -> {drops_after}",
        restart.as_millis()
    ));
}

#[test]
fn hung_vrrp_child_is_killed_and_replaced() {
    let Some(lan) = Lan::new("hung_vrrp_child_is_killed_and_replaced", 1) else {
        return;
    };
    let c0 = lan.write("keeplite-0.conf", &instance(150, &[VIP]));
    let d0 = start_keeplite(&lan, 0, &c0);
    assert!(wait_until(Duration::from_secs(8), || has_address(
        &lan.hosts[0],
        ip(VIP)
    )));
    let first = d0.child_pid().expect("a VRRP child");
    sh(&["kill", "-STOP", &first.to_string()]);
    let replaced = wait_until(Duration::from_secs(20), || {
        d0.child_pid().is_some_and(|p| p != first)
    });
    assert!(replaced, "hung child not replaced: {}", d0.log_text());
    assert!(
        d0.log_text().contains("hung, killing it"),
        "{}",
        d0.log_text()
    );
    assert!(wait_until(Duration::from_secs(5), || has_address(
        &lan.hosts[0],
        ip(VIP)
    )));
}

#[test]
fn reload_keeps_the_master_and_its_remaining_vips() {
    let Some(lan) = Lan::new("reload_keeps_the_master_and_its_remaining_vips", 2) else {
        return;
    };
    let c0 = lan.write("keeplite-0.conf", &instance_excluded(150, &[VIP2]));
    let c1 = lan.write("keeplite-1.conf", &instance_excluded(100, &[VIP2]));
    let mut d0 = start_keeplite(&lan, 0, &c0);
    let d1 = start_keeplite(&lan, 1, &c1);
    assert!(wait_until(Duration::from_secs(8), || has_address(
        &lan.hosts[0],
        ip(VIP2)
    )));
    std::thread::sleep(Duration::from_secs(1));
    let peer_took = Watch::start(&lan.hosts[1].ns, ip(VIP), false);
    let vip_gone = Watch::start(&lan.hosts[0].ns, ip(VIP), true);

    // 1. SIGHUP with the excluded VIP2 dropped and VIP3 added.
    lan.write("keeplite-0.conf", &instance_excluded(150, &[VIP3]));
    d0.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(5), || has_address(
            &lan.hosts[0],
            ip(VIP3)
        ) && !has_address(
            &lan.hosts[0],
            ip(VIP2)
        )),
        "{}",
        d0.log_text()
    );

    // 2. A broken config: refused, the running one stays.
    lan.write(
        "keeplite-0.conf",
        "vrrp_instance VI_1 {\n    priority 999\n}\n",
    );
    let reply = Command::new(keeplite_bin())
        .args(["reload", "--control"])
        .arg(control_socket(&lan, 0))
        .output()
        .expect("keeplite reload");
    assert!(!reply.status.success(), "a broken config was accepted");
    assert!(
        String::from_utf8_lossy(&reply.stderr).contains("keeping the running one"),
        "{}",
        String::from_utf8_lossy(&reply.stderr)
    );
    assert!(d0.log_text().contains("keeping the running one"));

    // 3. `keeplite reload` with a good config again (priority changed).
    lan.write("keeplite-0.conf", &instance_excluded(140, &[VIP3]));
    let reply = Command::new(keeplite_bin())
        .args(["reload", "--control"])
        .arg(control_socket(&lan, 0))
        .output()
        .expect("keeplite reload");
    assert!(reply.status.success(), "{}", d0.log_text());
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !peer_took.finish(),
        "the peer took the VIP: {}",
        d1.log_text()
    );
    assert!(!vip_gone.finish(), "the VIP left the master during reloads");
    let json = status(&lan, 0, true);
    assert!(json.contains("\"state\":\"MASTER\""), "{json}");
    assert!(json.contains("\"priority\":140"), "{json}");
    assert!(has_address(&lan.hosts[0], ip(VIP3)));

    // Graceful stop: VIPs removed, exit 0.
    d0.signal("TERM");
    assert_eq!(
        d0.wait_exit(Duration::from_secs(5)),
        Some(0),
        "{}",
        d0.log_text()
    );
    assert!(!has_address(&lan.hosts[0], ip(VIP)));
    assert!(!has_address(&lan.hosts[0], ip(VIP3)));
}

#[test]
fn status_names_instances_and_children() {
    let Some(lan) = Lan::new("status_names_instances_and_children", 2) else {
        return;
    };
    let c0 = lan.write("keeplite-0.conf", &instance(150, &[VIP]));
    let c1 = lan.write("keeplite-1.conf", &instance(100, &[VIP]));
    let d0 = start_keeplite(&lan, 0, &c0);
    let d1 = start_keeplite(&lan, 1, &c1);
    assert!(wait_until(Duration::from_secs(8), || has_address(
        &lan.hosts[0],
        ip(VIP)
    )));
    std::thread::sleep(Duration::from_millis(1500));
    let text = status(&lan, 1, false);
    assert!(
        text.contains("BACKUP") && text.contains("master 10.77.0.1"),
        "{text}"
    );
    let json = status(&lan, 1, true);
    let child = d1.child_pid().expect("child");
    assert!(
        json.contains(&format!("\"role\":\"vrrp\",\"pid\":{child}")),
        "{json}"
    );
    assert!(json.contains("\"state\":\"BACKUP\""), "{json}");
    assert!(json.contains("\"master\":\"10.77.0.1\""), "{json}");
    // The control socket is the owner's only.
    let mode = std::fs::metadata(control_socket(&lan, 0))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .expect("socket");
    assert_eq!(mode, 0o600);
    // The process names.
    let comm = std::fs::read_to_string(format!("/proc/{child}/comm")).expect("comm");
    assert_eq!(comm.trim(), "keeplite: vrrp");
    // Start-up's deep frames (config decoding, building the daemon) are let go and the loops
    // run on a few KiB: 84 KiB stayed resident in the VRRP child before (a 32 KiB netlink
    // buffer and a 16 KiB read chunk on the stack). Release builds only: debug frames are
    // several times larger.
    for (who, pid) in [("watchdog", d1.pid()), ("vrrp child", child)] {
        let kib = stack_resident_kib(pid);
        eprintln!("{who}: {kib} KiB of stack resident");
        if !cfg!(debug_assertions) {
            assert!(kib <= 48, "{who}: {kib} KiB of stack resident");
        }
    }
    drop(d0);
}

/// The resident size of a process's main stack (`[stack]` in /proc/PID/smaps), KiB.
fn stack_resident_kib(pid: u32) -> u64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).expect("smaps");
    let mut in_stack = false;
    for line in smaps.lines() {
        if line.contains(" [stack]") {
            in_stack = true;
        } else if in_stack {
            if let Some(rest) = line.strip_prefix("Rss:") {
                return rest
                    .trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse()
                    .expect("Rss");
            }
        }
    }
    panic!("no [stack] in /proc/{pid}/smaps")
}

#[test]
fn no_respawn_stops_the_daemon_and_fatal_child_errors_stop_it_too() {
    let Some(lan) = Lan::new("no_respawn_stops_the_daemon", 1) else {
        return;
    };
    let c0 = lan.write("keeplite-0.conf", &instance(150, &[VIP]));
    let log = lan.dir.join("r.log");
    let out = std::fs::File::create(&log).expect("log");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lan.hosts[0].ns, keeplite_bin()])
        .arg("-f")
        .arg(&c0)
        .args(["-n", "-l", "-G", "-R", "--control"])
        .arg(lan.dir.join("r.sock"))
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let vrrp = wait_until(Duration::from_secs(5), || {
        !sh(&["sh", "-c", &format!("pgrep -P {pid} || true")])
            .trim()
            .is_empty()
    });
    assert!(vrrp);
    std::thread::sleep(Duration::from_millis(500));
    let kid = sh(&["pgrep", "-P", &pid.to_string()]);
    sh(&["kill", "-KILL", kid.trim()]);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("not respawning (-R)"), "{text}");

    // A VRRP child that cannot write its pid file stops the daemon with a clear message.
    let out = Command::new("ip")
        .args(["netns", "exec", &lan.hosts[0].ns, keeplite_bin()])
        .arg("-f")
        .arg(&c0)
        .args([
            "-n",
            "-l",
            "-G",
            "-r",
            "/nonexistent/dir/vrrp.pid",
            "--control",
        ])
        .arg(lan.dir.join("r2.sock"))
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("vrrp child cannot run: pid file"), "{text}");
}

#[test]
fn without_n_it_detaches_and_stops_on_request() {
    let Some(lan) = Lan::new("without_n_it_detaches_and_stops_on_request", 1) else {
        return;
    };
    let c0 = lan.write("keeplite-0.conf", &instance(150, &[VIP]));
    let pid_file = lan.dir.join("d.pid");
    let sock = lan.dir.join("d.sock");
    let started = Instant::now();
    let out = Command::new("ip")
        .args(["netns", "exec", &lan.hosts[0].ns, keeplite_bin()])
        .arg("-f")
        .arg(&c0)
        .args(["-G", "-p"])
        .arg(&pid_file)
        .arg("--control")
        .arg(&sock)
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(started.elapsed() < Duration::from_secs(2), "did not detach");
    assert!(wait_until(Duration::from_secs(8), || has_address(
        &lan.hosts[0],
        ip(VIP)
    )));
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let sid = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Field 6 of /proc/PID/stat is the session: a daemon leads its own.
    let fields: Vec<&str> = sid
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(fields.get(3), Some(&pid.to_string().as_str()), "{sid}");
    let reply = Command::new(keeplite_bin())
        .args(["stop", "--control"])
        .arg(&sock)
        .output()
        .expect("stop");
    assert!(reply.status.success());
    // Gone, or a zombie waiting for an init that may not reap promptly in a container.
    let gone = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    };
    assert!(wait_until(Duration::from_secs(5), gone));
    assert!(!has_address(&lan.hosts[0], ip(VIP)));
    assert!(!pid_file.exists(), "pid file left behind");
}
