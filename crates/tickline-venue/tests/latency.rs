//! Order latency models against hand-worked cases, and recorded rows read
//! from a `.npy` written here byte by byte from NumPy's format description
//! (the layout hftbacktest saves its latency rows in).

use tickline_venue::{Latency, LatencyError, LatencyRow, Recorded};

fn row(req_ns: i64, exch_ns: i64, resp_ns: i64) -> LatencyRow {
    LatencyRow {
        req_ns,
        exch_ns,
        resp_ns,
    }
}

#[test]
fn constant_latency_is_given_in_microseconds() {
    let mut l = Latency::from_spec("constant:150:80").unwrap();
    assert_eq!((l.entry(5), l.response(9)), (150_000, 80_000));
    for bad in [
        "constant:1",
        "constant:a:b",
        "constant:-1:2",
        "latency:1:2",
        "",
    ] {
        assert!(
            matches!(Latency::from_spec(bad), Err(LatencyError::Spec(_))),
            "{bad}"
        );
    }
}

#[test]
fn recorded_latency_interpolates_between_rows_and_holds_at_the_ends() {
    // Entry 100 ns at t=1000, 300 ns at t=2000; response 50 then 150.
    let mut r = Recorded::new(vec![row(1_000, 1_100, 1_150), row(2_000, 2_300, 2_450)]).unwrap();
    assert_eq!(r.entry(500), 100, "before the first row: the first row's");
    assert_eq!(r.entry(1_000), 100);
    assert_eq!(r.entry(1_250), 150, "a quarter of the way from 100 to 300");
    assert_eq!(r.entry(1_999), 299);
    assert_eq!(r.entry(2_500), 300, "after the last row: the last row's");
    // Response by the venue's time: 50 at 1100, 150 at 2300.
    assert_eq!(r.response(1_000), 50);
    assert_eq!(r.response(1_700), 100);
    assert_eq!(r.response(9_000), 150);
    // The bounds a promise and the simulator's input hold to.
    let l = Latency::Recorded(r);
    assert_eq!((l.min_entry(), l.min_response()), (100, 50));
    let c = Latency::from_spec("constant:150:80").unwrap();
    assert_eq!((c.min_entry(), c.min_response()), (150_000, 80_000));
}

#[test]
fn a_refused_row_gives_a_negative_entry_the_time_the_refusal_takes() {
    // The second order was refused (venue time 0); its answer took 400 ns.
    let mut r = Recorded::new(vec![row(1_000, 1_100, 1_200), row(2_000, 0, 2_400)]).unwrap();
    // Round trips 200 and 400: halfway, 300, negative.
    assert_eq!(r.entry(1_500), -300);
    assert_eq!(r.min_entry(), 100, "a refusal is no entry");
    assert!(Recorded::new(Vec::new()).is_err());
}

/// A version 1 `.npy` of structured rows `fields`, each `<i8`.
fn npy(fields: &[&str], rows: &[Vec<i64>]) -> Vec<u8> {
    let descr: Vec<String> = fields.iter().map(|f| format!("('{f}', '<i8')")).collect();
    let mut header = format!(
        "{{'descr': [{}], 'fortran_order': False, 'shape': ({},), }}",
        descr.join(", "),
        rows.len()
    );
    // Padded with spaces and a newline so that data starts 64-aligned.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    for r in rows {
        for v in r {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    b
}

/// A file whose last row is cut short, as by a copy that stopped.
fn cut(mut b: Vec<u8>) -> Vec<u8> {
    b.truncate(b.len() - 12);
    b
}

#[test]
fn hftbacktest_rows_are_read_from_npy_and_bad_files_are_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("tickline-venue-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("latency.npy");
    let fields = ["req_ts", "exch_ts", "resp_ts", "_padding"];
    std::fs::write(
        &good,
        npy(
            &fields,
            &[vec![1_000, 1_100, 1_150, 0], vec![2_000, 2_300, 2_450, 0]],
        ),
    )
    .unwrap();
    let mut l = Latency::from_spec(&format!("recorded:{}", good.display())).unwrap();
    assert_eq!((l.entry(1_250), l.response(1_700)), (150, 100));
    // The same as CSV.
    let csv = dir.join("latency.csv");
    std::fs::write(&csv, "req,exch,resp\n1000,1100,1150\n2000,2300,2450\n").unwrap();
    let mut l = Latency::from_spec(&format!("recorded:{}", csv.display())).unwrap();
    assert_eq!(l.entry(1_250), 150);
    // A float column, a missing field, cut rows, a bad CSV line: each named.
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "f8.npy",
            npy(&["req_ts", "exch_ts"], &[vec![1, 2]]),
            "no field resp_ts",
        ),
        (
            "cut.npy",
            cut(npy(&fields, &[vec![1, 2, 3, 0]])),
            "not whole rows",
        ),
        (
            "bad.csv",
            b"1000,1100,1150\n2000,x,2450\n".to_vec(),
            "line 2",
        ),
        ("empty.csv", b"req,exch,resp\n".to_vec(), "no rows"),
        (
            "unsorted.csv",
            b"2000,2300,2450\n1000,1100,1150\n".to_vec(),
            "row 2 (request at 1000 ns)",
        ),
    ];
    for (name, bytes, says) in cases {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        match Latency::from_spec(&format!("recorded:{}", p.display())) {
            Err(e @ LatencyError::Format { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(says) && msg.contains(name), "{name}: {msg}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(matches!(
        Latency::from_spec("recorded:/nonexistent/latency.npy"),
        Err(LatencyError::Read { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
