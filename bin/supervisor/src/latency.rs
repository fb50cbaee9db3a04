//! Reads each stage's stats board, turns its cumulative histograms into
//! interval histograms, and writes them to one HdrHistogram interval log per
//! stage (`run_dir/<stage>.hlog`, tagged by metric), the format that
//! HistogramLogAnalyzer and `stats logs` read. Totals survive restarts.

use std::fs::File;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use tickline_pipeline::PipelineConfig;
use tickline_schema::telemetry::{Metric, N_METRICS};
use tickline_telemetry::{new_histogram, percentiles, StatsReader};

struct StageLatency {
    name: String,
    board: StatsReader,
    file: File,
    /// Whose (pid, start) the last snapshot was.
    owner: (u32, u64),
    prev: [Histogram<u64>; N_METRICS],
    total: [Histogram<u64>; N_METRICS],
}

fn empty() -> [Histogram<u64>; N_METRICS] {
    std::array::from_fn(|_| new_histogram())
}

pub struct Collector {
    stages: Vec<StageLatency>,
    serializer: V2DeflateSerializer,
    base: Instant,
    last: Instant,
    every: Duration,
}

impl Collector {
    pub fn new(cfg: &PipelineConfig) -> Result<Self> {
        let base_time = SystemTime::now();
        let mut serializer = V2DeflateSerializer::new();
        let stages = cfg
            .stages
            .iter()
            .map(|s| {
                let path = cfg.run_dir.join(format!("{}.hlog", s.name));
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
                    prev: empty(),
                    total: empty(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let now = Instant::now();
        Ok(Collector {
            stages,
            serializer,
            base: now,
            last: now,
            every: Duration::from_millis(cfg.log_interval_ms.max(10)),
        })
    }

    /// Writes an interval when one is due (or `force`).
    pub fn poll(&mut self, force: bool) -> Result<()> {
        let now = Instant::now();
        if !force && now - self.last < self.every {
            return Ok(());
        }
        let (start, len) = (self.last - self.base, now - self.last);
        self.last = now;
        for s in &mut self.stages {
            let Some(snap) = s.board.read() else {
                continue;
            };
            let cur = snap.hists;
            // A new process starts its histograms from zero.
            if (snap.pid, snap.started_ns) != s.owner {
                s.owner = (snap.pid, snap.started_ns);
                s.prev = empty();
            }
            for m in Metric::ALL {
                let i = m as usize;
                let mut delta = cur[i].clone();
                if delta.subtract(&s.prev[i]).is_err() {
                    delta = cur[i].clone();
                }
                if !delta.is_empty() {
                    s.total[i].add(&delta).ok();
                    write_interval(
                        &mut s.file,
                        &mut self.serializer,
                        &delta,
                        start,
                        len,
                        m.name(),
                    )?;
                }
            }
            s.prev = cur;
        }
        Ok(())
    }

    pub fn summary(&self, stage: &str) -> serde_json::Value {
        let Some(s) = self.stages.iter().find(|s| s.name == stage) else {
            return serde_json::Value::Null;
        };
        Metric::ALL
            .iter()
            .filter(|m| !s.total[**m as usize].is_empty())
            .map(|m| (m.name().to_owned(), percentiles(&s.total[*m as usize])))
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
