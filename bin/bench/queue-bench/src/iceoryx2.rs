//! The iceoryx2 peer, set up as iceoryx2's own publish-subscribe benchmark
//! sets itself up (`benchmarks/publish-subscribe` in its repository): both
//! sides busy-poll `receive` with no clock read in the poll loop, and the
//! next sample is loaned before the wait, not inside the round trip. Our
//! harness differs only where the comparison needs it: two processes (it
//! uses two threads), a clock read per round trip as on our side, and the
//! payload written into every sample, as our queue writes every message.
//! Batched throughput sends slices of `batch` messages per sample
//! (`loan_slice_uninit`), against our batched publish; one-per-message
//! throughput sends a sample per message.

use anyhow::{anyhow, bail, Context, Result};
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;

use crate::harness::{new_hist, spawn_child, BenchArgs, ChildArgs, Sample};
use tickline_shm::monotonic_ns;

const READY: u64 = u64::MAX - 1;
const STOP: u64 = u64::MAX;

type Msg<const N: usize> = [u64; N];

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("iceoryx2: {e:?}")
}

/// Polls until `poll` yields, reading the clock only every 2^20 polls
/// (to give up after 30 s of silence), never per poll.
fn spin_until<R>(mut poll: impl FnMut() -> Result<Option<R>>) -> Result<R> {
    let (mut polls, mut since) = (0u32, 0u64);
    loop {
        if let Some(r) = poll()? {
            return Ok(r);
        }
        polls = polls.wrapping_add(1);
        if polls & 0xF_FFFF == 0 {
            let now = monotonic_ns();
            if since == 0 {
                since = now;
            } else if now - since > 30_000_000_000 {
                bail!("iceoryx2 peer silent for 30 s");
            }
        }
        std::hint::spin_loop();
    }
}

/// A service of `$t` (a message, or a slice of them) for one publisher and
/// one subscriber, lossless, `$buffer` samples deep.
macro_rules! service {
    ($node:expr, $name:expr, $t:ty, $buffer:expr) => {
        $node
            .service_builder(&ServiceName::new($name).map_err(err)?)
            .publish_subscribe::<$t>()
            .max_publishers(1)
            .max_subscribers(1)
            .history_size(0)
            .subscriber_max_buffer_size($buffer)
            .enable_safe_overflow(false)
            .open_or_create()
            .map_err(err)?
    };
}

/// A lossless publisher: it waits for room rather than drop.
macro_rules! publisher {
    ($builder:expr) => {
        $builder
            .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
            .create()
            .map_err(err)?
    };
}

/// Latency, batched and one-per-message throughput for one payload size.
pub fn measure(size: usize, args: &BenchArgs, cpu: Option<usize>) -> Result<Sample> {
    quiet();
    let single = args.msgs / 10;
    match size {
        64 => Ok(Sample {
            latency: latency::<8>(args.iters, cpu)?,
            batched: Some(batched::<8>(args.msgs, args.batch, cpu)?),
            single: Some(one_by_one::<8>(single, cpu)?),
        }),
        256 => Ok(Sample {
            latency: latency::<32>(args.iters, cpu)?,
            batched: Some(batched::<32>(args.msgs, args.batch, cpu)?),
            single: Some(one_by_one::<32>(single, cpu)?),
        }),
        _ => bail!("payload size {size}: only 64 and 256"),
    }
}

fn quiet() {
    // Its default config warns on every node creation; keep the report readable.
    set_log_level(LogLevel::Error);
}

fn names(tag: &str) -> (String, String) {
    let pid = std::process::id();
    (
        format!("tickline/bench/{pid}/{tag}/a"),
        format!("tickline/bench/{pid}/{tag}/b"),
    )
}

/// Starts the child in `role`; returns once it says it is ready on `b`.
fn start_child<const N: usize>(
    role: &str,
    (a, b): &(String, String),
    count: u64,
    batch: usize,
    cpu: Option<usize>,
    back: &Subscriber<ipc::Service, Msg<N>, ()>,
) -> Result<std::process::Child> {
    let mut cargs = vec![
        format!("--role={role}"),
        format!("--a={a}"),
        format!("--b={b}"),
        format!("--size={}", N * 8),
        format!("--count={count}"),
        format!("--batch={batch}"),
    ];
    if let Some(c) = cpu {
        cargs.push(format!("--cpu={c}"));
    }
    let child = spawn_child(&cargs)?;
    let ready = spin_until(|| Ok(back.receive().map_err(err)?.map(|s| s.payload()[0])))
        .context("waiting for the iceoryx2 child")?;
    if ready != READY {
        bail!("iceoryx2 child sent {ready} instead of READY");
    }
    Ok(child)
}

fn finish(mut child: std::process::Child) -> Result<()> {
    if !child.wait()?.success() {
        bail!("iceoryx2 child failed");
    }
    Ok(())
}

fn latency<const N: usize>(iters: u64, cpu: Option<usize>) -> Result<hdrhistogram::Histogram<u64>> {
    let names = names("lat");
    let node = NodeBuilder::new().create::<ipc::Service>().map_err(err)?;
    let out = service!(node, &names.0, Msg<N>, 1);
    let inp = service!(node, &names.1, Msg<N>, 1);
    let tx = publisher!(out.publisher_builder());
    let rx = inp.subscriber_builder().create().map_err(err)?;
    let child = start_child::<N>("ice-echo", &names, 0, 1, cpu, &rx)?;
    let mut hist = new_hist();
    let warmup = iters / 10;
    let mut msg = [7u64; N];
    let mut next = tx.loan_uninit().map_err(err)?;
    for i in 0..warmup + iters {
        msg[0] = i;
        let t0 = monotonic_ns();
        next.write_payload(msg).send().map_err(err)?;
        // Loaned ahead, while the echo is on its way.
        next = tx.loan_uninit().map_err(err)?;
        let back = spin_until(|| Ok(rx.receive().map_err(err)?.map(|s| s.payload()[0])))?;
        let t1 = monotonic_ns();
        if back != i {
            bail!("iceoryx2 echo returned {back} for {i}");
        }
        if i >= warmup {
            hist.saturating_record((t1 - t0) / 2);
        }
    }
    msg[0] = STOP;
    next.write_payload(msg).send().map_err(err)?;
    finish(child)?;
    Ok(hist)
}

/// Waits for the sink's acknowledgement (messages seen, the sum of their
/// numbers), checks it, and returns the rate since `t0`.
fn sink_rate<const N: usize>(
    rx: &Subscriber<ipc::Service, Msg<N>, ()>,
    child: std::process::Child,
    msgs: u64,
    t0: u64,
) -> Result<f64> {
    let ack = spin_until(|| {
        Ok(rx
            .receive()
            .map_err(err)?
            .map(|s| (s.payload()[0], s.payload()[1])))
    })?;
    let t1 = monotonic_ns();
    finish(child)?;
    if ack != (msgs, msgs * (msgs - 1) / 2) {
        bail!("iceoryx2 sink saw {} of {msgs}, sum {}", ack.0, ack.1);
    }
    Ok(msgs as f64 * 1e9 / (t1 - t0) as f64)
}

/// `msgs` messages in slices of `batch` per sample.
fn batched<const N: usize>(msgs: u64, batch: usize, cpu: Option<usize>) -> Result<f64> {
    let names = names("batch");
    let node = NodeBuilder::new().create::<ipc::Service>().map_err(err)?;
    // As deep as our queue's 4096 slots.
    let out = service!(node, &names.0, [Msg<N>], (4096 / batch).max(2));
    let inp = service!(node, &names.1, Msg<N>, 2);
    let tx = publisher!(out.publisher_builder().initial_max_slice_len(batch));
    let rx = inp.subscriber_builder().create().map_err(err)?;
    let child = start_child::<N>("ice-sink-batch", &names, msgs, batch, cpu, &rx)?;
    let template = [7u64; N];
    let t0 = monotonic_ns();
    let mut seq = 0u64;
    while seq < msgs {
        let n = batch.min((msgs - seq) as usize);
        let sample = tx.loan_slice_uninit(n).map_err(err)?;
        let first = seq;
        let sample = sample.write_from_fn(|k| {
            let mut m = template;
            m[0] = first + k as u64;
            m
        });
        sample.send().map_err(err)?;
        seq += n as u64;
    }
    sink_rate(&rx, child, msgs, t0)
}

/// `msgs` messages, one sample each.
fn one_by_one<const N: usize>(msgs: u64, cpu: Option<usize>) -> Result<f64> {
    let names = names("single");
    let node = NodeBuilder::new().create::<ipc::Service>().map_err(err)?;
    let out = service!(node, &names.0, Msg<N>, 4096);
    let inp = service!(node, &names.1, Msg<N>, 2);
    let tx = publisher!(out.publisher_builder());
    let rx = inp.subscriber_builder().create().map_err(err)?;
    let child = start_child::<N>("ice-sink", &names, msgs, 1, cpu, &rx)?;
    let mut msg = [7u64; N];
    let t0 = monotonic_ns();
    for seq in 0..msgs {
        msg[0] = seq;
        tx.loan_uninit()
            .map_err(err)?
            .write_payload(msg)
            .send()
            .map_err(err)?;
    }
    sink_rate(&rx, child, msgs, t0)
}

pub fn child(args: &ChildArgs) -> Result<()> {
    quiet();
    match args.size {
        64 => child_n::<8>(args),
        256 => child_n::<32>(args),
        s => bail!("payload size {s}"),
    }
}

fn child_n<const N: usize>(args: &ChildArgs) -> Result<()> {
    let node = NodeBuilder::new().create::<ipc::Service>().map_err(err)?;
    // The parent publishes on `a` and subscribes on `b`.
    let back_depth = if args.role == "ice-echo" { 1 } else { 2 };
    let back = service!(node, &args.b, Msg<N>, back_depth);
    let tx = publisher!(back.publisher_builder());
    let mut ready = [0u64; N];
    ready[0] = READY;
    let ack = |n: u64, sum: u64| -> Result<()> {
        let mut m = [0u64; N];
        (m[0], m[1]) = (n, sum);
        tx.loan_uninit()
            .map_err(err)?
            .write_payload(m)
            .send()
            .map_err(err)?;
        Ok(())
    };
    match args.role.as_str() {
        "ice-echo" => {
            let inp = service!(node, &args.a, Msg<N>, 1);
            let rx = inp.subscriber_builder().create().map_err(err)?;
            tx.send_copy(ready).map_err(err)?;
            let mut next = tx.loan_uninit().map_err(err)?;
            loop {
                let m = spin_until(|| Ok(rx.receive().map_err(err)?.map(|s| *s.payload())))?;
                if m[0] == STOP {
                    return Ok(());
                }
                next.write_payload(m).send().map_err(err)?;
                next = tx.loan_uninit().map_err(err)?;
            }
        }
        "ice-sink" => {
            let inp = service!(node, &args.a, Msg<N>, 4096);
            let rx = inp.subscriber_builder().create().map_err(err)?;
            tx.send_copy(ready).map_err(err)?;
            let (mut n, mut sum) = (0u64, 0u64);
            while n < args.count {
                let m = spin_until(|| rx.receive().map_err(err))?;
                let m = m.payload();
                sum = sum.wrapping_add(m[0]);
                std::hint::black_box(m.iter().fold(0, |a, &w| a ^ w));
                n += 1;
            }
            ack(n, sum)
        }
        "ice-sink-batch" => {
            let inp = service!(node, &args.a, [Msg<N>], (4096 / args.batch).max(2));
            let rx = inp.subscriber_builder().create().map_err(err)?;
            tx.send_copy(ready).map_err(err)?;
            let (mut n, mut sum) = (0u64, 0u64);
            while n < args.count {
                let sample = spin_until(|| rx.receive().map_err(err))?;
                for m in sample.payload() {
                    sum = sum.wrapping_add(m[0]);
                    std::hint::black_box(m.iter().fold(0, |a, &w| a ^ w));
                }
                n += sample.payload().len() as u64;
            }
            ack(n, sum)
        }
        r => bail!("unknown iceoryx2 role {r}"),
    }
}
