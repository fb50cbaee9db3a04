//! The session layer of a FIX 4.4 initiator, without I/O: messages in, bytes
//! to send and application messages to deliver out. Logon and Logout,
//! Heartbeat and TestRequest on the agreed interval, sequence numbers in
//! both directions (a gap asks for a resend; a resend request is answered
//! from the store, admin messages gap-filled), and session-level Reject.

use crate::codec::{Message, Writer};
use crate::store::Store;
use crate::FixError;

/// Who we are, who the venue is, and how often to say so.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// SenderCompID (49) of ours.
    pub sender: String,
    /// TargetCompID (56): the venue's.
    pub target: String,
    /// HeartBtInt (108), seconds.
    pub heartbeat_s: u32,
    /// Logon with ResetSeqNumFlag (141=Y): both sides start at 1.
    pub reset_on_logon: bool,
}

/// Where the session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Connected, Logon sent, no answer yet.
    LogonSent,
    /// Logged on; a TestRequest is out, and application messages wait for
    /// its Heartbeat. The venue answers in order, so by then it has asked
    /// for (and we have resent) whatever it missed: nothing new overtakes a
    /// resend.
    Syncing,
    /// Logged on: application messages flow.
    Active,
    /// Logout sent or received: close once it is answered (or at once).
    LoggingOut,
}

/// What an inbound message means for the caller.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// An application message, in sequence: handle it.
    Deliver,
    /// Handled here (admin), or ignored (a duplicate, a message past a gap).
    Done,
    /// The venue accepted our Logon.
    LoggedOn,
    /// Close the connection (after sending what is queued): why.
    Close(String),
}

/// Counters for the summary.
#[derive(Clone, Debug, Default)]
pub struct SessionCounters {
    /// Garbled frames ignored (bad length or checksum, bytes that are not FIX).
    pub garbled: u64,
    /// Session-level Rejects (3) we sent.
    pub rejects_sent: u64,
    /// Rejects (3) the venue sent us.
    pub rejects_received: u64,
    /// ResendRequests we sent (inbound gaps).
    pub resend_requests: u64,
    /// Application messages we resent with PossDupFlag.
    pub resent: u64,
    /// Logons completed.
    pub logons: u64,
}

/// One initiator session over a persisted store.
pub struct Session {
    cfg: SessionConfig,
    store: Store,
    w: Writer,
    out: Vec<u8>,
    state: State,
    /// Inbound numbers below this were asked for again and are on their way.
    resend_until: Option<u64>,
    /// When the outstanding ResendRequest went out.
    resend_asked_ns: u64,
    last_sent_ns: u64,
    last_received_ns: u64,
    test_request_sent_ns: Option<u64>,
    /// When the logon's sync TestRequest went out.
    sync_sent_ns: u64,
    /// Counters.
    pub counters: SessionCounters,
}

/// The TestReqID of the TestRequest sent right after Logon.
const SYNC_ID: &[u8] = b"tickline-logon-sync";

/// Garbled frames in a row after which the session logs out.
const GARBLED_LIMIT: u64 = 10;

impl Session {
    /// A session over `store`; call [`Session::logon`] once connected.
    pub fn new(cfg: SessionConfig, store: Store) -> Self {
        Session {
            cfg,
            store,
            w: Writer::with_capacity(1024),
            out: Vec::with_capacity(1 << 16),
            state: State::LogonSent,
            resend_until: None,
            resend_asked_ns: 0,
            last_sent_ns: 0,
            last_received_ns: 0,
            test_request_sent_ns: None,
            sync_sent_ns: 0,
            counters: SessionCounters::default(),
        }
    }

    /// The store (sequence numbers, epoch).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Where the session is.
    pub fn state(&self) -> State {
        self.state
    }

    /// Bytes to send; the caller writes and then [`Session::sent`]s them.
    pub fn pending(&self) -> &[u8] {
        &self.out
    }

    /// `n` pending bytes were written.
    pub fn sent(&mut self, n: usize) {
        self.out.drain(..n);
    }

    /// A new connection: Logon (A) with our next number.
    pub fn logon(&mut self, now_ns: u64) -> Result<(), FixError> {
        self.state = State::LogonSent;
        self.resend_until = None;
        self.test_request_sent_ns = None;
        self.last_received_ns = now_ns;
        let hb = self.cfg.heartbeat_s as u64;
        let reset = self.cfg.reset_on_logon;
        if reset {
            self.store.reset()?;
        }
        self.admin("A", now_ns, |w| {
            w.int(98, 0).int(108, hb);
            if reset {
                w.str(141, "Y");
            }
        })
    }

    /// Logout (5) with a reason.
    pub fn logout(&mut self, now_ns: u64, text: &str) -> Result<(), FixError> {
        self.state = State::LoggingOut;
        self.admin("5", now_ns, |w| {
            w.str(58, text);
        })
    }

    fn header(&mut self, msg_type: &str, seq: u64, now_ns: u64) {
        let time = utc_timestamp(now_ns);
        self.w
            .start(msg_type)
            .str(49, &self.cfg.sender)
            .str(56, &self.cfg.target)
            .int(34, seq)
            .bytes(52, &time);
    }

    /// Sends an admin message, numbered, not kept for resends.
    fn admin(
        &mut self,
        msg_type: &str,
        now_ns: u64,
        body: impl FnOnce(&mut Writer),
    ) -> Result<(), FixError> {
        let seq = self.store.next_out();
        self.header(msg_type, seq, now_ns);
        body(&mut self.w);
        self.out.extend_from_slice(self.w.finish());
        self.last_sent_ns = now_ns;
        self.store.sent_admin()
    }

    /// Sends an application message (only while active); kept for resends.
    /// `body` writes the fields after the standard header.
    pub fn send_app(
        &mut self,
        msg_type: &str,
        now_ns: u64,
        body: impl FnOnce(&mut Writer),
    ) -> Result<u64, FixError> {
        debug_assert_eq!(self.state, State::Active);
        let seq = self.store.next_out();
        self.header(msg_type, seq, now_ns);
        body(&mut self.w);
        let raw = self.w.finish();
        self.out.extend_from_slice(raw);
        self.last_sent_ns = now_ns;
        self.store.sent_app(seq, raw)?;
        Ok(seq)
    }

    /// A frame the reader could not accept.
    pub fn on_garbled(&mut self, now_ns: u64, why: &FixError) -> Result<Inbound, FixError> {
        self.counters.garbled += 1;
        if self.counters.garbled == 1 {
            eprintln!(
                "fix: garbled input ignored, as FIX specifies: {why} (further ones are counted)"
            );
        }
        if self.counters.garbled.is_multiple_of(GARBLED_LIMIT) {
            let text = format!("{} garbled messages: {why}", self.counters.garbled);
            self.logout(now_ns, &text)?;
            return Ok(Inbound::Close(text));
        }
        Ok(Inbound::Done)
    }

    /// One well-framed inbound message.
    pub fn on_message(&mut self, m: &Message, now_ns: u64) -> Result<Inbound, FixError> {
        self.last_received_ns = now_ns;
        self.test_request_sent_ns = None;
        let seq = m.uint(34);
        if let Some(bad) = m.fields().find_map(Result::err) {
            return self.reject(seq.unwrap_or(0), 0, &bad.to_string(), now_ns);
        }
        let Some(seq) = seq else {
            return self.reject(0, 1, "MsgSeqNum (34) missing", now_ns);
        };
        if m.get(49) != Some(self.cfg.target.as_bytes())
            || m.get(56) != Some(self.cfg.sender.as_bytes())
        {
            let text = "CompID problem: SenderCompID/TargetCompID are not this session's";
            self.reject(seq, 9, text, now_ns)?;
            self.logout(now_ns, text)?;
            return Ok(Inbound::Close(text.into()));
        }
        let msg_type = m.msg_type();
        // A SequenceReset-Reset (no GapFill) applies whatever its number.
        if msg_type == b"4" && m.get(123) != Some(b"Y") {
            return self.sequence_reset(m, now_ns);
        }
        let expected = self.store.next_in();
        if seq < expected {
            if m.get(43) == Some(b"Y") {
                return Ok(Inbound::Done); // a duplicate we already have
            }
            let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
            self.logout(now_ns, &text)?;
            return Ok(Inbound::Close(text));
        }
        if seq > expected {
            if msg_type == b"5" {
                return Ok(Inbound::Close("venue logged out".into()));
            }
            // Ask once for everything from the first missing number on
            // (the venue resends this message too, in order); again only
            // if a second passes without the answer.
            let stale = now_ns.saturating_sub(self.resend_asked_ns) > 1_000_000_000;
            if self.resend_until.is_none() || stale {
                self.resend_until = Some(seq);
                self.resend_asked_ns = now_ns;
                self.counters.resend_requests += 1;
                self.admin("2", now_ns, |w| {
                    w.int(7, expected).int(16, 0);
                })?;
            }
            if msg_type == b"A" {
                return self.logged_on(now_ns);
            }
            // The sync Heartbeat counts even past a gap: the venue sent it
            // after everything before it, resends included.
            if msg_type == b"0" && self.state == State::Syncing && m.get(112) == Some(SYNC_ID) {
                return Ok(self.synced());
            }
            return Ok(Inbound::Done);
        }
        self.store.set_next_in(seq + 1)?;
        if self.resend_until.is_some_and(|u| seq >= u) {
            self.resend_until = None;
        }
        self.in_sequence(m, msg_type, now_ns)
    }

    fn in_sequence(
        &mut self,
        m: &Message,
        msg_type: &[u8],
        now_ns: u64,
    ) -> Result<Inbound, FixError> {
        match msg_type {
            b"A" => self.logged_on(now_ns),
            b"0" if self.state == State::Syncing && m.get(112) == Some(SYNC_ID) => {
                Ok(self.synced())
            }
            b"0" => Ok(Inbound::Done),
            b"1" => {
                let id = m.get(112).unwrap_or_default().to_vec();
                self.admin("0", now_ns, |w| {
                    w.bytes(112, &id);
                })?;
                Ok(Inbound::Done)
            }
            b"2" => self.resend(m, now_ns),
            b"3" => {
                self.counters.rejects_received += 1;
                eprintln!(
                    "fix: the venue rejected our message {}: {}",
                    m.uint(45).unwrap_or(0),
                    m.str(58).unwrap_or("(no text)")
                );
                Ok(Inbound::Done)
            }
            b"4" => self.sequence_reset(m, now_ns),
            b"5" => {
                if self.state != State::LoggingOut {
                    self.logout(now_ns, "logout acknowledged")?;
                }
                Ok(Inbound::Close(format!(
                    "venue logged out: {}",
                    m.str(58).unwrap_or("(no text)")
                )))
            }
            _ if matches!(self.state, State::Active | State::Syncing) => Ok(Inbound::Deliver),
            _ => {
                let text = "application message before Logon";
                self.logout(now_ns, text)?;
                Ok(Inbound::Close(text.into()))
            }
        }
    }

    fn logged_on(&mut self, now_ns: u64) -> Result<Inbound, FixError> {
        self.state = State::Syncing;
        self.sync_sent_ns = now_ns;
        self.admin("1", now_ns, |w| {
            w.bytes(112, SYNC_ID);
        })?;
        Ok(Inbound::Done)
    }

    fn synced(&mut self) -> Inbound {
        self.state = State::Active;
        self.counters.logons += 1;
        Inbound::LoggedOn
    }

    fn sequence_reset(&mut self, m: &Message, now_ns: u64) -> Result<Inbound, FixError> {
        let Some(new) = m.uint(36) else {
            return self.reject(m.uint(34).unwrap_or(0), 1, "NewSeqNo (36) missing", now_ns);
        };
        if new < self.store.next_in() {
            let text = format!(
                "SequenceReset to {new}, below the expected {}",
                self.store.next_in()
            );
            return self.reject(m.uint(34).unwrap_or(0), 5, &text, now_ns);
        }
        self.store.set_next_in(new)?;
        if self.resend_until.is_some_and(|u| new > u) {
            self.resend_until = None;
        }
        Ok(Inbound::Done)
    }

    /// Answers a ResendRequest: our application messages again with
    /// PossDupFlag and OrigSendingTime; admin numbers gap-filled.
    fn resend(&mut self, m: &Message, now_ns: u64) -> Result<Inbound, FixError> {
        let from = m.uint(7).unwrap_or(1).max(1);
        let last = self.store.next_out() - 1;
        let to = match m.uint(16) {
            Some(0) | None => last,
            Some(t) => t.min(last),
        };
        let msgs = self.store.sent_between(from, to)?;
        let mut next = from;
        for (seq, raw) in &msgs {
            if *seq > next {
                self.gap_fill(next, *seq, now_ns);
            }
            self.resend_one(*seq, raw, now_ns)?;
            next = seq + 1;
        }
        if next <= to {
            self.gap_fill(next, to + 1, now_ns);
        }
        Ok(Inbound::Done)
    }

    fn gap_fill(&mut self, seq: u64, new_seq: u64, now_ns: u64) {
        self.header("4", seq, now_ns);
        self.w.str(43, "Y").str(123, "Y").int(36, new_seq);
        self.out.extend_from_slice(self.w.finish());
    }

    fn resend_one(&mut self, seq: u64, raw: &[u8], now_ns: u64) -> Result<(), FixError> {
        let m = Message::parse(raw)
            .ok_or_else(|| FixError::Store(format!("stored message {seq} does not parse")))?;
        let msg_type = m.str(35).unwrap_or("D").to_owned();
        let orig = m.get(52).unwrap_or_default().to_vec();
        self.header(&msg_type, seq, now_ns);
        self.w.str(43, "Y").bytes(122, &orig);
        for (tag, v) in m.fields().map_while(Result::ok) {
            if !matches!(tag, 8 | 9 | 35 | 49 | 56 | 34 | 52 | 43 | 122 | 10) {
                self.w.bytes(tag, v);
            }
        }
        self.out.extend_from_slice(self.w.finish());
        self.counters.resent += 1;
        Ok(())
    }

    fn reject(
        &mut self,
        ref_seq: u64,
        reason: u32,
        text: &str,
        now_ns: u64,
    ) -> Result<Inbound, FixError> {
        self.counters.rejects_sent += 1;
        if self.counters.rejects_sent == 1 {
            eprintln!(
                "fix: rejecting the venue's message {ref_seq}: {text} (further ones are counted)"
            );
        }
        // The rejected message still consumed its number.
        if ref_seq == self.store.next_in() {
            self.store.set_next_in(ref_seq + 1)?;
        }
        self.admin("3", now_ns, |w| {
            w.int(45, ref_seq).int(373, reason as u64).str(58, text);
        })?;
        Ok(Inbound::Done)
    }

    /// Heartbeats and test requests on the interval; `Close` when the venue
    /// has been silent through a TestRequest.
    pub fn on_timer(&mut self, now_ns: u64) -> Result<Option<Inbound>, FixError> {
        let hb = self.cfg.heartbeat_s as u64 * 1_000_000_000;
        if self.state == State::Active && now_ns.saturating_sub(self.last_sent_ns) >= hb {
            self.admin("0", now_ns, |_| {})?;
        }
        if self.state == State::Syncing && now_ns.saturating_sub(self.sync_sent_ns) >= hb {
            return Ok(Some(Inbound::Close(format!(
                "no Heartbeat for the logon TestRequest in {} s",
                self.cfg.heartbeat_s
            ))));
        }
        let silent = now_ns.saturating_sub(self.last_received_ns);
        match self.test_request_sent_ns {
            Some(t) if now_ns.saturating_sub(t) >= hb => {
                return Ok(Some(Inbound::Close(format!(
                    "no answer to a TestRequest in {} s",
                    self.cfg.heartbeat_s
                ))))
            }
            None if silent >= hb + hb / 5 => {
                self.test_request_sent_ns = Some(now_ns);
                let id = now_ns.to_string();
                self.admin("1", now_ns, |w| {
                    w.str(112, &id);
                })?;
            }
            _ => {}
        }
        Ok(None)
    }
}

/// UTCTimestamp (YYYYMMDD-HH:MM:SS.sss) of wall-clock ns since the epoch,
/// without allocating.
pub fn utc_timestamp(ns: u64) -> [u8; 21] {
    let secs = ns / 1_000_000_000;
    let ms = ns / 1_000_000 % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut out = *b"00000000-00:00:00.000";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y as u64);
    put(4, 2, m as u64);
    put(6, 2, d as u64);
    put(9, 2, rem / 3600);
    put(12, 2, rem / 60 % 60);
    put(15, 2, rem % 60);
    put(18, 3, ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fix_utc() {
        assert_eq!(&utc_timestamp(0), b"19700101-00:00:00.000");
        // 2026-11-26 01:02:03.456 UTC.
        assert_eq!(
            &utc_timestamp(1_795_654_923_456_000_000),
            b"20261126-01:02:03.456"
        );
        assert_eq!(
            &utc_timestamp(951_782_400_000_000_000),
            b"20000229-00:00:00.000"
        );
    }
}
