//! `tickline-journal` on a journal the router's own code wrote: `verify`
//! passes it, `dump --json` gives every record in its serde form, and after
//! one flipped byte both name the damaged line and byte offset (exit 2).

use std::path::Path;
use std::process::{Command, Output};

use tickline_router::{Exec, Fill, FsyncPolicy, Journal, OrderRequest, Record, Touch, UNIT};
use tickline_schema::{Side, TimeInForce};

const BIN: &str = env!("CARGO_BIN_EXE_tickline-journal");

fn tool(args: &[&str], journal: &Path) -> Output {
    Command::new(BIN).args(args).arg(journal).output().unwrap()
}

/// Orders, each filled: 2 records an order.
fn write_journal(path: &Path, orders: u64) {
    let (mut j, _) = Journal::open(path, FsyncPolicy::Never).unwrap();
    for id in 1..=orders {
        let side = if id % 2 == 0 { Side::Buy } else { Side::Sell };
        let price = (100 + id as i64) * UNIT;
        let req = OrderRequest::new(id, 1, side, price, UNIT, UNIT, TimeInForce::Day).unwrap();
        let touch = Touch {
            bid: price - UNIT,
            ask: price + UNIT,
        };
        j.append(&Record::Order {
            seq: id,
            req,
            prob_up: 0.75,
            mark: price,
            ts: id * 1_000,
            touch,
        })
        .unwrap();
        let fill = Fill {
            client_order_id: id,
            instrument_id: 1,
            side,
            price,
            qty: UNIT,
        };
        j.append(&Record::Exec {
            seq: id,
            exec: Exec::Fill(fill),
            mark: price,
            ts: id * 1_000,
        })
        .unwrap();
        j.commit().unwrap();
    }
}

#[test]
fn verify_and_dump_name_the_damaged_line() {
    let dir = std::env::temp_dir().join(format!("tickline-journal-tool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("orders.journal");
    write_journal(&journal, 8);

    let ok = tool(&["verify"], &journal);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        text.contains(": ok, 16 records (8 orders, 8 fills"),
        "{text}"
    );
    let dump = tool(&["dump", "--json"], &journal);
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&dump.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 16);
    assert_eq!(rows[0]["order"]["req"]["client_order_id"], 1, "{}", rows[0]);
    assert_eq!(rows[1]["exec"]["exec"]["fill"]["qty"], UNIT, "{}", rows[1]);

    // One flipped byte in the third record.
    let mut bytes = std::fs::read(&journal).unwrap();
    let third = rows[2]["offset"].as_u64().unwrap() as usize;
    bytes[third + 5] ^= 0x04;
    std::fs::write(&journal, &bytes).unwrap();
    let want = format!("corrupt at line 3 (byte offset {third})");
    let verify = tool(&["verify"], &journal);
    assert_eq!(verify.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&verify.stderr).contains(&want));
    let dump = tool(&["dump"], &journal);
    assert_eq!(dump.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&dump.stdout).contains("DAMAGED: checksum mismatch"));
    assert_eq!(std::fs::read(&journal).unwrap(), bytes, "left untouched");
    let _ = std::fs::remove_dir_all(&dir);
}
