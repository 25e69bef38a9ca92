//! Test harness for everything that crosses a network: a LAN of network namespaces joined by a
//! bridge, daemons started inside them (keeplite or Debian's keepalived), and polling helpers.
//! Needs root and `ip`; `Lan::new` returns `None` (after a loud message) where the machine lacks them.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub fn is_root() -> bool {
    // The effective uid is the second number on the `Uid:` line.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Runs a command, panicking with its output when it fails (test set-up must not half-work).
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn sh_ok(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Writes to the real stderr: libtest captures `eprintln!` of passing tests, and a skip or a
/// timing must show in CI logs.
pub fn loud(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Prints why a test is skipped, where CI logs show it.
pub fn skip(test: &str, why: &str) {
    loud(&format!("\n!!!! SKIPPED {test}: {why} !!!!\n"));
}

pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// The cargo target directory this test binary was built in (it holds CACHEDIR.TAG).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Whether rustup installed the standard library for `target`.
pub fn rust_target_installed(target: &str) -> bool {
    let Ok(out) = Command::new("rustc").args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .is_dir()
}

pub struct Host {
    pub ns: String,
    pub ifname: String,
    pub v4: Ipv4Addr,
    pub v6: Ipv6Addr,
}

/// `n` hosts on one Ethernet segment: each in its own namespace with `eth0`, all plugged into a
/// bridge that lives in a switch namespace. Removed on drop.
pub struct Lan {
    pub prefix: String,
    pub switch: String,
    pub hosts: Vec<Host>,
    pub dir: PathBuf,
}

impl Lan {
    pub fn new(test: &str, n: usize) -> Option<Lan> {
        if !is_root() {
            skip(test, "needs root for network namespaces");
            return None;
        }
        if !sh_ok(&["ip", "netns", "list"]) {
            skip(test, "`ip netns` does not work here");
            return None;
        }
        let id = NEXT.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("kl{}x{}", std::process::id() % 100_000, id);
        let dir = std::env::temp_dir().join(format!("keeplite-{prefix}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let switch = format!("{prefix}sw");
        sh(&["ip", "netns", "add", &switch]);
        let mut lan = Lan {
            prefix: prefix.clone(),
            switch: switch.clone(),
            hosts: Vec::new(),
            dir,
        };
        sh(&[
            "ip",
            "-n",
            &switch,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        sh(&["ip", "-n", &switch, "link", "set", "br0", "up"]);
        for i in 0..n {
            let ns = format!("{prefix}h{i}");
            sh(&["ip", "netns", "add", &ns]);
            let port = format!("p{i}");
            sh(&[
                "ip", "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port,
                "netns", &switch,
            ]);
            sh(&[
                "ip", "-n", &switch, "link", "set", &port, "master", "br0", "up",
            ]);
            sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            let v4 = Ipv4Addr::new(10, 77, 0, 1 + i as u8);
            let v6: Ipv6Addr = format!("fd77::{}", 1 + i).parse().expect("literal");
            sh(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{v4}/24"),
                "dev",
                "eth0",
            ]);
            sh(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
            sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
            lan.hosts.push(Host {
                ns,
                ifname: "eth0".into(),
                v4,
                v6,
            });
        }
        // IPv6 link-local addresses need DAD to finish before they can source adverts.
        for h in &lan.hosts {
            wait_until(Duration::from_secs(5), || {
                !sh(&["ip", "-n", &h.ns, "-6", "addr", "show", "dev", "eth0"]).contains("tentative")
            });
        }
        Some(lan)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write test file");
        path
    }

    /// Sets a host's LAN link down or up (the cable, from the host's side).
    pub fn link(&self, host: usize, up: bool) {
        let h = &self.hosts[host];
        sh(&[
            "ip",
            "-n",
            &h.ns,
            "link",
            "set",
            "eth0",
            if up { "up" } else { "down" },
        ]);
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for h in &self.hosts {
            let _ = sh_ok(&["ip", "netns", "del", &h.ns]);
        }
        let _ = sh_ok(&["ip", "netns", "del", &self.switch]);
        if std::env::var_os("KEEPLITE_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Whether `addr` is configured on the host's eth0.
pub fn has_address(host: &Host, addr: IpAddr) -> bool {
    let out = sh(&[
        "ip",
        "-n",
        &host.ns,
        "-o",
        "addr",
        "show",
        "dev",
        &host.ifname,
    ]);
    let needle = format!(" {addr}/");
    out.contains(&needle)
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

/// A daemon running in a namespace; killed (SIGKILL) on drop if still running.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
    pub what: String,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let _ = sh_ok(&["kill", &format!("-{sig}"), &self.pid().to_string()]);
    }

    /// Waits for the process to exit; its exit status code, or `None` on a timeout or a signal.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// A router crash: the watchdog is stopped (so it cannot restart anything), its children
    /// and then itself are SIGKILLed; VIPs stay behind as after a power loss.
    pub fn crash(&mut self) {
        let pid = self.pid().to_string();
        let _ = sh_ok(&["kill", "-STOP", &pid]);
        let _ = sh_ok(&["pkill", "-KILL", "-P", &pid]);
        let _ = sh_ok(&["kill", "-KILL", &pid]);
        self.wait_exit(Duration::from_secs(3));
    }

    /// The pid of the daemon's (first) child, if running: keeplite's VRRP child when the
    /// config has only instances.
    pub fn child_pid(&self) -> Option<u32> {
        let out = Command::new("pgrep")
            .args(["-P", &self.pid().to_string()])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn spawn_in(ns: &str, program: &str, args: &[&str], log: &Path, what: &str) -> Daemon {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, program]).args(args);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    Daemon {
        child,
        log: log.to_path_buf(),
        what: what.to_string(),
    }
}

pub fn keeplite_bin() -> &'static str {
    env!("CARGO_BIN_EXE_keeplite")
}

/// keeplite in the foreground with logs on stderr (`-n -l -D`), like keepalived.
pub fn start_keeplite(lan: &Lan, host: usize, config: &Path) -> Daemon {
    let h = &lan.hosts[host];
    let log = lan.dir.join(format!("keeplite-{host}.log"));
    let pid = lan.dir.join(format!("keeplite-{host}.pid"));
    let config = config.to_string_lossy().into_owned();
    let pid = pid.to_string_lossy().into_owned();
    let control = control_socket(lan, host).to_string_lossy().into_owned();
    spawn_in(
        &h.ns,
        keeplite_bin(),
        &[
            "-f",
            &config,
            "-n",
            "-l",
            "-G",
            "-D",
            "-p",
            &pid,
            "--control",
            &control,
        ],
        &log,
        "keeplite",
    )
}

/// Where `start_keeplite`'s daemon on `host` listens for `keeplite status`.
pub fn control_socket(lan: &Lan, host: usize) -> PathBuf {
    lan.dir.join(format!("keeplite-{host}.sock"))
}

pub fn keepalived_available() -> bool {
    Path::new("/usr/sbin/keepalived").exists()
}

/// Debian's keepalived, VRRP only, foreground, its own pid files.
pub fn start_keepalived(lan: &Lan, host: usize, config: &Path) -> Daemon {
    let h = &lan.hosts[host];
    let log = lan.dir.join(format!("keepalived-{host}.log"));
    let p = |n: &str| {
        lan.dir
            .join(format!("keepalived-{host}.{n}"))
            .to_string_lossy()
            .into_owned()
    };
    let (main, vrrp, check) = (p("pid"), p("vrrp.pid"), p("check.pid"));
    let config = config.to_string_lossy().into_owned();
    spawn_in(
        &h.ns,
        "/usr/sbin/keepalived",
        &[
            "-n", "-l", "-D", "-P", "-f", &config, "-p", &main, "-r", &vrrp, "-c", &check,
        ],
        &log,
        "keepalived",
    )
}
