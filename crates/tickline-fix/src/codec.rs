//! FIX tag=value framing: messages written into a reused buffer with their
//! BodyLength (9) and CheckSum (10) computed, and read back from a byte
//! stream, where a frame is checked (BeginString, BodyLength, CheckSum)
//! before any field is believed.

use crate::FixError;

/// The field separator.
pub const SOH: u8 = 0x01;
/// FIX 4.4's BeginString.
pub const BEGIN: &[u8] = b"8=FIX.4.4\x01";

/// Writes one message at a time into a buffer it keeps.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
    body_start: usize,
}

impl Writer {
    /// With room for `capacity` bytes, so a session's messages allocate nothing.
    pub fn with_capacity(capacity: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(capacity),
            body_start: 0,
        }
    }

    /// Starts a message of type `msg_type` (35). The caller adds the header
    /// fields after it, then the body, then calls [`Writer::finish`].
    pub fn start(&mut self, msg_type: &str) -> &mut Self {
        self.buf.clear();
        self.buf.extend_from_slice(BEGIN);
        // BodyLength is filled in by finish(): reserve 6 digits.
        self.buf.extend_from_slice(b"9=000000\x01");
        self.body_start = self.buf.len();
        self.str(35, msg_type)
    }

    /// A text field.
    pub fn str(&mut self, tag: u32, value: &str) -> &mut Self {
        self.bytes(tag, value.as_bytes())
    }

    /// A raw field value (no SOH inside, the caller's promise).
    pub fn bytes(&mut self, tag: u32, value: &[u8]) -> &mut Self {
        debug_assert!(!value.contains(&SOH), "tag {tag}: SOH inside a value");
        self.uint(tag as u64);
        self.buf.push(b'=');
        self.buf.extend_from_slice(value);
        self.buf.push(SOH);
        self
    }

    /// An integer field.
    pub fn int(&mut self, tag: u32, value: u64) -> &mut Self {
        self.uint(tag as u64);
        self.buf.push(b'=');
        self.uint(value);
        self.buf.push(SOH);
        self
    }

    /// A fixed-point (1e-8) decimal, exactly, without trailing zeros.
    pub fn fixed(&mut self, tag: u32, value: i64) -> &mut Self {
        self.uint(tag as u64);
        self.buf.push(b'=');
        if value < 0 {
            self.buf.push(b'-');
        }
        let v = value.unsigned_abs();
        self.uint(v / 100_000_000);
        let mut frac = v % 100_000_000;
        if frac != 0 {
            self.buf.push(b'.');
            let mut digits = 8;
            while frac.is_multiple_of(10) {
                frac /= 10;
                digits -= 1;
            }
            let s = frac.to_string();
            self.buf.extend(std::iter::repeat_n(b'0', digits - s.len()));
            self.buf.extend_from_slice(s.as_bytes());
        }
        self.buf.push(SOH);
        self
    }

    fn uint(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[i..]);
    }

    /// Fills in BodyLength, appends CheckSum; returns the whole message.
    pub fn finish(&mut self) -> &[u8] {
        let body = self.buf.len() - self.body_start;
        debug_assert!(body < 1_000_000);
        let at = BEGIN.len() + 2;
        let mut v = body;
        for i in (at..at + 6).rev() {
            self.buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        let sum = checksum(&self.buf);
        self.buf.extend_from_slice(b"10=");
        self.buf
            .extend_from_slice(&[b'0' + sum / 100, b'0' + sum / 10 % 10, b'0' + sum % 10]);
        self.buf.push(SOH);
        &self.buf
    }
}

/// The sum of the bytes, mod 256 (FIX's CheckSum).
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// One framed message whose length and checksum were right.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    raw: &'a [u8],
}

impl<'a> Message<'a> {
    /// A message this process framed (or stored) itself.
    pub fn parse(raw: &'a [u8]) -> Option<Self> {
        (raw.starts_with(BEGIN) && raw.ends_with(&[SOH])).then_some(Message { raw })
    }

    /// The whole message, BeginString to CheckSum.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Fields in order, as (tag, value); a field that is not `tag=value`
    /// with a numeric tag ends the iteration with an error.
    pub fn fields(&self) -> impl Iterator<Item = Result<(u32, &'a [u8]), FixError>> + 'a {
        self.raw
            .split(|&b| b == SOH)
            .filter(|f| !f.is_empty())
            .map(|f| {
                let eq = f.iter().position(|&b| b == b'=');
                let (tag, value) = match eq {
                    Some(i) => (&f[..i], &f[i + 1..]),
                    None => return Err(FixError::BadField(String::from_utf8_lossy(f).into())),
                };
                let tag = parse_uint(tag)
                    .filter(|t| *t > 0 && *t < u32::MAX as u64)
                    .ok_or_else(|| FixError::BadField(String::from_utf8_lossy(f).into()))?;
                Ok((tag as u32, value))
            })
    }

    /// The first value of `tag`.
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.fields()
            .map_while(Result::ok)
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v)
    }

    /// `tag` as text.
    pub fn str(&self, tag: u32) -> Option<&'a str> {
        std::str::from_utf8(self.get(tag)?).ok()
    }

    /// `tag` as an unsigned integer.
    pub fn uint(&self, tag: u32) -> Option<u64> {
        parse_uint(self.get(tag)?)
    }

    /// `tag` as a fixed-point (1e-8) decimal, exactly.
    pub fn fixed(&self, tag: u32) -> Option<i64> {
        parse_fixed(self.get(tag)?)
    }

    /// MsgType (35).
    pub fn msg_type(&self) -> &'a [u8] {
        self.get(35).unwrap_or_default()
    }
}

/// Digits only, no sign, no overflow.
pub fn parse_uint(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |v, &b| {
        b.is_ascii_digit().then(|| v * 10 + (b - b'0') as u64)
    })
}

/// A decimal, signed, to fixed point 1e-8, exactly; None if malformed or
/// too precise.
pub fn parse_fixed(s: &[u8]) -> Option<i64> {
    match s.split_first() {
        Some((b'-', rest)) => tickline_schema::parse_fixed(rest).map(|v| -v),
        _ => tickline_schema::parse_fixed(s),
    }
}

/// What [`Reader::next`] found.
#[derive(Debug)]
pub enum Frame<'a> {
    /// A whole message with the right length and checksum.
    Message(Message<'a>),
    /// Bytes that are not a message (skipped up to the next BeginString),
    /// or a message whose length or checksum is wrong: FIX says to ignore
    /// it without consuming a sequence number.
    Garbled(FixError),
    /// Not enough bytes yet.
    Incomplete,
}

/// Frames messages out of the bytes a connection delivers.
#[derive(Default)]
pub struct Reader {
    /// Kept at its full length: bytes `start..end` are unread.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// Largest body this reader accepts; longer is garbled.
const MAX_BODY: usize = 1 << 20;

impl Reader {
    /// A reader with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Reader {
            buf: vec![0; capacity],
            start: 0,
            end: 0,
        }
    }

    /// At least `at_least` bytes of room to read into, after the unread
    /// bytes (moved to the front when that makes the room; the buffer grows
    /// only when it must). Call [`Reader::filled`] with the count read.
    pub fn spare(&mut self, at_least: usize) -> &mut [u8] {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        if self.buf.len() - self.end < at_least && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < at_least {
            self.buf.resize(self.end + at_least, 0);
        }
        &mut self.buf[self.end..]
    }

    /// `n` bytes were read into the spare room.
    pub fn filled(&mut self, n: usize) {
        debug_assert!(self.end + n <= self.buf.len());
        self.end += n;
    }

    /// Appends bytes (for tests and in-memory use).
    pub fn push(&mut self, bytes: &[u8]) {
        self.spare(bytes.len())[..bytes.len()].copy_from_slice(bytes);
        self.filled(bytes.len());
    }

    /// The next frame.
    pub fn next_frame(&mut self) -> Frame<'_> {
        let data = &self.buf[self.start..self.end];
        if data.len() < BEGIN.len() {
            return Frame::Incomplete;
        }
        if !data.starts_with(BEGIN) {
            // Skip to the next BeginString, or keep a possible partial one.
            let skip =
                find(&data[1..], BEGIN).map_or(data.len().saturating_sub(BEGIN.len()), |i| i + 1);
            self.start += skip.max(1);
            return Frame::Garbled(FixError::Garbled(format!(
                "{skip} bytes before a BeginString (8=FIX.4.4)"
            )));
        }
        let rest = &data[BEGIN.len()..];
        let Some(end_len) = rest.iter().position(|&b| b == SOH) else {
            return if rest.len() > 10 {
                self.start += 1;
                Frame::Garbled(FixError::Garbled("BodyLength (9) unterminated".into()))
            } else {
                Frame::Incomplete
            };
        };
        let body = match rest[..end_len]
            .strip_prefix(b"9=")
            .and_then(parse_uint)
            .map(|v| v as usize)
            .filter(|&v| v <= MAX_BODY)
        {
            Some(b) => b,
            None => {
                self.start += 1;
                return Frame::Garbled(FixError::Garbled(
                    "second field is not a BodyLength (9) in range".into(),
                ));
            }
        };
        let body_start = BEGIN.len() + end_len + 1;
        let total = body_start + body + 7; // "10=nnn\x01"
        if data.len() < total {
            return Frame::Incomplete;
        }
        let trailer = &data[body_start + body..total];
        let sum = checksum(&data[..body_start + body]);
        let stated = trailer
            .strip_prefix(b"10=")
            .and_then(|t| t.strip_suffix(&[SOH]))
            .and_then(parse_uint);
        if stated != Some(sum as u64) {
            // Drop this frame; the next message starts at the next BeginString.
            self.start += 1;
            return Frame::Garbled(FixError::Garbled(match stated {
                Some(s) => format!("CheckSum (10) {s:03}, computed {sum:03}"),
                None => "no CheckSum (10) where BodyLength (9) ends".into(),
            }));
        }
        let start = self.start;
        self.start += total;
        Frame::Message(Message {
            raw: &self.buf[start..start + total],
        })
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = Writer::default();
        w.start("D")
            .str(49, "A")
            .str(56, "B")
            .int(34, 7)
            .fixed(44, 6_180_020_000_000)
            .fixed(38, 150_000);
        w.finish().to_vec()
    }

    #[test]
    fn written_messages_frame_and_read_back_exactly() {
        let m = sample();
        let text = String::from_utf8_lossy(&m).replace('\x01', "|");
        assert!(
            text.starts_with("8=FIX.4.4|9=000041|35=D|49=A|56=B|34=7|44=61800.2|38=0.0015|10="),
            "{text}"
        );
        let mut r = Reader::default();
        r.push(&m[..10]);
        assert!(matches!(r.next_frame(), Frame::Incomplete));
        r.push(&m[10..]);
        let Frame::Message(msg) = r.next_frame() else {
            panic!("not a message")
        };
        assert_eq!(msg.msg_type(), b"D");
        assert_eq!(msg.uint(34), Some(7));
        assert_eq!(msg.fixed(44), Some(6_180_020_000_000));
        assert_eq!(msg.fixed(38), Some(150_000));
        assert!(matches!(r.next_frame(), Frame::Incomplete));
    }

    #[test]
    fn messages_dribbling_in_are_framed_whole_through_compaction_and_growth() {
        let m = sample();
        let stream: Vec<u8> = (0..100).flat_map(|_| m.clone()).collect();
        let mut r = Reader::with_capacity(64);
        let mut got = 0;
        for chunk in stream.chunks(7) {
            r.push(chunk);
            while let Frame::Message(x) = r.next_frame() {
                assert_eq!(x.raw(), &m[..]);
                got += 1;
            }
        }
        assert_eq!(got, 100);
        assert!(r.buf.len() < 4 * m.len(), "grew to {} bytes", r.buf.len());
    }

    #[test]
    fn garbage_and_bad_checksums_are_skipped_to_the_next_message() {
        let good = sample();
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 3] = if bad[n - 3] == b'9' { b'0' } else { b'9' }; // a wrong CheckSum digit
        let mut r = Reader::default();
        r.push(b"\x00\xffnoise 8=FIX");
        r.push(&bad);
        r.push(&good);
        let mut garbled = 0;
        loop {
            match r.next_frame() {
                Frame::Garbled(e) => {
                    garbled += 1;
                    assert!(garbled < 200, "{e}");
                }
                Frame::Message(m) => {
                    assert_eq!(m.raw(), &good[..]);
                    break;
                }
                Frame::Incomplete => panic!("lost the good message"),
            }
        }
        assert!(garbled >= 2);
    }

    #[test]
    fn decimals_and_fields_parse_exactly_or_not_at_all() {
        assert_eq!(parse_fixed(b"0.00000001"), Some(1));
        assert_eq!(parse_fixed(b"-2.5"), Some(-250_000_000));
        assert_eq!(parse_fixed(b"1.000000001"), None);
        assert_eq!(parse_fixed(b"1e3"), None);
        assert_eq!(parse_uint(b"99999999999999999999"), None);
        let raw = b"8=FIX.4.4\x019=5\x01x=1\x0110=000\x01";
        let m = Message { raw };
        assert!(m.fields().any(|f| f.is_err()));
    }
}
