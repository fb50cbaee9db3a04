//! Random interleavings of batch push/pop between two threads never lose,
//! duplicate, reorder or tear a message, under every wait strategy.

use proptest::prelude::*;
use tickline_shm::payload::Bytes256;
use tickline_shm::{create, Consumer, FullPolicy, Producer, WaitStrategy};

fn strategy() -> impl Strategy<Value = WaitStrategy> {
    prop_oneof![
        Just(WaitStrategy::BusySpin),
        (0u32..100).prop_map(|spins| WaitStrategy::SpinYield { spins }),
        (0u32..100, 0u32..4).prop_map(|(spins, yields)| WaitStrategy::Block { spins, yields }),
    ]
}

fn run(
    cap_log2: u32,
    push_sizes: Vec<usize>,
    pop_sizes: Vec<usize>,
    wait: WaitStrategy,
    total: u64,
) {
    let name = format!(
        "/tickline-test-{}-threads-{:?}",
        std::process::id(),
        std::thread::current().id()
    )
    .replace(['(', ')'], "");
    let _ = tickline_shm::unlink(&name);
    create::<Bytes256>(&name, 1 << cap_log2).unwrap();
    let mut p = Producer::<Bytes256>::attach(&name, FullPolicy::Block, wait).unwrap();
    let mut c = Consumer::<Bytes256>::attach(&name, wait).unwrap();
    let producer = std::thread::spawn(move || {
        let mut seq = 0u64;
        let mut i = 0;
        while seq < total {
            let want = push_sizes[i % push_sizes.len()].min((total - seq) as usize);
            i += 1;
            let batch: Vec<_> = (seq..seq + want as u64).map(Bytes256::with_seq).collect();
            p.push_all(&batch);
            seq += want as u64;
        }
    });
    let mut expected = 0u64;
    let mut i = 0;
    while expected < total {
        let want = pop_sizes[i % pop_sizes.len()];
        i += 1;
        let batch = c.read_slots(want);
        if batch.is_empty() {
            c.wait(None);
            continue;
        }
        for m in batch {
            assert!(m.is_intact(), "torn message at {expected}");
            assert_eq!(m.seq(), expected);
            expected += 1;
        }
        let n = batch.len();
        c.commit(n);
    }
    producer.join().unwrap();
    assert_eq!(c.available(), 0, "more messages than were sent");
    drop(c);
    let _ = tickline_shm::unlink(&name);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn two_threads_never_lose_duplicate_or_reorder(
        cap_log2 in 1u32..8,
        push_sizes in prop::collection::vec(1usize..40, 1..8),
        pop_sizes in prop::collection::vec(1usize..40, 1..8),
        wait in strategy(),
    ) {
        run(cap_log2, push_sizes, pop_sizes, wait, 5_000);
    }
}
