//! Queue positions against cases worked by hand from hftbacktest's
//! documented rules (risk-averse; probabilistic with power and log); FIFO
//! on market-by-order data is in tests/fifo.rs.

use tickline_venue::{LevelModel, ProbFn, QueueModel, QueueModelError};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn model_names_parse_and_bad_ones_are_refused() {
    let level = |m| Ok(QueueModel::Level(m));
    assert_eq!("risk_averse".parse(), level(LevelModel::RiskAverse));
    assert_eq!("fifo".parse(), Ok(QueueModel::Fifo));
    assert_eq!(
        "prob:power:3".parse(),
        level(LevelModel::Prob(ProbFn::Power(3.0)))
    );
    assert_eq!("prob:log".parse(), level(LevelModel::Prob(ProbFn::Log)));
    for bad in [
        "",
        "prob",
        "prob:power",
        "prob:power:0",
        "prob:power:-1",
        "prob:power:x",
        "fifo:1",
    ] {
        assert_eq!(
            bad.parse::<QueueModel>(),
            Err(QueueModelError(bad.to_owned())),
            "{bad}"
        );
    }
}

#[test]
fn risk_averse_moves_only_on_trades_and_never_past_the_level() {
    let m = LevelModel::RiskAverse;
    let mut q = m.join(10.0);
    m.on_trade(&mut q, 4.0);
    assert_eq!(q.front, 6.0);
    // A cancel that leaves 8: it may have been behind us; we stay at 6.
    m.on_level(&mut q, 10.0, 8.0);
    assert_eq!(q.front, 6.0);
    // The level shrinks to 3: no more than 3 can be ahead.
    m.on_level(&mut q, 8.0, 3.0);
    assert_eq!(q.front, 3.0);
    assert_eq!(m.take_filled(&mut q, 1.0), 0.0);
    // 5 trade at our price: 3 ahead, then 2 of ours.
    m.on_trade(&mut q, 5.0);
    assert_eq!(m.take_filled(&mut q, 1.0), 2.0);
    assert_eq!(q.front, 0.0);
}

#[test]
fn power_3_splits_a_cancel_by_the_cubes_of_front_and_back() {
    let m = LevelModel::Prob(ProbFn::Power(3.0));
    let mut q = m.join(10.0);
    // Others join behind us: the front does not change.
    m.on_level(&mut q, 10.0, 14.0);
    assert_eq!(q.front, 10.0);
    // 6 cancelled, no trade: front 10, back 4, p(behind) = 64 / 1064;
    // front = 10 - (1000 / 1064) * 6.
    m.on_level(&mut q, 14.0, 8.0);
    assert!(close(q.front, 10.0 - 6.0 * 1000.0 / 1064.0), "{}", q.front);
}

#[test]
fn trades_are_not_counted_twice_when_the_level_shrinks_after_them() {
    let m = LevelModel::Prob(ProbFn::Log);
    let mut q = m.join(10.0);
    m.on_trade(&mut q, 3.0);
    assert_eq!(q.front, 7.0);
    // The level goes 10 -> 5: 3 of it the trade, 2 a cancel. front 7,
    // back 10 - 7 = 3, p = ln 4 / (ln 4 + ln 8) = 2/5: 7 - (3/5) * 2 = 5.8,
    // then capped by the level's 5.
    m.on_level(&mut q, 10.0, 5.0);
    assert_eq!(q.front, 5.0);
    // The trade was used up: the next decrease is a cancel again.
    // front 5, back 5 - 5 = 0: f(0) = 0, p = 0, so the cancel was ahead.
    m.on_level(&mut q, 5.0, 4.0);
    assert_eq!(q.front, 4.0);
}

#[test]
fn with_nothing_behind_a_cancel_is_ahead_and_past_the_front_it_is_capped() {
    let m = LevelModel::Prob(ProbFn::Power(2.0));
    let mut q = m.join(4.0);
    // front 4, back 0: p = 0; a cancel of 3 was ahead.
    m.on_level(&mut q, 4.0, 1.0);
    assert_eq!(q.front, 1.0);
}

#[test]
fn a_level_back_in_view_caps_what_is_ahead() {
    // Out of the 10 levels seen, the level fell from 4.46 to 0.55: seen
    // again, no more than 0.55 can be ahead, whatever the model.
    for m in [LevelModel::RiskAverse, LevelModel::Prob(ProbFn::Power(3.0))] {
        let mut q = m.join(4.463);
        m.on_level_seen_again(&mut q, 0.552);
        assert!(close(q.front, 0.552), "{m:?}");
        m.on_level_seen_again(&mut q, 3.0);
        assert!(
            close(q.front, 0.552),
            "{m:?}: growing does not move us back"
        );
    }
}
