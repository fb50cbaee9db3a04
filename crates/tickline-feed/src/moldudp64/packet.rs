//! MoldUDP64 framing: the 20-byte packet header, length-prefixed messages,
//! a packet writer (for replays and tests) and the retransmission request.

/// Bytes of a MoldUDP64 packet header.
pub const HEADER_LEN: usize = 20;

/// Message count that marks the end of a session.
pub const END_OF_SESSION: u16 = 0xFFFF;

/// Largest UDP payload.
pub(super) const MAX_PACKET: usize = 65_535;

/// A MoldUDP64 downstream packet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketHeader {
    /// Session id.
    pub session: [u8; 10],
    /// Sequence number of the packet's first message.
    pub seq: u64,
    /// Messages in the packet (0: heartbeat, 0xFFFF: end of session).
    pub count: u16,
}

/// The header of a packet, if it is long enough.
pub fn parse_header(p: &[u8]) -> Option<PacketHeader> {
    let h = p.get(..HEADER_LEN)?;
    let mut session = [0u8; 10];
    session.copy_from_slice(&h[..10]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&h[10..18]);
    Some(PacketHeader {
        session,
        seq: u64::from_be_bytes(seq),
        count: u16::from_be_bytes([h[18], h[19]]),
    })
}

/// Packs messages into packets of at most `max_len` bytes.
pub struct PacketWriter {
    buf: Vec<u8>,
    session: [u8; 10],
    next_seq: u64,
    count: u16,
    max_len: usize,
}

impl PacketWriter {
    /// A writer of packets of session `session` from sequence number `first_seq`, each at most `max_len` bytes.
    pub fn new(session: [u8; 10], first_seq: u64, max_len: usize) -> Self {
        let mut w = PacketWriter {
            buf: Vec::with_capacity(max_len.max(HEADER_LEN)),
            session,
            next_seq: first_seq,
            count: 0,
            max_len: max_len.max(HEADER_LEN + 2 + 64),
        };
        w.start();
        w
    }

    fn start(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&self.session);
        self.buf.extend_from_slice(&self.next_seq.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        self.count = 0;
    }

    /// Adds a message; false if the packet is full (finish it first).
    pub fn push(&mut self, msg: &[u8]) -> bool {
        if self.buf.len() + 2 + msg.len() > self.max_len || self.count == END_OF_SESSION - 1 {
            return false;
        }
        self.buf
            .extend_from_slice(&(msg.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(msg);
        self.count += 1;
        true
    }

    /// True if no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The finished packet; the writer then starts the next one.
    pub fn finish(&mut self) -> Vec<u8> {
        self.buf[18..20].copy_from_slice(&self.count.to_be_bytes());
        let packet = self.buf.clone();
        self.next_seq += self.count as u64;
        self.start();
        packet
    }

    /// A heartbeat (count 0) or end-of-session packet at the next sequence number.
    pub fn control(&self, end: bool) -> Vec<u8> {
        let mut p = Vec::with_capacity(HEADER_LEN);
        p.extend_from_slice(&self.session);
        p.extend_from_slice(&self.next_seq.to_be_bytes());
        p.extend_from_slice(&(if end { END_OF_SESSION } else { 0 }).to_be_bytes());
        p
    }
}

/// A MoldUDP64 retransmission request: session, first sequence number, count.
pub fn request(session: &[u8; 10], seq: u64, count: u16) -> [u8; HEADER_LEN] {
    let mut r = [0u8; HEADER_LEN];
    r[..10].copy_from_slice(session);
    r[10..18].copy_from_slice(&seq.to_be_bytes());
    r[18..].copy_from_slice(&count.to_be_bytes());
    r
}
