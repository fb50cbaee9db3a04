//! Two-process benchmark: one-way latency (ping-pong round trip / 2) and
//! throughput, for our queue under each wait strategy and for peers
//! (a Unix domain socket pair; iceoryx2 with `--features iceoryx2`).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use tickline_shm::payload::Bytes;
use tickline_shm::{monotonic_ns, Consumer, FullPolicy, Message, Producer, WaitStrategy};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Round trips per latency case (after 10% warm-up).
    #[arg(long, default_value_t = 200_000)]
    pub iters: u64,
    /// Messages per throughput case.
    #[arg(long, default_value_t = 20_000_000)]
    pub msgs: u64,
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
    /// Messages per batch in throughput runs.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Peers to measure beside our queue: uds, iceoryx2.
    #[arg(long, value_delimiter = ',', default_value = "uds,iceoryx2")]
    pub peers: Vec<String>,
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

/// One measured case.
pub struct Row {
    pub transport: String,
    pub wait: String,
    pub size: usize,
    pub latency: Option<Histogram<u64>>,
    pub msgs_per_s: Option<f64>,
}

pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Pins this process to `cpu`. A benchmark that asked for pinning and
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
    let mut rows = Vec::new();
    for &size in &args.sizes {
        for &wait in &args.waits {
            let lat = match size {
                64 => ours_latency::<8>(wait, args.iters, child_cpu)?,
                256 => ours_latency::<32>(wait, args.iters, child_cpu)?,
                _ => bail!("payload size {size}: only 64 and 256 are built in"),
            };
            let tput = match size {
                64 => ours_throughput::<8>(wait, args.msgs, args.batch, child_cpu)?,
                _ => ours_throughput::<32>(wait, args.msgs, args.batch, child_cpu)?,
            };
            let row = Row {
                transport: "tickline-shm".into(),
                wait: wait.to_string(),
                size,
                latency: Some(lat),
                msgs_per_s: Some(tput),
            };
            report(&row);
            rows.push(row);
        }
        for peer in &args.peers {
            match peer.as_str() {
                "uds" => {
                    let lat = uds_latency(size, args.iters, child_cpu)?;
                    let tput = uds_throughput(size, args.msgs / 4, args.batch, child_cpu)?;
                    let row = Row {
                        transport: "unix-socket".into(),
                        wait: "blocking read".into(),
                        size,
                        latency: Some(lat),
                        msgs_per_s: Some(tput),
                    };
                    report(&row);
                    rows.push(row);
                }
                "iceoryx2" => {
                    #[cfg(feature = "iceoryx2")]
                    {
                        let row = crate::bench_iceoryx2::measure(size, &args, child_cpu)?;
                        report(&row);
                        rows.push(row);
                    }
                    #[cfg(not(feature = "iceoryx2"))]
                    eprintln!("iceoryx2 peer skipped: build with --features iceoryx2");
                }
                other => bail!("unknown peer {other:?}"),
            }
        }
    }
    if let Some(path) = &args.markdown {
        write_markdown(path, &rows, &args, cores)?;
    }
    Ok(())
}

fn report(row: &Row) {
    let lat = row.latency.as_ref().map_or(String::new(), |h| {
        format!(
            "p50 {} p99 {} p99.9 {} max {} ns",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        )
    });
    let tput = row
        .msgs_per_s
        .map_or(String::new(), |t| format!("{:.2} M msgs/s", t / 1e6));
    eprintln!(
        "{:<14} {:<14} {:>4} B  one-way {lat}  throughput {tput}",
        row.transport, row.wait, row.size
    );
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

fn write_markdown(path: &PathBuf, rows: &[Row], args: &BenchArgs, cores: usize) -> Result<()> {
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
    writeln!(
        md,
        "### Queue: two processes, {cores} cores ({cpu}), Linux {}",
        kernel.trim()
    )?;
    writeln!(md)?;
    writeln!(
        md,
        "`tickline-queue bench --iters {} --msgs {} --batch {}`; parent and child {}. \
         One-way latency is half a ping-pong round trip, ns. Throughput: producer to consumer, batches of {}.",
        args.iters,
        args.msgs,
        args.batch,
        if args.no_pin || cores < 2 { "not pinned" } else { "pinned to cores 0 and 1" },
        args.batch
    )?;
    writeln!(md)?;
    writeln!(
        md,
        "| transport | wait | payload | p50 | p99 | p99.9 | max | M msgs/s |"
    )?;
    writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|")?;
    for r in rows {
        let (p50, p99, p999, max) =
            r.latency
                .as_ref()
                .map_or(("-".into(), "-".into(), "-".into(), "-".into()), |h| {
                    (
                        h.value_at_quantile(0.5).to_string(),
                        h.value_at_quantile(0.99).to_string(),
                        h.value_at_quantile(0.999).to_string(),
                        h.max().to_string(),
                    )
                });
        let t = r
            .msgs_per_s
            .map_or("-".into(), |t| format!("{:.2}", t / 1e6));
        writeln!(
            md,
            "| {} | {} | {} B | {p50} | {p99} | {p999} | {max} | {t} |",
            r.transport, r.wait, r.size
        )?;
    }
    writeln!(md)?;
    // Ratios against our busy-spin queue, per payload size.
    for &size in &args.sizes {
        let ours = rows
            .iter()
            .find(|r| r.size == size && r.transport == "tickline-shm" && r.wait == "spin");
        let Some(ours) = ours else { continue };
        let p50 = |r: &Row| r.latency.as_ref().map(|h| h.value_at_quantile(0.5) as f64);
        for peer in rows
            .iter()
            .filter(|r| r.size == size && r.transport != "tickline-shm")
        {
            if let (Some(a), Some(b)) = (p50(peer), p50(ours)) {
                write!(
                    md,
                    "- {size} B: {} p50 / tickline-shm spin p50 = **{:.2}x**",
                    peer.transport,
                    a / b
                )?;
            }
            if let (Some(a), Some(b)) = (ours.msgs_per_s, peer.msgs_per_s) {
                write!(
                    md,
                    "; tickline-shm spin throughput / {} = **{:.1}x**",
                    peer.transport,
                    a / b
                )?;
            }
            writeln!(md)?;
        }
    }
    writeln!(md)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(md.as_bytes())?;
    Ok(())
}
