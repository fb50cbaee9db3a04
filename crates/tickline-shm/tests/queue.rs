//! Single-process behaviour of queue segments: validation, roles, policies, resume.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use tickline_shm::payload::{Bytes256, Bytes64};
use tickline_shm::{
    create, create_or_reclaim, impl_message, Consumer, FullPolicy, Producer, Push, QueueError,
    QueueView, WaitOutcome, WaitStrategy, HEADER_SIZE,
};

/// A unique segment name, unlinked when dropped.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Self {
        let n = format!("/tickline-test-{}-{tag}", std::process::id());
        let _ = tickline_shm::unlink(&n);
        Name(n)
    }
    fn shm_path(&self) -> String {
        format!("/dev/shm{}", self.0)
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = tickline_shm::unlink(&self.0);
    }
}

const SPIN: WaitStrategy = WaitStrategy::BusySpin;

fn pair<T: tickline_shm::Message>(name: &str) -> (Producer<T>, Consumer<T>) {
    (
        Producer::attach(name, FullPolicy::Block, SPIN).unwrap(),
        Consumer::attach(name, SPIN).unwrap(),
    )
}

#[test]
fn messages_arrive_in_order_across_wraps() {
    let name = Name::new("order");
    create::<Bytes64>(&name, 8).unwrap();
    let (mut p, mut c) = pair::<Bytes64>(&name);
    let mut next_in = 0;
    let mut next_out = 0;
    for round in 0..50u64 {
        let k = 1 + round % 8;
        let batch: Vec<_> = (next_in..next_in + k).map(Bytes64::with_seq).collect();
        assert_eq!(p.push_slice(&batch), k as usize);
        next_in += k;
        while let Some(m) = c.try_pop() {
            assert!(m.is_intact());
            assert_eq!(m.seq(), next_out);
            next_out += 1;
        }
    }
    assert_eq!(next_out, next_in);
    assert_eq!(p.published(), next_in);
    assert_eq!(c.committed(), next_in);
}

#[test]
fn full_ring_refuses_and_contiguous_slots_stop_at_the_wrap() {
    let name = Name::new("full");
    create::<Bytes64>(&name, 4).unwrap();
    let (mut p, mut c) = pair::<Bytes64>(&name);
    assert_eq!(p.push_slice(&[Bytes64::with_seq(0); 6]), 4);
    assert!(!p.try_push(&Bytes64::with_seq(9)));
    assert_eq!(c.read_slots(3).len(), 3);
    c.commit(3);
    // Tail is at slot 0 again; three slots are free and contiguous.
    assert_eq!(p.write_slots(8).len(), 3);
    // Consumer's run stops at the ring's end: one slot (index 3) before the wrap.
    p.publish(0);
    assert_eq!(c.read_slots(8).len(), 1);
}

#[test]
fn a_segment_of_another_type_is_refused_naming_both() {
    let name = Name::new("type");
    create::<Bytes64>(&name, 16).unwrap();
    let err = match Producer::<Bytes256>::attach(&name, FullPolicy::Block, SPIN) {
        Err(e) => e,
        Ok(_) => panic!("attached a Bytes256 producer to a Bytes64 queue"),
    };
    let msg = err.to_string();
    assert!(matches!(err, QueueError::TypeMismatch { .. }), "{msg}");
    assert!(msg.contains("Bytes64") && msg.contains("Bytes256"), "{msg}");
}

#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct Quote {
    bid: i64,
    ask: i64,
}
impl_message!(Quote, name = "Quote", version = 1, fields = [bid, ask]);

/// Same name, size and version, fields swapped: a build with an edited struct.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct QuoteSwapped {
    ask: i64,
    bid: i64,
}
impl_message!(
    QuoteSwapped,
    name = "Quote",
    version = 1,
    fields = [ask, bid]
);

#[test]
fn a_reordered_struct_with_the_same_name_and_size_is_refused() {
    let name = Name::new("fields");
    create::<Quote>(&name, 16).unwrap();
    assert!(matches!(
        Consumer::<QuoteSwapped>::attach(&name, SPIN),
        Err(QueueError::TypeMismatch { .. })
    ));
    assert!(Consumer::<Quote>::attach(&name, SPIN).is_ok());
}

#[test]
fn foreign_and_truncated_files_are_refused_not_mapped_past_their_end() {
    let name = Name::new("foreign");
    std::fs::write(name.shm_path(), vec![0xA5u8; 4096]).unwrap();
    let e = QueueView::open(&name).err().expect("garbage accepted");
    assert!(matches!(e, QueueError::Foreign { .. }), "{e}");
    assert!(e.to_string().contains("magic"), "{e}");

    std::fs::write(name.shm_path(), b"short").unwrap();
    let e = Consumer::<Bytes64>::attach(&name, SPIN)
        .err()
        .expect("short file accepted");
    assert!(matches!(e, QueueError::Truncated { .. }), "{e}");

    // A real queue cut short: header intact, ring missing.
    tickline_shm::unlink(&name).unwrap();
    create::<Bytes64>(&name, 1024).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(name.shm_path())
        .unwrap();
    f.set_len(HEADER_SIZE as u64 + 100).unwrap();
    let e = Producer::<Bytes64>::attach(&name, FullPolicy::Block, SPIN)
        .err()
        .expect("truncated ring accepted");
    assert!(matches!(e, QueueError::Truncated { .. }), "{e}");
}

#[test]
fn another_layout_version_is_refused() {
    let name = Name::new("version");
    create::<Bytes64>(&name, 16).unwrap();
    let mut bytes = std::fs::read(name.shm_path()).unwrap();
    bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
    std::fs::write(name.shm_path(), &bytes).unwrap();
    let e = QueueView::open(&name).err().expect("accepted version 99");
    assert!(e.to_string().contains("layout version 99"), "{e}");
}

#[test]
fn segments_are_private_to_their_owner() {
    let name = Name::new("mode");
    create::<Bytes64>(&name, 16).unwrap();
    let mode = std::fs::metadata(name.shm_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::chown(name.shm_path(), Some(65534), None).unwrap();
        let e = QueueView::open(&name)
            .err()
            .expect("foreign owner accepted");
        assert!(
            matches!(e, QueueError::ForeignOwner { owner: 65534, .. }),
            "{e}"
        );
    }
}

#[test]
fn existing_name_is_not_overwritten() {
    let name = Name::new("exists");
    create::<Bytes64>(&name, 16).unwrap();
    assert!(matches!(
        create::<Bytes64>(&name, 16),
        Err(QueueError::AlreadyExists(_))
    ));
    assert!(matches!(
        create::<Bytes64>("/bad/name", 16),
        Err(QueueError::BadName(_))
    ));
    assert!(matches!(
        create::<Bytes64>(&Name::new("cap"), 12),
        Err(QueueError::BadParameter(_))
    ));
}

#[test]
fn one_live_process_per_role_and_dead_holders_are_replaced() {
    let name = Name::new("roles");
    create::<Bytes64>(&name, 16).unwrap();
    let p = Producer::<Bytes64>::attach(&name, FullPolicy::Block, SPIN).unwrap();
    let e = Producer::<Bytes64>::attach(&name, FullPolicy::Block, SPIN)
        .err()
        .expect("two producers");
    assert!(
        matches!(
            e,
            QueueError::RoleTaken {
                role: "producer",
                ..
            }
        ),
        "{e}"
    );
    drop(p);
    let p = Producer::<Bytes64>::attach(&name, FullPolicy::Block, SPIN).unwrap();
    drop(p);

    // A holder that died without detaching (kill -9): its pid is reaped.
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let mut bytes = std::fs::read(name.shm_path()).unwrap();
    // Producer line starts at 128: tail (8 bytes), then pid.
    bytes[136..140].copy_from_slice(&dead_pid.to_le_bytes());
    std::fs::write(name.shm_path(), &bytes).unwrap();
    let st = QueueView::open(&name).unwrap().status();
    let holder = st.producer.expect("dead pid recorded");
    assert_eq!((holder.pid, holder.alive), (dead_pid, false));
    let _p = Producer::<Bytes64>::attach(&name, FullPolicy::Block, SPIN).unwrap();
    let st = QueueView::open(&name).unwrap().status();
    assert_eq!(st.producer.unwrap().pid, std::process::id());
}

#[test]
fn drop_newest_counts_what_it_drops() {
    let name = Name::new("drop");
    create::<Bytes64>(&name, 4).unwrap();
    let mut p = Producer::<Bytes64>::attach(&name, FullPolicy::DropNewest, SPIN).unwrap();
    let outcomes: Vec<_> = (0..10).map(|i| p.push(&Bytes64::with_seq(i))).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == Push::Sent).count(), 4);
    assert_eq!(p.dropped(), 6);
    assert_eq!(QueueView::open(&name).unwrap().status().dropped, 6);
    let mut c = Consumer::<Bytes64>::attach(&name, SPIN).unwrap();
    let got: Vec<_> = std::iter::from_fn(|| c.try_pop())
        .map(|m| m.seq())
        .collect();
    assert_eq!(
        got,
        vec![0, 1, 2, 3],
        "the oldest are kept, the newest dropped"
    );
}

/// A consumer that keeps messages read but uncommitted reads and waits
/// past them (the router's lockstep with the venue simulator).
#[test]
fn reads_and_waits_past_messages_kept_uncommitted_across_the_wrap() {
    let name = Name::new("past");
    create::<Bytes64>(&name, 4).unwrap();
    let (mut p, mut c) = pair::<Bytes64>(&name);
    p.push_slice(&[
        Bytes64::with_seq(0),
        Bytes64::with_seq(1),
        Bytes64::with_seq(2),
    ]);
    let n = c.read_slots(2).len();
    c.commit(n);
    p.push_slice(&[Bytes64::with_seq(3), Bytes64::with_seq(4)]);
    // Slot 2 is kept: the next run starts past it, at the end of the ring.
    let seqs = |s: &[Bytes64]| s.iter().map(|m| m.seq()).collect::<Vec<_>>();
    assert_eq!(seqs(c.read_slots_from(1, 8)), [3]);
    assert_eq!(seqs(c.read_slots_from(2, 8)), [4], "across the wrap");
    assert!(c.read_slots_from(3, 8).is_empty());
    let short = Some(Duration::from_millis(20));
    assert_eq!(c.wait_past(3, short), WaitOutcome::TimedOut);
    assert_eq!(c.wait_past(2, short), WaitOutcome::Ready);
    p.push(&Bytes64::with_seq(5));
    assert_eq!(c.wait_past(3, short), WaitOutcome::Ready);
    assert_eq!(seqs(c.read_slots_from(3, 8)), [5]);
}

#[test]
fn blocking_waits_end_on_stop_flag_and_timeout() {
    let name = Name::new("stop");
    create::<Bytes64>(&name, 2).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let block = WaitStrategy::Block {
        spins: 10,
        yields: 1,
    };
    let mut p = Producer::<Bytes64>::attach(&name, FullPolicy::Block, block)
        .unwrap()
        .with_stop_flag(stop.clone());
    let mut c = Consumer::<Bytes64>::attach(&name, block).unwrap();
    assert_eq!(
        c.wait(Some(Duration::from_millis(30))),
        WaitOutcome::TimedOut
    );
    p.push(&Bytes64::with_seq(0));
    p.push(&Bytes64::with_seq(1));
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    assert_eq!(p.push(&Bytes64::with_seq(2)), Push::Stopped);
    stopper.join().unwrap();
    assert_eq!(c.try_pop().map(|m| m.seq()), Some(0));
}

#[test]
fn a_new_producer_resumes_after_the_last_published_message() {
    let name = Name::new("resume-p");
    create::<Bytes64>(&name, 64).unwrap();
    let mut p = Producer::<Bytes64>::attach(&name, FullPolicy::Block, SPIN).unwrap();
    assert_eq!(p.last_published(), None);
    for i in 0..10 {
        p.push(&Bytes64::with_seq(i));
    }
    drop(p);
    let mut p = Producer::<Bytes64>::attach(&name, FullPolicy::Block, SPIN).unwrap();
    assert_eq!(p.published(), 10);
    assert_eq!(p.last_published().map(|m| m.seq()), Some(9));
    p.push(&Bytes64::with_seq(10));
    let mut c = Consumer::<Bytes64>::attach(&name, SPIN).unwrap();
    let got: Vec<_> = std::iter::from_fn(|| c.try_pop())
        .map(|m| m.seq())
        .collect();
    assert_eq!(got, (0..=10).collect::<Vec<_>>());
}

#[test]
fn uncommitted_messages_go_to_the_next_consumer() {
    let name = Name::new("resume-c");
    create::<Bytes64>(&name, 64).unwrap();
    let mut p = Producer::<Bytes64>::attach(&name, FullPolicy::Block, SPIN).unwrap();
    for i in 0..10 {
        p.push(&Bytes64::with_seq(i));
    }
    let mut c = Consumer::<Bytes64>::attach(&name, SPIN).unwrap();
    c.read_slots(4);
    c.commit(3);
    assert_eq!(c.read_slots(2)[0].seq(), 3); // read, never committed
    drop(c);
    let mut c = Consumer::<Bytes64>::attach(&name, SPIN).unwrap();
    assert_eq!(c.committed(), 3);
    assert_eq!(c.try_pop().map(|m| m.seq()), Some(3));
}

#[test]
fn reclaim_removes_dead_runs_and_refuses_live_ones() {
    let name = Name::new("reclaim");
    let (_, none) = create_or_reclaim::<Bytes64>(&name, 16).unwrap();
    assert!(none.is_none());
    {
        let mut p = Producer::<Bytes64>::attach(&name, FullPolicy::Block, SPIN).unwrap();
        p.push(&Bytes64::with_seq(0));
        // Held by us, alive: must be refused.
        let e = create_or_reclaim::<Bytes64>(&name, 16)
            .err()
            .expect("reclaimed a live queue");
        assert!(matches!(e, QueueError::RoleTaken { .. }), "{e}");
    }
    let (view, why) = create_or_reclaim::<Bytes64>(&name, 32).unwrap();
    assert!(why.unwrap().contains("1 unread"));
    assert_eq!(view.layout().capacity, 32);
    assert_eq!(view.status().tail, 0);

    std::fs::write(name.shm_path(), b"junk").unwrap();
    let (_, why) = create_or_reclaim::<Bytes64>(&name, 16).unwrap();
    assert!(why.unwrap().contains("unusable"));
}

#[test]
fn status_shows_peers_and_a_sleeping_consumer() {
    let name = Name::new("status");
    create::<Bytes64>(&name, 16).unwrap();
    let view = QueueView::open(&name).unwrap();
    assert_eq!(view.status().producer, None);
    let mut p = Producer::<Bytes64>::attach(&name, FullPolicy::Block, SPIN).unwrap();
    let waiter = {
        let name = name.to_string();
        std::thread::spawn(move || {
            let block = WaitStrategy::Block {
                spins: 0,
                yields: 0,
            };
            let mut c = Consumer::<Bytes64>::attach(&name, block).unwrap();
            c.pop().unwrap().seq()
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !view.status().consumer.is_some_and(|c| c.sleeping) {
        assert!(std::time::Instant::now() < deadline, "consumer never slept");
        std::thread::sleep(Duration::from_millis(1));
    }
    let st = view.status();
    assert!(st.consumer.as_ref().unwrap().alive);
    assert_eq!(st.producer.as_ref().unwrap().pid, std::process::id());
    p.push(&Bytes64::with_seq(77));
    assert_eq!(waiter.join().unwrap(), 77);
    assert_eq!(view.status().depth(), 0);
}
