//! What a FIX session must remember across restarts: the next sequence
//! number each way, an epoch that makes ClOrdIDs unique across fresh
//! stores, and every application message sent, so a ResendRequest can be
//! answered. Kept in a directory beside the order journal: `seqnums`
//! (rewritten in place) and `sent` (appended, `seq len\n<message>\n`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::FixError;

/// A session's persisted state.
pub struct Store {
    dir: PathBuf,
    seqnums: File,
    sent: File,
    /// (sequence number, offset of the message in `sent`, length).
    index: Index,
    sent_len: u64,
    next_out: u64,
    next_in: u64,
    epoch: u64,
    /// Reused for every record written, so a message allocates nothing.
    scratch: Vec<u8>,
}

fn io(dir: &Path, what: &str, e: std::io::Error) -> FixError {
    FixError::Store(format!("{}/{what}: {e}", dir.display()))
}

impl Store {
    /// Opens (or creates, mode 0600) the store in `dir`; a new store starts
    /// at sequence number 1 both ways with a new epoch.
    pub fn open(dir: &Path) -> Result<Store, FixError> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, "", e))?;
        let open = |name: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(dir.join(name))
                .map_err(|e| io(dir, name, e))
        };
        let mut seqnums = open("seqnums")?;
        let mut text = String::new();
        seqnums
            .read_to_string(&mut text)
            .map_err(|e| io(dir, "seqnums", e))?;
        let nums: Option<Vec<u64>> = text.split_whitespace().map(|t| t.parse().ok()).collect();
        let (next_out, next_in, epoch) = match nums.as_deref() {
            Some(&[o, i, e]) if o > 0 && i > 0 => (o, i, e),
            Some([]) => (1, 1, now_epoch()),
            _ => {
                return Err(FixError::Store(format!(
                    "{}/seqnums is not `next_out next_in epoch`: {text:?}",
                    dir.display()
                )))
            }
        };
        let mut sent = open("sent")?;
        let (index, sent_len) = read_index(&mut sent, dir)?;
        let mut s = Store {
            dir: dir.to_owned(),
            seqnums,
            sent,
            index,
            sent_len,
            next_out,
            next_in,
            epoch,
            scratch: Vec::with_capacity(4096),
        };
        s.save()?;
        Ok(s)
    }

    /// The next sequence number to send.
    pub fn next_out(&self) -> u64 {
        self.next_out
    }

    /// The next sequence number expected.
    pub fn next_in(&self) -> u64 {
        self.next_in
    }

    /// Distinguishes this store's ClOrdIDs from an earlier store's.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Both numbers back to 1 (a logon that resets them); the epoch and
    /// the messages kept stay.
    pub fn reset(&mut self) -> Result<(), FixError> {
        self.next_out = 1;
        self.next_in = 1;
        self.index.clear();
        self.save()
    }

    /// The next expected inbound number is now `n`.
    pub fn set_next_in(&mut self, n: u64) -> Result<(), FixError> {
        self.next_in = n;
        self.save()
    }

    /// An admin message went out with the current number.
    pub fn sent_admin(&mut self) -> Result<(), FixError> {
        self.next_out += 1;
        self.save()
    }

    /// An application message went out: kept for resends, number advanced.
    pub fn sent_app(&mut self, seq: u64, raw: &[u8]) -> Result<(), FixError> {
        debug_assert_eq!(seq, self.next_out);
        let rec = &mut self.scratch;
        rec.clear();
        let _ = writeln!(rec, "{seq} {}", raw.len());
        let at = self.sent_len + rec.len() as u64;
        rec.extend_from_slice(raw);
        rec.push(b'\n');
        self.sent
            .write_all(rec)
            .map_err(|e| io(&self.dir, "sent", e))?;
        self.sent_len += rec.len() as u64;
        self.index.push((seq, at, raw.len()));
        self.next_out += 1;
        self.save()
    }

    /// Application messages sent with numbers in `from..=to`, in order.
    pub fn sent_between(&self, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, FixError> {
        let mut out = Vec::new();
        for &(seq, at, len) in self.index.iter().filter(|(s, ..)| (from..=to).contains(s)) {
            let mut buf = vec![0; len];
            self.sent
                .read_exact_at(&mut buf, at)
                .map_err(|e| io(&self.dir, "sent", e))?;
            out.push((seq, buf));
        }
        Ok(out)
    }

    fn save(&mut self) -> Result<(), FixError> {
        // Fixed width, so a rewrite never leaves a longer old tail behind.
        let text = &mut self.scratch;
        text.clear();
        let _ = writeln!(
            text,
            "{:020} {:020} {:020}",
            self.next_out, self.next_in, self.epoch
        );
        self.seqnums
            .write_all_at(text, 0)
            .map_err(|e| io(&self.dir, "seqnums", e))
    }
}

fn now_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs())
}

/// Reads `sent`'s records; a torn last record (a kill mid-append) is cut.
/// Where each kept message is: (sequence number, offset, length).
type Index = Vec<(u64, u64, usize)>;

fn read_index(f: &mut File, dir: &Path) -> Result<(Index, u64), FixError> {
    let mut all = Vec::new();
    f.read_to_end(&mut all).map_err(|e| io(dir, "sent", e))?;
    let mut index = Vec::new();
    let mut at = 0usize;
    while at < all.len() {
        let Some(nl) = all[at..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let head = std::str::from_utf8(&all[at..at + nl]).unwrap_or("");
        let mut it = head.split(' ').map(|t| t.parse::<u64>().ok());
        let (Some(Some(seq)), Some(Some(len))) = (it.next(), it.next()) else {
            return Err(FixError::Store(format!(
                "{}/sent is corrupt at byte {at}: {head:?}",
                dir.display()
            )));
        };
        let body = at + nl + 1;
        let end = body + len as usize;
        if end + 1 > all.len() {
            break; // torn tail
        }
        index.push((seq, body as u64, len as usize));
        at = end + 1;
    }
    if at < all.len() {
        f.set_len(at as u64).map_err(|e| io(dir, "sent", e))?;
    }
    f.seek(SeekFrom::End(0)).map_err(|e| io(dir, "sent", e))?;
    Ok((index, at as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_sent_messages_survive_a_reopen_and_a_torn_tail_is_cut() {
        let dir = std::env::temp_dir().join(format!("tickline-fix-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut s = Store::open(&dir).unwrap();
        assert_eq!((s.next_out(), s.next_in()), (1, 1));
        let epoch = s.epoch();
        s.sent_admin().unwrap();
        s.sent_app(2, b"order two").unwrap();
        s.sent_app(3, b"order three").unwrap();
        s.set_next_in(9).unwrap();
        drop(s);
        // A kill in the middle of the next append.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join("sent"))
            .unwrap();
        f.write_all(b"4 100\npartial").unwrap();
        let s = Store::open(&dir).unwrap();
        assert_eq!((s.next_out(), s.next_in(), s.epoch()), (4, 9, epoch));
        let sent = s.sent_between(1, 10).unwrap();
        assert_eq!(
            sent,
            vec![(2, b"order two".to_vec()), (3, b"order three".to_vec())]
        );
        assert_eq!(s.sent_between(3, 3).unwrap().len(), 1);
        std::fs::write(dir.join("seqnums"), "garbage").unwrap();
        assert!(Store::open(&dir).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
