//! Sources named by a spec string, as configs and command lines give them:
//! `itch:FILE`, `lobster:MESSAGES[,ORDERBOOK]`, `binance:FILE[.gz]`,
//! `moldudp64:ADDR`, `synthetic[:SEED[:EVENTS[:INSTRUMENTS]]]`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use tickline_schema::MAX_LEVELS;

use crate::binance::BinanceSource;
use crate::itch::ItchSource;
use crate::lobster::LobsterSource;
use crate::moldudp64::MoldUdpSource;
use crate::synthetic::{SyntheticConfig, SyntheticSource};
use crate::Source;

pub const SPEC_HELP: &str = "itch:FILE, lobster:MESSAGES[,ORDERBOOK], binance:FILE[.gz], moldudp64:ADDR or synthetic[:SEED[:EVENTS[:INSTRUMENTS]]]";

fn open_file(path: &str, what: &str) -> Result<File, String> {
    File::open(path).map_err(|e| format!("opening {what} {path}: {e}"))
}

/// True for sources that receive live data (which must never wait on a later stage).
pub fn is_live(spec: &str) -> bool {
    spec.starts_with("moldudp64:")
}

pub fn open_source(spec: &str) -> Result<Box<dyn Source>, String> {
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
            let src = LobsterSource::new(m, 1, depth);
            match files.next() {
                Some(book) => {
                    let b = BufReader::new(open_file(book, "LOBSTER orderbook")?);
                    Box::new(
                        src.with_reference_book(Box::new(b))
                            .map_err(|e| format!("{book}: {e}"))?,
                    )
                }
                None => Box::new(src),
            }
        }
        "binance" => {
            let f = open_file(rest, "Binance capture")?;
            let r: Box<dyn BufRead + Send> = if rest.ends_with(".gz") {
                Box::new(BufReader::new(flate2::read::GzDecoder::new(f)))
            } else {
                Box::new(BufReader::new(f))
            };
            Box::new(BinanceSource::new(r, 1))
        }
        "moldudp64" => {
            let addr: std::net::SocketAddr =
                rest.parse().map_err(|_| format!("bad address {rest:?}"))?;
            // Receives block at most 1 ms so shutdown is noticed promptly.
            Box::new(
                MoldUdpSource::bind(addr, Duration::from_millis(1))
                    .map_err(|e| format!("binding UDP {addr}: {e}"))?,
            )
        }
        "synthetic" => {
            let mut f = rest.split(':').filter(|s| !s.is_empty());
            let mut cfg = SyntheticConfig::default();
            let mut field = |name: &str| -> Result<Option<u64>, String> {
                f.next()
                    .map(|s| {
                        s.parse()
                            .map_err(|_| format!("synthetic {name}: {s:?} is not a number"))
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
                cfg.instruments =
                    u32::try_from(v).map_err(|_| "too many instruments".to_string())?;
            }
            Box::new(SyntheticSource::new(cfg))
        }
        _ => return Err(format!("unknown source {spec:?}: expected {SPEC_HELP}")),
    })
}
