//! From a [`Source`] to numbered [`BookEvent`]s: books, symbol filter, levels
//! and sequence numbers in one place, shared by the feed-handler and by the
//! feature stage's in-process (training) mode.

use tickline_schema::{BookEvent, EventKind, MAX_LEVELS};

use crate::{Books, FeedStats, Source, Step, MAX_INSTRUMENTS};

/// What one [`EventReader::next`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStep {
    /// `out` holds the next event: book levels, exchange time and `trace.seq`
    /// set, stage stamps zeroed.
    Event,
    /// An input message without a published event (admin, bad input, filtered).
    Skip,
    /// A live source has nothing right now.
    Idle,
    /// The input is exhausted.
    End,
}

/// A symbol-to-instrument-id map that is not one-to-one or out of range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InstrumentMapError {
    /// Not `SYMBOL=ID`.
    #[error("instrument map entry {0:?} is not SYMBOL=ID")]
    Syntax(String),
    /// An id at or above [`MAX_INSTRUMENTS`].
    #[error("instrument id {id} of {symbol} is not below {MAX_INSTRUMENTS}")]
    Range {
        /// The symbol.
        symbol: String,
        /// The id given.
        id: u32,
    },
    /// Two symbols given one id, or one symbol two.
    #[error("instrument map gives {0} twice")]
    Duplicate(String),
}

/// Which instrument id each symbol is published as; symbols it does not
/// name get ids above the highest it gives, in order of appearance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstrumentMap(Vec<(String, u32)>);

impl InstrumentMap {
    /// From `SYMBOL=ID` entries.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, InstrumentMapError> {
        let mut map: Vec<(String, u32)> = Vec::with_capacity(entries.len());
        for e in entries {
            let e = e.as_ref();
            let (sym, id) = e
                .split_once('=')
                .and_then(|(s, id)| Some((s.trim(), id.trim().parse::<u32>().ok()?)))
                .filter(|(s, _)| !s.is_empty())
                .ok_or_else(|| InstrumentMapError::Syntax(e.to_owned()))?;
            if id >= MAX_INSTRUMENTS {
                return Err(InstrumentMapError::Range {
                    symbol: sym.to_owned(),
                    id,
                });
            }
            if let Some((s, i)) = map.iter().find(|(s, i)| s == sym || *i == id) {
                let what = if s == sym {
                    format!("symbol {sym}")
                } else {
                    format!("id {i}")
                };
                return Err(InstrumentMapError::Duplicate(what));
            }
            map.push((sym.to_owned(), id));
        }
        Ok(InstrumentMap(map))
    }

    fn get(&self, symbol: &str) -> Option<u32> {
        self.0.iter().find(|(s, _)| s == symbol).map(|(_, i)| *i)
    }
}

/// One shard of N: the instruments whose symbol hashes to `index` mod `of`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0-based.
    pub index: u32,
    /// How many shards share the feed.
    pub of: u32,
}

impl Shard {
    /// From `K/N` (0 <= K < N).
    pub fn parse(s: &str) -> Option<Shard> {
        let (k, n) = s.split_once('/')?;
        let (index, of) = (k.parse().ok()?, n.parse().ok()?);
        (index < of).then_some(Shard { index, of })
    }

    /// Whether this shard takes `symbol` (FNV-1a of its bytes, so every
    /// host and restart agrees without coordination).
    pub fn takes(&self, symbol: &str) -> bool {
        let h = symbol
            .trim_end()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
            });
        h % self.of as u64 == self.index as u64
    }
}

/// Where an instrument's events go, decided when it is first seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// Left out by the symbol filter.
    Drop,
    /// Published under this id.
    As(u32),
}

/// A source with its books, read into numbered book events.
pub struct EventReader {
    source: Box<dyn Source>,
    books: Books,
    stats: FeedStats,
    levels: usize,
    symbols: Vec<String>,
    /// Ids to publish symbols as; empty: the source's own ids.
    ids: InstrumentMap,
    /// Only the instruments of this shard.
    shard: Option<Shard>,
    /// The next id for a symbol the map does not name.
    next_free_id: u32,
    /// Per source instrument id: its route.
    routes: Vec<Option<Route>>,
    next_seq: u64,
    filtered: u64,
    /// Per published id: the latest exchange time published (0: none yet).
    last_exchange_ns: Vec<u64>,
    /// Events whose exchange time went backwards for their instrument.
    out_of_order: u64,
}

impl EventReader {
    /// Events carry the top `levels` (1..=[`MAX_LEVELS`]) of each side; only
    /// instruments whose symbol is in `symbols` are published (all if empty).
    pub fn new(source: Box<dyn Source>, levels: usize, symbols: Vec<String>) -> Self {
        debug_assert!((1..=MAX_LEVELS).contains(&levels), "levels {levels}");
        EventReader {
            source,
            books: Books::default(),
            stats: FeedStats::default(),
            levels,
            symbols,
            ids: InstrumentMap::default(),
            shard: None,
            next_free_id: 0,
            routes: vec![None; MAX_INSTRUMENTS as usize],
            next_seq: 0,
            filtered: 0,
            last_exchange_ns: vec![0; MAX_INSTRUMENTS as usize],
            out_of_order: 0,
        }
    }

    /// Publishes each symbol the map names under its id, and the others
    /// under ids above the map's, in order of appearance.
    pub fn with_instrument_ids(mut self, ids: InstrumentMap) -> Self {
        self.next_free_id = ids.0.iter().map(|(_, i)| i + 1).max().unwrap_or(0);
        self.ids = ids;
        self
    }

    /// Publishes only the instruments of `shard` (with the symbol filter,
    /// if any, as well).
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = Some(shard);
        self
    }

    /// The route of source instrument `id`, decided now if it is new.
    fn route(&mut self, id: u32) -> Route {
        if let Some(r) = self.routes[id as usize] {
            return r;
        }
        let symbol = self.source.symbol(id);
        let listed =
            self.symbols.is_empty() || symbol.is_some_and(|s| self.symbols.iter().any(|w| w == s));
        let in_shard = self.shard.is_none_or(|sh| match symbol {
            Some(s) => sh.takes(s),
            None => id % sh.of == sh.index,
        });
        let wanted = listed && in_shard;
        let r = match (wanted, symbol.and_then(|s| self.ids.get(s))) {
            (false, _) => Route::Drop,
            (true, Some(mapped)) => Route::As(mapped),
            (true, None) if self.ids.0.is_empty() => Route::As(id),
            (true, None) => {
                let next = self.next_free_id;
                self.next_free_id = (next + 1).min(MAX_INSTRUMENTS - 1);
                Route::As(next)
            }
        };
        self.routes[id as usize] = Some(r);
        r
    }

    /// Reads input until it yields an event, a skip, idleness or the end.
    pub fn next(&mut self, out: &mut BookEvent) -> ReadStep {
        let ev = match self.source.next(&mut self.books, &mut self.stats) {
            Step::Event(ev) => ev,
            Step::Skip => return ReadStep::Skip,
            Step::Idle => return ReadStep::Idle,
            Step::End => return ReadStep::End,
        };
        let Route::As(id) = self.route(ev.instrument) else {
            self.filtered += 1;
            return ReadStep::Skip;
        };
        self.books.fill_event(&ev, self.levels, out);
        if ev.kind == EventKind::Order {
            self.source.fill_record(out);
        }
        out.instrument_id = id;
        out.trace.seq = self.next_seq;
        out.trace.stamps = [0; 4];
        self.flag_out_of_order(out);
        self.next_seq += 1;
        ReadStep::Event
    }

    /// Flags (and counts) an event whose exchange time is earlier than the
    /// latest published for its instrument; it is passed on as it came.
    fn flag_out_of_order(&mut self, out: &mut BookEvent) {
        let last = &mut self.last_exchange_ns[out.instrument_id as usize];
        if out.trace.exchange_ns < *last {
            out.trace.flags |= tickline_schema::Trace::OUT_OF_ORDER;
            self.out_of_order += 1;
        } else {
            *last = out.trace.exchange_ns;
        }
    }

    /// Events whose exchange time went backwards for their instrument
    /// (flagged [`tickline_schema::Trace::OUT_OF_ORDER`]).
    pub fn out_of_order(&self) -> u64 {
        self.out_of_order
    }

    /// Events numbered so far (the next event's sequence number).
    pub fn events(&self) -> u64 {
        self.next_seq
    }

    /// Events of instruments the symbol filter left out.
    pub fn filtered(&self) -> u64 {
        self.filtered
    }

    /// Input counters and errors by kind.
    pub fn stats(&self) -> &FeedStats {
        &self.stats
    }

    /// Whether the source's exchange times are on the epoch, comparable
    /// with receive times.
    pub fn epoch_times(&self) -> bool {
        self.source.epoch_times()
    }

    /// Input messages known lost in transport.
    pub fn lost_messages(&self) -> u64 {
        self.source.lost_messages()
    }

    /// Instruments published, by the id they are published as, and their
    /// symbols where the source knows them.
    pub fn instruments(&self) -> Vec<(u32, Option<&str>)> {
        let ids = self.books.instruments();
        let published = ids.filter_map(|i| match self.routes[i as usize] {
            Some(Route::As(id)) => Some((id, self.source.symbol(i))),
            _ => None,
        });
        let mut v: Vec<_> = published.collect();
        v.sort_unstable_by_key(|(id, _)| *id);
        v
    }

    /// See [`Source::yield_records`]: None if the source has none.
    pub fn yield_records(&mut self) -> Option<crate::Records> {
        self.source.yield_records()
    }

    /// The source's own checks and counts.
    pub fn checks(&self) -> Vec<(String, u64)> {
        self.source.checks()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(reader: &mut EventReader) -> Vec<u32> {
        let mut ev: BookEvent = bytemuck::Zeroable::zeroed();
        let mut ids = Vec::new();
        loop {
            match reader.next(&mut ev) {
                ReadStep::Event if !ids.contains(&ev.instrument_id) => ids.push(ev.instrument_id),
                ReadStep::End => return ids,
                _ => {}
            }
        }
    }

    fn reader(symbols: &[&str]) -> EventReader {
        let src = crate::open_source("synthetic:1:2000:4").unwrap();
        EventReader::new(src, 5, symbols.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn mapped_symbols_take_their_ids_and_the_others_follow_in_order_of_appearance() {
        let mut own = reader(&[]);
        let mut own_ids = published(&mut own);
        own_ids.sort_unstable();
        assert_eq!(own_ids.len(), 4);
        let map = InstrumentMap::parse(&["SYN2=40", "SYN0=9"]).unwrap();
        let mut mapped = reader(&[]).with_instrument_ids(map);
        let ids = published(&mut mapped);
        let by_symbol: Vec<_> = mapped.instruments();
        assert!(by_symbol.contains(&(40, Some("SYN2"))), "{by_symbol:?}");
        assert!(by_symbol.contains(&(9, Some("SYN0"))), "{by_symbol:?}");
        let mut rest: Vec<_> = ids.iter().filter(|i| **i != 40 && **i != 9).collect();
        rest.sort_unstable();
        assert_eq!(rest, vec![&41, &42], "unmapped symbols above the map's ids");
        // The filter and the map together.
        let map = InstrumentMap::parse(&["SYN1=3"]).unwrap();
        let mut one = reader(&["SYN1"]).with_instrument_ids(map);
        assert_eq!(published(&mut one), vec![3]);
        assert!(one.filtered() > 0);
    }

    #[test]
    fn a_map_that_is_not_one_to_one_is_refused() {
        use InstrumentMapError as E;
        assert_eq!(
            InstrumentMap::parse(&["A=1", "B=1"]),
            Err(E::Duplicate("id 1".into()))
        );
        assert_eq!(
            InstrumentMap::parse(&["A=1", "A=2"]),
            Err(E::Duplicate("symbol A".into()))
        );
        assert!(matches!(InstrumentMap::parse(&["A"]), Err(E::Syntax(_))));
        assert!(matches!(InstrumentMap::parse(&["=3"]), Err(E::Syntax(_))));
        assert!(matches!(
            InstrumentMap::parse(&["A=70000"]),
            Err(E::Range { .. })
        ));
    }
}
