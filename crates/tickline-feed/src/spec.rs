//! Sources named by a spec string, as configs and command lines give them:
//! `itch:FILE`, `lobster:MESSAGES[,ORDERBOOK]`, `binance:FILE[.gz]`, `dbn:FILE[.zst]`,
//! `moldudp64:ADDR[,iface=IP][,request=SERVER]` (a multicast group is joined on `iface`, 127.0.0.1 by default), `synthetic[:SEED[:EVENTS[:INSTRUMENTS[:RATE[:BURST[:STEP_AT]]]]]]` (calm rate per second, burst factor, 1 for a steady Poisson rate, and an event count at which the burst rate starts for good).

use std::fs::File;

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

/// Opens an input file, naming what it is in the error.
pub(crate) fn open_file(path: &str, what: &'static str) -> Result<File, SourceError> {
    File::open(path).map_err(|source| SourceError::File {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Every format: its spec prefix, whether it receives live data (and so
/// must never wait on a later stage), and how it opens. A format is its own
/// module with a `from_spec`, and one line here.
type Open = fn(&str) -> Result<Box<dyn Source>, SourceError>;
const FORMATS: [(&str, bool, Open); 6] = [
    ("itch", false, crate::itch::from_spec),
    ("lobster", false, crate::lobster::from_spec),
    ("dbn", false, crate::databento::from_spec),
    ("binance", false, crate::binance::from_spec),
    ("moldudp64", true, crate::moldudp64::from_spec),
    ("synthetic", false, crate::synthetic::from_spec),
];

/// True for sources that receive live data (which must never wait on a later stage).
pub fn is_live(spec: &str) -> bool {
    let kind = spec.split_once(':').map_or(spec, |(k, _)| k);
    FORMATS.iter().any(|(k, live, _)| *live && *k == kind)
}

/// Opens the source a spec names.
pub fn open_source(spec: &str) -> Result<Box<dyn Source>, SourceError> {
    let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let (_, _, open) = FORMATS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .ok_or_else(|| SourceError::Unknown(spec.to_owned()))?;
    open(rest)
}
