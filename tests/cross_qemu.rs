//! The router binaries (aarch64, armv7 and mipsel musl, built by `cross/build.sh`) run under
//! qemu-user-static: `--version`, `check` of the example config, and a VRRP election against
//! the native keeplite on a LAN of network namespaces. Each target is built once for the whole
//! file (release profile, target dir `TARGET/cross`). Skips loudly only where qemu-user-static,
//! the nightly toolchain with rust-src, or the cross packages are missing.

mod common;

use common::*;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A router target: `cross/build.sh`'s name for it and the qemu-user-static that runs it.
struct Arch {
    name: &'static str,
    qemu: &'static str,
    /// Why the VRRP election cannot run under this qemu, if it cannot.
    no_election: Option<&'static str>,
}

/// qemu-user's guest `struct ip_mreqn` has a `long` interface index, 8 bytes on 64-bit guests
/// where the kernel's is an `int`: the 12-byte IP_ADD_MEMBERSHIP keeplite passes then reaches
/// the kernel with an uninitialised index (ENODEV, or a random interface). 32-bit guests are
/// fine. Seen with Debian 12's qemu 7.2.
const QEMU_MREQN_64: &str = "qemu-user mistranslates the 12-byte ip_mreqn of 64-bit guests \
(its guest struct has a long imr_ifindex), so joining the VRRP group fails under emulation \
only; the election runs on the 32-bit guests (armv7, mipsel)";

const ARCHES: [Arch; 3] = [
    Arch {
        name: "aarch64",
        qemu: "qemu-aarch64-static",
        no_election: Some(QEMU_MREQN_64),
    },
    Arch {
        name: "armv7",
        qemu: "qemu-arm-static",
        no_election: None,
    },
    Arch {
        name: "mipsel",
        qemu: "qemu-mipsel-static",
        no_election: None,
    },
];

/// `cross/build.sh` exits with this when a tool, toolchain or component is missing.
const MISSING_PREREQUISITE: i32 = 3;

/// The stripped binary of a target, or why it cannot be had here (a skip, not a failure).
type Build = Result<PathBuf, String>;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds every target once, the first time any test asks; the other tests wait for it.
fn builds() -> &'static HashMap<&'static str, Build> {
    static BUILDS: OnceLock<HashMap<&'static str, Build>> = OnceLock::new();
    BUILDS.get_or_init(|| ARCHES.iter().map(|a| (a.name, build(a))).collect())
}

fn build(arch: &Arch) -> Build {
    if !on_path(arch.qemu) {
        return Err(format!(
            "{} not found (apt-get install qemu-user-static)",
            arch.qemu
        ));
    }
    // A target dir of its own: the `cargo test` that runs this may still hold its own.
    let target = target_dir().join("cross");
    std::fs::create_dir_all(&target).expect("cross target dir");
    let log = target.join(format!("build-{}.log", arch.name));
    let log_file = std::fs::File::create(&log).expect("build log");
    loud(&format!(
        "cross_qemu: bash cross/build.sh {} (log: {})",
        arch.name,
        log.display()
    ));
    let start = Instant::now();
    let out = Command::new("bash")
        .arg(repo().join("cross/build.sh"))
        .arg(arch.name)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .stderr(log_file)
        .output()
        .expect("run bash cross/build.sh");
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    match out.status.code() {
        Some(0) => {
            let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            loud(&format!(
                "cross_qemu: {} built in {:.0?}: {} ({} bytes)",
                arch.name,
                start.elapsed(),
                bin.display(),
                std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0)
            ));
            Ok(bin)
        }
        Some(MISSING_PREREQUISITE) => Err(log_text
            .lines()
            .filter(|l| l.contains("missing prerequisite"))
            .collect::<Vec<_>>()
            .join("; ")),
        _ => {
            let tail: Vec<&str> = log_text.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "cross/build.sh {} failed ({}):\n{}",
                arch.name,
                out.status,
                tail.join("\n")
            );
        }
    }
}

/// The targets this machine can build and run; a loud skip for each one it cannot.
fn runnable(test: &str) -> Vec<(&'static Arch, &'static Path)> {
    let mut ready = Vec::new();
    for arch in &ARCHES {
        match &builds()[arch.name] {
            Ok(bin) => ready.push((arch, bin.as_path())),
            Err(why) => skip(&format!("{test} [{}]", arch.name), why),
        }
    }
    ready
}

fn run_emulated(arch: &Arch, bin: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(arch.qemu)
        .arg(bin)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", arch.qemu));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn version_under_qemu() {
    let want = format!("keeplite {}", env!("CARGO_PKG_VERSION"));
    for (arch, bin) in runnable("version_under_qemu") {
        let (code, text) = run_emulated(arch, bin, &["--version"]);
        assert_eq!(code, 0, "{} --version: {text}", arch.name);
        assert!(text.contains(&want), "{} --version: {text}", arch.name);
    }
}

#[test]
fn check_example_config_under_qemu() {
    let (native_code, native) = {
        let out = Command::new(keeplite_bin())
            .args(["check", "-f", "examples/keepalived.conf"])
            .current_dir(repo())
            .output()
            .expect("run native keeplite");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(native_code, 0, "native check: {native}");
    for (arch, bin) in runnable("check_example_config_under_qemu") {
        let (code, text) = run_emulated(arch, bin, &["check", "-f", "examples/keepalived.conf"]);
        assert_eq!(code, 0, "{} check: {text}", arch.name);
        // The same parse on every architecture: the summary line matches the native one.
        assert!(
            text.contains(native.trim()),
            "{} check says:\n{text}\nnative says:\n{native}",
            arch.name
        );
    }
}

const VIP: &str = "10.77.0.100";

/// VRRPv3 at 0.5 s adverts, as in vrrp_netns.rs: Master_Down is 1.5 s plus skew.
fn instance(vrid: u8, priority: u8) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id {vrid}\n    priority {priority}\n    version 3\n    advert_int 0.5\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
    )
}

/// The emulated keeplite in a host's namespace, foreground with logs on stderr, like
/// `start_keeplite` but through qemu (no binfmt registration needed).
fn start_emulated(lan: &Lan, host: usize, arch: &Arch, bin: &Path, config: &Path) -> Daemon {
    let log = lan.dir.join(format!("keeplite-{}-{host}.log", arch.name));
    let pid = lan.dir.join(format!("keeplite-{}-{host}.pid", arch.name));
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new("ip")
        .args(["netns", "exec", &lan.hosts[host].ns, arch.qemu])
        .arg(bin)
        .arg("-f")
        .arg(config)
        .args(["-n", "-l", "-D", "-p"])
        .arg(&pid)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", arch.qemu));
    Daemon {
        child,
        log,
        what: format!("keeplite ({} under qemu)", arch.name),
    }
}

fn holders(lan: &Lan, addr: IpAddr) -> Vec<usize> {
    (0..lan.hosts.len())
        .filter(|&h| has_address(&lan.hosts[h], addr))
        .collect()
}

fn expect_holder(lan: &Lan, host: usize, within: Duration, daemons: &[&Daemon], what: &str) {
    let vip: IpAddr = VIP.parse().expect("literal");
    if !wait_until(within, || holders(lan, vip) == [host]) {
        let logs: Vec<String> = daemons
            .iter()
            .map(|d| format!("[{}]\n{}", d.what, d.log_text()))
            .collect();
        let logs = logs.join("\n-----\n");
        // qemu-user 7.2 implements neither option; the kernel has both since 2.6.31.
        let hint = if logs.contains("Protocol not available") {
            "\nhint: qemu-user answers ENOPROTOOPT to IP_MULTICAST_IF (ip_mreqn) and \
             IP_MULTICAST_ALL; the VRRP socket must go on without them (SO_BINDTODEVICE already \
             picks the interface)"
        } else {
            ""
        };
        panic!(
            "{what}: host {host} is not the only holder of {VIP} after {within:?} (holders: {:?})\n{logs}{hint}",
            holders(lan, vip),
        );
    }
}

/// Host 0 runs the emulated keeplite, host 1 the native one. The emulated one wins the
/// election (it sends adverts and its timers fire), hands over on SIGTERM (priority-0 advert),
/// and, restarted at a lower priority, stays backup (it hears and honours the native adverts).
#[test]
fn vrrp_election_emulated_vs_native() {
    let ready = runnable("vrrp_election_emulated_vs_native");
    for (i, (arch, bin)) in ready.into_iter().enumerate() {
        let test = format!("vrrp_election_emulated_vs_native [{}]", arch.name);
        if let Some(why) = arch.no_election {
            skip(&test, why);
            continue;
        }
        let Some(lan) = Lan::new(&test, 2) else {
            return;
        };
        let vrid = 61 + i as u8;
        let high = lan.write("emulated-high.conf", &instance(vrid, 150));
        let low = lan.write("emulated-low.conf", &instance(vrid, 50));
        let native_conf = lan.write("native.conf", &instance(vrid, 100));

        let native = start_keeplite(&lan, 1, &native_conf);
        let mut emulated = start_emulated(&lan, 0, arch, bin, &high);
        // qemu start-up and the emulated parse take a moment on a loaded 2-core machine.
        expect_holder(
            &lan,
            0,
            Duration::from_secs(10),
            &[&emulated, &native],
            &format!("{}: higher-priority emulated router", arch.name),
        );
        std::thread::sleep(Duration::from_secs(2));
        expect_holder(
            &lan,
            0,
            Duration::ZERO,
            &[&emulated, &native],
            &format!("{}: election stays put", arch.name),
        );

        emulated.signal("TERM");
        assert_eq!(
            emulated.wait_exit(Duration::from_secs(5)),
            Some(0),
            "{}: emulated keeplite did not stop cleanly:\n{}",
            arch.name,
            emulated.log_text()
        );
        expect_holder(
            &lan,
            1,
            Duration::from_secs(3),
            &[&emulated, &native],
            &format!("{}: native takes over after SIGTERM", arch.name),
        );

        let emulated = start_emulated(&lan, 0, arch, bin, &low);
        std::thread::sleep(Duration::from_secs(4));
        expect_holder(
            &lan,
            1,
            Duration::ZERO,
            &[&emulated, &native],
            &format!("{}: lower-priority emulated router stays backup", arch.name),
        );
        assert!(
            !emulated.log_text().contains("Entering MASTER"),
            "{}: the lower-priority emulated router became master:\n{}",
            arch.name,
            emulated.log_text()
        );
        loud(&format!(
            "cross_qemu: {} under qemu elected, handed over and stayed backup against native",
            arch.name
        ));
    }
}
