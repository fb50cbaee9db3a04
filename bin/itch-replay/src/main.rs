//! itch-replay: sends an ITCH 5.0 file as MoldUDP64 packets to a UDP address
//! (loopback, for tests and profiling), at the recorded pace, N times faster,
//! or as fast as possible; optionally losing every Kth packet on purpose.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tickline_feed::itch::{frames, timestamp};
use tickline_feed::moldudp64::PacketWriter;

#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// ITCH 5.0 file (length-prefixed, or the zero-prefix variant).
    file: PathBuf,
    /// Destination, e.g. 127.0.0.1:26400.
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

    let mut writer = PacketWriter::new(session, 1, args.max_packet);
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
        // Loopback drops when the receiver's buffer is full; the receiver counts that as a gap.
        socket.send_to(packet, args.to)?;
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
    // End of session, repeated: UDP may lose one.
    for _ in 0..3 {
        send(&writer.control(true), false)?;
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "{}",
        serde_json::json!({"messages": messages, "packets_sent": sent, "packets_lost_on_purpose": lost,
                           "elapsed_s": started.elapsed().as_secs_f64()})
    );
    Ok(())
}
