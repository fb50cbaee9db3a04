//! From a [`Source`] to numbered [`BookEvent`]s: books, symbol filter, levels
//! and sequence numbers in one place, shared by the feed-handler and by the
//! feature stage's in-process (training) mode.

use tickline_schema::{BookEvent, MAX_LEVELS};

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

/// A source with its books, read into numbered book events.
pub struct EventReader {
    source: Box<dyn Source>,
    books: Books,
    stats: FeedStats,
    levels: usize,
    symbols: Vec<String>,
    /// Per instrument: the filter's decision, made when it is first seen.
    allowed: Vec<Option<bool>>,
    next_seq: u64,
    filtered: u64,
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
            allowed: vec![None; MAX_INSTRUMENTS as usize],
            next_seq: 0,
            filtered: 0,
        }
    }

    /// Reads input until it yields an event, a skip, idleness or the end.
    pub fn next(&mut self, out: &mut BookEvent) -> ReadStep {
        let ev = match self.source.next(&mut self.books, &mut self.stats) {
            Step::Event(ev) => ev,
            Step::Skip => return ReadStep::Skip,
            Step::Idle => return ReadStep::Idle,
            Step::End => return ReadStep::End,
        };
        let (symbols, source) = (&self.symbols, &self.source);
        let ok = *self.allowed[ev.instrument as usize].get_or_insert_with(|| {
            symbols.is_empty()
                || source
                    .symbol(ev.instrument)
                    .is_some_and(|s| symbols.iter().any(|w| w == s))
        });
        if !ok {
            self.filtered += 1;
            return ReadStep::Skip;
        }
        self.books.fill_event(&ev, self.levels, out);
        out.trace.seq = self.next_seq;
        out.trace.stamps = [0; 4];
        self.next_seq += 1;
        ReadStep::Event
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

    /// Input messages known lost in transport.
    pub fn lost_messages(&self) -> u64 {
        self.source.lost_messages()
    }

    /// Instruments with a book, and their symbols where the source knows them.
    pub fn instruments(&self) -> Vec<(u32, Option<&str>)> {
        let ids = self.books.instruments();
        ids.map(|i| (i, self.source.symbol(i))).collect()
    }

    /// The source's own checks and counts.
    pub fn checks(&self) -> Vec<(String, u64)> {
        self.source.checks()
    }
}
