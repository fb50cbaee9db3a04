//! A text recording of [`Prediction`]s, so the order router runs alone on
//! what an inference run produced. Prices stay fixed-point integers and
//! probabilities print in Rust's round-trip form, so a replay is exact.

use std::io::{self, BufRead, Write};

use crate::Prediction;

/// A malformed row: what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// Not the 11 fields of a row (or the 9 of an older recording).
    #[error("{0} fields, want 11 (or 9: a recording without receive times and flags)")]
    Fields(usize),
    /// A field that should be a number is not one.
    #[error("field {field} ({text:?}) is not a number")]
    Number {
        /// 1-based field number.
        field: usize,
        /// The field's text.
        text: String,
    },
}

/// A malformed row and its 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub error: RowError,
}

/// The header line. Recordings of older builds lack `receive_ns` and
/// `flags`; they are read as 0.
pub const HEADER: &str =
    "seq,exchange_ns,receive_ns,flags,instrument_id,model_version,feature_set_version,horizon_events,prob_up,best_bid,best_ask";

/// Writes the header line.
pub fn write_header(w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "{HEADER}")
}

/// Writes one prediction as a row.
pub fn write_row(w: &mut impl Write, p: &Prediction) -> io::Result<()> {
    writeln!(
        w,
        "{},{},{},{},{},{},{},{},{:?},{},{}",
        p.trace.seq,
        p.trace.exchange_ns,
        p.trace.receive_ns,
        p.trace.flags,
        p.instrument_id,
        p.model_version,
        p.feature_set_version,
        p.horizon_events,
        p.prob_up,
        p.best_bid,
        p.best_ask
    )
}

/// One row; the error says which field is wrong.
pub fn parse_row(line: &str) -> Result<Prediction, RowError> {
    let mut f: Vec<&str> = line.trim_end().split(',').collect();
    match f.len() {
        11 => {}
        // An older recording: no receive time, no flags.
        9 => f.splice(2..2, ["0", "0"]).for_each(drop),
        n => return Err(RowError::Fields(n)),
    }
    fn num<T: std::str::FromStr>(f: &[&str], i: usize) -> Result<T, RowError> {
        f[i].parse().map_err(|_| RowError::Number {
            field: i + 1,
            text: f[i].to_owned(),
        })
    }
    let mut p: Prediction = bytemuck::Zeroable::zeroed();
    p.trace.seq = num(&f, 0)?;
    p.trace.exchange_ns = num(&f, 1)?;
    p.trace.receive_ns = num(&f, 2)?;
    p.trace.flags = num(&f, 3)?;
    p.instrument_id = num(&f, 4)?;
    p.model_version = num(&f, 5)?;
    p.feature_set_version = num(&f, 6)?;
    p.horizon_events = num(&f, 7)?;
    p.prob_up = num(&f, 8)?;
    p.best_bid = num(&f, 9)?;
    p.best_ask = num(&f, 10)?;
    Ok(p)
}

/// Reads a recording. Malformed rows are counted and skipped, never fatal;
/// the first one's error is returned for the caller to report.
pub fn read(r: impl BufRead) -> io::Result<(Vec<Prediction>, u64, Option<LineError>)> {
    let (mut out, mut bad, mut first_err) = (Vec::new(), 0, None);
    for (n, line) in r.lines().enumerate() {
        let line = line?;
        if line.is_empty() || line.starts_with("seq,") {
            continue;
        }
        match parse_row(&line) {
            Ok(p) => out.push(p),
            Err(e) => {
                bad += 1;
                first_err.get_or_insert(LineError {
                    line: n + 1,
                    error: e,
                });
            }
        }
    }
    Ok((out, bad, first_err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exactly_and_counts_bad_rows() {
        let mut p: Prediction = bytemuck::Zeroable::zeroed();
        p.trace.seq = 7;
        p.trace.exchange_ns = 34_200_000_000_123;
        p.trace.receive_ns = 1_723_161_255_030_314_667;
        p.trace.flags = crate::Trace::STALE;
        p.instrument_id = 3;
        p.prob_up = 0.1 + 0.2; // not representable in short decimal
        p.best_bid = 1_234_500_000_000_000;
        p.best_ask = 1_234_600_000_000_000;
        let mut buf = Vec::new();
        write_header(&mut buf).unwrap();
        write_row(&mut buf, &p).unwrap();
        buf.extend_from_slice(b"1,2,3\n8,1,0,0,1,1,1,1,nan?,1,2\n");
        // An older build's row: nine fields, no receive time or flags.
        buf.extend_from_slice(b"9,5,3,0,0,0,0.25,1,2\n");
        let (rows, bad, err) = read(&buf[..]).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(bytemuck::bytes_of(&rows[0]), bytemuck::bytes_of(&p));
        assert_eq!(
            (rows[1].trace.seq, rows[1].trace.receive_ns, rows[1].prob_up),
            (9, 0, 0.25)
        );
        assert_eq!(bad, 2);
        assert_eq!(
            err.unwrap().to_string(),
            "line 3: 3 fields, want 11 (or 9: a recording without receive times and flags)"
        );
    }
}
