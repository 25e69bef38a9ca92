//! Router packaging in `board/`: the UCI → keepalived.conf converter run on the samples in
//! `tests/board/` (under a test stand-in of OpenWrt's /lib/functions.sh) against expected files,
//! `keeplite check` and keepalived's `-t` on what it writes, the procd init script under a
//! stand-in rc.common, the notify → hotplug path, and syntax checks of every shell script and of
//! the systemd unit.
//!
//! Each sample `tests/board/NAME.uci` names the interfaces its config uses on a
//! `# test-interfaces: ...` line (keepalived -t needs them to exist) and has its expected output
//! in `tests/board/NAME.conf`. `KEEPLITE_BLESS=1` rewrites the expected files from the converter.

mod common;

use common::{is_root, loud, on_path, skip};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_keeplite");
const KEEPALIVED: &str = "/usr/sbin/keepalived";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn board() -> PathBuf {
    root().join("board")
}

fn samples_dir() -> PathBuf {
    root().join("tests").join("board")
}

fn shim() -> PathBuf {
    samples_dir().join("functions.sh")
}

fn converter() -> PathBuf {
    board().join("openwrt").join("files").join("uci-to-conf")
}

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("keeplite-board-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("KEEPLITE_KEEP_TEST_DIRS").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The shells the converter must run under: the system's sh, dash, and busybox's ash (OpenWrt's
/// shell) where installed.
fn shells() -> Vec<Vec<String>> {
    let mut shells = vec![vec!["sh".to_string()]];
    if on_path("dash") {
        shells.push(vec!["dash".to_string()]);
    }
    if on_path("busybox") {
        shells.push(vec!["busybox".to_string(), "sh".to_string()]);
    } else {
        skip(
            "board_scripts (busybox ash)",
            "busybox is not installed (apt-get install busybox): scripts not run under ash",
        );
    }
    shells
}

struct Sample {
    name: String,
    uci: PathBuf,
    expected: PathBuf,
    interfaces: Vec<String>,
}

fn samples() -> Vec<Sample> {
    let mut samples: Vec<Sample> = fs::read_dir(samples_dir())
        .expect("tests/board")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "uci"))
        .map(|uci| {
            let name = uci
                .file_stem()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let source = fs::read_to_string(&uci).expect("read sample");
            let interfaces = source
                .lines()
                .find_map(|l| l.strip_prefix("# test-interfaces:"))
                .unwrap_or_else(|| panic!("{name}.uci has no `# test-interfaces:` line"))
                .split_whitespace()
                .map(str::to_string)
                .collect();
            Sample {
                expected: uci.with_extension("conf"),
                name,
                uci,
                interfaces,
            }
        })
        .collect();
    samples.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(samples.len() >= 6, "samples missing in tests/board");
    samples
}

/// Runs the converter on a UCI file (installed as `keeplite` in a directory of its own).
fn convert_with(shell: &[String], uci_text: &str, dir: &Path) -> Output {
    let config_dir = dir.join("config");
    fs::create_dir_all(&config_dir).expect("config dir");
    fs::write(config_dir.join("keeplite"), uci_text).expect("write UCI file");
    run(Command::new(&shell[0])
        .args(&shell[1..])
        .arg(converter())
        .env("UCI_CONFIG_DIR", &config_dir)
        .env("KEEPLITE_FUNCTIONS", shim()))
}

fn convert(uci_text: &str, dir: &Path) -> String {
    let out = convert_with(&["sh".to_string()], uci_text, dir);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "converter failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `keeplite check -f FILE` accepts the file with neither errors nor warnings.
fn assert_keeplite_accepts(file: &Path, what: &str) {
    let out = run(Command::new(BIN).args(["check", "-q", "-f"]).arg(file));
    assert_eq!(
        out.status.code(),
        Some(0),
        "keeplite check refused {what}:\n{}",
        text(&out.stderr)
    );
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains("warning:") && !stderr.contains("error:"),
        "keeplite check has something to say about {what}:\n{stderr}"
    );
}

fn keepalived_usable(test: &str) -> bool {
    if !Path::new(KEEPALIVED).exists() {
        skip(
            test,
            "keepalived is not installed (apt-get install keepalived)",
        );
        return false;
    }
    if !is_root() {
        skip(
            test,
            "needs root for a network namespace with the config's interfaces",
        );
        return false;
    }
    if !common::sh_ok(&["unshare", "-n", "true"]) {
        skip(test, "`unshare -n` does not work here");
        return false;
    }
    true
}

/// `keepalived -t -f FILE` in a fresh network namespace holding the interfaces the config names
/// (veth pairs: this kernel may lack the dummy driver).
fn assert_keepalived_accepts(file: &Path, interfaces: &[String], what: &str) {
    for name in interfaces {
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "odd interface name {name:?} in {what}"
        );
    }
    let script = "f=$1; shift; i=0; for x in \"$@\"; do \
        ip link add \"$x\" type veth peer name \"klpeer$i\" || exit 99; i=$((i + 1)); done; \
        exec /usr/sbin/keepalived -t -f \"$f\"";
    let out = run(Command::new("unshare")
        .args(["-n", "sh", "-c", script, "sh"])
        .arg(file)
        .args(interfaces));
    assert_eq!(
        out.status.code(),
        Some(0),
        "keepalived -t refused {what}:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// the converter

#[test]
fn converter_writes_the_expected_configs() {
    let tmp = TempDir::new("expected");
    let bless = std::env::var_os("KEEPLITE_BLESS").is_some();
    for shell in shells() {
        for s in samples() {
            let uci = fs::read_to_string(&s.uci).expect("read sample");
            let dir = tmp.0.join(format!("{}-{}", shell.join("-"), s.name));
            let out = convert_with(&shell, &uci, &dir);
            let label = format!("{}.uci under {}", s.name, shell.join(" "));
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "converter failed on {label} ({}): {}",
                out.status,
                text(&out.stderr)
            );
            let got = text(&out.stdout);
            if bless {
                fs::write(&s.expected, &got).expect("write expected file");
            }
            let want = fs::read_to_string(&s.expected)
                .unwrap_or_else(|e| panic!("{}: {e}", s.expected.display()));
            assert!(
                got == want,
                "{label}: output differs from {}\n--- got ---\n{got}",
                s.expected.display()
            );
        }
    }
}

#[test]
fn keeplite_check_accepts_the_converted_configs() {
    let tmp = TempDir::new("check");
    for s in samples() {
        let uci = fs::read_to_string(&s.uci).expect("read sample");
        let file = tmp.0.join(format!("{}.conf", s.name));
        fs::write(&file, convert(&uci, &tmp.0.join(&s.name))).expect("write config");
        assert_keeplite_accepts(&file, &format!("{}.uci converted", s.name));
    }
}

#[test]
fn keepalived_accepts_the_converted_configs() {
    if !keepalived_usable("keepalived_accepts_the_converted_configs") {
        return;
    }
    let tmp = TempDir::new("keepalived");
    for s in samples() {
        let uci = fs::read_to_string(&s.uci).expect("read sample");
        let file = tmp.0.join(format!("{}.conf", s.name));
        fs::write(&file, convert(&uci, &tmp.0.join(&s.name))).expect("write config");
        assert_keepalived_accepts(&file, &s.interfaces, &format!("{}.uci converted", s.name));
    }
}

/// The shipped /etc/config/keeplite: as shipped (disabled, examples commented out) it converts to
/// an empty config; with its examples uncommented, to one both daemons accept.
#[test]
fn shipped_uci_config_and_its_examples_convert() {
    let tmp = TempDir::new("shipped");
    let shipped = fs::read_to_string(board().join("openwrt/files/keeplite.config"))
        .expect("board/openwrt/files/keeplite.config");
    let bare = convert(&shipped, &tmp.0.join("bare"));
    assert!(
        !bare.contains("vrrp_instance") && bare.contains("global_defs"),
        "{bare}"
    );

    let examples: String = shipped
        .lines()
        .map(|l| {
            let l = l
                .strip_prefix("#\t")
                .map(|rest| format!("\t{rest}"))
                .or_else(|| {
                    l.strip_prefix("#config")
                        .map(|rest| format!("config{rest}"))
                })
                .unwrap_or_else(|| l.to_string());
            l + "\n"
        })
        .collect();
    let examples = examples
        .replace("option enabled '0'", "option enabled '1'")
        // The alternative file would make the init script skip the conversion.
        .replace("\toption alt_config_file", "#option alt_config_file");
    let converted = convert(&examples, &tmp.0.join("examples"));
    for block in [
        "vrrp_instance LAN",
        "vrrp_sync_group EDGE",
        "vrrp_script chk_dnsmasq",
        "virtual_server 192.168.1.80 80",
        "HTTP_GET",
    ] {
        assert!(converted.contains(block), "no {block} in\n{converted}");
    }
    let file = tmp.0.join("examples.conf");
    fs::write(&file, &converted).expect("write config");
    assert_keeplite_accepts(&file, "the shipped examples");
    if keepalived_usable("shipped_uci_config_and_its_examples_convert (keepalived -t)") {
        let interfaces = ["br-lan", "wan", "br-guest"].map(String::from);
        assert_keepalived_accepts(&file, &interfaces, "the shipped examples");
    }
}

#[test]
fn converter_names_what_it_cannot_write() {
    let tmp = TempDir::new("refuse");
    let cases = [
        (
            "config vrrp_script 'chk'\n\toption script 'sh -c \"exit 1\"'\n",
            "keeplite.chk.script",
        ),
        (
            "config vrrp_instance 'VI_1'\n\toption interface 'eth0'\n\tlist track_script 'nope'\n",
            "keeplite.VI_1.track_script",
        ),
        (
            "config vrrp_instance 'VI_1'\n\tlist virtual_ipaddress 'lan_vip'\n",
            "keeplite.VI_1.virtual_ipaddress",
        ),
        (
            "config vrrp_instance\n\toption name 'bad name'\n",
            ".name: 'bad name' is not a usable name",
        ),
        (
            "config virtual_server\n\toption ipaddr '10.0.0.1'\n\toption port '80'\n\
             \tlist real_server 'web'\nconfig real_server\n\toption name 'web'\n\
             \toption ipaddr '10.0.0.2'\n\toption port '80'\n\toption check 'HTTP_PUT'\n",
            ".check: 'HTTP_PUT' is not",
        ),
    ];
    for (i, (uci, message)) in cases.iter().enumerate() {
        let out = convert_with(&["sh".to_string()], uci, &tmp.0.join(i.to_string()));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "case {i}: {stderr}");
        assert!(
            stderr.contains(message),
            "case {i}: want {message:?} in {stderr}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// the procd init script, notify and the hotplug hook

/// Runs board/openwrt/files/keeplite.init's start or reload under tests/board/rc-procd.sh.
fn rc_procd(shell: &[String], dir: &Path, action: &str) -> (String, Option<i32>) {
    let out = run(Command::new(&shell[0])
        .args(&shell[1..])
        .arg(samples_dir().join("rc-procd.sh"))
        .arg(board().join("openwrt/files/keeplite.init"))
        .arg(action)
        .env("KEEPLITE_FUNCTIONS", shim())
        .env("UCI_CONFIG_DIR", dir.join("config"))
        .env("TEST_PROG", BIN)
        .env("TEST_CONVERT", converter())
        .env("TEST_CONF", dir.join("var/etc/keeplite.conf")));
    (text(&out.stdout) + &text(&out.stderr), out.status.code())
}

#[test]
fn procd_init_script_starts_reloads_and_refuses_bad_configs() {
    let tmp = TempDir::new("procd");
    for shell in shells() {
        let dir = tmp.0.join(shell.join("-"));
        procd_init_script_under(&shell, &dir);
    }
}

fn procd_init_script_under(shell: &[String], dir: &Path) {
    let rc_procd = |dir: &Path, action: &str| rc_procd(shell, dir, action);
    let uci_file = dir.join("config/keeplite");
    fs::create_dir_all(dir.join("config")).expect("config dir");
    let good = fs::read_to_string(samples_dir().join("router_pair.uci")).expect("sample");
    fs::write(&uci_file, &good).expect("write UCI");
    let conf = dir.join("var/etc/keeplite.conf");

    // start: converted, checked, run in the foreground under procd with SIGHUP for reloads.
    let (out, code) = rc_procd(dir, "start");
    assert_eq!(code, Some(0), "{out}");
    let command = format!("set_param command {BIN} -n -f {}", conf.display());
    for line in [
        command.as_str(),
        &format!("set_param file {}", conf.display()),
        "set_param reload_signal HUP",
        "set_param respawn",
        "reload_trigger keeplite",
    ] {
        assert!(out.lines().any(|l| l == line), "no `{line}` in\n{out}");
    }
    let expected = fs::read_to_string(samples_dir().join("router_pair.conf")).expect("expected");
    assert_eq!(fs::read_to_string(&conf).expect("converted file"), expected);

    // A bad edit: reload keeps the last good file and the daemon as it is.
    fs::write(
        &uci_file,
        good.replace(
            "list virtual_ipaddress 'lan_gw'",
            "list virtual_ipaddress 'no_such'",
        ),
    )
    .expect("write UCI");
    let (out, code) = rc_procd(dir, "reload");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("keeping the previous"), "{out}");
    assert!(
        out.contains("no ipaddress section named 'no_such'"),
        "{out}"
    );
    assert_eq!(fs::read_to_string(&conf).expect("converted file"), expected);
    assert!(!dir.join("var/etc/keeplite.conf.new").exists());

    // Nor is one where keeplite would leave an item out (VRID out of range): a reload never
    // swaps the running config for one with errors.
    fs::write(
        &uci_file,
        good.replace(
            "option virtual_router_id '51'",
            "option virtual_router_id '300'",
        ),
    )
    .expect("write UCI");
    let (out, _) = rc_procd(dir, "reload");
    assert!(out.contains("keeping the previous"), "{out}");
    assert_eq!(fs::read_to_string(&conf).expect("converted file"), expected);

    // Daemon flags from globals.
    fs::write(
        &uci_file,
        good.replace(
            "option enabled '1'",
            "option enabled '1'\n\toption log_detail '1'\n\toption log_facility '3'",
        ),
    )
    .expect("write UCI");
    let (out, code) = rc_procd(dir, "start");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("append_param command -D\n"), "{out}");
    assert!(out.contains("append_param command -S 3\n"), "{out}");

    // Disabled: no instance, so procd stops a running daemon.
    fs::write(
        &uci_file,
        good.replace("option enabled '1'", "option enabled '0'"),
    )
    .expect("write UCI");
    let (out, code) = rc_procd(dir, "start");
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("open_instance"), "{out}");

    // The user's own keepalived.conf: checked, run as it is, signalled on each reload (procd
    // cannot see its includes change).
    let own = dir.join("own.conf");
    fs::write(&own, &expected).expect("write own config");
    fs::write(
        &uci_file,
        format!(
            "config globals 'globals'\n\toption alt_config_file '{}'\n",
            own.display()
        ),
    )
    .expect("write UCI");
    let (out, code) = rc_procd(dir, "reload");
    assert_eq!(code, Some(0), "{out}");
    let command = format!("set_param command {BIN} -n -f {}", own.display());
    assert!(out.lines().any(|l| l == command), "{out}");
    assert!(!out.contains("set_param file"), "{out}");
    assert!(out.contains("send_signal keeplite * HUP"), "{out}");

    // ... and one with errors is refused: the reload stops before procd is told anything.
    fs::write(
        &own,
        expected.replace("virtual_router_id 51", "virtual_router_id 300"),
    )
    .expect("write own config");
    let (out, code) = rc_procd(dir, "reload");
    assert_eq!(code, Some(1), "{out}");
    assert!(!out.contains("open_service"), "{out}");
    assert!(out.contains("reload refused"), "{out}");

    // At a first start, a config with errors in some items runs without them (keepalived
    // would), with the errors logged.
    fs::remove_file(&conf).expect("remove converted file");
    fs::write(
        &uci_file,
        good.replace(
            "option virtual_router_id '51'",
            "option virtual_router_id '300'",
        ),
    )
    .expect("write UCI");
    let (out, code) = rc_procd(dir, "start");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("open_instance"), "{out}");
    assert!(out.contains("virtual_router_id: 300"), "{out}");

    // No config at all at a first start: no instance.
    fs::remove_file(&conf).expect("remove converted file");
    fs::write(
        &uci_file,
        good.replace(
            "list virtual_ipaddress 'lan_gw'",
            "list virtual_ipaddress 'no_such'",
        ),
    )
    .expect("write UCI");
    let (out, _) = rc_procd(dir, "start");
    assert!(out.contains("start_service status 1"), "{out}");
    assert!(!out.contains("open_instance"), "{out}");
    assert!(out.contains("not starting"), "{out}");
}

#[test]
fn notify_runs_the_hotplug_scripts_with_a_clean_environment() {
    let tmp = TempDir::new("notify");
    let dump = tmp.0.join("events");
    let hotplug_call = tmp.0.join("hotplug-call");
    // Stands in for /sbin/hotplug-call: records its argument and environment, then runs the
    // package's hook the way hotplug-call does (sourced).
    fs::write(
        &hotplug_call,
        format!(
            "#!/bin/sh\n{{ echo \"args=$*\"; env | sort; echo; }} >> '{}'\n\
             logger() {{ :; }}\nKEEPLITE_STATE_DIR='{}'\n. '{}'\n",
            dump.display(),
            tmp.0.join("state").display(),
            board().join("openwrt/files/hotplug.d/10-state").display()
        ),
    )
    .expect("write stand-in");
    assert!(common::sh_ok(&[
        "chmod",
        "+x",
        &hotplug_call.to_string_lossy()
    ]));
    let notify = board().join("openwrt/files/notify");
    for args in [
        &["INSTANCE", "VI_1", "MASTER", "150"][..],
        &["GROUP", "G_EDGE", "BACKUP", "0"][..],
        &["REAL_SERVER", "web1", "DOWN"][..],
    ] {
        let out = run(Command::new(&notify)
            .args(args)
            .env("KEEPLITE_HOTPLUG_CALL", &hotplug_call)
            .env("SECRET_OF_THE_DAEMON", "1"));
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let events = fs::read_to_string(&dump).expect("events");
    let events: Vec<&str> = events.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 3, "{events:?}");
    for (event, want) in events.iter().zip([
        "ACTION=NOTIFY_MASTER NAME=VI_1 PRIORITY=150 TYPE=INSTANCE",
        "ACTION=NOTIFY_BACKUP NAME=G_EDGE PRIORITY=0 TYPE=GROUP",
        "ACTION=NOTIFY_DOWN NAME=web1 TYPE=REAL_SERVER",
    ]) {
        assert!(event.starts_with("args=keeplite\n"), "{event}");
        let vars: Vec<&str> = event
            .lines()
            .skip(1)
            .filter(|l| {
                !l.starts_with("PATH=") && !l.starts_with("PWD=") && !l.starts_with("SHLVL=")
            })
            .filter(|l| !l.starts_with('_'))
            .collect();
        assert_eq!(vars.join(" "), want, "{event}");
    }
    let state = |name: &str| fs::read_to_string(tmp.0.join("state").join(name)).unwrap_or_default();
    assert_eq!(state("INSTANCE.VI_1"), "NOTIFY_MASTER\n");
    assert_eq!(state("REAL_SERVER.web1"), "NOTIFY_DOWN\n");

    let out = run(Command::new(&notify).args(["INSTANCE", "VI_1"]));
    assert_eq!(out.status.code(), Some(2));
}

// ---------------------------------------------------------------------------------------------
// the sysvinit script

/// board/generic/keeplite.init drives a real daemon in a network namespace: start (the daemon
/// forks and writes its pid file), status, reload, a reload refused for errors, stop, and the
/// LSB status codes for a stopped daemon and a stale pid file.
#[test]
fn sysvinit_script_starts_reloads_and_stops_the_daemon() {
    let test = "sysvinit_script_starts_reloads_and_stops_the_daemon";
    if !is_root() {
        skip(test, "needs root for a network namespace");
        return;
    }
    if !common::sh_ok(&["unshare", "-n", "true"]) {
        skip(test, "`unshare -n` does not work here");
        return;
    }
    let tmp = TempDir::new("sysv");
    let dir = &tmp.0;
    let good = "vrrp_instance VI_1 {\n\tinterface eth0\n\tvirtual_router_id 7\n\tpriority 100\n\
                \tvirtual_ipaddress {\n\t\t10.9.9.9/24\n\t}\n}\n";
    fs::write(dir.join("good.conf"), good).expect("write config");
    fs::write(
        dir.join("bad.conf"),
        good.replace("virtual_router_id 7", "virtual_router_id 300"),
    )
    .expect("write config");
    // The installed paths, pointed at the test's.
    let script = fs::read_to_string(board().join("generic/keeplite.init")).expect("script");
    let pid = dir.join("keeplite.pid");
    let default = dir.join("default");
    let script = script
        .replace("DAEMON=/usr/sbin/keeplite", &format!("DAEMON={BIN}"))
        .replace(
            "PIDFILE=/run/keeplite.pid",
            &format!("PIDFILE={}", pid.display()),
        )
        .replace("/etc/default/keeplite", &default.to_string_lossy())
        .replace(
            "/etc/sysconfig/keeplite",
            &dir.join("none").to_string_lossy(),
        );
    fs::write(dir.join("init"), script).expect("write script");
    // -G: the test daemon stays out of the host's syslog.
    fs::write(
        &default,
        format!(
            "KEEPLITE_CONF={}\nKEEPLITE_OPTS=-G\n",
            dir.join("good.conf").display()
        ),
    )
    .expect("write defaults");
    let steps =
        "ip link add eth0 type veth peer name p0 && ip link set eth0 up && ip link set p0 up \
        || exit 99
        for step in status start status reload start bad-reload stop status stale-status stop; do
            case $step in
            bad-reload) sed -i 's/good.conf/bad.conf/' default; sh init reload; rc=$?
                sed -i 's/bad.conf/good.conf/' default ;;
            stale-status) echo 999999 > keeplite.pid; sh init status; rc=$? ;;
            *) sh init $step; rc=$? ;;
            esac
            echo \"=> $step $rc\"
        done";
    let out = run(Command::new("unshare")
        .args(["-n", "sh", "-c", steps])
        .current_dir(dir));
    // A daemon left behind by a failed step would outlive its namespace's shell.
    if let Ok(left) = fs::read_to_string(&pid) {
        let left = left.trim();
        let cmdline = fs::read(format!("/proc/{left}/cmdline")).unwrap_or_default();
        if text(&cmdline).contains("keeplite") {
            let _ = common::sh_ok(&["kill", "-KILL", left]);
        }
    }
    let said = text(&out.stdout) + &text(&out.stderr);
    let results: Vec<&str> = said.lines().filter(|l| l.starts_with("=> ")).collect();
    assert_eq!(
        results,
        [
            "=> status 3",
            "=> start 0",
            "=> status 0",
            "=> reload 0",
            "=> start 0",
            "=> bad-reload 1",
            "=> stop 0",
            "=> status 3",
            "=> stale-status 1",
            "=> stop 0",
        ],
        "{said}"
    );
    assert!(said.contains("keeplite is already running"), "{said}");
    assert!(said.contains("the running configuration stays"), "{said}");
}

// ---------------------------------------------------------------------------------------------
// syntax of everything shipped

/// Every shell script under board/ (by its first line or its place in hotplug.d) and the test
/// stand-ins.
fn shell_scripts() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
                continue;
            }
            let first = fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.lines().next().map(str::to_string))
                .unwrap_or_default();
            let in_hotplug = path.components().any(|c| c.as_os_str() == "hotplug.d");
            if first.starts_with("#!/bin/sh") || in_hotplug {
                out.push(path);
            }
        }
    }
    let mut scripts = Vec::new();
    walk(&board(), &mut scripts);
    scripts.push(shim());
    scripts.push(samples_dir().join("rc-procd.sh"));
    scripts.sort();
    for want in [
        "openwrt/files/uci-to-conf",
        "openwrt/files/keeplite.init",
        "openwrt/files/notify",
        "openwrt/files/hotplug.d/10-state",
        "generic/keeplite.init",
    ] {
        assert!(
            scripts.contains(&board().join(want)),
            "board/{want} not found among {scripts:?}"
        );
    }
    scripts
}

#[test]
fn shell_scripts_parse_in_every_shell() {
    let scripts = shell_scripts();
    for shell in shells() {
        for script in &scripts {
            let out = run(Command::new(&shell[0])
                .args(&shell[1..])
                .arg("-n")
                .arg(script));
            assert!(
                out.status.success(),
                "{} -n {}: {}",
                shell.join(" "),
                script.display(),
                text(&out.stderr)
            );
        }
    }
    if on_path("shellcheck") {
        // dash's dialect: POSIX plus `local`, which OpenWrt's ash has too.
        let out = run(Command::new("shellcheck")
            .args(["-s", "dash", "-S", "warning", "-e", "SC1090,SC1091"])
            .args(&scripts));
        assert!(out.status.success(), "shellcheck:\n{}", text(&out.stdout));
    } else {
        skip(
            "shell_scripts_parse_in_every_shell (shellcheck)",
            "shellcheck is not installed (apt-get install shellcheck)",
        );
    }
}

#[test]
fn board_scripts_are_executable() {
    use std::os::unix::fs::PermissionsExt;
    for script in [
        "openwrt/files/uci-to-conf",
        "openwrt/files/keeplite.init",
        "openwrt/files/notify",
        "generic/keeplite.init",
    ] {
        let mode = fs::metadata(board().join(script))
            .expect("script")
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "board/{script} is not executable");
    }
}

#[test]
fn systemd_unit_verifies() {
    if !on_path("systemd-analyze") {
        skip(
            "systemd_unit_verifies",
            "systemd-analyze is not installed (apt-get install systemd)",
        );
        return;
    }
    // systemd-analyze wants the ExecStart binary to exist: point the unit at the test build.
    let tmp = TempDir::new("systemd");
    let unit = fs::read_to_string(board().join("generic/keeplite.service")).expect("unit");
    let path = tmp.0.join("keeplite.service");
    fs::write(&path, unit.replace("/usr/sbin/keeplite", BIN)).expect("write unit");
    let out = run(Command::new("systemd-analyze").arg("verify").arg(&path));
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );
    assert!(unit.contains("ExecStart=/usr/sbin/keeplite -n "), "{unit}");
    loud("systemd-analyze verify: keeplite.service is clean");
}
