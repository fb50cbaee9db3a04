//! The venue's inputs, written before the venue takes them, so that a venue
//! killed at any point is rebuilt by taking them again (its engine gives the
//! same reports for the same inputs). A record is a tag, the message's
//! position in its queue, and the message's bytes; the file starts with the
//! creation times of the two queues, so a log of another run is not taken.
//! Written in batches (see `input.rs`), never a write per message.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use tickline_schema::{BookEvent, Order};

const MAGIC: &[u8; 8] = b"TLVSIN01";
const BOOK: u8 = b'B';
const ORDER: u8 = b'O';

/// A logged input.
pub enum Input {
    /// A market event (boxed: read once, at start).
    Book(Box<BookEvent>),
    /// A message of the order queue.
    Order(Order),
}

/// What a predecessor logged.
pub struct Logged {
    /// Its inputs, in the order it took them.
    pub inputs: Vec<Input>,
    /// Positions in the queues past the last logged message.
    pub next_book: u64,
    /// See `next_book`.
    pub next_order: u64,
    /// Bytes of records logged twice, left out.
    dropped_bytes: usize,
}

/// The open log.
pub struct InputLog {
    w: BufWriter<File>,
}

fn header(book_created: u64, orders_created: u64) -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    h.extend(book_created.to_le_bytes());
    h.extend(orders_created.to_le_bytes());
    h
}

/// The records of `bytes` (after the header), up to a torn tail.
fn parse(mut bytes: &[u8]) -> Logged {
    let mut logged = Logged {
        inputs: Vec::new(),
        next_book: 0,
        next_order: 0,
        dropped_bytes: 0,
    };
    let (nb, no) = (size_of::<BookEvent>(), size_of::<Order>());
    while let Some((&tag, rest)) = bytes.split_first() {
        let len = if tag == BOOK { nb } else { no };
        if rest.len() < 8 + len || (tag != BOOK && tag != ORDER) {
            break;
        }
        let pos = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        let body = &rest[8..8 + len];
        // A batch read again after a stop is logged again: once is enough.
        let seen = if tag == BOOK {
            logged.next_book
        } else {
            logged.next_order
        };
        if pos < seen {
            bytes = &rest[8 + len..];
            logged.dropped_bytes += 9 + len;
            continue;
        }
        if tag == BOOK {
            logged
                .inputs
                .push(Input::Book(Box::new(bytemuck::pod_read_unaligned(body))));
            logged.next_book = pos + 1;
        } else {
            logged
                .inputs
                .push(Input::Order(bytemuck::pod_read_unaligned(body)));
            logged.next_order = pos + 1;
        }
        bytes = &rest[8 + len..];
    }
    logged
}

impl InputLog {
    /// Opens `path`: what a predecessor of this run logged, and the log to
    /// go on with (a log of other queues is started anew).
    pub fn open(path: &Path, book_created: u64, orders_created: u64) -> Result<(Self, Logged)> {
        let head = header(book_created, orders_created);
        let mut bytes = Vec::new();
        if let Ok(mut f) = File::open(path) {
            f.read_to_end(&mut bytes)
                .with_context(|| format!("reading {}", path.display()))?;
        }
        let ours = bytes.starts_with(&head);
        let logged = parse(if ours { &bytes[head.len()..] } else { &[] });
        let f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(!ours)
            .open(path);
        let f = f.with_context(|| format!("opening {}", path.display()))?;
        let mut log = InputLog {
            w: BufWriter::with_capacity(1 << 16, f),
        };
        if ours {
            // Cut a torn record so that what follows starts on a boundary.
            let good = head.len() + logged_len(&logged);
            log.w.get_ref().set_len(good as u64)?;
            log.w.seek_end()?;
        } else {
            log.w.write_all(&head)?;
        }
        Ok((log, logged))
    }

    /// Logs a market event at `pos` of its queue.
    pub fn book(&mut self, pos: u64, e: &BookEvent) -> std::io::Result<()> {
        self.record(BOOK, pos, bytemuck::bytes_of(e))
    }

    /// Logs an order-queue message at `pos`.
    pub fn order(&mut self, pos: u64, o: &Order) -> std::io::Result<()> {
        self.record(ORDER, pos, bytemuck::bytes_of(o))
    }

    fn record(&mut self, tag: u8, pos: u64, body: &[u8]) -> std::io::Result<()> {
        self.w.write_all(&[tag])?;
        self.w.write_all(&pos.to_le_bytes())?;
        self.w.write_all(body)
    }

    /// On the file (the page cache survives a kill) before the inputs are taken.
    pub fn flush_io(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

fn logged_len(l: &Logged) -> usize {
    l.dropped_bytes
        + l.inputs
            .iter()
            .map(|i| match i {
                Input::Book(_) => 9 + size_of::<BookEvent>(),
                Input::Order(_) => 9 + size_of::<Order>(),
            })
            .sum::<usize>()
}

trait SeekEnd {
    fn seek_end(&mut self) -> std::io::Result<()>;
}

impl SeekEnd for BufWriter<File> {
    fn seek_end(&mut self) -> std::io::Result<()> {
        use std::io::Seek;
        self.seek(std::io::SeekFrom::End(0)).map(drop)
    }
}
