//! A GLIMPSE-like book snapshot over TCP: what a live ITCH receiver rebuilds
//! its books from when it lost messages that nobody will send again. The
//! server writes, then closes: the 10-byte MoldUDP64 session, the 8-byte
//! sequence number the snapshot reflects (every message up to it), then ITCH
//! messages with 2-byte lengths, a Stock Directory (R) per known stock and
//! an Add Order (A) per resting order, and a zero length to end.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tickline_schema::Side;

use crate::itch::PRICE_TO_FIXED;
use crate::{Books, UNIT};

/// A snapshot as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The MoldUDP64 session it belongs to.
    pub session: [u8; 10],
    /// The books reflect every message up to this sequence number.
    pub seq: u64,
    /// R and A messages, in order.
    pub messages: Vec<Vec<u8>>,
}

/// Why a snapshot could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Connecting or reading failed.
    #[error("snapshot from {addr}: {source}")]
    Io {
        /// The server.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
    /// The bytes are not a snapshot.
    #[error("snapshot is malformed: {0}")]
    Malformed(String),
}

/// The snapshot of `books` (with the stock `directory`) after message `seq`.
pub fn encode(
    session: [u8; 10],
    seq: u64,
    directory: impl Iterator<Item = (u16, [u8; 8])>,
    books: &Books,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 << 16);
    out.extend_from_slice(&session);
    out.extend_from_slice(&seq.to_be_bytes());
    let mut push = |m: &[u8]| {
        out.extend_from_slice(&(m.len() as u16).to_be_bytes());
        out.extend_from_slice(m);
    };
    let mut symbols = Vec::new();
    for (locate, symbol) in directory {
        let mut r = [b' '; 39];
        r[0] = b'R';
        r[1..3].copy_from_slice(&locate.to_be_bytes());
        r[3..11].fill(0);
        r[11..19].copy_from_slice(&symbol);
        push(&r);
        symbols.push((locate, symbol));
    }
    for instrument in books.instruments() {
        let Some(book) = books.book(instrument) else {
            continue;
        };
        let symbol = symbols
            .iter()
            .find(|(l, _)| *l as u32 == instrument)
            .map_or([b' '; 8], |(_, s)| *s);
        for (id, o) in book.orders() {
            let mut a = [0u8; 36];
            a[0] = b'A';
            a[1..3].copy_from_slice(&(instrument as u16).to_be_bytes());
            a[11..19].copy_from_slice(&id.to_be_bytes());
            a[19] = if o.side == Side::Buy { b'B' } else { b'S' };
            a[20..24].copy_from_slice(&((o.qty / UNIT) as u32).to_be_bytes());
            a[24..32].copy_from_slice(&symbol);
            a[32..36].copy_from_slice(&((o.price / PRICE_TO_FIXED) as u32).to_be_bytes());
            push(&a);
        }
    }
    push(&[]);
    out
}

/// Reads a snapshot's bytes.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    let bad = |what: &str| SnapshotError::Malformed(what.to_owned());
    let head = bytes
        .get(..18)
        .ok_or_else(|| bad("shorter than its header"))?;
    let mut session = [0u8; 10];
    session.copy_from_slice(&head[..10]);
    let seq = u64::from_be_bytes(head[10..18].try_into().expect("8 bytes"));
    let mut messages = Vec::new();
    let mut at = 18;
    loop {
        let len = bytes
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
            .ok_or_else(|| bad("no end marker"))?;
        at += 2;
        if len == 0 {
            return Ok(Snapshot {
                session,
                seq,
                messages,
            });
        }
        let m = bytes
            .get(at..at + len)
            .ok_or_else(|| bad("a message cut short"))?;
        if !matches!(m[0], b'R' | b'A') || crate::itch::message_len(m[0]) != len {
            return Err(bad("a message other than R or A, or of the wrong length"));
        }
        messages.push(m.to_vec());
        at += len;
    }
}

/// Connects to a snapshot server and reads its snapshot.
pub fn fetch(addr: SocketAddr, timeout: Duration) -> Result<Snapshot, SnapshotError> {
    let io = |source| SnapshotError::Io { addr, source };
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).map_err(io)?;
    decode(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itch::ItchHandler;
    use crate::{FeedStats, Step};

    fn add(locate: u16, id: u64, side: u8, shares: u32, price: u32) -> Vec<u8> {
        let mut a = vec![0u8; 36];
        a[0] = b'A';
        a[1..3].copy_from_slice(&locate.to_be_bytes());
        a[11..19].copy_from_slice(&id.to_be_bytes());
        a[19] = side;
        a[20..24].copy_from_slice(&shares.to_be_bytes());
        a[24..32].copy_from_slice(b"ABC     ");
        a[32..36].copy_from_slice(&price.to_be_bytes());
        a
    }

    #[test]
    fn a_snapshot_rebuilds_the_same_books() {
        let mut handler = ItchHandler::default();
        let mut books = Books::new(64, 64);
        let mut stats = FeedStats::quiet();
        for m in [
            add(3, 1, b'B', 100, 1_000_000),
            add(3, 2, b'S', 50, 1_000_100),
            add(3, 3, b'B', 7, 999_900),
        ] {
            assert!(matches!(
                handler.handle(&m, &mut books, &mut stats),
                Step::Event(_)
            ));
        }
        let dir = [(3u16, *b"ABC     ")];
        let bytes = encode(*b"SESSION001", 42, dir.into_iter(), &books);
        let snap = decode(&bytes).unwrap();
        assert_eq!((snap.session, snap.seq), (*b"SESSION001", 42));
        let (mut h2, mut b2) = (ItchHandler::default(), Books::new(64, 64));
        for m in &snap.messages {
            h2.handle(m, &mut b2, &mut stats);
        }
        assert_eq!(h2.symbol(3), Some("ABC"));
        let (x, y) = (books.book(3).unwrap(), b2.book(3).unwrap());
        for side in [Side::Buy, Side::Sell] {
            assert_eq!(
                x.side(side).levels().collect::<Vec<_>>(),
                y.side(side).levels().collect::<Vec<_>>()
            );
        }
        assert_eq!(x.order_count(), y.order_count());
        assert!(decode(&bytes[..bytes.len() - 1]).is_err(), "no end marker");
        assert!(decode(&bytes[..10]).is_err());
    }
}
