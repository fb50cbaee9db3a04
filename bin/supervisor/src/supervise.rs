//! The supervision loop. Every health-check period it runs its phases in
//! order: reap exits (restart with backoff, or give up past the restart
//! intensity), start what is due, kill what hangs, drain stages whose
//! upstream has finished, settle what can no longer run, escalate ignored
//! SIGTERMs, and publish the pipeline's status.

use std::time::{Duration, Instant};

use anyhow::Result;
use nix::sys::signal::Signal;
use tickline_pipeline::{PipelineConfig, RestartDecision};
use tickline_schema::telemetry::{put_str, PipelineStatus, StageState};
use tickline_shm::{monotonic_ns, BoardWriter, QueueError, QueueView};
use tickline_telemetry::StatsReader;

use crate::causes;
use crate::child::{describe, Supervised};
use crate::latency;
use crate::log::Log;

/// How long a stage may ignore SIGTERM before it is killed.
const TERM_GRACE: Duration = Duration::from_secs(10);

/// A running pipeline.
pub struct Supervisor<'a> {
    cfg: &'a PipelineConfig,
    log: &'a mut Log,
    stages: Vec<Supervised>,
    /// Each stage's (input, output) queue, read-only.
    views: Vec<(Option<QueueView>, Option<QueueView>)>,
    /// Which stage feeds each stage's input.
    upstream: Vec<Option<usize>>,
    /// When each stage's upstream was first seen finished.
    upstream_done_at: Vec<Option<Instant>>,
    /// Each stage's stats segment, for its readiness.
    stats: Vec<StatsReader>,
    status_board: BoardWriter<PipelineStatus>,
    status: Box<PipelineStatus>,
    /// Interval logs, written by a thread of their own until the end.
    latency: Option<latency::CollectorThread>,
    /// Causes of slow decisions, sampled by a thread of their own.
    causes: Option<causes::SamplerThread>,
    stopping: bool,
    failed: Option<String>,
}

impl<'a> Supervisor<'a> {
    /// Attaches to the segments `run` created; starts nothing yet.
    /// `sample_every`: how often the cause sampler reads /proc.
    pub fn new(
        cfg: &'a PipelineConfig,
        log: &'a mut Log,
        sample_every: std::time::Duration,
        counts: std::sync::Arc<causes::CauseCounts>,
    ) -> Result<Self> {
        let mut status: Box<PipelineStatus> = bytemuck::allocation::zeroed_box();
        status.supervisor_pid = std::process::id();
        status.n_stages = cfg.stages.len() as u32;
        status.started_ns = monotonic_ns();
        put_str(&mut status.run_dir, &cfg.run_dir.display().to_string());
        let view = |q: &Option<String>| {
            q.as_ref()
                .map(|q| QueueView::open(&cfg.queue_segment(q)))
                .transpose()
        };
        let views = cfg
            .stages
            .iter()
            .map(|s| Ok((view(&s.input)?, view(&s.output)?)))
            .collect::<Result<_, QueueError>>()?;
        let upstream = cfg.upstreams();
        let stats = cfg
            .stages
            .iter()
            .map(|s| StatsReader::open(&cfg.stats_segment(&s.name)))
            .collect::<Result<_, _>>()?;
        Ok(Supervisor {
            stats,
            stages: cfg.stages.iter().map(|s| Supervised::new(cfg, s)).collect(),
            views,
            upstream,
            upstream_done_at: vec![None; cfg.stages.len()],
            status_board: BoardWriter::attach(&cfg.status_segment())?,
            status,
            latency: Some(latency::CollectorThread::spawn(latency::Collector::new(
                cfg,
            )?)?),
            causes: Some(causes::SamplerThread::spawn(causes::Sampler::new(
                cfg,
                sample_every,
                std::path::Path::new("/proc"),
                counts,
            )?)?),
            stopping: false,
            failed: None,
            cfg,
            log,
        })
    }

    /// Supervises until every stage has ended; the summary and exit code.
    pub fn run(mut self, stop: &std::sync::atomic::AtomicBool) -> Result<(serde_json::Value, i32)> {
        let tick = Duration::from_millis(self.cfg.health_check_ms.max(1));
        loop {
            if stop.load(std::sync::atomic::Ordering::Relaxed) && !self.stopping {
                self.stop_sources();
            }
            let now = Instant::now();
            self.reap_exits(now)?;
            self.check_ready();
            self.start_due(now)?;
            self.check_hangs();
            self.drain(now);
            self.settle();
            self.escalate(now);
            self.publish_status();
            if self.stages.iter().all(Supervised::ended) {
                break;
            }
            std::thread::sleep(tick);
        }
        let latency = self
            .latency
            .take()
            .expect("collector runs until here")
            .finish()?;
        let causes = self
            .causes
            .take()
            .expect("the sampler runs until here")
            .finish()?;
        let code = i32::from(self.failed.is_some());
        let mut summary = self.summary(&latency);
        summary["slow_decisions"] = serde_json::to_value(&causes)?;
        Ok((summary, code))
    }

    /// Shutdown: the sources stop first; each later stage once drained.
    fn stop_sources(&mut self) {
        self.stopping = true;
        self.log
            .say("shutdown requested: stopping the sources, then draining each queue");
        for s in self.stages.iter_mut().filter(|s| s.cfg.input.is_none()) {
            s.terminate(self.log);
        }
    }

    /// Exits: done, asked to stop, or to restart (or give up on).
    fn reap_exits(&mut self, now: Instant) -> Result<()> {
        for i in 0..self.stages.len() {
            let Some(p) = &mut self.stages[i].proc else {
                continue;
            };
            let Some(status) = p.try_wait()? else {
                continue;
            };
            let pid = p.id();
            self.stages[i].proc = None;
            self.on_exit(i, pid, status, now);
        }
        Ok(())
    }

    fn on_exit(&mut self, i: usize, pid: u32, status: std::process::ExitStatus, now: Instant) {
        let s = &mut self.stages[i];
        let (code, how) = describe(status);
        s.last_exit = code;
        let asked = s.term_sent.is_some();
        let finished_replay = s.cfg.input.is_none() && code == 0 && !s.killed_for_hang;
        if self.failed.is_some() || asked || finished_replay {
            s.state = if code == 0 {
                StageState::Done
            } else {
                StageState::Stopped
            };
            let why = if finished_replay && !asked {
                ": its input is finished"
            } else {
                ""
            };
            self.log
                .say(&format!("stage {} (pid {pid}) {how}{why}", s.cfg.name));
            return;
        }
        let why = if s.killed_for_hang {
            " after hanging"
        } else {
            ""
        };
        s.killed_for_hang = false;
        match s.tracker.on_exit(monotonic_ns()) {
            RestartDecision::After(d) => {
                s.state = StageState::Backoff;
                s.restart_at = Some(now + d);
                self.log.say(&format!(
                    "stage {} (pid {pid}) {how}{why}; restart {} in {} ms",
                    s.cfg.name,
                    s.tracker.total,
                    d.as_millis()
                ));
            }
            RestartDecision::GiveUp { restarts, within } => {
                s.state = StageState::Failed;
                let r = &self.cfg.restart;
                let msg = format!(
                    "stage {} (pid {pid}) {how}{why}: {restarts} exits within {} s exceed the restart intensity limit ({} in {} s); stopping the pipeline",
                    s.cfg.name, within.as_secs(), r.max_restarts, r.within_s
                );
                self.log.say(&msg);
                let err = self.cfg.run_dir.join(format!("{}.err", s.cfg.name));
                for line in last_error_lines(&err, LAST_ERROR_LINES) {
                    self.log.say(&format!("  {}: {line}", s.cfg.name));
                }
                self.failed = Some(msg);
            }
        }
    }

    /// Readiness: a started stage says, in its stats segment, when it has
    /// warmed up. One that takes longer than `ready_timeout_s` is killed and
    /// restarted like a hung one.
    fn check_ready(&mut self) {
        let timeout_ns = self.cfg.ready_timeout_s.saturating_mul(1_000_000_000);
        for (s, r) in self.stages.iter_mut().zip(&self.stats) {
            let Some(pid) = s.pid() else { continue };
            if s.ready_ns.is_some() {
                continue;
            }
            if r.owner().0 == pid && r.ready_ns() != 0 {
                let at = r.ready_ns();
                s.ready_ns = Some(at);
                s.first_ready_ns.get_or_insert(at);
                let ms = at.saturating_sub(s.spawned_ns) as f64 / 1e6;
                self.log.say(&format!(
                    "stage {} (pid {pid}) ready after {ms:.1} ms",
                    s.cfg.name
                ));
            } else if monotonic_ns().saturating_sub(s.spawned_ns) > timeout_ns
                && s.term_sent.is_none()
            {
                s.hangs += 1;
                s.killed_for_hang = true;
                self.log.say(&format!(
                    "stage {} (pid {pid}) not ready after {} s; killing it",
                    s.cfg.name, self.cfg.ready_timeout_s
                ));
                s.signal(Signal::SIGKILL);
            }
        }
    }

    /// Every stage that reads a queue is running and warmed up: the
    /// sources may start, and the first event meets a ready pipeline.
    fn consumers_ready(&self) -> bool {
        self.stages
            .iter()
            .filter(|s| s.cfg.input.is_some())
            .all(|s| s.proc.is_some() && s.ready_ns.is_some())
    }

    /// Starts and restarts whose time has come; sources only once every
    /// consumer is ready.
    fn start_due(&mut self, now: Instant) -> Result<()> {
        if self.failed.is_some() {
            return Ok(());
        }
        let consumers_ready = self.consumers_ready();
        for s in &mut self.stages {
            let due = s.proc.is_none()
                && matches!(s.state, StageState::NotStarted | StageState::Backoff)
                && s.restart_at.is_some_and(|t| t <= now)
                && (s.cfg.input.is_some() || consumers_ready);
            if due {
                s.restart_at = None;
                s.spawn(&self.cfg.run_dir, self.log)?;
            }
        }
        Ok(())
    }

    /// Hangs: warmed up, input waiting, no heartbeat, and not just blocked
    /// on a full output.
    fn check_hangs(&mut self) {
        for (s, (input, output)) in self.stages.iter_mut().zip(&self.views) {
            // A stage still warming up answers to the ready timeout instead.
            let (Some(pid), Some(input), Some(ready)) = (s.pid(), input, s.ready_ns) else {
                continue;
            };
            let st = input.status();
            let beat = st
                .consumer
                .as_ref()
                .filter(|c| c.pid == pid)
                .map_or(0, |c| c.heartbeat_ns)
                .max(ready);
            let silent_ms = monotonic_ns().saturating_sub(beat) / 1_000_000;
            let out_full = output
                .as_ref()
                .is_some_and(|o| o.status().depth() >= o.layout().capacity);
            if st.depth() > 0
                && silent_ms > s.cfg.heartbeat_timeout_ms
                && !out_full
                && s.term_sent.is_none()
            {
                s.hangs += 1;
                s.killed_for_hang = true;
                self.log.say(&format!(
                    "stage {} (pid {pid}) hung: no heartbeat for {silent_ms} ms with {} messages waiting; killing it",
                    s.cfg.name, st.depth()
                ));
                s.signal(Signal::SIGKILL);
            }
        }
    }

    /// Once a stage's upstream has finished and its input is empty, stop it.
    fn drain(&mut self, now: Instant) {
        for i in 0..self.stages.len() {
            let Some(up) = self.upstream[i] else { continue };
            let up_finished = matches!(
                self.stages[up].state,
                StageState::Done | StageState::Stopped | StageState::Failed
            ) && self.stages[up].proc.is_none();
            let s = &self.stages[i];
            if !up_finished || s.term_sent.is_some() || s.proc.is_none() {
                continue;
            }
            let since = *self.upstream_done_at[i].get_or_insert(now);
            let empty = self.views[i]
                .0
                .as_ref()
                .is_some_and(|v| v.status().depth() == 0);
            let timeout = Duration::from_secs(self.cfg.drain_timeout_s);
            if !empty && now - since <= timeout {
                continue;
            }
            if !empty {
                self.log.say(&format!(
                    "stage {}: input not drained after {} s, stopping it anyway",
                    s.cfg.name, self.cfg.drain_timeout_s
                ));
            }
            self.stages[i].terminate(self.log);
        }
    }

    /// Stages that can no longer run: behind a failed upstream, or all of
    /// them once the pipeline failed.
    fn settle(&mut self) {
        for i in 0..self.stages.len() {
            let Some(up) = self.upstream[i] else { continue };
            let s = &self.stages[i];
            if self.stages[up].state == StageState::Failed
                && s.proc.is_none()
                && s.state == StageState::Backoff
            {
                self.stages[i].state = StageState::Stopped;
            }
        }
        if self.failed.is_none() {
            return;
        }
        for s in &mut self.stages {
            if s.proc.is_some() && s.term_sent.is_none() {
                s.terminate(self.log);
            }
            if s.proc.is_none() && matches!(s.state, StageState::Backoff | StageState::NotStarted) {
                s.state = StageState::Stopped;
            }
        }
    }

    /// SIGKILL what ignores SIGTERM for [`TERM_GRACE`].
    fn escalate(&mut self, now: Instant) {
        for s in &mut self.stages {
            let (Some(pid), Some(t)) = (s.pid(), s.term_sent) else {
                continue;
            };
            if now - t > TERM_GRACE {
                self.log.say(&format!(
                    "stage {} (pid {pid}) ignored SIGTERM for {} s; killing it",
                    s.cfg.name,
                    TERM_GRACE.as_secs()
                ));
                s.signal(Signal::SIGKILL);
                s.term_sent = Some(now);
            }
        }
    }

    /// The status board `stats` reads.
    fn publish_status(&mut self) {
        let seg = |q: &Option<String>| {
            q.as_ref()
                .map(|q| self.cfg.queue_segment(q))
                .unwrap_or_default()
        };
        for (s, st) in self.stages.iter().zip(self.status.stages.iter_mut()) {
            put_str(&mut st.name, &s.cfg.name);
            put_str(&mut st.input, &seg(&s.cfg.input));
            put_str(&mut st.output, &seg(&s.cfg.output));
            put_str(&mut st.board, &self.cfg.stats_segment(&s.cfg.name));
            st.pid = s.pid().unwrap_or(0);
            st.state = s.state as u32;
            st.restarts = s.tracker.total;
            st.hangs = s.hangs;
            st.last_exit = s.last_exit;
        }
        self.status_board.publish(&self.status);
    }

    /// Per stage: state, restarts, hangs, latency and its own summary line.
    fn summary(&self, latency: &latency::Collector) -> serde_json::Value {
        let stages: serde_json::Map<_, _> = self
            .stages
            .iter()
            .map(|s| {
                let out = self.cfg.run_dir.join(format!("{}.out", s.cfg.name));
                let since_start = |t: Option<u64>| {
                    t.map(|t| t.saturating_sub(self.status.started_ns) as f64 / 1e6)
                };
                let v = serde_json::json!({
                    "started_at_ms": since_start(s.first_spawn_ns),
                    "ready_at_ms": since_start(s.first_ready_ns),
                    "state": s.state.name(),
                    "restarts": s.tracker.total,
                    "hangs": s.hangs,
                    "last_exit": s.last_exit,
                    "latency_ns": latency.summary(&s.cfg.name),
                    "stage_summary": last_summary_line(&out),
                });
                (s.cfg.name.clone(), v)
            })
            .collect();
        // Counts over the whole run, earlier supervisors' included: each
        // message published once and committed once is exactly-once.
        let queues: serde_json::Map<_, _> = self
            .cfg
            .queues
            .iter()
            .filter_map(|q| {
                let st = QueueView::open(&self.cfg.queue_segment(&q.name))
                    .ok()?
                    .status();
                let v = serde_json::json!({"published": st.tail, "committed": st.head,
                                           "dropped": st.dropped});
                Some((q.name.clone(), v))
            })
            .collect();
        serde_json::json!({
            "pipeline": self.cfg.name,
            "queues": queues,
            "latency_log_slice_max_us": latency.slice_max().as_micros() as u64,
            "run_dir": self.cfg.run_dir.display().to_string(),
            "elapsed_s": self.log.start.elapsed().as_secs_f64(),
            "failed": self.failed,
            "stages": stages,
        })
    }
}

/// Lines of a given-up stage's stderr shown in the log.
const LAST_ERROR_LINES: usize = 3;

/// The last `n` lines of a stage's stderr that say something (not a
/// backtrace's frames or notes).
fn last_error_lines(path: &std::path::Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.is_empty()
                && !l.starts_with(' ')
                && !t.starts_with("note: ")
                && !t.starts_with("Stack backtrace")
                && !t.starts_with("stack backtrace")
        })
        .map(str::to_owned)
        .collect();
    lines.drain(..lines.len().saturating_sub(n));
    lines
}

/// The last JSON line with a "stage" key in a stage's stdout: its summary.
fn last_summary_line(path: &std::path::Path) -> serde_json::Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines().rev().find_map(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .filter(|v| v.get("stage").is_some())
            })
        })
        .unwrap_or(serde_json::Value::Null)
}
