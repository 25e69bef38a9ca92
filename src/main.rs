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
  keeplite [-f FILE] [-n] [-l] [-D] [-p PIDFILE] [-P | -C] [-V] [-I]
                                      run the daemon (keepalived's flags)
  keeplite --version | --help

Options:
  -f, --use-file FILE   config file (default /etc/keepalived/keepalived.conf); text or binary
  -o, --output OUT      output file for `compile`
  -q, --quiet           `check`: print only errors and warnings
  -n, --dont-fork       stay in the foreground (keeplite always does, for now)
  -l, --log-console     log to stderr (the default)
  -D, --log-detail      log packet drops and actions in detail
  -p, --pid FILE        write the pid to FILE
  -P, --vrrp            run only the VRRP side
  -C, --check           run only the health checkers and IPVS
                        (without -P or -C: VRRP if the config has instances, else the checkers;
                        until the watchdog process lands, run `-C` as a second process for both)
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
            "check" | "compile" | "dump" | "genhash" if first => {
                args.command = match word.as_str() {
                    "check" => Command::Check,
                    "compile" => Command::Compile,
                    "genhash" => Command::Genhash,
                    _ => Command::Dump,
                };
            }
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
            "-n" | "--dont-fork" | "-l" | "--log-console" => {}
            "-P" | "--vrrp" => args.vrrp_only = true,
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
        Command::Run | Command::Genhash => ExitCode::SUCCESS,
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
    let level = if args.daemon.detailed_log {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    let _ = simple_logger::SimpleLogger::new().with_level(level).init();
    if report(&loaded) == Verdict::Unusable {
        eprintln!("keeplite: {}: configuration unusable", args.file.display());
        return ExitCode::from(3);
    }
    let config = loaded.config;
    let checker = args.checker_only
        || (!args.vrrp_only && config.instances.is_empty() && !config.virtual_servers.is_empty());
    if !checker && !args.vrrp_only && !config.virtual_servers.is_empty() {
        log::warn!(
            "the config has virtual servers: run `keeplite -C` as a second process for them (one process runs both once the watchdog lands)"
        );
    }
    let result = if checker {
        keeplite::daemon::check::run(config, args.daemon)
    } else {
        keeplite::daemon::vrrp::run(config, args.daemon)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
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
