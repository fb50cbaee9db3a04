//! stats: attaches read-only to a running pipeline and shows, per stage,
//! state, pid, restarts, messages/s, queue depth, drops and latency
//! percentiles; or reads a finished run's interval logs and plots them.
#![forbid(unsafe_code)]

mod equity;
mod live;
mod plot;
mod slowest;

use std::collections::BTreeMap;
use std::io::IsTerminal;
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
        /// Also draw latency by percentile (whole run) to this PNG file.
        #[arg(long)]
        png: Option<PathBuf>,
        /// Also draw latency by percentile (whole run) to this SVG file.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Also draw latency over time (p50, p99, max per interval, per
        /// stage and metric, restarts marked) to this .png or .svg file.
        #[arg(long)]
        over_time: Option<PathBuf>,
        /// Also draw the equity curve after each fill, before and after the
        /// venue simulator's fees, to this .png or .svg file.
        #[arg(long)]
        equity: Option<PathBuf>,
        /// The run's slowest decisions with their causes instead of percentiles.
        #[arg(long)]
        slowest: bool,
        /// How many slowest decisions (with --slowest).
        #[arg(short = 'n', default_value_t = 20)]
        n: usize,
    },
    /// The running pipeline's slowest decisions: hop by hop, the slowest hop
    /// marked, each with its cause.
    Slowest {
        /// How many.
        #[arg(short = 'n', default_value_t = 20)]
        n: usize,
        /// Print each interval's as it is logged, until the pipeline stops.
        #[arg(long)]
        follow: bool,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Cmd::Logs {
        run_dir,
        slowest: true,
        n,
        ..
    }) = &cli.cmd
    {
        return slowest::once(run_dir, *n, cli.json);
    }
    if let Some(Cmd::Logs {
        run_dir,
        png,
        svg,
        over_time,
        equity,
        ..
    }) = &cli.cmd
    {
        let plots = Plots {
            png: png.as_deref(),
            svg: svg.as_deref(),
            over_time: over_time.as_deref(),
            equity: equity.as_deref(),
        };
        return logs(run_dir, &plots, cli.json);
    }
    let cfg = PipelineConfig::load(&cli.config)?;
    let status = BoardReader::<PipelineStatus>::open(&cfg.status_segment()).with_context(|| {
        format!(
            "no running pipeline {:?} (is `supervisor run --config {}` up?)",
            cfg.name,
            cli.config.display()
        )
    })?;
    if let Some(Cmd::Slowest { n, follow }) = &cli.cmd {
        let run_dir = status
            .read()
            .map(|(_, st)| PathBuf::from(get_str(&st.run_dir)))
            .context("the supervisor has not published its status yet")?;
        if *follow {
            return slowest::follow(&run_dir, *n, cli.json, || {
                status.writer().is_some_and(|w| w.alive)
            });
        }
        return slowest::once(&run_dir, *n, cli.json);
    }
    let window = Duration::from_millis(cli.refresh_ms.max(50));
    let mut before = read_all(&status)?;
    let mut at = Instant::now();
    let mut history = live::History::default();
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    loop {
        std::thread::sleep(window);
        let now = read_all(&status)?;
        let dt = at.elapsed().as_secs_f64();
        at = Instant::now();
        for (b, n) in before.iter().zip(&now) {
            history.push(&n.name, b.stats.as_ref(), n.stats.as_ref());
        }
        let snapshot = render(&before, &now, dt, &history)?;
        if cli.json {
            println!("{snapshot}");
        } else {
            if !cli.once {
                print!("\x1b[2J\x1b[H");
            }
            print_table(&snapshot, colour);
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

fn render(
    before: &[StageView],
    now: &[StageView],
    dt: f64,
    history: &live::History,
) -> Result<serde_json::Value> {
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
            "p99_history_ns": history.of(&n.name),
        }));
    }
    Ok(serde_json::json!({ "stages": stages }))
}

fn fmt_ns(v: &serde_json::Value) -> String {
    v.as_f64().map_or("-".into(), tickline_telemetry::format_ns)
}

fn print_table(snap: &serde_json::Value, colour: bool) {
    println!(
        "{:<14} {:<9} {:>7} {:>4} {:>10} {:>10} {:>7} {:>6}  {:<16} {:>8} {:>8} {:>8} {:>8} {:>8}  p99 per window, last {}",
        "stage", "state", "pid", "rst", "in/s", "out/s", "depth", "drops", "latency", "p50", "p90",
        "p99", "p99.9", "max", live::HISTORY
    );
    for s in snap["stages"].as_array().into_iter().flatten() {
        let num = |k: &str| {
            s[k].as_f64()
                .filter(|x| x.is_finite())
                .map_or("-".into(), |x| format!("{x:.0}"))
        };
        let state = s["state"].as_str().unwrap_or("?");
        let state = match (colour, state_named(state)) {
            (true, Some(st)) => live::colour(st, state, 9),
            _ => format!("{state:<9}"),
        };
        let head = format!(
            "{:<14} {state} {:>7} {:>4} {:>10} {:>10} {:>7} {:>6}",
            s["stage"].as_str().unwrap_or("?"),
            num("pid"),
            num("restarts"),
            num("in_per_s"),
            num("out_per_s"),
            num("queue_depth"),
            num("queue_drops"),
        );
        let blank = " ".repeat(14 + 1 + 9 + 1 + 7 + 1 + 4 + 1 + 10 + 1 + 10 + 1 + 7 + 1 + 6);
        let history: Vec<u64> = s["p99_history_ns"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
            .unwrap_or_default();
        let spark = live::sparkline(&history);
        let lat = s["latency_ns"].as_object().cloned().unwrap_or_default();
        if lat.is_empty() {
            println!("{head}");
        }
        for (i, (m, p)) in lat.iter().enumerate() {
            println!(
                "{}  {:<16} {:>8} {:>8} {:>8} {:>8} {:>8}  {}",
                if i == 0 { &head } else { &blank },
                m,
                fmt_ns(&p["p50"]),
                fmt_ns(&p["p90"]),
                fmt_ns(&p["p99"]),
                fmt_ns(&p["p99.9"]),
                fmt_ns(&p["max"]),
                if i == 0 { spark.as_str() } else { "" }
            );
        }
    }
}

/// The state a summary names.
fn state_named(name: &str) -> Option<StageState> {
    (0..=5).map(StageState::from_u32).find(|s| s.name() == name)
}

/// Every interval of every `*.hlog` in `dir`, by stage and tag, in time order.
fn read_logs(dir: &Path) -> Result<plot::Series> {
    let mut out = plot::Series::new();
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
                let start_s = h.start_timestamp().as_secs_f64();
                out.entry((stage.clone(), tag))
                    .or_default()
                    .push(plot::Interval { start_s, hist });
            }
        }
    }
    if found == 0 {
        bail!("no *.hlog interval logs in {}", dir.display());
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    }
    Ok(out)
}

/// The restarts in `dir/supervisor.log` of the supervisor that wrote the
/// current interval logs (after the last resume, if any), by time.
fn read_restarts(dir: &Path) -> Vec<plot::Restart> {
    let log = std::fs::read_to_string(dir.join("supervisor.log")).unwrap_or_default();
    let last_run = log
        .rfind("resuming the interrupted run")
        .map_or(&log[..], |i| {
            &log[log[..i].rfind('\n').map_or(0, |j| j + 1)..]
        });
    last_run
        .lines()
        .filter(|l| l.contains("; restart ") || l.contains(") hung: "))
        .filter_map(|l| {
            let at_s = l.split_once(" +")?.1.split_once("s]")?.0.parse().ok()?;
            let stage = l.split_once("] stage ")?.1.split_once(' ')?.0.to_owned();
            Some(plot::Restart { at_s, stage })
        })
        .collect()
}

/// The plots `logs` was asked for.
struct Plots<'a> {
    png: Option<&'a Path>,
    svg: Option<&'a Path>,
    over_time: Option<&'a Path>,
    equity: Option<&'a Path>,
}

fn logs(dir: &Path, plots: &Plots, json: bool) -> Result<()> {
    let series = read_logs(dir)?;
    let mut hists = BTreeMap::new();
    for (k, v) in &series {
        let h = hists.entry(k.clone()).or_insert_with(new_histogram);
        for i in v {
            h.add(&i.hist).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
    }
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
    for path in [plots.png, plots.svg].into_iter().flatten() {
        plot::percentiles(&hists, path)?;
        eprintln!("plot written to {}", path.display());
    }
    if let Some(path) = plots.over_time {
        plot::over_time(&series, &read_restarts(dir), path)?;
        eprintln!("plot written to {}", path.display());
    }
    if let Some(path) = plots.equity {
        plot::equity(&equity::read(dir)?, path)?;
        eprintln!("plot written to {}", path.display());
    }
    Ok(())
}
