//! Sources named by a spec string, as configs and command lines give them:
//! `itch:FILE`, `lobster:MESSAGES[,ORDERBOOK]`, `binance:FILE[.gz]`, `dbn:FILE[.zst]`,
//! `moldudp64:ADDR[,iface=IP][,request=SERVER]` (a multicast group is joined on `iface`, 127.0.0.1 by default), `synthetic[:SEED[:EVENTS[:INSTRUMENTS[:RATE[:BURST[:STEP_AT]]]]]]` (calm rate per second, burst factor, 1 for a steady Poisson rate, and an event count at which the burst rate starts for good).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use tickline_schema::MAX_LEVELS;

use crate::binance::{BinanceSource, MergedLines};
use crate::databento::DbnSource;
use crate::itch::ItchSource;
use crate::lobster::LobsterSource;
use crate::moldudp64::MoldUdpSource;
use crate::synthetic::{SyntheticConfig, SyntheticSource};
use crate::Source;

/// The spec syntax, for help texts and errors.
pub const SPEC_HELP: &str = "itch:FILE, lobster:MESSAGES[,ORDERBOOK], binance:FILE[.gz][,FILE...], dbn:FILE[.zst], moldudp64:ADDR[,iface=IP][,request=SERVER[,deadline_ms=N][,snapshot=TCP_ADDR]] (ADDR may be a multicast group) or synthetic[:SEED[:EVENTS[:INSTRUMENTS[:RATE[:BURST[:STEP_AT]]]]]]";

/// Why a source spec could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// An input file could not be opened or read.
    #[error("opening {what} {path}")]
    File {
        /// What the file is, e.g. "ITCH file".
        what: &'static str,
        /// Its path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A live source's address does not parse.
    #[error("bad address {0:?}: expected IP:PORT")]
    Address(String),
    /// A live source could not bind its socket.
    #[error("binding UDP {addr}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A numeric field of a synthetic spec is not a number.
    #[error("synthetic {field}: {value:?} is not a number")]
    Number {
        /// Which field.
        field: &'static str,
        /// What was given.
        value: String,
    },
    /// More synthetic instruments than ids.
    #[error("synthetic instruments: {0} is too many")]
    Instruments(u64),
    /// No such kind of source.
    #[error("unknown source {0:?}: expected {SPEC_HELP}")]
    Unknown(String),
}

fn open_file(path: &str, what: &'static str) -> Result<File, SourceError> {
    File::open(path).map_err(|source| SourceError::File {
        what,
        path: path.to_owned(),
        source,
    })
}

/// True for sources that receive live data (which must never wait on a later stage).
pub fn is_live(spec: &str) -> bool {
    spec.starts_with("moldudp64:")
}

/// Opens the source a spec names.
pub fn open_source(spec: &str) -> Result<Box<dyn Source>, SourceError> {
    let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
    Ok(match kind {
        "itch" => {
            let f: Box<dyn Read> = Box::new(open_file(rest, "ITCH file")?);
            Box::new(ItchSource::new(f))
        }
        "lobster" => {
            let mut files = rest.split(',');
            let msg = files.next().unwrap_or_default();
            let m = BufReader::new(open_file(msg, "LOBSTER messages")?);
            // The file name says its depth: ..._message_10.csv.
            let depth = msg
                .rsplit('_')
                .next()
                .and_then(|s| s.trim_end_matches(".csv").parse().ok())
                .unwrap_or(MAX_LEVELS);
            let mut src = LobsterSource::new(m, 1, depth);
            // ..and its ticker: AAPL_2012-06-21_34200000_57600000_message_10.csv.
            let file_name = std::path::Path::new(msg)
                .file_name()
                .and_then(|n| n.to_str());
            if let Some((ticker, _)) = file_name.and_then(|n| n.split_once('_')) {
                src = src.with_symbol(ticker);
            }
            match files.next() {
                Some(book) => {
                    let b = BufReader::new(open_file(book, "LOBSTER orderbook")?);
                    Box::new(src.with_reference_book(Box::new(b)).map_err(|source| {
                        SourceError::File {
                            what: "LOBSTER orderbook",
                            path: book.to_owned(),
                            source,
                        }
                    })?)
                }
                None => Box::new(src),
            }
        }
        "dbn" => Box::new(DbnSource::open(rest).map_err(|e| SourceError::File {
            what: "Databento DBN file",
            path: rest.to_owned(),
            source: std::io::Error::other(e.to_string()),
        })?),
        "binance" => {
            // One capture file, or several (a cryptofeed capture's
            // websocket and REST files) merged by receive time.
            let mut inputs = Vec::new();
            for path in rest.split(',') {
                let f = open_file(path, "Binance capture")?;
                let r: Box<dyn BufRead + Send> = if path.ends_with(".gz") {
                    Box::new(BufReader::new(flate2::read::GzDecoder::new(f)))
                } else {
                    Box::new(BufReader::new(f))
                };
                inputs.push(r);
            }
            match inputs.len() {
                1 => Box::new(BinanceSource::new(inputs.pop().expect("one"), 1)),
                _ => Box::new(BinanceSource::new(MergedLines::new(inputs), 1)),
            }
        }
        "moldudp64" => {
            // LISTEN[,iface=ADDR][,request=SERVER]; LISTEN may be a multicast group.
            let mut parts = rest.split(',');
            let listen = parts.next().unwrap_or_default();
            let (mut server, mut iface, mut deadline, mut snapshot) = (None, None, None, None);
            for p in parts {
                match p.split_once('=') {
                    Some(("request", r)) => server = Some(r),
                    Some(("iface", i)) => iface = Some(i),
                    Some(("snapshot", a)) => {
                        snapshot = Some(
                            a.parse::<std::net::SocketAddr>()
                                .map_err(|_| SourceError::Address(a.to_owned()))?,
                        )
                    }
                    Some(("deadline_ms", d)) => {
                        let ms: u64 = d
                            .parse()
                            .map_err(|_| SourceError::Address(format!("deadline_ms={d}")))?;
                        deadline = Some(Duration::from_millis(ms));
                    }
                    _ => {
                        return Err(SourceError::Address(format!(
                            "{p} (expected request=, iface=, deadline_ms= or snapshot=)"
                        )))
                    }
                }
            }
            let addr: std::net::SocketAddr = listen
                .parse()
                .map_err(|_| SourceError::Address(listen.to_owned()))?;
            // Receives block at most 1 ms so shutdown is noticed promptly.
            let poll = Duration::from_millis(1);
            let src = match addr {
                std::net::SocketAddr::V4(group) if group.ip().is_multicast() => {
                    let iface = iface.unwrap_or("127.0.0.1");
                    let ip: std::net::Ipv4Addr = iface
                        .parse()
                        .map_err(|_| SourceError::Address(iface.to_owned()))?;
                    MoldUdpSource::join(group, ip, poll)
                }
                _ if iface.is_some() => {
                    return Err(SourceError::Address(format!(
                        "{listen}: iface= is for a multicast group"
                    )))
                }
                _ => MoldUdpSource::bind(addr, poll),
            }
            .map_err(|source| SourceError::Bind { addr, source })?;
            match server {
                None => Box::new(src),
                Some(r) => {
                    let server: std::net::SocketAddr =
                        r.parse().map_err(|_| SourceError::Address(r.to_owned()))?;
                    let src = src
                        .with_request_server(server)
                        .map_err(|source| SourceError::Bind { addr, source })?;
                    let src = match deadline {
                        Some(d) => src.with_recovery_deadline(d),
                        None => src,
                    };
                    match snapshot {
                        Some(a) => Box::new(src.with_snapshot_server(a)),
                        None => Box::new(src),
                    }
                }
            }
        }
        "synthetic" => {
            let mut f = rest.split(':').filter(|s| !s.is_empty());
            let mut cfg = SyntheticConfig::default();
            let mut field = |field: &'static str| -> Result<Option<u64>, SourceError> {
                f.next()
                    .map(|s| {
                        s.parse().map_err(|_| SourceError::Number {
                            field,
                            value: s.to_owned(),
                        })
                    })
                    .transpose()
            };
            if let Some(v) = field("seed")? {
                cfg.seed = v;
            }
            if let Some(v) = field("event count")? {
                cfg.events = v;
            }
            if let Some(v) = field("instruments")? {
                cfg.instruments = u32::try_from(v).map_err(|_| SourceError::Instruments(v))?;
            }
            // Calm rate (events/s of exchange time), burst factor (1: steady
            // Poisson), and a step to the burst rate at an event count.
            if let Some(v) = field("rate")? {
                cfg.rate_per_s = v.max(1) as f64;
            }
            if let Some(v) = field("burst factor")? {
                cfg.burst_factor = v.max(1) as f64;
                if v <= 1 {
                    cfg.burst_switch = 0.0;
                }
            }
            cfg.step_at = field("step")?;
            Box::new(SyntheticSource::new(cfg))
        }
        _ => return Err(SourceError::Unknown(spec.to_owned())),
    })
}
