//! MoldUDP64, the transport Nasdaq uses for ITCH: UDP packets of a 20-byte
//! header (10-byte session, sequence number of the first message, message
//! count) followed by length-prefixed messages. Count 0 is a heartbeat,
//! 0xFFFF ends the session.
//!
//! [`MoldUdpSource`] receives packets, checks sequence numbers (an old
//! packet is a duplicate and skipped) and applies the ITCH messages in
//! order. Given a request server, a jump is a gap to recover: the messages
//! after it are held, a retransmission request (session, first missing
//! sequence number, count) goes to the server and is repeated until the
//! missing messages arrive, and only then does the book move on, so it never
//! skips a message. Without one, a gap is counted and the book carries on.

mod packet;
mod recovery;
mod spec;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

pub use packet::{parse_header, request, PacketHeader, PacketWriter, END_OF_SESSION, HEADER_LEN};
pub use recovery::RECOVERY_DEADLINE;
pub use spec::from_spec;

use packet::MAX_PACKET;
use recovery::{add, Recovery, MAX_AHEAD, RECOVERY_LOG};

use crate::itch::{message_len, ItchHandler};
use crate::{Books, FeedError, FeedStats, Source, Step};

/// What the receiver saw of the transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MoldCounts {
    /// Packets received.
    pub packets: u64,
    /// Heartbeats (empty packets) received.
    pub heartbeats: u64,
    /// Sequence jumps, and messages lost in them.
    pub gaps: u64,
    /// Messages lost in gaps.
    pub missed_messages: u64,
    /// Messages received twice (old or overlapping packets), skipped.
    pub duplicates: u64,
    /// Times the session id changed.
    pub session_changes: u64,
    /// Retransmission requests sent.
    pub requests: u64,
    /// Messages of gaps recovered from the request server.
    pub recovered_messages: u64,
    /// Gaps closed by recovered messages.
    pub gaps_recovered: u64,
    /// The longest time from a gap's first sight to its last message, ns.
    pub recovery_max_ns: u64,
    /// All gaps' times to recovery, summed, ns.
    pub recovery_total_ns: u64,
    /// Gaps given up on: without a request server, or unanswered past the
    /// deadline (and no snapshot to rebuild from). Each marks every book stale.
    pub gaps_unrecovered: u64,
    /// Books rebuilt from a snapshot after a gap the request server did not fill.
    pub snapshots: u64,
    /// Snapshots asked for and not had (server down, too old, malformed).
    pub snapshot_failures: u64,
}

/// Live ITCH over MoldUDP64 on a UDP socket.
pub struct MoldUdpSource {
    socket: UdpSocket,
    packet: Box<[u8]>,
    len: usize,
    pos: usize,
    /// Messages of the current packet still to hand out, and how many to skip first.
    left: u16,
    skip: u16,
    session: Option<[u8; 10]>,
    /// Next sequence number we expect.
    expected: Option<u64>,
    ended: bool,
    /// Sequence number at which the session ends, once announced.
    session_end: Option<u64>,
    recovery: Option<Recovery>,
    handler: ItchHandler,
    /// A gap was given up on since the last message: books go stale.
    lost: bool,
    /// Where to rebuild the books from when a gap is given up on.
    snapshot_server: Option<SocketAddr>,
    /// Each recovered gap's time from first sight to its last message, ns
    /// (the first [`RECOVERY_LOG`]).
    recovery_ns: Vec<u64>,
    /// Transport counters.
    pub counts: MoldCounts,
    /// CLOCK_REALTIME ns at which the packet in hand was received.
    packet_receive_ns: u64,
}

impl MoldUdpSource {
    /// Binds `addr`; `poll` bounds each blocking receive so the caller can
    /// check for shutdown between packets.
    pub fn bind(addr: SocketAddr, poll: Duration) -> std::io::Result<Self> {
        Self::on_socket(UdpSocket::bind(addr)?, poll)
    }

    /// Joins multicast `group` on the interface with address `iface`. The
    /// port is shared (SO_REUSEADDR), so several feed-handlers on one host,
    /// one per shard of the symbols, all receive the feed.
    pub fn join(group: SocketAddrV4, iface: Ipv4Addr, poll: Duration) -> std::io::Result<Self> {
        use socket2::{Domain, Protocol, Socket, Type};
        debug_assert!(group.ip().is_multicast());
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_reuse_address(true)?;
        // Bound to the group's address: only its datagrams arrive here.
        s.bind(&SocketAddr::V4(group).into())?;
        s.join_multicast_v4(group.ip(), &iface)?;
        // A burst must not overflow the default 208 KiB receive buffer.
        let _ = s.set_recv_buffer_size(8 << 20);
        Self::on_socket(s.into(), poll)
    }

    fn on_socket(socket: UdpSocket, poll: Duration) -> std::io::Result<Self> {
        socket.set_read_timeout(Some(poll))?;
        Ok(MoldUdpSource {
            socket,
            packet: vec![0u8; MAX_PACKET].into_boxed_slice(),
            len: 0,
            pos: 0,
            left: 0,
            skip: 0,
            session: None,
            expected: None,
            ended: false,
            session_end: None,
            recovery: None,
            handler: ItchHandler::default(),
            lost: false,
            snapshot_server: None,
            recovery_ns: Vec::new(),
            counts: MoldCounts::default(),
            packet_receive_ns: 0,
        })
    }

    /// Rebuilds the books from the snapshot server at `addr` (TCP) when a
    /// gap is not recovered by the deadline.
    pub fn with_snapshot_server(mut self, addr: SocketAddr) -> Self {
        self.snapshot_server = Some(addr);
        self
    }

    /// Gives up on a gap after `deadline` instead of [`RECOVERY_DEADLINE`].
    pub fn with_recovery_deadline(mut self, deadline: Duration) -> Self {
        if let Some(r) = self.recovery.as_mut() {
            r.deadline = deadline;
        }
        self
    }

    /// Recovers gaps from the request server at `server`.
    pub fn with_request_server(mut self, server: SocketAddr) -> std::io::Result<Self> {
        // Receives wake often enough to repeat an unanswered request.
        self.socket
            .set_read_timeout(Some(Duration::from_millis(1)))?;
        self.recovery_ns = Vec::with_capacity(RECOVERY_LOG);
        self.recovery = Some(Recovery {
            server,
            deadline: RECOVERY_DEADLINE,
            ahead: BTreeMap::new(),
            open: None,
        });
        Ok(self)
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Reads a header and decides what of the packet to deliver.
    fn begin_packet(&mut self, stats: &mut FeedStats) -> Option<Step> {
        self.counts.packets += 1;
        let Some(h) = parse_header(&self.packet[..self.len]) else {
            stats.error(
                FeedError::Truncated,
                format_args!("{}-byte packet", self.len),
            );
            return Some(Step::Skip);
        };
        if self.session.is_some_and(|s| s != h.session) {
            self.counts.session_changes += 1;
            stats.error(FeedError::Gap, format_args!("session changed"));
            self.expected = None;
        }
        self.session = Some(h.session);
        // With a request server the session is read from its first message
        // (sequence numbers start at 1), even if the first packets were lost.
        let first = if self.recovery.is_some() { 1 } else { h.seq };
        let expected = *self.expected.get_or_insert(first);
        if h.seq > expected && self.recovery.is_some() {
            if h.seq - expected > MAX_AHEAD {
                // No real gap is this wide: a corrupt header, not a loss.
                stats.error(
                    FeedError::BadValue,
                    format_args!("sequence {} is {} past {expected}", h.seq, h.seq - expected),
                );
                return Some(Step::Skip);
            }
            return Some(self.hold(h, expected));
        }
        if h.count == END_OF_SESSION && self.recovery.is_some() {
            // The session ends at h.seq: after every message before it.
            self.session_end = Some(h.seq);
            return Some(Step::Skip);
        }
        if h.seq > expected {
            self.counts.gaps += 1;
            self.counts.gaps_unrecovered += 1;
            self.lost = true;
            self.counts.missed_messages =
                self.counts.missed_messages.saturating_add(h.seq - expected);
            stats.error(
                FeedError::Gap,
                format_args!("expected sequence {expected}, got {}", h.seq),
            );
        }
        match h.count {
            END_OF_SESSION => {
                self.ended = true;
                return Some(Step::End);
            }
            0 => {
                self.counts.heartbeats += 1;
                self.expected = Some(expected.max(h.seq));
                return Some(Step::Skip);
            }
            _ => {}
        }
        let end = h.seq.saturating_add(h.count as u64);
        if end <= expected {
            add(&mut self.counts.duplicates, h.count as u64);
            return Some(Step::Skip);
        }
        self.skip = expected.saturating_sub(h.seq) as u16;
        add(&mut self.counts.duplicates, self.skip as u64);
        self.left = h.count;
        self.pos = HEADER_LEN;
        self.expected = Some(end);
        None
    }
}

impl Source for MoldUdpSource {
    /// Every event carries the receive time of the packet whose arrival
    /// made it (held messages: the packet that let them be applied).
    fn next(&mut self, books: &mut Books, stats: &mut FeedStats) -> Step {
        // After the step: it reads the line (packet) it stamps.
        let step = self.step(books, stats);
        step.received_at(self.packet_receive_ns)
    }

    fn symbol(&self, instrument: u32) -> Option<&str> {
        self.handler.symbol(instrument)
    }

    fn lost_messages(&self) -> u64 {
        self.counts.missed_messages
    }

    fn checks(&self) -> Vec<(String, u64)> {
        let c = &self.counts;
        [
            ("packets", c.packets),
            ("gaps", c.gaps),
            ("gaps_recovered", c.gaps_recovered),
            ("gaps_unrecovered", c.gaps_unrecovered),
            ("snapshots", c.snapshots),
            ("snapshot_failures", c.snapshot_failures),
            ("retransmission_requests", c.requests),
            ("recovered_messages", c.recovered_messages),
            ("recovery_p50_ns", self.recovery_quantile(0.5)),
            ("recovery_p99_ns", self.recovery_quantile(0.99)),
            ("recovery_max_ns", c.recovery_max_ns),
            ("duplicates", c.duplicates),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_owned(), n))
        .collect()
    }
}

impl MoldUdpSource {
    /// A quantile of the recovered gaps' times, ns (0 without any).
    pub fn recovery_quantile(&self, q: f64) -> u64 {
        debug_assert!((0.0..=1.0).contains(&q));
        let mut v = self.recovery_ns.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len().max(1)) - 1;
        v.get(i).copied().unwrap_or(0)
    }

    /// Takes a packet as if received (for fuzzing and replaying captures);
    /// then call [`Source::next`] while [`pending`](Self::pending) is non-zero.
    pub fn accept_packet(&mut self, bytes: &[u8], stats: &mut FeedStats) -> Option<Step> {
        if self.ended {
            return Some(Step::End);
        }
        let n = bytes.len().min(self.packet.len());
        self.packet[..n].copy_from_slice(&bytes[..n]);
        self.len = n;
        self.left = 0;
        self.begin_packet(stats)
    }

    /// Messages of the current packet not yet handed out.
    pub fn pending(&self) -> u16 {
        self.left
    }

    /// One message of the current packet.
    fn next_message(&mut self, books: &mut Books, stats: &mut FeedStats) -> Step {
        self.left -= 1;
        let p = &self.packet[..self.len];
        let Some(len) = p
            .get(self.pos..self.pos + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        else {
            return self.truncated(stats);
        };
        let start = self.pos + 2;
        if start + len > p.len() || len == 0 {
            return self.truncated(stats);
        }
        self.pos = start + len;
        if self.skip > 0 {
            self.skip -= 1;
            return Step::Skip;
        }
        stats.messages += 1;
        let msg = &self.packet[start..start + len];
        stats.by_type[msg[0] as usize] += 1;
        if message_len(msg[0]) != len {
            let kind = if message_len(msg[0]) == 0 {
                FeedError::UnknownType
            } else {
                FeedError::BadLength
            };
            stats.error(kind, format_args!("type {:#04x}, {len} bytes", msg[0]));
            return Step::Skip;
        }
        let Self {
            packet, handler, ..
        } = self;
        handler.handle(&packet[start..start + len], books, stats)
    }

    /// The rest of a packet cannot be framed: its messages count as missed.
    fn truncated(&mut self, stats: &mut FeedStats) -> Step {
        stats.error(
            FeedError::Truncated,
            format_args!("message block runs past the packet"),
        );
        add(&mut self.counts.missed_messages, self.left as u64 + 1);
        self.left = 0;
        Step::Skip
    }
}

impl MoldUdpSource {
    /// The next step: a held message, or one of the packet in hand or of
    /// the next packet received.
    fn step(&mut self, books: &mut Books, stats: &mut FeedStats) -> Step {
        if self.ended {
            return Step::End;
        }
        if self.left == 0 {
            if let Some(step) = self.drain(books, stats) {
                return step;
            }
            let open = self
                .recovery
                .as_ref()
                .is_some_and(|r| r.open.is_some() || !r.ahead.is_empty());
            if !open
                && self
                    .session_end
                    .is_some_and(|e| self.expected.is_none_or(|x| x >= e))
            {
                self.ended = true;
                return Step::End;
            }
            match self.socket.recv(&mut self.packet) {
                Ok(n) => {
                    self.len = n;
                    self.packet_receive_ns = crate::realtime_ns();
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Step::Idle
                }
                Err(e) => {
                    stats.error(FeedError::BadRecord, format_args!("recv: {e}"));
                    return Step::Idle;
                }
            }
            if let Some(step) = self.begin_packet(stats) {
                return step;
            }
        }
        if std::mem::take(&mut self.lost) {
            books.mark_all_stale();
        }
        self.next_message(books, stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const SESSION: [u8; 10] = *b"TEST000001";

    fn delete(order: u64) -> Vec<u8> {
        let mut m = vec![b'D', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        m.extend_from_slice(&order.to_be_bytes());
        m
    }

    fn add(order: u64) -> Vec<u8> {
        let mut m = vec![b'A', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        m.extend_from_slice(&order.to_be_bytes());
        m.push(b'B');
        m.extend_from_slice(&100u32.to_be_bytes());
        m.extend_from_slice(b"TEST    ");
        m.extend_from_slice(&1_000_000u32.to_be_bytes());
        m
    }

    fn packets(orders: std::ops::Range<u64>, per_packet: usize) -> Vec<Vec<u8>> {
        let mut w = PacketWriter::new(SESSION, 1, HEADER_LEN + per_packet * (2 + 36));
        let mut out = Vec::new();
        for o in orders {
            if !w.push(&add(o)) {
                out.push(w.finish());
                assert!(w.push(&add(o)));
            }
        }
        out.push(w.finish());
        out.push(w.control(true));
        out
    }

    /// Sends packets to a bound source over loopback and drains it.
    fn deliver(pkts: &[Vec<u8>]) -> (MoldCounts, FeedStats, u64) {
        let mut src =
            MoldUdpSource::bind("127.0.0.1:0".parse().unwrap(), Duration::from_millis(200))
                .unwrap();
        let to = src.local_addr().unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for p in pkts {
            tx.send_to(p, to).unwrap();
        }
        let mut books = Books::new(1024, 64);
        let mut stats = FeedStats::quiet();
        let mut events = 0;
        let mut idle = 0;
        loop {
            match src.next(&mut books, &mut stats) {
                Step::Event(_) => events += 1,
                Step::End => break,
                Step::Idle => {
                    idle += 1;
                    assert!(idle < 10, "end of session never arrived");
                }
                Step::Skip => {}
            }
        }
        (src.counts, stats, events)
    }

    /// Found by fuzzing: packets after the end of session must not be queued.
    #[test]
    fn nothing_is_accepted_after_the_end_of_session() {
        let mut src =
            MoldUdpSource::bind("127.0.0.1:0".parse().unwrap(), Duration::from_millis(1)).unwrap();
        let mut stats = FeedStats::quiet();
        let w = PacketWriter::new(SESSION, 1, 1400);
        assert_eq!(
            src.accept_packet(&w.control(true), &mut stats),
            Some(Step::End)
        );
        let pkts = packets(0..5, 5);
        assert_eq!(src.accept_packet(&pkts[0], &mut stats), Some(Step::End));
        assert_eq!(src.pending(), 0);
    }

    #[test]
    fn header_round_trips() {
        let mut w = PacketWriter::new(SESSION, 42, 1400);
        assert!(w.push(&delete(1)));
        assert!(w.push(&delete(2)));
        let p = w.finish();
        assert_eq!(
            parse_header(&p),
            Some(PacketHeader {
                session: SESSION,
                seq: 42,
                count: 2
            })
        );
        assert_eq!(p.len(), HEADER_LEN + 2 * (2 + 19));
        let end = w.control(true);
        assert_eq!(parse_header(&end).unwrap().seq, 44);
        assert_eq!(parse_header(&end).unwrap().count, END_OF_SESSION);
        assert_eq!(parse_header(&p[..19]), None);
    }

    #[test]
    fn in_order_stream_delivers_every_message() {
        let pkts = packets(0..100, 7);
        let (c, stats, events) = deliver(&pkts);
        assert_eq!(events, 100);
        assert_eq!((c.gaps, c.missed_messages, c.duplicates), (0, 0, 0));
        assert_eq!(stats.count(FeedError::Gap), 0);
    }

    #[test]
    fn lost_and_repeated_packets_are_counted() {
        let mut pkts = packets(0..100, 10); // 10 data packets + end
        pkts.remove(3); // lose messages 31..=40
        let again = pkts[5].clone(); // repeat a packet
        pkts.insert(6, again);
        let (c, stats, events) = deliver(&pkts);
        assert_eq!(events, 90);
        assert_eq!(c.gaps, 1);
        assert_eq!(c.missed_messages, 10);
        assert_eq!(c.duplicates, 10);
        assert_eq!(stats.count(FeedError::Gap), 1);
    }

    /// Sends packets to `src` and drains it: whether each event's book was
    /// stale, in order.
    fn staleness(mut src: MoldUdpSource, pkts: &[Vec<u8>]) -> (MoldCounts, Vec<bool>) {
        let to = src.local_addr().unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for p in pkts {
            tx.send_to(p, to).unwrap();
        }
        let mut books = Books::new(1024, 64);
        let mut stats = FeedStats::quiet();
        let mut stale = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            assert!(Instant::now() < deadline, "end of session never arrived");
            match src.next(&mut books, &mut stats) {
                Step::Event(e) => stale.push(books.is_stale(e.instrument)),
                Step::End => return (src.counts, stale),
                _ => {}
            }
        }
    }

    #[test]
    fn a_gap_not_recovered_marks_every_book_stale_from_there_on() {
        let mut pkts = packets(0..100, 10);
        pkts.remove(3); // messages 31..=40 lost, no request server
        let src = MoldUdpSource::bind("127.0.0.1:0".parse().unwrap(), Duration::from_millis(200))
            .unwrap();
        let (c, stale) = staleness(src, &pkts);
        assert_eq!(c.gaps_unrecovered, 1);
        assert_eq!(stale.len(), 90);
        assert!(stale[..30].iter().all(|s| !s), "before the gap");
        assert!(
            stale[30..].iter().all(|s| *s),
            "after it, every event is stale"
        );
    }

    #[test]
    fn a_gap_the_request_server_never_answers_is_given_up_at_the_deadline() {
        let mut pkts = packets(0..100, 10);
        pkts.remove(3);
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let src = MoldUdpSource::bind("127.0.0.1:0".parse().unwrap(), Duration::from_millis(1))
            .unwrap()
            .with_request_server(silent.local_addr().unwrap())
            .unwrap()
            .with_recovery_deadline(Duration::from_millis(50));
        let t0 = Instant::now();
        let (c, stale) = staleness(src, &pkts);
        assert!(t0.elapsed() >= Duration::from_millis(50));
        assert_eq!((c.gaps_unrecovered, c.gaps_recovered), (1, 0));
        assert!(c.requests >= 2, "asked again while waiting");
        assert_eq!(stale.len(), 90);
        assert!(stale[..30].iter().all(|s| !s) && stale[30..].iter().all(|s| *s));
    }

    #[test]
    fn malformed_packets_do_not_stop_the_receiver() {
        let mut pkts = packets(0..20, 10);
        let mut cut = pkts[0].clone();
        cut.truncate(HEADER_LEN + 38 + 20); // second message cut short
        pkts[0] = cut;
        pkts.insert(0, vec![1, 2, 3]); // shorter than a header
        let (c, stats, events) = deliver(&pkts);
        assert_eq!(
            events, 11,
            "first message of the cut packet, then the second packet"
        );
        assert_eq!(stats.count(FeedError::Truncated), 2);
        assert_eq!(c.missed_messages, 9);
    }

    #[test]
    fn with_recovery_a_wild_sequence_number_is_bad_input_not_a_gap() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut src = MoldUdpSource::bind("127.0.0.1:0".parse().unwrap(), Duration::from_millis(1))
            .unwrap()
            .with_request_server(server.local_addr().unwrap())
            .unwrap();
        let mut stats = FeedStats::quiet();
        let mut w = PacketWriter::new(SESSION, u64::MAX - 3, 1400);
        assert!(w.push(&add(1)));
        assert_eq!(src.accept_packet(&w.finish(), &mut stats), Some(Step::Skip));
        assert_eq!(stats.count(FeedError::BadValue), 1);
        assert_eq!((src.counts.gaps, src.counts.requests), (0, 0));
        // A real gap is requested from the server.
        let mut w = PacketWriter::new(SESSION, 5, 1400);
        assert!(w.push(&add(2)));
        assert_eq!(src.accept_packet(&w.finish(), &mut stats), Some(Step::Skip));
        assert_eq!((src.counts.gaps, src.counts.requests), (1, 1));
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            &request(&SESSION, 1, 4),
            "messages 1..=4 asked for"
        );
    }
}
