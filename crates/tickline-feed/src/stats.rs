//! Counters of what a source met, and log-once reporting of each error kind.

/// Kinds of bad or surprising input. Each is counted; none stops a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum FeedError {
    /// A message cut short (end of input or length prefix too small).
    Truncated,
    /// A message type this source does not know.
    UnknownType,
    /// Length prefix disagrees with the message type's fixed length.
    BadLength,
    /// Zero, negative or out-of-range price or quantity.
    BadValue,
    /// Side code that is neither buy nor sell.
    BadSide,
    /// Reference to an order the book does not hold.
    UnknownOrder,
    /// An add for an order reference already resting.
    DuplicateOrder,
    /// Execution or cancel larger than the order.
    Overfill,
    /// Best bid at or above best ask after an update.
    Crossed,
    /// A sequence gap (missed packets or updates).
    Gap,
    /// A text record that does not parse.
    BadRecord,
    /// The book differed from a reference snapshot and was rebuilt from it.
    Resync,
}

impl FeedError {
    /// Every kind, in counter order.
    pub const ALL: [FeedError; 12] = [
        FeedError::Truncated,
        FeedError::UnknownType,
        FeedError::BadLength,
        FeedError::BadValue,
        FeedError::BadSide,
        FeedError::UnknownOrder,
        FeedError::DuplicateOrder,
        FeedError::Overfill,
        FeedError::Crossed,
        FeedError::Gap,
        FeedError::BadRecord,
        FeedError::Resync,
    ];

    /// Whether this kind says the stream disagrees with the book built from
    /// it (an order it never added, a crossed top), rather than that the
    /// input is malformed. A capture that starts mid-session references
    /// orders added before it, so these are reported apart from errors.
    pub fn is_book_check(self) -> bool {
        matches!(
            self,
            FeedError::UnknownOrder
                | FeedError::DuplicateOrder
                | FeedError::Overfill
                | FeedError::Crossed
        )
    }

    /// Its name in summaries.
    pub fn name(self) -> &'static str {
        match self {
            FeedError::Truncated => "truncated",
            FeedError::UnknownType => "unknown_type",
            FeedError::BadLength => "bad_length",
            FeedError::BadValue => "bad_value",
            FeedError::BadSide => "bad_side",
            FeedError::UnknownOrder => "unknown_order",
            FeedError::DuplicateOrder => "duplicate_order",
            FeedError::Overfill => "overfill",
            FeedError::Crossed => "crossed",
            FeedError::Gap => "gap",
            FeedError::BadRecord => "bad_record",
            FeedError::Resync => "resync",
        }
    }
}

/// What a source has read so far.
#[derive(Clone, Debug)]
pub struct FeedStats {
    /// Input messages read, good or bad.
    pub messages: u64,
    /// Messages per type code (ITCH type byte, LOBSTER event type, ...).
    pub by_type: [u64; 256],
    /// Errors by kind, indexed by [`FeedError`].
    pub errors: [u64; FeedError::ALL.len()],
    /// Whether each error kind was logged already (log once per kind).
    logged: u32,
}

impl Default for FeedStats {
    fn default() -> Self {
        FeedStats {
            messages: 0,
            by_type: [0; 256],
            errors: [0; FeedError::ALL.len()],
            logged: 0,
        }
    }
}

impl From<tickline_book::BookError> for FeedError {
    fn from(e: tickline_book::BookError) -> Self {
        use tickline_book::BookError as B;
        match e {
            B::UnknownOrder => FeedError::UnknownOrder,
            B::DuplicateOrder => FeedError::DuplicateOrder,
            B::Overfill => FeedError::Overfill,
            B::BadValue | B::Level(_) => FeedError::BadValue,
        }
    }
}

impl FeedStats {
    /// Counts without logging: for benchmarks and bulk tools.
    pub fn quiet() -> Self {
        FeedStats {
            logged: u32::MAX,
            ..Default::default()
        }
    }

    /// Counts an error; the first of each kind is reported on stderr with `detail`.
    #[cold]
    pub fn error(&mut self, kind: FeedError, detail: std::fmt::Arguments<'_>) {
        self.errors[kind as usize] += 1;
        let bit = 1u32 << kind as u32;
        if self.logged & bit == 0 {
            self.logged |= bit;
            eprintln!(
                "feed: {} at message {}: {detail} (further ones are counted, not logged)",
                kind.name(),
                self.messages
            );
        }
    }

    /// Errors of one kind.
    pub fn count(&self, kind: FeedError) -> u64 {
        self.errors[kind as usize]
    }

    /// Non-zero counters of malformed or lost input, by name.
    pub fn error_counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counts(false)
    }

    /// Non-zero counters of the stream disagreeing with its book, by name
    /// (see [`FeedError::is_book_check`]).
    pub fn book_check_counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counts(true)
    }

    fn counts(&self, book_checks: bool) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        FeedError::ALL
            .iter()
            .filter(move |k| k.is_book_check() == book_checks)
            .map(|k| (k.name(), self.errors[*k as usize]))
            .filter(|(_, n)| *n > 0)
    }
}
