//! The checker's executor: tasks on one thread (the running probes), polled when woken, over
//! `sys::reactor` (which does all the waiting). Small on purpose: a run queue of task places, one
//! waker per place made when the place is first used (an `Arc` with a "queued" flag,
//! `std::task::Wake`) and kept for the tasks spawned into it later, so a wake allocates nothing
//! and queues a task at most once; the queue never outgrows the places.
//!
//! The caller owns the loop: [`Executor::run_ready`] polls what was woken, then the caller
//! handles its own sources and calls `reactor::wait`, which blocks until an fd, a timer or a
//! signal wakes something ([`Executor::run_until`] is that loop for tests). [`block_on`] drives
//! one future alone (`keeplite genhash`, tests).

use crate::sys::reactor;
use crate::time::Instant;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

/// Indices of the tasks woken since the last `run_ready`.
#[derive(Debug, Default)]
struct RunQueue(Mutex<Vec<usize>>);

impl RunQueue {
    fn lock(&self) -> MutexGuard<'_, Vec<usize>> {
        // A panic while holding the lock cannot leave a Vec<usize> half-updated.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Debug)]
struct TaskWaker {
    index: usize,
    /// In the run queue already (or finished: then never queued again).
    queued: AtomicBool,
    queue: Arc<RunQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.queue.lock().push(self.index);
        }
    }
}

/// A task's place: its future while it runs, and its waker, kept for the next task spawned
/// into the place.
struct Task<'a> {
    future: Option<Pin<Box<dyn Future<Output = ()> + 'a>>>,
    flag: Arc<TaskWaker>,
    waker: Waker,
}

/// Tasks that may borrow from the caller's stack frame (`'a`): the checker's probes borrow
/// their prepared checks.
pub struct Executor<'a> {
    tasks: Vec<Task<'a>>,
    /// Places whose task finished, reused by the next spawns.
    free: Vec<usize>,
    queue: Arc<RunQueue>,
    /// The batch being polled (swapped with the queue, so both keep their capacity).
    batch: Vec<usize>,
}

impl Default for Executor<'_> {
    fn default() -> Self {
        Executor::new()
    }
}

impl<'a> Executor<'a> {
    pub fn new() -> Executor<'a> {
        Executor {
            tasks: Vec::new(),
            free: Vec::new(),
            queue: Arc::new(RunQueue::default()),
            batch: Vec::new(),
        }
    }

    /// An executor with room for `tasks` tasks (its vectors then never grow past them).
    pub fn with_capacity(tasks: usize) -> Executor<'a> {
        Executor {
            tasks: Vec::with_capacity(tasks),
            free: Vec::with_capacity(tasks),
            queue: Arc::new(RunQueue(Mutex::new(Vec::with_capacity(tasks)))),
            batch: Vec::with_capacity(tasks),
        }
    }

    /// Adds a task, to be polled first by the next `run_ready`. Allocates its box; the place
    /// of a finished task is reused with its waker, so the places (and wakers) grow to the
    /// most tasks ever live at once.
    pub fn spawn(&mut self, future: impl Future<Output = ()> + 'a) {
        let future: Pin<Box<dyn Future<Output = ()> + 'a>> = Box::pin(future);
        let index = match self.free.pop() {
            Some(index) => {
                let task = &mut self.tasks[index];
                // A waker of the place's previous task may still queue it: one spurious poll.
                task.flag.queued.store(true, Ordering::Release);
                task.future = Some(future);
                index
            }
            None => {
                let index = self.tasks.len();
                let flag = Arc::new(TaskWaker {
                    index,
                    queued: AtomicBool::new(true),
                    queue: self.queue.clone(),
                });
                let waker = Waker::from(flag.clone());
                self.tasks.push(Task {
                    future: Some(future),
                    flag,
                    waker,
                });
                index
            }
        };
        let mut queue = self.queue.lock();
        // Room for every task, so that wakes never reallocate.
        let queued = queue.len();
        queue.reserve(self.tasks.len().saturating_sub(queued));
        queue.push(index);
        drop(queue);
        let batched = self.batch.len();
        self.batch.reserve(self.tasks.len().saturating_sub(batched));
    }

    /// Tasks not finished yet.
    pub fn len(&self) -> usize {
        self.tasks.iter().filter(|t| t.future.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a task is woken and waiting to be polled (then the loop must not block).
    pub fn has_ready(&self) -> bool {
        !self.queue.lock().is_empty()
    }

    /// Polls each task woken since the last call, once; returns how many were polled. Tasks
    /// woken while this runs wait for the next call (see `has_ready`).
    pub fn run_ready(&mut self) -> usize {
        std::mem::swap(&mut *self.queue.lock(), &mut self.batch);
        let polled = self.batch.len();
        for index in self.batch.drain(..) {
            let Some(task) = self.tasks.get_mut(index) else {
                continue;
            };
            let Some(future) = task.future.as_mut() else {
                continue;
            };
            task.flag.queued.store(false, Ordering::Release);
            let mut cx = Context::from_waker(&task.waker);
            if future.as_mut().poll(&mut cx).is_ready() {
                // Wakers still held elsewhere must not queue the place until it is reused.
                task.flag.queued.store(true, Ordering::Release);
                task.future = None;
                self.free.push(index);
            }
        }
        polled
    }

    /// Runs the tasks until `deadline` on the reactor's clock (signals are ignored).
    pub fn run_until(&mut self, deadline: Instant) -> io::Result<()> {
        reactor::refresh_now();
        loop {
            self.run_ready();
            if reactor::now() >= deadline {
                return Ok(());
            }
            let wait_until = if self.has_ready() {
                reactor::now()
            } else {
                deadline
            };
            reactor::wait(Some(wait_until))?;
        }
    }
}

/// Ready on the second poll: lets the loop turn (and the clock move) before a task goes on.
pub fn yield_now() -> YieldNow {
    YieldNow(false)
}

#[derive(Debug)]
pub struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A flag for `block_on`'s single future.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Drives `future` to completion on this thread's reactor. Fails only if the reactor cannot
/// wait (no epoll).
pub fn block_on<F: Future>(future: F) -> io::Result<F::Output> {
    let flag = Arc::new(Flag(AtomicBool::new(true)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    reactor::refresh_now();
    loop {
        if flag.0.swap(false, Ordering::AcqRel) {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return Ok(output);
            }
        }
        if !flag.0.load(Ordering::Acquire) {
            reactor::wait(None)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::reactor::sleep_until;
    use crate::time::Micros;
    use std::cell::RefCell;

    #[test]
    fn tasks_run_to_completion_in_deadline_order() {
        let order = RefCell::new(Vec::new());
        let mut ex = Executor::new();
        let start = reactor::refresh_now();
        for (name, ms) in [("c", 30), ("a", 10), ("b", 20)] {
            let order = &order;
            ex.spawn(async move {
                sleep_until(start + Micros(ms * 1_000)).await;
                order.borrow_mut().push(name);
            });
        }
        assert_eq!(ex.len(), 3);
        ex.run_until(start + Micros(100_000)).unwrap();
        assert_eq!(*order.borrow(), ["a", "b", "c"]);
        assert!(ex.is_empty());
        assert_eq!(reactor::counts().1, 0, "no timer left behind");
    }

    #[test]
    fn a_wake_queues_a_task_once() {
        let woken = RefCell::new(None::<Waker>);
        let polls = RefCell::new(0);
        let mut ex = Executor::new();
        ex.spawn(std::future::poll_fn(|cx| {
            *polls.borrow_mut() += 1;
            *woken.borrow_mut() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }));
        assert_eq!(ex.run_ready(), 1);
        assert!(!ex.has_ready());
        let waker = woken.borrow().clone().unwrap();
        waker.wake_by_ref();
        waker.wake_by_ref();
        waker.wake();
        assert_eq!(ex.run_ready(), 1);
        assert_eq!(*polls.borrow(), 2);
        assert_eq!(ex.run_ready(), 0);
    }

    #[test]
    fn a_finished_tasks_place_is_reused() {
        let runs = RefCell::new(0);
        let mut ex = Executor::new();
        for _ in 0..3 {
            ex.spawn(async { *runs.borrow_mut() += 1 });
            ex.spawn(async { *runs.borrow_mut() += 1 });
            ex.run_ready();
        }
        assert_eq!(*runs.borrow(), 6);
        assert!(ex.is_empty());
        assert_eq!(ex.tasks.len(), 2, "two places, each used three times");
    }

    #[test]
    fn block_on_returns_the_output() {
        let at = reactor::refresh_now() + Micros(5_000);
        let out = block_on(async {
            sleep_until(at).await;
            7
        })
        .unwrap();
        assert_eq!(out, 7);
        assert!(crate::sys::clock::now() >= at);
    }
}
