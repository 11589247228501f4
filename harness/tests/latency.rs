//! The latency sweep on live sockets: the handshake's extra round trip shows in the figures
//! (measured, so the test fails if it disappears), the report renders, JSON round-trips, bad
//! configs are refused, and `stickler latency` runs from the command line.

use std::process::Command;
use std::time::Duration;

use stickler::codec::Framing;
use stickler::latency::{
    latency_section, report, run_sweep, LatencyConfig, LatencyError, LatencyReport, ReplySize,
};
use stickler::service::Service;

/// Generous bound on a whole sweep: a bug fails, it does not hang.
const LIMIT: Duration = Duration::from_secs(30);

fn tiny(delays_ms: &[u64], framings: &[Framing], sizes: &[ReplySize]) -> LatencyConfig {
    LatencyConfig {
        delays: delays_ms
            .iter()
            .map(|d| Duration::from_millis(*d))
            .collect(),
        framings: framings.to_vec(),
        sizes: sizes.to_vec(),
        exchanges: 12,
        min_exchanges: 12,
        warmup: 2,
        budget: Duration::ZERO,
        batches: 3,
        nodelay_probe: false,
        timeout: Duration::from_secs(5),
        progress: false,
        ..LatencyConfig::default()
    }
}

async fn sweep(config: &LatencyConfig) -> LatencyReport {
    tokio::time::timeout(LIMIT, run_sweep(config))
        .await
        .expect("the sweep finishes")
        .expect("the sweep runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_pays_one_more_round_trip_than_struct() {
    let config = tiny(
        &[5],
        &[Framing::Ready, Framing::Struct],
        &[ReplySize::Small],
    );
    let report = sweep(&config).await;
    assert_eq!(report.points.len(), 1);
    let p = &report.points[0];
    assert_eq!(p.reply_bytes, 6);
    let ready = p.lane("ready").unwrap();
    let plain = p.lane("struct").unwrap();
    let ping = p.ping.as_ref().unwrap();
    for l in [ready, plain, ping] {
        assert_eq!(l.errors, 0, "{l:?}");
        assert_eq!(l.exchanges, 12);
        assert!(l.p50_us <= l.p90_us && l.p90_us <= l.p99_us && l.p99_us <= l.max_us);
        assert_eq!(l.batch_p50_us.len(), 3);
    }
    // Every exchange crosses the delay twice at least.
    assert!(plain.p50_us >= 10_000, "struct p50 {} µs", plain.p50_us);
    assert!(ping.p50_us >= 10_000, "ping p50 {} µs", ping.p50_us);
    // The handshake: at least half an RTT more than struct (theory: one).
    let cost = p.cost.as_ref().expect("ready and struct measured");
    assert!(
        ready.p50_us >= plain.p50_us + 5_000,
        "ready {} µs vs struct {} µs",
        ready.p50_us,
        plain.p50_us
    );
    assert!(cost.rtts.unwrap() >= 0.5, "{cost:?}");
    assert_eq!(cost.nominal_rtt_us, 10_000);
    assert_eq!(cost.path_rtt_us, ping.p50_us);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn struct_and_framed_cost_the_same_round_trip() {
    let config = tiny(
        &[5],
        &[Framing::Struct, Framing::Framed],
        &[ReplySize::Large],
    );
    let report = sweep(&config).await;
    let p = &report.points[0];
    assert_eq!(p.reply_bytes, 8893);
    let (s, f) = (p.lane("struct").unwrap(), p.lane("framed").unwrap());
    // Same number of round trips: far less apart than the 10 ms a handshake would add.
    assert!(s.p50_us.abs_diff(f.p50_us) < 5_000, "{s:?} {f:?}");
    assert!(p.cost.is_none(), "no ready lane, no ready cost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_runs_at_small_replies_only_and_the_report_renders() {
    let config = tiny(
        &[0],
        &[Framing::Naive, Framing::Ready, Framing::Struct],
        &[ReplySize::Small, ReplySize::Large],
    );
    let report = sweep(&config).await;
    assert_eq!(report.points.len(), 2);
    let small = &report.points[0];
    let large = &report.points[1];
    assert!(small.lane("naive").is_some());
    assert!(large.lane("naive").is_none());
    // d = 0: the cost in 2d is undefined, the cost in the ping's RTT is not.
    let cost = small.cost.as_ref().unwrap();
    assert!(cost.rtts.is_none() && cost.path_rtts.is_some());
    assert!(!cost.off_target);

    let text = report::table(&report, false);
    assert!(
        text.contains("ready cost") && text.contains("naive"),
        "{text}"
    );
    let section = latency_section(&report);
    assert!(
        section.markdown.contains("| d (ms) |"),
        "{}",
        section.markdown
    );
    assert_eq!(section.html.matches("<svg").count(), 2);
    assert!(section.html.contains("ready cost in RTTs"));

    let json = serde_json::to_string(&report).unwrap();
    let back: LatencyReport = serde_json::from_str(&json).unwrap();
    // Floats may differ in their last digit; everything else is exact.
    assert_eq!(
        back.points[0].framings[1].p50_us,
        report.points[0].framings[1].p50_us
    );
    assert_eq!(back.delays_us, report.delays_us);
    assert_eq!(back.points.len(), report.points.len());
    assert_eq!(
        back.points[1].cost.as_ref().map(|c| c.delta_us),
        report.points[1].cost.as_ref().map(|c| c.delta_us)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodelay_probe_measures_both_settings() {
    let mut config = tiny(&[1], &[Framing::Struct], &[ReplySize::Small]);
    config.exchanges = 4;
    config.min_exchanges = 4;
    config.nodelay_probe = true;
    let report = sweep(&config).await;
    let probe = report.nodelay_probe.expect("probe asked for");
    assert_eq!((probe.on.len(), probe.off.len()), (1, 1));
    assert!(probe.on[0].nodelay && !probe.off[0].nodelay);
    assert_eq!(probe.off[0].lane("struct").unwrap().errors, 0);
}

#[tokio::test]
async fn bad_configs_are_refused() {
    let cases = [
        tiny(&[], &[Framing::Struct], &[ReplySize::Small]),
        tiny(&[1], &[Framing::Upload], &[ReplySize::Small]),
        tiny(&[1], &[Framing::Naive], &[ReplySize::Huge]),
        tiny(&[5000], &[Framing::Struct], &[ReplySize::Small]),
        tiny(&[1], &[Framing::Struct], &[]),
        LatencyConfig {
            spin_ahead: Duration::from_millis(2),
            ..tiny(&[1], &[Framing::Struct], &[ReplySize::Small])
        },
    ];
    for config in cases {
        let err = run_sweep(&config).await.expect_err("refused");
        assert!(matches!(err, LatencyError::Config(_)), "{err}");
    }
}

#[test]
fn reply_sizes_are_exact() {
    for size in ReplySize::ALL {
        let reply = Service::Cmd.reply(size.request().as_bytes());
        assert_eq!(reply.len(), size.bytes(), "{size:?}");
    }
    assert_eq!(ReplySize::Huge.bytes(), 1 << 20);
}

#[test]
fn cli_writes_json_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("latency.json");
    let out = Command::new(env!("CARGO_BIN_EXE_stickler"))
        .args([
            "latency",
            "--delays",
            "0.5",
            "--framings",
            "ready,struct",
            "--sizes",
            "small",
            "--exchanges",
            "5",
            "--no-probe",
            "--quiet",
            "--json",
        ])
        .arg(&json)
        .arg("--report")
        .arg(dir.path().join("report"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ready cost"), "{stdout}");
    let report: LatencyReport =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report.delays_us, vec![500]);
    assert!(dir.path().join("report/index.html").exists());

    for (args, flag) in [
        (["latency", "--delays", "2000"], "--delays"),
        (["latency", "--spin-ahead", "1001"], "--spin-ahead"),
    ] {
        let bad = Command::new(env!("CARGO_BIN_EXE_stickler"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&bad.stderr).contains(flag));
    }
    assert_eq!(report.spin_ahead_us, 50, "the default spin-ahead");
}

/// Polls `f` to completion on the calling thread, with no async runtime at all.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn the_sweep_runs_on_a_thread_of_its_own_with_direct_and_staggered_lanes() {
    // No runtime here: servers, proxies and clients must bring their own.
    let config = tiny(&[0, 2], &[Framing::Struct], &[ReplySize::Small]);
    let report = block_on(run_sweep(&config)).expect("the sweep runs");
    assert_eq!(report.points.len(), 2);
    let (undelayed, delayed) = (&report.points[0], &report.points[1]);
    assert_eq!(undelayed.schedule, "in turn");
    assert_eq!(delayed.schedule, "staggered");
    for p in [undelayed, delayed] {
        let direct = p.direct.as_ref().expect("direct lane measured");
        assert_eq!(
            (direct.lane.as_str(), direct.exchanges, direct.errors),
            ("direct", 12, 0)
        );
    }
    // The ping crosses the delay twice; its target is 2d plus the direct lane's RTT.
    let direct = delayed.direct.as_ref().unwrap();
    let ping = delayed.ping.as_ref().unwrap();
    assert!(ping.p50_us >= 4_000, "ping p50 {} µs", ping.p50_us);
    assert_eq!(
        delayed.expected_ping_us(),
        Some(4_000 + direct.p50_us),
        "2d + direct"
    );
    assert_eq!(
        delayed.ping_excess_us(),
        Some(ping.p50_us as i64 - 4_000 - direct.p50_us as i64)
    );
    let text = report::table(&report, false);
    assert!(text.contains("ping − (2d + direct)"), "{text}");
    assert!(text.contains("direct"), "{text}");
    let section = latency_section(&report);
    assert!(
        section
            .markdown
            .contains("### The delayed path: ping vs 2d + direct"),
        "{}",
        section.markdown
    );
    assert!(section.markdown.contains("of 2d + the direct RTT"));
}
