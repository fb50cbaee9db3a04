//! Order latency: how long an order takes to reach the venue (entry) and
//! its report to come back (response), in exchange-clock ns.
//!
//! - `constant:ENTRY_US:RESPONSE_US`;
//! - `recorded:FILE`: latencies measured on real orders, each row a request
//!   time, the venue's time for it and the response time, interpolated
//!   linearly between rows the way hftbacktest's `IntpOrderLatency` does
//!   (its `.npy` rows, or a CSV of the same three columns). A row whose
//!   venue time is 0 or less is an order the venue refused: an order sent
//!   near it gets a negative entry latency, the time its refusal takes to
//!   come back.

use std::path::{Path, PathBuf};

/// A latency spec or file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LatencyError {
    /// Not `constant:E:R` or `recorded:FILE`.
    #[error(
        "unknown latency model {0:?}: expected constant:ENTRY_US:RESPONSE_US or recorded:FILE"
    )]
    Spec(String),
    /// The file could not be read.
    #[error("reading latencies {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file's contents are not latency rows.
    #[error("latencies {path}: {what}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        what: String,
    },
}

/// One measured order: when it was sent, when the venue took it (0 or
/// less: refused), when its answer came back; ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencyRow {
    /// Request, local clock.
    pub req_ns: i64,
    /// The venue's time for it.
    pub exch_ns: i64,
    /// Response, local clock.
    pub resp_ns: i64,
}

/// An order latency model.
#[derive(Clone, Debug)]
pub enum Latency {
    /// The same latencies for every order.
    Constant {
        /// Entry, ns.
        entry_ns: i64,
        /// Response, ns.
        response_ns: i64,
    },
    /// Interpolated from measured rows, in request order.
    Recorded(Recorded),
}

impl Latency {
    /// From `constant:ENTRY_US:RESPONSE_US` or `recorded:FILE`.
    pub fn from_spec(spec: &str) -> Result<Self, LatencyError> {
        let bad = || LatencyError::Spec(spec.to_owned());
        if let Some(file) = spec.strip_prefix("recorded:") {
            return Ok(Latency::Recorded(Recorded::load(Path::new(file))?));
        }
        let rest = spec.strip_prefix("constant:").ok_or_else(bad)?;
        let (e, r) = rest.split_once(':').ok_or_else(bad)?;
        let us = |x: &str| {
            x.parse::<u64>()
                .ok()
                .and_then(|v| i64::try_from(v).ok()?.checked_mul(1_000))
        };
        Ok(Latency::Constant {
            entry_ns: us(e).ok_or_else(bad)?,
            response_ns: us(r).ok_or_else(bad)?,
        })
    }

    /// Entry latency of an order sent at `t` (local ns); negative: refused,
    /// its magnitude the time the refusal takes to come back.
    pub fn entry(&mut self, t: i64) -> i64 {
        match self {
            Latency::Constant { entry_ns, .. } => *entry_ns,
            Latency::Recorded(r) => r.entry(t),
        }
    }

    /// A lower bound of every entry latency this model gives (≥ 0): the
    /// venue may take market data that far past the router's clock.
    pub fn min_entry(&self) -> u64 {
        match self {
            Latency::Constant { entry_ns, .. } => (*entry_ns).max(0) as u64,
            Latency::Recorded(r) => r.min_entry(),
        }
    }

    /// A lower bound of every response latency this model gives (≥ 0):
    /// an answer made at `t` reaches the router no sooner than this after.
    pub fn min_response(&self) -> u64 {
        match self {
            Latency::Constant { response_ns, .. } => (*response_ns).max(0) as u64,
            Latency::Recorded(r) => r.min_response(),
        }
    }

    /// Response latency of an answer the venue gives at `t` (venue ns).
    pub fn response(&mut self, t: i64) -> i64 {
        match self {
            Latency::Constant { response_ns, .. } => *response_ns,
            Latency::Recorded(r) => r.response(t),
        }
    }
}

/// Measured rows and the cursors of the two lookups (times only go
/// forward in a replay, so each lookup resumes where the last one was).
#[derive(Clone, Debug)]
pub struct Recorded {
    rows: Vec<LatencyRow>,
    entry_at: usize,
    resp_at: usize,
    /// The least entry and response latencies of the rows, found once:
    /// a promise asks for the response bound at every sync.
    min_entry: u64,
    min_response: u64,
}

/// Linear interpolation in hftbacktest's order of operations (so that the
/// two agree to the ns).
fn intp(x: i64, x1: i64, y1: i64, x2: i64, y2: i64) -> i64 {
    (((y2 - y1) as f64) / ((x2 - x1) as f64) * ((x - x1) as f64)) as i64 + y1
}

impl Recorded {
    /// From rows in request order; at least one. Out of order, the
    /// interpolation would extrapolate silently: refused, naming the row.
    pub fn new(rows: Vec<LatencyRow>) -> Result<Self, String> {
        if rows.is_empty() {
            return Err("no rows".into());
        }
        if let Some(i) = rows.windows(2).position(|p| p[1].req_ns < p[0].req_ns) {
            return Err(format!(
                "row {} (request at {} ns) is before the row above it: rows must be in request order",
                i + 2,
                rows[i + 1].req_ns
            ));
        }
        let accepted = rows.iter().filter(|r| r.exch_ns > 0);
        let min_entry = accepted.map(|r| r.exch_ns - r.req_ns).min().unwrap_or(0);
        let min_response = rows
            .iter()
            .map(|r| r.resp_ns - r.exch_ns)
            .min()
            .unwrap_or(0);
        Ok(Recorded {
            rows,
            entry_at: 0,
            resp_at: 0,
            min_entry: min_entry.max(0) as u64,
            min_response: min_response.max(0) as u64,
        })
    }

    /// Reads a `.npy` of hftbacktest's rows, or a CSV `req,exch,resp` (ns).
    pub fn load(path: &Path) -> Result<Self, LatencyError> {
        let bytes = std::fs::read(path).map_err(|source| LatencyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let rows = if bytes.starts_with(b"\x93NUMPY") {
            crate::npy::rows(&bytes)
        } else {
            crate::npy::csv_rows(&bytes)
        };
        let format = |what: String| LatencyError::Format {
            path: path.to_owned(),
            what,
        };
        Recorded::new(rows.map_err(format)?).map_err(format)
    }

    /// See [`Latency::min_entry`]: interpolation stays between its rows.
    pub fn min_entry(&self) -> u64 {
        self.min_entry
    }

    /// See [`Latency::min_response`]: interpolation stays between its rows.
    pub fn min_response(&self) -> u64 {
        self.min_response
    }

    /// See [`Latency::entry`].
    pub fn entry(&mut self, t: i64) -> i64 {
        let r = &self.rows;
        if t < r[0].req_ns {
            return r[0].exch_ns - r[0].req_ns;
        }
        while self.entry_at + 1 < r.len() && r[self.entry_at + 1].req_ns <= t {
            self.entry_at += 1;
        }
        let (a, Some(b)) = (r[self.entry_at], r.get(self.entry_at + 1)) else {
            let last = r[r.len() - 1];
            return last.exch_ns - last.req_ns;
        };
        if a.exch_ns <= 0 || b.exch_ns <= 0 {
            let (y1, y2) = (a.resp_ns - a.req_ns, b.resp_ns - b.req_ns);
            return -intp(t, a.req_ns, y1, b.req_ns, y2);
        }
        intp(
            t,
            a.req_ns,
            a.exch_ns - a.req_ns,
            b.req_ns,
            b.exch_ns - b.req_ns,
        )
    }

    /// See [`Latency::response`].
    pub fn response(&mut self, t: i64) -> i64 {
        let r = &self.rows;
        if t < r[0].exch_ns {
            return r[0].resp_ns - r[0].exch_ns;
        }
        loop {
            let Some(b) = r.get(self.resp_at + 1) else {
                let last = r[r.len() - 1];
                return last.resp_ns - last.exch_ns;
            };
            let a = r[self.resp_at];
            if a.exch_ns <= t && t < b.exch_ns {
                return intp(
                    t,
                    a.exch_ns,
                    a.resp_ns - a.exch_ns,
                    b.exch_ns,
                    b.resp_ns - b.exch_ns,
                );
            }
            self.resp_at += 1;
        }
    }
}
