//! itch-replay: sends an ITCH 5.0 file as MoldUDP64 packets to a UDP address
//! (loopback, for tests and profiling), at the recorded pace, N times faster,
//! or as fast as possible. It can lose, duplicate and reorder packets on
//! purpose, and answer MoldUDP64 retransmission requests from its history
//! (`--request-server`), as an exchange's request server does.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
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
    published: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
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
    stop: Arc<AtomicBool>,
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

/// Sends packets to the receiver, losing, reordering and duplicating them
/// on purpose as asked, at most `--packets-per-s`.
struct Sender<'a> {
    socket: UdpSocket,
    args: &'a Args,
    gap: Option<Duration>,
    next_send: Instant,
    rng: u64,
    /// A packet held back, sent after the next one.
    held: Option<Vec<u8>>,
    sent: u64,
    lost: u64,
}

impl Sender<'_> {
    /// Sends one packet (`numbered`: carries messages, so it may be lost on purpose).
    fn send(&mut self, packet: &[u8], numbered: bool) -> Result<()> {
        if let Some(g) = self.gap {
            let now = Instant::now();
            if self.next_send > now {
                std::thread::sleep(self.next_send - now);
            }
            self.next_send = self.next_send.max(now) + g;
        }
        let a = self.args;
        if numbered && a.drop_every > 0 && (self.sent + self.lost + 1).is_multiple_of(a.drop_every)
        {
            self.lost += 1;
            return Ok(());
        }
        if numbered && draw(&mut self.rng) < a.loss {
            self.lost += 1;
            return Ok(());
        }
        if numbered && self.held.is_none() && draw(&mut self.rng) < a.reorder {
            self.held = Some(packet.to_vec()); // sent after the next one
            self.sent += 1;
            return Ok(());
        }
        let copies = if numbered && draw(&mut self.rng) < a.duplicate {
            2
        } else {
            1
        };
        // Loopback drops when the receiver's buffer is full; the receiver counts that as a gap.
        for _ in 0..copies {
            self.socket.send_to(packet, a.to)?;
        }
        if let Some(p) = self.held.take() {
            self.socket.send_to(&p, a.to)?;
        }
        self.sent += numbered as u64;
        Ok(())
    }
}

/// `--speed`: None for as fast as possible.
fn parse_speed(s: &str) -> Result<Option<f64>> {
    match s {
        "max" => Ok(None),
        "realtime" => Ok(Some(1.0)),
        s => {
            let f: f64 = s.parse().context("--speed: max, realtime or a number")?;
            if !f.is_finite() || f <= 0.0 {
                bail!("--speed must be positive");
            }
            Ok(Some(f))
        }
    }
}

/// An unconnected socket (a receiver that restarts must not make our sends
/// fail), set up for multicast if the destination is a group.
fn open_socket(args: &Args) -> Result<UdpSocket> {
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
    Ok(socket)
}

/// The retransmission and snapshot servers asked for, on threads.
struct Servers {
    stop: Arc<AtomicBool>,
    /// Messages sent so far (in packets that went out, lost or not).
    published: Arc<AtomicU64>,
    requests: Option<std::thread::JoinHandle<u64>>,
    snapshots: Option<std::thread::JoinHandle<u64>>,
}

fn start_servers(args: &Args, session: [u8; 10], bytes: &[u8]) -> Result<Servers> {
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let requests = match args.request_server {
        Some(addr) => {
            let s = UdpSocket::bind(addr).with_context(|| format!("--request-server {addr}"))?;
            let messages: Vec<Vec<u8>> = frames(bytes).map(<[u8]>::to_vec).collect();
            let (stop, max) = (stop.clone(), args.max_packet);
            Some(std::thread::spawn(move || {
                serve_requests(s, session, messages, max, stop)
            }))
        }
        None => None,
    };
    let snapshots = match args.snapshot_server {
        Some(addr) => {
            let l = std::net::TcpListener::bind(addr)
                .with_context(|| format!("--snapshot-server {addr}"))?;
            let (stop, published, bytes) = (stop.clone(), published.clone(), bytes.to_vec());
            Some(std::thread::spawn(move || {
                serve_snapshots(l, session, bytes, published, stop)
            }))
        }
        None => None,
    };
    Ok(Servers {
        stop,
        published,
        requests,
        snapshots,
    })
}

/// Every message of `bytes` in packets, paced at `speed` if given; the
/// count of messages sent.
fn replay(
    args: &Args,
    bytes: &[u8],
    speed: Option<f64>,
    writer: &mut PacketWriter,
    tx: &mut Sender<'_>,
    published: &AtomicU64,
) -> Result<u64> {
    let started = Instant::now();
    let flushed = |n: u64| published.store(n, Ordering::Release);
    let (mut messages, mut first_ts) = (0u64, None);
    for msg in frames(bytes) {
        if let (Some(speed), Some(ts)) = (speed, timestamp(msg)) {
            let first = *first_ts.get_or_insert(ts);
            let due = Duration::from_nanos((ts.saturating_sub(first) as f64 / speed) as u64);
            if due > started.elapsed() {
                // Flush what is ready before waiting for the next message's time.
                if !writer.is_empty() {
                    tx.send(&writer.finish(), true)?;
                    flushed(messages);
                }
                let wait = due.saturating_sub(started.elapsed());
                if wait > Duration::from_secs(1) {
                    tx.send(&writer.control(false), false)?; // heartbeat
                }
                std::thread::sleep(wait);
            }
        }
        if !writer.push(msg) {
            tx.send(&writer.finish(), true)?;
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
        tx.send(&writer.finish(), true)?;
    }
    flushed(messages);
    Ok(messages)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let speed = parse_speed(&args.speed)?;
    if args.session.len() > 10 {
        bail!("--session is at most 10 characters");
    }
    let mut session = [b' '; 10];
    session[..args.session.len()].copy_from_slice(args.session.as_bytes());
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let started = Instant::now();
    let mut tx = Sender {
        socket: open_socket(&args)?,
        args: &args,
        gap: (args.packets_per_s > 0)
            .then(|| Duration::from_secs_f64(1.0 / args.packets_per_s as f64)),
        next_send: started,
        rng: args.seed.max(1),
        held: None,
        sent: 0,
        lost: 0,
    };
    let servers = start_servers(&args, session, &bytes)?;
    let mut writer = PacketWriter::new(session, 1, args.max_packet);
    let messages = replay(
        &args,
        &bytes,
        speed,
        &mut writer,
        &mut tx,
        &servers.published,
    )?;
    // End of session, repeated: UDP may lose one.
    for _ in 0..3 {
        tx.send(&writer.control(true), false)?;
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed().as_secs_f64();
    if servers.requests.is_some() || servers.snapshots.is_some() {
        std::thread::sleep(Duration::from_millis(args.linger_ms));
    }
    servers.stop.store(true, Ordering::Relaxed);
    let answered = servers.requests.map(|t| t.join().unwrap_or(0));
    let snapshots_served = servers.snapshots.map(|t| t.join().unwrap_or(0));
    println!(
        "{}",
        serde_json::json!({"messages": messages, "packets_sent": tx.sent, "packets_lost_on_purpose": tx.lost,
                           "requests_answered": answered, "snapshots_served": snapshots_served,
                           "elapsed_s": elapsed})
    );
    Ok(())
}
