//! itch-replay: sends an ITCH 5.0 file as MoldUDP64 packets to a UDP address
//! (loopback, for tests and profiling), at the recorded pace, N times faster,
//! or as fast as possible. It can lose, duplicate and reorder packets on
//! purpose, and answer MoldUDP64 retransmission requests from its history
//! (`--request-server`), as an exchange's request server does.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tickline_feed::itch::{frames, timestamp};
use tickline_feed::moldudp64::{parse_header, PacketWriter};

#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// ITCH 5.0 file (length-prefixed, or the zero-prefix variant).
    file: PathBuf,
    /// Destination, e.g. 127.0.0.1:26400, or a multicast group (239.192.0.1:26400).
    #[arg(long)]
    to: SocketAddr,
    /// max, realtime, or a factor N (N times the recorded pace).
    #[arg(long, default_value = "max")]
    speed: String,
    /// At most this many packets per second (also at max speed); 0 = unlimited.
    #[arg(long, default_value_t = 0)]
    packets_per_s: u64,
    /// Largest UDP payload.
    #[arg(long, default_value_t = 1400)]
    max_packet: usize,
    /// MoldUDP64 session name (10 characters, space padded).
    #[arg(long, default_value = "TICKLINE")]
    session: String,
    /// Lose every Kth packet (0 = none): to test gap handling.
    #[arg(long, default_value_t = 0)]
    drop_every: u64,
    /// Lose each packet with this probability.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Send each packet twice with this probability.
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    /// Send each packet after the next one with this probability.
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    /// Seed of the loss, duplication and reordering draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Answer retransmission requests (session, sequence number, count) on
    /// this UDP address, from the file's messages, until `--linger-ms` after
    /// the end of the session.
    #[arg(long)]
    request_server: Option<SocketAddr>,
    /// Multicast: hops a packet may take (0: this host only).
    #[arg(long, default_value_t = 0)]
    ttl: u32,
    /// Multicast: the interface to send on, by its address.
    #[arg(long, default_value = "127.0.0.1")]
    multicast_if: std::net::Ipv4Addr,
    /// Serve book snapshots (GLIMPSE-like, over TCP) on this address: the
    /// books after every message sent so far, for receivers that lost
    /// messages the request server did not give back.
    #[arg(long)]
    snapshot_server: Option<SocketAddr>,
    /// How long the request server stays up after the end of session.
    #[arg(long, default_value_t = 2000)]
    linger_ms: u64,
}

/// A xorshift draw in [0, 1).
fn draw(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

/// Serves snapshots until `stop`: for each connection, the books after the
/// messages sent so far, rebuilt from the file (a few ms for a day's start).
fn serve_snapshots(
    listener: std::net::TcpListener,
    session: [u8; 10],
    bytes: Vec<u8>,
    published: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> u64 {
    use std::io::Write;
    use tickline_feed::itch::ItchHandler;
    use tickline_feed::{Books, FeedStats};
    let _ = listener.set_nonblocking(true);
    let mut served = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Ok((mut conn, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let upto = published.load(std::sync::atomic::Ordering::Acquire);
        let (mut handler, mut books, mut stats) = (
            ItchHandler::default(),
            Books::new(1 << 16, 256),
            FeedStats::quiet(),
        );
        for m in frames(&bytes).take(upto as usize) {
            let _ = handler.handle(m, &mut books, &mut stats);
        }
        let snap = tickline_feed::snapshot::encode(session, upto, handler.directory(), &books);
        let _ = conn.set_nonblocking(false);
        if conn.write_all(&snap).is_ok() {
            served += 1;
        }
    }
    served
}

/// Answers retransmission requests with the messages asked for, packed
/// into as many packets as they need, until `stop`.
fn serve_requests(
    socket: UdpSocket,
    session: [u8; 10],
    messages: Vec<Vec<u8>>,
    max_packet: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> u64 {
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .ok();
    let mut buf = [0u8; 64];
    let mut answered = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let Some(h) = parse_header(&buf[..n]).filter(|h| h.session == session && h.seq > 0) else {
            continue;
        };
        // Sequence numbers start at 1.
        let first = (h.seq - 1) as usize;
        let last = (first + h.count as usize).min(messages.len());
        let mut w = PacketWriter::new(session, h.seq, max_packet);
        for m in messages.get(first..last).unwrap_or_default() {
            if !w.push(m) {
                let _ = socket.send_to(&w.finish(), from);
                w.push(m);
            }
        }
        if !w.is_empty() {
            let _ = socket.send_to(&w.finish(), from);
        }
        answered += 1;
    }
    answered
}

fn main() -> Result<()> {
    let args = Args::parse();
    let speed: Option<f64> = match args.speed.as_str() {
        "max" => None,
        "realtime" => Some(1.0),
        s => {
            let f: f64 = s.parse().context("--speed: max, realtime or a number")?;
            if !f.is_finite() || f <= 0.0 {
                bail!("--speed must be positive");
            }
            Some(f)
        }
    };
    if args.session.len() > 10 {
        bail!("--session is at most 10 characters");
    }
    let mut session = [b' '; 10];
    session[..args.session.len()].copy_from_slice(args.session.as_bytes());
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    // Unconnected: a receiver that restarts must not make our sends fail.
    let socket = UdpSocket::bind(if args.to.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })?;
    if args.to.ip().is_multicast() {
        let s = socket2::SockRef::from(&socket);
        s.set_multicast_ttl_v4(args.ttl)?;
        s.set_multicast_if_v4(&args.multicast_if)
            .with_context(|| format!("--multicast-if {}", args.multicast_if))?;
        // Receivers on this host get the feed too.
        s.set_multicast_loop_v4(true)?;
    }

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = match args.request_server {
        Some(addr) => {
            let s = UdpSocket::bind(addr).with_context(|| format!("--request-server {addr}"))?;
            let messages: Vec<Vec<u8>> = frames(&bytes).map(<[u8]>::to_vec).collect();
            let (stop, max) = (stop.clone(), args.max_packet);
            Some(std::thread::spawn(move || {
                serve_requests(s, session, messages, max, stop)
            }))
        }
        None => None,
    };
    // Messages sent so far (in packets that went out, lost or not).
    let published = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let snapshots = match args.snapshot_server {
        Some(addr) => {
            let l = std::net::TcpListener::bind(addr)
                .with_context(|| format!("--snapshot-server {addr}"))?;
            let (stop, published, bytes) = (stop.clone(), published.clone(), bytes.clone());
            Some(std::thread::spawn(move || {
                serve_snapshots(l, session, bytes, published, stop)
            }))
        }
        None => None,
    };
    let flushed = |n: u64| published.store(n, std::sync::atomic::Ordering::Release);
    let mut writer = PacketWriter::new(session, 1, args.max_packet);
    let mut rng = args.seed.max(1);
    let mut held: Option<Vec<u8>> = None;
    let started = Instant::now();
    let gap =
        (args.packets_per_s > 0).then(|| Duration::from_secs_f64(1.0 / args.packets_per_s as f64));
    let mut next_send = started;
    let (mut sent, mut lost, mut messages) = (0u64, 0u64, 0u64);
    let mut first_ts = None;
    let mut send = |packet: &[u8], numbered: bool| -> Result<()> {
        if let Some(g) = gap {
            let now = Instant::now();
            if next_send > now {
                std::thread::sleep(next_send - now);
            }
            next_send = next_send.max(now) + g;
        }
        if numbered && args.drop_every > 0 && (sent + lost + 1) % args.drop_every == 0 {
            lost += 1;
            return Ok(());
        }
        if numbered && draw(&mut rng) < args.loss {
            lost += 1;
            return Ok(());
        }
        if numbered && held.is_none() && draw(&mut rng) < args.reorder {
            held = Some(packet.to_vec()); // sent after the next one
            sent += 1;
            return Ok(());
        }
        let copies = if numbered && draw(&mut rng) < args.duplicate {
            2
        } else {
            1
        };
        // Loopback drops when the receiver's buffer is full; the receiver counts that as a gap.
        for _ in 0..copies {
            socket.send_to(packet, args.to)?;
        }
        if let Some(p) = held.take() {
            socket.send_to(&p, args.to)?;
        }
        if numbered {
            sent += 1;
        }
        Ok(())
    };
    for msg in frames(&bytes) {
        if let (Some(speed), Some(ts)) = (speed, timestamp(msg)) {
            let first = *first_ts.get_or_insert(ts);
            let due = Duration::from_nanos((ts.saturating_sub(first) as f64 / speed) as u64);
            if due > started.elapsed() {
                // Flush what is ready before waiting for the next message's time.
                if !writer.is_empty() {
                    send(&writer.finish(), true)?;
                    flushed(messages);
                }
                let wait = due.saturating_sub(started.elapsed());
                if wait > Duration::from_secs(1) {
                    send(&writer.control(false), false)?; // heartbeat
                }
                std::thread::sleep(wait);
            }
        }
        if !writer.push(msg) {
            send(&writer.finish(), true)?;
            flushed(messages);
            if !writer.push(msg) {
                bail!(
                    "a {}-byte message does not fit in --max-packet {}",
                    msg.len(),
                    args.max_packet
                );
            }
        }
        messages += 1;
    }
    if !writer.is_empty() {
        send(&writer.finish(), true)?;
    }
    flushed(messages);
    // End of session, repeated: UDP may lose one.
    for _ in 0..3 {
        send(&writer.control(true), false)?;
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed().as_secs_f64();
    if server.is_some() || snapshots.is_some() {
        std::thread::sleep(Duration::from_millis(args.linger_ms));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered = server.map(|t| t.join().unwrap_or(0));
    let snapshots_served = snapshots.map(|t| t.join().unwrap_or(0));
    println!(
        "{}",
        serde_json::json!({"messages": messages, "packets_sent": sent, "packets_lost_on_purpose": lost,
                           "requests_answered": answered, "snapshots_served": snapshots_served,
                           "elapsed_s": elapsed})
    );
    Ok(())
}
