//! The Unix domain socket peer: a socket pair between two processes.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Child;

use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use tickline_shm::{monotonic_ns, WaitStrategy};

use crate::harness::{child_args, finish_child, new_hist, spawn_child, with_cpu, ChildArgs};

pub(crate) fn uds_pair(
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

pub(crate) fn uds_latency(size: usize, iters: u64, cpu: Option<usize>) -> Result<Histogram<u64>> {
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

pub(crate) fn uds_throughput(
    size: usize,
    msgs: u64,
    batch: usize,
    cpu: Option<usize>,
) -> Result<f64> {
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

pub(crate) fn uds_echo(args: &ChildArgs) -> Result<()> {
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

pub(crate) fn uds_sink(args: &ChildArgs) -> Result<()> {
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
