//! Snapshot boards: readers never see a torn value, versions only grow,
//! other types are refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tickline_shm::payload::{Bytes256, Bytes64};
use tickline_shm::{create_board, unlink, BoardReader, BoardWriter, QueueError};

#[test]
fn readers_see_whole_values_while_the_writer_publishes() {
    let name = format!("/tickline-board-{}", std::process::id());
    let _ = unlink(&name);
    create_board::<Bytes256>(&name).unwrap();
    let reader = BoardReader::<Bytes256>::open(&name).unwrap();
    assert!(reader.read().is_none(), "nothing published yet");
    let mut w = BoardWriter::<Bytes256>::attach(&name).unwrap();
    assert!(
        BoardWriter::<Bytes256>::attach(&name).is_err(),
        "one writer only"
    );
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let n = 200_000u64;
    let writer = std::thread::spawn(move || {
        for i in 1..=n {
            w.publish(&Bytes256 { words: [i; 32] });
        }
        d.store(true, Ordering::Release);
    });
    let (mut last, mut reads) = (0, 0u64);
    while !done.load(Ordering::Acquire) {
        if let Some((ver, v)) = reader.read() {
            assert!(v.words.iter().all(|x| *x == v.words[0]), "torn read");
            assert_eq!(ver, v.words[0], "version names the value");
            assert!(ver >= last);
            last = ver;
            reads += 1;
        }
    }
    writer.join().unwrap();
    assert_eq!(reader.read().unwrap().0, n);
    assert!(reads > 0);
    assert!(matches!(
        BoardReader::<Bytes64>::open(&name),
        Err(QueueError::TypeMismatch { .. })
    ));
    unlink(&name).unwrap();
}
