//! The loop every stage runs: read a batch, process it, publish, commit,
//! beat, record latency; stop on a signal, a limit or the end of input; and
//! the summary it prints. A stage supplies only a [`Processor`].

use std::time::{Duration, Instant};

use tickline_feed::{EventReader, ReadStep};
use tickline_schema::telemetry::{Metric, OwnKind};
use tickline_schema::{BookEvent, Stage, Traced};
use tickline_shm::{monotonic_ns, FullPolicy, Message, Push, WaitOutcome};
use tickline_telemetry::{OwnSlot, StageTelemetry};

use crate::input::{Batch, Input};
use crate::{Handoff, Output, Signals, StageArgs, StageError};

/// How often a stage publishes its telemetry snapshot.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// Whether to go on after a message or batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Take the next one.
    Continue,
    /// Stop after this one (it is committed).
    Stop,
}

/// A stage's own logic between its input and output.
pub trait Processor {
    /// Input message.
    type In: Message + Traced;
    /// Output message.
    type Out: Message + Traced;
    /// The stage's own failures.
    type Error: Into<Box<dyn std::error::Error + Send + Sync>>;
    /// Processes whole batches (e.g. one model run per batch): service time
    /// is then the batch's time shared by its messages.
    const BATCHED: bool = false;

    /// Most messages per batch.
    fn batch_size(&self) -> usize;

    /// Handles one message, publishing through `out`.
    fn on_message(
        &mut self,
        msg: &Self::In,
        out: &mut Emitter<'_, Self::Out>,
    ) -> Result<Flow, Self::Error>;

    /// Handles a batch. Called instead of [`Processor::on_message`] when
    /// [`Processor::BATCHED`].
    fn on_batch(
        &mut self,
        batch: &[Self::In],
        out: &mut Emitter<'_, Self::Out>,
    ) -> Result<Flow, Self::Error> {
        for m in batch {
            if self.on_message(m, out)? == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    /// Before the first message: exercise the code and data of the hot path
    /// (e.g. a few model runs) so the first real message is not the one
    /// that pays for cold caches and first-touch page faults.
    fn warm_up(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Between batches and when idle: signals, reloads, kill switches.
    fn between_batches(&mut self, _signals: &Signals) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Bad input and failed work so far, all kinds summed.
    fn errors(&self) -> u64 {
        0
    }

    /// Updates the stage's own values in its stats segment (declared with
    /// [`StageTelemetry::own`]): called whenever telemetry is published (a
    /// few times a second, between batches) and at the end.
    fn report(&mut self, _tel: &mut StageTelemetry) {}
}

/// What became of an emitted message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emitted {
    /// Published.
    Sent,
    /// A predecessor already published it: skipped.
    Replayed,
    /// Dropped by a full output's drop-newest policy (counted).
    Dropped,
    /// The stage is stopping while the output was full: not published.
    Stopped,
}

/// Message counts of one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Input messages handled, redelivered ones included.
    pub handled: u64,
    /// Of those, ones a predecessor had already handled.
    pub replayed: u64,
    /// Messages handed to the output (sent or dropped when full).
    pub published: u64,
    /// Of those, dropped by a drop-newest output.
    pub dropped: u64,
}

/// The output side of a stage as its processor sees it: stamps, end-to-end
/// latency, resume after a predecessor, and the counts.
pub struct Emitter<'a, O: Message + Traced> {
    stage: Stage,
    output: &'a mut Output<O>,
    tel: &'a mut StageTelemetry,
    counts: &'a mut Counts,
    resume_after: Option<u64>,
    stopped: bool,
}

impl<O: Message + Traced> Emitter<'_, O> {
    /// True (and counted) if the output for input `seq` was published by a
    /// predecessor; such input may still be processed (to warm state) but
    /// must not be emitted again.
    #[inline]
    pub fn is_replay(&mut self, seq: u64) -> bool {
        let replay = self.resume_after.is_some_and(|r| seq <= r);
        self.counts.replayed += replay as u64;
        replay
    }

    /// Stamps `msg` now and publishes it, unless it is a replay.
    #[inline]
    pub fn emit(&mut self, msg: &mut O) -> Emitted {
        self.emit_at(msg, monotonic_ns())
    }

    /// As [`Emitter::emit`], with the stamp given (messages of one batch
    /// that became ready at once).
    #[inline]
    pub fn emit_at(&mut self, msg: &mut O, now: u64) -> Emitted {
        if self.is_replay(msg.trace().seq) {
            return Emitted::Replayed;
        }
        msg.trace_mut().stamp(self.stage, now);
        if self.stage != Stage::Feed {
            self.tel
                .record_since(Metric::EndToEnd, msg.trace().ingest_ns(), now);
        }
        match self.output.push(msg) {
            Push::Sent => {
                self.counts.published += 1;
                Emitted::Sent
            }
            Push::Dropped => {
                self.counts.published += 1;
                self.counts.dropped += 1;
                Emitted::Dropped
            }
            Push::Stopped => {
                self.stopped = true;
                Emitted::Stopped
            }
        }
    }

    /// The stage's recorder, for latencies of its own.
    pub fn telemetry(&mut self) -> &mut StageTelemetry {
        self.tel
    }
}

/// One stage process: its output, telemetry, signals and counts.
pub struct Runtime<O: Message + Traced> {
    stage: Stage,
    signals: Signals,
    output: Output<O>,
    tel: StageTelemetry,
    limit: Option<u64>,
    handoff: Handoff,
    resume_after: Option<u64>,
    counts: Counts,
    started: Instant,
    /// Monotonic ns of the first batch read and of the last one handled.
    first_read_ns: u64,
    last_done_ns: u64,
}

impl<O: Message + Traced> Runtime<O> {
    /// Ties the process to its supervisor if it has one, attaches the
    /// output (`policy` when full) and the stats board, and reads where a
    /// predecessor's output stopped.
    pub fn new(
        stage: Stage,
        args: &StageArgs,
        signals: Signals,
        policy: FullPolicy,
    ) -> Result<Self, StageError> {
        crate::bind_to_supervisor()?;
        if args.mlock {
            tickline_shm::sched::lock_all_memory().map_err(StageError::Mlock)?;
        }
        let output = Output::open(&args.out, policy, args.wait, &signals)?;
        let resume_after = output.last_seq();
        Ok(Runtime {
            stage,
            tel: StageTelemetry::new(args.stats.as_deref(), PUBLISH_EVERY)?,
            output,
            signals,
            limit: args.limit,
            handoff: args.handoff,
            resume_after,
            counts: Counts::default(),
            started: Instant::now(),
            first_read_ns: 0,
            last_done_ns: 0,
        })
    }

    /// Time since the runtime was set up.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counts so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// New input messages still allowed by `--limit`.
    fn remaining(&self) -> Option<u64> {
        let new = self.counts.handled - self.counts.replayed;
        self.limit.map(|l| l.saturating_sub(new))
    }

    fn emitter(&mut self) -> Emitter<'_, O> {
        Emitter {
            stage: self.stage,
            output: &mut self.output,
            tel: &mut self.tel,
            counts: &mut self.counts,
            resume_after: self.resume_after,
            stopped: false,
        }
    }

    /// Runs `p` over `input` until the input ends, a stop signal, `--limit`,
    /// or the processor says stop.
    pub fn run<P>(&mut self, input: &mut dyn Input<P::In>, p: &mut P) -> Result<(), StageError>
    where
        P: Processor<Out = O>,
    {
        let upstream = self.stage.upstream();
        p.warm_up().map_err(StageError::processor)?;
        self.tel.set_ready();
        while !self.signals.stopping() {
            p.between_batches(&self.signals)
                .map_err(StageError::processor)?;
            let max = match self.remaining() {
                Some(0) => break,
                Some(r) => r.min(p.batch_size() as u64) as usize,
                None => p.batch_size(),
            };
            let batch = match input.read(max.max(1)) {
                Batch::Ready(b) => b,
                Batch::Idle => {
                    if input.wait() == WaitOutcome::Stopped {
                        break;
                    }
                    continue;
                }
                Batch::End => break,
            };
            let t_read = monotonic_ns();
            if self.first_read_ns == 0 {
                self.first_read_ns = t_read;
            }
            let published_before = self.counts.published;
            if let Some(up) = upstream {
                for m in batch {
                    let sent = m.trace().stamps[up as usize];
                    self.tel.record_since(Metric::QueueWait, sent, t_read);
                }
            }
            let (done, flow, stopped, t_end) = self.process_batch(batch, t_read, p)?;
            self.last_done_ns = t_end;
            if stopped {
                // Not committed: a successor skips what this batch published.
                break;
            }
            input.commit(done);
            input.beat();
            if self.tel.tick(t_end) {
                p.report(&mut self.tel);
            }
            if self.handoff == Handoff::Yield && self.counts.published > published_before {
                std::thread::yield_now();
            }
            if flow == Flow::Stop || self.remaining() == Some(0) {
                break;
            }
        }
        self.tel.set_errors(p.errors());
        p.report(&mut self.tel);
        self.tel.publish(monotonic_ns());
        self.output.finish().map_err(StageError::processor)
    }

    /// Processes one batch: (messages handled, flow, stopped, end time).
    fn process_batch<P>(
        &mut self,
        batch: &[P::In],
        t_read: u64,
        p: &mut P,
    ) -> Result<(usize, Flow, bool, u64), StageError>
    where
        P: Processor<Out = O>,
    {
        let published_before = self.counts.published;
        let limit = self.limit;
        let mut em = self.emitter();
        let (done, flow, t_end) = if P::BATCHED {
            let flow = p.on_batch(batch, &mut em).map_err(StageError::processor)?;
            let t = monotonic_ns();
            let n = batch.len() as u64;
            em.tel.record_n(Metric::Service, (t - t_read) / n, n);
            em.counts.handled += n;
            (batch.len(), flow, t)
        } else {
            let (mut t_prev, mut done, mut flow) = (t_read, 0, Flow::Continue);
            for m in batch {
                flow = p.on_message(m, &mut em).map_err(StageError::processor)?;
                done += 1;
                em.counts.handled += 1;
                let t = monotonic_ns();
                em.tel.record(Metric::Service, t - t_prev);
                t_prev = t;
                let new = em.counts.handled - em.counts.replayed;
                if flow == Flow::Stop || em.stopped || limit.is_some_and(|l| new >= l) {
                    break;
                }
            }
            (done, flow, t_prev)
        };
        let stopped = em.stopped;
        let out = self.counts.published - published_before;
        self.tel.count(done as u64, out, 0);
        self.tel.set_errors(p.errors());
        Ok((done, flow, stopped, t_end))
    }

    /// The summary line: the stage's own fields, then the runtime's counts and latency.
    pub fn summary(&self, own: serde_json::Value) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("stage".into(), self.stage.name().into());
        if let serde_json::Value::Object(own) = own {
            m.extend(own);
        }
        let elapsed = self.elapsed().as_secs_f64();
        let c = &self.counts;
        for (k, v) in [
            ("messages_in", c.handled.into()),
            ("published", c.published.into()),
            ("skipped_on_resume", c.replayed.into()),
            ("resumed_after_seq", self.resume_after.into()),
            ("dropped", c.dropped.into()),
            ("elapsed_s", elapsed.into()),
            // First input read to last handled: the span that was busy with input.
            (
                "active_s",
                (self.last_done_ns.saturating_sub(self.first_read_ns) as f64 / 1e9).into(),
            ),
            ("stopped", self.signals.stopping().into()),
            ("latency_ns", self.tel.summary()),
        ] {
            m.insert(k.into(), v);
        }
        m.into()
    }
}

/// Paces a replay at its recorded speed (times `speed`) from its first event.
struct Pacer {
    speed: f64,
    start: Instant,
    first_exchange_ns: Option<u64>,
}

impl Pacer {
    /// Sleeps until the event at `exchange_ns` is due; returns ns slept.
    fn wait(&mut self, exchange_ns: u64) -> u64 {
        let t = monotonic_ns();
        let first = *self.first_exchange_ns.get_or_insert(exchange_ns);
        let due_ns = (exchange_ns.saturating_sub(first) as f64 / self.speed) as u64;
        let due = Duration::from_nanos(due_ns);
        let now = self.start.elapsed();
        if due > now {
            std::thread::sleep(due - now);
        }
        monotonic_ns() - t
    }
}

impl Runtime<BookEvent> {
    /// Input errors to the stats board, and the count of the stream
    /// disagreeing with its books to `book_checks`.
    fn report_feed_counts(&mut self, reader: &EventReader, book_checks: Option<OwnSlot>) {
        let stats = reader.stats();
        self.tel
            .set_errors(stats.error_counts().map(|(_, n)| n).sum());
        if let Some(slot) = book_checks {
            self.tel
                .set_count(slot, stats.book_check_counts().map(|(_, n)| n).sum());
        }
    }
}

/// Events between heartbeats of a source stage (then only if 1 ms passed).
const SOURCE_BEAT_EVERY: u64 = 1024;

impl Runtime<BookEvent> {
    /// The source stage's loop: every event of `reader`, stamped at ingest and
    /// published one at a time, paced at `speed` times its recorded rate if given.
    pub fn run_source(
        &mut self,
        reader: &mut EventReader,
        speed: Option<f64>,
    ) -> Result<(), StageError> {
        debug_assert!(speed.is_none_or(|s| s.is_finite() && s > 0.0));
        let mut pacer = speed.map(|speed| Pacer {
            speed,
            start: self.started,
            first_exchange_ns: None,
        });
        let mut ev: BookEvent = bytemuck::Zeroable::zeroed();
        let mut last_beat = Instant::now();
        let book_checks = self.tel.own("feed_book_checks", OwnKind::Counter);
        self.tel.set_ready();
        while !self.signals.stopping() && self.remaining() != Some(0) {
            let t0 = monotonic_ns();
            match reader.next(&mut ev) {
                ReadStep::Event => {}
                ReadStep::Skip => continue,
                ReadStep::Idle => {
                    std::thread::yield_now();
                    continue;
                }
                ReadStep::End => break,
            }
            self.counts.handled += 1;
            if self.resume_after.is_some_and(|r| ev.trace.seq <= r) {
                self.counts.replayed += 1;
                continue;
            }
            let paused = pacer.as_mut().map_or(0, |p| p.wait(ev.trace.exchange_ns));
            if self.emitter().emit(&mut ev) == Emitted::Stopped {
                break;
            }
            // Parse, book and publish; the pacing sleep is not service.
            let t = monotonic_ns();
            self.tel
                .record(Metric::Service, (t - t0).saturating_sub(paused));
            if self.handoff == Handoff::Yield && pacer.is_some() {
                // Hand the CPU to the consumer sharing it now, rather than at
                // the pacing sleep: programming a timer costs microseconds
                // (a VM exit here), and the consumer would wait them out. At
                // full speed the feed never sleeps and the queue batches.
                std::thread::yield_now();
            }
            self.tel.count(1, 1, 0);
            self.tel.tick(t);
            if self.counts.published.is_multiple_of(SOURCE_BEAT_EVERY) {
                let now = Instant::now();
                if now - last_beat > Duration::from_millis(1) {
                    self.output.beat();
                    self.report_feed_counts(reader, book_checks);
                    last_beat = now;
                }
            }
        }
        self.report_feed_counts(reader, book_checks);
        self.tel.publish(monotonic_ns());
        self.output.finish().map_err(StageError::processor)
    }
}
