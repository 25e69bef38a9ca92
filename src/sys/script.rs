//! Running keepalived's scripts (notify, vrrp_script, MISC_CHECK; keepalived.conf(5) "SCRIPTS"):
//! word splitting, `/bin/sh -c` only when the text needs a shell, `script_user` from /etc/passwd
//! and /etc/group (no NSS in a static musl binary), `enable_script_security` checks, and
//! non-blocking children with a deadline, reaped with waitpid(WNOHANG) on SIGCHLD.
//!
//! A child runs in its own process group (so a timeout kills the script and everything it
//! started), with stdin/stdout/stderr on /dev/null, an environment of only `PATH`, and
//! PR_SET_PDEATHSIG = SIGTERM as keepalived does. The death signal follows the *thread* that
//! spawned the child: spawn from the event loop's long-lived thread, not from a short one.

use crate::config::model::RunAs;
use crate::time::{Instant, Micros};
use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The only environment scripts get (keepalived also runs scripts with a fixed PATH).
pub const SCRIPT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
/// The shell for commands that need one.
pub const SHELL: &str = "/bin/sh";
/// The user keepalived runs scripts as when `script_user` is not set and this user exists.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// Characters that make a command need `/bin/sh -c`: pipes, lists, redirections, expansions,
/// globs, escapes and newlines. Any of them anywhere sends the whole text to the shell, which
/// then reads quotes the shell's way.
const SHELL_CHARS: &[char] = &[
    '|', '&', ';', '<', '>', '$', '`', '(', ')', '*', '?', '[', ']', '~', '\\', '\n',
];

#[derive(Debug)]
pub enum ScriptError {
    EmptyCommand,
    UnterminatedQuote {
        command: String,
    },
    UnknownUser {
        user: String,
    },
    UnknownGroup {
        group: String,
    },
    /// A bare program name not found as an executable file in `SCRIPT_PATH`.
    NotFound {
        program: String,
    },
    /// `enable_script_security`: this file or directory lets a non-root user change the script.
    Insecure {
        path: PathBuf,
        reason: String,
    },
    Stat {
        path: PathBuf,
        error: io::Error,
    },
    Spawn {
        program: String,
        error: io::Error,
    },
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptError::EmptyCommand => write!(f, "empty script command"),
            ScriptError::UnterminatedQuote { command } => {
                write!(f, "unterminated quote in script command `{command}`")
            }
            ScriptError::UnknownUser { user } => {
                write!(f, "script user `{user}` not in /etc/passwd")
            }
            ScriptError::UnknownGroup { group } => {
                write!(f, "script group `{group}` not in /etc/group")
            }
            ScriptError::NotFound { program } => {
                write!(f, "script `{program}` not found in {SCRIPT_PATH}")
            }
            ScriptError::Insecure { path, reason } => write!(
                f,
                "unsafe script: {} {reason} (enable_script_security)",
                path.display()
            ),
            ScriptError::Stat { path, error } => write!(f, "{}: {error}", path.display()),
            ScriptError::Spawn { program, error } => write!(f, "running {program}: {error}"),
        }
    }
}

impl std::error::Error for ScriptError {}

/// How a command string is run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Argv {
    /// exec'd directly: program and its arguments.
    Words(Vec<String>),
    /// Run as `/bin/sh -c TEXT`.
    Shell(String),
}

/// True when `command` has shell syntax (see `SHELL_CHARS`) or starts with a variable
/// assignment (`NAME=value cmd`).
pub fn needs_shell(command: &str) -> bool {
    if command.contains(SHELL_CHARS) {
        return true;
    }
    let first = command.split_whitespace().next().unwrap_or("");
    match first.find('=') {
        Some(eq) => {
            let name = &first[..eq];
            !name.is_empty() && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// Splits a command the way keepalived does: words separated by whitespace; single or double
/// quotes group characters (whitespace included) into a word and are removed; quoted and
/// unquoted parts next to each other join into one word.
pub fn split_words(command: &str) -> Result<Vec<String>, ScriptError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(ScriptError::UnterminatedQuote {
            command: command.to_string(),
        });
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Decides between exec and shell for `command`.
pub fn parse_command(command: &str) -> Result<Argv, ScriptError> {
    if command.trim().is_empty() {
        return Err(ScriptError::EmptyCommand);
    }
    if needs_shell(command) {
        return Ok(Argv::Shell(command.to_string()));
    }
    let words = split_words(command)?;
    if words.first().is_none_or(|w| w.is_empty()) {
        return Err(ScriptError::EmptyCommand);
    }
    Ok(Argv::Words(words))
}

/// The user and group a script runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
}

impl Credentials {
    pub const ROOT: Credentials = Credentials { uid: 0, gid: 0 };

    /// The daemon's own effective user and group.
    pub fn current() -> Credentials {
        Credentials {
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
        }
    }
}

/// /etc/passwd and /etc/group, read once when the config is loaded.
#[derive(Clone, Debug, Default)]
pub struct UserDb {
    passwd: String,
    group: String,
}

impl UserDb {
    /// Reads /etc/passwd and /etc/group; a missing file reads as empty (numeric ids still work).
    pub fn load() -> io::Result<UserDb> {
        Ok(UserDb {
            passwd: read_or_empty(Path::new("/etc/passwd"))?,
            group: read_or_empty(Path::new("/etc/group"))?,
        })
    }

    pub fn from_text(passwd: &str, group: &str) -> UserDb {
        UserDb {
            passwd: passwd.to_string(),
            group: group.to_string(),
        }
    }

    /// `name`'s uid and primary gid; a number that names no user is taken as a uid (with the
    /// primary gid of the entry having that uid, if any, else the same number).
    pub fn user(&self, name: &str) -> Option<Credentials> {
        let entries = || {
            self.passwd.lines().filter_map(|line| {
                // name:password:uid:gid:gecos:home:shell
                let mut f = line.split(':');
                let user = f.next()?;
                let _password = f.next()?;
                let uid = f.next()?.parse::<u32>().ok()?;
                let gid = f.next()?.parse::<u32>().ok()?;
                Some((user, Credentials { uid, gid }))
            })
        };
        if let Some((_, c)) = entries().find(|(user, _)| *user == name) {
            return Some(c);
        }
        let uid = name.parse::<u32>().ok()?;
        let gid = entries()
            .find(|(_, c)| c.uid == uid)
            .map_or(uid, |(_, c)| c.gid);
        Some(Credentials { uid, gid })
    }

    /// `name`'s gid; a number that names no group is taken as the gid.
    pub fn group(&self, name: &str) -> Option<u32> {
        let by_name = self.group.lines().find_map(|line| {
            // name:password:gid:members
            let mut f = line.split(':');
            let group = f.next()?;
            let _password = f.next()?;
            let gid = f.next()?.parse::<u32>().ok()?;
            (group == name).then_some(gid)
        });
        by_name.or_else(|| name.parse::<u32>().ok())
    }

    pub fn resolve(&self, run_as: &RunAs) -> Result<Credentials, ScriptError> {
        let mut creds = self
            .user(&run_as.user)
            .ok_or_else(|| ScriptError::UnknownUser {
                user: run_as.user.clone(),
            })?;
        if let Some(group) = &run_as.group {
            creds.gid = self.group(group).ok_or_else(|| ScriptError::UnknownGroup {
                group: group.clone(),
            })?;
        }
        Ok(creds)
    }

    /// Who runs a script: its own `user`, else global `script_user`, else `keepalived_script` if
    /// that user exists, else root (keepalived.conf(5) "SCRIPTS").
    pub fn script_credentials(
        &self,
        own: Option<&RunAs>,
        global: Option<&RunAs>,
    ) -> Result<Credentials, ScriptError> {
        match own.or(global) {
            Some(run_as) => self.resolve(run_as),
            None => Ok(self.user(DEFAULT_SCRIPT_USER).unwrap_or(Credentials::ROOT)),
        }
    }
}

fn read_or_empty(path: &Path) -> io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e),
    }
}

/// The executable file a program name stands for: names with a `/` as they are, bare names
/// searched in `search_path` (colon-separated) for an executable regular file.
pub fn resolve_executable(program: &str, search_path: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    search_path
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
}

/// `enable_script_security`: refuses `executable` when a user other than root (or `run_as`,
/// the user the script runs as) could change what runs: the file, or any directory on its path
/// (as written and with symlinks resolved), is owned by another user, group-writable with a
/// non-root group, or world-writable. A world- or group-writable directory with the sticky bit
/// (like /tmp) is accepted: others cannot rename or remove the entries in it that root owns, and
/// each entry's owner is checked on its own.
pub fn check_script_security(executable: &Path, run_as: Credentials) -> Result<(), ScriptError> {
    let canonical = std::fs::canonicalize(executable).map_err(|error| ScriptError::Stat {
        path: executable.to_path_buf(),
        error,
    })?;
    // Directories where the name is looked up, following symlinks (as the kernel does), both
    // along the path as written and along the resolved one.
    for path in [executable, canonical.as_path()] {
        for dir in path.ancestors().skip(1) {
            if dir.as_os_str().is_empty() {
                continue;
            }
            check_entry(dir, run_as)?;
        }
    }
    check_entry(&canonical, run_as)
}

fn check_entry(path: &Path, run_as: Credentials) -> Result<(), ScriptError> {
    let meta = std::fs::metadata(path).map_err(|error| ScriptError::Stat {
        path: path.to_path_buf(),
        error,
    })?;
    let mode = meta.mode();
    let sticky_dir = meta.is_dir() && mode & 0o1000 != 0;
    let insecure = |reason: String| ScriptError::Insecure {
        path: path.to_path_buf(),
        reason,
    };
    if meta.uid() != 0 && meta.uid() != run_as.uid {
        return Err(insecure(format!("is owned by uid {}", meta.uid())));
    }
    if mode & 0o020 != 0 && meta.gid() != 0 && !sticky_dir {
        return Err(insecure(format!("is writable by group {}", meta.gid())));
    }
    if mode & 0o002 != 0 && !sticky_dir {
        return Err(insecure("is world-writable".to_string()));
    }
    Ok(())
}

/// What keepalived's generic `notify` script is told about (its first argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyKind {
    Instance,
    Group,
}

impl NotifyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyKind::Instance => "INSTANCE",
            NotifyKind::Group => "GROUP",
        }
    }
}

/// A command ready to run: split, resolved, checked, with its credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    argv: Argv,
    /// What is exec'd: the resolved program, or /bin/sh.
    program: PathBuf,
    run_as: Credentials,
}

impl Script {
    /// Prepares `command` (the text of a `script`/`notify*`/`misc_path`) to run as `run_as`.
    /// With `security` (enable_script_security) a bare program name must be found in
    /// `SCRIPT_PATH`, and the program (for shell commands: /bin/sh, and the first word when it
    /// is an absolute path) must pass `check_script_security`.
    pub fn prepare(
        command: &str,
        run_as: Credentials,
        security: bool,
    ) -> Result<Script, ScriptError> {
        let argv = parse_command(command)?;
        let (program, checked_too) = match &argv {
            Argv::Words(words) => {
                let Some(name) = words.first() else {
                    return Err(ScriptError::EmptyCommand);
                };
                let program = match resolve_executable(name, SCRIPT_PATH) {
                    Some(path) => path,
                    None if security => {
                        return Err(ScriptError::NotFound {
                            program: name.clone(),
                        })
                    }
                    // Left for exec to search (and report) at run time.
                    None => PathBuf::from(name),
                };
                (program, None)
            }
            Argv::Shell(text) => {
                let first = text
                    .split_whitespace()
                    .next()
                    .filter(|w| w.starts_with('/') && !w.contains(SHELL_CHARS))
                    .filter(|w| !w.contains(['\'', '"']))
                    .map(PathBuf::from);
                (PathBuf::from(SHELL), first)
            }
        };
        if security {
            check_script_security(&program, run_as)?;
            if let Some(path) = checked_too {
                check_script_security(&path, run_as)?;
            }
        }
        Ok(Script {
            argv,
            program,
            run_as,
        })
    }

    pub fn argv(&self) -> &Argv {
        &self.argv
    }

    /// The file exec'd: the resolved program, or /bin/sh for shell commands.
    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn run_as(&self) -> Credentials {
        self.run_as
    }

    /// Starts the script with `extra_args` after its own words (for a shell command they are
    /// the positional parameters, appended as `"$@"`). With `timeout`, `Child::try_reap` kills
    /// the process group once `now + timeout` has passed.
    pub fn spawn(
        &self,
        extra_args: &[&str],
        now: Instant,
        timeout: Option<Micros>,
    ) -> Result<Child, ScriptError> {
        let mut cmd = std::process::Command::new(&self.program);
        match &self.argv {
            Argv::Words(words) => {
                cmd.args(words.get(1..).unwrap_or(&[])).args(extra_args);
            }
            Argv::Shell(text) if extra_args.is_empty() => {
                cmd.arg("-c").arg(text);
            }
            Argv::Shell(text) => {
                cmd.arg("-c")
                    .arg(format!("{text} \"$@\""))
                    .arg("sh")
                    .args(extra_args);
            }
        }
        cmd.env_clear()
            .env("PATH", SCRIPT_PATH)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if self.run_as != Credentials::current() {
            // std calls setgroups(0) before setgid/setuid when the daemon is root.
            cmd.gid(self.run_as.gid).uid(self.run_as.uid);
        }
        // SAFETY: the hook runs in the forked child before exec; prctl is async-signal-safe,
        // and the closure neither allocates nor touches locks (rustix's error is a plain
        // errno, io::Error::from it is the no-allocation Os variant).
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::TERM,
                ))
                .map_err(io::Error::from)
            });
        }
        let child = cmd.spawn().map_err(|error| ScriptError::Spawn {
            program: self.program.display().to_string(),
            error,
        })?;
        Ok(Child {
            inner: child,
            deadline: timeout.map(|t| now + t),
            timed_out: false,
        })
    }

    /// Starts keepalived's generic `notify` script: its words, then `TYPE NAME STATE PRIORITY`
    /// (e.g. `INSTANCE VI_1 MASTER 150`).
    pub fn spawn_notify(
        &self,
        kind: NotifyKind,
        name: &str,
        state: &str,
        priority: u8,
        now: Instant,
        timeout: Option<Micros>,
    ) -> Result<Child, ScriptError> {
        let priority = priority.to_string();
        self.spawn(&[kind.as_str(), name, state, &priority], now, timeout)
    }
}

/// How a script ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// exit(code).
    Exited(i32),
    /// Killed by this signal (not by our timeout).
    Signaled(i32),
    /// Overran its timeout and its process group was sent SIGKILL.
    TimedOut,
}

/// A running script. Call `try_reap` on every SIGCHLD (signals coalesce: try every child) and
/// when `deadline()` passes; a child dropped unreaped stays a zombie until the daemon exits.
#[derive(Debug)]
pub struct Child {
    inner: std::process::Child,
    deadline: Option<Instant>,
    timed_out: bool,
}

impl Child {
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// When the script must be done; `None` without a timeout or once it has been killed. For
    /// the event loop's earliest-deadline computation.
    pub fn deadline(&self) -> Option<Instant> {
        if self.timed_out {
            None
        } else {
            self.deadline
        }
    }

    /// Collects the exit status if the script has ended (waitpid WNOHANG); otherwise kills its
    /// process group when `now` is past the deadline and returns `Ok(None)` — the kill's SIGCHLD
    /// then brings the `TimedOut` outcome on a later call.
    pub fn try_reap(&mut self, now: Instant) -> io::Result<Option<Outcome>> {
        if let Some(status) = self.inner.try_wait()? {
            let outcome = match (status.code(), status.signal()) {
                (_, Some(libc::SIGKILL)) if self.timed_out => Outcome::TimedOut,
                (Some(code), _) => Outcome::Exited(code),
                (None, Some(signal)) => Outcome::Signaled(signal),
                // Neither exited nor signalled is not a final status from waitpid(2).
                (None, None) => Outcome::Signaled(0),
            };
            return Ok(Some(outcome));
        }
        if !self.timed_out && self.deadline.is_some_and(|d| now >= d) {
            self.timed_out = true;
            self.kill_group()?;
        }
        Ok(None)
    }

    /// SIGKILL to the script's process group (it leads its own group).
    pub fn kill_group(&mut self) -> io::Result<()> {
        self.signal_group(rustix::process::Signal::KILL)
    }

    /// SIGTERM to the script's process group, as keepalived ends its scripts (FIFO readers
    /// among them) on reload and stop; one still there `grace` after `now` is SIGKILLed by
    /// [`Child::try_reap`] at that deadline (keepalived waits a second).
    pub fn terminate_group(&mut self, now: Instant, grace: Micros) -> io::Result<()> {
        let kill_at = now + grace;
        if !self.timed_out && self.deadline.is_none_or(|d| d > kill_at) {
            self.deadline = Some(kill_at);
        }
        self.signal_group(rustix::process::Signal::TERM)
    }

    fn signal_group(&mut self, signal: rustix::process::Signal) -> io::Result<()> {
        let Some(pid) = i32::try_from(self.inner.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad child pid"));
        };
        // The unreaped group leader keeps its pid, so the group id cannot have been reused.
        match rustix::process::kill_process_group(pid, signal) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Opens a notify FIFO for writing as keepalived's fifo_open does: made if missing (mode 0600),
/// then opened read-write (so the open succeeds before any reader exists, and a reader that
/// goes away raises no EPIPE), non-blocking, and never through a symlink (O_NOFOLLOW: a link
/// planted at the path is refused). Returns the file and whether this call made the FIFO (its
/// maker removes it again). The VRRP and checker children open a shared `notify_fifo` at the
/// same time: the one whose mknod finds it made (EEXIST) uses it. A path that is not a FIFO is
/// refused, checked on the opened file so a swap after mknod cannot slip through.
pub fn open_fifo_writer(path: &Path) -> io::Result<(std::fs::File, bool)> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let made = match rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    ) {
        Ok(()) => true,
        Err(rustix::io::Errno::EXIST) => false,
        Err(e) => return Err(e.into()),
    };
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .and_then(|file| match file.metadata() {
            Ok(meta) if meta.file_type().is_fifo() => Ok(file),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "exists and is not a FIFO",
            )),
            Err(e) => Err(e),
        });
    match opened {
        Ok(file) => Ok((file, made)),
        Err(e) => {
            if made {
                let _ = std::fs::remove_file(path);
            }
            if e.raw_os_error() == Some(libc::ELOOP) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "is a symbolic link (refused, as keepalived does)",
                ));
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn splits_plain_words() {
        let w = split_words("  /usr/bin/ping -c1   -W1 8.8.8.8 ").expect("split");
        assert_eq!(w, ["/usr/bin/ping", "-c1", "-W1", "8.8.8.8"]);
    }

    #[test]
    fn quotes_group_words() {
        let w = split_words(r#"/bin/notify 'a b' "c  d" e'f g'h """#).expect("split");
        assert_eq!(w, ["/bin/notify", "a b", "c  d", "ef gh", ""]);
        let w = split_words(r#"x "it's" 'say "hi"'"#).expect("split");
        assert_eq!(w, ["x", "it's", "say \"hi\""]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert!(matches!(
            split_words("/bin/x 'oops"),
            Err(ScriptError::UnterminatedQuote { .. })
        ));
        assert!(parse_command("/bin/x \"oops").is_err());
    }

    #[test]
    fn shell_detection() {
        for cmd in [
            "a | b",
            "a && b",
            "a; b",
            "a > /tmp/x",
            "a < in",
            "echo $HOME",
            "echo `id`",
            "(a)",
            "ls *.conf",
            "ls ?",
            "ls [ab]",
            "ls ~",
            "echo a\\ b",
            "a\nb",
            "FOO=1 /bin/x",
        ] {
            assert!(needs_shell(cmd), "{cmd:?} needs a shell");
        }
        for cmd in [
            "/etc/keepalived/notify.sh lan",
            "/bin/x --opt=value",
            "/usr/bin/pgrep -x dnsmasq",
            "/bin/x 'a b'",
        ] {
            assert!(!needs_shell(cmd), "{cmd:?} needs no shell");
        }
    }

    #[test]
    fn parse_command_picks_exec_or_shell() {
        assert_eq!(
            parse_command("/bin/x a 'b c'").expect("parse"),
            Argv::Words(vec!["/bin/x".into(), "a".into(), "b c".into()])
        );
        assert_eq!(
            parse_command("/bin/x | y").expect("parse"),
            Argv::Shell("/bin/x | y".into())
        );
        assert!(matches!(
            parse_command("   "),
            Err(ScriptError::EmptyCommand)
        ));
        assert!(matches!(
            parse_command("''"),
            Err(ScriptError::EmptyCommand)
        ));
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        keepalived_script:x:998:997::/nonexistent:/usr/sbin/nologin\n\
        broken line\n\
        bad:x:notanumber:1::/:/bin/false\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nkeepalived:x:997:alice,bob\n";

    #[test]
    fn passwd_and_group_lookup() {
        let db = UserDb::from_text(PASSWD, GROUP);
        assert_eq!(db.user("root"), Some(Credentials::ROOT));
        assert_eq!(db.user("daemon"), Some(Credentials { uid: 1, gid: 1 }));
        assert_eq!(db.user("nobody"), None);
        assert_eq!(db.user("bad"), None);
        assert_eq!(db.user("1"), Some(Credentials { uid: 1, gid: 1 }));
        assert_eq!(
            db.user("4242"),
            Some(Credentials {
                uid: 4242,
                gid: 4242
            })
        );
        assert_eq!(db.group("nogroup"), Some(65534));
        assert_eq!(db.group("keepalived"), Some(997));
        assert_eq!(db.group("wheel"), None);
        assert_eq!(db.group("12"), Some(12));
    }

    #[test]
    fn run_as_resolution_and_defaults() {
        let db = UserDb::from_text(PASSWD, GROUP);
        let daemon = RunAs {
            user: "daemon".into(),
            group: Some("nogroup".into()),
        };
        assert_eq!(
            db.resolve(&daemon).expect("known"),
            Credentials { uid: 1, gid: 65534 }
        );
        let unknown = RunAs {
            user: "ghost".into(),
            group: None,
        };
        assert!(matches!(
            db.resolve(&unknown),
            Err(ScriptError::UnknownUser { .. })
        ));
        let bad_group = RunAs {
            user: "root".into(),
            group: Some("wheel".into()),
        };
        assert!(matches!(
            db.resolve(&bad_group),
            Err(ScriptError::UnknownGroup { .. })
        ));
        // Own user wins over the global one; with neither, keepalived_script if it exists.
        let root = RunAs {
            user: "root".into(),
            group: None,
        };
        assert_eq!(
            db.script_credentials(Some(&daemon), Some(&root))
                .expect("ok"),
            Credentials { uid: 1, gid: 65534 }
        );
        assert_eq!(
            db.script_credentials(None, Some(&root)).expect("ok"),
            Credentials::ROOT
        );
        assert_eq!(
            db.script_credentials(None, None).expect("ok"),
            Credentials { uid: 998, gid: 997 }
        );
        let no_default = UserDb::from_text("root:x:0:0::/:/bin/sh\n", "");
        assert_eq!(
            no_default.script_credentials(None, None).expect("ok"),
            Credentials::ROOT
        );
    }

    #[test]
    fn bare_names_resolve_via_path() {
        assert_eq!(
            resolve_executable("sh", SCRIPT_PATH).map(|p| p.is_absolute()),
            Some(true)
        );
        assert_eq!(resolve_executable("no-such-program-xyz", SCRIPT_PATH), None);
        assert_eq!(
            resolve_executable("./rel/x", SCRIPT_PATH),
            Some(PathBuf::from("./rel/x"))
        );
    }

    /// A private directory for security checks, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("keeplite-script-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir(&dir).expect("mkdir");
            chmod(&dir, 0o755);
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn script_in(dir: &Path) -> PathBuf {
        let path = dir.join("notify.sh");
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").expect("write");
        chmod(&path, 0o755);
        path
    }

    #[test]
    fn security_accepts_safe_and_refuses_writable() {
        let me = Credentials::current();
        let tmp = TempDir::new("sec");
        // The temp root (/tmp) is 1777: sticky, so accepted.
        let sub = tmp.0.join("bin");
        std::fs::create_dir(&sub).expect("mkdir");
        chmod(&sub, 0o755);
        let script = script_in(&sub);
        check_script_security(&script, me).expect("0755 file in 0755 dirs is safe");

        chmod(&script, 0o757);
        let err = check_script_security(&script, me).expect_err("world-writable file");
        assert!(err.to_string().contains("notify.sh"), "{err}");
        chmod(&script, 0o755);

        chmod(&sub, 0o777);
        match check_script_security(&script, me) {
            Err(ScriptError::Insecure { path, .. }) => assert_eq!(path, sub),
            other => panic!("world-writable dir accepted: {other:?}"),
        }
        // Sticky like /tmp: others cannot replace what is in it.
        chmod(&sub, 0o1777);
        check_script_security(&script, me).expect("sticky dir");
        chmod(&sub, 0o755);

        // Group-writable is only unsafe with a non-root group.
        chmod(&script, 0o775);
        let group_ok = std::fs::metadata(&script).expect("stat").gid() == 0;
        assert_eq!(check_script_security(&script, me).is_ok(), group_ok);
        chmod(&script, 0o755);

        // Through a symlink in an unsafe directory: the link's directory counts too.
        let open_dir = tmp.0.join("open");
        std::fs::create_dir(&open_dir).expect("mkdir");
        chmod(&open_dir, 0o777);
        let link = open_dir.join("link.sh");
        std::os::unix::fs::symlink(&script, &link).expect("symlink");
        assert!(check_script_security(&link, me).is_err());

        assert!(matches!(
            check_script_security(&sub.join("missing.sh"), me),
            Err(ScriptError::Stat { .. })
        ));
    }

    #[test]
    fn security_refuses_files_of_other_users() {
        if !rustix::process::geteuid().is_root() {
            use std::io::Write;
            // Past libtest's capture of the print macros, so the skip is seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIP security_refuses_files_of_other_users: needs root for chown"
            );
            return;
        }
        let tmp = TempDir::new("own");
        let script = script_in(&tmp.0);
        std::os::unix::fs::chown(&script, Some(4321), Some(0)).expect("chown");
        match check_script_security(&script, Credentials::ROOT) {
            Err(ScriptError::Insecure { path, reason }) => {
                assert_eq!(path, script);
                assert!(reason.contains("4321"));
            }
            other => panic!("file of uid 4321 accepted for root: {other:?}"),
        }
        // ... but fine for a script that runs as that user anyway.
        check_script_security(&script, Credentials { uid: 4321, gid: 0 }).expect("own file");
        assert!(Script::prepare(script.to_str().expect("utf-8"), Credentials::ROOT, true).is_err());
        assert!(Script::prepare(script.to_str().expect("utf-8"), Credentials::ROOT, false).is_ok());
    }

    #[test]
    fn fifo_writer_makes_uses_and_refuses() {
        use std::os::unix::fs::FileTypeExt;
        let tmp = TempDir::new("fifo");
        let path = tmp.0.join("notify.fifo");
        let (_made, created) = open_fifo_writer(&path).expect("made");
        assert!(created);
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        assert!(meta.file_type().is_fifo());
        assert_eq!(
            meta.permissions().mode() & 0o777 & !0o600,
            0,
            "0600 at most"
        );
        // Made already (by the other child, or an earlier run): mknod's EEXIST, then used.
        let (_second, created) = open_fifo_writer(&path).expect("exists");
        assert!(!created);
        // A symlink to a FIFO is refused (O_NOFOLLOW), as is a dangling one, and left alone.
        let link = tmp.0.join("link.fifo");
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        let e = open_fifo_writer(&link).expect_err("symlink");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let dangling = tmp.0.join("dangling.fifo");
        std::os::unix::fs::symlink(tmp.0.join("nowhere"), &dangling).expect("symlink");
        assert!(open_fifo_writer(&dangling).is_err());
        assert!(std::fs::symlink_metadata(&dangling).is_ok());
        assert!(
            !tmp.0.join("nowhere").exists(),
            "nothing made through the link"
        );
        // Not a FIFO.
        let plain = tmp.0.join("plain");
        std::fs::write(&plain, "").expect("write");
        let e = open_fifo_writer(&plain).expect_err("regular file");
        assert!(e.to_string().contains("not a FIFO"), "{e}");
        assert!(open_fifo_writer(&tmp.0).is_err(), "a directory");
        assert!(open_fifo_writer(&tmp.0.join("no/dir/x.fifo")).is_err());
    }

    #[test]
    fn fifo_writers_racing_to_make_one_fifo_both_open_it() {
        let tmp = TempDir::new("fifo-race");
        for round in 0..20 {
            let path = tmp.0.join(format!("shared-{round}.fifo"));
            let barrier = std::sync::Barrier::new(2);
            let (a, b) = std::thread::scope(|s| {
                let open = || {
                    barrier.wait();
                    open_fifo_writer(&path).map(|(_, made)| made)
                };
                let a = s.spawn(open);
                let b = s.spawn(open);
                (a.join().expect("thread"), b.join().expect("thread"))
            });
            let (a, b) = (a.expect("first"), b.expect("second"));
            assert!(a != b, "exactly one made it (round {round}: {a} {b})");
        }
    }

    fn reap_within(child: &mut Child, secs: u64) -> Outcome {
        let start = std::time::Instant::now();
        loop {
            let now = crate::sys::clock::now();
            if let Some(outcome) = child.try_reap(now).expect("try_reap") {
                return outcome;
            }
            assert!(start.elapsed().as_secs() < secs, "still running");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn terminate_group_sends_sigterm_then_sigkill_after_the_grace() {
        let me = Credentials::current();
        let now = crate::sys::clock::now();
        let mut child = Script::prepare("sleep 30", me, false)
            .and_then(|s| s.spawn(&[], now, None))
            .expect("spawn");
        assert_eq!(child.deadline(), None);
        child
            .terminate_group(now, Micros::from_secs(1))
            .expect("SIGTERM");
        assert_eq!(child.deadline(), Some(now + Micros::from_secs(1)));
        assert_eq!(reap_within(&mut child, 5), Outcome::Signaled(libc::SIGTERM));
        // A script that ignores SIGTERM is killed at the end of the grace.
        let now = crate::sys::clock::now();
        let mut child = Script::prepare("trap '' TERM; sleep 30", me, false)
            .and_then(|s| s.spawn(&[], now, None))
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(100));
        child
            .terminate_group(now, Micros(300_000))
            .expect("SIGTERM");
        assert_eq!(reap_within(&mut child, 5), Outcome::TimedOut);
    }

    #[test]
    fn prepare_resolves_and_checks() {
        let me = Credentials::current();
        let s = Script::prepare("true", me, true).expect("true is in PATH");
        assert!(s.program().is_absolute());
        assert!(matches!(
            Script::prepare("no-such-program-xyz", me, true),
            Err(ScriptError::NotFound { .. })
        ));
        let s = Script::prepare("no-such-program-xyz", me, false).expect("left to exec");
        assert_eq!(s.program(), Path::new("no-such-program-xyz"));
        let s = Script::prepare("echo hi > /dev/null", me, false).expect("shell");
        assert_eq!(s.program(), Path::new(SHELL));
        assert_eq!(NotifyKind::Group.as_str(), "GROUP");
    }
}
