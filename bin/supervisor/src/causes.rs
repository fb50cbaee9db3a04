//! The cause sampler: on a thread of its own at idle priority, it samples
//! every stage's main thread (/proc) and input queue (futex sleeps and
//! wake-ups) at the log interval, or every millisecond with
//! `--trace-causes`; reads each deciding stage's flight recorder as its
//! intervals close; gives every recorded slow decision a cause; and appends
//! the interval to `run_dir/slowest.jsonl`.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use tickline_causes::{
    attribute, Cause, History, IntervalRecord, Pipeline, Sample, SlowRecord, StageSample,
    StealFile, ThreadFiles,
};
use tickline_pipeline::PipelineConfig;
use tickline_schema::flight::{Outcome, SlowestBlock};
use tickline_shm::{monotonic_ns, QueueView};
use tickline_telemetry::StatsReader;

/// How long samples are kept: the baseline before a hop, the interval,
/// and the lag before its block is read.
const KEEP_NS: u64 = 8_000_000_000;
/// How often flight recorders are looked at.
const BLOCKS_EVERY_NS: u64 = 100_000_000;
/// Context switches and steal change slowly (steal in 10 ms ticks) and
/// cost the most to read: read every this many samples, or every sample
/// at intervals this many milliseconds or longer.
const FULL_EVERY: u64 = 10;
/// Decisions in the report's list of the run's slowest.
const REPORT_SLOWEST: usize = 5;

/// Recorded slow decisions by cause, shared with the metrics endpoint.
#[derive(Default)]
pub struct CauseCounts {
    /// Per [`Cause`] (in `Cause::ALL` order): decisions over 100 µs.
    pub over_100us: [AtomicU64; 8],
}

/// One stage as the sampler sees it.
struct Probe {
    name: String,
    stats: StatsReader,
    input: Option<QueueView>,
    files: Option<(u32, ThreadFiles)>,
    /// Last interval of its flight recorder taken, per pid.
    taken: (u32, u64),
}

/// Shares of causes among the decisions over a threshold.
#[derive(Default, Serialize)]
struct Shares {
    count: u64,
    named: u64,
    named_share: f64,
    causes: std::collections::BTreeMap<&'static str, u64>,
}

impl Shares {
    fn add(&mut self, c: Cause) {
        self.count += 1;
        self.named += u64::from(c.is_named());
        *self.causes.entry(c.name()).or_default() += 1;
        self.named_share = self.named as f64 / self.count as f64;
    }
}

/// What the report and summary say of slow decisions.
#[derive(Default, Serialize)]
pub struct CauseSummary {
    sample_ms: f64,
    samples: u64,
    /// The sampler's own CPU time per sample (what --trace-causes costs).
    sample_cpu_us: f64,
    intervals: u64,
    recorded: u64,
    over_100us: Shares,
    over_1ms: Shares,
    slowest: Vec<SlowRecord>,
    notes: Vec<String>,
}

pub struct Sampler {
    probes: Vec<Probe>,
    steal: StealFile,
    root: std::path::PathBuf,
    history: History,
    hop_stage: Vec<[Option<usize>; 4]>,
    names: Vec<String>,
    pending: Vec<(usize, SlowestBlock)>,
    log: File,
    every: Duration,
    blocks_at: u64,
    sampled_at: u64,
    sample_cpu_ns: u64,
    counts: Arc<CauseCounts>,
    summary: CauseSummary,
}

impl Sampler {
    /// Samples every `every`; /proc at `root`.
    pub fn new(
        cfg: &PipelineConfig,
        every: Duration,
        root: &Path,
        counts: Arc<CauseCounts>,
    ) -> Result<Self> {
        let probes = cfg
            .stages
            .iter()
            .map(|s| {
                Ok(Probe {
                    name: s.name.clone(),
                    stats: StatsReader::open(&cfg.stats_segment(&s.name))?,
                    input: s
                        .input
                        .as_ref()
                        .and_then(|q| QueueView::open(&cfg.queue_segment(q)).ok()),
                    files: None,
                    taken: (0, 0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let up = cfg.upstreams();
        let hop_stage = (0..cfg.stages.len())
            .map(|r| {
                let inf = up[r];
                [inf.and_then(|i| up[i]), inf, Some(r), Some(r)]
            })
            .collect();
        let path = cfg.run_dir.join("slowest.jsonl");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let steal = StealFile::open(root);
        let mut summary = CauseSummary {
            sample_ms: every.as_secs_f64() * 1e3,
            ..Default::default()
        };
        summary
            .notes
            .extend(steal.note.iter().map(|n| format!("steal unavailable: {n}")));
        Ok(Sampler {
            names: probes.iter().map(|p| p.name.clone()).collect(),
            probes,
            steal,
            root: root.to_owned(),
            history: History::new(KEEP_NS),
            hop_stage,
            pending: Vec::new(),
            log,
            every,
            blocks_at: 0,
            sampled_at: 0,
            sample_cpu_ns: 0,
            counts,
            summary,
        })
    }

    /// One sample of every stage.
    fn sample(&mut self) {
        let cpu0 = crate::latency::thread_cpu();
        let t0 = monotonic_ns();
        let full = self.every.as_millis() as u64 >= FULL_EVERY
            || self.summary.samples.is_multiple_of(FULL_EVERY);
        let mut steal = Vec::new();
        if full {
            self.steal.read(&mut steal);
        }
        let notes = &mut self.summary.notes;
        let stages = self
            .probes
            .iter_mut()
            .map(|p| probe(p, &self.root, full, notes))
            .collect();
        let t1 = monotonic_ns();
        self.history.push(Sample {
            t_ns: t0 + (t1 - t0) / 2,
            steal_ns: steal,
            stages,
        });
        self.summary.samples += 1;
        self.sample_cpu_ns += crate::latency::thread_cpu().saturating_sub(cpu0).as_nanos() as u64;
    }

    /// New intervals of every flight recorder, queued for their causes.
    fn take_blocks(&mut self) {
        for (i, p) in self.probes.iter_mut().enumerate() {
            let pid = p.stats.owner().0;
            if pid == 0 {
                continue;
            }
            if p.taken.0 != pid {
                p.taken = (pid, 0);
            }
            for b in p.stats.slowest_intervals() {
                if b.interval > p.taken.1 {
                    p.taken.1 = b.interval;
                    self.pending.push((i, b));
                }
            }
        }
    }

    /// Attributes the queued intervals that samples now cover.
    fn attribute_ready(&mut self, all: bool) -> Result<()> {
        let newest = self.history.newest_ns();
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(_, b)| all || b.end_ns < newest);
        self.pending = wait;
        let mut line = Vec::with_capacity(64 << 10);
        for (stage, b) in ready {
            let rec = self.interval_record(stage, &b);
            // One write per interval: serde_json writes token by token,
            // a syscall each on a bare file (ms per interval, measured).
            line.clear();
            serde_json::to_writer(&mut line, &rec)?;
            line.push(b'\n');
            self.log.write_all(&line)?;
            self.tally(rec);
        }
        Ok(())
    }

    fn interval_record(&self, stage: usize, b: &SlowestBlock) -> IntervalRecord {
        let pipeline = Pipeline {
            hop_stage: self.hop_stage[stage],
            names: &self.names,
        };
        IntervalRecord {
            stage: self.names[stage].clone(),
            interval: b.interval,
            start_ns: b.start_ns,
            end_ns: b.end_ns,
            decisions: b.decisions,
            sample_ms: self.summary.sample_ms,
            slowest: b
                .decisions()
                .iter()
                .map(|d| {
                    SlowRecord::new(
                        d,
                        outcome_name(d.outcome),
                        attribute(d, &pipeline, &self.history),
                    )
                })
                .collect(),
        }
    }

    fn tally(&mut self, rec: IntervalRecord) {
        let s = &mut self.summary;
        s.intervals += 1;
        for r in rec.slowest {
            s.recorded += 1;
            let c = r.attribution.cause;
            if r.total_ns > 100_000 {
                s.over_100us.add(c);
                let k = Cause::ALL.iter().position(|x| *x == c).unwrap_or(0);
                self.counts.over_100us[k].fetch_add(1, Ordering::Relaxed);
            }
            if r.total_ns > 1_000_000 {
                s.over_1ms.add(c);
            }
            s.slowest.push(r);
            s.slowest.sort_by_key(|x| std::cmp::Reverse(x.total_ns));
            s.slowest.truncate(REPORT_SLOWEST);
        }
    }

    /// Samples until `stop`, then takes the last intervals.
    fn run(mut self, stop: &AtomicBool) -> Result<CauseSummary> {
        let every_ns = self.every.as_nanos() as u64;
        let nap = self.every.min(Duration::from_millis(20));
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(nap);
            let now = monotonic_ns();
            if now.saturating_sub(self.sampled_at) >= every_ns {
                self.sampled_at = now;
                self.sample();
            }
            if now.saturating_sub(self.blocks_at) >= BLOCKS_EVERY_NS {
                self.blocks_at = now;
                self.take_blocks();
                self.attribute_ready(false)?;
            }
        }
        self.sample();
        self.take_blocks();
        self.attribute_ready(true)?;
        let s = &mut self.summary;
        s.sample_cpu_us = self.sample_cpu_ns as f64 / 1e3 / s.samples.max(1) as f64;
        s.notes.sort();
        self.summary.notes.dedup();
        Ok(self.summary)
    }
}

/// A stage's sample: its main thread's /proc files (reopened for a new
/// process) and its input queue's sleeps.
fn probe(p: &mut Probe, root: &Path, full: bool, notes: &mut Vec<String>) -> StageSample {
    let pid = p.stats.owner().0;
    if pid == 0 {
        p.files = None;
        return StageSample::default();
    }
    if p.files.as_ref().is_none_or(|(q, _)| *q != pid) {
        let f = ThreadFiles::open(root, pid, pid);
        notes.extend(
            f.notes
                .iter()
                .map(|n| format!("{}: unavailable: {n}", p.name)),
        );
        p.files = Some((pid, f));
    }
    let thread = match p.files.as_mut() {
        Some((_, f)) if full => f.read(),
        Some((_, f)) => f.read_sched(),
        None => Default::default(),
    };
    if thread.state == 0 || thread.state == b'Z' {
        // Gone (its files read nothing) or a zombie: no figures of it.
        return StageSample::default();
    }
    let sleeps = p.input.as_ref().map(QueueView::consumer_sleeps);
    StageSample {
        pid,
        thread,
        sleeps: sleeps.map(|s| s.sleeps),
        wakeups: sleeps.map(|s| s.wakeups),
    }
}

/// A decision's outcome in words (reject reasons by the router's names).
fn outcome_name(w: u64) -> String {
    match Outcome::from_word(w) {
        Outcome::NoOrder => "no_order".into(),
        Outcome::Order => "order".into(),
        Outcome::Reject(r) => match tickline_router::Reject::ALL.get(r as usize) {
            Some(r) => format!("reject:{}", r.name()),
            None => format!("reject:{r}"),
        },
    }
}

/// The sampler on its thread at idle priority.
pub struct SamplerThread {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<CauseSummary>>,
}

impl SamplerThread {
    /// At the log interval the sampler runs at idle priority: it never
    /// takes a CPU from a stage. Every millisecond (`--trace-causes`) it
    /// keeps normal priority: at idle priority a busy machine starves it
    /// for tens of milliseconds, exactly around the stalls it is there to
    /// see (measured: 3 samples in a 46 ms window). Its cost is in the
    /// summary (`sample_cpu_us`).
    pub fn spawn(s: Sampler) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let idle = s.every >= Duration::from_millis(FULL_EVERY);
        let thread = std::thread::Builder::new()
            .name("causes".into())
            .spawn(move || {
                if idle {
                    if let Err(e) = tickline_sched::demote_current_thread() {
                        eprintln!("cause sampler: stays at normal priority: {e}");
                    }
                }
                s.run(&flag)
            })?;
        Ok(SamplerThread { stop, thread })
    }

    /// Takes the last intervals and hands back what the report says.
    pub fn finish(self) -> Result<CauseSummary> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the cause sampler panicked"))?
    }
}
