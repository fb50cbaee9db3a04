//! Two-process benchmark: one-way latency (ping-pong round trip / 2) and
//! throughput, for our queue under each wait strategy and for peers (a Unix
//! domain socket pair; iceoryx2 with `--features iceoryx2`), beside the
//! floor: one cache line bounced between two cores. The VM's speed drifts,
//! so every case runs once per round, rounds repeat, and each figure is
//! reported as the median and range over rounds.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use tickline_shm::payload::Bytes;
use tickline_shm::{monotonic_ns, Consumer, FullPolicy, Message, Producer, WaitStrategy};
use tickline_telemetry::median_range;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Round trips per latency case and round (after 10% warm-up).
    #[arg(long, default_value_t = 100_000)]
    pub iters: u64,
    /// Messages per batched throughput case and round (a tenth of it one
    /// message at a time).
    #[arg(long, default_value_t = 10_000_000)]
    pub msgs: u64,
    /// Rounds: every case once per round, in turn (ABAB...).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Wait strategies of our queue (both sides use the same).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "spin,yield,block,block:0:0"
    )]
    pub waits: Vec<WaitStrategy>,
    /// Payload sizes in bytes (64 and/or 256).
    #[arg(long, value_delimiter = ',', default_value = "64,256")]
    pub sizes: Vec<usize>,
    /// Messages per batch in batched throughput runs.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Peers to measure beside our queue: uds, iceoryx2.
    #[arg(long, value_delimiter = ',', default_value = "uds,iceoryx2")]
    pub peers: Vec<String>,
    /// iceoryx2's own `benchmark-publish-subscribe` binary (built from its
    /// repository), run once per round and payload as an anchor for our
    /// harness's iceoryx2 rows.
    #[arg(long)]
    pub iceoryx2_benchmark: Option<PathBuf>,
    /// Do not pin parent and child to cores 0 and 1.
    #[arg(long)]
    pub no_pin: bool,
    /// Append the results as a Markdown section to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ChildArgs {
    #[arg(long)]
    pub role: String,
    #[arg(long)]
    pub a: String,
    #[arg(long, default_value = "")]
    pub b: String,
    #[arg(long)]
    pub size: usize,
    #[arg(long, default_value = "spin")]
    pub wait: WaitStrategy,
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    #[arg(long)]
    pub cpu: Option<usize>,
}

/// What one case measured in one round.
pub struct Sample {
    pub latency: Histogram<u64>,
    /// Batched throughput, messages/s (None: not measured).
    pub batched: Option<f64>,
    /// One message per send and per receive, messages/s.
    pub single: Option<f64>,
}

/// What a case moves its messages with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    /// One 64-byte line, two threads on two cores: the hardware floor.
    CacheLine,
    Ours(WaitStrategy),
    Uds,
    Iceoryx2,
    /// iceoryx2's own benchmark binary: a mean only.
    Iceoryx2Own,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::CacheLine => "one cache line (floor)",
            Transport::Ours(_) => "tickline-shm",
            Transport::Uds => "unix-socket",
            Transport::Iceoryx2 => "iceoryx2",
            Transport::Iceoryx2Own => "iceoryx2, its own benchmark",
        }
    }

    fn wait(self) -> String {
        match self {
            Transport::CacheLine => "spin, 2 threads".into(),
            Transport::Ours(w) => w.to_string(),
            Transport::Uds => "blocking read".into(),
            Transport::Iceoryx2 => "busy poll".into(),
            Transport::Iceoryx2Own => "busy poll, 2 threads".into(),
        }
    }
}

/// One case's samples over every round.
pub struct Row {
    transport: Transport,
    size: usize,
    samples: Vec<Sample>,
}

pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Pins this thread to `cpu`. A benchmark that asked for pinning and
/// did not get it would measure something else: that is an error.
pub fn pin(cpu: Option<usize>) -> Result<()> {
    let Some(cpu) = cpu else { return Ok(()) };
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)
        .and_then(|_| nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set))
        .with_context(|| format!("pinning to CPU {cpu} (use --no-pin to run unpinned)"))
}

pub fn spawn_child(args: &[String]) -> Result<Child> {
    let exe = std::env::current_exe()?;
    Command::new(exe)
        .arg("bench-child")
        .args(args)
        .spawn()
        .context("spawning benchmark child")
}

fn finish_child(mut child: Child) -> Result<()> {
    let status = child.wait()?;
    if !status.success() {
        bail!("benchmark child failed: {status}");
    }
    Ok(())
}

pub fn run(args: BenchArgs) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (parent_cpu, child_cpu) = if args.no_pin || cores < 2 {
        (None, None)
    } else {
        (Some(0), Some(1))
    };
    pin(parent_cpu)?;
    let mut rows = cases(&args)?;
    for round in 1..=args.rounds {
        for row in rows.iter_mut() {
            let sample = measure(row.transport, row.size, &args, child_cpu).with_context(|| {
                format!(
                    "{} {} {} B",
                    row.transport.name(),
                    row.transport.wait(),
                    row.size
                )
            })?;
            report(round, row, &sample);
            row.samples.push(sample);
        }
    }
    print!("{}", markdown(&rows, &args, cores));
    if let Some(path) = &args.markdown {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        f.write_all(markdown(&rows, &args, cores).as_bytes())?;
    }
    Ok(())
}

/// Every case, in the order each round runs them.
fn cases(args: &BenchArgs) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let row = |transport, size| Row {
        transport,
        size,
        samples: Vec::with_capacity(args.rounds),
    };
    rows.push(row(Transport::CacheLine, 8));
    for &size in &args.sizes {
        if size != 64 && size != 256 {
            bail!("payload size {size}: only 64 and 256 are built in");
        }
        for &wait in &args.waits {
            rows.push(row(Transport::Ours(wait), size));
        }
        for peer in &args.peers {
            match peer.as_str() {
                "uds" => rows.push(row(Transport::Uds, size)),
                "iceoryx2" if cfg!(feature = "iceoryx2") => {
                    rows.push(row(Transport::Iceoryx2, size));
                    if args.iceoryx2_benchmark.is_some() {
                        rows.push(row(Transport::Iceoryx2Own, size));
                    }
                }
                "iceoryx2" => eprintln!("iceoryx2 peer skipped: build with --features iceoryx2"),
                other => bail!("unknown peer {other:?}"),
            }
        }
    }
    Ok(rows)
}

fn measure(
    t: Transport,
    size: usize,
    args: &BenchArgs,
    child_cpu: Option<usize>,
) -> Result<Sample> {
    let (iters, msgs, single) = (args.iters, args.msgs, args.msgs / 10);
    Ok(match (t, size) {
        (Transport::CacheLine, _) => Sample {
            latency: cache_line_latency(iters, child_cpu)?,
            batched: None,
            single: None,
        },
        (Transport::Ours(w), 64) => Sample {
            latency: ours_latency::<8>(w, iters, child_cpu)?,
            batched: Some(ours_throughput::<8>(w, msgs, args.batch, child_cpu)?),
            single: Some(ours_throughput::<8>(w, single, 1, child_cpu)?),
        },
        (Transport::Ours(w), _) => Sample {
            latency: ours_latency::<32>(w, iters, child_cpu)?,
            batched: Some(ours_throughput::<32>(w, msgs, args.batch, child_cpu)?),
            single: Some(ours_throughput::<32>(w, single, 1, child_cpu)?),
        },
        (Transport::Uds, _) => Sample {
            latency: uds_latency(size, iters, child_cpu)?,
            batched: Some(uds_throughput(size, msgs / 4, args.batch, child_cpu)?),
            single: Some(uds_throughput(size, single, 1, child_cpu)?),
        },
        #[cfg(feature = "iceoryx2")]
        (Transport::Iceoryx2, _) => crate::bench_iceoryx2::measure(size, args, child_cpu)?,
        #[cfg(not(feature = "iceoryx2"))]
        (Transport::Iceoryx2, _) => bail!("built without iceoryx2"),
        (Transport::Iceoryx2Own, _) => Sample {
            latency: iceoryx2_own(args, size)?,
            batched: None,
            single: None,
        },
    })
}

fn report(round: usize, row: &Row, s: &Sample) {
    let h = &s.latency;
    let rate = |t: Option<f64>| t.map_or("-".to_owned(), |t| format!("{:.2}", t / 1e6));
    eprintln!(
        "round {round}: {:<22} {:<15} {:>4} B  one-way p50 {} p99 {} p99.9 {} max {} ns  M msgs/s batched {} single {}",
        row.transport.name(),
        row.transport.wait(),
        row.size,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        rate(s.batched),
        rate(s.single),
    );
}

/// Runs iceoryx2's own benchmark (IPC service, cores 0 and 1, as many
/// round trips as ours); its one figure, the mean one-way latency, is
/// recorded as a one-value histogram.
fn iceoryx2_own(args: &BenchArgs, size: usize) -> Result<Histogram<u64>> {
    let bin = args
        .iceoryx2_benchmark
        .as_ref()
        .context("no --iceoryx2-benchmark")?;
    let out = Command::new(bin)
        .args(["--bench-ipc", "--payload-size", &size.to_string()])
        .args(["--iterations", &args.iters.to_string()])
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "iceoryx2::service::ipc::Service ::: Iterations: N, Time: T s, Latency: L ns, ..."
    let line = text
        .lines()
        .find(|l| l.starts_with("iceoryx2::service::ipc::Service "))
        .with_context(|| format!("no ipc::Service line in its output: {text}"))?;
    let ns: u64 = line
        .split("Latency: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no latency in {line:?}"))?;
    let mut h = new_hist();
    h.saturating_record(ns);
    Ok(h)
}

impl Row {
    fn quantile(&self, q: f64) -> (f64, f64, f64) {
        let mut v: Vec<f64> = self
            .samples
            .iter()
            .map(|s| s.latency.value_at_quantile(q) as f64)
            .collect();
        median_range(&mut v)
    }

    fn mean(&self) -> (f64, f64, f64) {
        let mut v: Vec<f64> = self.samples.iter().map(|s| s.latency.mean()).collect();
        median_range(&mut v)
    }

    fn rate(&self, pick: fn(&Sample) -> Option<f64>) -> Option<(f64, f64, f64)> {
        let mut v: Vec<f64> = self.samples.iter().filter_map(pick).collect();
        (!v.is_empty()).then(|| median_range(&mut v))
    }
}

fn cell((m, lo, hi): (f64, f64, f64), scale: f64, digits: usize) -> String {
    format!(
        "{:.*} ({:.*}-{:.*})",
        digits,
        m / scale,
        digits,
        lo / scale,
        digits,
        hi / scale
    )
}

fn markdown(rows: &[Row], args: &BenchArgs, cores: usize) -> String {
    use std::fmt::Write as _;
    let mut md = String::new();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let _ = writeln!(
        md,
        "### Queue: two processes, {cores} cores ({cpu}), Linux {}\n",
        kernel.trim()
    );
    let _ = writeln!(
        md,
        "`tickline-queue bench --iters {} --msgs {} --batch {} --rounds {}`; parent and child {}. \
         Every case once per round, rounds in turn; each cell is the median (min-max) over the {} rounds. \
         One-way latency is half a ping-pong round trip, ns. Throughput, M messages/s: batched \
         ({} messages a publish, or a `write`, or an iceoryx2 slice sample) and one message per \
         send and receive.\n",
        args.iters,
        args.msgs,
        args.batch,
        args.rounds,
        if args.no_pin || cores < 2 { "not pinned" } else { "pinned to cores 0 and 1" },
        args.rounds,
        args.batch
    );
    let _ = writeln!(
        md,
        "| transport | wait | payload | p50 | mean | p99 | p99.9 | max | batched | one per message |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let rate = |x: Option<(f64, f64, f64)>| x.map_or("-".to_owned(), |x| cell(x, 1e6, 2));
        if r.transport == Transport::Iceoryx2Own {
            let _ = writeln!(
                md,
                "| {} | {} | {} B | - | {} | - | - | - | - | - |",
                r.transport.name(),
                r.transport.wait(),
                r.size,
                cell(r.mean(), 1.0, 0)
            );
            continue;
        }
        let max = r.samples.iter().map(|s| s.latency.max()).max().unwrap_or(0);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {max} | {} | {} |",
            r.transport.name(),
            r.transport.wait(),
            if r.transport == Transport::CacheLine {
                "8 B".to_owned()
            } else {
                format!("{} B", r.size)
            },
            cell(r.quantile(0.5), 1.0, 0),
            cell(r.mean(), 1.0, 0),
            cell(r.quantile(0.99), 1.0, 0),
            cell(r.quantile(0.999), 1.0, 0),
            rate(r.rate(|s| s.batched)),
            rate(r.rate(|s| s.single)),
        );
    }
    let _ = writeln!(md);
    ratios(&mut md, rows, args);
    md
}

/// Each peer against our `spin` row of the same payload, from the medians.
fn ratios(md: &mut String, rows: &[Row], args: &BenchArgs) {
    use std::fmt::Write as _;
    for &size in &args.sizes {
        let ours = rows
            .iter()
            .find(|r| r.size == size && r.transport == Transport::Ours(WaitStrategy::BusySpin));
        let Some(ours) = ours else { continue };
        for peer in rows.iter().filter(|r| {
            r.size == size && matches!(r.transport, Transport::Uds | Transport::Iceoryx2)
        }) {
            let _ = write!(
                md,
                "- {size} B, medians: {} p50 / tickline-shm spin p50 = **{:.2}x**",
                peer.transport.name(),
                peer.quantile(0.5).0 / ours.quantile(0.5).0
            );
            for (what, pick) in [
                (
                    "batched",
                    (|s: &Sample| s.batched) as fn(&Sample) -> Option<f64>,
                ),
                ("one per message", |s: &Sample| s.single),
            ] {
                if let (Some(a), Some(b)) = (ours.rate(pick), peer.rate(pick)) {
                    let _ = write!(
                        md,
                        "; {what} throughput tickline-shm / {} = **{:.1}x**",
                        peer.transport.name(),
                        a.0 / b.0
                    );
                }
            }
            let _ = writeln!(md);
        }
    }
    for own in rows
        .iter()
        .filter(|r| r.transport == Transport::Iceoryx2Own)
    {
        let ours = rows
            .iter()
            .find(|r| r.size == own.size && r.transport == Transport::Iceoryx2);
        if let Some(ours) = ours {
            let _ = writeln!(
                md,
                "- {} B anchor: iceoryx2 in this harness, mean one-way **{:.0} ns**; in its own benchmark **{:.0} ns** (medians of rounds).",
                own.size,
                ours.mean().0,
                own.mean().0
            );
        }
    }
    if let Some(floor) = rows.iter().find(|r| r.transport == Transport::CacheLine) {
        let _ = writeln!(
            md,
            "- Floor: one cache line bounced between the two cores, one-way p50 **{:.0} ns** (median of rounds).",
            floor.quantile(0.5).0
        );
    }
    let _ = writeln!(md);
}

/// Two threads on two cores pass a counter through one shared word: the
/// round trip of one cache line, which any cross-core queue pays at least.
fn cache_line_latency(iters: u64, child_cpu: Option<usize>) -> Result<Histogram<u64>> {
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

fn queue_names(tag: &str) -> (String, String) {
    let pid = std::process::id();
    (
        format!("/tickline-bench-{pid}-{tag}-a"),
        format!("/tickline-bench-{pid}-{tag}-b"),
    )
}

/// Removes the benchmark's segments however the benchmark ends.
struct Unlink(Vec<String>);

impl Drop for Unlink {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = tickline_shm::unlink(n);
        }
    }
}

fn child_args(role: &str, a: &str, b: &str, size: usize, wait: WaitStrategy) -> Vec<String> {
    vec![
        format!("--role={role}"),
        format!("--a={a}"),
        format!("--b={b}"),
        format!("--size={size}"),
        format!("--wait={wait}"),
    ]
}

fn with_cpu(mut v: Vec<String>, cpu: Option<usize>) -> Vec<String> {
    if let Some(c) = cpu {
        v.push(format!("--cpu={c}"));
    }
    v
}

/// Round trip through two queues; records half of each round trip.
fn ours_latency<const N: usize>(
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
pub fn ours_round_trip(
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
fn ours_throughput<const N: usize>(
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

fn uds_pair(
    tag: &str,
    role: &str,
    size: usize,
    extra: &[String],
    cpu: Option<usize>,
) -> Result<(UnixStream, Child, PathBuf)> {
    let path =
        std::env::temp_dir().join(format!("tickline-bench-{}-{tag}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    let mut a = child_args(
        role,
        &path.to_string_lossy(),
        "",
        size,
        WaitStrategy::BusySpin,
    );
    a.extend_from_slice(extra);
    let child = spawn_child(&with_cpu(a, cpu))?;
    let (stream, _) = listener.accept()?;
    Ok((stream, child, path))
}

fn uds_latency(size: usize, iters: u64, cpu: Option<usize>) -> Result<Histogram<u64>> {
    let (mut s, child, path) = uds_pair("lat", "uds-echo", size, &[], cpu)?;
    let mut buf = vec![0u8; size];
    let mut hist = new_hist();
    let warmup = iters / 10;
    for i in 0..warmup + iters {
        buf[..8].copy_from_slice(&i.to_le_bytes());
        let t0 = monotonic_ns();
        s.write_all(&buf)?;
        s.read_exact(&mut buf)?;
        let t1 = monotonic_ns();
        if buf[..8] != i.to_le_bytes() {
            bail!("uds echo out of step at {i}");
        }
        if i >= warmup {
            hist.saturating_record((t1 - t0) / 2);
        }
    }
    drop(s);
    finish_child(child)?;
    let _ = std::fs::remove_file(path);
    Ok(hist)
}

fn uds_throughput(size: usize, msgs: u64, batch: usize, cpu: Option<usize>) -> Result<f64> {
    let extra = [format!("--count={msgs}"), format!("--batch={batch}")];
    let (mut s, child, path) = uds_pair("tput", "uds-sink", size, &extra, cpu)?;
    let mut ready = [0u8; 1];
    s.read_exact(&mut ready)?;
    let mut buf = vec![0u8; size * batch];
    let t0 = monotonic_ns();
    let mut seq = 0u64;
    while seq < msgs {
        let n = batch.min((msgs - seq) as usize);
        for m in buf[..n * size].chunks_exact_mut(size) {
            m[..8].copy_from_slice(&seq.to_le_bytes());
            seq += 1;
        }
        s.write_all(&buf[..n * size])?;
    }
    let mut ack = [0u8; 8];
    s.read_exact(&mut ack)?;
    let t1 = monotonic_ns();
    drop(s);
    finish_child(child)?;
    let _ = std::fs::remove_file(path);
    if u64::from_le_bytes(ack) != msgs {
        bail!("uds sink saw {} messages", u64::from_le_bytes(ack));
    }
    Ok(msgs as f64 * 1e9 / (t1 - t0) as f64)
}

pub fn child(args: ChildArgs) -> Result<()> {
    pin(args.cpu)?;
    match (args.role.as_str(), args.size) {
        ("echo", 64) => echo::<8>(&args),
        ("echo", 256) => echo::<32>(&args),
        ("sink", 64) => sink::<8>(&args),
        ("sink", 256) => sink::<32>(&args),
        ("uds-echo", _) => uds_echo(&args),
        ("uds-sink", _) => uds_sink(&args),
        #[cfg(feature = "iceoryx2")]
        (role, _) if role.starts_with("ice-") => crate::bench_iceoryx2::child(&args),
        (role, size) => bail!("unknown child role {role} for {size} bytes"),
    }
}

fn echo<const N: usize>(args: &ChildArgs) -> Result<()>
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

fn sink<const N: usize>(args: &ChildArgs) -> Result<()>
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

fn uds_echo(args: &ChildArgs) -> Result<()> {
    let mut s = UnixStream::connect(&args.a)?;
    let mut buf = vec![0u8; args.size];
    loop {
        match s.read_exact(&mut buf) {
            Ok(()) => s.write_all(&buf)?,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

fn uds_sink(args: &ChildArgs) -> Result<()> {
    let mut s = UnixStream::connect(&args.a)?;
    s.write_all(&[1])?;
    let total = args.count as usize * args.size;
    let mut buf = vec![0u8; 1 << 16];
    let (mut got, mut sum) = (0usize, 0u64);
    while got < total {
        let n = s.read(&mut buf[..(total - got).min(1 << 16)])?;
        if n == 0 {
            bail!("uds peer closed early");
        }
        sum = sum.wrapping_add(buf[..n].iter().map(|&b| b as u64).sum::<u64>());
        got += n;
    }
    std::hint::black_box(sum);
    s.write_all(&(args.count).to_le_bytes())?;
    // Wait for the parent to close, so timing ends on our ack.
    let _ = s.read(&mut buf[..1]);
    Ok(())
}
