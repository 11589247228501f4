//! Every case of the attack catalogue against every built-in server (in-process, 127.0.0.1:0):
//! each must survive (the health probe gets the correct reply), no task may panic, and the
//! server must still drain and stop cleanly. A short seeded mutation run follows each.
//!
//! Counts are kept small enough for CI: 1,100 idle connections (over the default cap of 1,024,
//! so the refusal path runs) and 1,000 flood connections; watches of 200 ms.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use common::{serve, stop};
use stickler::attack::{self, mutate, report, AttackConfig, Wire};
use stickler::codec::framed::HeaderKind;
use stickler::codec::Framing;
use stickler::peer::server::{ServerConfig, DEFAULT_MAX_CONNECTIONS};
use stickler::service::Service;

/// Panics anywhere in this test process (server tasks included: their panics are caught by
/// the server's task set and would otherwise only be logged).
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// The servers' buffer budget. The memory bar (64 MiB) is for this whole process, where the
/// builtin servers are attacked side by side: `flood-frames-one-short` fills a server's budget,
/// so two at once must stay under it (8 MiB: the least that holds a frame at the limit).
const BUDGET: usize = 8 << 20;

/// The CI-sized attack configuration for a server at `addr`.
pub fn test_config(addr: std::net::SocketAddr, framing: Framing, kind: HeaderKind) -> AttackConfig {
    let mut config = AttackConfig::new(addr, framing);
    config.header_kind = kind;
    config.observe = Duration::from_millis(200);
    config.slow_interval = Duration::from_millis(50);
    config.probe_timeout = Duration::from_secs(5);
    config.idle_connections = DEFAULT_MAX_CONNECTIONS + 76;
    config.flood_connections = 1_000;
    config.pid = Some(std::process::id());
    config
}

async fn attack_builtin(framing: Framing, kind: HeaderKind) {
    count_panics();
    let server = serve(
        ServerConfig::new(framing, Service::Cmd)
            .header_kind(kind)
            .max_buffered(BUDGET),
    )
    .await;
    let config = test_config(server.addr(), framing, kind);
    let cases = attack::select(&config, &[]).unwrap();
    let wire = Wire::of(framing, kind);
    let report = tokio::time::timeout(Duration::from_secs(60), async {
        let mut report = attack::run_cases(&config, &cases, |_| {}).await;
        report
            .results
            .extend(mutate::run_mutants(&config, Duration::from_millis(800), |_| {}).await);
        report
    })
    .await
    .expect("the attack finished in time");
    let table = report::table(&report, false);
    assert!(
        report.results.len() > cases.len(),
        "catalogue and at least one mutant ran:\n{table}"
    );
    assert_eq!(
        report.broken(),
        0,
        "{wire:?}: some case broke the server:\n{table}"
    );
    // What the probe observed is in each result: a survived case had its reply checked.
    for r in &report.results {
        assert!(
            r.detail.starts_with("probe answered in"),
            "{}: {}",
            r.name,
            r.detail
        );
    }
    // The refusal path ran: the server closed the idle connections over its cap.
    let idle = report
        .results
        .iter()
        .find(|r| r.name == "idle-connections")
        .unwrap();
    assert!(
        idle.reaction.closed >= 76 && idle.reaction.silent <= DEFAULT_MAX_CONNECTIONS,
        "{:?}",
        idle.reaction
    );
    stop(server).await;
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a task panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_survives_the_catalogue() {
    attack_builtin(Framing::Naive, HeaderKind::Struct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_survives_the_catalogue() {
    attack_builtin(Framing::Ready, HeaderKind::Struct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn struct_survives_the_catalogue() {
    attack_builtin(Framing::Struct, HeaderKind::Struct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_survives_the_catalogue() {
    attack_builtin(Framing::Json, HeaderKind::Struct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framed_struct_survives_the_catalogue() {
    attack_builtin(Framing::Framed, HeaderKind::Struct).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framed_json_survives_the_catalogue() {
    attack_builtin(Framing::Framed, HeaderKind::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_survives_the_catalogue() {
    attack_builtin(Framing::Upload, HeaderKind::Struct).await;
}

/// The probe is not a formality: against a server that answers wrongly, every case "breaks" it.
#[tokio::test]
async fn a_wrong_server_is_reported_broken() {
    // An `upper` server where `cmd` is expected: replies arrive, but not the correct ones.
    let server = serve(ServerConfig::new(Framing::Framed, Service::Upper)).await;
    let config = test_config(server.addr(), Framing::Framed, HeaderKind::Struct);
    let cases = attack::select(&config, &["len-negative".into(), "garbage".into()]).unwrap();
    let report = attack::run_cases(&config, &cases, |_| {}).await;
    assert_eq!(report.broken(), 2, "{}", report::table(&report, false));
    assert!(report
        .results
        .iter()
        .all(|r| r.outcome == attack::Outcome::Wrong));
    stop(server).await;
}

/// A target that stops answering: the case is reported, not passed.
#[tokio::test]
async fn a_dead_server_is_reported_refused() {
    let server = serve(ServerConfig::new(Framing::Framed, Service::Cmd)).await;
    let mut config = test_config(server.addr(), Framing::Framed, HeaderKind::Struct);
    config.probe_timeout = Duration::from_millis(500);
    config.pid = None;
    attack::preflight(&config).await.unwrap();
    stop(server).await;
    let cases = attack::select(&config, &["header-cut-1".into()]).unwrap();
    let report = attack::run_cases(&config, &cases, |_| {}).await;
    assert_eq!(report.results[0].outcome, attack::Outcome::Refused);
    assert!(attack::preflight(&config).await.is_err());
}

/// The note on scaling lists every case of the catalogue, by name.
#[test]
fn the_scaling_note_lists_every_case() {
    let note = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/SCALING.md"))
        .expect("fuzz/SCALING.md");
    for case in attack::catalogue() {
        assert!(
            note.contains(&format!("| `{}` |", case.name)),
            "fuzz/SCALING.md does not list {}",
            case.name
        );
    }
}
