//! The VRRP process's event loop: epoll(7) over the caller's fds, a timerfd(2) armed at the
//! absolute earliest deadline (CLOCK_MONOTONIC, TFD_TIMER_ABSTIME, so wake-ups are not rounded to
//! epoll's milliseconds), and a signalfd(2) for the daemon's signals.
//!
//! Why a timerfd and not epoll's timeout: `epoll_wait` takes milliseconds, and rounding up to
//! the next millisecond plus timer slack can put a VRRP master-down timer more than 1 ms late; an
//! absolute hrtimer on the same clock as `clock::now` fires within tens of microseconds.
//!
//! Signals: `EventLoop::with_signals` blocks them in the calling thread (pthread_sigmask) and
//! reads them from a signalfd. Blocking is per thread, so the daemon must create the loop before
//! it starts any other thread, or process-directed signals may be taken by a thread that does not
//! block them. signalfd coalesces: one SIGCHLD may stand for several exited children, so the
//! caller reaps every child it has on each SIGCHLD.

use crate::sys::clock;
use crate::time::Instant;
use rustix::buffer::spare_capacity;
use rustix::event::epoll;
use rustix::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use rustix::io::Errno;
use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};
use std::io;

/// The caller's name for a registered fd, handed back when it is ready.
pub type Token = u64;

/// Tokens the loop keeps for its own timerfd and signalfd; `EventLoop::add` refuses them.
const TIMER_TOKEN: Token = u64::MAX;
const SIGNAL_TOKEN: Token = u64::MAX - 1;

/// Size of `struct signalfd_siginfo` (linux/signalfd.h); `ssi_signo` is its first u32.
const SIGINFO_LEN: usize = 128;

/// The signals the daemon acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// SIGTERM: graceful stop (priority-0 adverts, VIPs removed).
    Term,
    /// SIGINT: same as SIGTERM.
    Int,
    /// SIGHUP: reload.
    Hup,
    /// SIGUSR1: dump state.
    Usr1,
    /// SIGUSR2: dump statistics.
    Usr2,
    /// SIGCHLD: a script (or child process) ended; reap all of them.
    Chld,
}

impl Signal {
    pub const ALL: [Signal; 6] = [
        Signal::Term,
        Signal::Int,
        Signal::Hup,
        Signal::Usr1,
        Signal::Usr2,
        Signal::Chld,
    ];

    pub fn number(self) -> i32 {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Int => libc::SIGINT,
            Signal::Hup => libc::SIGHUP,
            Signal::Usr1 => libc::SIGUSR1,
            Signal::Usr2 => libc::SIGUSR2,
            Signal::Chld => libc::SIGCHLD,
        }
    }

    pub fn from_number(number: i32) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.number() == number)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A small set of `Signal`s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SignalSet(u8);

impl SignalSet {
    pub const EMPTY: SignalSet = SignalSet(0);
    /// Every signal the daemon handles: SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD.
    pub const DAEMON: SignalSet = SignalSet(0b11_1111);

    pub fn of(signals: &[Signal]) -> SignalSet {
        let mut set = SignalSet::EMPTY;
        for &s in signals {
            set.insert(s);
        }
        set
    }

    pub fn insert(&mut self, signal: Signal) {
        self.0 |= signal.bit();
    }

    pub fn contains(self, signal: Signal) -> bool {
        self.0 & signal.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Signal> {
        Signal::ALL.into_iter().filter(move |&s| self.contains(s))
    }
}

/// What a registered fd is watched for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Readable,
    Writable,
    Both,
}

impl Interest {
    fn flags(self) -> epoll::EventFlags {
        match self {
            Interest::Readable => epoll::EventFlags::IN,
            Interest::Writable => epoll::EventFlags::OUT,
            Interest::Both => epoll::EventFlags::IN | epoll::EventFlags::OUT,
        }
    }
}

/// One ready fd. The loop is level-triggered: an fd not drained is reported again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    pub token: Token,
    pub readable: bool,
    pub writable: bool,
    pub hangup: bool,
    pub error: bool,
}

/// What one `EventLoop::wait` saw: ready fds, signals, and whether the deadline was reached.
/// Its capacity is fixed when it is made, so a wait allocates nothing; when more fds are ready
/// than it holds, the rest are reported by the next wait (level-triggered).
pub struct EventBuffer {
    events: Vec<epoll::Event>,
    signals: SignalSet,
    deadline_reached: bool,
}

impl EventBuffer {
    /// Room for `capacity` ready fds per wait (at least 2: the timerfd and signalfd share it).
    pub fn with_capacity(capacity: usize) -> EventBuffer {
        EventBuffer {
            events: Vec::with_capacity(capacity.max(2)),
            signals: SignalSet::EMPTY,
            deadline_reached: false,
        }
    }

    /// The caller's ready fds (the loop's own timerfd and signalfd are left out).
    pub fn iter(&self) -> impl Iterator<Item = Ready> + '_ {
        self.events.iter().filter_map(|e| {
            let token = e.data.u64();
            if token == TIMER_TOKEN || token == SIGNAL_TOKEN {
                return None;
            }
            let flags = e.flags;
            Some(Ready {
                token,
                readable: flags.intersects(epoll::EventFlags::IN | epoll::EventFlags::PRI),
                writable: flags.contains(epoll::EventFlags::OUT),
                hangup: flags.intersects(epoll::EventFlags::HUP | epoll::EventFlags::RDHUP),
                error: flags.contains(epoll::EventFlags::ERR),
            })
        })
    }

    /// Signals that arrived during this wait.
    pub fn signals(&self) -> SignalSet {
        self.signals
    }

    /// True when `clock::now()` had reached the deadline given to `wait` when it returned.
    pub fn deadline_reached(&self) -> bool {
        self.deadline_reached
    }

    fn clear(&mut self) {
        self.events.clear();
        self.signals = SignalSet::EMPTY;
        self.deadline_reached = false;
    }
}

pub struct EventLoop {
    epoll: OwnedFd,
    timer: OwnedFd,
    signalfd: Option<OwnedFd>,
    /// The absolute time the timerfd is set to, to skip timerfd_settime when it is unchanged.
    armed: Option<Instant>,
}

impl EventLoop {
    /// A loop without signals.
    pub fn new() -> io::Result<EventLoop> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        epoll::add(
            &epoll,
            &timer,
            epoll::EventData::new_u64(TIMER_TOKEN),
            epoll::EventFlags::IN,
        )?;
        Ok(EventLoop {
            epoll,
            timer,
            signalfd: None,
            armed: None,
        })
    }

    /// A loop that also reports `signals`, which are blocked in the calling thread from now on
    /// (see the module note on threads).
    pub fn with_signals(signals: SignalSet) -> io::Result<EventLoop> {
        let mut event_loop = EventLoop::new()?;
        let fd = open_signalfd(signals)?;
        epoll::add(
            &event_loop.epoll,
            &fd,
            epoll::EventData::new_u64(SIGNAL_TOKEN),
            epoll::EventFlags::IN,
        )?;
        event_loop.signalfd = Some(fd);
        Ok(event_loop)
    }

    pub fn add(&mut self, fd: BorrowedFd<'_>, token: Token, interest: Interest) -> io::Result<()> {
        check_token(token)?;
        epoll::add(
            &self.epoll,
            fd,
            epoll::EventData::new_u64(token),
            interest.flags(),
        )?;
        Ok(())
    }

    pub fn modify(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        check_token(token)?;
        epoll::modify(
            &self.epoll,
            fd,
            epoll::EventData::new_u64(token),
            interest.flags(),
        )?;
        Ok(())
    }

    pub fn remove(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        epoll::delete(&self.epoll, fd)?;
        Ok(())
    }

    /// Waits until a registered fd is ready, a signal arrives, or `deadline` (on `clock::now`'s
    /// clock) is reached; `None` waits without a time limit. Never returns before the deadline
    /// unless something else happened; `events.deadline_reached()` tells which. An interrupted
    /// wait (EINTR) is followed by one non-blocking look, so ready fds are still reported.
    pub fn wait(&mut self, deadline: Option<Instant>, events: &mut EventBuffer) -> io::Result<()> {
        events.clear();
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let timeout = match deadline {
            Some(at) if at <= clock::now() => Some(&zero),
            other => {
                self.arm(other)?;
                None
            }
        };
        match epoll::wait(&self.epoll, spare_capacity(&mut events.events), timeout) {
            Ok(_) => {}
            // Linux interrupts epoll on SIGSTOP/SIGCONT too; look again without waiting, so
            // that what became ready meanwhile (queued packets) is seen before the deadline is
            // acted on.
            Err(Errno::INTR) => {
                events.events.clear();
                match epoll::wait(&self.epoll, spare_capacity(&mut events.events), Some(&zero)) {
                    Ok(_) | Err(Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
        let (mut timer_fired, mut signal_ready) = (false, false);
        for e in &events.events {
            match e.data.u64() {
                TIMER_TOKEN => timer_fired = true,
                SIGNAL_TOKEN => signal_ready = true,
                _ => {}
            }
        }
        if timer_fired {
            self.drain_timer()?;
        }
        if signal_ready {
            events.signals = self.read_signals()?;
        }
        events.deadline_reached = deadline.is_some_and(|at| clock::now() >= at);
        Ok(())
    }

    fn arm(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        if self.armed == deadline {
            return Ok(());
        }
        // An all-zero it_value disarms; a deadline at instant 0 is in the past anyway, so 1 ns
        // keeps "fire now" meaning "fire now".
        let it_value = match deadline {
            Some(at) => {
                let ts = clock::to_timespec(at);
                if ts.tv_sec == 0 && ts.tv_nsec == 0 {
                    Timespec {
                        tv_sec: 0,
                        tv_nsec: 1,
                    }
                } else {
                    ts
                }
            }
            None => Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
        };
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value,
        };
        timerfd_settime(&self.timer, TimerfdTimerFlags::ABSTIME, &spec)?;
        self.armed = deadline;
        Ok(())
    }

    fn drain_timer(&mut self) -> io::Result<()> {
        let mut ticks = [0u8; 8];
        match rustix::io::read(&self.timer, &mut ticks) {
            Ok(_) | Err(Errno::AGAIN) | Err(Errno::INTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn read_signals(&mut self) -> io::Result<SignalSet> {
        match &self.signalfd {
            Some(fd) => read_signalfd(fd),
            None => Ok(SignalSet::EMPTY),
        }
    }
}

impl AsFd for EventLoop {
    /// The epoll fd, so the whole loop can be nested in another poller.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

fn check_token(token: Token) -> io::Result<()> {
    if token == TIMER_TOKEN || token == SIGNAL_TOKEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "event token reserved for the loop's timerfd/signalfd",
        ));
    }
    Ok(())
}

fn sigset(signals: SignalSet) -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; the zeroed value is only a placeholder that sigemptyset
    // overwrites before any other use.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` is a valid, writable sigset_t.
    if unsafe { libc::sigemptyset(&mut set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    for signal in signals.iter() {
        // SAFETY: `set` is an initialised sigset_t and the signal numbers are valid ones.
        if unsafe { libc::sigaddset(&mut set, signal.number()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(set)
}

/// Blocks `signals` in the calling thread, so that they stay pending for a signalfd instead of
/// running their default action. Threads spawned afterwards inherit the mask.
pub fn block_signals(signals: SignalSet) -> io::Result<()> {
    let set = sigset(signals)?;
    // SAFETY: `set` is initialised; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, core::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Blocks `signals` in the calling thread and opens a non-blocking signalfd for them (the
/// event loop's, and the checker's reactor's).
pub(crate) fn open_signalfd(signals: SignalSet) -> io::Result<OwnedFd> {
    block_signals(signals)?;
    let set = sigset(signals)?;
    // SAFETY: -1 asks for a new fd; `set` is initialised; the flags are valid for signalfd.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: signalfd returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Every signal queued on a signalfd, read until it is empty.
pub(crate) fn read_signalfd(fd: &OwnedFd) -> io::Result<SignalSet> {
    let mut set = SignalSet::EMPTY;
    let mut buf = [0u8; SIGINFO_LEN * 8];
    loop {
        let n = match rustix::io::read(fd, &mut buf) {
            Ok(n) => n,
            Err(Errno::AGAIN) | Err(Errno::INTR) => break,
            Err(e) => return Err(e.into()),
        };
        for record in buf[..n].chunks_exact(SIGINFO_LEN) {
            let signo = u32::from_ne_bytes([record[0], record[1], record[2], record[3]]);
            if let Some(signal) = i32::try_from(signo).ok().and_then(Signal::from_number) {
                set.insert(signal);
            }
        }
        if n < buf.len() {
            break;
        }
    }
    Ok(set)
}

/// Sends `signal` to the calling thread only (pthread_kill on itself). A process-wide kill(2)
/// may be delivered to any thread that does not block the signal; this one is not, which is what
/// tests of a per-thread signalfd need.
pub fn raise_in_this_thread(signal: Signal) -> io::Result<()> {
    // SAFETY: pthread_self() names the live calling thread; the signal number is valid.
    let rc = unsafe { libc::pthread_kill(libc::pthread_self(), signal.number()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Micros;

    #[test]
    fn signal_set_membership() {
        let mut set = SignalSet::of(&[Signal::Hup, Signal::Chld]);
        assert!(set.contains(Signal::Hup) && set.contains(Signal::Chld));
        assert!(!set.contains(Signal::Term));
        set.insert(Signal::Term);
        assert_eq!(set.iter().count(), 3);
        assert_eq!(SignalSet::DAEMON.iter().count(), 6);
        assert_eq!(Signal::from_number(libc::SIGUSR2), Some(Signal::Usr2));
        assert_eq!(Signal::from_number(libc::SIGSEGV), None);
    }

    #[test]
    fn reserved_tokens_refused() {
        let mut el = EventLoop::new().expect("epoll");
        let (a, _b) = rustix::pipe::pipe().expect("pipe");
        assert!(el.add(a.as_fd(), TIMER_TOKEN, Interest::Readable).is_err());
        assert!(el.add(a.as_fd(), 7, Interest::Readable).is_ok());
    }

    #[test]
    fn readable_pipe_reported_with_token() {
        let mut el = EventLoop::new().expect("epoll");
        let (r, w) = rustix::pipe::pipe().expect("pipe");
        el.add(r.as_fd(), 42, Interest::Readable).expect("add");
        rustix::io::write(&w, b"x").expect("write");
        let mut events = EventBuffer::with_capacity(4);
        el.wait(Some(clock::now() + Micros(1_000_000)), &mut events)
            .expect("wait");
        let ready: Vec<Ready> = events.iter().collect();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].token, 42);
        assert!(ready[0].readable);
        assert!(!events.deadline_reached());
    }

    #[test]
    fn past_deadline_returns_at_once() {
        let mut el = EventLoop::new().expect("epoll");
        let mut events = EventBuffer::with_capacity(4);
        let start = clock::now();
        el.wait(Some(Instant(1)), &mut events).expect("wait");
        assert!(events.deadline_reached());
        assert!(clock::now().saturating_since(start).0 < 100_000);
    }

    #[test]
    fn deadline_not_missed_early() {
        let mut el = EventLoop::new().expect("epoll");
        let mut events = EventBuffer::with_capacity(4);
        let deadline = clock::now() + Micros(5_000);
        el.wait(Some(deadline), &mut events).expect("wait");
        assert!(events.deadline_reached());
        assert!(clock::now() >= deadline);
    }

    #[test]
    fn signalfd_sees_thread_signal() {
        // A thread of its own, so the blocked mask stays out of the other tests' threads.
        std::thread::spawn(|| {
            let mut el = EventLoop::with_signals(SignalSet::of(&[Signal::Usr2])).expect("loop");
            raise_in_this_thread(Signal::Usr2).expect("raise");
            let mut events = EventBuffer::with_capacity(4);
            el.wait(Some(clock::now() + Micros(1_000_000)), &mut events)
                .expect("wait");
            assert!(events.signals().contains(Signal::Usr2));
            assert_eq!(events.iter().count(), 0);
        })
        .join()
        .expect("thread");
    }
}
