//! The loop every stage runs, the feed-handler's included: read a batch,
//! process it, publish, commit, beat, record latency; stop on a signal, a
//! limit or the end of input; and the summary it prints. A stage supplies
//! only an [`Input`] and a [`Processor`].

use std::time::{Duration, Instant};

use serde::Serialize;
use tickline_schema::telemetry::Metric;
use tickline_schema::{Stage, Traced};
use tickline_shm::{monotonic_ns, FullPolicy, Message, WaitOutcome};
use tickline_telemetry::StageTelemetry;

use crate::emitter::{Counts, Emitter};
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

    /// Once, after the last message and the last [`Processor::report`]:
    /// what is left to publish (e.g. a partial interval).
    fn at_end(&mut self, _tel: &mut StageTelemetry) {}
}

/// What one batch came to.
struct Step {
    done: usize,
    flow: Flow,
    stopped: bool,
    t_end: u64,
    published: bool,
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
            tickline_sched::lock_all_memory().map_err(StageError::Mlock)?;
        }
        if args.sched_idle {
            tickline_sched::demote_current_thread().map_err(StageError::SchedIdle)?;
        }
        let output = Output::open(&args.out, &args.also_out, policy, args.wait, &signals)?;
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

    /// Seconds from the first input read to the last message handled: the
    /// span that was busy with input (start-up and the wait for the first
    /// message left out).
    pub fn active_s(&self) -> f64 {
        self.last_done_ns.saturating_sub(self.first_read_ns) as f64 / 1e9
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

    fn emitter(&mut self, read_ns: u64) -> Emitter<'_, O> {
        Emitter {
            stage: self.stage,
            output: &mut self.output,
            tel: &mut self.tel,
            counts: &mut self.counts,
            resume_after: self.resume_after,
            stopped: false,
            read_ns,
        }
    }

    /// Sequence number of the last message a predecessor published to this
    /// stage's output: what follows it is this process's to publish.
    pub fn resume_after(&self) -> Option<u64> {
        self.resume_after
    }

    /// Runs `p` over `input` until the input ends, a stop signal, `--limit`,
    /// or the processor says stop.
    pub fn run<P>(&mut self, input: &mut dyn Input<P::In>, p: &mut P) -> Result<(), StageError>
    where
        P: Processor<Out = O>,
    {
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
            let t_ask = monotonic_ns();
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
            let step = self.step(batch, t_ask, p)?;
            if step.stopped {
                // Not committed: a successor skips what this batch published.
                break;
            }
            input.commit(step.done);
            input.beat();
            if self.tel.tick(step.t_end) {
                self.output.beat();
                self.report(&mut *input, p);
            }
            if self.handoff == Handoff::Yield && step.published {
                std::thread::yield_now();
            }
            if step.flow == Flow::Stop || self.remaining() == Some(0) {
                break;
            }
        }
        self.report(input, p);
        p.at_end(&mut self.tel);
        self.tel.publish(monotonic_ns());
        self.output.finish().map_err(StageError::processor)
    }

    /// Error counts and own values of the input and the processor.
    fn report<P: Processor<Out = O>>(&mut self, input: &mut dyn Input<P::In>, p: &mut P) {
        self.tel.set_errors(p.errors() + input.errors());
        input.report(&mut self.tel);
        p.report(&mut self.tel);
    }

    /// One batch read at `t_ask`: queue waits recorded, then processed.
    fn step<P>(&mut self, batch: &[P::In], t_ask: u64, p: &mut P) -> Result<Step, StageError>
    where
        P: Processor<Out = O>,
    {
        debug_assert!(!batch.is_empty(), "a ready batch holds a message");
        let t_read = monotonic_ns();
        if self.first_read_ns == 0 {
            self.first_read_ns = t_read;
        }
        if let Some(up) = self.stage.upstream() {
            for m in batch {
                let sent = m.trace().stamps[up as usize];
                self.tel.record_since(Metric::QueueWait, sent, t_read);
            }
        }
        let published_before = self.counts.published;
        // Reading is service too: a queue's is a few loads, a source's is
        // parsing and the books.
        let read_share = (t_read - t_ask) / batch.len() as u64;
        let (done, flow, stopped, t_end) = self.process_batch(batch, t_read, read_share, p)?;
        self.last_done_ns = t_end;
        Ok(Step {
            done,
            flow,
            stopped,
            t_end,
            published: self.counts.published > published_before,
        })
    }

    /// Processes one batch: (messages handled, flow, stopped, end time).
    fn process_batch<P>(
        &mut self,
        batch: &[P::In],
        t_read: u64,
        read_share: u64,
        p: &mut P,
    ) -> Result<(usize, Flow, bool, u64), StageError>
    where
        P: Processor<Out = O>,
    {
        let published_before = self.counts.published;
        let limit = self.limit;
        let mut em = self.emitter(t_read);
        let (done, flow, t_end) = if P::BATCHED {
            let flow = p.on_batch(batch, &mut em).map_err(StageError::processor)?;
            let t = monotonic_ns();
            let n = batch.len() as u64;
            em.tel
                .record_n(Metric::Service, (t - t_read) / n + read_share, n);
            em.counts.handled += n;
            (batch.len(), flow, t)
        } else {
            let (mut t_prev, mut done, mut flow) = (t_read, 0, Flow::Continue);
            for m in batch {
                flow = p.on_message(m, &mut em).map_err(StageError::processor)?;
                done += 1;
                em.counts.handled += 1;
                let t = monotonic_ns();
                em.tel.record(Metric::Service, t - t_prev + read_share);
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

    /// The summary line: the stage's own fields (a struct of its own,
    /// serialized as an object), then the runtime's counts and latency.
    pub fn summary<S: Serialize>(&self, own: &S) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("stage".into(), self.stage.name().into());
        match serde_json::to_value(own) {
            Ok(serde_json::Value::Object(own)) => m.extend(own),
            Ok(other) => debug_assert!(false, "a stage summary is an object, not {other}"),
            Err(e) => {
                m.insert("summary_error".into(), e.to_string().into());
            }
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
            ("active_s", self.active_s().into()),
            ("stopped", self.signals.stopping().into()),
            ("latency_ns", self.tel.summary()),
        ] {
            m.insert(k.into(), v);
        }
        m.into()
    }
}
