//! Gap recovery: messages past a gap are held while the request server is
//! asked (and asked again) for the missing ones; a gap unanswered by the
//! deadline is rebuilt from a snapshot, or given up on with the books
//! marked stale.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::packet::{request, PacketHeader, END_OF_SESSION, HEADER_LEN};
use super::MoldUdpSource;
use crate::itch::{message_len, ItchHandler};
use crate::{Books, FeedError, FeedStats, Step};

/// Most messages held past a gap, and the widest gap believed: beyond
/// them a header is taken as corrupt (held messages past the cap are
/// dropped, then requested again with the gap).
pub(super) const MAX_AHEAD: u64 = 1 << 20;

/// How long a gap's request waits for an answer before it is sent again.
pub(super) const REQUEST_RETRY: Duration = Duration::from_millis(3);

/// How long a snapshot may take to arrive.
pub(super) const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(2);

/// Recovery times kept for percentiles; later ones only count in the max.
pub(super) const RECOVERY_LOG: usize = 1 << 16;

/// How long a gap may stay open before it is given up on (its books
/// marked stale, the messages after it applied).
pub const RECOVERY_DEADLINE: Duration = Duration::from_millis(500);

/// Gap recovery through a request server.
pub(super) struct Recovery {
    pub(super) server: SocketAddr,
    pub(super) deadline: Duration,
    /// Messages received past the open gap, by sequence number.
    pub(super) ahead: BTreeMap<u64, Vec<u8>>,
    pub(super) open: Option<Gap>,
}

/// Messages `from..until` are missing.
#[derive(Clone, Copy)]
pub(super) struct Gap {
    pub(super) from: u64,
    pub(super) until: u64,
    pub(super) opened: Instant,
    pub(super) asked: Instant,
}

/// Counters fed by sender-controlled numbers saturate instead of overflowing.
pub(super) fn add(counter: &mut u64, n: u64) {
    *counter = counter.saturating_add(n);
}

impl MoldUdpSource {
    /// A packet past a gap: its messages are held, the gap requested.
    pub(super) fn hold(&mut self, h: PacketHeader, expected: u64) -> Step {
        let rec = self.recovery.as_mut().expect("recovery on");
        let now = Instant::now();
        let first_open = rec.open.is_none();
        let gap = rec.open.get_or_insert(Gap {
            from: expected,
            until: h.seq,
            opened: now,
            asked: now,
        });
        debug_assert!(gap.from < gap.until || !first_open);
        if first_open {
            self.counts.gaps += 1;
        }
        match h.count {
            END_OF_SESSION => self.session_end = Some(h.seq),
            0 => self.counts.heartbeats += 1,
            n => {
                let mut pos = HEADER_LEN;
                let p = &self.packet[..self.len];
                for k in 0..n as u64 {
                    let Some(len) = p
                        .get(pos..pos + 2)
                        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
                    else {
                        break;
                    };
                    let Some(msg) = p.get(pos + 2..pos + 2 + len).filter(|m| !m.is_empty()) else {
                        break;
                    };
                    if rec.ahead.len() < MAX_AHEAD as usize {
                        rec.ahead.entry(h.seq + k).or_insert_with(|| msg.to_vec());
                    }
                    pos += 2 + len;
                }
            }
        }
        if first_open {
            self.ask(expected);
        }
        Step::Skip
    }

    /// Requests the open gap's missing messages from `from` on.
    pub(super) fn ask(&mut self, from: u64) {
        let (Some(rec), Some(session)) = (self.recovery.as_mut(), self.session) else {
            return;
        };
        let Some(gap) = rec.open.as_mut() else { return };
        let count = gap.until.saturating_sub(from).clamp(1, u16::MAX as u64 - 1) as u16;
        let _ = self
            .socket
            .send_to(&request(&session, from, count), rec.server);
        gap.asked = Instant::now();
        self.counts.requests += 1;
    }

    /// Rebuilds every book from the snapshot server, if there is one and
    /// its snapshot covers the gap (it reflects messages up to at least
    /// `until - 1`); held messages it already reflects are dropped.
    pub(super) fn rebuild_from_snapshot(
        &mut self,
        until: u64,
        books: &mut Books,
        stats: &mut FeedStats,
    ) -> bool {
        let Some(addr) = self.snapshot_server else {
            return false;
        };
        let snap = match crate::snapshot::fetch(addr, SNAPSHOT_TIMEOUT) {
            Ok(s) if Some(s.session) == self.session && s.seq + 1 >= until => s,
            Ok(s) => {
                self.counts.snapshot_failures += 1;
                stats.error(
                    FeedError::Gap,
                    format_args!(
                        "snapshot at {} does not cover the gap to {until} (or another session)",
                        s.seq
                    ),
                );
                return false;
            }
            Err(e) => {
                self.counts.snapshot_failures += 1;
                stats.error(FeedError::Gap, format_args!("{e}"));
                return false;
            }
        };
        books.reset();
        self.handler = ItchHandler::default();
        for m in &snap.messages {
            let _ = self.handler.handle(m, books, stats);
        }
        self.counts.snapshots += 1;
        self.expected = Some(snap.seq + 1);
        if let Some(rec) = self.recovery.as_mut() {
            rec.open = None;
            while rec
                .ahead
                .first_key_value()
                .is_some_and(|(s, _)| *s <= snap.seq)
            {
                rec.ahead.pop_first();
            }
        }
        true
    }

    /// Unanswered too long: the books may be wrong from here on.
    fn give_up(
        &mut self,
        g: Gap,
        expected: u64,
        deadline: Duration,
        books: &mut Books,
        stats: &mut FeedStats,
    ) {
        stats.error(
            FeedError::Gap,
            format_args!(
                "messages {expected}..{} not recovered within {deadline:?}; books marked stale",
                g.until
            ),
        );
        self.counts.gaps_unrecovered += 1;
        add(&mut self.counts.missed_messages, g.until - expected);
        self.lost = true;
        self.expected = Some(g.until);
        if let Some(rec) = self.recovery.as_mut() {
            rec.open = None;
        }
        books.mark_all_stale();
    }

    /// Every missing message of gap `g` arrived: its recovery time counted.
    fn gap_closed(&mut self, g: Gap) {
        let ns = g.opened.elapsed().as_nanos() as u64;
        self.counts.gaps_recovered += 1;
        add(&mut self.counts.recovered_messages, g.until - g.from);
        self.counts.recovery_max_ns = self.counts.recovery_max_ns.max(ns);
        if self.recovery_ns.len() < RECOVERY_LOG {
            self.recovery_ns.push(ns);
        }
        add(&mut self.counts.recovery_total_ns, ns);
        if let Some(rec) = self.recovery.as_mut() {
            rec.open = None;
        }
    }

    /// The next held message, once every one before it has been applied.
    /// Closes the open gap when its last missing message has arrived, and
    /// repeats its request when unanswered.
    pub(super) fn drain(&mut self, books: &mut Books, stats: &mut FeedStats) -> Option<Step> {
        let expected = self.expected?;
        let gap = self.recovery.as_ref()?.open;
        if let Some(g) = gap {
            let deadline = self.recovery.as_ref()?.deadline;
            if expected < g.until && g.opened.elapsed() >= deadline {
                if self.rebuild_from_snapshot(g.until, books, stats) {
                    return self.drain(books, stats);
                }
                self.give_up(g, expected, deadline, books, stats);
                return self.drain(books, stats);
            }
            if expected < g.until {
                if g.asked.elapsed() >= REQUEST_RETRY {
                    self.ask(expected);
                }
                return None;
            }
            self.gap_closed(g);
        }
        let rec = self.recovery.as_mut()?;
        while rec
            .ahead
            .first_key_value()
            .is_some_and(|(s, _)| *s < expected)
        {
            rec.ahead.pop_first(); // it came again meanwhile
            add(&mut self.counts.duplicates, 1);
        }
        // The next message we hold, or else the end of the session.
        let first = rec
            .ahead
            .first_key_value()
            .map(|(s, _)| *s)
            .or(self.session_end)?;
        if first > expected {
            // Held messages (or the session's end) past another hole: a new gap.
            let now = Instant::now();
            rec.open = Some(Gap {
                from: expected,
                until: first,
                opened: now,
                asked: now,
            });
            self.counts.gaps += 1;
            self.ask(expected);
            return None;
        }
        let (_, msg) = rec.ahead.pop_first()?;
        self.expected = Some(expected + 1);
        stats.messages += 1;
        stats.by_type[msg[0] as usize] += 1;
        if message_len(msg[0]) != msg.len() {
            stats.error(
                FeedError::BadLength,
                format_args!("held type {:#04x}", msg[0]),
            );
            return Some(Step::Skip);
        }
        Some(self.handler.handle(&msg, books, stats))
    }
}
