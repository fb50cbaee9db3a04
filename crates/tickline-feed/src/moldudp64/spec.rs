//! `moldudp64:ADDR[,iface=IP][,request=SERVER[,deadline_ms=N][,snapshot=TCP_ADDR]]`:
//! where to listen (ADDR may be a multicast group, joined on `iface`,
//! 127.0.0.1 by default), and where gaps are recovered from.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::MoldUdpSource;
use crate::spec::SourceError;
use crate::Source;

/// A parsed spec.
struct MoldSpec<'a> {
    listen: SocketAddr,
    iface: Option<&'a str>,
    server: Option<SocketAddr>,
    deadline: Option<Duration>,
    snapshot: Option<SocketAddr>,
}

fn addr(s: &str) -> Result<SocketAddr, SourceError> {
    s.parse().map_err(|_| SourceError::Address(s.to_owned()))
}

fn parse(rest: &str) -> Result<MoldSpec<'_>, SourceError> {
    let mut parts = rest.split(',');
    let mut spec = MoldSpec {
        listen: addr(parts.next().unwrap_or_default())?,
        iface: None,
        server: None,
        deadline: None,
        snapshot: None,
    };
    for p in parts {
        match p.split_once('=') {
            Some(("request", r)) => spec.server = Some(addr(r)?),
            Some(("iface", i)) => spec.iface = Some(i),
            Some(("snapshot", a)) => spec.snapshot = Some(addr(a)?),
            Some(("deadline_ms", d)) => {
                let ms: u64 = d
                    .parse()
                    .map_err(|_| SourceError::Address(format!("deadline_ms={d}")))?;
                spec.deadline = Some(Duration::from_millis(ms));
            }
            _ => {
                return Err(SourceError::Address(format!(
                    "{p} (expected request=, iface=, deadline_ms= or snapshot=)"
                )))
            }
        }
    }
    Ok(spec)
}

/// The socket: a multicast group joined on `iface`, or a bound address.
fn receiver(spec: &MoldSpec<'_>) -> Result<MoldUdpSource, SourceError> {
    // Receives block at most 1 ms so shutdown is noticed promptly.
    let poll = Duration::from_millis(1);
    let bind_err = |source| SourceError::Bind {
        addr: spec.listen,
        source,
    };
    match spec.listen {
        SocketAddr::V4(group) if group.ip().is_multicast() => {
            let iface = spec.iface.unwrap_or("127.0.0.1");
            let ip: Ipv4Addr = iface
                .parse()
                .map_err(|_| SourceError::Address(iface.to_owned()))?;
            MoldUdpSource::join(group, ip, poll).map_err(bind_err)
        }
        _ if spec.iface.is_some() => Err(SourceError::Address(format!(
            "{}: iface= is for a multicast group",
            spec.listen
        ))),
        _ => MoldUdpSource::bind(spec.listen, poll).map_err(bind_err),
    }
}

/// Opens the receiver a spec names, with its recovery if asked for.
pub fn from_spec(rest: &str) -> Result<Box<dyn Source>, SourceError> {
    let spec = parse(rest)?;
    let src = receiver(&spec)?;
    let Some(server) = spec.server else {
        return Ok(Box::new(src));
    };
    let mut src = src
        .with_request_server(server)
        .map_err(|source| SourceError::Bind {
            addr: spec.listen,
            source,
        })?;
    if let Some(d) = spec.deadline {
        src = src.with_recovery_deadline(d);
    }
    if let Some(a) = spec.snapshot {
        src = src.with_snapshot_server(a);
    }
    Ok(Box::new(src))
}
