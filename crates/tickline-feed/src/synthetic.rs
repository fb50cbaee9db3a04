//! A seeded synthetic market for stress tests and the default pipeline run.
//!
//! Each instrument has a fair price driven by a latent order-flow "pressure"
//! (an AR(1) process): pressure tilts which side passive orders join and
//! which side market orders take, and drags the fair price along, so order
//! flow imbalance carries real (noisy) information about the next moves, as in
//! real books. Arrivals are Poisson with a two-state (calm / burst) rate.
//! Orders go through the same [`tickline_book::OrderBook`] as real feeds.

use tickline_book::Level;
use tickline_schema::{EventKind, Side};

/// Best bid and ask before an action.
type Touch = (Option<Level>, Option<Level>);

use crate::spec::SourceError;
use crate::{Books, FeedEvent, FeedStats, Source, Step, UNIT};

/// The synthetic market's parameters.
#[derive(Clone, Debug)]
pub struct SyntheticConfig {
    /// Random seed: the same seed gives the same market.
    pub seed: u64,
    /// Instruments, ids 0 up.
    pub instruments: u32,
    /// Events to produce; 0 = endless.
    pub events: u64,
    /// Mean event rate of the calm state, per second of exchange time.
    pub rate_per_s: f64,
    /// Rate multiplier while bursting.
    pub burst_factor: f64,
    /// Per-event probability of switching calm <-> burst.
    pub burst_switch: f64,
    /// Tick size and starting price, in fixed-point units.
    pub tick: i64,
    /// First fair price, fixed point.
    pub start_price: i64,
    /// Resting orders per instrument above which cancels dominate.
    pub target_orders: usize,
    /// A step instead of random bursts: calm until this many events, then
    /// bursting for good.
    pub step_at: Option<u64>,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            seed: 1,
            instruments: 1,
            events: 1_000_000,
            rate_per_s: 50_000.0,
            burst_factor: 10.0,
            burst_switch: 0.001,
            tick: UNIT / 100,
            start_price: 100 * UNIT,
            target_orders: 200,
            step_at: None,
        }
    }
}

/// xorshift64* with helpers; deterministic per seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Roughly standard normal (Irwin-Hall of 4), cheap and bounded.
    fn normalish(&mut self) -> f64 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 1.732
    }
}

struct Instrument {
    /// Fair price in ticks.
    fair: f64,
    pressure: f64,
    /// Live order ids, for cancels, replaces and executions.
    live: Vec<u64>,
}

/// A seeded synthetic market with latent order-flow pressure.
pub struct SyntheticSource {
    cfg: SyntheticConfig,
    rng: Rng,
    insts: Vec<Instrument>,
    produced: u64,
    clock_ns: u64,
    burst: bool,
    next_order: u64,
    seeded: bool,
}

impl SyntheticSource {
    /// A market for `cfg`.
    pub fn new(cfg: SyntheticConfig) -> Self {
        let insts = (0..cfg.instruments.max(1))
            .map(|i| Instrument {
                fair: (cfg.start_price / cfg.tick) as f64 * (1.0 + 0.1 * i as f64),
                pressure: 0.0,
                live: Vec::with_capacity(cfg.target_orders * 4),
            })
            .collect();
        SyntheticSource {
            rng: Rng(cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            insts,
            produced: 0,
            clock_ns: 34_200_000_000_000,
            burst: false,
            next_order: 1,
            seeded: false,
            cfg,
        }
    }

    /// Places a few levels each side so the first events see a two-sided book.
    fn seed_books(&mut self, books: &mut Books) {
        for i in 0..self.insts.len() {
            for k in 1..=10i64 {
                for side in [Side::Buy, Side::Sell] {
                    let fair = self.insts[i].fair.round() as i64;
                    let px = match side {
                        Side::Buy => fair - k,
                        Side::Sell => fair + k,
                    };
                    let qty = (1 + self.rng.below(10) as i64) * 100 * UNIT;
                    let id = self.next_order;
                    self.next_order += 1;
                    if books
                        .book_mut(i as u32)
                        .add(id, side, px * self.cfg.tick, qty)
                        .is_ok()
                    {
                        self.insts[i].live.push(id);
                    }
                }
            }
        }
    }

    fn remove_live(&mut self, inst: usize, idx: usize) {
        self.insts[inst].live.swap_remove(idx);
    }

    /// One random action on instrument `i`; returns the event it caused.
    fn act(&mut self, i: usize, books: &mut Books) -> Option<FeedEvent> {
        let id_inst = i as u32;
        let st = &mut self.insts[i];
        st.pressure = 0.995 * st.pressure + 0.1 * self.rng.normalish();
        let p = st.pressure.clamp(-2.0, 2.0) / 2.0; // in [-1, 1]
        st.fair += 0.02 * p + 0.05 * self.rng.normalish();
        let fair = st.fair;
        let crowded = st.live.len() > self.cfg.target_orders;
        let book = books.book_mut(id_inst);
        let touch = (book.best_bid(), book.best_ask());
        let mut ev = FeedEvent::quote(id_inst, self.clock_ns);
        let u = self.rng.unit();
        let cancel_share = if crowded { 0.6 } else { 0.3 };
        if u < 0.55 - if crowded { 0.2 } else { 0.0 } || self.insts[i].live.is_empty() {
            self.passive(i, p, fair, touch, books)?;
        } else if u < 0.55 + cancel_share {
            self.cancel(i, books)?;
        } else if u < 0.95 {
            self.market(i, p, touch, books, &mut ev)?;
        } else {
            self.replace(i, touch, books)?;
        }
        Some(ev)
    }

    /// A passive order, 0..N ticks behind fair on the pressured side.
    fn passive(
        &mut self,
        i: usize,
        p: f64,
        fair: f64,
        (bid, ask): Touch,
        books: &mut Books,
    ) -> Option<()> {
        let (tick, id_inst) = (self.cfg.tick, i as u32);
        let side = if self.rng.unit() < 0.5 + 0.2 * p {
            Side::Buy
        } else {
            Side::Sell
        };
        let depth = (self.rng.unit() * self.rng.unit() * 12.0) as i64;
        let mut px = match side {
            Side::Buy => fair.floor() as i64 - depth,
            Side::Sell => fair.ceil() as i64 + depth,
        } * tick;
        // Never cross: a passive order stops one tick short of the other side.
        match side {
            Side::Buy => {
                if let Some(a) = ask {
                    px = px.min(a.price - tick);
                }
            }
            Side::Sell => {
                if let Some(b) = bid {
                    px = px.max(b.price + tick);
                }
            }
        }
        if px <= 0 {
            return None;
        }
        let qty = (1 + self.rng.below(10) as i64) * 100 * UNIT;
        let id = self.next_order;
        self.next_order += 1;
        books.book_mut(id_inst).add(id, side, px, qty).ok()?;
        self.insts[i].live.push(id);
        Some(())
    }

    /// Cancels a random live order.
    fn cancel(&mut self, i: usize, books: &mut Books) -> Option<()> {
        let id_inst = i as u32;
        let idx = self.rng.below(self.insts[i].live.len() as u64) as usize;
        let id = self.insts[i].live[idx];
        books.book_mut(id_inst).delete(id).ok()?;
        self.remove_live(i, idx);
        Some(())
    }

    /// A market order against the best level of the side pressure favours.
    fn market(
        &mut self,
        i: usize,
        p: f64,
        (bid, ask): Touch,
        books: &mut Books,
        ev: &mut FeedEvent,
    ) -> Option<()> {
        let id_inst = i as u32;
        let buy = self.rng.unit() < 0.5 + 0.3 * p;
        let (resting_side, best) = if buy {
            (Side::Sell, ask?)
        } else {
            (Side::Buy, bid?)
        };
        // Oldest live order at the best price (ids grow with time).
        let book = books.book_mut(id_inst);
        let (idx, id) = self.insts[i]
            .live
            .iter()
            .enumerate()
            .filter(|(_, id)| {
                book.order(**id)
                    .is_some_and(|o| o.side == resting_side && o.price == best.price)
            })
            .min_by_key(|(_, id)| **id)
            .map(|(k, id)| (k, *id))?;
        let order_qty = book.order(id)?.qty;
        let qty = order_qty.min((1 + self.rng.below(5) as i64) * 100 * UNIT);
        book.reduce(id, qty).ok()?;
        if qty == order_qty {
            self.remove_live(i, idx);
        }
        ev.kind = EventKind::Trade;
        ev.trade_side = if buy { 1 } else { -1 };
        ev.trade_price = best.price;
        ev.trade_qty = qty;
        Some(())
    }

    /// Moves a random order one tick, keeping it passive.
    fn replace(&mut self, i: usize, (bid, ask): Touch, books: &mut Books) -> Option<()> {
        let (tick, id_inst) = (self.cfg.tick, i as u32);
        let idx = self.rng.below(self.insts[i].live.len() as u64) as usize;
        let id = self.insts[i].live[idx];
        let book = books.book_mut(id_inst);
        let o = *book.order(id)?;
        let step = if self.rng.unit() < 0.5 { tick } else { -tick };
        let px = o.price + step;
        let crosses = match o.side {
            Side::Buy => ask.is_some_and(|a| px >= a.price),
            Side::Sell => bid.is_some_and(|b| px <= b.price),
        };
        if crosses || px <= 0 {
            return None;
        }
        let new = self.next_order;
        self.next_order += 1;
        book.replace(id, new, px, o.qty).ok()?;
        self.insts[i].live[idx] = new;
        Some(())
    }
}

impl Source for SyntheticSource {
    fn next(&mut self, books: &mut Books, stats: &mut FeedStats) -> Step {
        if !self.seeded {
            self.seeded = true;
            self.seed_books(books);
        }
        if self.cfg.events > 0 && self.produced >= self.cfg.events {
            return Step::End;
        }
        // The draw is made either way, so a step changes only the timing.
        let switch = self.rng.unit() < self.cfg.burst_switch;
        match self.cfg.step_at {
            Some(k) => self.burst = self.produced >= k,
            None if switch => self.burst = !self.burst,
            None => {}
        }
        let rate = self.cfg.rate_per_s
            * if self.burst {
                self.cfg.burst_factor
            } else {
                1.0
            };
        let gap = -(1.0 - self.rng.unit()).ln() / rate;
        self.clock_ns += (gap * 1e9) as u64 + 1;
        let i = self.rng.below(self.insts.len() as u64) as usize;
        stats.messages += 1;
        let step = self.act(i, books);
        // Passive orders stop a tick short of the other side: never crossed.
        debug_assert!(
            !books.book_mut(i as u32).is_crossed(),
            "synthetic book {i} crossed"
        );
        match step {
            Some(ev) => {
                self.produced += 1;
                stats.by_type[ev.kind as usize] += 1;
                Step::Event(ev)
            }
            None => Step::Skip,
        }
    }

    fn symbol(&self, instrument: u32) -> Option<&str> {
        const NAMES: [&str; 4] = ["SYN0", "SYN1", "SYN2", "SYN3"];
        NAMES.get(instrument as usize).copied()
    }
}

/// `synthetic[:SEED[:EVENTS[:INSTRUMENTS[:RATE[:BURST[:STEP_AT]]]]]]`: calm
/// rate (events/s of exchange time), burst factor (1: steady Poisson), and
/// an event count at which the burst rate starts for good.
pub fn from_spec(rest: &str) -> Result<Box<dyn Source>, SourceError> {
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
    Ok(Box::new(SyntheticSource::new(cfg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, n: u64) -> (Vec<FeedEvent>, Books) {
        let mut src = SyntheticSource::new(SyntheticConfig {
            seed,
            instruments: 2,
            events: n,
            ..Default::default()
        });
        let mut books = Books::new(1024, 256);
        let mut stats = FeedStats::default();
        let mut evs = Vec::new();
        loop {
            match src.next(&mut books, &mut stats) {
                Step::Event(e) => evs.push(e),
                Step::End => break,
                _ => {}
            }
            for i in 0..2 {
                assert!(
                    !books.book_mut(i).is_crossed(),
                    "crossed after {} events",
                    evs.len()
                );
            }
        }
        (evs, books)
    }

    #[test]
    fn same_seed_same_market_and_books_stay_sane() {
        let (a, _) = run(7, 20_000);
        let (b, books) = run(7, 20_000);
        assert_eq!(a, b);
        assert_eq!(a.len(), 20_000);
        let trades = a.iter().filter(|e| e.kind == EventKind::Trade).count();
        assert!(trades > 1_000 && trades < 8_000, "{trades} trades");
        assert!(a.windows(2).all(|w| w[0].exchange_ns < w[1].exchange_ns));
        for i in 0..2 {
            let b = books.book(i).unwrap();
            assert!(b.best_bid().is_some() && b.best_ask().is_some());
            assert!(b.order_count() < 1_000);
        }
        let (c, _) = run(8, 20_000);
        assert_ne!(a, c);
    }

    /// Exchange-time span in seconds of the events of a spec, in two halves.
    fn spans(spec: &str, n: usize) -> (f64, f64) {
        let mut src = crate::open_source(spec).unwrap();
        let (mut books, mut stats) = (Books::new(1024, 256), FeedStats::quiet());
        let mut ts = Vec::new();
        while ts.len() < n {
            match src.next(&mut books, &mut stats) {
                Step::Event(e) => ts.push(e.exchange_ns),
                Step::End => break,
                _ => {}
            }
        }
        let s = |a: usize, b: usize| (ts[b] - ts[a]) as f64 / 1e9;
        (s(0, n / 2 - 1), s(n / 2, n - 1))
    }

    #[test]
    fn rates_steady_and_stepped_are_what_the_spec_says() {
        // Steady Poisson at 10k/s: 10k events in about a second, either half.
        let (a, b) = spans("synthetic:3:20000:2:10000:1", 20_000);
        for half in [a, b] {
            assert!((0.9..1.25).contains(&half), "{half} s for 10k events");
        }
        // Calm 1k/s, then 10x from event 10k on.
        let (calm, fast) = spans("synthetic:3:20000:2:1000:10:10000", 20_000);
        assert!((9.0..12.5).contains(&calm), "{calm} s calm");
        assert!((0.9..1.25).contains(&fast), "{fast} s after the step");
    }
}
