//! itch-replay's packets, received on a loopback socket: sequence numbers,
//! message bytes, deliberate losses and the end of session.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use tickline_feed::itch::frames;
use tickline_feed::moldudp64::{parse_header, END_OF_SESSION, HEADER_LEN};

#[test]
fn packets_carry_the_file_in_order_with_sequence_numbers() {
    let file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../../shared/data/itch/ex20101224.TEST_ITCH_50");
    assert!(file.exists(), "real data missing: {}", file.display());
    let expected: Vec<Vec<u8>> = frames(&std::fs::read(&file).unwrap())
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(expected.len(), 12_012);

    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let to = rx.local_addr().unwrap().to_string();
    let replay = std::thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_tickline-itch-replay"))
            .arg(&file)
            .args([
                "--to",
                &to,
                "--drop-every",
                "10",
                "--packets-per-s",
                "20000",
                "--session",
                "T1",
            ])
            .output()
            .unwrap()
    });
    let mut buf = vec![0u8; 65_536];
    let mut next_seq = 1u64;
    let (mut got, mut skipped_packets) = (0usize, 0);
    loop {
        let n = rx.recv(&mut buf).expect("replay went silent");
        let h = parse_header(&buf[..n]).unwrap();
        assert_eq!(&h.session, b"T1        ");
        if h.count == END_OF_SESSION {
            assert_eq!(h.seq, expected.len() as u64 + 1);
            break;
        }
        if h.seq != next_seq {
            skipped_packets += 1;
        }
        let mut pos = HEADER_LEN;
        for k in 0..h.count as u64 {
            let len = u16::from_be_bytes([buf[pos], buf[pos + 1]]) as usize;
            assert_eq!(
                &buf[pos + 2..pos + 2 + len],
                &expected[(h.seq + k - 1) as usize][..]
            );
            pos += 2 + len;
            got += 1;
        }
        assert_eq!(pos, n, "no bytes after the last message");
        next_seq = h.seq + h.count as u64;
    }
    let out = replay.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(out.stdout.trim_ascii_end()).unwrap();
    let lost = summary["packets_lost_on_purpose"].as_u64().unwrap();
    assert!(lost > 0);
    assert_eq!(
        skipped_packets as u64, lost,
        "every jump in sequence is one deliberate loss"
    );
    assert!(got < expected.len());
}

/// Every event of a source, as text: instrument, kind and top 5 levels.
fn events_of(
    src: &mut dyn tickline_feed::Source,
    deadline: std::time::Instant,
) -> Option<Vec<String>> {
    use tickline_feed::{Books, FeedStats, Step};
    let (mut books, mut stats) = (Books::default(), FeedStats::quiet());
    let mut e: tickline_schema::BookEvent = bytemuck::Zeroable::zeroed();
    let mut out = Vec::new();
    loop {
        if std::time::Instant::now() > deadline {
            return None;
        }
        match src.next(&mut books, &mut stats) {
            Step::Event(ev) => {
                books.fill_event(&ev, 5, &mut e);
                // The stale flag too: none may come from a book with a hole.
                out.push(format!(
                    "{} {} {:?} {:?} stale {}",
                    e.instrument_id,
                    e.kind,
                    e.bids,
                    e.asks,
                    e.trace.is_stale()
                ));
            }
            Step::End => return Some(out),
            Step::Skip | Step::Idle => {}
        }
    }
}

#[test]
fn with_loss_duplicates_and_reordering_the_request_server_fills_every_gap() {
    use tickline_feed::itch::ItchSource;
    use tickline_feed::moldudp64::MoldUdpSource;
    let file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../../shared/data/itch/ex20101224.ITCH_50.framed");
    let bytes = std::fs::read(&file).unwrap();
    let far = std::time::Instant::now() + Duration::from_secs(60);
    let want = events_of(&mut ItchSource::new(&bytes[..]), far).unwrap();

    let server = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut src = MoldUdpSource::bind("127.0.0.1:0".parse().unwrap(), Duration::from_millis(1))
        .unwrap()
        .with_request_server(server)
        .unwrap();
    let to = src.local_addr().unwrap().to_string();
    let replay = std::thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_tickline-itch-replay"))
            .arg(&file)
            .args(["--to", &to, "--request-server", &server.to_string()])
            .args(["--loss", "0.02", "--duplicate", "0.02", "--reorder", "0.02"])
            .args([
                "--seed",
                "7",
                "--packets-per-s",
                "20000",
                "--linger-ms",
                "500",
            ])
            .output()
            .unwrap()
    });
    let near = std::time::Instant::now() + Duration::from_secs(20);
    let got = events_of(&mut src, near);
    let out = replay.join().unwrap();
    let got = got.unwrap_or_else(|| {
        panic!(
            "no end of session: {:?}\n{}",
            src.counts,
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = src.counts;
    eprintln!("{c:?}");
    assert!(
        c.gaps >= 2 && c.requests >= c.gaps,
        "the losses made gaps: {c:?}"
    );
    assert_eq!(c.gaps_recovered, c.gaps, "every gap filled: {c:?}");
    assert!(c.recovered_messages > 0 && c.duplicates > 0, "{c:?}");
    assert_eq!(
        got.len(),
        want.len(),
        "every event, none from a book with a hole"
    );
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "event {i}");
    }
}

/// Reads a source to its end: every instrument's whole book at the end,
/// and how many events came from a stale book.
fn final_books(
    src: &mut dyn tickline_feed::Source,
    deadline: std::time::Instant,
) -> Option<(Vec<String>, usize)> {
    use tickline_feed::{Books, FeedStats, Step};
    let (mut books, mut stats) = (Books::default(), FeedStats::quiet());
    let mut stale = 0;
    loop {
        if std::time::Instant::now() > deadline {
            return None;
        }
        match src.next(&mut books, &mut stats) {
            Step::Event(ev) => stale += usize::from(books.is_stale(ev.instrument)),
            Step::End => break,
            Step::Skip | Step::Idle => {}
        }
    }
    let sides = |i: u32| {
        let b = books.book(i).expect("listed");
        let side = |s| b.side(s).levels().collect::<Vec<_>>();
        format!(
            "{i}: bids {:?} asks {:?}",
            side(tickline_schema::Side::Buy),
            side(tickline_schema::Side::Sell)
        )
    };
    Some((books.instruments().map(sides).collect(), stale))
}

#[test]
fn with_the_request_server_down_the_books_are_rebuilt_from_a_snapshot() {
    use tickline_feed::itch::ItchSource;
    use tickline_feed::moldudp64::MoldUdpSource;
    let file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../../shared/data/itch/ex20101224.ITCH_50.framed");
    let bytes = std::fs::read(&file).unwrap();
    let far = std::time::Instant::now() + Duration::from_secs(60);
    let (want, _) = final_books(&mut ItchSource::new(&bytes[..]), far).unwrap();

    // A request server that never answers, and the replay's snapshot server.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let snapshot = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut src = MoldUdpSource::bind("127.0.0.1:0".parse().unwrap(), Duration::from_millis(1))
        .unwrap()
        .with_request_server(silent.local_addr().unwrap())
        .unwrap()
        .with_recovery_deadline(Duration::from_millis(30))
        .with_snapshot_server(snapshot);
    let to = src.local_addr().unwrap().to_string();
    let replay = std::thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_tickline-itch-replay"))
            .arg(&file)
            .args(["--to", &to, "--snapshot-server", &snapshot.to_string()])
            .args(["--loss", "0.02", "--seed", "5", "--packets-per-s", "1000"])
            .args(["--linger-ms", "500"])
            .output()
            .unwrap()
    });
    let got = final_books(
        &mut src,
        std::time::Instant::now() + Duration::from_secs(30),
    );
    let out = replay.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (got, stale) = got.expect("no end of session");
    let c = src.counts;
    eprintln!("{c:?}\n{}", String::from_utf8_lossy(&out.stdout));
    assert!(c.gaps >= 2, "the losses made gaps: {c:?}");
    assert!(c.snapshots >= 1 && c.snapshot_failures == 0, "{c:?}");
    assert_eq!(
        c.gaps_unrecovered, 0,
        "every gap ended in a snapshot: {c:?}"
    );
    assert_eq!(stale, 0, "no event from a stale book");
    assert_eq!(got, want, "the final books are the file's");
}
