//! End-to-end load balancing on a real IPVS kernel: keeplite's checker daemon (`keeplite -C`)
//! runs in the IPVS VM of `tests/ipvs_vm/` (Debian's kernel under qemu TCG) against busybox
//! httpd real servers in guest network namespaces, with real traffic through its virtual
//! services. `tests/lb_vm/keepalived.conf` covers NAT, DR, TUN (IPIP and GUE), fwmark,
//! persistence with granularity, UDP with UDP_CHECK, IPv6, every scheduler, inhibit_on_failure,
//! a sorry server and quorum; `tests/lb_vm/guest.sh` checks the table against `ipvsadm -Ln` at
//! every step, kills and restarts real servers (timing how long keeplite takes to notice), and
//! checks what SIGTERM leaves with and without `-I`. Then, on a configuration of its own, the
//! `notify_fifo` / `lvs_notify_fifo` lines (IPv4, IPv6, fwmark, groups of addresses and of
//! fwmarks) while a real server stops and starts, quorum is lost and gained, a reload drops a
//! virtual server and SIGTERM sends omega's lines: exactly keepalived 2.2.7's text. It prints
//! one PASS/FAIL line per check. When the host has keepalived, the guest then runs it on the
//! same configs as the reference (`tests/lb_vm/pack-keepalived.sh` packs it with its
//! libraries): its table must be the one the guest expects of keeplite, and its FIFO lines the
//! very ones expected of keeplite.
//!
//! Host needs: root, qemu-system-x86 (apt), apt-get and friends (the harness fetches Debian's
//! kernel, busybox and ipvsadm), the rustup target x86_64-unknown-linux-musl (keeplite runs in
//! the guest as a static binary). Without them the test prints a loud SKIP and passes.
//! `KEEPLITE_SKIP_LB_VM=1` skips it on purpose.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod common;

use common::{is_root, loud, on_path, rust_target_installed, target_dir};

const MUSL: &str = "x86_64-unknown-linux-musl";

fn skip(why: &str) {
    common::skip("lb_vm", why);
}

/// Builds the static keeplite the guest runs, as shipped (release profile), and returns it.
fn build_keeplite(target: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--release", "--target", MUSL, "--bin", "keeplite"])
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "building keeplite for {MUSL} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = target.join(MUSL).join("release/keeplite");
    assert!(bin.is_file(), "cargo built no {}", bin.display());
    bin
}

#[test]
fn load_balancing_in_vm() {
    if std::env::var_os("KEEPLITE_SKIP_LB_VM").is_some() {
        return skip("KEEPLITE_SKIP_LB_VM is set");
    }
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return skip("the VM harness is for x86_64 Linux hosts");
    }
    if !is_root() {
        return skip("needs root (the harness fetches and unpacks Debian packages)");
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let harness = root.join("tests/ipvs_vm");
    let here = root.join("tests/lb_vm");
    let conf = here.join("keepalived.conf");
    let target = target_dir();
    let work = target.join("ipvs-vm");

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
    let keeplite = build_keeplite(&target);
    let built = started.elapsed();
    // The reference: the host's keepalived, run by the guest on the same config after keeplite.
    let reference = target.join("lb-vm/keepalived-ref.tar");
    std::fs::create_dir_all(target.join("lb-vm")).expect("mkdir lb-vm");
    let packed = Command::new(here.join("pack-keepalived.sh"))
        .arg(&reference)
        .output()
        .expect("run pack-keepalived.sh");
    match packed.status.code() {
        Some(0) => {}
        Some(3) => {
            let _ = std::fs::remove_file(&reference);
            loud("lb_vm: no keepalived on this host: the keepalived reference run is skipped");
        }
        _ => panic!(
            "tests/lb_vm/pack-keepalived.sh failed:\n{}",
            String::from_utf8_lossy(&packed.stderr)
        ),
    }

    // The static binary runs here too: the configuration must load without a warning, or the
    // guest would test something else than the file says.
    let out = Command::new(&keeplite)
        .args(["check", "-f"])
        .arg(&conf)
        .output()
        .expect("run keeplite check");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // keepalived warns about the one virtual server without `protocol` (on purpose).
    let warned = said
        .lines()
        .any(|l| l.to_lowercase().contains("warning") && !l.contains("protocol"));
    assert!(
        out.status.success() && !warned,
        "keeplite check {} failed or warned:\n{said}",
        conf.display()
    );

    let mut run = Command::new(harness.join("run.sh"));
    run.arg(&work).arg(here.join("guest.sh")).arg(&conf);
    if reference.is_file() {
        run.arg(&reference);
    }
    let out = run
        .env("KEEPLITE_BIN", &keeplite)
        .env(
            "IPVS_VM_TIMEOUT",
            std::env::var("IPVS_VM_TIMEOUT").unwrap_or_else(|_| "300".into()),
        )
        .output()
        .expect("run run.sh");
    let console = String::from_utf8_lossy(&out.stdout);
    let booted = started.elapsed();
    eprintln!("{console}{}", String::from_utf8_lossy(&out.stderr));

    let passes = console.lines().filter(|l| l.starts_with("PASS: ")).count();
    let fails: Vec<&str> = console
        .lines()
        .filter(|l| l.starts_with("FAIL: "))
        .collect();
    let mut summary = format!(
        "lb_vm: {passes} passed, {} failed; harness {:.1} s, keeplite build {:.1} s, VM {:.1} s",
        fails.len(),
        prepared.as_secs_f64(),
        (built - prepared).as_secs_f64(),
        (booted - built).as_secs_f64()
    );
    for line in console.lines().filter(|l| l.starts_with("DETECTION: ")) {
        summary.push_str("\n  ");
        summary.push_str(line);
    }
    loud(&summary);
    assert!(
        fails.is_empty() && out.status.success() && console.contains("LB_VM PASSED"),
        "the guest failed (rc {:?}; its console is above):\n{}",
        out.status.code(),
        fails.join("\n")
    );
}
