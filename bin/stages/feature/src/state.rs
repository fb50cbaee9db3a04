//! Where the feature engine keeps its state: on the heap (offline
//! recording, or no `--state`), or in shared memory, one segment per
//! instrument named `<prefix>-<instrument>`, so a restarted stage continues
//! from the last event its predecessor applied.

use std::error::Error;

use tickline_features::{HeapStore, StateStore};
use tickline_shm::StateSegment;

/// Feature state in shared-memory segments.
pub struct ShmStore {
    prefix: String,
    segments: Vec<Option<StateSegment>>,
    /// Instruments whose state a predecessor left.
    pub resumed: u64,
}

impl ShmStore {
    /// Attaches to every instrument's state under `prefix` that a
    /// predecessor left (at start, off the hot path); others are created
    /// at their first event.
    pub fn open(prefix: &str, words: usize) -> anyhow::Result<Self> {
        let mut store = ShmStore {
            prefix: prefix.to_owned(),
            segments: Vec::new(),
            resumed: 0,
        };
        let dash = format!("{prefix}-");
        for name in tickline_shm::list(&dash)? {
            let Ok(id) = name[dash.len()..].parse::<u32>() else {
                continue;
            };
            store.attach(id, words)?;
            store.resumed += 1;
        }
        Ok(store)
    }

    fn attach(&mut self, instrument: u32, words: usize) -> Result<(), tickline_shm::QueueError> {
        let i = instrument as usize;
        if i >= self.segments.len() {
            self.segments.resize_with(i + 1, || None);
        }
        let name = format!("{}-{instrument}", self.prefix);
        self.segments[i] = Some(StateSegment::open_or_create(&name, words)?.0);
        Ok(())
    }
}

impl StateStore for ShmStore {
    fn persistent(&self) -> bool {
        true
    }

    fn block(
        &mut self,
        instrument: u32,
        words: usize,
    ) -> Result<&mut [u64], Box<dyn Error + Send + Sync>> {
        let i = instrument as usize;
        if self.segments.get(i).is_none_or(Option::is_none) {
            // An instrument's first event: one segment, mapped lazily.
            self.attach(instrument, words)?;
        }
        Ok(self.segments[i].as_mut().expect("attached").words())
    }

    fn instruments(&self) -> Vec<u32> {
        tickline_features::filled_slots(&self.segments)
    }
}

/// The store a run uses.
pub enum Store {
    /// State lives and dies with the process.
    Heap(HeapStore),
    /// State outlives the process.
    Shm(ShmStore),
}

impl StateStore for Store {
    fn persistent(&self) -> bool {
        matches!(self, Store::Shm(_))
    }

    fn block(
        &mut self,
        instrument: u32,
        words: usize,
    ) -> Result<&mut [u64], Box<dyn Error + Send + Sync>> {
        match self {
            Store::Heap(s) => s.block(instrument, words),
            Store::Shm(s) => s.block(instrument, words),
        }
    }

    fn instruments(&self) -> Vec<u32> {
        match self {
            Store::Heap(s) => s.instruments(),
            Store::Shm(s) => s.instruments(),
        }
    }
}
