//! The session thread: owns the socket, the session and its store; turns
//! the router's commands into FIX messages and the venue's execution
//! reports into [`Report`]s, sleeping on the socket and an eventfd.

use std::net::TcpStream;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use tickline_router::{Exec, Fill};
use tickline_schema::{Side, TimeInForce};

use super::{Command, GatewayCounters, Report, Wake};
use crate::codec::{Frame, Message, Reader};
use crate::session::{utc_timestamp, Inbound, Session, State};
use crate::FixError;

/// The session thread.
pub(super) struct Worker {
    pub(super) epoch: u64,
    pub(super) session: Session,
    pub(super) addr: String,
    pub(super) cmds: rtrb::Consumer<Command>,
    pub(super) reports: rtrb::Producer<Report>,
    pub(super) wake: Arc<Wake>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) counters: Arc<GatewayCounters>,
    pub(super) reader: Reader,
    /// ClOrdID scratch, reused.
    pub(super) id: String,
}

/// How long the session thread polls (yielding) after activity before it sleeps.
const SPIN: Duration = Duration::from_micros(1000);

fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Worker {
    /// Connects, and connects again after a loss, backing off (20 ms
    /// doubling to 1 s) until a session has logged on; each distinct reason
    /// a session ended is logged once in a row, not at every retry.
    pub(super) fn run(mut self) {
        let mut backoff = Duration::from_millis(20);
        let mut last_why = String::new();
        while !self.stop.load(Ordering::SeqCst) {
            let why = match TcpStream::connect(&self.addr) {
                Ok(sock) => {
                    self.counters.connects.fetch_add(1, Ordering::Relaxed);
                    let logons = self.counters.logons.load(Ordering::Relaxed);
                    let ended = self.connected(sock);
                    self.publish_counters();
                    if self.counters.logons.load(Ordering::Relaxed) > logons {
                        backoff = Duration::from_millis(20);
                    }
                    match ended {
                        Ok(()) => return,
                        Err(why) => format!("session with {} ended: {why}", self.addr),
                    }
                }
                Err(e) => format!("cannot reach {}: {e}", self.addr),
            };
            if why != last_why {
                eprintln!("fix: {why} (retrying)");
                last_why = why;
            }
            self.sleep_interruptibly(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// Sleeps `d`, or less if the gateway is stopping.
    fn sleep_interruptibly(&self, d: Duration) {
        let mut fds = [PollFd::new(self.wake.fd.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(d.as_millis()).unwrap_or(u16::MAX);
        let _ = poll(&mut fds, PollTimeout::from(ms));
    }

    /// One connection, until it closes (Err) or the gateway stops (Ok).
    fn connected(&mut self, mut sock: TcpStream) -> Result<(), String> {
        sock.set_nodelay(true).map_err(|e| e.to_string())?;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        self.reader = Reader::with_capacity(1 << 16);
        self.session.logon(wall_ns()).map_err(|e| e.to_string())?;
        let mut active_at = Instant::now();
        let mut timer_at = Instant::now();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                if self.session.state() == State::Active {
                    let _ = self.session.logout(wall_ns(), "gateway stopping");
                    let _ = self.flush(&mut sock);
                }
                return Ok(());
            }
            let mut busy = self.flush(&mut sock)?;
            busy |= self.read(&mut sock)?;
            if self.session.state() == State::Active {
                busy |= self.take_commands().map_err(|e| e.to_string())?;
            }
            if timer_at.elapsed() >= Duration::from_millis(100) {
                timer_at = Instant::now();
                if let Some(Inbound::Close(why)) = self
                    .session
                    .on_timer(wall_ns())
                    .map_err(|e| e.to_string())?
                {
                    let _ = self.flush(&mut sock);
                    return Err(why);
                }
            }
            self.publish_counters();
            if busy || !self.session.pending().is_empty() {
                active_at = Instant::now();
                continue;
            }
            if active_at.elapsed() < SPIN {
                std::thread::yield_now();
                continue;
            }
            self.sleep(&sock);
        }
    }

    /// Sleeps until the socket is readable, a command arrives or 100 ms pass.
    fn sleep(&mut self, sock: &TcpStream) {
        self.wake.sleeping.store(true, Ordering::SeqCst);
        let commands = !self.cmds.is_empty() && self.session.state() == State::Active;
        if !commands && !self.stop.load(Ordering::SeqCst) {
            let mut fds = [
                PollFd::new(sock.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.wake.fd.as_fd(), PollFlags::POLLIN),
            ];
            let _ = poll(&mut fds, PollTimeout::from(100u8));
        }
        self.wake.sleeping.store(false, Ordering::SeqCst);
        let _ = self.wake.fd.read();
    }

    /// Writes what the session has queued; true if anything went out.
    fn flush(&mut self, sock: &mut TcpStream) -> Result<bool, String> {
        use std::io::Write;
        let mut wrote = false;
        while !self.session.pending().is_empty() {
            match sock.write(self.session.pending()) {
                Ok(0) => return Err("connection closed while writing".into()),
                Ok(n) => {
                    self.session.sent(n);
                    wrote = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        Ok(wrote)
    }

    /// Reads and handles what the venue sent; true if anything came.
    fn read(&mut self, sock: &mut TcpStream) -> Result<bool, String> {
        use std::io::Read;
        let spare = self.reader.spare(4096);
        let n = match sock.read(spare) {
            Ok(0) => {
                return Err("the venue closed the connection".into());
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(format!("read: {e}")),
        };
        self.reader.filled(n);
        let Worker {
            reader,
            session,
            reports,
            epoch,
            counters,
            ..
        } = self;
        loop {
            let now = wall_ns();
            let step = match reader.next_frame() {
                Frame::Incomplete => break,
                Frame::Garbled(why) => session.on_garbled(now, &why),
                Frame::Message(m) => match session.on_message(&m, now) {
                    Ok(Inbound::Deliver) => {
                        on_app(&m, *epoch, reports, counters);
                        Ok(Inbound::Done)
                    }
                    other => other,
                },
            };
            match step.map_err(|e| e.to_string())? {
                Inbound::Close(why) => {
                    let _ = sock_flush(session, sock);
                    return Err(why);
                }
                Inbound::LoggedOn => {
                    if counters.logons.fetch_add(1, Ordering::Relaxed) > 0 {
                        push_report(reports, Report::Reconnected);
                    }
                }
                Inbound::Deliver | Inbound::Done => {}
            }
        }
        Ok(true)
    }

    /// Sends the router's commands; true if any.
    fn take_commands(&mut self) -> Result<bool, FixError> {
        let mut any = false;
        while let Ok(c) = self.cmds.pop() {
            any = true;
            let now = wall_ns();
            let time = utc_timestamp(now);
            match c {
                Command::New { req, poss_resend } => {
                    cl_ord_id(&mut self.id, self.epoch, req.client_order_id, "");
                    let id = &self.id;
                    self.session.send_app("D", now, |w| {
                        if poss_resend {
                            w.str(97, "Y");
                        }
                        w.str(11, id)
                            .int(55, req.instrument_id as u64)
                            .str(54, side_code(req.side))
                            .bytes(60, &time)
                            .fixed(38, req.qty)
                            .str(40, "2")
                            .fixed(44, req.price)
                            .str(59, tif_code(req.tif));
                    })?;
                    self.counters.orders_sent.fetch_add(1, Ordering::Relaxed);
                }
                Command::Cancel(req) => {
                    cl_ord_id(&mut self.id, self.epoch, req.client_order_id, "");
                    let orig = self.id.clone();
                    cl_ord_id(&mut self.id, self.epoch, req.client_order_id, "-c");
                    let id = &self.id;
                    self.session.send_app("F", now, |w| {
                        w.str(41, &orig)
                            .str(11, id)
                            .int(55, req.instrument_id as u64)
                            .str(54, side_code(req.side))
                            .bytes(60, &time)
                            .fixed(38, req.qty);
                    })?;
                }
                Command::Status(req) => {
                    cl_ord_id(&mut self.id, self.epoch, req.client_order_id, "");
                    let id = &self.id;
                    self.session.send_app("H", now, |w| {
                        w.str(11, id)
                            .int(55, req.instrument_id as u64)
                            .str(54, side_code(req.side));
                    })?;
                }
            }
        }
        Ok(any)
    }

    fn publish_counters(&self) {
        let c = &self.session.counters;
        self.counters.garbled.store(c.garbled, Ordering::Relaxed);
        self.counters
            .session_rejects
            .store(c.rejects_sent + c.rejects_received, Ordering::Relaxed);
        self.counters
            .resend_requests
            .store(c.resend_requests, Ordering::Relaxed);
        self.counters.resent.store(c.resent, Ordering::Relaxed);
    }
}

fn sock_flush(session: &mut Session, sock: &mut TcpStream) -> std::io::Result<()> {
    use std::io::Write;
    let n = sock.write(session.pending())?;
    session.sent(n);
    Ok(())
}

fn cl_ord_id(buf: &mut String, epoch: u64, id: u64, suffix: &str) {
    use std::fmt::Write;
    buf.clear();
    let _ = write!(buf, "{epoch}-{id}{suffix}");
}

fn side_code(s: Side) -> &'static str {
    match s {
        Side::Buy => "1",
        Side::Sell => "2",
    }
}

fn tif_code(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Day => "0",
        TimeInForce::GoodTillCancel => "1",
        TimeInForce::ImmediateOrCancel => "3",
    }
}

/// Our client order id from a ClOrdID of this store's epoch.
fn parse_id(v: Option<&[u8]>, epoch: u64) -> Option<u64> {
    let s = std::str::from_utf8(v?).ok()?;
    let (e, id) = s.split_once('-')?;
    if e.parse::<u64>().ok()? != epoch {
        return None;
    }
    id.strip_suffix("-c").unwrap_or(id).parse().ok()
}

/// Hands a report to the router's side; never drops one.
fn push_report(reports: &mut rtrb::Producer<Report>, r: Report) {
    while reports.push(r).is_err() {
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// An application message from the venue, in sequence.
fn on_app(
    m: &Message,
    epoch: u64,
    reports: &mut rtrb::Producer<Report>,
    counters: &GatewayCounters,
) {
    match m.msg_type() {
        b"8" => {
            counters.exec_reports.fetch_add(1, Ordering::Relaxed);
            if let Some(r) = exec_report(m, epoch) {
                push_report(reports, r);
            }
        }
        b"9" | b"j" => {
            counters.refusals.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "fix: the venue refused {}: {}",
                m.str(11).unwrap_or("?"),
                m.str(58).unwrap_or("(no text)")
            );
        }
        other => eprintln!(
            "fix: ignoring message type {:?}",
            String::from_utf8_lossy(other)
        ),
    }
}

/// What an ExecutionReport means for the router.
fn exec_report(m: &Message, epoch: u64) -> Option<Report> {
    let exec_type = m.get(150)?;
    // A cancel's report names the cancel's ClOrdID; the order is OrigClOrdID.
    let id = parse_id(m.get(41), epoch).or_else(|| parse_id(m.get(11), epoch))?;
    let instrument = m.uint(55).and_then(|v| u32::try_from(v).ok())?;
    let side = match m.get(54)? {
        b"1" => Side::Buy,
        b"2" => Side::Sell,
        _ => return None,
    };
    let status = m.get(39).unwrap_or_default();
    let finished = matches!(status, b"2" | b"3" | b"4" | b"8" | b"C");
    Some(match exec_type {
        b"0" if m.get(59) != Some(b"3") => Report::Exec(Exec::Rested(id)),
        b"0" => return None,
        b"F" => Report::Exec(Exec::Fill(Fill {
            client_order_id: id,
            instrument_id: instrument,
            side,
            price: m.fixed(31)?,
            qty: m.fixed(32)?,
        })),
        b"4" | b"C" => Report::Exec(Exec::Done(id)),
        // A duplicate ClOrdID (PossResend of an order the venue has): its
        // status request answers for it.
        b"8" if m.get(103) == Some(b"6") => return None,
        b"8" => Report::Exec(Exec::Done(id)),
        b"I" => Report::Status {
            id,
            known: !(status == b"8" && m.get(103) == Some(b"5")),
            cum_qty: m.fixed(14).unwrap_or(0),
            avg_px: m.fixed(6).unwrap_or(0),
            done: finished,
        },
        _ => return None,
    })
}
