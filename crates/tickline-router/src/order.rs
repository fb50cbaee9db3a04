//! Orders are built only through a constructor that validates them.

use tickline_schema::venue::OrderKind;
use tickline_schema::{Order, Side, TimeInForce, Trace};

/// Why an order could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// Quantity not a positive multiple of the lot (quantity, lot).
    #[error("quantity {0} is not a positive whole number of lots of {1}")]
    BadQuantity(i64, i64),
    /// Price not positive.
    #[error("price {0} is not positive")]
    BadPrice(i64),
}

/// A validated limit order, ready for risk checks and the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OrderRequest {
    /// Unique across restarts (continues from the journal).
    pub client_order_id: u64,
    /// The instrument.
    pub instrument_id: u32,
    /// Buy or sell.
    pub side: Side,
    /// Limit price (order) or execution price (fill), fixed point.
    pub price: i64,
    /// Quantity, fixed point, positive.
    pub qty: i64,
    /// Time in force.
    pub tif: TimeInForce,
}

impl OrderRequest {
    /// A validated order: positive price, quantity a positive multiple of `lot`.
    pub fn new(
        client_order_id: u64,
        instrument_id: u32,
        side: Side,
        price: i64,
        qty: i64,
        lot: i64,
        tif: TimeInForce,
    ) -> Result<Self, OrderError> {
        if qty <= 0 || lot <= 0 || qty % lot != 0 {
            return Err(OrderError::BadQuantity(qty, lot));
        }
        if price <= 0 {
            return Err(OrderError::BadPrice(price));
        }
        Ok(OrderRequest {
            client_order_id,
            instrument_id,
            side,
            price,
            qty,
            tif,
        })
    }

    /// Signed quantity: + buys.
    pub fn signed_qty(&self) -> i64 {
        match self.side {
            Side::Buy => self.qty,
            Side::Sell => -self.qty,
        }
    }

    /// The wire message for a downstream gateway process, sent at
    /// exchange time `sent_ns`.
    pub fn to_wire(&self, trace: Trace, prob_up: f64, sent_ns: u64) -> Order {
        Order {
            trace,
            client_order_id: self.client_order_id,
            instrument_id: self.instrument_id,
            side: self.side as i8,
            time_in_force: self.tif as u8,
            kind: OrderKind::New as u8,
            _reserved: 0,
            price: self.price,
            qty: self.qty,
            prob_up,
            sent_ns,
        }
    }
}

/// An execution of one of our orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Fill {
    /// Unique across restarts (continues from the journal).
    pub client_order_id: u64,
    /// The instrument.
    pub instrument_id: u32,
    /// Buy or sell.
    pub side: Side,
    /// Limit price (order) or execution price (fill), fixed point.
    pub price: i64,
    /// Quantity, fixed point, positive.
    pub qty: i64,
}

impl Fill {
    /// Quantity signed by side (+ buy).
    pub fn signed_qty(&self) -> i64 {
        match self.side {
            Side::Buy => self.qty,
            Side::Sell => -self.qty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructor_refuses_bad_orders() {
        let ok = OrderRequest::new(
            1,
            1,
            Side::Buy,
            100,
            200,
            100,
            TimeInForce::ImmediateOrCancel,
        );
        assert_eq!(ok.unwrap().signed_qty(), 200);
        assert_eq!(
            OrderRequest::new(1, 1, Side::Buy, 100, 150, 100, TimeInForce::Day),
            Err(OrderError::BadQuantity(150, 100))
        );
        assert_eq!(
            OrderRequest::new(1, 1, Side::Sell, 0, 100, 100, TimeInForce::Day),
            Err(OrderError::BadPrice(0))
        );
        assert!(OrderRequest::new(1, 1, Side::Sell, 1, -100, 100, TimeInForce::Day).is_err());
    }
}
