//! The inference stage's processor: a batch of feature vectors through the
//! model in one run, each probability checked before it is published.

use std::fs::File;
use std::io::BufWriter;

use hdrhistogram::Histogram;
use tickline_features::{FEATURE_SET_VERSION, N_FEATURES};
use tickline_inference::Model;
use tickline_schema::{prediction_csv, FeatureVector, Prediction};
use tickline_shm::monotonic_ns;
use tickline_stage::{Emitted, Emitter, Flow, Processor, Signals};

use crate::reload::Reloader;

#[derive(Default)]
pub struct Counters {
    pub predictions: u64,
    pub bad_outputs: u64,
    pub version_mismatch: u64,
    pub run_errors: u64,
    pub runs: u64,
}

/// The model between feature vectors and predictions.
pub struct Inference {
    pub model: Model,
    pub reloader: Reloader,
    /// Model runs before the first message.
    pub warmup_runs: usize,
    pub c: Counters,
    /// Batch positions of the rows handed to the model (preallocated).
    pub rows: Vec<usize>,
    /// The last run's probabilities (preallocated for the largest batch).
    pub probs: Vec<f64>,
    pub pred: Prediction,
    pub recording: Option<BufWriter<File>>,
    /// Model run time at batch 1 and above, and per vector.
    pub run1: Histogram<u64>,
    pub run_n: Histogram<u64>,
    pub per_vector: Histogram<u64>,
}

impl Inference {
    /// Copies the rows the model will see into its input: the right feature
    /// set, not published by a predecessor.
    fn gather(&mut self, batch: &[FeatureVector], out: &mut Emitter<'_, Prediction>) {
        self.rows.clear();
        for (i, fv) in batch.iter().enumerate() {
            if fv.feature_set_version != FEATURE_SET_VERSION || fv.len as usize != N_FEATURES {
                self.c.version_mismatch += 1;
                continue;
            }
            if out.is_replay(fv.trace.seq) {
                continue;
            }
            let r = self.rows.len();
            self.model.rows_mut(r + 1)[r * N_FEATURES..].copy_from_slice(&fv.values[..N_FEATURES]);
            self.rows.push(i);
        }
        debug_assert!(self.rows.len() <= self.model.max_batch());
    }

    fn record_run(&mut self, n: usize, ns: u64) {
        if n == 1 {
            &mut self.run1
        } else {
            &mut self.run_n
        }
        .saturating_record(ns);
        self.per_vector.saturating_record(ns / n as u64);
        self.c.runs += 1;
    }

    /// Emits the predictions of the last run; false once the stage is stopping.
    fn emit(
        &mut self,
        batch: &[FeatureVector],
        probs: &[f64],
        done: u64,
        out: &mut Emitter<'_, Prediction>,
    ) -> std::io::Result<bool> {
        let info = self.model.info();
        for (&i, &p) in self.rows.iter().zip(probs) {
            if !(0.0..=1.0).contains(&p) {
                self.c.bad_outputs += 1;
                continue;
            }
            let fv = &batch[i];
            let pred = &mut self.pred;
            pred.trace = fv.trace;
            pred.instrument_id = fv.instrument_id;
            pred.model_version = info.model_version;
            pred.feature_set_version = fv.feature_set_version;
            pred.horizon_events = info.horizon_events;
            pred.prob_up = p;
            pred.best_bid = fv.best_bid;
            pred.best_ask = fv.best_ask;
            if out.emit_at(pred, done) == Emitted::Stopped {
                return Ok(false);
            }
            if let Some(w) = &mut self.recording {
                prediction_csv::write_row(w, pred)?;
            }
            self.c.predictions += 1;
        }
        Ok(true)
    }
}

impl Processor for Inference {
    type In = FeatureVector;
    type Out = Prediction;
    type Error = std::io::Error;
    const BATCHED: bool = true;

    fn batch_size(&self) -> usize {
        self.model.max_batch()
    }

    fn on_message(
        &mut self,
        fv: &FeatureVector,
        out: &mut Emitter<'_, Prediction>,
    ) -> std::io::Result<Flow> {
        self.on_batch(std::slice::from_ref(fv), out)
    }

    fn on_batch(
        &mut self,
        batch: &[FeatureVector],
        out: &mut Emitter<'_, Prediction>,
    ) -> std::io::Result<Flow> {
        self.gather(batch, out);
        let n = self.rows.len();
        if n == 0 {
            return Ok(Flow::Continue);
        }
        let t = monotonic_ns();
        // The probabilities borrow the model: copy them into our own buffer
        // (taken out of `self` meanwhile, no allocation) so emitting may borrow self.
        let mut probs = std::mem::take(&mut self.probs);
        let ran = self.model.run(n).map(|p| probs[..n].copy_from_slice(p));
        let flow = match ran {
            Ok(()) => {
                let done = monotonic_ns();
                self.record_run(n, done - t);
                if self.emit(batch, &probs[..n], done, out)? {
                    Flow::Continue
                } else {
                    Flow::Stop
                }
            }
            Err(e) => {
                self.c.run_errors += 1;
                if self.c.run_errors == 1 {
                    eprintln!("inference: {e} (further ones are counted)");
                }
                Flow::Continue
            }
        };
        self.probs = probs;
        Ok(flow)
    }

    fn warm_up(&mut self) -> std::io::Result<()> {
        self.model
            .warm_up(self.warmup_runs)
            .map_err(std::io::Error::other)
    }

    fn between_batches(&mut self, signals: &Signals) -> std::io::Result<()> {
        if let Some(m) = self.reloader.poll(signals.take_reload()) {
            self.model = m;
        }
        Ok(())
    }

    fn errors(&self) -> u64 {
        self.c.bad_outputs + self.c.version_mismatch + self.c.run_errors
    }
}
