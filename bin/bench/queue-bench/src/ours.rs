//! Our queue's cases (and the one-cache-line floor), and the child side
//! of every case.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use tickline_shm::payload::Bytes;
use tickline_shm::{monotonic_ns, Consumer, FullPolicy, Message, Producer, WaitStrategy};

use crate::harness::{
    child_args, finish_child, new_hist, pin, queue_names, spawn_child, with_cpu, ChildArgs, Unlink,
};
use crate::uds::{uds_echo, uds_sink};

/// Two threads on two cores pass a counter through one shared word: the
/// round trip of one cache line, which any cross-core queue pays at least.
pub(crate) fn cache_line_latency(iters: u64, child_cpu: Option<usize>) -> Result<Histogram<u64>> {
    #[repr(align(64))]
    struct Line(AtomicU64);
    let line = Line(AtomicU64::new(0));
    let total = iters + iters / 10;
    std::thread::scope(|scope| {
        let echo = scope.spawn(|| -> Result<()> {
            pin(child_cpu)?;
            for i in 0..total {
                while line.0.load(Ordering::Acquire) != 2 * i + 1 {
                    std::hint::spin_loop();
                }
                line.0.store(2 * i + 2, Ordering::Release);
            }
            Ok(())
        });
        // This thread is pinned already (run() pinned the process's main thread).
        let mut hist = new_hist();
        for i in 0..total {
            let t0 = monotonic_ns();
            line.0.store(2 * i + 1, Ordering::Release);
            while line.0.load(Ordering::Acquire) != 2 * i + 2 {
                std::hint::spin_loop();
            }
            let t1 = monotonic_ns();
            if i >= iters / 10 {
                hist.saturating_record((t1 - t0) / 2);
            }
        }
        echo.join().expect("echo thread")?;
        Ok(hist)
    })
}

/// Round trip through two queues; records half of each round trip.
pub(crate) fn ours_latency<const N: usize>(
    wait: WaitStrategy,
    iters: u64,
    cpu: Option<usize>,
) -> Result<Histogram<u64>>
where
    Bytes<N>: Message,
{
    let (ping, pong) = queue_names("lat");
    let _guard = Unlink(vec![ping.clone(), pong.clone()]);
    tickline_shm::create::<Bytes<N>>(&ping, 1024)?;
    tickline_shm::create::<Bytes<N>>(&pong, 1024)?;
    let child = spawn_child(&with_cpu(
        child_args("echo", &ping, &pong, N * 8, wait),
        cpu,
    ))?;
    let mut tx = Producer::<Bytes<N>>::attach(&ping, FullPolicy::Block, wait)?;
    let mut rx = Consumer::<Bytes<N>>::attach(&pong, wait)?;
    let mut hist = new_hist();
    let warmup = iters / 10;
    let mut msg = Bytes::<N>::with_seq(0);
    for i in 0..warmup + iters {
        msg.words[0] = i;
        let t0 = monotonic_ns();
        tx.push(&msg);
        let back = rx.pop().context("echo stopped")?;
        let t1 = monotonic_ns();
        if back.seq() != i {
            bail!("echo returned {} for {i}", back.seq());
        }
        if i >= warmup {
            hist.saturating_record((t1 - t0) / 2);
        }
    }
    msg.words[0] = u64::MAX;
    tx.push(&msg);
    finish_child(child)?;
    Ok(hist)
}

/// Full round trips of 64-byte messages, this process pinned to `cpu` and
/// the echoing child to `child_cpu` (pinning failures are errors here).
pub(crate) fn ours_round_trip(
    wait: WaitStrategy,
    iters: u64,
    cpu: usize,
    child_cpu: usize,
) -> Result<Histogram<u64>> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .with_context(|| format!("pinning to CPU {cpu}"))?;
    let half = ours_latency::<8>(wait, iters, Some(child_cpu))?;
    let mut rtt = new_hist();
    for v in half.iter_recorded() {
        rtt.saturating_record_n(v.value_iterated_to() * 2, v.count_at_value());
    }
    Ok(rtt)
}

/// Producer here, consumer in the child; time until the child has read all.
pub(crate) fn ours_throughput<const N: usize>(
    wait: WaitStrategy,
    msgs: u64,
    batch: usize,
    cpu: Option<usize>,
) -> Result<f64>
where
    Bytes<N>: Message,
{
    let (data, done) = queue_names("tput");
    let _guard = Unlink(vec![data.clone(), done.clone()]);
    tickline_shm::create::<Bytes<N>>(&data, 4096)?;
    tickline_shm::create::<Bytes<N>>(&done, 2)?;
    let mut a = child_args("sink", &data, &done, N * 8, wait);
    a.push(format!("--count={msgs}"));
    a.push(format!("--batch={batch}"));
    let child = spawn_child(&with_cpu(a, cpu))?;
    let mut tx = Producer::<Bytes<N>>::attach(&data, FullPolicy::Block, wait)?;
    let mut rx = Consumer::<Bytes<N>>::attach(&done, wait)?;
    // The child says it is attached before the clock starts.
    rx.pop().context("sink never started")?;
    // Whole payloads are written and read, as a real stage would.
    let mut template = Bytes::<N>::with_seq(0);
    let t0 = monotonic_ns();
    let mut seq = 0u64;
    while seq < msgs {
        let slots = tx.write_slots(batch.min((msgs - seq) as usize));
        if slots.is_empty() {
            tx.wait_for_space(1, None);
            continue;
        }
        for s in slots.iter_mut() {
            template.words[0] = seq;
            *s = template;
            seq += 1;
        }
        let n = slots.len();
        tx.publish(n);
    }
    let ack = rx.pop().context("sink stopped")?;
    let t1 = monotonic_ns();
    finish_child(child)?;
    if ack.words[0] != msgs || ack.words[1] != msgs * (msgs - 1) / 2 {
        bail!(
            "sink saw {} messages, checksum {}",
            ack.words[0],
            ack.words[1]
        );
    }
    Ok(msgs as f64 * 1e9 / (t1 - t0) as f64)
}

pub(crate) fn child(args: ChildArgs) -> Result<()> {
    pin(args.cpu)?;
    match (args.role.as_str(), args.size) {
        ("echo", 64) => echo::<8>(&args),
        ("echo", 256) => echo::<32>(&args),
        ("sink", 64) => sink::<8>(&args),
        ("sink", 256) => sink::<32>(&args),
        ("uds-echo", _) => uds_echo(&args),
        ("uds-sink", _) => uds_sink(&args),
        #[cfg(feature = "iceoryx2")]
        (role, _) if role.starts_with("ice-") => crate::iceoryx2::child(&args),
        (role, size) => bail!("unknown child role {role} for {size} bytes"),
    }
}

pub(crate) fn echo<const N: usize>(args: &ChildArgs) -> Result<()>
where
    Bytes<N>: Message,
{
    let mut rx = Consumer::<Bytes<N>>::attach(&args.a, args.wait)?;
    let mut tx = Producer::<Bytes<N>>::attach(&args.b, FullPolicy::Block, args.wait)?;
    loop {
        let m = rx.pop().context("stopped")?;
        if m.words[0] == u64::MAX {
            return Ok(());
        }
        tx.push(&m);
    }
}

pub(crate) fn sink<const N: usize>(args: &ChildArgs) -> Result<()>
where
    Bytes<N>: Message,
{
    let mut rx = Consumer::<Bytes<N>>::attach(&args.a, args.wait)?;
    let mut tx = Producer::<Bytes<N>>::attach(&args.b, FullPolicy::Block, args.wait)?;
    tx.push(&Bytes::with_seq(0));
    let (mut n, mut sum) = (0u64, 0u64);
    while n < args.count {
        let batch = rx.read_slots(args.batch);
        if batch.is_empty() {
            rx.wait(None);
            continue;
        }
        for m in batch {
            sum = sum.wrapping_add(m.words[0]);
            let all = m.words.iter().fold(0u64, |a, &w| a ^ w);
            std::hint::black_box(all);
        }
        let k = batch.len();
        rx.commit(k);
        n += k as u64;
    }
    let mut ack = Bytes::<N>::with_seq(n);
    ack.words[1] = sum;
    tx.push(&ack);
    Ok(())
}
