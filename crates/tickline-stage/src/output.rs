//! Where a stage's messages go: a queue, a raw recording of them, or
//! nowhere. Text recordings (CSV) are the stage's own business.

use std::fs::File;
use std::io::{BufWriter, Write};

use tickline_schema::Traced;
use tickline_shm::{FullPolicy, Message, Producer, Push, WaitStrategy};

use crate::{Endpoint, Signals, StageError};

/// A stage's output.
pub enum Output<T: Message> {
    /// Discarded (profiling, or the stage records to a file itself).
    Null,
    /// The producing end of a queue.
    Queue(Producer<T>),
    /// Several queues that each get every message (fan-out), each with
    /// the sequence number a predecessor left it at: a process killed
    /// between two pushes of one message resumes each queue after its own.
    Queues(Vec<(Producer<T>, Option<u64>)>),
    /// The messages' bytes, back to back, as a queue carries them (for
    /// replaying the same stream into another implementation).
    File {
        /// The recording.
        w: BufWriter<File>,
        /// The first write error, reported at the end.
        err: Option<std::io::Error>,
    },
}

impl<T: Message + Traced> Output<T> {
    /// A queue for `queue:NAME` (and more for `also`: fan-out), else
    /// [`Output::Null`].
    pub fn open(
        ep: &Endpoint,
        also: &[Endpoint],
        policy: FullPolicy,
        wait: WaitStrategy,
        signals: &Signals,
    ) -> Result<Self, StageError> {
        if !also.is_empty() {
            return Self::fan_out(ep, also, policy, wait, signals);
        }
        if let Endpoint::File(path) = ep {
            let f = File::create(path).map_err(|source| StageError::Create {
                path: path.clone(),
                source,
            })?;
            return Ok(Output::File {
                w: BufWriter::with_capacity(1 << 20, f),
                err: None,
            });
        }
        let Endpoint::Queue(name) = ep else {
            return Ok(Output::Null);
        };
        Ok(Output::Queue(Self::producer(name, policy, wait, signals)?))
    }

    fn producer(
        name: &str,
        policy: FullPolicy,
        wait: WaitStrategy,
        signals: &Signals,
    ) -> Result<Producer<T>, StageError> {
        let p = Producer::attach(name, policy, wait).map_err(|source| StageError::Attach {
            role: "output",
            name: name.to_owned(),
            source,
        })?;
        Ok(p.with_stop_flag(signals.stop_flag()))
    }

    fn fan_out(
        ep: &Endpoint,
        also: &[Endpoint],
        policy: FullPolicy,
        wait: WaitStrategy,
        signals: &Signals,
    ) -> Result<Self, StageError> {
        let mut qs = Vec::with_capacity(also.len() + 1);
        for e in std::iter::once(ep).chain(also) {
            let e = e.expect("--out/--also-out", &[crate::EndpointKind::Queue])?;
            let Endpoint::Queue(name) = e else {
                unreachable!("checked to be a queue")
            };
            let p = Self::producer(name, policy, wait, signals)?;
            let after = p.last_published().map(|m| m.trace().seq);
            qs.push((p, after));
        }
        Ok(Output::Queues(qs))
    }

    /// Sequence number of the last message a predecessor published here.
    pub fn last_seq(&self) -> Option<u64> {
        match self {
            Output::Queue(p) => p.last_published().map(|m| m.trace().seq),
            // Resume after the queue that is furthest behind.
            Output::Queues(qs) => qs.iter().map(|q| q.1).min().flatten(),
            Output::Null | Output::File { .. } => None,
        }
    }

    /// Publishes `msg` (or drops it, by the queue's full policy). A
    /// [`Traced::fan_out_only`] message goes only to the `--also-out` queues.
    #[inline]
    pub fn push(&mut self, msg: &T) -> Push {
        if msg.fan_out_only() {
            return match self {
                Output::Queues(qs) => Self::push_each(&mut qs[1..], msg),
                _ => Push::Sent,
            };
        }
        match self {
            Output::Null => {
                std::hint::black_box(msg);
                Push::Sent
            }
            Output::Queue(p) => p.push(msg),
            Output::Queues(qs) => Self::push_each(qs, msg),
            Output::File { w, err } => {
                if err.is_none() {
                    if let Err(e) = w.write_all(bytemuck::bytes_of(msg)) {
                        *err = Some(e);
                    }
                }
                Push::Sent
            }
        }
    }

    /// Pushes to each queue that does not have it yet; the first queue's
    /// outcome (a stop on any wins).
    fn push_each(qs: &mut [(Producer<T>, Option<u64>)], msg: &T) -> Push {
        let seq = msg.trace().seq;
        let mut first = None;
        for (p, after) in qs.iter_mut() {
            let r = if after.is_some_and(|a| seq <= a) {
                Push::Sent
            } else {
                p.push(msg)
            };
            if r == Push::Stopped {
                return r;
            }
            first.get_or_insert(r);
        }
        first.unwrap_or(Push::Sent)
    }

    /// Flushes a recording; its first write error, if any.
    pub fn finish(&mut self) -> std::io::Result<()> {
        match self {
            Output::File { w, err } => match err.take() {
                Some(e) => Err(e),
                None => w.flush(),
            },
            _ => Ok(()),
        }
    }

    /// Says this process is alive.
    pub fn beat(&self) {
        match self {
            Output::Queue(p) => p.beat(),
            Output::Queues(qs) => qs.iter().for_each(|q| q.0.beat()),
            _ => {}
        }
    }
}
