//! Any bytes as a sequence of MoldUDP64 packets (each `u16 length` + bytes).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tickline_feed::moldudp64::MoldUdpSource;
use tickline_feed::{Books, FeedStats, Source, Step};

fuzz_target!(|data: &[u8]| {
    let mut src = MoldUdpSource::bind("127.0.0.1:0".parse().unwrap(), Duration::from_millis(1))
        .expect("loopback bind");
    let mut books = Books::new(64, 64);
    let mut stats = FeedStats::quiet();
    let mut i = 0;
    while i + 2 <= data.len() {
        let len = u16::from_be_bytes([data[i], data[i + 1]]) as usize;
        let packet = &data[i + 2..(i + 2 + len).min(data.len())];
        i += 2 + len;
        match src.accept_packet(packet, &mut stats) {
            Some(Step::End) => break,
            Some(_) => continue,
            None => {}
        }
        {
            let mut guard = 0;
            while src.pending() > 0 {
                src.next(&mut books, &mut stats);
                guard += 1;
                assert!(guard <= 65_535, "no progress");
            }
        }
    }
});
