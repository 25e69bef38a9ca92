//! keeplite's command line: keepalived's flags plus `check`, `compile` and `dump`.

use keeplite::config::{self, binary, Loaded, Verdict};
use std::path::PathBuf;
use std::process::ExitCode;

const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

const HELP: &str = "\
keeplite: keepalived-compatible VRRP + IPVS + health-check daemon for small routers

Usage:
  keeplite check   [-f FILE] [-q]     check a config (text or binary); exit 0 valid,
                                      4 errors but runnable, 3 unusable
  keeplite -t      [-f FILE]          the same, keepalived's spelling
  keeplite compile [-f FILE] -o OUT   write the compact binary config
  keeplite dump    [-f FILE]          print the normalized config as keepalived.conf text
  keeplite genhash URL [--virtualhost HOST]
                                      print the MD5 digest of a page, for HTTP_GET `digest`
  keeplite [-f FILE] [-n] [-l] [-D] [-S N | -G] [-p PIDFILE] [-r PIDFILE] [-c PIDFILE]
           [-P | -C] [-R] [-V] [-I] [--control SOCKET]
                                      run the daemon (keepalived's flags)
  keeplite status [--json] [--control SOCKET]
                                      state of a running daemon: instances, real servers,
                                      children
  keeplite reload | stop [--control SOCKET]
                                      reload the config (like SIGHUP) / stop (like SIGTERM)
  keeplite --version | --help

Options:
  -f, --use-file FILE   config file (default /etc/keepalived/keepalived.conf); text or binary
  -o, --output OUT      output file for `compile`
  -q, --quiet           `check`: print only errors and warnings
  -n, --dont-fork       stay in the foreground (default: detach and run as a daemon)
  -l, --log-console     log to stderr
  -D, --log-detail      log packet drops and actions in detail
  -S, --log-facility N  syslog facility LOG_LOCALN (0-7; default LOG_DAEMON)
  -G, --no-syslog       do not log to syslog (/dev/log)
  -p, --pid FILE        write the watchdog's pid to FILE
  -r, --vrrp_pid FILE   write the VRRP child's pid to FILE
  -c, --checkers_pid FILE
                        write the checker child's pid to FILE
  -P, --vrrp            run only the VRRP child
  -C, --check           run only the checker child (health checks and IPVS)
                        (without -P or -C: each child the config has a use for)
  -R, --dont-respawn    a child that dies stops the daemon instead of being restarted
      --control SOCKET  the control socket (default /var/run/keeplite.sock)
      --json            `status`: print JSON
  -V, --dont-release-vrrp
                        leave VIPs and routes in place on exit
  -I, --dont-release-ipvs
                        leave IPVS services in place on exit
";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Command {
    Check,
    Compile,
    Dump,
    Run,
    Genhash,
    Control(keeplite::daemon::control::Request),
}

struct Args {
    command: Command,
    file: PathBuf,
    output: Option<PathBuf>,
    quiet: bool,
    daemon: keeplite::daemon::Options,
    checker_only: bool,
    vrrp_only: bool,
    url: Option<String>,
    virtualhost: Option<String>,
    foreground: bool,
    log_console: bool,
    syslog: Option<keeplite::sys::syslog::Facility>,
    no_respawn: bool,
    vrrp_pid: Option<PathBuf>,
    check_pid: Option<PathBuf>,
    control: PathBuf,
    json: bool,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&argv) {
        Ok(Some(args)) => run(args),
        Ok(None) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keeplite: {message}\nTry `keeplite --help`.");
            ExitCode::from(2)
        }
    }
}

/// `Ok(None)` when the arguments asked for help or the version, already printed.
fn parse_args(argv: &[String]) -> Result<Option<Args>, String> {
    let mut args = Args {
        command: Command::Run,
        file: PathBuf::from(DEFAULT_CONFIG),
        output: None,
        quiet: false,
        daemon: Default::default(),
        checker_only: false,
        vrrp_only: false,
        url: None,
        virtualhost: None,
        foreground: false,
        log_console: false,
        syslog: Some(keeplite::sys::syslog::Facility::DAEMON),
        no_respawn: false,
        vrrp_pid: None,
        check_pid: None,
        control: PathBuf::from(keeplite::daemon::control::DEFAULT_PATH),
        json: false,
    };
    let mut words = argv.iter();
    let mut first = true;
    while let Some(word) = words.next() {
        let mut value = |name: &str| {
            words
                .next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match word.as_str() {
            "check" | "compile" | "dump" | "genhash" | "status" | "reload" | "stop" if first => {
                use keeplite::daemon::control::Request;
                args.command = match word.as_str() {
                    "check" => Command::Check,
                    "compile" => Command::Compile,
                    "genhash" => Command::Genhash,
                    "status" => Command::Control(Request::Status),
                    "reload" => Command::Control(Request::Reload),
                    "stop" => Command::Control(Request::Stop),
                    _ => Command::Dump,
                };
            }
            "--json" => args.json = true,
            "--control" => args.control = PathBuf::from(value(word)?),
            "--virtualhost" => args.virtualhost = Some(value(word)?),
            w if args.command == Command::Genhash && !w.starts_with('-') && args.url.is_none() => {
                args.url = Some(w.to_string())
            }
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(None);
            }
            "-v" | "--version" | "-V" if word != "-V" || first => {
                println!("keeplite {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            "-t" | "--config-test" => args.command = Command::Check,
            "-f" | "--use-file" => args.file = PathBuf::from(value(word)?),
            "-o" | "--output" => args.output = Some(PathBuf::from(value(word)?)),
            "-q" | "--quiet" => args.quiet = true,
            "-n" | "--dont-fork" => args.foreground = true,
            "-l" | "--log-console" => args.log_console = true,
            "-G" | "--no-syslog" => args.syslog = None,
            "-S" | "--log-facility" => {
                let n = value(word)?;
                args.syslog = Some(
                    n.parse()
                        .ok()
                        .and_then(keeplite::sys::syslog::Facility::local)
                        .ok_or_else(|| format!("-S needs a facility number 0-7, not `{n}`"))?,
                );
            }
            "-R" | "--dont-respawn" => args.no_respawn = true,
            "-r" | "--vrrp_pid" => args.vrrp_pid = Some(PathBuf::from(value(word)?)),
            "-c" | "--checkers_pid" => args.check_pid = Some(PathBuf::from(value(word)?)),
            "-P" | "--vrrp" => {
                args.vrrp_only = true;
                args.daemon.vrrp_only = true;
            }
            "-I" | "--dont-release-ipvs" => args.daemon.dont_release_ipvs = true,
            "-D" | "--log-detail" => args.daemon.detailed_log = true,
            "-p" | "--pid" => args.daemon.pid_file = Some(PathBuf::from(value(word)?)),
            "-V" | "--dont-release-vrrp" => args.daemon.dont_release_vrrp = true,
            "-C" | "--check" => args.checker_only = true,
            w if w.starts_with("--use-file=") => {
                args.file = PathBuf::from(&w["--use-file=".len()..])
            }
            w if w.starts_with("-f") && w.len() > 2 => args.file = PathBuf::from(&w[2..]),
            w => return Err(format!("unknown argument `{w}`")),
        }
        first = false;
    }
    if args.command == Command::Genhash && args.url.is_none() {
        return Err("genhash needs a URL (http://host[:port]/path)".into());
    }
    if args.command == Command::Compile && args.output.is_none() {
        return Err("compile needs -o OUT".into());
    }
    Ok(Some(args))
}

fn run(args: Args) -> ExitCode {
    if args.command == Command::Genhash {
        return genhash(&args);
    }
    if let Command::Control(request) = args.command {
        return control(&args, request);
    }
    let loaded = config::load(&args.file);
    if args.command == Command::Run {
        return run_daemon(args, loaded);
    }
    let verdict = report(&loaded);
    let code = ExitCode::from(verdict as u8);
    match args.command {
        Command::Check => {
            if !args.quiet && verdict != Verdict::Unusable {
                let c = &loaded.config;
                let real_servers: usize =
                    c.virtual_servers.iter().map(|v| v.real_servers.len()).sum();
                println!(
                    "{}: {} vrrp_instance, {} vrrp_sync_group, {} vrrp_script, {} virtual_server ({} real_server){}",
                    args.file.display(),
                    c.instances.len(),
                    c.sync_groups.len(),
                    c.scripts.len(),
                    c.virtual_servers.len(),
                    real_servers,
                    match verdict {
                        Verdict::Valid => "",
                        _ => "; errors above: those items are left out",
                    }
                );
            }
            // The process ends here: let the OS reclaim the model at once instead of freeing
            // it node by node (a large config has tens of thousands of allocations).
            std::mem::forget(loaded);
            code
        }
        Command::Dump => {
            if verdict != Verdict::Unusable {
                print!("{}", config::dump(&loaded.config));
            }
            std::mem::forget(loaded);
            code
        }
        Command::Compile => {
            if verdict != Verdict::Valid {
                eprintln!("keeplite: not compiled: fix the errors above first");
                return code;
            }
            let out = args.output.expect("checked in parse_args");
            let bytes = binary::encode(&loaded.config);
            match write_atomically(&out, &bytes) {
                Ok(()) => {
                    if let Ok(text) = std::fs::metadata(&args.file) {
                        eprintln!(
                            "keeplite: wrote {} ({} bytes, from {} bytes)",
                            out.display(),
                            bytes.len(),
                            text.len()
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("keeplite: cannot write {}: {e}", out.display());
                    ExitCode::from(1)
                }
            }
        }
        Command::Run | Command::Genhash | Command::Control(_) => ExitCode::SUCCESS,
    }
}

fn genhash(args: &Args) -> ExitCode {
    use keeplite::check::genhash::{fetch_url, GenhashOptions};
    let url = args.url.as_deref().unwrap_or_default();
    let options = GenhashOptions {
        virtualhost: args.virtualhost.clone(),
        http_protocol: None,
        timeout: keeplite::time::Micros::from_secs(10),
        bindto: None,
    };
    match fetch_url(url, &options) {
        Ok(fetched) => {
            let hex = keeplite::check::md5::to_hex(&fetched.digest);
            println!("MD5SUM = {}", String::from_utf8_lossy(&hex));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keeplite genhash: {url}: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_daemon(args: Args, loaded: Loaded) -> ExitCode {
    use keeplite::daemon::{log as daemon_log, watchdog};
    // Config errors are reported on the terminal, before detaching.
    if report(&loaded) == Verdict::Unusable {
        eprintln!("keeplite: {}: configuration unusable", args.file.display());
        return ExitCode::from(3);
    }
    let config = loaded.config;
    if watchdog::roles_for(&config, args.vrrp_only, args.checker_only).is_empty() {
        eprintln!(
            "keeplite: {}: neither vrrp_instance nor virtual_server: nothing to run",
            args.file.display()
        );
        return ExitCode::from(3);
    }
    if !args.foreground {
        if let Err(e) = keeplite::sys::process::daemonize(args.log_console) {
            eprintln!("keeplite: cannot detach: {e}");
            return ExitCode::from(1);
        }
    }
    daemon_log::init(daemon_log::LogTargets {
        console: args.log_console,
        syslog: args.syslog,
        level: if args.daemon.detailed_log {
            log::LevelFilter::Debug
        } else {
            log::LevelFilter::Info
        },
    });
    // The pid file is written after detaching, so that it holds the daemon's pid.
    let _pid = match keeplite::daemon::PidFile::create(args.daemon.pid_file.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            log::error!("pid file: {e}");
            return ExitCode::from(1);
        }
    };
    let wd = watchdog::WatchdogOptions {
        config_path: args.file.clone(),
        vrrp_only: args.vrrp_only,
        check_only: args.checker_only,
        no_respawn: args.no_respawn,
        vrrp_pid_file: args.vrrp_pid.clone(),
        check_pid_file: args.check_pid.clone(),
        control: Some(args.control.clone()),
    };
    let code = watchdog::run(config, args.daemon, wd, keeplite::daemon::child::child_main);
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn control(args: &Args, request: keeplite::daemon::control::Request) -> ExitCode {
    use keeplite::daemon::control::{self, Reply};
    match control::request(&args.control, request) {
        Ok(Reply::Status(report)) => {
            if args.json {
                print!("{}", control::render_json(&report));
            } else {
                print!("{}", control::render_text(&report));
            }
            ExitCode::SUCCESS
        }
        Ok(Reply::Done(message)) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Ok(Reply::Failed(message)) => {
            eprintln!("keeplite: {message}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("keeplite: cannot reach the daemon: {e}");
            ExitCode::from(1)
        }
    }
}

/// Prints every diagnostic on stderr as `FILE:LINE:COL: error: message`.
fn report(loaded: &Loaded) -> Verdict {
    let d = &loaded.diagnostics;
    for item in &d.items {
        eprintln!("{}", d.render(item));
    }
    d.verdict()
}

/// A half-written binary config must never be what the router boots with.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
