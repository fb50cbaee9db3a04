//! Reads each stage's live bucket counts, turns them into interval
//! histograms, and writes them to one HdrHistogram interval log per stage
//! (`run_dir/<stage>.hlog`, tagged by metric), the format that
//! HistogramLogAnalyzer and `tickline-stats logs` read. Totals survive restarts.
//!
//! It shares the cores with the stages, so it works in slices of tens of
//! microseconds (a few thousand buckets, or one histogram to write) and
//! yields between them, on a thread at idle priority.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use tickline_pipeline::PipelineConfig;
use tickline_schema::telemetry::{Metric, HIST_COUNTS, N_METRICS};
use tickline_telemetry::{
    bucket_value, histogram_from_counts, new_histogram, percentiles, StatsReader,
};

/// Buckets read between two yields.
const SLICE_BUCKETS: usize = 4096;

struct StageLatency {
    name: String,
    board: StatsReader,
    file: File,
    /// Whose (pid, start) the last counts were.
    owner: (u32, u64),
    /// Per metric: the counts seen at the last interval, and the run's totals.
    prev: Vec<Vec<u64>>,
    total: Vec<Vec<u64>>,
}

fn zeros() -> Vec<Vec<u64>> {
    vec![vec![0; HIST_COUNTS]; N_METRICS]
}

pub struct Collector {
    stages: Vec<StageLatency>,
    /// This interval's histogram and bucket growths, reused.
    delta: Histogram<u64>,
    scratch: Vec<u64>,
    serializer: V2DeflateSerializer,
    base: Instant,
    last: Instant,
    every: Duration,
    slice_max: Duration,
}

impl Collector {
    /// Interval logs start anew; a resumed run's earlier ones are kept as
    /// `<stage>.hlog.<n>`.
    pub fn new(cfg: &PipelineConfig) -> Result<Self> {
        let base_time = SystemTime::now();
        let mut serializer = V2DeflateSerializer::new();
        let stages = cfg
            .stages
            .iter()
            .map(|s| {
                let path = cfg.run_dir.join(format!("{}.hlog", s.name));
                keep_earlier(&path)?;
                let mut file =
                    File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                // Header only; intervals are appended by `write_interval`.
                IntervalLogWriterBuilder::new()
                    .add_comment(&format!(
                        "tickline stage {}: service, queue_wait, end_to_end, tick_to_decision in ns",
                        s.name
                    ))
                    .with_start_time(base_time)
                    .with_base_time(base_time)
                    .begin_log_with(&mut file, &mut serializer)
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                Ok(StageLatency {
                    name: s.name.clone(),
                    board: StatsReader::open(&cfg.stats_segment(&s.name))?,
                    file,
                    owner: (0, 0),
                    prev: zeros(),
                    total: zeros(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let now = Instant::now();
        Ok(Collector {
            stages,
            delta: new_histogram(),
            scratch: vec![0; HIST_COUNTS],
            serializer,
            base: now,
            last: now,
            every: Duration::from_millis(cfg.log_interval_ms.max(10)),
            slice_max: Duration::ZERO,
        })
    }

    /// Writes an interval when one is due (or `force`), calling `between()`
    /// after every slice of work.
    pub fn poll(&mut self, force: bool, mut between: impl FnMut()) -> Result<()> {
        let now = Instant::now();
        if !force && now - self.last < self.every {
            return Ok(());
        }
        let (start, len) = (self.last - self.base, now - self.last);
        self.last = now;
        for i in 0..self.stages.len() {
            self.poll_stage(i, start, len, &mut between)?;
        }
        Ok(())
    }

    /// One stage's interval: per metric, the growth of each bucket since the
    /// last one, added to the totals and written as one histogram.
    fn poll_stage(
        &mut self,
        i: usize,
        start: Duration,
        len: Duration,
        between: &mut impl FnMut(),
    ) -> Result<()> {
        let owner = self.stages[i].board.owner();
        if owner.0 == 0 {
            return Ok(());
        }
        let s = &mut self.stages[i];
        // A new process starts its counts from zero.
        if owner != s.owner {
            s.owner = owner;
            s.prev = zeros();
        }
        for m in Metric::ALL {
            let mut t0 = thread_cpu();
            self.delta.reset();
            let (live, prev) = (s.board.counts(m), &s.prev[m as usize]);
            for (k, ((w, p), d)) in live
                .iter()
                .zip(prev)
                .zip(self.scratch.iter_mut())
                .enumerate()
            {
                // Counts only grow within one process.
                *d = w.load(Ordering::Relaxed).saturating_sub(*p);
                if *d > 0 {
                    self.delta
                        .record_n(bucket_value(k), *d)
                        .expect("bucket values are in range");
                }
                if k % SLICE_BUCKETS == SLICE_BUCKETS - 1 {
                    self.slice_max = self.slice_max.max(thread_cpu().saturating_sub(t0));
                    between();
                    t0 = thread_cpu();
                }
            }
            if s.board.owner() != owner {
                return Ok(()); // replaced mid-read: its successor is read next time
            }
            let (prev, total) = (&mut s.prev[m as usize], &mut s.total[m as usize]);
            for ((p, t), d) in prev.iter_mut().zip(total.iter_mut()).zip(&self.scratch) {
                *p += d;
                *t += d;
            }
            if !self.delta.is_empty() {
                write_interval(
                    &mut s.file,
                    &mut self.serializer,
                    &self.delta,
                    start,
                    len,
                    m.name(),
                )?;
            }
            self.slice_max = self.slice_max.max(thread_cpu().saturating_sub(t0));
            between();
        }
        Ok(())
    }

    /// The longest slice of work so far (one stage's interval), CPU time.
    pub fn slice_max(&self) -> Duration {
        self.slice_max
    }

    pub fn summary(&self, stage: &str) -> serde_json::Value {
        let Some(s) = self.stages.iter().find(|s| s.name == stage) else {
            return serde_json::Value::Null;
        };
        Metric::ALL
            .iter()
            .map(|m| {
                (
                    m.name(),
                    histogram_from_counts(s.total[*m as usize].iter().copied()),
                )
            })
            .filter(|(_, h)| !h.is_empty())
            .map(|(name, h)| (name.to_owned(), percentiles(&h)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// One tagged interval line: `Tag=T,start,length,max,base64(deflated V2)`.
fn write_interval(
    file: &mut File,
    serializer: &mut V2DeflateSerializer,
    h: &Histogram<u64>,
    start: Duration,
    len: Duration,
    tag: &str,
) -> Result<()> {
    // The crate's writer borrows its output for its whole life; format the
    // line with it into a buffer and append that line to the stage's log.
    let mut buf = Vec::new();
    let mut w = IntervalLogWriterBuilder::new()
        .begin_log_with(&mut buf, serializer)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    w.write_histogram(h, start, len, Tag::new(tag))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    drop(w);
    // Keep only the interval line (the builder always writes its legend first).
    let text = String::from_utf8_lossy(&buf);
    if let Some(line) = text.lines().find(|l| l.starts_with("Tag=")) {
        use std::io::Write;
        writeln!(file, "{line}")?;
    }
    Ok(())
}

/// The collector on its own thread at idle priority: reading the stats
/// segments and compressing interval logs never takes a core from a stage.
pub struct CollectorThread {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<Collector>>,
}

impl CollectorThread {
    /// Starts collecting every `log_interval_ms`.
    pub fn spawn(mut c: Collector) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("latency-logs".into())
            .spawn(move || {
                if let Err(e) = tickline_sched::demote_current_thread() {
                    eprintln!("latency logs: stay at normal priority: {e}");
                }
                let pause = std::thread::yield_now;
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                    c.poll(false, pause)?;
                }
                c.poll(true, || {})?;
                Ok(c)
            })?;
        Ok(CollectorThread { stop, thread })
    }

    /// Writes the last interval and hands the collector back for the summary.
    pub fn finish(self) -> Result<Collector> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the latency-log thread panicked"))?
    }
}

/// CPU time of the calling thread (wall time would count the waits of an
/// idle-priority thread for a CPU).
pub fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

/// Moves an existing log at `path` aside to the first free `path.<n>`.
fn keep_earlier(path: &std::path::Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let aside = (1..)
        .map(|n| std::path::PathBuf::from(format!("{}.{n}", path.display())))
        .find(|p| !p.exists())
        .expect("a free name");
    std::fs::rename(path, &aside).with_context(|| format!("keeping {}", path.display()))
}
