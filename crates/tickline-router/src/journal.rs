//! Append-only journal: every order (written before it leaves), every
//! execution and every stale-signal reject, with the upstream sequence
//! number that caused it. One text
//! line per record with a checksum. It never forgets: on reopening, an
//! unfinished last line (a write cut short by kill -9 or power loss) is cut,
//! and any other damage is refused with its line and byte offset, the file
//! left untouched.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tickline_schema::{Side, TimeInForce};

use crate::gateway::{Exec, Touch};
use crate::order::{Fill, OrderRequest};
use crate::risk::Reject;

/// When appended records are forced to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fdatasync after every record: survives power loss.
    Always,
    /// fdatasync every N records, by a helper thread: records reach the page
    /// cache (and survive the process) before their orders leave; the disk
    /// flush never stalls the router.
    Every(u32),
    /// Leave it to the kernel: survives the process dying, not the machine.
    Never,
}

/// An fsync policy that does not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad fsync policy {0:?}: always, never or every:N")]
pub struct BadFsyncPolicy(pub String);

impl FromStr for FsyncPolicy {
    type Err = BadFsyncPolicy;
    fn from_str(s: &str) -> Result<Self, BadFsyncPolicy> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            _ => s
                .strip_prefix("every:")
                .and_then(|n| n.parse().ok())
                .filter(|n| *n > 0)
                .map(FsyncPolicy::Every)
                .ok_or_else(|| BadFsyncPolicy(s.to_owned())),
        }
    }
}

/// One journal line. Its text form (written, parsed and checked here) is
/// the journal; its serialized form (fixed-point values as written) is what
/// `tickline-journal dump --json` prints.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Record {
    /// `mark`: the instrument's mid when the record was made (risk marks
    /// other instruments with it, so a restart rebuilds the same marks).
    Order {
        /// The prediction's sequence number.
        seq: u64,
        /// The order.
        req: OrderRequest,
        /// The probability it was decided on.
        prob_up: f64,
        /// The mid when recorded.
        mark: i64,
        /// Exchange time.
        ts: u64,
        /// The touch it was sent into: what a paper venue matches it
        /// against on arrival, re-run by a reconcile after a restart.
        /// Zero in journals of older builds.
        touch: Touch,
    },
    /// What the venue did with an order.
    Exec {
        /// The prediction's sequence number.
        seq: u64,
        /// The execution.
        exec: Exec,
        /// The mid when recorded.
        mark: i64,
        /// Exchange time.
        ts: u64,
    },
    /// A decision refused because its signal was stale: it depends on
    /// timing, so a restart must not decide it again (other rejects follow
    /// from the journal and the input, and are only counted).
    Reject {
        /// The prediction's sequence number.
        seq: u64,
        /// Why.
        reason: Reject,
        /// The instrument.
        instrument_id: u32,
        /// The mid when recorded.
        mark: i64,
        /// Exchange time.
        ts: u64,
        /// The signal's age at the decision, monotonic ns (0: not measured,
        /// the guard off).
        age_ns: u64,
    },
}

impl Record {
    /// The sequence number of the prediction it belongs to.
    pub fn seq(&self) -> u64 {
        match *self {
            Record::Order { seq, .. } | Record::Exec { seq, .. } | Record::Reject { seq, .. } => {
                seq
            }
        }
    }
}

fn fnv32(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

fn side_char(s: Side) -> char {
    match s {
        Side::Buy => 'B',
        Side::Sell => 'S',
    }
}

fn write_record(buf: &mut String, r: &Record) {
    buf.clear();
    let _ = match *r {
        Record::Order {
            seq,
            req,
            prob_up,
            mark,
            ts,
            touch,
        } => write!(
            buf,
            "O|{seq}|{}|{}|{}|{}|{}|{}|{:016x}|{mark}|{ts}|{}|{}",
            req.client_order_id,
            req.instrument_id,
            side_char(req.side),
            req.price,
            req.qty,
            req.tif as u8,
            prob_up.to_bits(),
            touch.bid,
            touch.ask
        ),
        Record::Exec {
            seq,
            exec: Exec::Fill(f),
            mark,
            ts,
        } => write!(
            buf,
            "F|{seq}|{}|{}|{}|{}|{}|{mark}|{ts}",
            f.client_order_id,
            f.instrument_id,
            side_char(f.side),
            f.price,
            f.qty
        ),
        Record::Exec {
            seq,
            exec: Exec::Done(id),
            mark,
            ts,
        } => write!(buf, "D|{seq}|{id}|{mark}|{ts}"),
        Record::Exec {
            seq,
            exec: Exec::Rested(id),
            mark,
            ts,
        } => write!(buf, "R|{seq}|{id}|{mark}|{ts}"),
        Record::Reject {
            seq,
            reason,
            instrument_id,
            mark,
            ts,
            age_ns,
        } => write!(
            buf,
            "X|{seq}|{}|{instrument_id}|{mark}|{ts}|{age_ns}",
            reason.name()
        ),
    };
    let crc = fnv32(buf);
    let _ = writeln!(buf, "|{crc:08x}");
}

/// A line (without its newline) as a record, or why it is not one.
pub fn parse_record(line: &str) -> Result<Record, &'static str> {
    let (body, crc) = line.rsplit_once('|').ok_or("no checksum field")?;
    let crc = u32::from_str_radix(crc, 16).map_err(|_| "checksum field is not hex")?;
    if crc != fnv32(body) {
        return Err("checksum mismatch");
    }
    parse_body(body).ok_or("checksum matches but the fields do not parse")
}

fn parse_body(body: &str) -> Option<Record> {
    let f: Vec<&str> = body.split('|').collect();
    let num = |i: usize| f.get(i)?.parse::<u64>().ok();
    let int = |i: usize| f.get(i)?.parse::<i64>().ok();
    let side = |i: usize| match *f.get(i)? {
        "B" => Some(Side::Buy),
        "S" => Some(Side::Sell),
        _ => None,
    };
    Some(match *f.first()? {
        "O" => Record::Order {
            seq: num(1)?,
            req: OrderRequest {
                client_order_id: num(2)?,
                instrument_id: num(3)? as u32,
                side: side(4)?,
                price: int(5)?,
                qty: int(6)?,
                tif: TimeInForce::try_from(num(7)? as u8).ok()?,
            },
            prob_up: f64::from_bits(u64::from_str_radix(f.get(8)?, 16).ok()?),
            mark: int(9)?,
            ts: num(10)?,
            // Absent (older builds): unknown, zero.
            touch: match f.len() {
                11 => Touch::default(),
                13 => Touch {
                    bid: int(11)?,
                    ask: int(12)?,
                },
                _ => return None,
            },
        },
        "F" => Record::Exec {
            seq: num(1)?,
            exec: Exec::Fill(Fill {
                client_order_id: num(2)?,
                instrument_id: num(3)? as u32,
                side: side(4)?,
                price: int(5)?,
                qty: int(6)?,
            }),
            mark: int(7)?,
            ts: num(8)?,
        },
        "D" => Record::Exec {
            seq: num(1)?,
            exec: Exec::Done(num(2)?),
            mark: int(3)?,
            ts: num(4)?,
        },
        "R" => Record::Exec {
            seq: num(1)?,
            exec: Exec::Rested(num(2)?),
            mark: int(3)?,
            ts: num(4)?,
        },
        "X" if f.len() == 7 => Record::Reject {
            seq: num(1)?,
            reason: Reject::from_name(f.get(2)?)?,
            instrument_id: u32::try_from(num(3)?).ok()?,
            mark: int(4)?,
            ts: num(5)?,
            age_ns: num(6)?,
        },
        _ => return None,
    })
}

/// A helper thread that runs fdatasync when asked, at idle priority.
struct Syncer {
    wanted: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    failure: Arc<Mutex<Option<io::Error>>>,
    failed: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    fn spawn(file: File) -> io::Result<Self> {
        let (wanted, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let failure = Arc::new(Mutex::new(None));
        let failed = Arc::new(AtomicBool::new(false));
        let (w, s, fl, fd) = (
            wanted.clone(),
            stop.clone(),
            failure.clone(),
            failed.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("journal-sync".into())
            .spawn(move || {
                let _ = tickline_sched::demote_current_thread();
                loop {
                    std::thread::park_timeout(std::time::Duration::from_millis(100));
                    let stopping = s.load(Ordering::Acquire);
                    if w.swap(false, Ordering::AcqRel) || stopping {
                        if let Err(e) = file.sync_data() {
                            *fl.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                            fd.store(true, Ordering::Release);
                        }
                    }
                    if stopping {
                        return;
                    }
                }
            })?;
        Ok(Syncer {
            wanted,
            stop,
            failure,
            failed,
            thread: Some(thread),
        })
    }

    /// Asks for a flush; a syscall only if the thread sleeps.
    fn request(&self) {
        self.wanted.store(true, Ordering::Release);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// The error of a failed background flush, once.
    fn take_failure(&self) -> Option<io::Error> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.failed.store(false, Ordering::Release);
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// The append-only order log: checksummed lines, written before orders leave.
pub struct Journal {
    file: File,
    policy: FsyncPolicy,
    syncer: Option<Syncer>,
    unsynced: u32,
    buf: String,
    pending: Vec<u8>,
    pending_records: u32,
}

/// What reopening found.
pub struct Recovered {
    /// The records read at open.
    pub records: Vec<Record>,
    /// Bytes of a torn tail (an unfinished last line) that were cut off.
    pub truncated_bytes: u64,
}

/// A record that cannot be read, where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// Line number, from 1.
    pub line: u64,
    /// Byte offset of the line's start.
    pub offset: u64,
    /// What is wrong with it.
    pub reason: &'static str,
    /// Intact records after it.
    pub intact_after: u64,
}

/// A journal read whole: its records, where each starts, and the torn tail.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scan {
    /// Records in order.
    pub records: Vec<Record>,
    /// Byte offset of each record's line.
    pub offsets: Vec<u64>,
    /// Bytes up to the end of the last complete record.
    pub good_len: u64,
    /// Bytes after it: an unfinished last line (a write cut short).
    pub torn_bytes: u64,
}

/// Why a journal cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing it failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// A complete record is damaged: the journal is not cut, since that
    /// would forget it and every record after it.
    #[error(
        "journal {path} is corrupt at line {line} (byte offset {offset}): {reason}; {intact_after} \
         intact records follow it. Refusing to start and leaving the file untouched: only an \
         unfinished last line is ever cut. Inspect it with `tickline-journal \
         verify {path}`"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// Line number, from 1.
        line: u64,
        /// Byte offset of the line.
        offset: u64,
        /// What is wrong with it.
        reason: &'static str,
        /// Intact records after it.
        intact_after: u64,
    },
}

impl JournalError {
    fn io(path: &Path, source: io::Error) -> Self {
        JournalError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    fn corrupt(path: &Path, c: Corruption) -> Self {
        JournalError::Corrupt {
            path: path.display().to_string(),
            line: c.line,
            offset: c.offset,
            reason: c.reason,
            intact_after: c.intact_after,
        }
    }
}

/// Reads a journal's bytes. Every complete line (ending in a newline) must
/// be an intact record; only the bytes after the last newline (a write cut
/// short by a kill or power loss) may be unreadable, and are the torn tail.
pub fn scan(raw: &[u8]) -> Result<Scan, Corruption> {
    let mut scan = Scan::default();
    let mut bad: Option<Corruption> = None;
    let (mut offset, mut line) = (0usize, 0u64);
    while let Some(n) = raw[offset..].iter().position(|b| *b == b'\n') {
        line += 1;
        let bytes = &raw[offset..offset + n];
        match (std::str::from_utf8(bytes).ok(), &mut bad) {
            (Some(text), None) => match parse_record(text) {
                Ok(r) => {
                    scan.records.push(r);
                    scan.offsets.push(offset as u64);
                }
                Err(reason) => {
                    bad = Some(Corruption {
                        line,
                        offset: offset as u64,
                        reason,
                        intact_after: 0,
                    })
                }
            },
            (None, None) => {
                bad = Some(Corruption {
                    line,
                    offset: offset as u64,
                    reason: "not UTF-8 text",
                    intact_after: 0,
                })
            }
            (text, Some(c)) => {
                c.intact_after += text.is_some_and(|t| parse_record(t).is_ok()) as u64;
            }
        }
        offset += n + 1;
    }
    if let Some(c) = bad {
        return Err(c);
    }
    scan.good_len = offset as u64;
    scan.torn_bytes = (raw.len() - offset) as u64;
    Ok(scan)
}

/// Reads and checks the journal at `path`, changing nothing.
pub fn verify(path: &Path) -> Result<Scan, JournalError> {
    let raw = std::fs::read(path).map_err(|e| JournalError::io(path, e))?;
    scan(&raw).map_err(|c| JournalError::corrupt(path, c))
}

impl Journal {
    /// Opens (creating) the journal and reads back every record. A torn
    /// tail (an unfinished last line) is cut, so appends continue after the
    /// last record; any damaged complete record is refused, the file left
    /// as it is.
    pub fn open(path: &Path, policy: FsyncPolicy) -> Result<(Journal, Recovered), JournalError> {
        let io = |e| JournalError::io(path, e);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut raw = Vec::new();
        file.read_to_end(&mut raw).map_err(io)?;
        let scan = scan(&raw).map_err(|c| JournalError::corrupt(path, c))?;
        if scan.torn_bytes > 0 {
            file.set_len(scan.good_len).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        let syncer = match policy {
            FsyncPolicy::Every(_) => {
                Some(Syncer::spawn(file.try_clone().map_err(io)?).map_err(io)?)
            }
            _ => None,
        };
        let j = Journal {
            file,
            policy,
            syncer,
            unsynced: 0,
            pending: Vec::with_capacity(4096),
            pending_records: 0,
            buf: String::with_capacity(256),
        };
        Ok((
            j,
            Recovered {
                records: scan.records,
                truncated_bytes: scan.torn_bytes,
            },
        ))
    }

    /// Adds a record to the pending group; nothing reaches the file until
    /// [`Journal::commit`].
    pub fn append(&mut self, r: &Record) -> io::Result<()> {
        write_record(&mut self.buf, r);
        self.pending.extend_from_slice(self.buf.as_bytes());
        self.pending_records += 1;
        Ok(())
    }

    /// Writes the pending group with one write, so a kill leaves a group
    /// whole or (torn last line aside) absent, never half of one
    /// prediction's records.
    pub fn commit(&mut self) -> io::Result<()> {
        if let Some(e) = self.syncer.as_ref().and_then(Syncer::take_failure) {
            return Err(e);
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.pending)?;
        self.pending.clear();
        self.unsynced += self.pending_records;
        self.pending_records = 0;
        match (self.policy, &self.syncer) {
            (FsyncPolicy::Always, _) => {
                self.file.sync_data()?;
                self.unsynced = 0;
            }
            (FsyncPolicy::Every(n), Some(s)) if self.unsynced >= n => {
                s.request();
                self.unsynced = 0;
            }
            _ => {}
        }
        Ok(())
    }

    /// Forces appended records to disk.
    pub fn sync(&mut self) -> io::Result<()> {
        self.commit()?;
        self.unsynced = 0;
        self.file.sync_data()
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.commit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_cut() {
        let dir = std::env::temp_dir().join(format!("tickline-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j.log");
        let _ = std::fs::remove_file(&path);
        let req = OrderRequest::new(7, 2, Side::Sell, 12_345, 300, 100, TimeInForce::Day).unwrap();
        let recs = [
            Record::Order {
                seq: 10,
                req,
                prob_up: 0.37,
                mark: 12_340,
                ts: 99,
                touch: Touch {
                    bid: 12_335,
                    ask: 12_345,
                },
            },
            Record::Exec {
                seq: 11,
                exec: Exec::Rested(7),
                mark: 0,
                ts: 100,
            },
            Record::Exec {
                seq: 12,
                exec: Exec::Fill(Fill {
                    client_order_id: 7,
                    instrument_id: 2,
                    side: Side::Sell,
                    price: 12_345,
                    qty: 300,
                }),
                mark: 12_342,
                ts: 101,
            },
            Record::Exec {
                seq: 13,
                exec: Exec::Done(8),
                mark: 0,
                ts: 102,
            },
            Record::Reject {
                seq: 14,
                reason: Reject::StaleSignal,
                instrument_id: 2,
                mark: 12_341,
                ts: 103,
                age_ns: 20_345_678,
            },
        ];
        {
            let (mut j, rec) = Journal::open(&path, FsyncPolicy::Always).unwrap();
            assert!(rec.records.is_empty());
            for r in &recs {
                j.append(r).unwrap();
            }
        }
        // A kill -9 halfway through the next record.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"F|15|7|2|S|12").unwrap();
        drop(f);
        let (mut j, rec) = Journal::open(&path, FsyncPolicy::Never).unwrap();
        assert_eq!(rec.records, recs);
        assert_eq!(rec.truncated_bytes, 13);
        j.append(&Record::Exec {
            seq: 15,
            exec: Exec::Done(9),
            mark: 0,
            ts: 103,
        })
        .unwrap();
        drop(j);
        let (_, rec) = Journal::open(&path, FsyncPolicy::Never).unwrap();
        assert_eq!(rec.records.len(), recs.len() + 1);
        // A corrupted byte inside a record followed by others: refused at
        // its line, the file untouched.
        let mut bytes = std::fs::read(&path).unwrap();
        let second = bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
        bytes[second + 3] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        match Journal::open(&path, FsyncPolicy::Never) {
            Err(JournalError::Corrupt {
                line,
                offset,
                intact_after,
                ..
            }) => assert_eq!((line, offset, intact_after), (2, second as u64, 4)),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a corrupt journal was opened"),
        }
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "left untouched");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!("every:8".parse::<FsyncPolicy>(), Ok(FsyncPolicy::Every(8)));
        // An order line of an older build (no touch) still reads.
        let mut new = String::new();
        write_record(&mut new, &recs[0]);
        let fields: Vec<&str> = new.trim_end().split('|').collect();
        let old = fields[..11].join("|");
        let line = format!("{old}|{:08x}", fnv32(&old));
        match parse_record(&line) {
            Ok(Record::Order { touch, seq: 10, .. }) => assert_eq!(touch, Touch::default()),
            other => panic!("{other:?}"),
        }
        assert!("sometimes".parse::<FsyncPolicy>().is_err());
    }
}
