//! FixGateway against a venue that misbehaves, over real TCP: garbage bytes
//! and wrong checksums are ignored and counted (as FIX specifies), a frame
//! with a malformed field gets a session Reject naming it, the session stays
//! up (a TestRequest is answered), and a stream of garbage ends in a Logout
//! that says why. Never a crash.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use tickline_fix::codec::{Frame, Reader, Writer};
use tickline_fix::{FixConfig, FixGateway};

fn msg(msg_type: &str, seq: u64, body: &[(u32, &str)]) -> Vec<u8> {
    let mut w = Writer::default();
    w.start(msg_type)
        .str(49, "VENUE")
        .str(56, "TICKLINE")
        .int(34, seq)
        .str(52, "20261126-00:00:00.000");
    for (t, v) in body {
        w.str(*t, v);
    }
    w.finish().to_vec()
}

/// Reads frames until one of `msg_type` arrives; returns its fields.
fn expect(sock: &mut TcpStream, reader: &mut Reader, msg_type: &[u8]) -> Vec<(u32, String)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Frame::Message(m) = reader.next_frame() {
            if m.msg_type() == msg_type {
                return m
                    .fields()
                    .map(|f| f.unwrap())
                    .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                    .collect();
            }
            continue;
        }
        assert!(
            Instant::now() < deadline,
            "no {:?} from the gateway",
            String::from_utf8_lossy(msg_type)
        );
        let mut buf = [0u8; 4096];
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0, "the gateway closed the connection");
        reader.push(&buf[..n]);
    }
}

fn field(fields: &[(u32, String)], tag: u32) -> &str {
    fields
        .iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

#[test]
fn garbage_is_ignored_a_bad_field_is_rejected_and_a_garbage_stream_ends_in_a_logout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("tickline-fix-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = FixConfig::parse(&format!("127.0.0.1:{port},heartbeat=1"), dir.clone()).unwrap();
    let gw = FixGateway::start(cfg).unwrap();

    let (mut sock, _) = listener.accept().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = Reader::default();
    let logon = expect(&mut sock, &mut reader, b"A");
    assert_eq!(field(&logon, 108), "1");
    sock.write_all(&msg("A", 1, &[(98, "0"), (108, "1")]))
        .unwrap();
    // Its first message after Logon: a TestRequest, to know the venue is in step.
    let sync = expect(&mut sock, &mut reader, b"1");
    sock.write_all(&msg("0", 2, &[(112, field(&sync, 112))]))
        .unwrap();

    // Noise, then a message whose checksum is wrong, then a frame whose
    // field has no '=': only the last is a message, and it is rejected.
    sock.write_all(b"\x00\x01 not fix at all ").unwrap();
    let mut bad_sum = msg("0", 3, &[]);
    let n = bad_sum.len();
    bad_sum[n - 2] = if bad_sum[n - 2] == b'0' { b'1' } else { b'0' };
    sock.write_all(&bad_sum).unwrap();
    let mut w = Writer::default();
    w.start("0")
        .str(49, "VENUE")
        .str(56, "TICKLINE")
        .int(34, 3)
        .str(52, "20261126-00:00:00.000")
        .bytes(58, b"ok")
        .bytes(9999, b"x");
    let mut bad_field = w.finish().to_vec();
    // "9999=x" becomes "9999x" plus padding, checksum recomputed: framed, malformed.
    let at = bad_field.windows(6).position(|x| x == b"9999=x").unwrap();
    bad_field.splice(at..at + 6, b"9999xx".iter().copied());
    let body_end = bad_field.len() - 7;
    let sum = tickline_fix::codec::checksum(&bad_field[..body_end]);
    bad_field.truncate(body_end);
    bad_field.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    sock.write_all(&bad_field).unwrap();
    let reject = expect(&mut sock, &mut reader, b"3");
    assert_eq!(field(&reject, 45), "3", "{reject:?}");
    assert!(field(&reject, 58).contains("9999xx"), "{reject:?}");

    // Still logged on: a TestRequest is answered with its id.
    sock.write_all(&msg("1", 4, &[(112, "ping-7")])).unwrap();
    let hb = expect(&mut sock, &mut reader, b"0");
    assert_eq!(field(&hb, 112), "ping-7");

    // A stream of garbled frames: the gateway gives up with a reason.
    for _ in 0..12 {
        sock.write_all(&bad_sum).unwrap();
    }
    let logout = expect(&mut sock, &mut reader, b"5");
    assert!(field(&logout, 58).contains("garbled"), "{logout:?}");
    // Counted once the session thread has closed the connection.
    let garbled = || {
        gw.counters
            .garbled
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while garbled() < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(garbled() >= 10, "{} garbled counted", garbled());
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}
