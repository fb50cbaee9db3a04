//! ITCH 5.0 messages: each type's fixed length, framing, and decoding the
//! bytes into a [`Message`] (bad values are a [`FeedError`], never a panic).

use tickline_schema::Side;

use crate::{FeedError, UNIT};

/// Fixed length of each ITCH 5.0 message type, type byte included; 0 = unknown.
pub const fn message_len(kind: u8) -> usize {
    match kind {
        b'S' => 12,
        b'R' => 39,
        b'H' => 25,
        b'Y' => 20,
        b'L' => 26,
        b'V' => 35,
        b'W' => 12,
        b'K' => 28,
        b'J' => 35,
        b'h' => 21,
        b'A' => 36,
        b'F' => 40,
        b'E' => 31,
        b'C' => 36,
        b'X' => 23,
        b'D' => 19,
        b'U' => 35,
        b'P' => 44,
        b'Q' => 40,
        b'B' => 19,
        b'I' => 50,
        b'N' => 20,
        b'O' => 48,
        _ => 0,
    }
}

/// Longest ITCH 5.0 message.
pub const MAX_MESSAGE_LEN: usize = 50;

/// Splits an in-memory ITCH file into messages (length-prefixed, or framed
/// by type where the prefix is 0). Stops at the first message it cannot frame.
pub fn frames(bytes: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let prefix = u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]) as usize;
        let len = if prefix == 0 {
            message_len(*bytes.get(i + 2)?)
        } else {
            prefix
        };
        let msg = bytes.get(i + 2..i + 2 + len).filter(|_| len > 0)?;
        i += 2 + len;
        Some(msg)
    })
}

/// Nanoseconds since midnight of a message (type, locate and tracking come first).
pub fn timestamp(msg: &[u8]) -> Option<u64> {
    (msg.len() >= 11).then(|| ts_at(msg, 5))
}

/// ITCH prices have 4 decimals.
pub(crate) const PRICE_TO_FIXED: i64 = UNIT / 10_000;
/// Largest valid ITCH price: $199,999.9900 (0x7FFFFFFF means "market", not a price).
const MAX_PRICE: u32 = 1_999_999_900;

/// The messages the book cares about; everything else is `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// Stock Directory (R): a locate's symbol.
    StockDirectory {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Stock symbol, space padded.
        symbol: [u8; 8],
    },
    /// Add Order (A, and F with attribution).
    Add {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Order reference number.
        order: u64,
        /// Side byte: `B` or `S`.
        side: u8,
        /// Shares.
        shares: u32,
        /// Price, 4 implied decimals.
        price: u32,
    },
    /// Order Executed (E), at the resting order's price.
    Executed {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Order reference number.
        order: u64,
        /// Shares.
        shares: u32,
    },
    /// Order Executed With Price (C).
    ExecutedWithPrice {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Order reference number.
        order: u64,
        /// Shares.
        shares: u32,
        /// Whether the execution is printed to the tape.
        printable: bool,
        /// Price, 4 implied decimals.
        price: u32,
    },
    /// Order Cancel (X): part of an order leaves.
    Cancel {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Order reference number.
        order: u64,
        /// Shares.
        shares: u32,
    },
    /// Order Delete (D).
    Delete {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Order reference number.
        order: u64,
    },
    /// Order Replace (U).
    Replace {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Original order reference number.
        old: u64,
        /// New order reference number.
        new: u64,
        /// Shares.
        shares: u32,
        /// Price, 4 implied decimals.
        price: u32,
    },
    /// Trade (P): a non-displayed order executed.
    Trade {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Side byte: `B` or `S`.
        side: u8,
        /// Shares.
        shares: u32,
        /// Price, 4 implied decimals.
        price: u32,
    },
    /// Cross Trade (Q).
    CrossTrade {
        /// Stock locate: the instrument id.
        locate: u16,
        /// Nanoseconds since midnight.
        ts: u64,
        /// Shares.
        shares: u64,
        /// Price, 4 implied decimals.
        price: u32,
    },
    /// Any other type: counted, not applied.
    Other {
        /// The message type byte.
        kind: u8,
    },
}

pub(super) fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}
pub(super) fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}
pub(super) fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_be_bytes(a)
}
/// 6-byte nanoseconds since midnight.
pub(super) fn ts_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a[2..].copy_from_slice(&b[i..i + 6]);
    u64::from_be_bytes(a)
}

/// Decodes one message (type byte first). `msg` must be exactly its type's length.
pub fn decode(msg: &[u8]) -> Result<Message, FeedError> {
    let kind = *msg.first().ok_or(FeedError::Truncated)?;
    let len = message_len(kind);
    if len == 0 {
        return Err(FeedError::UnknownType);
    }
    if msg.len() != len {
        return Err(if msg.len() < len {
            FeedError::Truncated
        } else {
            FeedError::BadLength
        });
    }
    let locate = u16_at(msg, 1);
    let ts = ts_at(msg, 5);
    Ok(match kind {
        b'R' => {
            let mut symbol = [0u8; 8];
            symbol.copy_from_slice(&msg[11..19]);
            Message::StockDirectory { locate, symbol }
        }
        b'A' | b'F' => Message::Add {
            locate,
            ts,
            order: u64_at(msg, 11),
            side: msg[19],
            shares: u32_at(msg, 20),
            price: u32_at(msg, 32),
        },
        b'E' => Message::Executed {
            locate,
            ts,
            order: u64_at(msg, 11),
            shares: u32_at(msg, 19),
        },
        b'C' => Message::ExecutedWithPrice {
            locate,
            ts,
            order: u64_at(msg, 11),
            shares: u32_at(msg, 19),
            printable: msg[31] == b'Y',
            price: u32_at(msg, 32),
        },
        b'X' => Message::Cancel {
            locate,
            ts,
            order: u64_at(msg, 11),
            shares: u32_at(msg, 19),
        },
        b'D' => Message::Delete {
            locate,
            ts,
            order: u64_at(msg, 11),
        },
        b'U' => Message::Replace {
            locate,
            ts,
            old: u64_at(msg, 11),
            new: u64_at(msg, 19),
            shares: u32_at(msg, 27),
            price: u32_at(msg, 31),
        },
        b'P' => Message::Trade {
            locate,
            ts,
            side: msg[19],
            shares: u32_at(msg, 20),
            price: u32_at(msg, 32),
        },
        b'Q' => Message::CrossTrade {
            locate,
            ts,
            shares: u64_at(msg, 11),
            price: u32_at(msg, 27),
        },
        other => Message::Other { kind: other },
    })
}

pub(super) fn side_of(code: u8) -> Option<Side> {
    match code {
        b'B' => Some(Side::Buy),
        b'S' => Some(Side::Sell),
        _ => None,
    }
}

pub(super) fn price_of(p: u32) -> Option<i64> {
    (p > 0 && p <= MAX_PRICE).then_some(p as i64 * PRICE_TO_FIXED)
}
