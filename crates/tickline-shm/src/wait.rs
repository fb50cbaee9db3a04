//! How a side of a queue waits for its peer: spin, spin-then-yield, or sleep
//! on a futex that the peer wakes only when this side has said it sleeps.

use std::str::FromStr;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::monotonic_ns;
use crate::QueueError;

/// Wait strategy of one side of a queue, chosen per stage at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Poll in a tight loop: lowest latency, one core fully busy.
    BusySpin,
    /// Poll `spins` times, then `sched_yield` between polls.
    SpinYield {
        /// Polls before yielding.
        spins: u32,
    },
    /// Poll `spins` times, yield `yields` times, then sleep on a futex until
    /// the peer wakes us. The peer pays a syscall only while we sleep.
    Block {
        /// Polls before yielding.
        spins: u32,
        /// Yields before sleeping.
        yields: u32,
    },
    /// Poll, then sleep this long between polls without telling the peer:
    /// the peer never pays a wake-up syscall, and this side sees a message
    /// up to a nap late. For a process beside the decision path (the venue
    /// simulator) that must not cost the stages it reads from.
    Nap {
        /// Microseconds per nap.
        micros: u32,
    },
}

impl Default for WaitStrategy {
    /// Blocking after a short spin: the only choice that behaves on a 2-core
    /// machine running five processes.
    fn default() -> Self {
        WaitStrategy::Block {
            spins: 2_000,
            yields: 8,
        }
    }
}

impl FromStr for WaitStrategy {
    type Err = QueueError;

    /// `spin`, `yield[:SPINS]`, `block[:SPINS[:YIELDS]]`, `nap:MICROS`.
    fn from_str(s: &str) -> Result<Self, QueueError> {
        let mut parts = s.split(':');
        let kind = parts.next().unwrap_or_default();
        let bad = |why: String| QueueError::BadParameter(why);
        let mut num = |default: u32| -> Result<u32, QueueError> {
            match parts.next() {
                None => Ok(default),
                Some(p) => p
                    .parse()
                    .map_err(|_| bad(format!("bad number {p:?} in wait strategy {s:?}"))),
            }
        };
        let strategy = match kind {
            "spin" => WaitStrategy::BusySpin,
            "yield" => WaitStrategy::SpinYield { spins: num(1_000)? },
            "nap" => match num(0)? {
                0 => return Err(bad(format!("wait strategy {s:?}: nap:MICROS, MICROS > 0"))),
                micros => WaitStrategy::Nap { micros },
            },
            "block" => {
                let WaitStrategy::Block {
                    spins: ds,
                    yields: dy,
                } = WaitStrategy::default()
                else {
                    unreachable!()
                };
                WaitStrategy::Block {
                    spins: num(ds)?,
                    yields: num(dy)?,
                }
            }
            _ => {
                return Err(bad(format!(
                    "unknown wait strategy {s:?}: expected spin, yield[:SPINS], block[:SPINS[:YIELDS]] or nap:MICROS"
                )))
            }
        };
        if parts.next().is_some() {
            return Err(bad(format!("too many fields in wait strategy {s:?}")));
        }
        Ok(strategy)
    }
}

impl std::fmt::Display for WaitStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitStrategy::BusySpin => write!(f, "spin"),
            WaitStrategy::SpinYield { spins } => write!(f, "yield:{spins}"),
            WaitStrategy::Block { spins, yields } => write!(f, "block:{spins}:{yields}"),
            WaitStrategy::Nap { micros } => write!(f, "nap:{micros}"),
        }
    }
}

/// Result of a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The condition holds.
    Ready,
    /// The timeout passed first.
    TimedOut,
    /// The stop flag was set.
    Stopped,
}

/// The words a sleeping side and its waker share, each on the sleeper's own line.
pub(crate) struct SleepWords<'a> {
    pub waiting: &'a AtomicU32,
    pub wake: &'a AtomicU32,
    pub sleeps: &'a AtomicU32,
    pub heartbeat: &'a AtomicU64,
}

/// Longest single futex sleep: bounds how stale a sleeper's heartbeat gets
/// and how late it notices a stop flag, even if a wake were lost.
const SLEEP_SLICE: Duration = Duration::from_millis(20);
/// Polls between clock reads while spinning.
const POLLS_PER_CLOCK_READ: u64 = 1024;

/// Sleeps `micros`, or until `deadline` if that comes first.
fn nap(micros: u32, deadline: Option<u64>) {
    let mut ns = u64::from(micros) * 1_000;
    if let Some(d) = deadline {
        ns = ns.min(d.saturating_sub(monotonic_ns()));
    }
    std::thread::sleep(Duration::from_nanos(ns));
}

/// Waits until `ready()` is true, `stop` is set or `timeout` passes.
pub(crate) fn wait_until(
    strategy: WaitStrategy,
    words: &SleepWords<'_>,
    stop: Option<&AtomicBool>,
    timeout: Option<Duration>,
    mut ready: impl FnMut() -> bool,
) -> WaitOutcome {
    if ready() {
        return WaitOutcome::Ready;
    }
    let start = monotonic_ns();
    let deadline = timeout.map(|t| start.saturating_add(t.as_nanos() as u64));
    // Counted in u64 so "unbounded" (spin forever, yield forever) cannot run
    // out: 2^64 polls take centuries. (With u32, busy-spin fell into a futex
    // sleep after 2^32 polls, about ten seconds.)
    let (spins, yields) = match strategy {
        WaitStrategy::BusySpin => (u64::MAX, 0),
        WaitStrategy::SpinYield { spins } => (u64::from(spins), u64::MAX),
        WaitStrategy::Block { spins, yields } => (u64::from(spins), u64::from(yields)),
        WaitStrategy::Nap { .. } => (0, 0),
    };
    let mut polls: u64 = 0;
    let mut yielded: u64 = 0;
    loop {
        if ready() {
            return WaitOutcome::Ready;
        }
        polls += 1;
        if polls.is_multiple_of(POLLS_PER_CLOCK_READ) {
            if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return WaitOutcome::Stopped;
            }
            let now = monotonic_ns();
            words.heartbeat.store(now, Ordering::Relaxed);
            if deadline.is_some_and(|d| now >= d) {
                return WaitOutcome::TimedOut;
            }
        }
        if polls < spins {
            std::hint::spin_loop();
            continue;
        }
        if yielded < yields {
            yielded += 1;
            std::thread::yield_now();
            // Yields are slow; read the clock each time.
            polls = POLLS_PER_CLOCK_READ - 1;
            continue;
        }
        if let WaitStrategy::Nap { micros } = strategy {
            nap(micros, deadline);
        } else if let Some(done) = futex_sleep(strategy, words, deadline, &mut ready) {
            return done;
        }
        // The clock, stop flag and heartbeat after every sleep.
        polls = POLLS_PER_CLOCK_READ - 1;
    }
}

/// One futex sleep of at most [`SLEEP_SLICE`]: the outcome if the condition
/// held or the deadline passed before it, else None (woken or sliced).
fn futex_sleep(
    strategy: WaitStrategy,
    words: &SleepWords<'_>,
    deadline: Option<u64>,
    ready: &mut impl FnMut() -> bool,
) -> Option<WaitOutcome> {
    debug_assert!(strategy != WaitStrategy::BusySpin, "busy-spin never sleeps");
    // Read the wake word before announcing, so a wake that lands between
    // the announcement and the futex call makes the call return.
    let seq = words.wake.load(Ordering::Acquire);
    words.waiting.store(1, Ordering::SeqCst);
    fence(Ordering::SeqCst);
    if ready() {
        words.waiting.store(0, Ordering::Relaxed);
        return Some(WaitOutcome::Ready);
    }
    let mut slice = SLEEP_SLICE;
    if let Some(d) = deadline {
        let now = monotonic_ns();
        if now >= d {
            words.waiting.store(0, Ordering::Relaxed);
            return Some(WaitOutcome::TimedOut);
        }
        slice = slice.min(Duration::from_nanos(d - now));
    }
    // Only this side writes it: a load and a store, off the hot path.
    let n = words.sleeps.load(Ordering::Relaxed);
    words.sleeps.store(n.wrapping_add(1), Ordering::Relaxed);
    crate::futex::wait(words.wake, seq, slice);
    words.waiting.store(0, Ordering::Relaxed);
    None
}

/// Called by the peer after it published: wakes the sleeper if it sleeps.
/// Costs a fence and a load of a line that only changes when the sleeper sleeps.
#[inline]
pub(crate) fn wake_if_sleeping(waiting: &AtomicU32, wake: &AtomicU32) {
    fence(Ordering::SeqCst);
    if waiting.load(Ordering::Relaxed) != 0 {
        wake.fetch_add(1, Ordering::Release);
        crate::futex::wake(wake);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_strategies() {
        for s in ["spin", "yield:10", "block:5:2", "nap:500"] {
            assert_eq!(s.parse::<WaitStrategy>().unwrap().to_string(), s);
        }
        assert_eq!(
            "yield".parse::<WaitStrategy>().unwrap(),
            WaitStrategy::SpinYield { spins: 1000 }
        );
        assert_eq!(
            "block".parse::<WaitStrategy>().unwrap(),
            WaitStrategy::default()
        );
        assert!(
            "nap".parse::<WaitStrategy>().is_err(),
            "a nap needs a length"
        );
        assert!("nap:0".parse::<WaitStrategy>().is_err());
        assert!("sleep".parse::<WaitStrategy>().is_err());
        assert!("yield:x".parse::<WaitStrategy>().is_err());
        assert!("block:1:2:3".parse::<WaitStrategy>().is_err());
    }

    #[test]
    fn a_napper_never_asks_to_be_woken_and_still_sees_the_condition() {
        let (waiting, wake, sleeps, beat) = (
            AtomicU32::new(0),
            AtomicU32::new(0),
            AtomicU32::new(0),
            AtomicU64::new(0),
        );
        let words = SleepWords {
            waiting: &waiting,
            wake: &wake,
            sleeps: &sleeps,
            heartbeat: &beat,
        };
        let flag = AtomicBool::new(false);
        let nap = WaitStrategy::Nap { micros: 200 };
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(5));
                // The waker looks: nobody is waiting, so it makes no call.
                assert_eq!(waiting.load(Ordering::SeqCst), 0);
                flag.store(true, Ordering::Release);
            });
            let got = wait_until(nap, &words, None, Some(Duration::from_secs(5)), || {
                flag.load(Ordering::Acquire)
            });
            assert_eq!(got, WaitOutcome::Ready);
        });
        assert_eq!(sleeps.load(Ordering::Relaxed), 0, "no futex sleep");
        assert!(beat.load(Ordering::Relaxed) > 0, "the heartbeat goes on");
        let t = wait_until(nap, &words, None, Some(Duration::from_millis(2)), || false);
        assert_eq!(t, WaitOutcome::TimedOut);
    }
}
