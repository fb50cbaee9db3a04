//! The supervisor's Prometheus endpoint on a running pipeline: it serves
//! every stage's and queue's metrics, `promtool check metrics` accepts them,
//! and a real Prometheus server scrapes them.
//!
//! `promtool` and `prometheus` come from Debian's `prometheus` package
//! (`.ci/run` installs it and sets TICKLINE_REQUIRE_TOOLS=1). Without them,
//! and without that variable, those two checks are skipped with a note.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tickline_e2e::{binary, have_tool, pipeline_binaries, repo};

/// GET `path` from `addr` with extra request `headers`: (status code, body).
fn get_with(addr: &str, path: &str, headers: &str) -> std::io::Result<(u32, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{headers}\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, body.to_owned()))
}

fn get(addr: &str, path: &str) -> std::io::Result<(u32, String)> {
    get_with(addr, path, "")
}

fn tool(name: &str) -> Option<PathBuf> {
    let path = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    have_tool(name, !path.is_empty(), "prometheus").then(|| PathBuf::from(path))
}

struct Stop(Vec<Child>, PathBuf);

impl Drop for Stop {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

#[test]
fn prometheus_scrapes_a_running_pipeline() {
    pipeline_binaries();
    let name = format!("t{}-metrics", std::process::id());
    let dir = std::env::temp_dir().join(format!("tickline-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let base = std::fs::read_to_string(repo().join("config/pipeline.toml")).unwrap();
    let config = base
        .replacen("name = \"default\"", &format!("name = \"{name}\""), 1)
        .replace("runs/default", &dir.join("run").display().to_string())
        + "\n[metrics]\nlisten = \"127.0.0.1:0\"\n";
    let cfg_path = dir.join("pipeline.toml");
    std::fs::write(&cfg_path, config).unwrap();
    let mut sup = Command::new(binary("tickline-supervisor"))
        .args([
            "run",
            "--fresh",
            "--config",
            &cfg_path.display().to_string(),
        ])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = BufReader::new(sup.stderr.take().unwrap());
    let mut stop = Stop(vec![sup], dir.clone());
    // The address is in the log: "metrics at http://127.0.0.1:PORT/metrics".
    let mut lines = err.lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            let at = l.find("metrics at http://")? + "metrics at http://".len();
            Some(l[at..].trim_end_matches("/metrics").to_owned())
        })
        .expect("the supervisor says where its metrics are");
    std::thread::spawn(move || lines.for_each(drop));

    // Served, with every stage and queue, once events flow. Each stage's own
    // values come with its first report (every 250 ms), and the status board
    // with the supervisor's next pass, so wait until every line is there.
    let wants = [
        "tickline_stage_up{stage=\"inference\"} 1",
        "tickline_stage_pid{stage=\"feature\"} ",
        "tickline_stage_state{stage=\"feature\",state=\"running\"} 1",
        "tickline_stage_restarts_total{stage=\"feed-handler\"} 0",
        "tickline_queue_capacity{queue=\"book\"} 16384",
        "# TYPE tickline_stage_latency_seconds histogram",
        "tickline_stage_latency_seconds_count{stage=\"order-router\",metric=\"tick_to_decision\"}",
        "tickline_stage_latency_seconds_bucket{le=\"0.001\",stage=\"inference\",metric=\"service\"}",
        "# TYPE tickline_stage_restarts_total counter",
        "tickline_router_orders_total{stage=\"order-router\"}",
        "tickline_router_rejects_total{stage=\"order-router\",reason=\"rate\"}",
        "tickline_router_rejects_total{stage=\"order-router\",reason=\"stale_signal\"}",
        "tickline_stage_run_delay_seconds_total{stage=\"inference\"}",
        "tickline_stage_cpu_steal_seconds_total{stage=\"order-router\",cpu=\"1\"}",
        "tickline_stage_context_switches_total{stage=\"feature\",kind=\"voluntary\"}",
        "tickline_stage_page_faults_total{stage=\"feed-handler\",kind=\"minor\"}",
        "tickline_slow_decisions_total{cause=\"steal\"}",
        "tickline_router_pnl_currency{stage=\"order-router\"}",
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        let (code, body) = get(&addr, "/metrics").unwrap();
        assert_eq!(code, 200, "{body}");
        let missing: Vec<_> = wants.iter().filter(|w| !body.contains(*w)).collect();
        if missing.is_empty() {
            break body;
        }
        assert!(Instant::now() < deadline, "{missing:?} missing:\n{body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // OpenMetrics for a client that asks for it, as Prometheus does.
    let accept = "Accept: application/openmetrics-text; version=1.0.0\r\n";
    let (_, open) = get_with(&addr, "/metrics", accept).unwrap();
    for want in [
        "# TYPE tickline_stage_restarts counter",
        "# UNIT tickline_stage_latency_seconds seconds",
        "# EOF",
    ] {
        assert!(open.contains(want), "{want} missing:\n{open}");
    }
    assert_eq!(get(&addr, "/nothing").unwrap().0, 404);

    if let Some(promtool) = tool("promtool") {
        let mut check = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        check
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    if let Some(prometheus) = tool("prometheus") {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let prom_cfg = dir.join("prometheus.yml");
        std::fs::write(
            &prom_cfg,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tickline\n    static_configs:\n      - targets: ['{addr}']\n"
            ),
        )
        .unwrap();
        let server = Command::new(prometheus)
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        stop.0.push(server);
        let prom = format!("127.0.0.1:{port}");
        let query = "/api/v1/query?query=sum(tickline_stage_up)";
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                Instant::now() < deadline,
                "Prometheus never scraped the pipeline"
            );
            if let Ok((200, body)) = get(&prom, query) {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                let value = &v["data"]["result"][0]["value"][1];
                if value == "4" {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
