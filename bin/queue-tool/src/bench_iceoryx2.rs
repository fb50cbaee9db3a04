//! The iceoryx2 peer: publish/subscribe between two processes, both sides
//! busy-polling (as iceoryx2's own latency benchmark does), payloads copied in.

use anyhow::{anyhow, bail, Context, Result};
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;

use crate::bench::{new_hist, spawn_child, BenchArgs, ChildArgs, Row};
use tickline_shm::monotonic_ns;

const READY: u64 = u64::MAX - 1;
const STOP: u64 = u64::MAX;

type Pub<const N: usize> = Publisher<ipc::Service, [u64; N], ()>;
type Sub<const N: usize> = Subscriber<ipc::Service, [u64; N], ()>;

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("iceoryx2: {e:?}")
}

fn ports<const N: usize>(
    node: &Node<ipc::Service>,
    publish_on: &str,
    subscribe_on: &str,
    buffer: usize,
) -> Result<(Pub<N>, Sub<N>)> {
    let service = |name: &str| {
        node.service_builder(&ServiceName::new(name).map_err(err)?)
            .publish_subscribe::<[u64; N]>()
            .max_publishers(1)
            .max_subscribers(1)
            .history_size(0)
            .subscriber_max_buffer_size(buffer)
            .enable_safe_overflow(false)
            .open_or_create()
            .map_err(err)
    };
    let out = service(publish_on)?;
    let inp = service(subscribe_on)?;
    let publisher = out
        .publisher_builder()
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()
        .map_err(err)?;
    let subscriber = inp
        .subscriber_builder()
        .buffer_size(buffer)
        .create()
        .map_err(err)?;
    Ok((publisher, subscriber))
}

fn recv_spin<const N: usize>(sub: &Sub<N>) -> Result<[u64; N]> {
    let start = monotonic_ns();
    loop {
        if let Some(s) = sub.receive().map_err(err)? {
            return Ok(*s.payload());
        }
        if monotonic_ns() - start > 30_000_000_000 {
            bail!("iceoryx2 peer silent for 30 s");
        }
        std::hint::spin_loop();
    }
}

pub fn measure(size: usize, args: &BenchArgs, cpu: Option<usize>) -> Result<Row> {
    quiet();
    let (lat, tput) = match size {
        64 => (
            latency::<8>(args.iters, cpu)?,
            throughput::<8>(args.msgs, cpu)?,
        ),
        256 => (
            latency::<32>(args.iters, cpu)?,
            throughput::<32>(args.msgs, cpu)?,
        ),
        _ => bail!("payload size {size}: only 64 and 256"),
    };
    Ok(Row {
        transport: "iceoryx2".into(),
        wait: "busy poll".into(),
        size,
        latency: Some(lat),
        msgs_per_s: Some(tput),
    })
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

fn start<const N: usize>(
    tag: &str,
    role: &str,
    count: u64,
    buffer: usize,
    cpu: Option<usize>,
) -> Result<(Node<ipc::Service>, Pub<N>, Sub<N>, std::process::Child)> {
    let (a, b) = names(tag);
    let node = NodeBuilder::new().create::<ipc::Service>().map_err(err)?;
    let (publisher, subscriber) = ports::<N>(&node, &a, &b, buffer)?;
    let mut cargs = vec![
        format!("--role={role}"),
        format!("--a={a}"),
        format!("--b={b}"),
        format!("--size={}", N * 8),
        format!("--count={count}"),
        format!("--batch={buffer}"),
    ];
    if let Some(c) = cpu {
        cargs.push(format!("--cpu={c}"));
    }
    let child = spawn_child(&cargs)?;
    let ready = recv_spin(&subscriber).context("waiting for the iceoryx2 child")?;
    if ready[0] != READY {
        bail!("iceoryx2 child sent {} instead of READY", ready[0]);
    }
    Ok((node, publisher, subscriber, child))
}

fn latency<const N: usize>(iters: u64, cpu: Option<usize>) -> Result<hdrhistogram::Histogram<u64>> {
    let (_node, publisher, subscriber, mut child) = start::<N>("lat", "ice-echo", 0, 16, cpu)?;
    let mut hist = new_hist();
    let warmup = iters / 10;
    let mut msg = [7u64; N];
    for i in 0..warmup + iters {
        msg[0] = i;
        let t0 = monotonic_ns();
        publisher.send_copy(msg).map_err(err)?;
        let back = recv_spin(&subscriber)?;
        let t1 = monotonic_ns();
        if back[0] != i {
            bail!("iceoryx2 echo returned {} for {i}", back[0]);
        }
        if i >= warmup {
            hist.saturating_record((t1 - t0) / 2);
        }
    }
    msg[0] = STOP;
    publisher.send_copy(msg).map_err(err)?;
    if !child.wait()?.success() {
        bail!("iceoryx2 child failed");
    }
    Ok(hist)
}

fn throughput<const N: usize>(msgs: u64, cpu: Option<usize>) -> Result<f64> {
    let (_node, publisher, subscriber, mut child) =
        start::<N>("tput", "ice-sink", msgs, 4096, cpu)?;
    let mut msg = [7u64; N];
    let t0 = monotonic_ns();
    for seq in 0..msgs {
        msg[0] = seq;
        publisher.send_copy(msg).map_err(err)?;
    }
    let ack = recv_spin(&subscriber)?;
    let t1 = monotonic_ns();
    if !child.wait()?.success() {
        bail!("iceoryx2 child failed");
    }
    if ack[0] != msgs {
        bail!("iceoryx2 sink saw {} of {msgs}", ack[0]);
    }
    Ok(msgs as f64 * 1e9 / (t1 - t0) as f64)
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
    let (publisher, subscriber) = ports::<N>(&node, &args.b, &args.a, args.batch)?;
    let mut ready = [0u64; N];
    ready[0] = READY;
    publisher.send_copy(ready).map_err(err)?;
    match args.role.as_str() {
        "ice-echo" => loop {
            let m = recv_spin(&subscriber)?;
            if m[0] == STOP {
                return Ok(());
            }
            publisher.send_copy(m).map_err(err)?;
        },
        "ice-sink" => {
            let (mut n, mut sum) = (0u64, 0u64);
            while n < args.count {
                let m = recv_spin(&subscriber)?;
                sum = sum.wrapping_add(m.iter().fold(0, |a, &w| a ^ w));
                n += 1;
            }
            std::hint::black_box(sum);
            let mut ack = [0u64; N];
            ack[0] = n;
            publisher.send_copy(ack).map_err(err)?;
            Ok(())
        }
        r => bail!("unknown iceoryx2 role {r}"),
    }
}
