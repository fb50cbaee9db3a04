//! Latency rows from a NumPy `.npy` file (hftbacktest's structured rows:
//! `req_ts`, `exch_ts`, `resp_ts` as little-endian int64, any other int64
//! fields such as its padding) or from a CSV of the three columns.

use crate::latency::LatencyRow;

/// The header dict's value for `key`, as text (`'descr': [...]` etc.).
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    Some(header[at..].trim_start().strip_prefix(':')?.trim_start())
}

/// The field names of a structured `descr`, each of which must be `<i8`.
fn int64_fields(descr: &str) -> Result<Vec<String>, String> {
    let list = descr
        .strip_prefix('[')
        .and_then(|d| d.split_once(']'))
        .map(|(l, _)| l)
        .ok_or("descr is not a list of fields")?;
    list.split("),")
        .map(|f| {
            let parts: Vec<&str> = f
                .split(['(', ')', ',', '\'', ' '])
                .filter(|p| !p.is_empty())
                .collect();
            match parts.as_slice() {
                [name, "<i8"] => Ok((*name).to_owned()),
                _ => Err(format!(
                    "field {f:?}: only little-endian int64 (<i8) fields are read"
                )),
            }
        })
        .collect()
}

/// Rows of a `.npy` file.
pub(crate) fn rows(b: &[u8]) -> Result<Vec<LatencyRow>, String> {
    // Magic (6 bytes), version (2), then the header's length: 2 bytes in
    // version 1, 4 after.
    let (start, len) = match b.get(6) {
        Some(1) if b.len() >= 10 => (10, usize::from(u16::from_le_bytes([b[8], b[9]]))),
        Some(2 | 3) if b.len() >= 12 => {
            (12, u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize)
        }
        v => return Err(format!("npy version {v:?} is not 1, 2 or 3")),
    };
    let header = b
        .get(start..start + len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("npy header cut short or not text")?;
    if !field(header, "fortran_order").is_some_and(|v| v.starts_with("False")) {
        return Err("npy rows in Fortran order are not read".into());
    }
    let names = int64_fields(field(header, "descr").ok_or("npy header has no descr")?)?;
    let col = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .ok_or_else(|| format!("npy rows have no field {n} (fields: {names:?})"))
    };
    let (req, exch, resp) = (col("req_ts")?, col("exch_ts")?, col("resp_ts")?);
    let size = 8 * names.len();
    let data = &b[start + len..];
    if !data.len().is_multiple_of(size) {
        return Err(format!(
            "{} data bytes are not whole rows of {size}",
            data.len()
        ));
    }
    let int = |row: &[u8], i: usize| {
        i64::from_le_bytes(row[8 * i..8 * i + 8].try_into().expect("8 bytes"))
    };
    Ok(data
        .chunks_exact(size)
        .map(|r| LatencyRow {
            req_ns: int(r, req),
            exch_ns: int(r, exch),
            resp_ns: int(r, resp),
        })
        .collect())
}

/// Rows of a CSV `req,exch,resp` (ns); a first line that is not numbers
/// is a header; `#` starts a comment.
pub(crate) fn csv_rows(b: &[u8]) -> Result<Vec<LatencyRow>, String> {
    let text = std::str::from_utf8(b).map_err(|e| format!("not text: {e}"))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let v: Vec<Option<i64>> = line.split(',').map(|x| x.trim().parse().ok()).collect();
        match v.as_slice() {
            [Some(req_ns), Some(exch_ns), Some(resp_ns)] => rows.push(LatencyRow {
                req_ns: *req_ns,
                exch_ns: *exch_ns,
                resp_ns: *resp_ns,
            }),
            _ if rows.is_empty() && i == 0 => {} // a header
            _ => {
                return Err(format!(
                    "line {}: expected req,exch,resp in ns: {line:?}",
                    i + 1
                ))
            }
        }
    }
    Ok(rows)
}
