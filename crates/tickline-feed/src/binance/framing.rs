//! Capture framing: the line formats (hftbacktest's and cryptofeed's), and
//! several capture files merged into one input by receive time.

use std::io::BufRead;

/// One line of a capture, in either format:
/// - hftbacktest: `<receive ns> <json>`;
/// - cryptofeed's raw files: `<receive s>: <json>` for websocket messages,
///   `<url> -> <s>: <json>` for REST replies (the URL names the symbol),
///   and `configuration: ..`, `<url> <-> <s>` (connect) and
///   `<url> <- <s>: ..` (sent) lines, which carry no market data.
pub(super) enum Line<'a> {
    /// A websocket message, or a snapshot an hftbacktest capture inlines,
    /// with its receive time (ns since the epoch).
    Message(&'a str, u64),
    /// A REST reply, with the symbol its URL named and its receive time.
    Rest(&'a str, Option<&'a str>, u64),
    /// A line without market data.
    Other,
    /// Not a capture line.
    Bad,
}

impl<'a> Line<'a> {
    /// Decided by the first token alone, so a message line is scanned once
    /// (by the JSON reader), not here.
    pub(super) fn parse(line: &'a str) -> Self {
        let Some((first, rest)) = line.split_once(' ') else {
            return if line.is_empty() {
                Line::Other
            } else {
                Line::Bad
            };
        };
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if let Some(ts) = first.strip_suffix(':') {
            // cryptofeed: `<s>: <json>`, or its `configuration: ..` header.
            return match (digits(ts), first) {
                (true, _) => Line::Message(rest, ns_of(ts)),
                (false, "configuration:") => Line::Other,
                _ => Line::Bad,
            };
        }
        if digits(first) {
            return Line::Message(rest, ns_of(first)); // hftbacktest: `<ns> <json>`
        }
        if !first.contains("://") {
            return Line::Bad;
        }
        // cryptofeed: `<url> -> <s>: <json>` (REST), `<url> <-> <s>`,
        // `<url> <- <s>: ..`.
        match rest.strip_prefix("-> ").and_then(|r| r.split_once(": ")) {
            Some((ts, json)) => {
                let symbol = first
                    .split(['?', '&'])
                    .find_map(|kv| kv.strip_prefix("symbol="));
                Line::Rest(json, symbol, ns_of(ts))
            }
            None => Line::Other,
        }
    }

    /// When the line was received, in ns (0 if it says not): what merges
    /// two capture files into one stream.
    pub(super) fn receive_ns(line: &str) -> u64 {
        let ts = if let Some((_, rest)) = line.split_once(" -> ") {
            rest.split_once(": ").map_or("", |(t, _)| t)
        } else if let Some((_, t)) = line.split_once(" <-> ") {
            t.trim()
        } else if let Some((t, _)) = line.split_once(": ").filter(|(t, _)| !t.contains(' ')) {
            t
        } else {
            line.split_once(' ').map_or("", |(t, _)| t)
        };
        ns_of(ts)
    }
}

/// A receive-time token in ns: hftbacktest's ns, cryptofeed's (fractional)
/// seconds; 0 if it is not a time.
fn ns_of(ts: &str) -> u64 {
    if ts.contains('.') {
        ts.parse::<f64>().map_or(0, |s| (s * 1e9) as u64)
    } else if ts.len() > 12 {
        ts.parse().unwrap_or(0)
    } else {
        ts.parse::<u64>()
            .map_or(0, |s| s.saturating_mul(1_000_000_000))
    }
}

/// Lines of several capture files merged in receive-time order (e.g. a
/// cryptofeed capture's websocket file and its REST file), as one input.
pub struct MergedLines {
    inputs: Vec<Box<dyn BufRead + Send>>,
    /// Each input's next line and its receive time.
    heads: Vec<Option<(u64, String)>>,
    current: Vec<u8>,
    pos: usize,
}

impl MergedLines {
    /// Merges `inputs`; lines of one input keep their order.
    pub fn new(inputs: Vec<Box<dyn BufRead + Send>>) -> Self {
        let heads = inputs.iter().map(|_| None).collect();
        MergedLines {
            inputs,
            heads,
            current: Vec::new(),
            pos: 0,
        }
    }

    pub(super) fn refill(&mut self) -> std::io::Result<()> {
        for (input, head) in self.inputs.iter_mut().zip(&mut self.heads) {
            if head.is_none() {
                let mut l = String::new();
                if input.read_line(&mut l)? > 0 {
                    if !l.ends_with('\n') {
                        l.push('\n');
                    }
                    *head = Some((Line::receive_ns(l.trim_end()), l));
                }
            }
        }
        let next = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|(t, _)| (*t, i)))
            .min();
        if let Some((_, i)) = next {
            let (_, l) = self.heads[i].take().expect("a head");
            self.current = l.into_bytes();
            self.pos = 0;
        }
        Ok(())
    }
}

impl std::io::Read for MergedLines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for MergedLines {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos >= self.current.len() {
            self.current.clear();
            self.pos = 0;
            self.refill()?;
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}
