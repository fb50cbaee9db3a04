//! After start-up (the first event of each instrument), the hot path
//! allocates nothing: the feature engine, and a queue push/pop round.

use tickline_features::{FeatureConfig, FeatureEngine};
use tickline_feed::synthetic::{SyntheticConfig, SyntheticSource};
use tickline_feed::{Books, FeedStats, Source, Step};
use tickline_schema::{BookEvent, FeatureVector};
use tickline_shm::{create, Consumer, FullPolicy, Producer, WaitStrategy};

#[test]
fn steady_state_allocates_nothing() {
    // Book events prepared up front (the feed side is not under test here).
    let cfg = SyntheticConfig {
        seed: 5,
        instruments: 3,
        events: 60_000,
        ..Default::default()
    };
    let mut src = SyntheticSource::new(cfg);
    let (mut books, mut stats) = (Books::default(), FeedStats::quiet());
    let mut evs = Vec::with_capacity(60_000);
    let mut e: BookEvent = bytemuck::Zeroable::zeroed();
    loop {
        match src.next(&mut books, &mut stats) {
            Step::Event(ev) => {
                books.fill_event(&ev, 10, &mut e);
                evs.push(e);
            }
            Step::End => break,
            _ => {}
        }
    }
    let name = format!("/tickline-noalloc-{}", std::process::id());
    let _ = tickline_shm::unlink(&name);
    create::<FeatureVector>(&name, 1024).unwrap();
    let mut p = Producer::<FeatureVector>::attach(&name, FullPolicy::Block, WaitStrategy::BusySpin)
        .unwrap();
    let mut c = Consumer::<FeatureVector>::attach(&name, WaitStrategy::BusySpin).unwrap();
    let mut engine = FeatureEngine::new(FeatureConfig::default());
    let mut fv: FeatureVector = bytemuck::Zeroable::zeroed();
    // Warm-up: every instrument seen once.
    for e in &evs[..10_000] {
        engine.update(e, &mut fv);
    }
    // Counts this thread's allocations (allocation-counter replaces the
    // global allocator in this test binary).
    let counted = allocation_counter::measure(|| {
        for e in &evs[10_000..] {
            engine.update(e, &mut fv);
            assert!(p.try_push(&fv));
            let got = c.try_pop().unwrap();
            assert_eq!(got.trace.seq, fv.trace.seq);
        }
    });
    let _ = tickline_shm::unlink(&name);
    assert_eq!(
        counted.count_total, 0,
        "{} allocations in 50,000 events",
        counted.count_total
    );
}
