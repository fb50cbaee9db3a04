//! One live ITCH feed, multicast on loopback, split over two feed-handlers by
//! `--shard K/2` (a hash of the symbol): together they publish exactly the
//! events that a third, unsharded feed-handler on the same feed publishes,
//! instrument by instrument and in the same order, and no instrument twice.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tickline_e2e::{binary, output_ok, wait_ok};
use tickline_schema::BookEvent;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/itch/ex20101224.ITCH_50.framed")
}

fn feed_handler(group: &str, shard: Option<&str>, out: &Path) -> Child {
    let mut c = Command::new(binary("tickline-feed-handler"));
    c.args(["--source", &format!("moldudp64:{group},iface=127.0.0.1")])
        .args(["--out", &format!("file:{}", out.display())]);
    if let Some(s) = shard {
        c.args(["--shard", s]);
    }
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(c: Child) -> serde_json::Value {
    let out = wait_ok(c);
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

/// The events of a file, without what differs by design between shards
/// (their own sequence numbers and stamps).
fn events(path: &Path) -> Vec<BookEvent> {
    let bytes = std::fs::read(path).unwrap();
    let mut v: Vec<BookEvent> = bytemuck::pod_collect_to_vec(&bytes);
    for e in &mut v {
        // Each process numbers, stamps and receives on its own clock.
        assert!(e.trace.receive_ns > 0, "a live event says when it arrived");
        e.trace.seq = 0;
        e.trace.stamps = [0; 4];
        e.trace.receive_ns = 0;
    }
    v
}

fn of(events: &[BookEvent], instrument: u32) -> Vec<BookEvent> {
    events
        .iter()
        .filter(|e| e.instrument_id == instrument)
        .copied()
        .collect()
}

#[test]
fn two_shards_of_one_multicast_feed_publish_exactly_what_one_unsharded_handler_does() {
    let dir = std::env::temp_dir().join(format!("tickline-shard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = 27_000 + std::process::id() % 2000;
    let group = format!(
        "239.192.{}.{}:{port}",
        std::process::id() % 200,
        1 + std::process::id() % 250
    );
    let all = feed_handler(&group, None, &dir.join("all"));
    let s0 = feed_handler(&group, Some("0/2"), &dir.join("s0"));
    let s1 = feed_handler(&group, Some("1/2"), &dir.join("s1"));
    // Joined once each has bound: give them a moment, then send the feed.
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    output_ok(
        Command::new(binary("tickline-itch-replay"))
            .arg(data())
            .args([
                "--to",
                &group,
                "--packets-per-s",
                "10000",
                "--session",
                "SHARD",
            ]),
    );
    let (all_s, s0_s, s1_s) = (finish(all), finish(s0), finish(s1));
    eprintln!("replayed and received in {:?}", t0.elapsed());
    for s in [&all_s, &s0_s, &s1_s] {
        assert_eq!(s["lost_messages"], 0, "{s}");
    }
    let (all, s0, s1) = (
        events(&dir.join("all")),
        events(&dir.join("s0")),
        events(&dir.join("s1")),
    );
    assert_eq!(all.len(), 11_883, "{all_s}");
    assert!(
        !s0.is_empty() && !s1.is_empty(),
        "both shards took some symbols"
    );
    assert_eq!(s0.len() + s1.len(), all.len());
    for i in 1..=3u32 {
        let (a, b) = (of(&s0, i), of(&s1, i));
        assert!(
            a.is_empty() || b.is_empty(),
            "instrument {i} in both shards"
        );
        let shard = if a.is_empty() { b } else { a };
        assert_eq!(
            shard,
            of(&all, i),
            "instrument {i}: the shard's events differ from the unsharded ones"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
