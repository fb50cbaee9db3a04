//! tickline-fix-bench: order-to-ack round trips through `FixGateway` to a FIX
//! venue on loopback: each order handed to the gateway (the router's side of
//! its ring), timed until the router's side drains the venue's first
//! ExecutionReport for it. One order in flight at a time, the orders the
//! QuickFIX initiator peer sends (scripts/fix/quickfix_initiator.cpp): an
//! IOC buy of 1 at 1, which cannot fill, so the ack is ExecType Canceled
//! (and neither side piles up resting orders). Beside it, the
//! floor: a 200-byte TCP ping-pong between two threads on loopback.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use tickline_fix::{FixConfig, FixGateway};
use tickline_router::{Exec, Touch};
use tickline_router::{Gateway, OrderRequest};
use tickline_schema::{Side, TimeInForce};

#[derive(Parser)]
struct Args {
    /// The venue: HOST:PORT[,sender=..][,target=..] (as `--venue fix:` takes).
    #[arg(long, default_value = "127.0.0.1:9878")]
    venue: String,
    /// Timed orders (after a tenth as many for warm-up).
    #[arg(long, default_value_t = 10_000)]
    orders: u64,
    /// The FIX session store (a fresh one per run: ClOrdIDs stay unique).
    #[arg(long)]
    store: PathBuf,
}

fn percentiles(h: &Histogram<u64>) -> serde_json::Value {
    serde_json::json!({
        "count": h.len(), "p50": h.value_at_quantile(0.5), "p90": h.value_at_quantile(0.9),
        "p99": h.value_at_quantile(0.99), "p99.9": h.value_at_quantile(0.999), "max": h.max(),
    })
}

/// The floor under any FIX engine here: a TCP round trip on loopback
/// between two threads, with a message of a NewOrderSingle's size.
fn tcp_floor(iters: u64) -> Result<Histogram<u64>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 200];
        loop {
            if s.read_exact(&mut buf).is_err() {
                return Ok(());
            }
            s.write_all(&buf)?;
        }
    });
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut h = Histogram::new(3)?;
    let mut buf = [7u8; 200];
    for i in 0..iters + iters / 10 {
        let t0 = Instant::now();
        s.write_all(&buf)?;
        s.read_exact(&mut buf)?;
        if i >= iters / 10 {
            h.record(t0.elapsed().as_nanos() as u64)?;
        }
    }
    drop(s);
    let _ = echo.join();
    Ok(h)
}

fn main() -> Result<()> {
    let a = Args::parse();
    let _ = std::fs::remove_dir_all(&a.store);
    let cfg = FixConfig::parse(&a.venue, a.store.clone())?;
    let mut gw = FixGateway::start(cfg)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while gw.counters.logons.load(Ordering::Relaxed) == 0 {
        if Instant::now() > deadline {
            bail!("no logon with the venue at {}", a.venue);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut out: Vec<Exec> = Vec::with_capacity(16);
    let mut h = Histogram::<u64>::new(3)?;
    let warmup = a.orders / 10;
    let touch = Touch { bid: 0, ask: 0 };
    for id in 1..=warmup + a.orders {
        let o = OrderRequest::new(
            id,
            1,
            Side::Buy,
            100_000_000,
            100_000_000,
            100_000_000,
            TimeInForce::ImmediateOrCancel,
        )
        .context("benchmark order")?;
        out.clear();
        let t0 = Instant::now();
        gw.submit(&o, touch, 0, &mut out);
        while out.is_empty() {
            // As the QuickFIX peer waits: yielding, so two cores can serve
            // this thread, the session thread and the venue.
            std::thread::yield_now();
            gw.poll(&mut out);
            if t0.elapsed() > Duration::from_secs(5) {
                bail!("order {id}: no answer in 5 s");
            }
        }
        let ns = t0.elapsed().as_nanos() as u64;
        if !matches!(out[0], Exec::Done(i) if i == id) {
            bail!("order {id}: the venue answered {:?}", out[0]);
        }
        if id > warmup {
            h.record(ns)?;
        }
    }
    drop(gw);
    let floor = tcp_floor(a.orders)?;
    println!(
        "{}",
        serde_json::json!({"peer": "tickline FixGateway", "ack_ns": percentiles(&h), "tcp_floor_ns": percentiles(&floor)})
    );
    Ok(())
}
