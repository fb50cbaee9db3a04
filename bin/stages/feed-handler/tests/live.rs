//! The feed-handler's MoldUDP64 source, fed over loopback: the events it
//! publishes equal those of the same ITCH file read from disk; lost packets
//! are counted as gaps and the handler carries on.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use tickline_feed::itch::{frames, ItchHandler};
use tickline_feed::moldudp64::PacketWriter;
use tickline_feed::{Books, FeedStats, Step};
use tickline_schema::BookEvent;
use tickline_shm::{create, Consumer, QueueView, WaitStrategy};

const BIN: &str = env!("CARGO_BIN_EXE_tickline-feed-handler");

fn itch_file() -> std::path::PathBuf {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../../shared/data/itch/ex20101224.ITCH_50.framed");
    assert!(
        p.exists(),
        "real data missing: {} (../shared/data beside the repo)",
        p.display()
    );
    p
}

struct Queue(String);

impl Queue {
    fn new(tag: &str) -> Self {
        let name = format!("/tickline-live-{}-{tag}", std::process::id());
        let _ = tickline_shm::unlink(&name);
        create::<BookEvent>(&name, 1 << 14).unwrap();
        Queue(name)
    }
    fn drain(&self) -> Vec<BookEvent> {
        let mut c = Consumer::<BookEvent>::attach(&self.0, WaitStrategy::BusySpin).unwrap();
        std::iter::from_fn(|| c.try_pop())
            .map(|mut e| {
                e.trace.stamps = [0; 4];
                e
            })
            .collect()
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        let _ = tickline_shm::unlink(&self.0);
    }
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends the file as MoldUDP64, losing every `drop_every`th packet; returns
/// messages lost on purpose. With `window`, waits until the queue shows the
/// events of all but the last `window` packets (flow control, so the loopback
/// buffer never overflows however loaded the machine is).
fn send(port: u16, drop_every: usize, window: Option<(&Queue, usize)>) -> u64 {
    let bytes = std::fs::read(itch_file()).unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = ("127.0.0.1", port);
    let mut w = PacketWriter::new(*b"TEST      ", 1, 1400);
    // Packets, and the events the handler will have published after each.
    let mut packets = Vec::new();
    let mut events_after = Vec::new();
    let (mut handler, mut books, mut stats) =
        (ItchHandler::default(), Books::default(), FeedStats::quiet());
    let mut events = 0u64;
    for m in frames(&bytes) {
        if !w.push(m) {
            packets.push(w.finish());
            events_after.push(events);
            w.push(m);
        }
        if let Step::Event(_) = handler.handle(m, &mut books, &mut stats) {
            events += 1;
        }
    }
    packets.push(w.finish());
    events_after.push(events);
    let view = window.map(|(q, n)| (QueueView::open(&q.0).unwrap(), n));
    let mut lost = 0;
    for (i, p) in packets.iter().enumerate() {
        if let Some((view, n)) = &view {
            if i >= *n {
                let need = events_after[i - n];
                let deadline = std::time::Instant::now() + Duration::from_secs(30);
                while view.status().tail < need {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "handler stalled before packet {i}"
                    );
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
        if drop_every > 0 && (i + 1) % drop_every == 0 {
            lost += u16::from_be_bytes([p[18], p[19]]) as u64;
            continue;
        }
        tx.send_to(p, to).unwrap();
    }
    for _ in 0..3 {
        tx.send_to(&w.control(true), to).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    lost
}

fn run_live(q: &Queue, drop_every: usize, flow_control: bool) -> (serde_json::Value, u64) {
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "--source",
            &format!("moldudp64:127.0.0.1:{port}"),
            "--out",
            &format!("queue:{}", q.0),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Ready once the port is taken: our own bind to it then fails.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "feed-handler never bound {port}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let lost = send(port, drop_every, flow_control.then_some((q, 8)));
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        serde_json::from_slice(out.stdout.trim_ascii_end()).unwrap(),
        lost,
    )
}

#[test]
fn udp_feed_publishes_what_the_file_replay_publishes() {
    let from_file = Queue::new("file");
    let out = Command::new(BIN)
        .args([
            "--source",
            &format!("itch:{}", itch_file().display()),
            "--out",
            &format!("queue:{}", from_file.0),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let want = from_file.drain();

    let live = Queue::new("udp");
    let (summary, lost) = run_live(&live, 0, true);
    assert_eq!(lost, 0);
    assert_eq!(summary["input_messages"], serde_json::json!(12_012));
    assert_eq!(summary["lost_messages"], serde_json::json!(0));
    assert!(summary["errors"].get("gap").is_none(), "{summary}");
    // The same events; the live ones also say when their packet arrived
    // (the file has no receive times).
    let mut got = live.drain();
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    for e in &mut got {
        assert!(e.trace.receive_ns > t0 - 600_000_000_000 && e.trace.receive_ns <= t0);
        e.trace.receive_ns = 0;
    }
    assert!(want.iter().all(|e| e.trace.receive_ns == 0));
    assert_eq!(got, want);
}

#[test]
fn lost_packets_are_counted_as_gaps_and_the_handler_goes_on() {
    let live = Queue::new("gaps");
    // No flow control: loopback may lose more than we drop, and every loss,
    // ours or the kernel's, must be accounted for.
    let (summary, lost) = run_live(&live, 25, false);
    assert!(lost > 0);
    let gaps = summary["errors"]["gap"].as_u64().unwrap_or(0);
    // Adjacent losses merge into one gap, so only a lower bound holds.
    assert!(gaps >= 1, "{summary}");
    let received = summary["input_messages"].as_u64().unwrap();
    let known_lost = summary["lost_messages"].as_u64().unwrap();
    assert!(known_lost >= lost, "{summary}");
    assert_eq!(received + known_lost, 12_012, "{summary}");
}
