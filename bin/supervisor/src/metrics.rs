//! `/metrics` for Prometheus (OpenMetrics text, or the classic text format
//! for clients that do not ask for OpenMetrics): the pipeline as its boards
//! and queues show it, read at each scrape by a thread of its own at
//! `SCHED_IDLE`. Stages are never asked anything: the endpoint costs them
//! nothing.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};
use tickline_pipeline::PipelineConfig;
use tickline_schema::telemetry::OwnKind;
use tickline_schema::telemetry::{get_str, Metric, PipelineStatus, StageState, StageStatus};
use tickline_shm::{BoardReader, QueueView};
use tickline_telemetry::{bucket_value, OwnValue, Snapshot, StatsReader};

/// Upper bounds of the exported latency buckets, in seconds: 1 µs to 1 s.
const BOUNDS_S: [f64; 16] = [
    1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 5e-2, 0.1, 1.0,
];

/// The endpoint's thread; stops when dropped.
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The address it listens on.
    pub addr: String,
}

impl MetricsServer {
    /// Listens on `listen` (e.g. `127.0.0.1:9464`) and serves `/metrics`.
    pub fn spawn(
        cfg: &PipelineConfig,
        listen: &str,
        counts: Arc<crate::causes::CauseCounts>,
    ) -> Result<Self> {
        let server = tiny_http::Server::http(listen)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("metrics: listening on {listen}"))?;
        let addr = server.server_addr().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let (cfg, flag) = (cfg.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                let _ = tickline_sched::demote_current_thread();
                let mut view = PipelineView::new(&cfg, counts);
                while !flag.load(Ordering::Relaxed) {
                    if let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(100)) {
                        let _ = view.answer(req);
                    }
                }
            })?;
        Ok(MetricsServer {
            stop,
            thread: Some(thread),
            addr,
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The segments a scrape reads, opened once they exist.
struct PipelineView {
    cfg: PipelineConfig,
    status: Option<BoardReader<PipelineStatus>>,
    stats: Vec<Option<StatsReader>>,
    counts: Arc<crate::causes::CauseCounts>,
}

impl PipelineView {
    fn new(cfg: &PipelineConfig, counts: Arc<crate::causes::CauseCounts>) -> Self {
        PipelineView {
            cfg: cfg.clone(),
            status: None,
            stats: cfg.stages.iter().map(|_| None).collect(),
            counts,
        }
    }

    fn answer(&mut self, req: tiny_http::Request) -> std::io::Result<()> {
        if req.url() != "/metrics" {
            let text = "tickline: metrics are at /metrics\n";
            return req.respond(tiny_http::Response::from_string(text).with_status_code(404));
        }
        // OpenMetrics for scrapers that ask for it (Prometheus does), the
        // classic text format otherwise (curl, promtool).
        let open = req.headers().iter().any(|h| {
            h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text")
        });
        let mut body = self.render();
        let kind = if open {
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        } else {
            body = classic_text(&body);
            "text/plain; version=0.0.4; charset=utf-8"
        };
        let header = tiny_http::Header::from_bytes("Content-Type", kind).expect("valid header");
        req.respond(tiny_http::Response::from_string(body).with_header(header))
    }

    /// The whole exposition, read now.
    fn render(&mut self) -> String {
        let mut registry = Registry::with_prefix("tickline");
        self.stages(&mut registry);
        self.queues(&mut registry);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
            let _ = writeln!(out, "# EOF");
        }
        out
    }

    fn stages(&mut self, registry: &mut Registry) {
        if self.status.is_none() {
            self.status = BoardReader::open(&self.cfg.status_segment()).ok();
        }
        let status = self.status.as_ref().and_then(|b| b.read()).map(|(_, s)| s);
        let mut f = StageFamilies::default();
        let mut own = OwnFamilies::default();
        for (i, s) in self.cfg.stages.iter().enumerate() {
            if let Some(st) = status.as_ref().and_then(|p| {
                p.stages[..p.n_stages as usize]
                    .iter()
                    .find(|x| get_str(&x.name) == s.name)
            }) {
                f.status(&s.name, st);
            }
            let reader = &mut self.stats[i];
            if reader.is_none() {
                *reader = StatsReader::open(&self.cfg.stats_segment(&s.name)).ok();
            }
            let Some(r) = reader.as_mut() else { continue };
            let Some(snap) = r.read() else { continue };
            own.add(&s.name, &snap.own);
            f.stats(&s.name, &snap, r);
        }
        f.register(registry);
        own.register(registry);
        let pids: Vec<(String, u32)> = self
            .cfg
            .stages
            .iter()
            .zip(&self.stats)
            .map(|(s, r)| (s.name.clone(), r.as_ref().map_or(0, |r| r.owner().0)))
            .filter(|(_, pid)| *pid != 0 && tickline_shm::process_alive(*pid))
            .collect();
        crate::sched_metrics::register(registry, &pids, &self.counts);
    }

    fn queues(&self, registry: &mut Registry) {
        let depth = Family::<QueueLabels, Gauge>::default();
        let published = Family::<QueueLabels, Counter>::default();
        let committed = Family::<QueueLabels, Counter>::default();
        let dropped = Family::<QueueLabels, Counter>::default();
        let capacity = Family::<QueueLabels, Gauge>::default();
        for q in &self.cfg.queues {
            let Ok(v) = QueueView::open(&self.cfg.queue_segment(&q.name)) else {
                continue;
            };
            let st = v.status();
            let l = QueueLabels {
                queue: q.name.clone(),
            };
            depth.get_or_create(&l).set(st.depth() as i64);
            capacity.get_or_create(&l).set(st.layout.capacity as i64);
            published.get_or_create(&l).inc_by(st.tail);
            committed.get_or_create(&l).inc_by(st.head);
            dropped.get_or_create(&l).inc_by(st.dropped);
        }
        registry.register(
            "queue_depth",
            "Messages published and not yet committed",
            depth,
        );
        registry.register("queue_capacity", "Slots in the queue's ring", capacity);
        registry.register("queue_published", "Messages ever published", published);
        registry.register(
            "queue_committed",
            "Messages ever committed by the consumer",
            committed,
        );
        registry.register(
            "queue_dropped",
            "Messages dropped by a drop-newest producer",
            dropped,
        );
    }
}

/// OpenMetrics text as Prometheus' classic text format (0.0.4): counter
/// families are named with their `_total` suffix, and the `# UNIT` and
/// `# EOF` lines go.
fn classic_text(open: &str) -> String {
    let counters: Vec<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len());
    for line in open.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let name = rest.split(' ').next()?;
            counters
                .contains(&name)
                .then(|| format!("{p}{name}_total{}", &rest[name.len()..]))
        });
        out.push_str(meta.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Families of the stages' own values (the router's orders, fills, PnL...),
/// by name as each stage declared it.
#[derive(Default)]
struct OwnFamilies {
    counters: Vec<(String, Family<Labels, Counter>)>,
    gauges: Vec<(String, Family<Labels, FloatGauge>)>,
}

impl OwnFamilies {
    fn add(&mut self, stage: &str, values: &[OwnValue]) {
        for v in values {
            let (base, label) = split_name(&v.name);
            let mut labels = vec![("stage".to_owned(), stage.to_owned())];
            labels.extend(label.map(|(k, x)| (k.to_owned(), x.to_owned())));
            match v.kind {
                OwnKind::Counter => family(&mut self.counters, base)
                    .get_or_create(&labels)
                    .inc_by(v.value as u64),
                OwnKind::Gauge => {
                    family(&mut self.gauges, base)
                        .get_or_create(&labels)
                        .set(v.value);
                    0
                }
            };
        }
    }

    fn register(self, registry: &mut Registry) {
        let help = "A value the stage reports about its own work";
        for (name, f) in self.counters {
            registry.register(name, help, f);
        }
        for (name, f) in self.gauges {
            registry.register(name, help, f);
        }
    }
}

fn family<'a, M: Default>(
    list: &'a mut Vec<(String, Family<Labels, M>)>,
    name: &str,
) -> &'a Family<Labels, M> {
    let i = match list.iter().position(|(n, _)| n == name) {
        Some(i) => i,
        None => {
            list.push((name.to_owned(), Family::default()));
            list.len() - 1
        }
    };
    &list[i].1
}

/// `name{label="value"}` as (name, Some((label, value))); a bare name as (name, None).
fn split_name(s: &str) -> (&str, Option<(&str, &str)>) {
    let Some((base, rest)) = s.split_once('{') else {
        return (s, None);
    };
    let label = rest
        .strip_suffix('}')
        .and_then(|r| r.split_once('='))
        .map(|(k, v)| (k, v.trim_matches('"')));
    (base, label)
}

const ALL_STATES: [StageState; 6] = [
    StageState::NotStarted,
    StageState::Running,
    StageState::Backoff,
    StageState::Done,
    StageState::Stopped,
    StageState::Failed,
];

/// Every stage's families, filled from the status board and the stages'
/// stats boards.
#[derive(Default)]
struct StageFamilies {
    up: Family<StageLabels, Gauge>,
    pid: Family<StageLabels, Gauge>,
    state: Family<StateLabels, Gauge>,
    restarts: Family<StageLabels, Counter>,
    hangs: Family<StageLabels, Counter>,
    msg_in: Family<StageLabels, Counter>,
    msg_out: Family<StageLabels, Counter>,
    errors: Family<StageLabels, Counter>,
    latency: Family<LatencyLabels, LatencyHistogram>,
}

impl StageFamilies {
    /// What the supervisor says of stage `name`.
    fn status(&mut self, name: &str, st: &StageStatus) {
        let l = StageLabels {
            stage: name.to_owned(),
        };
        let now = StageState::from_u32(st.state);
        self.up.get_or_create(&l).set((st.pid != 0) as i64);
        self.pid.get_or_create(&l).set(st.pid as i64);
        for k in ALL_STATES {
            let sl = StateLabels {
                stage: name.to_owned(),
                state: k.name().to_owned(),
            };
            self.state.get_or_create(&sl).set((k == now) as i64);
        }
        self.restarts.get_or_create(&l).inc_by(st.restarts as u64);
        self.hangs.get_or_create(&l).inc_by(st.hangs as u64);
    }

    /// What stage `name` says of itself: counts and latency histograms.
    fn stats(&mut self, name: &str, snap: &Snapshot, r: &StatsReader) {
        let l = StageLabels {
            stage: name.to_owned(),
        };
        self.msg_in.get_or_create(&l).inc_by(snap.messages_in);
        self.msg_out.get_or_create(&l).inc_by(snap.messages_out);
        self.errors.get_or_create(&l).inc_by(snap.errors);
        for m in Metric::ALL {
            let h = HistogramValue::from_counts(r.counts(m));
            if h.count > 0 {
                let ll = LatencyLabels {
                    stage: name.to_owned(),
                    metric: m.name().to_owned(),
                };
                *self
                    .latency
                    .get_or_create(&ll)
                    .0
                    .lock()
                    .expect("not poisoned") = h;
            }
        }
    }

    fn register(self, registry: &mut Registry) {
        registry.register("stage_up", "1 while the stage's process runs", self.up);
        registry.register(
            "stage_pid",
            "The stage's running process (0: none)",
            self.pid,
        );
        registry.register(
            "stage_state",
            "1 for the stage's current state as the supervisor sees it",
            self.state,
        );
        registry.register(
            "stage_restarts",
            "Restarts of the stage in this supervisor's run",
            self.restarts,
        );
        registry.register("stage_hangs", "Times the stage was found hung", self.hangs);
        registry.register(
            "stage_messages_in",
            "Input messages handled by the stage's current process",
            self.msg_in,
        );
        registry.register(
            "stage_messages_out",
            "Messages published by the stage's current process",
            self.msg_out,
        );
        registry.register(
            "stage_errors",
            "Bad input and failed work in the stage's current process",
            self.errors,
        );
        registry.register_with_unit(
            "stage_latency",
            "Latency per message since the stage's process started: service, queue_wait, end_to_end, tick_to_decision",
            Unit::Seconds,
            self.latency,
        );
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    stage: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    stage: String,
    metric: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
}

/// A stage's HdrHistogram, folded into Prometheus buckets.
#[derive(Debug, Default)]
struct HistogramValue {
    sum_s: f64,
    count: u64,
    /// Per bucket (not cumulative), `BOUNDS_S` then +Inf.
    buckets: Vec<(f64, u64)>,
}

impl HistogramValue {
    /// From live HdrHistogram bucket counts (each counted at its lowest value).
    fn from_counts(counts: &[AtomicU64]) -> Self {
        let mut buckets: Vec<(f64, u64)> = BOUNDS_S.iter().map(|b| (*b, 0)).collect();
        buckets.push((f64::INFINITY, 0));
        let (mut sum_s, mut count) = (0.0, 0);
        for (i, c) in counts.iter().enumerate() {
            let c = c.load(Ordering::Relaxed);
            if c == 0 {
                continue;
            }
            let v = bucket_value(i) as f64 * 1e-9;
            let k = BOUNDS_S
                .iter()
                .position(|b| v <= *b)
                .unwrap_or(BOUNDS_S.len());
            buckets[k].1 += c;
            sum_s += v * c as f64;
            count += c;
        }
        HistogramValue {
            sum_s,
            count,
            buckets,
        }
    }
}

/// A histogram metric whose value is set whole at each scrape.
#[derive(Debug, Default)]
struct LatencyHistogram(Mutex<HistogramValue>);

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let v = self.0.lock().map_err(|_| std::fmt::Error)?;
        encoder.encode_histogram::<NoLabelSet>(v.sum_s, v.count, &v.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}
