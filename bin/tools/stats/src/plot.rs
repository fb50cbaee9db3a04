//! Plots of a finished run's interval logs, drawn with `plotters` to PNG or
//! SVG (by the file's extension): latency by percentile over the whole run,
//! and latency over time (p50, p99 and max per interval) per stage and
//! metric, with the supervisor's restarts marked.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One interval of one stage's metric: its start (s since the run began).
pub struct Interval {
    pub start_s: f64,
    pub hist: Histogram<u64>,
}

/// Intervals by (stage, metric), in time order.
pub type Series = BTreeMap<(String, String), Vec<Interval>>;

/// A restart the supervisor logged: when (s since its start) and which stage.
pub struct Restart {
    pub at_s: f64,
    pub stage: String,
}

const COLORS: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(255, 187, 120),
];

/// Latency by percentile: x is the number of nines of the percentile (50%,
/// 90%, 99%, ...), y latency on a log scale, one line per stage and metric.
pub fn percentiles(hists: &BTreeMap<(String, String), Histogram<u64>>, path: &Path) -> Result<()> {
    draw(path, &Percentiles(hists))
}

struct Percentiles<'a>(&'a BTreeMap<(String, String), Histogram<u64>>);

impl Figure for Percentiles<'_> {
    fn size(&self) -> (u32, u32) {
        (1000, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let shown: Vec<_> = self.0.iter().filter(|(_, h)| !h.is_empty()).collect();
        let ymax = shown
            .iter()
            .map(|(_, h)| h.max())
            .max()
            .unwrap_or(1)
            .max(10) as f64;
        let ymin = shown.iter().map(|(_, h)| h.min().max(1)).min().unwrap_or(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .caption("latency by percentile (whole run)", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..5f64, (ymin * 0.8..ymax * 1.25).log_scale())?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&|x| nines_label(*x))
            .y_label_formatter(&|y| short_ns(*y))
            .x_desc("percentile")
            .y_desc("latency")
            .draw()?;
        for (i, ((stage, metric), h)) in shown.iter().enumerate() {
            let c = COLORS[i % COLORS.len()];
            let pts = (0..=100).map(|k| {
                let x = k as f64 * 0.05;
                let q = 1.0 - 10f64.powf(-x);
                (x, h.value_at_quantile(q).max(1) as f64)
            });
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))?
                .label(format!("{stage}.{metric}"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        Ok(())
    }
}

/// Latency over time: a panel per stage (row) and metric (column), each
/// with p50, p99 and max per interval; restarts of the stage as red lines.
pub fn over_time(series: &Series, restarts: &[Restart], path: &Path) -> Result<()> {
    let stages: Vec<&String> = dedup(series.keys().map(|(s, _)| s));
    let metrics: Vec<&str> = ["service", "queue_wait", "end_to_end", "tick_to_decision"]
        .into_iter()
        .filter(|m| series.keys().any(|(_, x)| x == m))
        .collect();
    if stages.is_empty() || metrics.is_empty() {
        bail!("no intervals to plot");
    }
    let end_s = series
        .values()
        .flat_map(|v| v.last())
        .map(|i| i.start_s)
        .fold(1.0f64, f64::max);
    draw(
        path,
        &OverTime {
            series,
            restarts,
            stages,
            metrics,
            end_s,
        },
    )
}

struct OverTime<'a> {
    series: &'a Series,
    restarts: &'a [Restart],
    stages: Vec<&'a String>,
    metrics: Vec<&'a str>,
    end_s: f64,
}

impl Figure for OverTime<'_> {
    fn size(&self) -> (u32, u32) {
        (
            380 * self.metrics.len() as u32,
            260 * self.stages.len() as u32 + 40,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let title = "latency over time: p50 (blue), p99 (orange), max (grey); red: restarts";
        let root = root.titled(title, ("sans-serif", 18))?;
        let (rows, cols) = (self.stages.len(), self.metrics.len());
        for (k, panel) in root.split_evenly((rows, cols)).iter().enumerate() {
            let (stage, metric) = (self.stages[k / cols], self.metrics[k % cols]);
            let Some(iv) = self.series.get(&(stage.clone(), metric.to_string())) else {
                continue;
            };
            let marks: Vec<f64> = self
                .restarts
                .iter()
                .filter(|r| &r.stage == stage)
                .map(|r| r.at_s)
                .collect();
            panel_over_time(panel, &format!("{stage} {metric}"), iv, &marks, self.end_s)?;
        }
        Ok(())
    }
}

fn panel_over_time<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    iv: &[Interval],
    restarts: &[f64],
    end_s: f64,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let live: Vec<&Interval> = iv.iter().filter(|i| !i.hist.is_empty()).collect();
    let ymax = live
        .iter()
        .map(|i| i.hist.max())
        .max()
        .unwrap_or(10)
        .max(10) as f64;
    let ymin = live
        .iter()
        .map(|i| i.hist.value_at_quantile(0.5).max(1))
        .min()
        .unwrap_or(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 14))
        .margin(6)
        .x_label_area_size(24)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..end_s * 1.02, (ymin * 0.8..ymax * 1.25).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&|x| format!("{x:.0} s"))
        .y_label_formatter(&|y| short_ns(*y))
        .draw()?;
    let line = |q: Option<f64>| {
        live.iter()
            .map(|i| {
                let v = q.map_or(i.hist.max(), |q| i.hist.value_at_quantile(q));
                (i.start_s, v.max(1) as f64)
            })
            .collect::<Vec<_>>()
    };
    chart.draw_series(LineSeries::new(
        line(None),
        RGBColor(150, 150, 150).stroke_width(1),
    ))?;
    chart.draw_series(LineSeries::new(line(Some(0.99)), COLORS[1].stroke_width(2)))?;
    chart.draw_series(LineSeries::new(line(Some(0.5)), COLORS[0].stroke_width(2)))?;
    for at in restarts {
        let (y0, y1) = (ymin * 0.8, ymax * 1.25);
        chart.draw_series(LineSeries::new([(*at, y0), (*at, y1)], RED.stroke_width(1)))?;
    }
    Ok(())
}

/// A run's equity after each fill, before and after fees.
pub fn equity(points: &[crate::equity::Point], path: &Path) -> Result<()> {
    if points.is_empty() {
        bail!("no fills in the journal: no equity curve");
    }
    draw(path, &Equity(points))
}

struct Equity<'a>(&'a [crate::equity::Point]);

impl Figure for Equity<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 420)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let p = self.0;
        let end = p.last().map_or(1.0, |x| x.t_s).max(1e-3);
        let ys = p.iter().flat_map(|x| [x.gross, x.net]);
        let (lo, hi) = ys.fold((0f64, 0f64), |(a, b), y| (a.min(y), b.max(y)));
        let pad = ((hi - lo) * 0.05).max(1e-6);
        let mut chart = ChartBuilder::on(root)
            .caption(
                "equity after each fill: before fees (grey), after fees (blue)",
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..end * 1.02, lo - pad..hi + pad)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| format!("{x:.0} s"))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .draw()?;
        let gross = p.iter().map(|x| (x.t_s, x.gross));
        let net = p.iter().map(|x| (x.t_s, x.net));
        chart.draw_series(LineSeries::new(
            gross,
            RGBColor(150, 150, 150).stroke_width(1),
        ))?;
        chart.draw_series(LineSeries::new(net, COLORS[0].stroke_width(2)))?;
        Ok(())
    }
}

/// A figure that any plotters backend can draw.
trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static;
}

/// Draws `fig` to a PNG or SVG file, by extension. Labels need a TrueType
/// font from the system (see [`load_font`]).
fn draw(path: &Path, fig: &impl Figure) -> Result<()> {
    load_font()?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("png") => {
            let root = BitMapBackend::new(path, fig.size()).into_drawing_area();
            root.fill(&WHITE)?;
            fig.draw(&root)?;
            root.present()?;
        }
        Some("svg") => {
            let root = SVGBackend::new(path, fig.size()).into_drawing_area();
            root.fill(&WHITE)?;
            fig.draw(&root)?;
            root.present()?;
        }
        _ => bail!("{}: plots are .png or .svg", path.display()),
    }
    Ok(())
}

/// Fonts looked for, in order: the first found draws every label.
const FONTS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Registers a system TrueType font as plotters' "sans-serif" (once).
fn load_font() -> Result<()> {
    static LOADED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let r = LOADED.get_or_init(|| {
        let path = std::env::var("TICKLINE_PLOT_FONT")
            .ok()
            .or_else(|| FONTS.iter().find(|p| Path::new(p).exists()).map(|p| p.to_string()))
            .ok_or("no TrueType font for plot labels: install Debian's fonts-dejavu-core, or set TICKLINE_PLOT_FONT to a .ttf")?;
        let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
            .map_err(|_| format!("{path}: not a TrueType font"))
    });
    r.clone().map_err(anyhow::Error::msg).context("plotting")
}

fn dedup<'a>(it: impl Iterator<Item = &'a String>) -> Vec<&'a String> {
    let mut v: Vec<&String> = Vec::new();
    for s in it {
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

/// x = nines (0 = 0%, 1 = 90%, 2 = 99%...) as a percentile label.
fn nines_label(x: f64) -> String {
    let q = 100.0 * (1.0 - 10f64.powf(-x));
    let decimals = (x.round() as usize).saturating_sub(2);
    format!("{q:.decimals$}%")
}

fn short_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.0} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.0} ms", ns / 1e6)
    } else {
        format!("{:.0} s", ns / 1e9)
    }
}
