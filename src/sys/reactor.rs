//! The health checker's single-threaded reactor: one epoll(7) instance per thread, fds
//! registered once (edge-triggered), one deadline heap for every timer, and the daemon's signals
//! on a signalfd(2) in the same epoll. Futures built on it ([`Async`], [`Sleep`]) are driven by
//! whatever polls them on this thread (`check::executor`); [`wait`] is the one place the thread
//! blocks.
//!
//! Costs, per socket: one `epoll_ctl(ADD)` with EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET when it is
//! wrapped; nothing per wait (readiness is remembered per registration and cleared only when a
//! call reports EAGAIN, or a read comes back short); the fd's close removes it from epoll. Per
//! timer: a push into a binary heap (no syscall, no allocation once the heap's vectors have
//! grown to the number of live timers). Per loop turn: one `epoll_wait`, with the earliest
//! deadline as its timeout (milliseconds, rounded up: timers are never early, and late by at most
//! the time the previous turn spent polling), and one clock read after it, which is the
//! [`now`] every future of that turn sees. Under TCG `clock_gettime` is a real system call; the
//! cached `now` keeps it to one per turn instead of one per timer.
//!
//! Wakers are collected during a turn and woken after the reactor's state is released, so a
//! waker may use the reactor. A waker woken from another thread does not interrupt
//! `epoll_wait`: everything here lives on one thread.
//!
//! Stale events: a registration's epoll data carries a generation, so an event for a closed
//! socket (its open file description kept alive by a forked child until exec) never reaches the
//! registration that reuses the slot.

use crate::sys::clock;
use crate::sys::event::{block_signals, open_signalfd, read_signalfd, SignalSet};
use crate::time::{Instant, Micros};
use rustix::buffer::spare_capacity;
use rustix::event::epoll;
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::time::Timespec;
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Events taken per `epoll_wait`; more ready fds are reported by the next turn (an edge-triggered
/// event stays queued until it is fetched once).
const EVENTS_PER_TURN: usize = 128;

/// The longest single `epoll_wait`.
const MAX_WAIT: Micros = Micros(3_600_000_000);

/// Epoll data of the signalfd. Registration data is `generation << 32 | index`, and indices stay
/// below `u32::MAX`.
const SIGNAL_DATA: u64 = u64::MAX;

/// What a registered fd has reported since its last `EAGAIN`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness(u8);

impl Readiness {
    pub const READABLE: Readiness = Readiness(1);
    pub const WRITABLE: Readiness = Readiness(2);
    /// EPOLLRDHUP or EPOLLHUP: the peer shut down (sticky).
    pub const HANGUP: Readiness = Readiness(4);
    /// EPOLLERR: a pending socket error, read with SO_ERROR or by the next call (sticky).
    pub const ERROR: Readiness = Readiness(8);

    pub fn readable(self) -> bool {
        self.0 & Self::READABLE.0 != 0
    }
    pub fn writable(self) -> bool {
        self.0 & Self::WRITABLE.0 != 0
    }
    pub fn hangup(self) -> bool {
        self.0 & Self::HANGUP.0 != 0
    }
    pub fn error(self) -> bool {
        self.0 & Self::ERROR.0 != 0
    }

    /// A read (or a write) returns at once, with data, EOF or an error, whenever one of these
    /// flags is up: so all of them raise READABLE (WRITABLE), and clearing that bit on EAGAIN
    /// cannot leave a future spinning on a sticky HANGUP or ERROR.
    fn from_epoll(flags: epoll::EventFlags) -> Readiness {
        use epoll::EventFlags as F;
        let mut bits = 0;
        if flags.intersects(F::IN | F::PRI | F::RDHUP | F::HUP | F::ERR) {
            bits |= Self::READABLE.0;
        }
        if flags.intersects(F::OUT | F::HUP | F::ERR) {
            bits |= Self::WRITABLE.0;
        }
        if flags.intersects(F::RDHUP | F::HUP) {
            bits |= Self::HANGUP.0;
        }
        if flags.contains(F::ERR) {
            bits |= Self::ERROR.0;
        }
        Readiness(bits)
    }
}

struct Registration {
    generation: u32,
    live: bool,
    ready: Readiness,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// Where a timer sits: its heap position, or one of these.
const FIRED: u32 = u32::MAX;
const FREE: u32 = u32::MAX - 1;

struct TimerSlot {
    at: Instant,
    position: u32,
    waker: Option<Waker>,
}

/// A binary min-heap of timer slots that knows each slot's position, so that a dropped timer is
/// removed at once (O(log n)) instead of lingering until its deadline.
#[derive(Default)]
struct Timers {
    slots: Vec<TimerSlot>,
    heap: Vec<u32>,
    free: Vec<u32>,
}

impl Timers {
    const fn new() -> Timers {
        Timers {
            slots: Vec::new(),
            heap: Vec::new(),
            free: Vec::new(),
        }
    }

    fn at(&self, heap_index: usize) -> Instant {
        self.heap
            .get(heap_index)
            .and_then(|&k| self.slots.get(k as usize))
            .map_or(Instant(u64::MAX), |s| s.at)
    }

    fn earliest(&self) -> Option<Instant> {
        (!self.heap.is_empty()).then(|| self.at(0))
    }

    fn place(&mut self, heap_index: usize) {
        if let Some(&k) = self.heap.get(heap_index) {
            if let Some(slot) = self.slots.get_mut(k as usize) {
                slot.position = heap_index as u32;
            }
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.at(parent) <= self.at(i) {
                break;
            }
            self.heap.swap(i, parent);
            self.place(i);
            self.place(parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (left, right) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            if left < self.heap.len() && self.at(left) < self.at(least) {
                least = left;
            }
            if right < self.heap.len() && self.at(right) < self.at(least) {
                least = right;
            }
            if least == i {
                return;
            }
            self.heap.swap(i, least);
            self.place(i);
            self.place(least);
            i = least;
        }
    }

    fn insert(&mut self, at: Instant, waker: Waker) -> Option<u32> {
        let position = u32::try_from(self.heap.len()).ok().filter(|&p| p < FREE)?;
        let slot = TimerSlot {
            at,
            position,
            waker: Some(waker),
        };
        let key = match self.free.pop() {
            Some(key) => {
                *self.slots.get_mut(key as usize)? = slot;
                key
            }
            None => {
                let key = u32::try_from(self.slots.len()).ok().filter(|&k| k < FREE)?;
                self.slots.push(slot);
                key
            }
        };
        self.heap.push(key);
        self.sift_up(self.heap.len() - 1);
        Some(key)
    }

    /// Takes `heap_index` out of the heap, marking its slot `mark`.
    fn unlink(&mut self, heap_index: usize, mark: u32) -> Option<&mut TimerSlot> {
        let last = self.heap.len().checked_sub(1)?;
        self.heap.swap(heap_index, last);
        let key = self.heap.pop()?;
        if heap_index < self.heap.len() {
            self.place(heap_index);
            // The moved element may belong above or below its new place.
            self.sift_down(heap_index);
            self.sift_up(heap_index);
        }
        let slot = self.slots.get_mut(key as usize)?;
        slot.position = mark;
        Some(slot)
    }

    fn remove(&mut self, key: u32) {
        let Some(slot) = self.slots.get_mut(key as usize) else {
            return;
        };
        match slot.position {
            FREE => return,
            FIRED => {
                slot.position = FREE;
                slot.waker = None;
            }
            position => {
                if let Some(slot) = self.unlink(position as usize, FREE) {
                    slot.waker = None;
                }
            }
        }
        self.free.push(key);
    }

    fn fire_due(&mut self, now: Instant, wake: &mut Vec<Waker>) {
        while self.earliest().is_some_and(|at| at <= now) {
            let Some(slot) = self.unlink(0, FIRED) else {
                return;
            };
            if let Some(waker) = slot.waker.take() {
                wake.push(waker);
            }
        }
    }

    fn is_fired(&self, key: u32) -> bool {
        self.slots
            .get(key as usize)
            .is_none_or(|s| s.position == FIRED)
    }

    fn set_waker(&mut self, key: u32, waker: &Waker) {
        if let Some(slot) = self.slots.get_mut(key as usize) {
            match &slot.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => slot.waker = Some(waker.clone()),
            }
        }
    }

    fn live(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

struct Core {
    epoll: Option<OwnedFd>,
    signalfd: Option<OwnedFd>,
    /// The clock as read after the last `epoll_wait` (0: not read yet).
    now: Instant,
    registrations: Vec<Registration>,
    free_registrations: Vec<u32>,
    timers: Timers,
    events: Vec<epoll::Event>,
    /// Wakers to wake once the core is released.
    wake: Vec<Waker>,
}

impl Core {
    const fn new() -> Core {
        Core {
            epoll: None,
            signalfd: None,
            now: Instant(0),
            registrations: Vec::new(),
            free_registrations: Vec::new(),
            timers: Timers::new(),
            events: Vec::new(),
            wake: Vec::new(),
        }
    }

    fn epoll(&mut self) -> io::Result<&OwnedFd> {
        if self.epoll.is_none() {
            self.epoll = Some(epoll::create(epoll::CreateFlags::CLOEXEC)?);
        }
        self.epoll
            .as_ref()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn now(&mut self) -> Instant {
        if self.now.0 == 0 {
            self.now = clock::now();
        }
        self.now
    }

    fn registration(&mut self, key: Key) -> Option<&mut Registration> {
        self.registrations
            .get_mut(key.index as usize)
            .filter(|r| r.live && r.generation == key.generation)
    }

    fn dispatch(&mut self, data: u64, flags: epoll::EventFlags) {
        let key = Key {
            index: data as u32,
            generation: (data >> 32) as u32,
        };
        let ready = Readiness::from_epoll(flags);
        let Some(r) = self.registration(key) else {
            return;
        };
        r.ready.0 |= ready.0;
        let reader = if ready.readable() {
            r.reader.take()
        } else {
            None
        };
        let writer = if ready.writable() {
            r.writer.take()
        } else {
            None
        };
        self.wake.extend(reader);
        self.wake.extend(writer);
    }
}

thread_local! {
    static CORE: RefCell<Core> = const { RefCell::new(Core::new()) };
}

fn with_core<R>(f: impl FnOnce(&mut Core) -> R) -> io::Result<R> {
    CORE.try_with(|core| match core.try_borrow_mut() {
        Ok(mut core) => Ok(f(&mut core)),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "reactor re-entered",
        )),
    })
    .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "reactor gone (thread exiting)"))?
}

/// The clock as of the current loop turn: read once after each `epoll_wait` (and on first use),
/// not per call. Deadlines computed from it are early by at most the time this turn has spent.
pub fn now() -> Instant {
    with_core(Core::now).unwrap_or_else(|_| clock::now())
}

/// Reads the clock now, for a loop that has been busy outside `wait` (a fresh `block_on`).
pub fn refresh_now() -> Instant {
    let now = clock::now();
    let _ = with_core(|core| core.now = now);
    now
}

/// Blocks `signals` in the calling thread and reports them from [`wait`]. Call it before the
/// process starts any thread (threads inherit the mask; an unblocked thread could take a
/// process-directed signal). Calling it again replaces nothing: the first set stays.
pub fn watch_signals(signals: SignalSet) -> io::Result<()> {
    block_signals(signals)?;
    with_core(|core| {
        if core.signalfd.is_some() {
            return Ok(());
        }
        let fd = open_signalfd(signals)?;
        epoll::add(
            core.epoll()?,
            &fd,
            epoll::EventData::new_u64(SIGNAL_DATA),
            epoll::EventFlags::IN,
        )?;
        core.signalfd = Some(fd);
        Ok(())
    })?
}

/// One loop turn: waits until a registered fd reports, a signal arrives, the earliest timer is
/// due or `deadline` (if any) is reached, then reads the clock once, records the readiness, fires
/// the due timers and wakes their futures. Returns the signals that arrived. With nothing to
/// wait for and no deadline it blocks until a signal (or forever).
pub fn wait(deadline: Option<Instant>) -> io::Result<SignalSet> {
    let mut signals = SignalSet::EMPTY;
    let mut wake = with_core(|core| -> io::Result<Vec<Waker>> {
        let now = core.now();
        let until = match (deadline, core.timers.earliest()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = until.map(|at| {
            // Waking early is harmless (nothing is due yet); a timeout past i32 milliseconds
            // would make rustix use epoll_pwait2, which kernels before 5.11 lack.
            let left = at.saturating_since(now).0.min(MAX_WAIT.0);
            Timespec {
                tv_sec: (left / 1_000_000) as i64,
                tv_nsec: ((left % 1_000_000) * 1_000) as _,
            }
        });
        // The events vector is taken out for the call so that `core` stays usable after it.
        let mut events = std::mem::take(&mut core.events);
        if events.capacity() == 0 {
            events.reserve_exact(EVENTS_PER_TURN);
        }
        events.clear();
        let result = match core.epoll() {
            Ok(fd) => match epoll::wait(fd, spare_capacity(&mut events), timeout.as_ref()) {
                Ok(_) | Err(Errno::INTR) => Ok(()),
                Err(e) => Err(io::Error::from(e)),
            },
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            core.events = events;
            return Err(e);
        }
        core.now = clock::now();
        let mut signal_ready = false;
        for event in &events {
            let data = event.data.u64();
            if data == SIGNAL_DATA {
                signal_ready = true;
            } else {
                core.dispatch(data, event.flags);
            }
        }
        core.events = events;
        if signal_ready {
            if let Some(fd) = &core.signalfd {
                signals = read_signalfd(fd)?;
            }
        }
        let now = core.now;
        core.timers.fire_due(now, &mut core.wake);
        Ok(std::mem::take(&mut core.wake))
    })??;
    for waker in wake.drain(..) {
        waker.wake();
    }
    // Give the (now empty) vector back, keeping its capacity.
    let _ = with_core(|core| {
        if core.wake.capacity() < wake.capacity() {
            core.wake = wake;
        }
    });
    Ok(signals)
}

/// Live registrations and timers on this thread, for tests and state dumps.
pub fn counts() -> (usize, usize) {
    with_core(|core| {
        (
            core.registrations.len() - core.free_registrations.len(),
            core.timers.live(),
        )
    })
    .unwrap_or((0, 0))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    index: u32,
    generation: u32,
}

/// An fd registered with this thread's reactor for as long as it lives (`T` is a non-blocking
/// socket, or anything else with an fd). Readiness is edge-triggered and remembered: a future
/// waiting for it returns at once when the fd has reported since the bit was last cleared.
#[derive(Debug)]
pub struct Async<T: AsFd> {
    io: T,
    key: Key,
}

impl<T: AsFd> Async<T> {
    /// Registers `io` (which must be non-blocking: an operation that blocks stalls the thread).
    pub fn new(io: T) -> io::Result<Async<T>> {
        let key = with_core(|core| -> io::Result<Key> {
            let index = match core.free_registrations.pop() {
                Some(index) => index,
                None => {
                    let index = u32::try_from(core.registrations.len())
                        .ok()
                        .filter(|&i| i < u32::MAX)
                        .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
                    core.registrations.push(Registration {
                        generation: 0,
                        live: false,
                        ready: Readiness::default(),
                        reader: None,
                        writer: None,
                    });
                    index
                }
            };
            let Some(r) = core.registrations.get_mut(index as usize) else {
                return Err(io::Error::from(io::ErrorKind::NotFound));
            };
            r.generation = r.generation.wrapping_add(1);
            r.live = true;
            r.ready = Readiness::default();
            let key = Key {
                index,
                generation: r.generation,
            };
            let data = u64::from(key.generation) << 32 | u64::from(index);
            use epoll::EventFlags as F;
            let flags = F::IN | F::OUT | F::RDHUP | F::ET;
            let added = core.epoll().and_then(|ep| {
                Ok(epoll::add(
                    ep,
                    io.as_fd(),
                    epoll::EventData::new_u64(data),
                    flags,
                )?)
            });
            if let Err(e) = added {
                if let Some(r) = core.registrations.get_mut(index as usize) {
                    r.live = false;
                }
                core.free_registrations.push(index);
                return Err(e);
            }
            Ok(key)
        })??;
        Ok(Async { io, key })
    }

    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// What the fd has reported since its bits were last cleared.
    pub fn readiness(&self) -> Readiness {
        with_core(|core| core.registration(self.key).map(|r| r.ready))
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Forgets READABLE and/or WRITABLE (after EAGAIN, or a short read of a stream): the next
    /// edge raises them again.
    pub fn clear(&self, bits: Readiness) {
        let _ = with_core(|core| {
            if let Some(r) = core.registration(self.key) {
                r.ready.0 &= !(bits.0 & (Readiness::READABLE.0 | Readiness::WRITABLE.0));
            }
        });
    }

    /// Ready when the fd is readable (data, EOF or an error).
    pub fn readable(&self) -> WaitReady<'_, T> {
        WaitReady {
            io: self,
            want: Readiness::READABLE,
        }
    }

    /// Ready when the fd is writable (room, a finished connect, or an error).
    pub fn writable(&self) -> WaitReady<'_, T> {
        WaitReady {
            io: self,
            want: Readiness::WRITABLE,
        }
    }

    /// Runs `op` once the fd is readable, again after each EAGAIN.
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        loop {
            self.readable().await?;
            match op(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear(Readiness::READABLE),
                other => return other,
            }
        }
    }

    /// Runs `op` at once (a fresh socket usually has room), and again each time the fd becomes
    /// writable after an EAGAIN.
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        loop {
            match op(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.clear(Readiness::WRITABLE);
                    self.writable().await?;
                }
                other => return other,
            }
        }
    }
}

impl<T: AsFd> Drop for Async<T> {
    fn drop(&mut self) {
        // Closing the fd (when `io` drops, right after this) takes it out of the epoll set; the
        // slot's next owner gets a new generation.
        let _ = with_core(|core| {
            if let Some(r) = core.registration(self.key) {
                r.live = false;
                r.reader = None;
                r.writer = None;
                core.free_registrations.push(self.key.index);
            }
        });
    }
}

/// The future of [`Async::readable`] and [`Async::writable`].
#[derive(Debug)]
pub struct WaitReady<'a, T: AsFd> {
    io: &'a Async<T>,
    want: Readiness,
}

impl<T: AsFd> Future for WaitReady<'_, T> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (key, want) = (self.io.key, self.want);
        with_core(|core| {
            let Some(r) = core.registration(key) else {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::NotConnected)));
            };
            if r.ready.0 & want.0 != 0 {
                return Poll::Ready(Ok(()));
            }
            let slot = if want == Readiness::READABLE {
                &mut r.reader
            } else {
                &mut r.writer
            };
            match slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .unwrap_or_else(|e| Poll::Ready(Err(e)))
    }
}

/// A future ready at `at` (on [`now`]'s clock). It takes a timer only if it has to wait, and
/// gives it back when it is dropped, fired or not.
#[derive(Debug)]
pub struct Sleep {
    at: Instant,
    key: Option<u32>,
}

/// Ready once [`now`] has reached `at`.
pub fn sleep_until(at: Instant) -> Sleep {
    Sleep { at, key: None }
}

impl Sleep {
    pub fn deadline(&self) -> Instant {
        self.at
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let at = this.at;
        let key = this.key;
        let polled = with_core(|core| match key {
            None if at <= core.now() => (Poll::Ready(()), None),
            None => match core.timers.insert(at, cx.waker().clone()) {
                Some(key) => (Poll::Pending, Some(key)),
                // 4 billion live timers: give up waiting rather than never waking.
                None => (Poll::Ready(()), None),
            },
            Some(key) if core.timers.is_fired(key) => {
                core.timers.remove(key);
                (Poll::Ready(()), None)
            }
            Some(key) => {
                core.timers.set_waker(key, cx.waker());
                (Poll::Pending, Some(key))
            }
        });
        match polled {
            Ok((poll, key)) => {
                this.key = key;
                poll
            }
            // No reactor (the thread is exiting): nothing could ever wake us.
            Err(_) => Poll::Ready(()),
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let _ = with_core(|core| core.timers.remove(key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::event::Signal;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<F: Future + Unpin>(f: &mut F, count: &Arc<Count>) -> Poll<F::Output> {
        let waker = Waker::from(count.clone());
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    /// Each test runs on its own thread, so it has a reactor of its own.
    fn on_own_thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(f).join().expect("test thread");
    }

    #[test]
    fn timers_fire_in_deadline_order_and_not_early() {
        on_own_thread(|| {
            let start = refresh_now();
            let wakes: Vec<Arc<Count>> = (0..5).map(|_| Arc::default()).collect();
            // Out of order, one duplicate deadline.
            let offsets = [40, 10, 30, 10, 20];
            let mut sleeps: Vec<Sleep> = offsets
                .iter()
                .map(|ms| sleep_until(start + Micros(ms * 1_000)))
                .collect();
            for (s, c) in sleeps.iter_mut().zip(&wakes) {
                assert!(poll(s, c).is_pending());
            }
            assert_eq!(counts().1, 5);
            let mut fired = Vec::new();
            while fired.len() < 5 {
                wait(None).unwrap();
                let now = now();
                for (i, c) in wakes.iter().enumerate() {
                    if c.0.load(Ordering::SeqCst) == 1 && !fired.contains(&i) {
                        assert!(now >= start + Micros(offsets[i] * 1_000), "early");
                        fired.push(i);
                    }
                }
            }
            let order: Vec<u64> = fired.iter().map(|&i| offsets[i]).collect();
            assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
            for (s, c) in sleeps.iter_mut().zip(&wakes) {
                assert!(poll(s, c).is_ready());
            }
            assert_eq!(counts().1, 0);
        });
    }

    #[test]
    fn a_dropped_timer_leaves_the_heap() {
        on_own_thread(|| {
            let start = refresh_now();
            let c = Arc::default();
            let mut keep = sleep_until(start + Micros(20_000));
            let mut gone: Vec<Sleep> = (1..50)
                .map(|i| sleep_until(start + Micros(i * 1_000_000)))
                .collect();
            assert!(poll(&mut keep, &c).is_pending());
            for s in &mut gone {
                assert!(poll(s, &c).is_pending());
            }
            assert_eq!(counts().1, 50);
            // Drop from the middle of the heap, in an order unlike the deadlines'.
            let mut i = 0;
            gone.retain(|_| {
                i += 1;
                i % 3 == 0
            });
            drop(gone);
            assert_eq!(counts().1, 1);
            // The earliest left decides the wait: 20 ms, not the dropped ones.
            wait(None).unwrap();
            assert!(poll(&mut keep, &c).is_ready());
            assert_eq!(counts().1, 0);
            // The freed slots are reused.
            let mut again = sleep_until(now() + Micros(1_000_000));
            assert!(poll(&mut again, &c).is_pending());
            assert_eq!(counts().1, 1);
            drop(again);
            assert_eq!(counts().1, 0);
        });
    }

    #[test]
    fn a_past_deadline_is_ready_without_a_timer() {
        on_own_thread(|| {
            let c = Arc::default();
            let mut s = sleep_until(Instant(1));
            assert!(poll(&mut s, &c).is_ready());
            assert_eq!(counts().1, 0);
        });
    }

    #[test]
    fn a_readable_socket_wakes_its_reader_once_registered() {
        on_own_thread(|| {
            let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            let a = Async::new(a).unwrap();
            assert_eq!(counts().0, 1);
            let c = Arc::<Count>::default();
            let mut readable = a.readable();
            assert!(poll(&mut readable, &c).is_pending());
            // Writable at once (the ADD reports the current state).
            wait(Some(now())).unwrap();
            assert!(a.readiness().writable() && !a.readiness().readable());
            assert_eq!(c.0.load(Ordering::SeqCst), 0);
            b.send(b"ping").unwrap();
            wait(Some(now() + Micros(1_000_000))).unwrap();
            assert_eq!(c.0.load(Ordering::SeqCst), 1);
            assert!(poll(&mut readable, &c).is_ready());
            let mut buf = [0u8; 8];
            let mut read = std::pin::pin!(a.read_with(|s| s.recv(&mut buf)));
            let waker = Waker::from(c.clone());
            let got = read.as_mut().poll(&mut Context::from_waker(&waker));
            assert!(matches!(got, Poll::Ready(Ok(4))));
            // Drained: EAGAIN clears the bit, and the next read waits.
            let mut buf = [0u8; 8];
            let mut read = std::pin::pin!(a.read_with(|s| s.recv(&mut buf)));
            assert!(read
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            assert!(!a.readiness().readable());
        });
    }

    #[test]
    fn dropping_a_registration_frees_it_and_stale_events_are_ignored() {
        on_own_thread(|| {
            let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            // A duplicate keeps the open file description (and so its epoll entry) alive
            // after the registered fd is closed, as a forked child would.
            let dup = a.try_clone().unwrap();
            let first = Async::new(a).unwrap();
            let old_key = first.key;
            drop(first);
            assert_eq!(counts().0, 0);
            let (c, _d) = std::os::unix::net::UnixDatagram::pair().unwrap();
            c.set_nonblocking(true).unwrap();
            let second = Async::new(c).unwrap();
            assert_eq!(second.key.index, old_key.index);
            assert_ne!(second.key.generation, old_key.generation);
            wait(Some(now())).unwrap();
            second.clear(Readiness::WRITABLE);
            // The old description becomes readable: its event names the old generation.
            b.send(b"x").unwrap();
            wait(Some(now() + Micros(50_000))).unwrap();
            assert!(!second.readiness().readable());
            drop(dup);
        });
    }

    #[test]
    fn signals_arrive_through_wait() {
        on_own_thread(|| {
            watch_signals(SignalSet::of(&[Signal::Usr2])).unwrap();
            crate::sys::event::raise_in_this_thread(Signal::Usr2).unwrap();
            let got = wait(Some(now() + Micros(1_000_000))).unwrap();
            assert!(got.contains(Signal::Usr2));
        });
    }
}
