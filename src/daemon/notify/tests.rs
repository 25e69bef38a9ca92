//! The checker's notify FIFO lines, byte for byte as keepalived 2.2.7 writes them, and the FIFO
//! rules: made if missing and removed again, never blocking, lines dropped and counted when the
//! pipe is full, no EPIPE when the reader goes away, bad paths refused with their keyword.

use super::*;

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::parse_valid as config;

fn line(c: &Config, event: Event) -> String {
    lvs_line(c, event).expect("a line for a configured server")
}

const UP: fn(usize, usize) -> Event = |vs, rs| Event::RealServerUp { vs, rs };
const DOWN: fn(usize, usize) -> Event = |vs, rs| Event::RealServerDown { vs, rs };

// ---- the lines ----

#[test]
fn ipv4_real_server_and_quorum_lines() {
    let c = config(
        "virtual_server 10.0.0.1 80 {
            protocol TCP
            real_server 192.168.1.2 80 { }
            real_server 192.168.1.3 { }
        }",
    );
    assert_eq!(
        line(&c, UP(0, 0)),
        "RS [192.168.1.2]:tcp:80 [10.0.0.1]:tcp:80 UP\n"
    );
    // A real server without a port has the virtual server's.
    assert_eq!(
        line(&c, DOWN(0, 1)),
        "RS [192.168.1.3]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n"
    );
    assert_eq!(
        line(&c, Event::QuorumUp { vs: 0 }),
        "VS [10.0.0.1]:tcp:80 UP\n"
    );
    assert_eq!(
        line(&c, Event::QuorumDown { vs: 0 }),
        "VS [10.0.0.1]:tcp:80 DOWN\n"
    );
}

#[test]
fn protocols_as_keepalived_names_them() {
    let c = config(
        "virtual_server 10.0.0.1 53 { protocol UDP
            real_server 192.168.1.2 53 { } }
         virtual_server 10.0.0.2 9 { protocol SCTP
            real_server 192.168.1.2 9 { } }
         virtual_server 10.0.0.3 67 {
            real_server 192.168.1.2 67 { } }",
    );
    assert_eq!(
        line(&c, UP(0, 0)),
        "RS [192.168.1.2]:udp:53 [10.0.0.1]:udp:53 UP\n"
    );
    assert_eq!(
        line(&c, Event::QuorumDown { vs: 1 }),
        "VS [10.0.0.2]:sctp:9 DOWN\n"
    );
    // Without `protocol` keepalived makes the service UDP.
    assert_eq!(
        line(&c, DOWN(2, 0)),
        "RS [192.168.1.2]:udp:67 [10.0.0.3]:udp:67 DOWN\n"
    );
}

#[test]
fn ipv6_lines() {
    let c = config(
        "virtual_server 2001:db8:10::100 443 {
            protocol TCP
            real_server 2001:db8:100::2 443 { }
            real_server fe80::1:2 { }
        }",
    );
    assert_eq!(
        line(&c, UP(0, 0)),
        "RS [2001:db8:100::2]:tcp:443 [2001:db8:10::100]:tcp:443 UP\n"
    );
    assert_eq!(
        line(&c, DOWN(0, 1)),
        "RS [fe80::1:2]:tcp:443 [2001:db8:10::100]:tcp:443 DOWN\n"
    );
    assert_eq!(
        line(&c, Event::QuorumUp { vs: 0 }),
        "VS [2001:db8:10::100]:tcp:443 UP\n"
    );
}

#[test]
fn fwmark_lines_have_no_protocol() {
    let c = config(
        "virtual_server fwmark 7 {
            lb_kind DR
            protocol TCP
            real_server 192.168.1.4 80 { }
            real_server 192.168.1.5 8080 { lb_kind NAT }
            real_server 2001:db8::5 { lb_kind TUN }
        }",
    );
    // keepalived clears a protocol written for a fwmark service, and a DR/TUN server's port.
    assert_eq!(line(&c, UP(0, 0)), "RS [192.168.1.4]:none:0 FWM 7 UP\n");
    // NAT keeps the port written.
    assert_eq!(
        line(&c, DOWN(0, 1)),
        "RS [192.168.1.5]:none:8080 FWM 7 DOWN\n"
    );
    assert_eq!(line(&c, UP(0, 2)), "RS [2001:db8::5]:none:0 FWM 7 UP\n");
    assert_eq!(line(&c, Event::QuorumDown { vs: 0 }), "VS FWM 7 DOWN\n");
}

#[test]
fn dr_real_server_takes_the_virtual_servers_port() {
    let c = config(
        "virtual_server 10.0.0.1 80 {
            lb_kind DR
            protocol TCP
            real_server 192.168.1.2 8080 { }
        }",
    );
    assert_eq!(
        line(&c, UP(0, 0)),
        "RS [192.168.1.2]:tcp:80 [10.0.0.1]:tcp:80 UP\n"
    );
}

#[test]
fn group_lines_name_the_group_with_port_0() {
    let c = config(
        "virtual_server_group web {
            10.0.0.10-12 80
            2001:db8:10::10 80
         }
         virtual_server_group marks {
            fwmark 9
         }
         virtual_server_group both {
            10.0.0.20 443
            fwmark 10
         }
         virtual_server group web {
            protocol TCP
            real_server 192.168.1.2 80 { }
         }
         virtual_server group marks {
            protocol TCP
            real_server 192.168.1.3 80 { }
         }
         virtual_server group both {
            real_server 192.168.1.4 443 { }
         }",
    );
    assert_eq!(line(&c, UP(0, 0)), "RS [192.168.1.2]:tcp:80 [web]:0 UP\n");
    assert_eq!(line(&c, Event::QuorumDown { vs: 0 }), "VS [web]:0 DOWN\n");
    // A group of fwmarks only has no protocol (keepalived clears it).
    assert_eq!(
        line(&c, DOWN(1, 0)),
        "RS [192.168.1.3]:none:80 [marks]:0 DOWN\n"
    );
    // With addresses too it keeps one: UDP when none is written.
    assert_eq!(line(&c, UP(2, 0)), "RS [192.168.1.4]:udp:443 [both]:0 UP\n");
}

#[test]
fn no_line_for_a_server_the_config_lacks() {
    let c = config("virtual_server 10.0.0.1 80 { real_server 192.168.1.2 80 { } }");
    assert_eq!(lvs_line(&c, UP(0, 1)), None);
    assert_eq!(lvs_line(&c, Event::QuorumUp { vs: 1 }), None);
}

#[test]
fn addresses_as_glibc_inet_ntop_writes_them() {
    let cases = [
        ("192.168.1.2", "192.168.1.2"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"),
        ("2001:0:0:1:0:0:2:3", "2001::1:0:0:2:3"),
        ("::1", "::1"),
        ("::", "::"),
        ("::ffff:10.1.2.3", "::ffff:10.1.2.3"),
        // IPv4-compatible: glibc keeps the dotted tail (Rust writes ::a01:203).
        ("::10.1.2.3", "::10.1.2.3"),
        ("::2:0:0", "::2:0:0"),
        ("fe80::abcd:0:0:1", "fe80::abcd:0:0:1"),
    ];
    for (addr, want) in cases {
        let a: IpAddr = addr.parse().expect("test address");
        assert_eq!(ntop(a), want, "{addr}");
    }
}

// ---- the FIFOs ----

/// A directory of its own under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("keeplite-notify-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fifo_at(path: &Path) -> Fifo {
    Fifo {
        path: path.display().to_string(),
        owner: None,
        script: None,
    }
}

fn open(path: &Path) -> Result<LineFifo, String> {
    LineFifo::open("lvs_notify_fifo", &fifo_at(path), &UserDb::default(), None)
}

/// A reader that never blocks: what is in the pipe, as text.
fn reader(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .expect("open the FIFO for reading")
}

fn drain(r: &mut std::fs::File) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("reading the FIFO: {e}"),
        }
    }
    String::from_utf8(out).expect("text lines")
}

#[test]
fn a_missing_fifo_is_made_and_removed_again() {
    let dir = TempDir::new("made");
    let path = dir.path("lvs.fifo");
    let f = open(&path).expect("open");
    let meta = std::fs::symlink_metadata(&path).expect("made");
    assert!(meta.file_type().is_fifo());
    assert_eq!(
        meta.permissions().mode() & 0o077,
        0,
        "only its owner may use it"
    );
    assert!(f.created);
    f.close();
    assert!(!path.exists(), "the FIFO it made is removed on close");
}

#[test]
fn an_existing_fifo_is_used_and_kept() {
    let dir = TempDir::new("kept");
    let path = dir.path("lvs.fifo");
    drop(open(&path).expect("made"));
    // Made by "someone else" (the handle above, dropped without close).
    let mut f = open(&path).expect("open");
    assert!(!f.created);
    let mut r = reader(&path);
    f.write_line(b"VS FWM 7 UP\n");
    assert_eq!(drain(&mut r), "VS FWM 7 UP\n");
    f.close();
    assert!(path.exists(), "a FIFO it did not make stays");
}

#[test]
fn bad_paths_are_refused_with_their_keyword() {
    let dir = TempDir::new("bad");
    let missing = dir.path("no/such/dir/lvs.fifo");
    let e = open(&missing).err().expect("no directory");
    assert!(
        e.starts_with(&format!(
            "global_defs lvs_notify_fifo {}: ",
            missing.display()
        )),
        "{e}"
    );
    let plain = dir.path("plain");
    std::fs::write(&plain, "").expect("file");
    let e = open(&plain).err().expect("not a FIFO");
    assert!(e.contains("not a FIFO"), "{e}");
}

#[test]
fn a_full_pipe_drops_lines_without_blocking() {
    let dir = TempDir::new("full");
    let path = dir.path("lvs.fifo");
    let mut f = open(&path).expect("open");
    let text = "RS [192.168.100.2]:tcp:80 [10.0.0.100]:tcp:80 DOWN\n";
    // No reader at all: the pipe (64 KiB by default) fills, then lines are dropped; each
    // write returns at once.
    let start = std::time::Instant::now();
    let tries = 100_000 / text.len() + 100;
    for _ in 0..tries {
        f.write_line(text.as_bytes());
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert!(f.dropped > 0, "the pipe never filled");
    assert_eq!(f.dropping, f.dropped);
    let written = tries as u64 - f.dropped;
    // A reader comes: it gets whole lines only, as many as were written, and writing works again.
    let mut r = reader(&path);
    let got = drain(&mut r);
    assert_eq!(got.len(), written as usize * text.len());
    assert!(got.lines().all(|l| format!("{l}\n") == text));
    f.write_line(text.as_bytes());
    assert_eq!(f.dropping, 0, "writing again resets the run of drops");
    assert_eq!(drain(&mut r), text);
}

#[test]
fn a_reader_that_goes_away_breaks_nothing() {
    let dir = TempDir::new("gone");
    let path = dir.path("lvs.fifo");
    let mut f = open(&path).expect("open");
    {
        let mut r = reader(&path);
        f.write_line(b"VS [10.0.0.1]:tcp:80 DOWN\n");
        assert_eq!(drain(&mut r), "VS [10.0.0.1]:tcp:80 DOWN\n");
    }
    // The daemon holds the FIFO read-write: no EPIPE (nor SIGPIPE) once the reader is gone;
    // the line waits for the next reader.
    f.write_line(b"VS [10.0.0.1]:tcp:80 UP\n");
    assert_eq!(f.dropped, 0);
    let mut r = reader(&path);
    assert_eq!(drain(&mut r), "VS [10.0.0.1]:tcp:80 UP\n");
}

#[test]
fn the_checker_writes_both_fifos_and_a_shared_one_once() {
    let dir = TempDir::new("both");
    let global = dir.path("notify.fifo");
    let lvs = dir.path("lvs.fifo");
    let text = format!(
        "global_defs {{
            notify_fifo {}
            lvs_notify_fifo {}
         }}
         virtual_server 10.0.0.1 80 {{
            protocol TCP
            real_server 192.168.1.2 80 {{ }}
         }}",
        global.display(),
        lvs.display()
    );
    let c = config(&text);
    let mut n = Notifier::for_checker(&c, UserDb::default(), Instant(0));
    let (mut rg, mut rl) = (reader(&global), reader(&lvs));
    n.lvs_event(Instant(0), &c, DOWN(0, 0));
    n.lvs_event(Instant(0), &c, Event::QuorumDown { vs: 0 });
    let want = "RS [192.168.1.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN\nVS [10.0.0.1]:tcp:80 DOWN\n";
    assert_eq!(drain(&mut rg), want);
    assert_eq!(drain(&mut rl), want);
    drop(n);
    assert!(
        !global.exists() && !lvs.exists(),
        "the FIFOs it made are removed"
    );

    // lvs_notify_fifo naming notify_fifo's FIFO: each line once.
    let same = text.replace(&lvs.display().to_string(), &global.display().to_string());
    let c = config(&same);
    let mut n = Notifier::for_checker(&c, UserDb::default(), Instant(0));
    let mut r = reader(&global);
    n.lvs_event(Instant(0), &c, UP(0, 0));
    assert_eq!(
        drain(&mut r),
        "RS [192.168.1.2]:tcp:80 [10.0.0.1]:tcp:80 UP\n"
    );
}

#[test]
fn a_bad_fifo_leaves_the_other_working() {
    let dir = TempDir::new("onebad");
    let global = dir.path("notify.fifo");
    let c = config(&format!(
        "global_defs {{
            notify_fifo {}
            lvs_notify_fifo {}
         }}
         virtual_server 10.0.0.1 80 {{
            protocol TCP
            real_server 192.168.1.2 80 {{ }}
         }}",
        global.display(),
        dir.path("missing/lvs.fifo").display()
    ));
    let mut n = Notifier::for_checker(&c, UserDb::default(), Instant(0));
    let mut r = reader(&global);
    n.lvs_event(Instant(0), &c, Event::QuorumUp { vs: 0 });
    assert_eq!(drain(&mut r), "VS [10.0.0.1]:tcp:80 UP\n");
}

#[test]
fn a_symlink_at_the_path_is_refused() {
    let dir = TempDir::new("symlink");
    let target = dir.path("real.fifo");
    drop(open(&target).expect("made"));
    let link = dir.path("link.fifo");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let e = open(&link).err().expect("a symlink");
    assert!(e.contains("symbolic link"), "{e}");
}

// ---- the VRRP side ----

/// A reader script for the FIFO tests: logs its arguments, then copies the FIFO (its last
/// argument) to `<dir>/<name>.out` until it is killed.
fn reader_script(dir: &TempDir, name: &str) -> PathBuf {
    let script = dir.path(&format!("{name}.sh"));
    let out = dir.path(&format!("{name}.out"));
    let args = dir.path(&format!("{name}.args"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >>{}\nexec cat \"$1\" >>{}\n",
            args.display(),
            out.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

/// Waits (at most 5 s) for `path` to hold `want`, and returns what it holds.
fn wait_for(path: &Path, want: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        let got = std::fs::read_to_string(path).unwrap_or_default();
        if got == want || start.elapsed() > std::time::Duration::from_secs(5) {
            return got;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `global_defs` with the scripts run as this test's own user, then `rest`.
fn vrrp_config(globals: &str, rest: &str) -> Config {
    let me = Credentials::current();
    config(&format!(
        "global_defs {{
            script_user {} {}
            {globals}
         }}
         vrrp_instance VI_1 {{
            interface eth0
            virtual_router_id 51
            priority 150
            virtual_ipaddress {{ 10.0.0.100/24 }}
         }}
         {rest}",
        me.uid, me.gid
    ))
}

fn reader_keywords(n: &Notifier) -> Vec<&'static str> {
    n.readers.iter().map(|r| r.keyword).collect()
}

const VIRTUAL_SERVER: &str = "virtual_server 10.0.0.1 80 { real_server 192.168.1.2 80 { } }";

#[test]
fn the_vrrp_side_writes_both_fifos_read_by_their_scripts() {
    let dir = TempDir::new("vrrp-both");
    let (global, vrrp) = (dir.path("notify.fifo"), dir.path("vrrp.fifo"));
    let c = vrrp_config(
        &format!(
            "notify_fifo {}
             notify_fifo_script {}
             vrrp_notify_fifo {}
             vrrp_notify_fifo_script {}",
            global.display(),
            reader_script(&dir, "global").display(),
            vrrp.display(),
            reader_script(&dir, "vrrp").display()
        ),
        "",
    );
    let mut n = Notifier::new(&c, UserDb::default());
    assert_eq!(reader_keywords(&n), ["notify_fifo", "vrrp_notify_fifo"]);
    let notify = &c.instances[0].notify;
    n.state_change(
        Instant(0),
        NotifyKind::Instance,
        "VI_1",
        notify,
        State::Backup,
        150,
    );
    n.state_change(
        Instant(0),
        NotifyKind::Instance,
        "VI_1",
        notify,
        State::Master,
        150,
    );
    n.stop(Instant(0), NotifyKind::Instance, "VI_1", notify, 150);
    let want =
        "INSTANCE \"VI_1\" BACKUP 150\nINSTANCE \"VI_1\" MASTER 150\nINSTANCE \"VI_1\" STOP 150\n";
    // Each script gets its FIFO's path as its argument, and each line once.
    for (name, fifo) in [("global", &global), ("vrrp", &vrrp)] {
        assert_eq!(
            wait_for(&dir.path(&format!("{name}.out")), want),
            want,
            "{name}"
        );
        let args = format!("{}\n", fifo.display());
        assert_eq!(
            wait_for(&dir.path(&format!("{name}.args")), &args),
            args,
            "{name}"
        );
    }
    drop(n);
    assert!(
        !global.exists() && !vrrp.exists(),
        "the FIFOs it made are removed"
    );
}

#[test]
fn notify_fifo_script_runs_on_the_vrrp_side_only_without_a_checker() {
    let dir = TempDir::new("vrrp-who-reads");
    let globals = format!(
        "notify_fifo {}
         notify_fifo_script {}",
        dir.path("notify.fifo").display(),
        reader_script(&dir, "global").display()
    );
    // No virtual server: no checker child, the VRRP child reads notify_fifo.
    let c = vrrp_config(&globals, "");
    assert_eq!(
        reader_keywords(&Notifier::new(&c, UserDb::default())),
        ["notify_fifo"]
    );
    // With one, the checker child runs and reads it...
    let c = vrrp_config(&globals, VIRTUAL_SERVER);
    let n = Notifier::new(&c, UserDb::default());
    assert!(reader_keywords(&n).is_empty());
    assert_eq!(n.fifos.len(), 1, "the VRRP side still writes notify_fifo");
    drop(n);
    // ...unless -P keeps the checker from running.
    let n = Notifier::for_vrrp(&c, UserDb::default(), true);
    assert_eq!(reader_keywords(&n), ["notify_fifo"]);
}

#[test]
fn vrrp_notify_fifo_naming_notify_fifo_is_ignored_with_its_script() {
    let dir = TempDir::new("vrrp-same");
    let fifo = dir.path("notify.fifo");
    let c = vrrp_config(
        &format!(
            "notify_fifo {0}
             notify_fifo_script {1}
             vrrp_notify_fifo {0}
             vrrp_notify_fifo_script {2}",
            fifo.display(),
            reader_script(&dir, "global").display(),
            reader_script(&dir, "vrrp").display()
        ),
        "",
    );
    let mut n = Notifier::new(&c, UserDb::default());
    assert_eq!(reader_keywords(&n), ["notify_fifo"]);
    assert_eq!(n.fifos.len(), 1);
    let notify = &c.instances[0].notify;
    n.state_change(
        Instant(0),
        NotifyKind::Instance,
        "VI_1",
        notify,
        State::Master,
        150,
    );
    let want = "INSTANCE \"VI_1\" MASTER 150\n";
    assert_eq!(
        wait_for(&dir.path("global.out"), want),
        want,
        "the line once"
    );
    assert!(
        !dir.path("vrrp.args").exists(),
        "vrrp_notify_fifo_script never ran"
    );
}

#[test]
fn a_replaced_notifiers_scripts_are_reaped_by_the_next() {
    let dir = TempDir::new("vrrp-orphans");
    let c = vrrp_config(
        &format!(
            "vrrp_notify_fifo {}
             vrrp_notify_fifo_script {}",
            dir.path("vrrp.fifo").display(),
            reader_script(&dir, "vrrp").display()
        ),
        "",
    );
    let n = Notifier::new(&c, UserDb::default());
    let reader = n.readers[0].child.id();
    // A VRRP reload hands the old notifier's scripts on: the reader is told to stop...
    let running = n.into_children();
    // ...and the next notifier (the reloaded daemon's) reaps it.
    let mut n = Notifier::new(&vrrp_config("", ""), UserDb::default());
    n.adopt(running);
    assert!(n.running.iter().any(|c| c.id() == reader));
    let start = std::time::Instant::now();
    while !n.running.is_empty() && start.elapsed() < std::time::Duration::from_secs(5) {
        n.reap(crate::sys::clock::now());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(n.running.is_empty(), "the SIGTERMed reader was reaped");
}
