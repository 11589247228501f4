//! The conformance matrix measured on live sockets in `cargo test`: the built-in servers must
//! give exactly the verdict table harness/expected/builtin.txt (docs/verdicts.md), every
//! committed minimised case must still reproduce, and the Python peers get the verdicts they
//! deserve as external servers and clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use stickler::check::drive::{run_matrix, MatrixConfig};
use stickler::check::expect::ExpectTable;
use stickler::check::external::{ClientOutput, ExternalClient};
use stickler::check::matrix::{cases, select, CaseId};
use stickler::check::minimise::{replay_once, CaseFile};
use stickler::check::report;
use stickler::check::run::RunConfig;
use stickler::check::verdict::Verdict;
use stickler::check::MatrixReport;
use stickler::codec::Framing;
use stickler::peer::pool::Pool;
use stickler::service::Service;

/// The tests here measure timing-sensitive behaviour (whether a reader sees a piece alone):
/// they run one at a time so that they do not load the machine for each other.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// How long a cell that hung is given when it is measured again (see [`recheck_hangs`]).
const HANG_RECHECK: Duration = Duration::from_secs(15);

fn config(subject: &str, client: Option<ExternalClient>) -> MatrixConfig {
    MatrixConfig {
        run: RunConfig {
            seed: 1,
            ..RunConfig::default()
        },
        concurrency: 16,
        minimise: None,
        progress: false,
        subject: subject.into(),
        client,
        settle: false,
    }
}

fn assert_matches(report: &MatrixReport, table: &ExpectTable) {
    let diffs = table.compare(&report.outcomes());
    assert!(
        diffs.is_empty(),
        "measured matrix differs from the expected table:\n{}\n{}",
        diffs.join("\n"),
        report::table(report, false)
    );
}

fn table_of(lines: &str) -> ExpectTable {
    ExpectTable::parse(lines).expect("expected table parses")
}

/// A run that gets no byte for the run's timeout (3 s) hangs. On an idle machine that is ample;
/// on a busy one a request the proxy delivers in 1..4-byte pieces 1 ms apart (an upload under
/// `split-up`, about a second idle) can keep a correct client waiting longer. So a cell the
/// table expects to pass that failed by hanging and in no other way is measured again, waiting
/// [`HANG_RECHECK`] for a byte: a server that is stuck hangs again, one that was only slow
/// passes. Cells expected to fail are not measured again.
async fn recheck_hangs(report: &mut MatrixReport, table: &ExpectTable, servers: &Pool) {
    let hung: Vec<CaseId> = report
        .cells
        .iter()
        .filter(|c| {
            table.0.get(&c.case) == Some(&true)
                && !c.counts.passed()
                && c.counts.failures() == c.counts.get(Verdict::Hang)
        })
        .map(|c| c.case)
        .collect();
    if hung.is_empty() {
        return;
    }
    let mut cfg = config("built-in servers", None);
    cfg.run.timeout = HANG_RECHECK;
    let again = run_matrix(hung, |f| servers.addr(f), &cfg).await.unwrap();
    for cell in again.cells {
        eprintln!(
            "{} hung; waiting {HANG_RECHECK:?} for a byte it {}",
            cell.case,
            if cell.counts.passed() {
                "passes"
            } else {
                "fails"
            }
        );
        if let Some(c) = report.cells.iter_mut().find(|c| c.case == cell.case) {
            *c = cell;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_servers_measure_exactly_the_protocols_table() {
    let _serial = SERIAL.lock().await;
    let text = std::fs::read_to_string(repo().join("harness/expected/builtin.txt")).unwrap();
    let table = table_of(&text);
    let all = cases(&Framing::ALL);
    assert_eq!(
        table.0.len(),
        all.len(),
        "the expected table covers every cell of the matrix"
    );
    let servers = Pool::start(&Framing::ALL, Service::Cmd).await.unwrap();
    let mut report = run_matrix(all, |f| servers.addr(f), &config("built-in servers", None))
        .await
        .unwrap();
    recheck_hangs(&mut report, &table, &servers).await;
    servers.stop().await.unwrap();
    assert!(
        report.cells.iter().all(|c| c.counts.total() > 0),
        "every cell measured something"
    );
    assert_matches(&report, &table);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_minimised_cases_still_reproduce() {
    let _serial = SERIAL.lock().await;
    let dir = repo().join("fixtures/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "fixtures/cases holds the minimised cases of the built-in servers"
    );
    let framings: Vec<Framing> = Framing::ALL.to_vec();
    let servers = Pool::start(&framings, Service::Cmd).await.unwrap();
    let cfg = RunConfig::default();
    let mut set = tokio::task::JoinSet::new();
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    for path in files {
        let limit = limit.clone();
        let file = CaseFile::load(&path).unwrap();
        let addr = servers.addr(file.case.framing).unwrap();
        let cfg = cfg.clone();
        set.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            let (got, outcomes) =
                replay_once(&file.case, addr, &cfg, file.case_seed, &file.schedule)
                    .await
                    .unwrap();
            (path, file.verdict, got, outcomes)
        });
    }
    let mut failures = Vec::new();
    while let Some(r) = set.join_next().await {
        let (path, want, got, outcomes) = r.unwrap();
        if got != Some(want) {
            failures.push(format!(
                "{}: want {want}, got {got:?}: {outcomes:?}",
                path.display()
            ));
        }
    }
    servers.stop().await.unwrap();
    assert!(
        failures.is_empty(),
        "cases that no longer reproduce:\n{}",
        failures.join("\n")
    );
}

/// A Python peer server on a free port, killed on drop.
struct PeerServer {
    child: Child,
    addr: SocketAddr,
}

impl PeerServer {
    fn start(script: &str) -> PeerServer {
        use std::io::BufRead;
        let mut child = Command::new("python3")
            .arg(repo().join("fixtures/peers").join(script))
            .arg("cmd")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .expect("peer announces its address")
            .parse()
            .unwrap();
        PeerServer { child, addr }
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_struct_server_as_an_external_target() {
    let _serial = SERIAL.lock().await;
    let peer = PeerServer::start("struct_server.py");
    let picked = select(
        cases(&[Framing::Struct]),
        &[
            "struct/none/small".into(),
            "struct/split-up/small".into(),
            "struct/coalesce-down/large".into(),
        ],
    )
    .unwrap();
    let mut cfg = config("python struct server", None);
    cfg.concurrency = 1;
    cfg.settle = true;
    let report = run_matrix(picked, |_| Some(peer.addr), &cfg).await.unwrap();
    // The peer reads a request with one recv(1024), as the tutorials do: a split request breaks it.
    assert_matches(
        &report,
        &table_of(
            "struct/none/small pass\nstruct/split-up/small fail\nstruct/coalesce-down/large pass\n",
        ),
    );
}

async fn judge_client(script: &str, picked: &[&str]) -> MatrixReport {
    let _serial = SERIAL.lock().await;
    let command = format!(
        "python3 {} {{addr}} {{cmds}}",
        repo().join("fixtures/peers").join(script).display()
    );
    let client = ExternalClient::parse(&command, ClientOutput::Digest).unwrap();
    let servers = Pool::start(&[Framing::Struct], Service::Cmd).await.unwrap();
    let globs: Vec<String> = picked.iter().map(|s| s.to_string()).collect();
    let all: Vec<CaseId> = select(cases(&[Framing::Struct]), &globs).unwrap();
    let report = run_matrix(all, |f| servers.addr(f), &config(script, Some(client)))
        .await
        .unwrap();
    servers.stop().await.unwrap();
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_reading_its_header_with_one_recv4_breaks_under_split_down() {
    let report = judge_client(
        "struct_client_recv4.py",
        &["struct/none/small", "struct/split-down/small"],
    )
    .await;
    assert_matches(
        &report,
        &table_of("struct/none/small pass\nstruct/split-down/small fail\n"),
    );
    let cell = report
        .cells
        .iter()
        .find(|c| c.case.profile == "split-down")
        .unwrap();
    let f = cell.failure.as_ref().unwrap();
    assert_eq!(f.verdict, Verdict::Crashed, "{}", f.describe());
    assert!(
        f.observed.contains("unpack"),
        "the stderr tail names the failing unpack: {}",
        f.observed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_with_exact_reads_survives_split_down() {
    let report = judge_client(
        "struct_client.py",
        &["struct/split-down/small", "struct/coalesce-down/small"],
    )
    .await;
    assert_matches(
        &report,
        &table_of("struct/split-down/small pass\nstruct/coalesce-down/small pass\n"),
    );
}
