//! The VRRP side of the notify FIFOs, end to end in a network namespace: keeplite's VRRP child
//! makes `notify_fifo` and `vrrp_notify_fifo`, starts `notify_fifo_script` (no checker child
//! runs) and `vrrp_notify_fifo_script` (written before its FIFO's line, as keepalived allows)
//! with the FIFO's path as their last argument, writes each `INSTANCE` line on both, and at
//! SIGTERM ends the readers and removes the FIFOs it made. A `vrrp_notify_fifo` naming
//! `notify_fifo`'s FIFO is ignored with its script: each line lands there once. Needs root;
//! skips loudly without it.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const VIP: &str = "10.77.0.100";

/// A reader script: logs its arguments to `<name>.args`, then copies the FIFO (its last
/// argument) to `<name>.out`.
fn reader(lan: &Lan, name: &str) -> PathBuf {
    let dir = lan.dir.display();
    let path = lan.write(
        &format!("{name}.sh"),
        &format!(
            "#!/bin/sh\necho \"$*\" >>{dir}/{name}.args\nexec cat \"$1\" >>{dir}/{name}.out\n"
        ),
    );
    sh(&["chmod", "755", &path.to_string_lossy()]);
    path
}

fn config(lan: &Lan, globals: &str) -> PathBuf {
    lan.write(
        "keeplite.conf",
        &format!(
            "global_defs {{\n    script_user root\n{globals}}}\n\
             vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    priority 150\n    \
             version 3\n    advert_int 0.5\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
        ),
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

const MASTER: &str = "INSTANCE \"VI_1\" MASTER 150\n";

/// Waits for `path` to hold `line`; panics with the daemon's log otherwise.
fn expect_line(path: &Path, line: &str, d: &Daemon) {
    if !wait_until(Duration::from_secs(8), || read(path).contains(line)) {
        panic!(
            "{} never got {line:?}; it holds {:?}\nlog:\n{}",
            path.display(),
            read(path),
            d.log_text()
        );
    }
}

/// SIGTERM, and the exit within a few seconds.
fn stop(mut d: Daemon) {
    d.signal("TERM");
    assert_eq!(
        d.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        d.log_text()
    );
}

#[test]
fn vrrp_child_reads_and_writes_its_fifos() {
    let Some(lan) = Lan::new("vrrp_child_reads_and_writes_its_fifos", 1) else {
        return;
    };
    let (global, vrrp) = (lan.dir.join("notify.fifo"), lan.dir.join("vrrp.fifo"));
    let conf = config(
        &lan,
        &format!(
            "    notify_fifo {}\n    notify_fifo_script {}\n    vrrp_notify_fifo_script {}\n    vrrp_notify_fifo {}\n",
            global.display(),
            reader(&lan, "global").display(),
            reader(&lan, "vrrp").display(),
            vrrp.display()
        ),
    );
    let d = start_keeplite(&lan, 0, &conf);
    for (name, fifo) in [("global", &global), ("vrrp", &vrrp)] {
        let out = lan.dir.join(format!("{name}.out"));
        expect_line(&out, MASTER, &d);
        // Its one run got the FIFO's path as its argument.
        let args = lan.dir.join(format!("{name}.args"));
        assert_eq!(read(&args), format!("{}\n", fifo.display()), "{name}");
        let text = read(&out);
        assert_eq!(text.matches(MASTER).count(), 1, "{name}: {text:?}");
        assert!(
            text.starts_with("INSTANCE \"VI_1\" BACKUP 150\n"),
            "{name}: {text:?}"
        );
    }
    stop(d);
    assert!(
        !global.exists() && !vrrp.exists(),
        "the FIFOs the daemon made are removed at exit"
    );
    // The readers were told to stop with the daemon.
    let dir = lan.dir.to_string_lossy().into_owned();
    assert!(
        wait_until(Duration::from_secs(3), || !sh_ok(&["pgrep", "-f", &dir])),
        "a reader script outlived the daemon"
    );
}

#[test]
fn vrrp_notify_fifo_naming_notify_fifo_writes_each_line_once() {
    let Some(lan) = Lan::new(
        "vrrp_notify_fifo_naming_notify_fifo_writes_each_line_once",
        1,
    ) else {
        return;
    };
    let fifo = lan.dir.join("notify.fifo");
    let conf = config(
        &lan,
        &format!(
            "    notify_fifo {0}\n    notify_fifo_script {1}\n    vrrp_notify_fifo {0}\n    vrrp_notify_fifo_script {2}\n",
            fifo.display(),
            reader(&lan, "global").display(),
            reader(&lan, "vrrp").display()
        ),
    );
    let d = start_keeplite(&lan, 0, &conf);
    let out = lan.dir.join("global.out");
    expect_line(&out, MASTER, &d);
    // Time for a second copy, were one coming.
    std::thread::sleep(Duration::from_millis(500));
    let text = read(&out);
    assert_eq!(text.matches(MASTER).count(), 1, "{text:?}");
    assert!(
        !lan.dir.join("vrrp.args").exists(),
        "vrrp_notify_fifo_script ran for an ignored FIFO"
    );
    stop(d);
    assert!(!fifo.exists());
}
