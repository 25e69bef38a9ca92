//! Processes of the daemon itself: fork a child with its own name that dies with its parent,
//! reap children, detach from the terminal (daemonize), the socketpair between parent and child.
//! (Scripts are run by `sys::script`; this is the watchdog's side of fork(2), prctl(2), wait(2).)

use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};
use std::ffi::CString;
use std::io;

/// Which side of a fork we are on.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// fork(2). The caller must be single-threaded (the watchdog parent is): the child gets a copy
/// of this thread only.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: fork has no memory-safety preconditions of its own; the child only continues on
    // this thread, and the daemon's parent never starts other threads, so no lock can be held
    // by a thread that does not exist in the child.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        n => Pid::from_raw(n)
            .map(Forked::Parent)
            .ok_or_else(|| io::Error::other("fork returned a bad pid")),
    }
}

/// In a new child: die with `signal` when the parent dies, and show `name` (15 bytes at most)
/// in `ps -o comm`, `top` and `pgrep`. Returns an error if the parent is already gone.
pub fn become_child(name: &str, signal: Signal) -> io::Result<()> {
    rustix::process::set_parent_process_death_signal(Some(signal))?;
    if let Ok(name) = CString::new(name) {
        rustix::thread::set_name(&name)?;
    }
    // The parent may have died between fork and prctl: then nobody will send the signal.
    if rustix::process::getppid().is_none_or(|p| p.as_raw_nonzero().get() == 1) {
        return Err(io::Error::other("parent exited during start-up"));
    }
    Ok(())
}

/// Closes every descriptor except stdin/out/err and `keep` (a forked child inherits all of
/// the parent's: sockets to the other children, the control socket, the parent's epoll).
pub fn close_inherited_fds(keep: &[i32]) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    // Collect first: the directory's own descriptor is among those listed.
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2 && !keep.contains(fd))
        .collect();
    for fd in fds {
        // SAFETY: closing a descriptor number this process inherited; the objects that owned
        // them in the parent are never used in the child (it runs its own main and exits).
        unsafe { libc::close(fd) };
    }
}

/// A connected pair of unix stream sockets, close-on-exec.
pub fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Reads what a socket has without blocking (it may be in blocking mode for writes):
/// `Ok(None)` when nothing is waiting, `Ok(Some(0))` at end of stream.
pub fn recv_nowait(socket: &impl AsFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match rustix::net::recv(socket, &mut *buf, rustix::net::RecvFlags::DONTWAIT) {
            Ok((n, _)) => return Ok(Some(n)),
            Err(rustix::io::Errno::AGAIN) => return Ok(None),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// One child that has ended, if any (never blocks).
pub fn reap() -> Option<(i32, Exit)> {
    match rustix::process::waitpid(None, WaitOptions::NOHANG) {
        Ok(Some((pid, status))) => Some((pid.as_raw_nonzero().get(), exit_of(status)?)),
        _ => None,
    }
}

fn exit_of(status: WaitStatus) -> Option<Exit> {
    if let Some(code) = status.exit_status() {
        Some(Exit::Code(code))
    } else {
        status.terminating_signal().map(Exit::Signal)
    }
}

/// Sends `signal` to process `pid` (errors such as "already gone" are returned, not logged).
pub fn signal(pid: i32, signal: Signal) -> io::Result<()> {
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("bad pid"))?;
    Ok(rustix::process::kill_process(pid, signal)?)
}

/// Is there a process `pid` (signal 0)?
pub fn alive(pid: i32) -> bool {
    match Pid::from_raw(pid) {
        // SAFETY: kill with signal 0 only checks for existence and permission.
        Some(p) => unsafe { libc::kill(p.as_raw_nonzero().get(), 0) == 0 },
        None => false,
    }
}

/// keepalived's daemonizing: fork (the parent exits 0), new session, `/` as working directory,
/// stdin/stdout/stderr on /dev/null unless `keep_stderr`.
pub fn daemonize(keep_stderr: bool) -> io::Result<()> {
    match fork()? {
        Forked::Parent(_) => std::process::exit(0),
        Forked::Child => {}
    }
    rustix::process::setsid()?;
    rustix::process::chdir("/")?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    rustix::stdio::dup2_stdin(null.as_fd())?;
    rustix::stdio::dup2_stdout(null.as_fd())?;
    if !keep_stderr {
        rustix::stdio::dup2_stderr(null.as_fd())?;
    }
    Ok(())
}

/// The raw number of a descriptor, for [`close_inherited_fds`]'s keep list.
pub fn raw(fd: &impl AsRawFd) -> i32 {
    fd.as_raw_fd()
}

/// Our pid.
pub fn pid() -> i32 {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// Calls `f` with each line of a /proc file (without its newline), read through a buffer on
/// the stack: a heap copy of /proc/self/smaps (tens of KiB) would stay resident in the allocator
/// after it is freed, in processes that are trying to let memory go. A line longer than the
/// buffer (a very long path) is skipped.
fn for_each_proc_line(path: &str, mut f: impl FnMut(&str)) -> io::Result<()> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = [0u8; 2048];
    let mut filled = 0;
    // Inside a line too long for the buffer: drop bytes up to its newline.
    let mut skipping = false;
    loop {
        let n = match file.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            if filled > 0 && !skipping {
                f(std::str::from_utf8(&buf[..filled]).unwrap_or_default());
            }
            return Ok(());
        }
        filled += n;
        let mut start = 0;
        while let Some(newline) = buf[start..filled].iter().position(|&b| b == b'\n') {
            if !skipping {
                f(std::str::from_utf8(&buf[start..start + newline]).unwrap_or_default());
            }
            skipping = false;
            start += newline + 1;
        }
        if start == 0 && filled == buf.len() {
            skipping = true;
            filled = 0;
        } else {
            buf.copy_within(start..filled, 0);
            filled -= start;
        }
    }
}

/// Marks the end of a process's steady state: called first thing on its way out (SIGTERM).
/// It does nothing; cross/order's profile of each process stops at this call, so that the
/// shutdown code (graceful stop, IPVS and VIP removal, exit) is laid out with the cold code
/// instead of among the pages the loop keeps mapped.
#[inline(never)]
pub fn end_of_steady_state() {
    std::hint::black_box(());
}

/// Lets go of what start-up used and the loop that follows will not: this process's mappings
/// of its own executable's read-only pages (code, constants), and the stack pages below the
/// caller's frame. Each process calls it just before its loop (the watchdog once its children
/// run, a child once its daemon is built, again after a reload), so that what stays resident is
/// what the loop touches: the pages of the executable stay in the page cache and a touch maps
/// them again (keeplite's link order, cross/order/, keeps each process's steady-state code on
/// few pages), and a stack page touched again is a fresh zero page. Start-up runs deeper and
/// through more code than any loop (measured in the VRRP child: 84 KiB of stack and 0.9 MiB of
/// the binary, part of it copied from the watchdog by the fork).
// Never inlined: the stack margin below this frame must cover madvise's own call, not a
// caller's; and cross/order's profile of each process starts its steady state at this call.
#[inline(never)]
pub fn release_start_up_pages() {
    const PAGE: usize = 4096;
    // madvise's wrapper frame lies below ours: leave it a page (it needs a few dozen bytes).
    const MARGIN: usize = PAGE;
    let here = 0u8;
    let frame = std::hint::black_box(&here) as *const u8 as usize;
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let exe = exe.to_str();
    // The mapping being read: (start, end) when it is a read-only mapping of the executable.
    let mut candidate = None;
    // Released after the parsing: the parsing's own code would otherwise be mapped right back.
    let mut releasable = [(0, 0); 8];
    let mut count = 0;
    let mut stack_start = None;
    let read = for_each_proc_line("/proc/self/smaps", |line| {
        let mut fields = line.split_ascii_whitespace();
        let Some(first) = fields.next() else { return };
        if let Some((start, end)) = first.split_once('-') {
            // A mapping's header: "START-END PERMS OFFSET DEV INODE PATH".
            let (perms, path) = (fields.next(), fields.nth(3));
            candidate = None;
            let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) else {
                return;
            };
            if path == exe && perms.is_some_and(|p| p.starts_with("r-")) {
                candidate = Some((start, end));
            } else if path == Some("[stack]") && (start..end).contains(&frame) {
                stack_start = Some(start);
            }
        } else if first == "Anonymous:" {
            // Read-only now is not enough: a relocated (RELRO) page was written before it was
            // made read-only, and dropping it would bring back the file's unrelocated bytes.
            // Only a mapping without a single private copy is the file's bytes throughout.
            if let (Some(range), Some("0")) = (candidate.take(), fields.next()) {
                if let Some(slot) = releasable.get_mut(count) {
                    *slot = range;
                    count += 1;
                }
            }
        }
    });
    if read.is_err() {
        return;
    }
    for &(start, end) in &releasable[..count] {
        // SAFETY: a read-only private mapping of the executable holding no page of its own:
        // MADV_DONTNEED drops page table entries only, and the next access maps the same bytes
        // back from the file.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
    // The main stack only: on a thread's stack (not `[stack]`) nothing is released.
    let Some(stack_start) = stack_start else {
        return;
    };
    let end = frame.saturating_sub(MARGIN) & !(PAGE - 1);
    if end > stack_start {
        // SAFETY: the pages lie below every live frame of this (single-threaded) process's
        // stack with a margin for the madvise call itself; MADV_DONTNEED on private anonymous
        // memory only makes the next touch find a zero page, which is what a fresh stack
        // frame expects. Signal frames are pushed below the stack pointer at delivery, after
        // this returns or before it was called, never across it.
        unsafe {
            libc::madvise(
                stack_start as *mut libc::c_void,
                end - stack_start,
                libc::MADV_DONTNEED,
            )
        };
    }
}

#[cfg(test)]
mod tests {
    use super::for_each_proc_line;

    #[test]
    fn proc_lines_are_whole_and_an_overlong_line_is_skipped() {
        let path = std::env::temp_dir().join(format!("keeplite-lines-{}", std::process::id()));
        let long = "x".repeat(5_000);
        let text: String = (0..2000)
            .map(|k| format!("line {k}\n"))
            .chain([format!("{long}\n"), "after\n".into(), "no newline".into()])
            .collect();
        std::fs::write(&path, &text).unwrap();
        let mut lines = Vec::new();
        for_each_proc_line(path.to_str().unwrap(), |l| lines.push(l.to_string())).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(lines.len(), 2002);
        assert!((0..2000).all(|k| lines[k] == format!("line {k}")));
        assert_eq!(lines[2000], "after");
        assert_eq!(lines[2001], "no newline");
    }

    #[test]
    fn the_stack_and_the_executable_are_found_in_proc() {
        let mut stack = false;
        let mut headers = 0;
        for_each_proc_line("/proc/self/smaps", |l| {
            stack |= l.ends_with("[stack]");
            headers += usize::from(l.split_once(' ').is_some_and(|(r, _)| r.contains('-')));
        })
        .unwrap();
        assert!(stack && headers > 5, "stack {stack}, {headers} mappings");
    }
}
