//! Single-producer/single-consumer ring of `T` slots in a shared segment.
//!
//! Protocol: `tail` counts published messages and is written only by the
//! producer (release store after the slots are written); `head` counts
//! committed messages and is written only by the consumer (release store after
//! the slots are read). Slot `i` lives at `i & (capacity - 1)`. Both counters
//! live in the segment, so either side can die and a successor resumes from them.

use std::mem::{align_of, size_of};
use std::ptr::addr_of_mut;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::monotonic_ns;
use crate::error::{QueueError, Result};
use crate::header::{
    ring_offset, segment_len, Header, HEADER_SIZE, LAYOUT_VERSION, MAGIC, STATE_READY,
    TYPE_NAME_MAX,
};
use crate::layout::Message;
use crate::ring::{
    claim_role, header, process_alive, release_role, valid_capacity, validate, Ring, SlotLayout,
};
use crate::segment::{unlink, Segment};
use crate::wait::{wait_until, wake_if_sleeping, SleepWords, WaitOutcome, WaitStrategy};

/// What the producer does when the ring is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FullPolicy {
    /// Wait for the consumer (backpressure): for replays.
    #[default]
    Block,
    /// Drop the new message and count it: for live feeds that must not stall.
    DropNewest,
}

impl FromStr for FullPolicy {
    type Err = QueueError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "block" => Ok(FullPolicy::Block),
            "drop" | "drop-newest" => Ok(FullPolicy::DropNewest),
            _ => Err(QueueError::BadParameter(format!(
                "unknown full-queue policy {s:?}: expected block or drop-newest"
            ))),
        }
    }
}

/// Outcome of [`Producer::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// Published.
    Sent,
    /// Ring full under [`FullPolicy::DropNewest`]; counted in the header.
    Dropped,
    /// The stop flag was raised while waiting for space.
    Stopped,
}

/// The writing end. At most one live process holds it per segment.
pub struct Producer<T: Message> {
    ring: Ring<T>,
    tail: u64,
    cached_head: u64,
    policy: FullPolicy,
    wait: WaitStrategy,
    stop: Option<Arc<AtomicBool>>,
}

impl<T: Message> Producer<T> {
    /// Attaches to an existing segment and resumes after its last published slot.
    pub fn attach(name: &str, policy: FullPolicy, wait: WaitStrategy) -> Result<Self> {
        let ring = Ring::<T>::open(name, true)?;
        let h = ring.header();
        claim_role(&h.producer.pid, name, "producer")?;
        h.producer
            .heartbeat_ns
            .store(monotonic_ns(), Ordering::Relaxed);
        let tail = h.producer.tail.load(Ordering::Acquire);
        let cached_head = h.consumer.head.load(Ordering::Acquire);
        Ok(Producer {
            ring,
            tail,
            cached_head,
            policy,
            wait,
            stop: None,
        })
    }

    /// A flag that, once set, makes blocking calls return [`Push::Stopped`].
    pub fn with_stop_flag(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity as usize
    }

    /// Messages published so far over the segment's life.
    pub fn published(&self) -> u64 {
        self.tail
    }

    /// Free slots, refreshing the cached consumer index only when it shows fewer than `want`.
    fn free(&mut self, want: u64) -> u64 {
        self.check();
        let mut free = self.ring.capacity - (self.tail - self.cached_head);
        if free < want {
            self.cached_head = self.ring.header().consumer.head.load(Ordering::Acquire);
            self.check();
            free = self.ring.capacity - (self.tail - self.cached_head);
        }
        free
    }

    /// head <= tail <= head + capacity, as this producer sees them.
    #[inline]
    fn check(&self) {
        debug_assert!(
            self.cached_head <= self.tail && self.tail - self.cached_head <= self.ring.capacity,
            "producer sees head {} tail {} capacity {}",
            self.cached_head,
            self.tail,
            self.ring.capacity
        );
    }

    /// Up to `want` contiguous free slots to fill, then [`publish`](Self::publish).
    /// Shorter than `want` when the ring is nearly full or wraps; empty when full.
    pub fn write_slots(&mut self, want: usize) -> &mut [T] {
        let free = self.free(want as u64);
        let (ptr, run) = self.ring.run_from(self.tail);
        let n = (want as u64).min(free).min(run) as usize;
        debug_assert!(self.tail + n as u64 <= self.cached_head + self.ring.capacity);
        // SAFETY: slots [tail, tail + n) are free (the consumer committed
        // past them) and contiguous; only this producer writes them until
        // they are published, and &mut self keeps us from handing them out twice.
        unsafe { std::slice::from_raw_parts_mut(ptr, n) }
    }

    /// Publishes the next `n` written slots with one release store.
    ///
    /// Panics if `n` exceeds the free space last seen: that would expose unwritten slots.
    pub fn publish(&mut self, n: usize) {
        let n = n as u64;
        assert!(
            n <= self.ring.capacity - (self.tail - self.cached_head),
            "publish({n}) beyond the free slots"
        );
        if n == 0 {
            return;
        }
        self.tail += n;
        self.check();
        let h = self.ring.header();
        h.producer.tail.store(self.tail, Ordering::Release);
        wake_if_sleeping(&h.consumer_sleep.waiting, &h.consumer_sleep.wake);
    }

    /// Publishes one message if there is room.
    #[inline]
    pub fn try_push(&mut self, msg: &T) -> bool {
        let slots = self.write_slots(1);
        match slots.first_mut() {
            Some(slot) => {
                *slot = *msg;
                self.publish(1);
                true
            }
            None => false,
        }
    }

    /// Publishes as many of `msgs` as fit, in order, with one publish. Never waits.
    pub fn push_slice(&mut self, msgs: &[T]) -> usize {
        let mut done = 0;
        // At most two runs: up to the ring's end, then from its start.
        for _ in 0..2 {
            if done == msgs.len() {
                break;
            }
            let slots = self.write_slots(msgs.len() - done);
            let n = slots.len();
            slots.copy_from_slice(&msgs[done..done + n]);
            // Advance locally; publish both runs at once below.
            self.tail += n as u64;
            done += n;
        }
        self.tail -= done as u64;
        self.publish(done);
        done
    }

    /// Publishes one message, applying the full-queue policy when the ring is full.
    pub fn push(&mut self, msg: &T) -> Push {
        loop {
            if self.try_push(msg) {
                return Push::Sent;
            }
            match self.policy {
                FullPolicy::DropNewest => {
                    let d = &self.ring.header().producer.dropped;
                    d.store(d.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    return Push::Dropped;
                }
                FullPolicy::Block => {
                    if self.wait_for_space(1, None) == WaitOutcome::Stopped {
                        return Push::Stopped;
                    }
                }
            }
        }
    }

    /// Publishes all of `msgs`, waiting for space as needed (backpressure).
    pub fn push_all(&mut self, msgs: &[T]) -> Push {
        let mut done = 0;
        while done < msgs.len() {
            done += self.push_slice(&msgs[done..]);
            if done < msgs.len() && self.wait_for_space(1, None) == WaitOutcome::Stopped {
                return Push::Stopped;
            }
        }
        Push::Sent
    }

    /// Waits until at least `n` slots are free.
    pub fn wait_for_space(&mut self, n: usize, timeout: Option<Duration>) -> WaitOutcome {
        let ring = &self.ring;
        let h = ring.header();
        let tail = self.tail;
        let cached = &mut self.cached_head;
        let words = SleepWords {
            waiting: &h.producer_sleep.waiting,
            wake: &h.producer_sleep.wake,
            heartbeat: &h.producer.heartbeat_ns,
        };
        wait_until(self.wait, &words, self.stop.as_deref(), timeout, || {
            *cached = h.consumer.head.load(Ordering::Acquire);
            ring.capacity - (tail - *cached) >= n as u64
        })
    }

    /// The last message published, which no one can overwrite but us: a
    /// restarted stage reads it to learn where its output stopped.
    pub fn last_published(&self) -> Option<T> {
        if self.tail == 0 {
            return None;
        }
        let (ptr, _) = self.ring.run_from(self.tail - 1);
        // SAFETY: slot tail-1 was fully written before it was published and
        // only this producer writes slots, never ones below tail.
        Some(unsafe { ptr.read() })
    }

    /// Messages dropped under the drop-newest policy, over the segment's life.
    pub fn dropped(&self) -> u64 {
        self.ring.header().producer.dropped.load(Ordering::Relaxed)
    }

    /// Publishes liveness. Call every few milliseconds of work; waits beat on their own.
    pub fn beat(&self) {
        self.ring
            .header()
            .producer
            .heartbeat_ns
            .store(monotonic_ns(), Ordering::Relaxed);
    }
}

impl<T: Message> Drop for Producer<T> {
    fn drop(&mut self) {
        release_role(&self.ring.header().producer.pid);
    }
}

/// The reading end. At most one live process holds it per segment.
pub struct Consumer<T: Message> {
    ring: Ring<T>,
    head: u64,
    cached_tail: u64,
    wait: WaitStrategy,
    stop: Option<Arc<AtomicBool>>,
}

impl<T: Message> Consumer<T> {
    /// Attaches to an existing segment and resumes at its last committed slot:
    /// whatever a dead predecessor read but did not commit is delivered again.
    pub fn attach(name: &str, wait: WaitStrategy) -> Result<Self> {
        let ring = Ring::<T>::open(name, true)?;
        let h = ring.header();
        claim_role(&h.consumer.pid, name, "consumer")?;
        h.consumer
            .heartbeat_ns
            .store(monotonic_ns(), Ordering::Relaxed);
        let head = h.consumer.head.load(Ordering::Acquire);
        let cached_tail = h.producer.tail.load(Ordering::Acquire);
        Ok(Consumer {
            ring,
            head,
            cached_tail,
            wait,
            stop: None,
        })
    }

    /// A flag that, once set, makes waits return [`WaitOutcome::Stopped`].
    pub fn with_stop_flag(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity as usize
    }

    /// When the queue was created (Unix ns): names the run it belongs to,
    /// since every run of a pipeline creates its queues anew.
    pub fn created_unix_ns(&self) -> u64 {
        self.ring.header().id.created_unix_ns
    }

    /// Messages committed so far over the segment's life.
    pub fn committed(&self) -> u64 {
        self.head
    }

    /// Readable messages, reading the producer's index only when the cached one is used up.
    #[inline]
    pub fn available(&mut self) -> usize {
        self.check();
        if self.cached_tail == self.head {
            self.cached_tail = self.ring.header().producer.tail.load(Ordering::Acquire);
            self.check();
        }
        (self.cached_tail - self.head) as usize
    }

    /// head <= tail <= head + capacity, as this consumer sees them.
    #[inline]
    fn check(&self) {
        debug_assert!(
            self.head <= self.cached_tail && self.cached_tail - self.head <= self.ring.capacity,
            "consumer sees head {} tail {} capacity {}",
            self.head,
            self.cached_tail,
            self.ring.capacity
        );
    }

    /// Up to `max` contiguous readable messages, not yet committed.
    pub fn read_slots(&mut self, max: usize) -> &[T] {
        let avail = self.available() as u64;
        let (ptr, run) = self.ring.run_from(self.head);
        let n = (max as u64).min(avail).min(run) as usize;
        debug_assert!(self.head + n as u64 <= self.cached_tail);
        // SAFETY: slots [head, head + n) were published (release/acquire on
        // tail) and the producer will not touch them until we commit.
        unsafe { std::slice::from_raw_parts(ptr, n) }
    }

    /// Releases the next `n` read messages to the producer with one release store.
    ///
    /// Panics if `n` exceeds what was available.
    pub fn commit(&mut self, n: usize) {
        let n = n as u64;
        assert!(
            n <= self.cached_tail - self.head,
            "commit({n}) beyond the readable slots"
        );
        if n == 0 {
            return;
        }
        self.head += n;
        self.check();
        let h = self.ring.header();
        h.consumer.head.store(self.head, Ordering::Release);
        wake_if_sleeping(&h.producer_sleep.waiting, &h.producer_sleep.wake);
    }

    /// Copies out and commits one message if any.
    #[inline]
    pub fn try_pop(&mut self) -> Option<T> {
        let msg = *self.read_slots(1).first()?;
        self.commit(1);
        Some(msg)
    }

    /// Waits, by this consumer's strategy, until a message is readable.
    pub fn wait(&mut self, timeout: Option<Duration>) -> WaitOutcome {
        let h = self.ring.header();
        let head = self.head;
        let cached = &mut self.cached_tail;
        let words = SleepWords {
            waiting: &h.consumer_sleep.waiting,
            wake: &h.consumer_sleep.wake,
            heartbeat: &h.consumer.heartbeat_ns,
        };
        wait_until(self.wait, &words, self.stop.as_deref(), timeout, || {
            *cached = h.producer.tail.load(Ordering::Acquire);
            *cached != head
        })
    }

    /// Next message, waiting as long as needed; None once the stop flag is set.
    pub fn pop(&mut self) -> Option<T> {
        loop {
            if let Some(m) = self.try_pop() {
                return Some(m);
            }
            if self.wait(None) == WaitOutcome::Stopped {
                return None;
            }
        }
    }

    /// Publishes liveness. Call every few milliseconds of work; waits beat on their own.
    pub fn beat(&self) {
        self.ring
            .header()
            .consumer
            .heartbeat_ns
            .store(monotonic_ns(), Ordering::Relaxed);
    }
}

impl<T: Message> Drop for Consumer<T> {
    fn drop(&mut self) {
        release_role(&self.ring.header().consumer.pid);
    }
}

/// One side's attachment as seen from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// Its pid.
    pub pid: u32,
    /// Whether that process still runs.
    pub alive: bool,
    /// CLOCK_MONOTONIC ns of its last heartbeat.
    pub heartbeat_ns: u64,
    /// Asleep on the futex, waiting for the other side.
    pub sleeping: bool,
}

/// A snapshot of a queue's state, for supervisors and CLIs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueStatus {
    /// The segment's name.
    pub name: String,
    /// What its slots hold.
    pub layout: SlotLayout,
    /// Messages committed by the consumer, ever.
    pub head: u64,
    /// Messages published by the producer, ever.
    pub tail: u64,
    /// Messages dropped under drop-newest, ever.
    pub dropped: u64,
    /// The producer, if one is attached.
    pub producer: Option<PeerStatus>,
    /// The consumer, if one is attached.
    pub consumer: Option<PeerStatus>,
}

impl QueueStatus {
    /// Messages published and not yet committed.
    pub fn depth(&self) -> u64 {
        self.tail.saturating_sub(self.head)
    }
}

/// A handle that reads a queue's header without taking a role or knowing `T`.
pub struct QueueView {
    seg: Segment,
    layout: SlotLayout,
}

impl QueueView {
    /// Maps a segment read-only and validates its header.
    pub fn open(name: &str) -> Result<Self> {
        let seg = Segment::open(name, false, HEADER_SIZE, false)?;
        let layout = validate(&seg)?;
        Ok(QueueView { seg, layout })
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        self.seg.name()
    }

    /// What its slots hold.
    pub fn layout(&self) -> &SlotLayout {
        &self.layout
    }

    /// A copy of message number `index` (counted from the first ever
    /// published), read without a role: the consumer is not disturbed and
    /// nothing is committed. Refuses a `T` other than the segment's type.
    ///
    /// None if it is not published yet, or if its slot may have been
    /// reused. A slot is reused only after the consumer committed it, by a
    /// producer at most one batch ahead of its published count; so a copy
    /// is certain if the message was still uncommitted after the copy, or
    /// within the newest half of the ring (for producers whose batches are
    /// under half a ring, as every stage's are: they publish one by one).
    pub fn peek<T: Message>(&self, index: u64) -> Result<Option<T>> {
        let expected = SlotLayout::of::<T>(self.layout.capacity);
        if !self.layout.same_type(&expected) {
            return Err(QueueError::TypeMismatch {
                name: self.seg.name().to_owned(),
                found: self.layout.to_string(),
                expected: expected.to_string(),
            });
        }
        let h = header(&self.seg);
        let cap = self.layout.capacity;
        let intact =
            |head: u64, tail: u64| index < tail && (index >= head || index + cap / 2 > tail);
        let now = || {
            let head = h.consumer.head.load(Ordering::Acquire);
            (head, h.producer.tail.load(Ordering::Acquire))
        };
        let (head, tail) = now();
        if !intact(head, tail) {
            return Ok(None);
        }
        let offset = ring_offset(align_of::<T>()) + (index % cap) as usize * size_of::<T>();
        debug_assert!(offset + size_of::<T>() <= self.seg.len());
        // SAFETY: validate() checked at open that the segment holds the
        // header and `capacity` slots of this layout, and `offset` addresses
        // slot `index % cap` of it, aligned for T (page-aligned base, aligned
        // ring offset, slot size a multiple of the alignment). T is Pod, so
        // any bytes are a valid T; a copy torn by a producer reusing the slot
        // is detected below and thrown away.
        let msg = unsafe { std::ptr::read_volatile(self.seg.as_ptr().add(offset) as *const T) };
        std::sync::atomic::fence(Ordering::Acquire);
        // Its slot was not reused while it was copied.
        let (head, tail) = now();
        Ok(intact(head, tail).then_some(msg))
    }

    /// Indices, drops and both ends, read now.
    pub fn status(&self) -> QueueStatus {
        let h = header(&self.seg);
        let peer = |pid: &AtomicU32, hb: &std::sync::atomic::AtomicU64, sleep: &AtomicU32| {
            let pid = pid.load(Ordering::Acquire);
            (pid != 0).then(|| PeerStatus {
                pid,
                alive: process_alive(pid),
                heartbeat_ns: hb.load(Ordering::Relaxed),
                sleeping: sleep.load(Ordering::Relaxed) != 0,
            })
        };
        QueueStatus {
            name: self.seg.name().to_owned(),
            layout: self.layout.clone(),
            head: h.consumer.head.load(Ordering::Acquire),
            tail: h.producer.tail.load(Ordering::Acquire),
            dropped: h.producer.dropped.load(Ordering::Relaxed),
            producer: peer(
                &h.producer.pid,
                &h.producer.heartbeat_ns,
                &h.producer_sleep.waiting,
            ),
            consumer: peer(
                &h.consumer.pid,
                &h.consumer.heartbeat_ns,
                &h.consumer_sleep.waiting,
            ),
        }
    }
}

/// Creates a segment for a ring of `capacity` (a power of two) slots of `T`,
/// mode 0600. Fails with [`QueueError::AlreadyExists`] if the name is taken.
pub fn create<T: Message>(name: &str, capacity: usize) -> Result<QueueView> {
    let cap = capacity as u64;
    if !valid_capacity(cap) {
        return Err(QueueError::BadParameter(format!(
            "capacity {capacity} must be a power of two in 2..=2^32"
        )));
    }
    if T::NAME.len() > TYPE_NAME_MAX || size_of::<T>() == 0 {
        return Err(QueueError::BadParameter(format!(
            "message type `{}` needs a name of at most {TYPE_NAME_MAX} bytes and a non-zero size",
            T::NAME
        )));
    }
    let len = segment_len(cap, size_of::<T>(), align_of::<T>())
        .ok_or_else(|| QueueError::BadParameter(format!("capacity {capacity} too large")))?;
    let seg = Segment::create(name, len)?;
    let h = seg.as_ptr() as *mut Header;
    let mut type_name = [0u8; TYPE_NAME_MAX];
    type_name[..T::NAME.len()].copy_from_slice(T::NAME.as_bytes());
    let created_unix_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // SAFETY: we created the segment exclusively (O_EXCL) and no one can open
    // it as a queue until `state` is published below; fields are plain data
    // in a mapping of at least HEADER_SIZE bytes, zeroed by ftruncate.
    unsafe {
        addr_of_mut!((*h).id.magic).write(MAGIC);
        addr_of_mut!((*h).id.layout_version).write(LAYOUT_VERSION);
        addr_of_mut!((*h).id.capacity).write(cap);
        addr_of_mut!((*h).id.slot_size).write(size_of::<T>() as u32);
        addr_of_mut!((*h).id.slot_align).write(align_of::<T>() as u32);
        addr_of_mut!((*h).id.type_hash).write(T::LAYOUT_HASH);
        addr_of_mut!((*h).id.type_version).write(T::VERSION);
        addr_of_mut!((*h).id.type_name_len).write(T::NAME.len() as u32);
        addr_of_mut!((*h).id.type_name).write(type_name);
        addr_of_mut!((*h).id.ring_offset).write(ring_offset(align_of::<T>()) as u64);
        addr_of_mut!((*h).id.created_unix_ns).write(created_unix_ns);
    }
    header(&seg).id.state.store(STATE_READY, Ordering::Release);
    let layout = validate(&seg)?;
    Ok(QueueView { seg, layout })
}

/// Like [`create`], but a leftover segment of the same name from a crashed
/// run is removed first, unless a live process is still attached to it.
/// Returns what was reclaimed, for the caller to report.
pub fn create_or_reclaim<T: Message>(
    name: &str,
    capacity: usize,
) -> Result<(QueueView, Option<String>)> {
    match create::<T>(name, capacity) {
        Err(QueueError::AlreadyExists(_)) => {}
        other => return other.map(|v| (v, None)),
    }
    let reason = match QueueView::open(name) {
        Ok(view) => {
            let st = view.status();
            for (role, peer) in [("producer", &st.producer), ("consumer", &st.consumer)] {
                if let Some(p) = peer.as_ref().filter(|p| p.alive) {
                    return Err(QueueError::RoleTaken {
                        name: name.to_owned(),
                        role,
                        pid: p.pid,
                    });
                }
            }
            format!(
                "stale queue of {} with {} unread messages, no live process attached",
                st.layout,
                st.depth()
            )
        }
        Err(e @ QueueError::ForeignOwner { .. }) => return Err(e),
        Err(e) => format!("unusable segment ({e})"),
    };
    unlink(name)?;
    create::<T>(name, capacity).map(|v| (v, Some(reason)))
}
