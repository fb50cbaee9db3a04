//! The real feed-handler binary: kill -9 mid-replay, restart, and the output
//! queue holds the same events as an uninterrupted run, each exactly once.

use std::process::{Command, Stdio};
use std::time::Duration;

use tickline_schema::BookEvent;
use tickline_shm::{create, Consumer, WaitStrategy};

const BIN: &str = env!("CARGO_BIN_EXE_tickline-feed-handler");
const EVENTS: u64 = 30_000;

struct Queue(String);

impl Queue {
    fn new(tag: &str) -> Self {
        let name = format!("/tickline-fh-{}-{tag}", std::process::id());
        let _ = tickline_shm::unlink(&name);
        create::<BookEvent>(&name, 1 << 15).unwrap();
        Queue(name)
    }
    fn drain(&self) -> Vec<BookEvent> {
        let mut c = Consumer::<BookEvent>::attach(&self.0, WaitStrategy::BusySpin).unwrap();
        std::iter::from_fn(|| c.try_pop()).collect()
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        let _ = tickline_shm::unlink(&self.0);
    }
}

fn feed(queue: &Queue, pace: &str) -> Command {
    let mut c = Command::new(BIN);
    c.args([
        "--source",
        &format!("synthetic:5:{EVENTS}:2"),
        "--out",
        &format!("queue:{}", queue.0),
        "--pace",
        pace,
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    c
}

/// Everything but the ingest stamp, which differs run to run.
fn content(e: &BookEvent) -> BookEvent {
    let mut e = *e;
    e.trace.stamps = [0; 4];
    e
}

#[test]
fn kill_9_mid_replay_then_restart_publishes_every_event_once() {
    let reference = Queue::new("ref");
    let out = feed(&reference, "max").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = reference.drain();
    assert_eq!(want.len() as u64, EVENTS);

    let killed = Queue::new("kill");
    // Paced at 1x the synthetic clock (~0.5 s in all); killed once it is under way.
    let view = tickline_shm::QueueView::open(&killed.0).unwrap();
    for kill_at in [3_000, 9_000] {
        let mut child = feed(&killed, "realtime:1").spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while view.status().tail < kill_at {
            assert!(
                std::time::Instant::now() < deadline,
                "feed-handler made no progress"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "finished before the kill"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let partial = view.status().tail;
    assert!(
        partial > 0 && partial < EVENTS,
        "kills missed the stream: {partial} events"
    );
    let out = feed(&killed, "max").output().unwrap();
    assert!(out.status.success());
    let summary: serde_json::Value = serde_json::from_slice(out.stdout.trim_ascii_end()).unwrap();
    assert_eq!(summary["skipped_on_resume"], serde_json::json!(partial));
    let got = killed.drain();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.trace.seq, i as u64);
        assert_eq!(content(g), content(w), "event {i} differs");
        assert!(g.trace.ingest_ns() > 0);
    }
}

#[test]
fn bad_arguments_fail_with_a_clear_message() {
    for (args, needle) in [
        (vec!["--source", "nasdaq:x"], "unknown source"),
        (
            vec!["--source", "itch:/nonexistent/file"],
            "opening ITCH file",
        ),
        (
            vec![
                "--source",
                "synthetic",
                "--out",
                "queue:/tickline-no-such-q",
            ],
            "does not exist",
        ),
        (
            vec!["--source", "synthetic", "--pace", "fast"],
            "bad --pace",
        ),
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
