//! stats: attaches read-only to a running pipeline and shows, per stage,
//! state, pid, restarts, messages/s, queue depth, drops and latency
//! percentiles; or reads a finished run's interval logs and plots them.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use clap::{Parser, Subcommand};
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use tickline_pipeline::PipelineConfig;
use tickline_schema::telemetry::{get_str, Metric, PipelineStatus, StageState};
use tickline_shm::{BoardReader, QueueView};
use tickline_telemetry::{new_histogram, percentiles, Snapshot, StatsReader};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The pipeline's config (for its segment names).
    #[arg(long, default_value = "config/pipeline.toml")]
    config: PathBuf,
    /// One snapshot, then exit.
    #[arg(long)]
    once: bool,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Refresh period, and the window over which rates are measured.
    #[arg(long, default_value_t = 1000)]
    refresh_ms: u64,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Percentiles from a finished run's interval logs (`<run_dir>/*.hlog`).
    Logs {
        run_dir: PathBuf,
        /// Also draw a latency-by-percentile plot to this SVG file.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Cmd::Logs { run_dir, svg }) = &cli.cmd {
        return logs(run_dir, svg.as_deref(), cli.json);
    }
    let cfg = PipelineConfig::load(&cli.config)?;
    let status = BoardReader::<PipelineStatus>::open(&cfg.status_segment()).with_context(|| {
        format!(
            "no running pipeline {:?} (is `supervisor run --config {}` up?)",
            cfg.name,
            cli.config.display()
        )
    })?;
    let window = Duration::from_millis(cli.refresh_ms.max(50));
    let mut before = read_all(&status)?;
    let mut at = Instant::now();
    loop {
        std::thread::sleep(window);
        let now = read_all(&status)?;
        let dt = at.elapsed().as_secs_f64();
        at = Instant::now();
        let snapshot = render(&before, &now, dt)?;
        if cli.json {
            println!("{snapshot}");
        } else {
            if !cli.once {
                print!("\x1b[2J\x1b[H");
            }
            print_table(&snapshot);
        }
        if cli.once {
            return Ok(());
        }
        before = now;
    }
}

struct StageView {
    name: String,
    pid: u32,
    state: StageState,
    restarts: u32,
    hangs: u32,
    last_exit: i32,
    input: Option<tickline_shm::QueueStatus>,
    stats: Option<Snapshot>,
}

fn read_all(status: &BoardReader<PipelineStatus>) -> Result<Vec<StageView>> {
    let Some((_, st)) = status.read() else {
        bail!("the supervisor has not published its status yet");
    };
    let mut out = Vec::new();
    for s in st.stages.iter().take(st.n_stages as usize) {
        let input = get_str(&s.input);
        out.push(StageView {
            name: get_str(&s.name).to_owned(),
            pid: s.pid,
            state: StageState::from_u32(s.state),
            restarts: s.restarts,
            hangs: s.hangs,
            last_exit: s.last_exit,
            input: (!input.is_empty())
                .then(|| QueueView::open(input).ok().map(|v| v.status()))
                .flatten(),
            stats: StatsReader::open(get_str(&s.board))
                .ok()
                .and_then(|mut b| b.read()),
        });
    }
    Ok(out)
}

fn render(before: &[StageView], now: &[StageView], dt: f64) -> Result<serde_json::Value> {
    let mut stages = Vec::new();
    for (b, n) in before.iter().zip(now) {
        let rate = |f: fn(&Snapshot) -> u64| match (&b.stats, &n.stats) {
            // Same process: the counter's growth; after a restart, unknown.
            (Some(x), Some(y)) if x.pid == y.pid && f(y) >= f(x) => (f(y) - f(x)) as f64 / dt,
            _ => f64::NAN,
        };
        let mut latency = serde_json::Map::new();
        if let Some(s) = &n.stats {
            let h = &s.hists;
            for m in Metric::ALL {
                if !h[m as usize].is_empty() {
                    latency.insert(m.name().into(), percentiles(&h[m as usize]));
                }
            }
        }
        stages.push(serde_json::json!({
            "stage": n.name,
            "state": n.state.name(),
            "pid": n.pid,
            "restarts": n.restarts,
            "hangs": n.hangs,
            "last_exit": n.last_exit,
            "in_per_s": rate(|s| s.messages_in),
            "out_per_s": rate(|s| s.messages_out),
            "errors": n.stats.as_ref().map(|s| s.errors),
            "queue_depth": n.input.as_ref().map(|q| q.depth()),
            "queue_drops": n.input.as_ref().map(|q| q.dropped),
            "latency_ns": latency,
        }));
    }
    Ok(serde_json::json!({ "stages": stages }))
}

fn fmt_ns(v: &serde_json::Value) -> String {
    match v.as_u64() {
        None => "-".into(),
        Some(n) if n < 10_000 => format!("{n}ns"),
        Some(n) if n < 10_000_000 => format!("{:.1}us", n as f64 / 1e3),
        Some(n) => format!("{:.1}ms", n as f64 / 1e6),
    }
}

fn print_table(snap: &serde_json::Value) {
    println!(
        "{:<14} {:<9} {:>7} {:>4} {:>10} {:>10} {:>7} {:>6}  {:<11} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "stage",
        "state",
        "pid",
        "rst",
        "in/s",
        "out/s",
        "depth",
        "drops",
        "latency",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max"
    );
    for s in snap["stages"].as_array().into_iter().flatten() {
        let num = |k: &str| {
            s[k].as_f64()
                .filter(|x| x.is_finite())
                .map_or("-".into(), |x| format!("{x:.0}"))
        };
        let head = format!(
            "{:<14} {:<9} {:>7} {:>4} {:>10} {:>10} {:>7} {:>6}",
            s["stage"].as_str().unwrap_or("?"),
            s["state"].as_str().unwrap_or("?"),
            s["pid"],
            s["restarts"],
            num("in_per_s"),
            num("out_per_s"),
            num("queue_depth"),
            num("queue_drops"),
        );
        let lat = s["latency_ns"].as_object().cloned().unwrap_or_default();
        if lat.is_empty() {
            println!("{head}");
        }
        for (i, (m, p)) in lat.iter().enumerate() {
            println!(
                "{}  {:<11} {:>8} {:>8} {:>8} {:>8} {:>8}",
                if i == 0 {
                    head.clone()
                } else {
                    " ".repeat(head.len())
                },
                m,
                fmt_ns(&p["p50"]),
                fmt_ns(&p["p90"]),
                fmt_ns(&p["p99"]),
                fmt_ns(&p["p99.9"]),
                fmt_ns(&p["max"])
            );
        }
    }
}

/// Merges every interval of every `*.hlog` in `dir`, by stage and tag.
fn read_logs(dir: &Path) -> Result<BTreeMap<(String, String), Histogram<u64>>> {
    let mut out = BTreeMap::new();
    let mut d = Deserializer::new();
    let mut found = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "hlog") {
            continue;
        }
        found += 1;
        let stage = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(&path)?;
        for e in IntervalLogIterator::new(&bytes) {
            let e = e.map_err(|e| anyhow::anyhow!("{}: {e:?}", path.display()))?;
            if let LogEntry::Interval(h) = e {
                let tag = h.tag().map_or("untagged", |t| t.as_str()).to_owned();
                let raw = BASE64
                    .decode(h.encoded_histogram())
                    .with_context(|| format!("{}: bad base64", path.display()))?;
                let hist: Histogram<u64> = d
                    .deserialize(&mut &raw[..])
                    .map_err(|e| anyhow::anyhow!("{}: {e:?}", path.display()))?;
                out.entry((stage.clone(), tag))
                    .or_insert_with(new_histogram)
                    .add(&hist)
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            }
        }
    }
    if found == 0 {
        bail!("no *.hlog interval logs in {}", dir.display());
    }
    Ok(out)
}

fn logs(dir: &Path, svg: Option<&Path>, json: bool) -> Result<()> {
    let hists = read_logs(dir)?;
    if json {
        let m: serde_json::Map<_, _> = hists
            .iter()
            .map(|((s, t), h)| (format!("{s}.{t}"), percentiles(h)))
            .collect();
        println!("{}", serde_json::Value::from(m));
    } else {
        println!(
            "{:<28} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "stage.metric", "count", "p50", "p90", "p99", "p99.9", "max"
        );
        for ((s, t), h) in &hists {
            let p = percentiles(h);
            println!(
                "{:<28} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8}",
                format!("{s}.{t}"),
                h.len(),
                fmt_ns(&p["p50"]),
                fmt_ns(&p["p90"]),
                fmt_ns(&p["p99"]),
                fmt_ns(&p["p99.9"]),
                fmt_ns(&p["max"])
            );
        }
    }
    if let Some(path) = svg {
        std::fs::write(path, plot_svg(&hists))?;
        eprintln!("plot written to {}", path.display());
    }
    Ok(())
}

/// Latency by percentile, HdrHistogram style: x is 1/(1-q) on a log scale
/// (50%, 90%, 99%, ...), y is latency on a log scale.
fn plot_svg(hists: &BTreeMap<(String, String), Histogram<u64>>) -> String {
    let (w, h, l, r, t, b) = (900.0, 540.0, 80.0, 240.0, 30.0, 50.0);
    let nines = 5.0; // up to 99.999%
    let qs: Vec<f64> = (0..=100)
        .map(|i| 1.0 - 10f64.powf(-(i as f64) * nines / 100.0))
        .collect();
    let (mut ymin, mut ymax) = (f64::MAX, 1.0f64);
    for hist in hists.values().filter(|h| !h.is_empty()) {
        ymin = ymin.min(hist.value_at_quantile(0.0).max(1) as f64);
        ymax = ymax.max(hist.max() as f64);
    }
    if ymin > ymax {
        ymin = 1.0;
    }
    let (ly0, ly1) = (
        ymin.log10().floor(),
        ymax.log10().ceil().max(ymin.log10().floor() + 1.0),
    );
    let x = |q: f64| l + (-(1.0 - q).max(1e-12).log10() / nines).min(1.0) * (w - l - r);
    let y = |v: f64| h - b - (v.max(1.0).log10() - ly0) / (ly1 - ly0) * (h - t - b);
    let colors = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        "#bcbd22", "#17becf",
    ];
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>"#
    );
    for k in 0..=nines as usize {
        let q = 1.0 - 10f64.powi(-(k as i32));
        let label = if k == 0 {
            "0%".to_string()
        } else {
            format!("{}%", 100.0 * q)
        };
        s += &format!(
            r##"<line x1="{0}" y1="{t}" x2="{0}" y2="{1}" stroke="#ddd"/><text x="{0}" y="{2}" text-anchor="middle">{label}</text>"##,
            x(q),
            h - b,
            h - b + 18.0
        );
    }
    for e in ly0 as i32..=ly1 as i32 {
        let v = 10f64.powi(e);
        s += &format!(
            r##"<line x1="{l}" y1="{0}" x2="{1}" y2="{0}" stroke="#ddd"/><text x="{2}" y="{3}" text-anchor="end">{4}</text>"##,
            y(v),
            w - r,
            l - 6.0,
            y(v) + 4.0,
            fmt_ns(&serde_json::json!(v as u64))
        );
    }
    s += &format!(
        r#"<text x="{}" y="{}" text-anchor="middle">percentile</text>"#,
        (l + w - r) / 2.0,
        h - 10.0
    );
    for (i, ((stage, tag), hist)) in hists.iter().filter(|(_, h)| !h.is_empty()).enumerate() {
        let c = colors[i % colors.len()];
        let pts: Vec<String> = qs
            .iter()
            .map(|q| format!("{:.1},{:.1}", x(*q), y(hist.value_at_quantile(*q) as f64)))
            .collect();
        s += &format!(
            r#"<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{}"/>"#,
            pts.join(" ")
        );
        s += &format!(
            r#"<rect x="{}" y="{}" width="12" height="3" fill="{c}"/><text x="{}" y="{}">{stage}.{tag}</text>"#,
            w - r + 12.0,
            t + 16.0 * i as f64 + 6.0,
            w - r + 30.0,
            t + 16.0 * i as f64 + 10.0
        );
    }
    s += "</svg>\n";
    s
}
