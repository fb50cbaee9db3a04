//! Nasdaq TotalView-ITCH 5.0: message decoding and a file source.
//!
//! Files frame each message with a 2-byte big-endian length. Some published
//! samples write 0 there and rely on the type's fixed length; that is
//! accepted for known types, and counted in the checks as `zero_length_prefixes`.

mod apply;
mod messages;

use std::io::Read;

pub use apply::{apply, ItchHandler};
use messages::u16_at;
pub(crate) use messages::PRICE_TO_FIXED;
pub use messages::{decode, frames, message_len, timestamp, Message, MAX_MESSAGE_LEN};

use crate::spec::{open_file, SourceError};
use crate::{Books, FeedError, FeedStats, Source, Step};

/// Reads an ITCH 5.0 file (or any byte stream) through a fixed buffer.
pub struct ItchSource<R: Read> {
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    eof: bool,
    handler: ItchHandler,
    /// Messages framed by their type because their length prefix was 0.
    zero_length_prefixes: u64,
}

impl<R: Read> ItchSource<R> {
    /// A source over ITCH 5.0 framed messages (2-byte length prefixes) from `input`.
    pub fn new(input: R) -> Self {
        ItchSource {
            input,
            buf: vec![0u8; 1 << 20].into_boxed_slice(),
            pos: 0,
            end: 0,
            eof: false,
            handler: ItchHandler::default(),
            zero_length_prefixes: 0,
        }
    }

    /// Makes at least `n` bytes available unless the input ends first.
    fn fill(&mut self, n: usize) -> bool {
        while self.end - self.pos < n && !self.eof {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            }
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("feed: read error, treating as end of input: {e}");
                    self.eof = true;
                }
            }
        }
        self.end - self.pos >= n
    }
}

impl<R: Read> Source for ItchSource<R> {
    fn next(&mut self, books: &mut Books, stats: &mut FeedStats) -> Step {
        if !self.fill(3) {
            if self.end > self.pos {
                stats.messages += 1;
                stats.error(
                    FeedError::Truncated,
                    format_args!("{} trailing bytes", self.end - self.pos),
                );
                self.pos = self.end;
            }
            return Step::End;
        }
        stats.messages += 1;
        let prefix = u16_at(&self.buf, self.pos) as usize;
        let kind = self.buf[self.pos + 2];
        stats.by_type[kind as usize] += 1;
        let expected = message_len(kind);
        let len = if prefix == 0 {
            if expected == 0 {
                // No length and no known type: there is no way to find the next message.
                stats.error(
                    FeedError::UnknownType,
                    format_args!("type {kind:#04x} with a zero length prefix; cannot resynchronise, stopping"),
                );
                self.pos = self.end;
                self.eof = true;
                return Step::End;
            }
            if self.zero_length_prefixes == 0 {
                eprintln!("feed: zero length prefixes (as RITCH writes them); framing by message type instead");
            }
            self.zero_length_prefixes += 1;
            expected
        } else {
            prefix
        };
        if !self.fill(2 + len) {
            stats.error(
                FeedError::Truncated,
                format_args!("type {:?} needs {len} bytes, input ends", kind as char),
            );
            self.pos = self.end;
            return Step::End;
        }
        let start = self.pos + 2;
        self.pos = start + len;
        if expected == 0 {
            stats.error(
                FeedError::UnknownType,
                format_args!("type {kind:#04x}, {len} bytes skipped"),
            );
            return Step::Skip;
        }
        if len != expected {
            stats.error(
                FeedError::BadLength,
                format_args!("type {:?}: length {len}, expected {expected}", kind as char),
            );
            return Step::Skip;
        }
        let Self { buf, handler, .. } = self;
        handler.handle(&buf[start..start + len], books, stats)
    }

    fn symbol(&self, instrument: u32) -> Option<&str> {
        self.handler.symbol(instrument)
    }

    fn checks(&self) -> Vec<(String, u64)> {
        vec![("zero_length_prefixes".to_owned(), self.zero_length_prefixes)]
    }
}

/// `itch:FILE`: an ITCH 5.0 file (length-prefixed or not).
pub fn from_spec(rest: &str) -> Result<Box<dyn Source>, SourceError> {
    let f: Box<dyn Read> = Box::new(open_file(rest, "ITCH file")?);
    Ok(Box::new(ItchSource::new(f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_handle_both_framings_and_stop_on_garbage() {
        let d = [b'D', 0, 1, 0, 2, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 7];
        let mut framed = vec![0, 19];
        framed.extend_from_slice(&d);
        let mut zero = vec![0, 0];
        zero.extend_from_slice(&d);
        for bytes in [framed.repeat(3), zero.repeat(3)] {
            let v: Vec<_> = frames(&bytes).collect();
            assert_eq!(v.len(), 3);
            assert_eq!(timestamp(v[0]), Some(9));
        }
        assert_eq!(frames(&[0, 0, b'~', 1]).count(), 0);
        assert_eq!(frames(&[0, 40, b'A']).count(), 0);
    }

    /// Found by the fuzzer: a cross trade's 64-bit share count overflowed fixed point.
    #[test]
    fn huge_cross_trade_is_bad_value_not_overflow() {
        let mut q = vec![0u8, 40, b'Q', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        q.extend_from_slice(&u64::MAX.to_be_bytes());
        q.extend_from_slice(b"AAPL    ");
        q.extend_from_slice(&1_000_000u32.to_be_bytes());
        q.extend_from_slice(&7u64.to_be_bytes());
        q.push(b'O');
        let mut src = ItchSource::new(&q[..]);
        let mut books = Books::new(16, 16);
        let mut stats = FeedStats::quiet();
        assert_eq!(src.next(&mut books, &mut stats), Step::Skip);
        assert_eq!(stats.count(FeedError::BadValue), 1);
    }

    #[test]
    fn decoder_refuses_wrong_lengths_and_unknown_types() {
        assert_eq!(decode(&[]), Err(FeedError::Truncated));
        assert_eq!(decode(&[b'Z'; 10]), Err(FeedError::UnknownType));
        assert_eq!(decode(&[b'A'; 10]), Err(FeedError::Truncated));
        assert_eq!(decode(&[b'D'; 20]), Err(FeedError::BadLength));
    }

    #[test]
    fn garbage_streams_end_without_panicking() {
        let mut x = 0x1234_5678_9abc_def0u64;
        for len in [0usize, 1, 2, 3, 7, 100, 5000] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let mut src = ItchSource::new(&bytes[..]);
            let mut books = Books::new(16, 16);
            let mut stats = FeedStats::default();
            let mut steps = 0;
            while src.next(&mut books, &mut stats) != Step::End {
                steps += 1;
                assert!(steps <= len, "no progress");
            }
        }
    }
}
