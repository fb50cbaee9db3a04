//! Databento MBO (market by order) files, DBN of any version, plain or
//! zstd, decoded by Databento's own `dbn` crate.
//!
//! Actions: Add, Cancel (of `size`), Modify (new price and size), cleaR
//! (the instrument's book), Trade (the aggressor's print; the book is not
//! changed), Fill and None (no change). A publisher's event may be several
//! records; the book is valid only after the one flagged `F_LAST`, so a
//! book event is emitted there, for an instrument whose book changed. A
//! trade is emitted at its record. Snapshot records (`F_SNAPSHOT`) are
//! applied like any other, and the event at the end of a snapshot is a
//! `Snapshot`. Databento's instrument ids (any u32) are mapped to dense ids
//! from 0 in order of first appearance, since ours are below
//! `MAX_INSTRUMENTS`; the summary gives each one's symbol and Databento id;
//! symbols come from the file's metadata.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;

use dbn::decode::{DbnMetadata, DecodeRecordRef, DynDecoder};
use dbn::{MboMsg, VersionUpgradePolicy, UNDEF_PRICE};
use tickline_book::Side;
use tickline_schema::EventKind;

use crate::spec::SourceError;
use crate::stats::{FeedError, FeedStats};
use crate::{Books, FeedEvent, Source, Step, MAX_INSTRUMENTS, UNIT};

/// DBN prices are in 1e-9; ours are in 1e-8.
const PRICE_DIV: i64 = 1_000_000_000 / UNIT;

/// A Databento MBO file as a source.
pub struct DbnSource {
    decoder: DynDecoder<'static, BufReader<File>>,
    /// Databento instrument id to ours, in order of appearance.
    ids: HashMap<u32, u32>,
    /// Ours to Databento's.
    databento_ids: Vec<u32>,
    /// Databento instrument id to symbol, from the metadata.
    names: HashMap<u32, String>,
    /// Our symbol per instrument.
    symbols: Vec<String>,
    /// Per instrument of ours: the book changed since its last `F_LAST`.
    dirty: Vec<bool>,
    /// Records per (Databento instrument id, action).
    actions: HashMap<(u32, u8), u64>,
    ended: bool,
    /// Yield each record as an order event too.
    records: bool,
    /// The event a record made, given after the record's own.
    pending: Option<FeedEvent>,
}

impl DbnSource {
    /// Opens a DBN file (plain or zstd, any DBN version).
    pub fn open(path: &str) -> Result<Self, dbn::Error> {
        let decoder = DynDecoder::from_file(path, VersionUpgradePolicy::UpgradeToV3)?;
        let mut names = HashMap::new();
        for m in &decoder.metadata().mappings {
            for iv in &m.intervals {
                if let Ok(id) = iv.symbol.parse::<u32>() {
                    names.insert(id, m.raw_symbol.clone());
                }
            }
        }
        Ok(DbnSource {
            decoder,
            ids: HashMap::new(),
            databento_ids: Vec::new(),
            names,
            symbols: Vec::new(),
            dirty: Vec::new(),
            actions: HashMap::new(),
            ended: false,
            records: false,
            pending: None,
        })
    }

    /// Records read per (Databento instrument id, action character).
    pub fn action_counts(&self) -> &HashMap<(u32, u8), u64> {
        &self.actions
    }

    /// Databento's instrument id of one of ours.
    pub fn databento_id(&self, instrument: u32) -> Option<u32> {
        self.databento_ids.get(instrument as usize).copied()
    }

    /// Our id for a Databento instrument id, assigned at first sight.
    fn instrument(&mut self, databento: u32) -> Option<u32> {
        if let Some(i) = self.ids.get(&databento) {
            return Some(*i);
        }
        let i = self.databento_ids.len() as u32;
        if i >= MAX_INSTRUMENTS {
            return None;
        }
        self.ids.insert(databento, i);
        self.databento_ids.push(databento);
        let name = self.names.get(&databento).cloned();
        self.symbols
            .push(name.unwrap_or_else(|| databento.to_string()));
        self.dirty.push(false);
        Some(i)
    }

    /// The next MBO record, skipping other record types (counted).
    fn record(&mut self, stats: &mut FeedStats) -> Option<MboMsg> {
        loop {
            match self.decoder.decode_record_ref() {
                Ok(Some(r)) => match r.get::<MboMsg>() {
                    Some(m) => return Some(m.clone()),
                    None => stats.error(FeedError::UnknownType, format_args!("not an MBO record")),
                },
                Ok(None) => return None,
                Err(e) => {
                    stats.error(FeedError::Truncated, format_args!("DBN: {e}"));
                    return None;
                }
            }
        }
    }

    /// Applies one record to `inst`'s book; the error of a bad one.
    fn apply(&mut self, m: &MboMsg, inst: u32, books: &mut Books) -> Result<(), FeedError> {
        let book = books.book_mut(inst);
        let side = || match m.side as u8 {
            b'B' => Ok(Side::Buy),
            b'A' => Ok(Side::Sell),
            _ => Err(FeedError::BadSide),
        };
        let price = || price(m.price).ok_or(FeedError::BadValue);
        let qty = m.size as i64 * UNIT;
        match m.action as u8 {
            b'A' => book
                .add(m.order_id, side()?, price()?, qty)
                .map_err(FeedError::from)?,
            b'C' => {
                book.reduce(m.order_id, qty).map_err(FeedError::from)?;
            }
            b'M' => {
                book.replace(m.order_id, m.order_id, price()?, qty)
                    .map_err(FeedError::from)?;
            }
            b'R' => book.clear(),
            _ => return Ok(()),
        }
        self.dirty[inst as usize] = true;
        Ok(())
    }
}

/// A DBN price in our fixed point, if defined and representable exactly.
fn price(p: i64) -> Option<i64> {
    (p != UNDEF_PRICE && p > 0 && p % PRICE_DIV == 0).then_some(p / PRICE_DIV)
}

/// When Databento's gateway received the record (0: not known).
fn receive_ns(m: &MboMsg) -> u64 {
    if m.ts_recv == dbn::UNDEF_TIMESTAMP {
        0
    } else {
        m.ts_recv
    }
}

/// The record's side as [`tickline_schema::Side`]'s byte (0: none; for a
/// trade, the aggressor's).
fn side_byte(m: &MboMsg) -> i8 {
    match m.side as u8 {
        b'B' => 1,
        b'A' => -1,
        _ => 0,
    }
}

/// A record as an order event, for the venue simulator's exact FIFO.
fn order_event(m: &MboMsg, inst: u32) -> Option<FeedEvent> {
    use tickline_schema::OrderAction as A;
    let action = match m.action as u8 {
        b'A' => A::Add,
        b'C' => A::Cancel,
        b'M' => A::Modify,
        b'F' => A::Fill,
        b'R' => A::Clear,
        _ => return None,
    };
    let mut ev = FeedEvent::quote(inst, m.hd.ts_event);
    ev.kind = EventKind::Order;
    ev.receive_ns = receive_ns(m);
    ev.order = tickline_schema::MarketOrder {
        order_id: m.order_id,
        price: price(m.price).unwrap_or(0),
        qty: m.size as i64 * UNIT,
        action: action as u8,
        side: side_byte(m),
        _pad: [0; 6],
    };
    Some(ev)
}

impl DbnSource {
    /// The record's own event, if records are yielded; then what it made.
    fn with_record(&mut self, m: &MboMsg, inst: u32, made: Step) -> Step {
        let rec = self.records.then(|| order_event(m, inst)).flatten();
        match (rec, made) {
            (Some(r), Step::Event(ev)) => {
                self.pending = Some(ev);
                Step::Event(r)
            }
            (Some(r), _) => Step::Event(r),
            (None, made) => made,
        }
    }

    /// The event a record made (a trade, a book at `F_LAST`), if any.
    fn made(&mut self, m: &MboMsg, inst: u32, stats: &mut FeedStats) -> Step {
        let action = m.action as u8;
        let (ts, recv) = (m.hd.ts_event, receive_ns(m));
        if action == b'T' {
            let Some(px) = price(m.price) else {
                stats.error(FeedError::BadValue, format_args!("trade without a price"));
                return Step::Skip;
            };
            // At F_LAST the book it carries is final: no quote event follows.
            if m.flags.is_last() {
                self.dirty[inst as usize] = false;
            }
            return Step::Event(FeedEvent {
                instrument: inst,
                kind: EventKind::Trade,
                exchange_ns: ts,
                receive_ns: recv,
                trade_side: side_byte(m),
                trade_price: px,
                trade_qty: m.size as i64 * UNIT,
                ..FeedEvent::quote(inst, ts)
            });
        }
        if m.flags.is_last() && std::mem::take(&mut self.dirty[inst as usize]) {
            let mut ev = FeedEvent::quote(inst, ts);
            ev.receive_ns = recv;
            // A full book image (clear, then the resting orders) is a
            // snapshot, as a Binance REST snapshot is.
            if m.flags.is_snapshot() {
                ev.kind = EventKind::Snapshot;
            }
            return Step::Event(ev);
        }
        Step::Skip
    }
}

impl Source for DbnSource {
    fn next(&mut self, books: &mut Books, stats: &mut FeedStats) -> Step {
        if let Some(ev) = self.pending.take() {
            return Step::Event(ev);
        }
        if self.ended {
            return Step::End;
        }
        let Some(m) = self.record(stats) else {
            self.ended = true;
            return Step::End;
        };
        stats.messages += 1;
        let action = m.action as u8;
        *self
            .actions
            .entry((m.hd.instrument_id, action))
            .or_default() += 1;
        let Some(inst) = self.instrument(m.hd.instrument_id) else {
            stats.error(
                FeedError::BadValue,
                format_args!("more than {MAX_INSTRUMENTS} instruments"),
            );
            return Step::Skip;
        };
        if let Err(e) = self.apply(&m, inst, books) {
            stats.error(
                e,
                format_args!(
                    "instrument {} action {} order {}",
                    m.hd.instrument_id, action as char, m.order_id
                ),
            );
            // A record the book refused is not the venue's either.
            return self.made(&m, inst, stats);
        }
        let made = self.made(&m, inst, stats);
        self.with_record(&m, inst, made)
    }

    fn yield_records(&mut self) -> Option<crate::Records> {
        self.records = true;
        Some(crate::Records::ByOrder)
    }

    fn epoch_times(&self) -> bool {
        true
    }

    fn symbol(&self, instrument: u32) -> Option<&str> {
        self.symbols.get(instrument as usize).map(String::as_str)
    }

    fn checks(&self) -> Vec<(String, u64)> {
        let mut by_action = std::collections::BTreeMap::new();
        for ((_, a), n) in &self.actions {
            *by_action
                .entry(format!("records_{}", *a as char))
                .or_default() += *n;
        }
        // What our dense ids stand for.
        for (ours, theirs) in self.databento_ids.iter().enumerate() {
            by_action.insert(format!("databento_id_of_{ours}"), *theirs as u64);
        }
        by_action.into_iter().collect()
    }
}

/// `dbn:FILE[.zst]`: a Databento MBO file.
pub fn from_spec(rest: &str) -> Result<Box<dyn Source>, SourceError> {
    let src = DbnSource::open(rest).map_err(|e| SourceError::File {
        what: "Databento DBN file",
        path: rest.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(Box::new(src))
}
