//! Binance's JSON messages, read by serde over the borrowed line: strings
//! are not copied, nesting and escapes are JSON's own, and price levels go
//! into reused buffers, so a message allocates nothing.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::parse_fixed;

/// A capture line's JSON object: a combined-stream message, or a REST
/// depth snapshot. `data` stays raw until the stream says what it is.
#[derive(Deserialize)]
pub(super) struct TopLevel<'a> {
    #[serde(borrow, default)]
    pub stream: Option<&'a str>,
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
    #[serde(rename = "lastUpdateId", default)]
    pub last_update_id: Option<u64>,
}

/// The symbol field of any stream message.
#[derive(Deserialize)]
pub(super) struct SymbolOf<'a> {
    #[serde(rename = "s", borrow)]
    pub symbol: &'a str,
}

/// A `bookTicker`: best levels at update id `u`.
#[derive(Deserialize)]
pub(super) struct BookTicker<'a> {
    pub u: u64,
    #[serde(rename = "b", borrow)]
    pub bid: &'a str,
    #[serde(rename = "B", borrow)]
    pub bid_qty: &'a str,
    #[serde(rename = "a", borrow)]
    pub ask: &'a str,
    #[serde(rename = "A", borrow)]
    pub ask_qty: &'a str,
}

/// A `trade` or `aggTrade`.
#[derive(Deserialize)]
pub(super) struct Trade<'a> {
    #[serde(rename = "p", borrow)]
    pub price: &'a str,
    #[serde(rename = "q", borrow)]
    pub qty: &'a str,
    /// Trade time (`T`), ms: the matching engine's.
    #[serde(rename = "T", default)]
    pub time_ms: u64,
    /// Event time (`E`), ms: when Binance sent the message.
    #[serde(rename = "E", default)]
    pub event_ms: u64,
    /// The buyer was the maker.
    #[serde(rename = "m", default)]
    pub buyer_maker: Option<bool>,
}

/// Price levels of one depth message, parsed to fixed point. Kept across
/// messages so their capacity is reused.
#[derive(Debug, Default)]
pub(super) struct Sides {
    pub bids: Vec<(i64, i64)>,
    pub asks: Vec<(i64, i64)>,
    /// Levels whose price or quantity is not an exact decimal.
    pub bad_levels: u32,
    pub has_bids: bool,
    pub has_asks: bool,
}

impl Sides {
    pub fn with_capacity(n: usize) -> Self {
        Sides {
            bids: Vec::with_capacity(n),
            asks: Vec::with_capacity(n),
            ..Default::default()
        }
    }
}

/// The scalar fields of a `depthUpdate` diff or a REST snapshot; their
/// levels are in the [`Sides`] that [`parse_depth`] filled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Depth<'a> {
    /// First update id (`U`), diffs only.
    pub first: Option<u64>,
    /// Final update id (`u`), diffs only.
    pub last: Option<u64>,
    /// The previous diff's final id (`pu`), futures diffs only.
    pub prev: Option<u64>,
    /// `lastUpdateId`, snapshots only.
    pub snapshot_id: Option<u64>,
    /// Event time (`E`): when Binance sent the message, ms.
    pub event_ms: u64,
    /// Transaction time (`T`): when the matching engine made the change,
    /// ms (futures messages only; 0 when absent).
    pub transact_ms: u64,
    /// A snapshot's own `symbol`, where it has one.
    pub symbol: Option<&'a str>,
}

impl Depth<'_> {
    /// The exchange time of the book it carries: the matching engine's
    /// transaction time where the message has one (futures), else the time
    /// it was sent (spot). Trades carry their own `T`, so on futures both
    /// run on the matching engine's clock.
    pub fn exchange_ms(&self) -> u64 {
        if self.transact_ms > 0 {
            self.transact_ms
        } else {
            self.event_ms
        }
    }
}

/// Parses a diff (`b`/`a`) or a snapshot (`bids`/`asks`) into `sides`.
pub(super) fn parse_depth<'a>(
    json: &'a str,
    sides: &mut Sides,
) -> Result<Depth<'a>, serde_json::Error> {
    sides.bids.clear();
    sides.asks.clear();
    sides.bad_levels = 0;
    sides.has_bids = false;
    sides.has_asks = false;
    let mut de = serde_json::Deserializer::from_str(json);
    let depth = DepthSeed(sides).deserialize(&mut de)?;
    de.end()?;
    Ok(depth)
}

struct DepthSeed<'s>(&'s mut Sides);

impl<'de> DeserializeSeed<'de> for DepthSeed<'_> {
    type Value = Depth<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DepthSeed<'_> {
    type Value = Depth<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Binance depth object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let sides = self.0;
        let mut depth = Depth::default();
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "U" => depth.first = Some(map.next_value()?),
                "u" => depth.last = Some(map.next_value()?),
                "pu" => depth.prev = Some(map.next_value()?),
                "lastUpdateId" => depth.snapshot_id = Some(map.next_value()?),
                "E" => depth.event_ms = map.next_value()?,
                "T" => depth.transact_ms = map.next_value()?,
                "symbol" => depth.symbol = Some(map.next_value()?),
                "b" | "bids" => {
                    sides.has_bids = true;
                    let bad = map.next_value_seed(LevelsSeed(&mut sides.bids))?;
                    sides.bad_levels += bad;
                }
                "a" | "asks" => {
                    sides.has_asks = true;
                    let bad = map.next_value_seed(LevelsSeed(&mut sides.asks))?;
                    sides.bad_levels += bad;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(depth)
    }
}

/// `[["price","qty"],...]` appended to a buffer; yields the count of pairs
/// that are not exact decimals (skipped).
struct LevelsSeed<'s>(&'s mut Vec<(i64, i64)>);

impl<'de> DeserializeSeed<'de> for LevelsSeed<'_> {
    type Value = u32;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LevelsSeed<'_> {
    type Value = u32;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of [price, quantity] string pairs")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<u32, S::Error> {
        let mut bad = 0;
        while let Some((p, q)) = seq.next_element::<(&'de str, &'de str)>()? {
            match (parse_fixed(p), parse_fixed(q)) {
                (Some(p), Some(q)) => self.0.push((p, q)),
                _ => bad += 1,
            }
        }
        Ok(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UNIT;

    #[test]
    fn depth_fields_and_levels_are_read_as_json_nests_them() {
        let mut sides = Sides::default();
        // A nested object with the same keys, keys in another order, spaces.
        let j = r#"{ "x": {"U": 1, "u": 2, "b": [["9","9"]]}, "a": [], "u": 9, "pu": 4,
                    "U": 5, "b": [["1.5", "2"], ["1.4", "0.000"]], "E": 7 }"#;
        let d = parse_depth(j, &mut sides).unwrap();
        assert_eq!(
            (d.first, d.last, d.prev, d.event_ms, d.snapshot_id),
            (Some(5), Some(9), Some(4), 7, None)
        );
        assert_eq!(sides.bids, vec![(150_000_000, 2 * UNIT), (140_000_000, 0)]);
        assert!(sides.asks.is_empty() && sides.has_asks && sides.has_bids);
        assert_eq!(sides.bad_levels, 0);
    }

    #[test]
    fn bad_levels_are_counted_and_bad_json_is_an_error() {
        let mut sides = Sides::default();
        let d = parse_depth(
            r#"{"lastUpdateId":3,"bids":[["1e5","1"],["2","1"]]}"#,
            &mut sides,
        )
        .unwrap();
        assert_eq!(d.snapshot_id, Some(3));
        assert_eq!((sides.bids.len(), sides.bad_levels), (1, 1));
        assert!(!sides.has_asks);
        for bad in [
            r#"{"b":[["1","2"]"#,
            r#"{"b":[["1","2","3"]]}"#,
            r#"{"U":"5"}"#,
            r#"{"U":5} trailing"#,
            r#"[1]"#,
        ] {
            assert!(parse_depth(bad, &mut sides).is_err(), "{bad}");
        }
    }

    #[test]
    fn stream_messages_borrow_their_strings() {
        let line = r#"{"stream":"btcusdt@bookTicker","data":{"u":4,"s":"BTCUSDT","b":"1.0","B":"2","a":"1.1","A":"3"}}"#;
        let top: TopLevel = serde_json::from_str(line).unwrap();
        assert_eq!(top.stream, Some("btcusdt@bookTicker"));
        let data = top.data.unwrap().get();
        let t: BookTicker = serde_json::from_str(data).unwrap();
        assert_eq!((t.u, t.bid, t.ask_qty), (4, "1.0", "3"));
        let s: SymbolOf = serde_json::from_str(data).unwrap();
        assert_eq!(s.symbol, "BTCUSDT");
        let t: Trade = serde_json::from_str(r#"{"p":"5","q":"1","m":false}"#).unwrap();
        assert_eq!((t.price, t.time_ms, t.buyer_maker), ("5", 0, Some(false)));
    }
}
