//! Config corpus: drives the `keeplite` binary over `tests/corpus/` (no library API).
//!
//! - `ok/*.conf` and `ok/include_tree/keepalived.conf`: real-world style configs that keepalived
//!   2.2.7 accepts. `check` must exit 0 without errors; warnings only where the file allows them
//!   (`# allow-warnings` for any, `# allow-warning: FILE:LINE` for one location).
//! - `bad/*.conf` and `warn/*.conf`: each file states what must happen in its first lines:
//!   `# expect-exit: N` and one or more `# expect: FILE:LINE: error|warning`, FILE relative to
//!   the file's directory. Diagnostics are `PATH:LINE:COL: error: message` on stderr.
//! - every file: `keeplite -t -f F` exits like `keeplite check -f F`.
//! - ok files: `compile` → `dump` round trip, and a corrupt binary config is refused with exit 3.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_keeplite");
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// A config check takes milliseconds; this only stops a hung binary from hanging the suite.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Binary config header: magic, format version (u16 LE), body length (u32 LE), CRC-32 of the
/// body (IEEE, u32 LE), then the body.
const MAGIC: &[u8; 8] = b"KEEPLITE";
const VERSION_AT: usize = 8;
const LEN_AT: usize = 10;
const CRC_AT: usize = 14;
const HEADER_LEN: usize = 18;

// ---------------------------------------------------------------------------------------------
// corpus files

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("corpus")
}

/// `*.conf` directly in `dir` (not recursive: helpers live in subdirectories), sorted.
fn conf_files(dir: &Path) -> Vec<PathBuf> {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read_dir entry").path())
        .filter(|p| p.is_file() && p.extension() == Some(OsStr::new("conf")))
        .collect();
    files.sort();
    files
}

fn ok_files() -> Vec<PathBuf> {
    let dir = corpus_dir().join("ok");
    let mut files = conf_files(&dir);
    files.push(dir.join("include_tree").join("keepalived.conf"));
    files
}

fn bad_files() -> Vec<PathBuf> {
    conf_files(&corpus_dir().join("bad"))
}

fn warn_files() -> Vec<PathBuf> {
    conf_files(&corpus_dir().join("warn"))
}

/// Path relative to the corpus directory, for messages.
fn label(path: &Path) -> String {
    path.strip_prefix(corpus_dir())
        .unwrap_or(path)
        .display()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// expectations written in the files

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    Error,
    Warning,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A place a diagnostic must (or may) point at: a path suffix and a 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Loc {
    file: String,
    line: u32,
}

impl Loc {
    fn parse(s: &str) -> Option<Loc> {
        let (file, line) = s.trim().rsplit_once(':')?;
        let line = line.trim().parse().ok()?;
        let file = file.trim();
        if file.is_empty() {
            return None;
        }
        Some(Loc {
            file: file.to_string(),
            line,
        })
    }

    fn matches(&self, d: &Diag) -> bool {
        d.line == self.line && path_ends_with(&d.path, &self.file)
    }
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// `actual` names the file `expected` (a relative path): equal, or ends with `/expected`.
fn path_ends_with(actual: &str, expected: &str) -> bool {
    let actual = actual.trim().replace('\\', "/");
    let expected = expected.trim().trim_start_matches("./");
    actual == expected || actual.ends_with(&format!("/{expected}"))
}

#[derive(Debug, Default)]
struct Expect {
    exit: Option<i32>,
    diags: Vec<(Loc, Severity)>,
    allow_all_warnings: bool,
    allowed_warnings: Vec<Loc>,
    /// Malformed expectation comments: reported as failures, never silently skipped.
    malformed: Vec<String>,
}

impl Expect {
    fn read(path: &Path) -> Expect {
        let text = fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut exp = Expect::default();
        for (i, raw) in text.lines().enumerate() {
            let Some(comment) = raw.trim_start().strip_prefix('#') else {
                continue;
            };
            let comment = comment.trim();
            if let Some(rest) = comment.strip_prefix("expect-exit:") {
                match rest.trim().parse() {
                    Ok(n) if exp.exit.is_none() => exp.exit = Some(n),
                    _ => exp.malformed.push(format!("line {}: {raw}", i + 1)),
                }
            } else if let Some(rest) = comment.strip_prefix("expect:") {
                // FILE:LINE: error|warning
                let parsed = rest.trim().rsplit_once(':').and_then(|(loc, sev)| {
                    let sev = match sev.trim() {
                        "error" => Severity::Error,
                        "warning" => Severity::Warning,
                        _ => return None,
                    };
                    Some((Loc::parse(loc)?, sev))
                });
                match parsed {
                    Some(d) => exp.diags.push(d),
                    None => exp.malformed.push(format!("line {}: {raw}", i + 1)),
                }
            } else if comment == "allow-warnings" {
                exp.allow_all_warnings = true;
            } else if let Some(rest) = comment.strip_prefix("allow-warning:") {
                // FILE:LINE, optionally followed by an explanation
                match rest.split_whitespace().next().and_then(Loc::parse) {
                    Some(loc) => exp.allowed_warnings.push(loc),
                    None => exp.malformed.push(format!("line {}: {raw}", i + 1)),
                }
            }
        }
        exp
    }
}

// ---------------------------------------------------------------------------------------------
// diagnostics printed by keeplite

/// One `PATH:LINE:COL: error|warning: message` line.
#[derive(Debug)]
struct Diag {
    path: String,
    line: u32,
    severity: Severity,
}

fn parse_diag(line: &str) -> Option<Diag> {
    // The earliest of the two markers is the one after the location; the message itself may
    // contain either word.
    let candidates = [
        (Severity::Error, ": error:"),
        (Severity::Warning, ": warning:"),
    ];
    let (severity, at) = candidates
        .iter()
        .filter_map(|&(sev, pat)| line.find(pat).map(|at| (sev, at)))
        .min_by_key(|&(_, at)| at)?;
    let mut parts = line[..at].rsplitn(3, ':');
    let col = parts.next()?;
    let line_no = parts.next()?;
    let path = parts.next()?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(col) || !digits(line_no) || path.trim().is_empty() {
        return None;
    }
    Some(Diag {
        path: path.to_string(),
        line: line_no.parse().ok()?,
        severity,
    })
}

fn diags(stderr: &str) -> Vec<Diag> {
    stderr.lines().filter_map(parse_diag).collect()
}

// ---------------------------------------------------------------------------------------------
// running the binary

struct Run {
    cmdline: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn show(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "    $ {}", self.cmdline);
        let _ = writeln!(s, "    exit: {}", self.exit_str());
        for (name, text) in [("stderr", &self.stderr), ("stdout", &self.stdout)] {
            if text.is_empty() {
                let _ = writeln!(s, "    {name}: (empty)");
            } else {
                let _ = writeln!(s, "    {name}:");
                for l in text.lines().take(200) {
                    let _ = writeln!(s, "      | {l}");
                }
                if text.lines().count() > 200 {
                    let _ = writeln!(s, "      | ... ({} lines)", text.lines().count());
                }
            }
        }
        s
    }

    fn exit_str(&self) -> String {
        match self.code {
            Some(c) => c.to_string(),
            None => "none (killed by a signal)".to_string(),
        }
    }

    fn panicked(&self) -> bool {
        self.stderr.contains("panicked") || self.stdout.contains("panicked")
    }
}

/// An empty directory used as the working directory of every run, so that includes resolved
/// against the working directory instead of the including file's directory fail. Shared by all
/// runs (nothing is written to it), so it is not left behind once per test process.
fn scratch_cwd() -> &'static Path {
    static CWD: OnceLock<PathBuf> = OnceLock::new();
    CWD.get_or_init(|| {
        let dir = std::env::temp_dir().join("keeplite-corpus-empty-cwd");
        fs::create_dir_all(&dir).expect("create scratch cwd");
        dir
    })
}

fn unique_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "keeplite-corpus-{}-{tag}-{nanos}-{n}",
        std::process::id()
    ))
}

/// A temporary directory removed on drop unless the test failed (then it is kept for a look).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = unique_dir(tag);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("keeping {} for inspection", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let cmdline = std::iter::once(OsStr::new("keeplite"))
        .chain(args.iter().map(|a| a.as_os_str()))
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new(BIN)
        .args(&args)
        .current_dir(scratch_cwd())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let mut nap = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{cmdline}` did not finish within {TIMEOUT:?}");
            }
            Ok(None) => {
                thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(20));
            }
            Err(e) => panic!("waiting for `{cmdline}`: {e}"),
        }
    };
    let stdout = String::from_utf8_lossy(&out_reader.join().expect("stdout reader")).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned();
    Run {
        cmdline,
        code: status.code(),
        stdout,
        stderr,
    }
}

// ---------------------------------------------------------------------------------------------
// failure collection: every file is tried, then all failures are reported together

#[derive(Default)]
struct Failures {
    checked: usize,
    report: Vec<String>,
}

impl Failures {
    fn file(&mut self, path: &Path, problems: Vec<String>, runs: &[&Run]) {
        self.checked += 1;
        if problems.is_empty() {
            return;
        }
        let mut s = format!("--- {}\n", label(path));
        for p in problems {
            let _ = writeln!(s, "  * {p}");
        }
        for r in runs {
            s.push_str(&r.show());
        }
        self.report.push(s);
    }

    fn finish(self, what: &str) {
        assert!(self.checked > 0, "{what}: no files checked");
        if !self.report.is_empty() {
            panic!(
                "{what}: {} of {} files failed\n\n{}",
                self.report.len(),
                self.checked,
                self.report.join("\n")
            );
        }
    }
}

fn no_panic(r: &Run, problems: &mut Vec<String>) {
    if r.panicked() {
        problems.push(format!("`{}` panicked", r.cmdline));
    }
}

fn want_exit(r: &Run, want: i32, problems: &mut Vec<String>) {
    if r.code != Some(want) {
        problems.push(format!(
            "`{}` exited {}, want {want}",
            r.cmdline,
            r.exit_str()
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// the corpus itself (needs no binary)

#[test]
fn corpus_is_well_formed() {
    let ok = ok_files();
    let bad = bad_files();
    let warn = warn_files();
    assert!(
        ok.len() >= 10,
        "expected at least 10 ok configs, found {}",
        ok.len()
    );
    assert!(
        bad.len() >= 20,
        "expected at least 20 bad configs, found {}",
        bad.len()
    );
    assert!(
        warn.len() >= 3,
        "expected at least 3 warn configs, found {}",
        warn.len()
    );

    let mut failures = Failures::default();
    for f in ok.iter().chain(&bad).chain(&warn) {
        let exp = Expect::read(f);
        let mut problems: Vec<String> = exp
            .malformed
            .iter()
            .map(|m| format!("malformed expectation: {m}"))
            .collect();
        let is_ok = ok.contains(f);
        if is_ok {
            if exp.exit.is_some() || !exp.diags.is_empty() {
                problems.push("ok configs carry no expect-exit / expect lines".into());
            }
        } else {
            let allowed: &[i32] = if warn.contains(f) { &[0] } else { &[3, 4] };
            match exp.exit {
                Some(code) if allowed.contains(&code) => {}
                other => {
                    problems.push(format!("expect-exit is {other:?}, want one of {allowed:?}"))
                }
            }
            if exp.diags.is_empty() {
                problems.push("no `# expect:` line".into());
            }
            let want_sev = if warn.contains(f) {
                Severity::Warning
            } else {
                Severity::Error
            };
            if exp.diags.iter().any(|(_, sev)| *sev != want_sev) {
                problems.push(format!(
                    "every expectation here should be a {}",
                    want_sev.as_str()
                ));
            }
        }
        // every expected / allowed location names an existing file and a line with content
        let dir = f.parent().expect("corpus file has a directory");
        let locs = exp
            .diags
            .iter()
            .map(|(l, _)| l)
            .chain(&exp.allowed_warnings);
        for loc in locs {
            let target = if is_ok {
                corpus_dir().join("ok").join(&loc.file)
            } else {
                dir.join(&loc.file)
            };
            match fs::read_to_string(&target) {
                Err(e) => problems.push(format!("{loc}: cannot read {}: {e}", target.display())),
                Ok(_) if loc.line == 0 => problems.push(format!("{loc}: lines count from 1")),
                Ok(text) => match text.lines().nth(loc.line as usize - 1) {
                    None => problems.push(format!(
                        "{loc}: the file has only {} lines",
                        text.lines().count()
                    )),
                    Some(l) if l.trim().is_empty() || l.trim_start().starts_with(['#', '!']) => {
                        problems.push(format!("{loc}: points at a blank or comment line: {l:?}"))
                    }
                    Some(_) => {}
                },
            }
        }
        failures.file(f, problems, &[]);
    }
    failures.finish("corpus_is_well_formed");
}

// ---------------------------------------------------------------------------------------------
// check

#[test]
fn ok_configs_pass_check() {
    let mut failures = Failures::default();
    for f in ok_files() {
        let exp = Expect::read(&f);
        let r = run([OsStr::new("check"), OsStr::new("-f"), f.as_os_str()]);
        let mut problems = Vec::new();
        no_panic(&r, &mut problems);
        want_exit(&r, 0, &mut problems);
        if r.stderr.contains("error:") {
            problems.push("stderr reports an error".into());
        }
        if !exp.allow_all_warnings {
            let annotated = !exp.allowed_warnings.is_empty();
            for line in r.stderr.lines().filter(|l| l.contains("warning:")) {
                let allowed = match parse_diag(line) {
                    Some(d) => {
                        d.severity == Severity::Warning
                            && exp.allowed_warnings.iter().any(|a| a.matches(&d))
                    }
                    // a warning without a location (a summary, say) is fine where the file
                    // expects located warnings anyway
                    None => annotated,
                };
                if !allowed {
                    problems.push(format!(
                        "unexpected warning (add `# allow-warning: FILE:LINE` if intended): {line}"
                    ));
                }
            }
        }
        failures.file(&f, problems, &[&r]);
    }
    failures.finish("ok_configs_pass_check");
}

fn check_expectations(files: Vec<PathBuf>, what: &str) {
    let mut failures = Failures::default();
    for f in files {
        let exp = Expect::read(&f);
        let r = run([OsStr::new("check"), OsStr::new("-f"), f.as_os_str()]);
        let mut problems = Vec::new();
        no_panic(&r, &mut problems);
        match exp.exit {
            Some(code) => want_exit(&r, code, &mut problems),
            None => problems.push("file has no `# expect-exit:` line".into()),
        }
        let found = diags(&r.stderr);
        for (loc, sev) in &exp.diags {
            if !found.iter().any(|d| d.severity == *sev && loc.matches(d)) {
                problems.push(format!(
                    "missing `{loc}:<col>: {}:` on stderr (the path must end with {})",
                    sev.as_str(),
                    loc.file
                ));
            }
        }
        // Exactly the intended diagnostics: no cascade of follow-up errors elsewhere. In warn/
        // files, warnings are held to the same standard; in bad/ files, warnings are free.
        let strict: &[Severity] = if exp.exit == Some(0) {
            &[Severity::Error, Severity::Warning]
        } else {
            &[Severity::Error]
        };
        let unexpected: BTreeSet<String> = found
            .iter()
            .filter(|d| strict.contains(&d.severity))
            .filter(|d| {
                !exp.diags
                    .iter()
                    .any(|(loc, sev)| *sev == d.severity && loc.matches(d))
            })
            .map(|d| format!("{}:{}: {}", d.path, d.line, d.severity.as_str()))
            .collect();
        for u in unexpected {
            problems.push(format!("unexpected diagnostic at {u}"));
        }
        failures.file(&f, problems, &[&r]);
    }
    failures.finish(what);
}

#[test]
fn bad_configs_report_errors_where_expected() {
    check_expectations(bad_files(), "bad_configs_report_errors_where_expected");
}

#[test]
fn warn_configs_report_warnings_where_expected() {
    check_expectations(warn_files(), "warn_configs_report_warnings_where_expected");
}

#[test]
fn dash_t_exits_like_check() {
    let mut failures = Failures::default();
    for f in ok_files()
        .into_iter()
        .chain(bad_files())
        .chain(warn_files())
    {
        let check = run([OsStr::new("check"), OsStr::new("-f"), f.as_os_str()]);
        let t = run([OsStr::new("-t"), OsStr::new("-f"), f.as_os_str()]);
        let mut problems = Vec::new();
        no_panic(&check, &mut problems);
        no_panic(&t, &mut problems);
        if check.code != t.code {
            problems.push(format!(
                "`keeplite -t` exited {}, `keeplite check` exited {}",
                t.exit_str(),
                check.exit_str()
            ));
        }
        failures.file(&f, problems, &[&check, &t]);
    }
    failures.finish("dash_t_exits_like_check");
}

// ---------------------------------------------------------------------------------------------
// compile / dump

/// A file name for the compiled form of a corpus file, unique within one temp dir.
fn bin_name(i: usize, f: &Path) -> String {
    let stem = label(f).replace(['/', '\\'], "_");
    format!("{i:02}-{stem}.bin")
}

fn first_difference(a: &str, b: &str) -> String {
    let (mut la, mut lb) = (a.lines(), b.lines());
    let mut n = 1;
    loop {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => n += 1,
            (None, None) => return "texts differ only in line endings or trailing newline".into(),
            (x, y) => {
                return format!("first difference at line {n}:\n      < {x:?}\n      > {y:?}")
            }
        }
    }
}

#[test]
fn ok_configs_compile_and_dump_round_trip() {
    let tmp = TempDir::new("roundtrip");
    let mut failures = Failures::default();
    for (i, f) in ok_files().iter().enumerate() {
        let t = tmp.join(&bin_name(i, f));
        let d = tmp.join(&format!("{i:02}-dump.conf"));
        let mut problems = Vec::new();
        let mut runs = Vec::new();

        let compile = run([
            OsStr::new("compile"),
            OsStr::new("-f"),
            f.as_os_str(),
            OsStr::new("-o"),
            t.as_os_str(),
        ]);
        no_panic(&compile, &mut problems);
        want_exit(&compile, 0, &mut problems);
        if compile.code == Some(0) && !t.is_file() {
            problems.push(format!("compile exited 0 but wrote no {}", t.display()));
        }
        runs.push(compile);

        if problems.is_empty() {
            let from_text = run([OsStr::new("dump"), OsStr::new("-f"), f.as_os_str()]);
            let from_bin = run([OsStr::new("dump"), OsStr::new("-f"), t.as_os_str()]);
            for r in [&from_text, &from_bin] {
                no_panic(r, &mut problems);
                want_exit(r, 0, &mut problems);
            }
            if from_text.stdout.trim().is_empty() {
                problems.push("`dump` of the text config printed nothing".into());
            }
            if from_text.stdout != from_bin.stdout {
                problems.push(format!(
                    "`dump -f {}` and `dump -f {}` differ; {}",
                    label(f),
                    t.display(),
                    first_difference(&from_text.stdout, &from_bin.stdout)
                ));
            }

            // dump is a fixed point: its output parses back to the same dump
            match fs::write(&d, &from_text.stdout) {
                Err(e) => problems.push(format!("cannot write {}: {e}", d.display())),
                Ok(()) => {
                    let again = run([OsStr::new("dump"), OsStr::new("-f"), d.as_os_str()]);
                    no_panic(&again, &mut problems);
                    want_exit(&again, 0, &mut problems);
                    if again.stdout != from_text.stdout {
                        problems.push(format!(
                            "dump is not a fixed point: `dump -f {}` differs; {}",
                            d.display(),
                            first_difference(&from_text.stdout, &again.stdout)
                        ));
                    }
                    runs.push(again);
                }
            }

            let check_bin = run([OsStr::new("check"), OsStr::new("-f"), t.as_os_str()]);
            no_panic(&check_bin, &mut problems);
            want_exit(&check_bin, 0, &mut problems);
            runs.push(from_text);
            runs.push(from_bin);
            runs.push(check_bin);
        }
        let refs: Vec<&Run> = runs.iter().collect();
        failures.file(f, problems, &refs);
    }
    failures.finish("ok_configs_compile_and_dump_round_trip");
}

/// CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320), as in zlib and Ethernet.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn crc32_matches_the_ieee_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

fn u16_le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Compiles `f` into `tmp` and returns the bytes, or the reason it could not.
fn compile_to_bytes(tmp: &TempDir, i: usize, f: &Path) -> Result<Vec<u8>, String> {
    let t = tmp.join(&bin_name(i, f));
    let r = run([
        OsStr::new("compile"),
        OsStr::new("-f"),
        f.as_os_str(),
        OsStr::new("-o"),
        t.as_os_str(),
    ]);
    if r.code != Some(0) || r.panicked() {
        return Err(format!("compile failed\n{}", r.show()));
    }
    fs::read(&t).map_err(|e| format!("cannot read {}: {e}", t.display()))
}

#[test]
fn compiled_binary_has_documented_header() {
    let tmp = TempDir::new("header");
    let mut failures = Failures::default();
    for (i, f) in ok_files().iter().enumerate() {
        let mut problems = Vec::new();
        match compile_to_bytes(&tmp, i, f) {
            Err(e) => problems.push(e),
            Ok(b) if b.len() <= HEADER_LEN => problems.push(format!(
                "{} bytes: no room for a {HEADER_LEN}-byte header and a body",
                b.len()
            )),
            Ok(b) => {
                if &b[..MAGIC.len()] != MAGIC {
                    problems.push(format!(
                        "magic is {:?}, want {:?}",
                        &b[..MAGIC.len()],
                        MAGIC
                    ));
                }
                if u16_le(&b, VERSION_AT) == 0xFFFF {
                    problems
                        .push("format version 0xFFFF is reserved for the corruption test".into());
                }
                let body = &b[HEADER_LEN..];
                let len = u32_le(&b, LEN_AT) as usize;
                if len != body.len() {
                    problems.push(format!(
                        "length field {len}, but {} body bytes follow the header",
                        body.len()
                    ));
                }
                let crc = u32_le(&b, CRC_AT);
                if crc != crc32(body) {
                    problems.push(format!(
                        "CRC field {crc:#010x}, CRC-32 of the body is {:#010x}",
                        crc32(body)
                    ));
                }
            }
        }
        failures.file(f, problems, &[]);
    }
    failures.finish("compiled_binary_has_documented_header");
}

#[test]
fn corrupt_binary_configs_are_refused() {
    let tmp = TempDir::new("corrupt");
    let mut failures = Failures::default();
    for (i, f) in ok_files().iter().enumerate() {
        let good = match compile_to_bytes(&tmp, i, f) {
            Ok(b) if b.len() > HEADER_LEN => b,
            Ok(b) => {
                failures.file(
                    f,
                    vec![format!("compiled file is only {} bytes", b.len())],
                    &[],
                );
                continue;
            }
            Err(e) => {
                failures.file(f, vec![e], &[]);
                continue;
            }
        };
        let n = good.len();
        let body = n - HEADER_LEN;
        let mut variants: Vec<(String, Vec<u8>)> = Vec::new();

        // one byte changed: in the body (anywhere), or in the length / CRC fields
        let mut spots: BTreeSet<usize> =
            [0, 1, body / 4, body / 2, 3 * body / 4, body - 2, body - 1]
                .iter()
                .filter(|&&k| k < body)
                .map(|k| HEADER_LEN + k)
                .collect();
        spots.extend([LEN_AT, CRC_AT]);
        for &at in &spots {
            for mask in [0x01u8, 0xFF] {
                let mut b = good.clone();
                b[at] ^= mask;
                variants.push((format!("byte {at} of {n} xor {mask:#04x}"), b));
            }
        }
        // truncated: the magic is kept whole, so the file is still recognisably binary
        let cuts: BTreeSet<usize> = [8, 9, 10, 13, 14, 17, 18, 19, HEADER_LEN + body / 2, n - 1]
            .into_iter()
            .filter(|&len| len < n)
            .collect();
        for len in cuts {
            variants.push((
                format!("truncated to {len} of {n} bytes"),
                good[..len].to_vec(),
            ));
        }
        // a format version from the future
        let mut b = good.clone();
        b[VERSION_AT..VERSION_AT + 2].copy_from_slice(&0xFFFFu16.to_le_bytes());
        variants.push(("format version 0xFFFF".into(), b));

        let mut problems = Vec::new();
        let mut runs = Vec::new();
        for (j, (what, bytes)) in variants.iter().enumerate() {
            let path = tmp.join(&format!("{i:02}-corrupt-{j:02}.bin"));
            if let Err(e) = fs::write(&path, bytes) {
                problems.push(format!("cannot write {}: {e}", path.display()));
                continue;
            }
            let r = run([OsStr::new("check"), OsStr::new("-f"), path.as_os_str()]);
            let mut bad = Vec::new();
            no_panic(&r, &mut bad);
            want_exit(&r, 3, &mut bad);
            if !r.stderr.to_lowercase().contains("binary config") {
                bad.push("stderr does not mention \"binary config\"".into());
            }
            if !bad.is_empty() {
                problems.push(format!("{what}: {}", bad.join("; ")));
                runs.push(r);
            }
        }
        let refs: Vec<&Run> = runs.iter().take(3).collect();
        failures.file(f, problems, &refs);
    }
    failures.finish("corrupt_binary_configs_are_refused");
}

// ---------------------------------------------------------------------------------------------
// CLI basics

#[test]
fn version_and_help() {
    let v = run(["--version"]);
    let mut problems = Vec::new();
    no_panic(&v, &mut problems);
    want_exit(&v, 0, &mut problems);
    let want = format!("keeplite {VERSION}");
    if !v.stdout.trim_start().starts_with(&want) {
        problems.push(format!(
            "`keeplite --version` should print {want:?} on stdout"
        ));
    }
    let h = run(["--help"]);
    no_panic(&h, &mut problems);
    want_exit(&h, 0, &mut problems);
    if h.stdout.trim().is_empty() && h.stderr.trim().is_empty() {
        problems.push("`keeplite --help` printed nothing".into());
    }
    assert!(
        problems.is_empty(),
        "{}\n{}{}",
        problems.join("\n"),
        v.show(),
        h.show()
    );
}
