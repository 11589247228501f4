//! The report pages as the main job writes them, on a small selection of cases: every page
//! parses as HTML, every chart as XML, every link resolves (an anchor of the page, or a file
//! beside it), and the page says what was expected and whether the measurement matches it,
//! with a legend of the chaos profiles.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use scraper::{Html, Selector};
use stickler::check::drive::{run_matrix, MatrixConfig, MinimiseTo};
use stickler::check::expect::ExpectTable;
use stickler::check::matrix::{cases, select, PROFILES};
use stickler::check::minimise::Budget;
use stickler::check::report;
use stickler::check::run::RunConfig;
use stickler::check::session::{check_server, SessionConfig, SessionProfile};
use stickler::check::MatrixReport;
use stickler::codec::Framing;
use stickler::peer::pool::Pool;
use stickler::peer::server::ServerConfig;
use stickler::present::{write_dir, Section};
use stickler::service::Service;
use stickler::session::{Connection, Side, Turn};
use stickler::udp::harness::{run_udp_matrix, UdpMatrixConfig};
use stickler::udp::UdpService;

/// A few built-in cases, some failing (struct/split-up/small: the server reads `ech`;
/// naive/split-down/small: the client takes a cut read for the reply), the failing ones
/// minimised into `cases_dir`.
async fn measure(cases_dir: &Path) -> MatrixReport {
    let framings = [Framing::Naive, Framing::Struct, Framing::Framed];
    let picked = select(
        cases(&framings),
        &[
            "struct/none/small".into(),
            "framed/none/small".into(),
            "struct/split-up/small".into(),
            "framed/split-up/small".into(),
            "struct/coalesce-down/pipelined".into(),
            "framed/coalesce-down/pipelined".into(),
            "naive/split-down/small".into(),
        ],
    )
    .unwrap();
    assert_eq!(picked.len(), 7);
    let servers = Pool::start(&framings, Service::Cmd).await.unwrap();
    let config = MatrixConfig {
        run: RunConfig {
            seed: 1,
            connections: 1,
            timeout: Duration::from_millis(1000),
            ..RunConfig::default()
        },
        concurrency: 8,
        minimise: Some(MinimiseTo {
            dir: cases_dir.to_path_buf(),
            budget: Budget {
                attempts: 2,
                time: Duration::from_secs(2),
            },
        }),
        progress: false,
        subject: "built-in servers".into(),
        client: None,
        settle: false,
    };
    let report = tokio::time::timeout(
        common::LIMIT * 3,
        run_matrix(picked, |f| servers.addr(f), &config),
    )
    .await
    .expect("measured in time")
    .expect("the matrix ran");
    servers.stop().await.unwrap();
    report
}

/// Writes the main job's kind of report into `dir`: matrix.json and junit.xml beside
/// index.html, the expectation first, then the matrix and `extra`.
fn write_report(dir: &Path, report: &MatrixReport, table: &ExpectTable, extra: Vec<Section>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("matrix.json"),
        serde_json::to_string_pretty(report).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("junit.xml"), report::junit(report)).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("expected/builtin.txt");
    let mut sections = vec![
        report::expectation_section(report, table, &source),
        report::section(report),
    ];
    sections.extend(extra);
    write_dir(dir, "stickler report", &sections).unwrap();
}

/// Every `<svg>…</svg>` of a page.
fn svgs(page: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("an svg is closed") + start + 6;
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// Parses `dir/index.html` (HTML) and its charts (XML), checks every link, and returns the
/// document and its text.
fn check_page(dir: &Path) -> (Html, String) {
    let path = dir.join("index.html");
    let page = std::fs::read_to_string(&path).unwrap();
    let doc = Html::parse_document(&page);
    assert!(
        doc.errors.is_empty(),
        "{} does not parse cleanly: {:?}",
        path.display(),
        doc.errors
    );
    let charts = svgs(&page);
    for svg in &charts {
        let xml = roxmltree::Document::parse(svg)
            .unwrap_or_else(|e| panic!("a chart of {} is not XML: {e}\n{svg}", path.display()));
        assert_eq!(xml.root_element().tag_name().name(), "svg");
    }
    let ids: HashSet<String> = doc
        .select(&Selector::parse("[id]").unwrap())
        .filter_map(|e| e.value().attr("id").map(str::to_string))
        .collect();
    let mut links = 0;
    for e in doc.select(&Selector::parse("[href]").unwrap()) {
        let href = e.value().attr("href").unwrap();
        links += 1;
        if let Some(anchor) = href.strip_prefix('#') {
            assert!(ids.contains(anchor), "{href} names no element of the page");
            continue;
        }
        assert!(
            !href.contains("://") && !href.starts_with('/'),
            "{href} is not a relative link"
        );
        let file = href.split('#').next().unwrap();
        let target: PathBuf = dir.join(file);
        assert!(
            target.exists(),
            "{href} (from {}) does not resolve to a file",
            path.display()
        );
    }
    assert!(links > 0, "the page links nothing");
    let text: String = doc.root_element().text().collect();
    (doc, text)
}

fn hrefs(doc: &Html) -> Vec<String> {
    doc.select(&Selector::parse("[href]").unwrap())
        .map(|e| e.value().attr("href").unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matrix_report_parses_links_and_says_what_was_expected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("report");
    let report = measure(&dir.join("cases")).await;
    let failing: Vec<_> = report.cells.iter().filter(|c| !c.counts.passed()).collect();
    assert!(!failing.is_empty(), "{}", report::table(&report, false));
    let udp = run_udp_matrix(&UdpMatrixConfig {
        datagrams: 4,
        services: vec![UdpService::Echo],
        ..UdpMatrixConfig::default()
    })
    .await
    .expect("the UDP matrix ran");

    // The expected table of exactly what was measured: the page says it matches.
    let table = ExpectTable(report.outcomes().into_iter().collect());
    write_report(
        &dir,
        &report,
        &table,
        vec![stickler::udp::report::udp_section(&udp)],
    );
    let (doc, text) = check_page(&dir);
    let sentence = format!(
        "{} cases measured; {} fail, exactly as the expected table",
        report.cells.len(),
        failing.len()
    );
    assert!(text.contains(&sentence), "no {sentence:?} in:\n{text}");
    assert!(text.contains("unframed protocols are supposed to break under chaos"));
    // The legend: every profile measured, with what it does to the bytes, from PROFILES.
    for p in PROFILES
        .iter()
        .filter(|p| report.cells.iter().any(|c| c.case.profile == p.name))
    {
        assert!(text.contains(p.about), "the legend lacks {}", p.name);
        for t in p.toxics {
            assert!(text.contains(t), "the legend lacks {t}");
        }
    }
    // Each failing cell links to its failure, which links its minimised case file.
    let links = hrefs(&doc);
    for c in &failing {
        let anchor = format!("#{}", report::fail_anchor(&c.case));
        assert!(links.contains(&anchor), "no link to {anchor}");
    }
    for file in ["matrix.json", "junit.xml", "report.md"] {
        assert!(links.iter().any(|l| l == file), "no link to {file}");
    }
    assert!(
        links.iter().any(|l| l.starts_with("cases/")),
        "no case file linked: {links:?}"
    );
    // Two heatmaps (the matrix, UDP), each with a number in every cell.
    let all = svgs(&std::fs::read_to_string(dir.join("index.html")).unwrap())
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    let charts: Vec<&String> = all
        .iter()
        .filter(|s| s.contains("class=\"heatmap\""))
        .collect();
    assert_eq!(charts.len(), 2);
    assert!(charts[0].contains("failure rate per chaos profile") && charts[0].contains("100%"));
    // A ladder (already parsed as XML above) in the part of each failing built-in case, with
    // rows; the naive client's cut read is highlighted.
    let ladders: Vec<&String> = all
        .iter()
        .filter(|s| s.contains("class=\"ladder\""))
        .collect();
    assert_eq!(ladders.len(), failing.len(), "one ladder per failing case");
    for l in &ladders {
        let xml = roxmltree::Document::parse(l).unwrap();
        assert!(
            xml.descendants()
                .any(|n| matches!(n.attribute("class"), Some("up" | "down" | "request"))),
            "a ladder without writes: {l}"
        );
    }
    let naive = ladders
        .iter()
        .find(|l| l.contains("naive/split-down/small"))
        .expect("a ladder for naive/split-down/small");
    let xml = roxmltree::Document::parse(naive).unwrap();
    assert!(
        xml.descendants()
            .any(|n| n.attribute("class") == Some("crossing")),
        "no highlighted read in {naive}"
    );
    assert!(xml
        .descendants()
        .any(|n| n.attribute("class") == Some("read")));

    // An expected table that says one failing cell passes: the page names it.
    let mut wrong = table.clone();
    wrong.0.insert(failing[0].case, true);
    let other = tmp.path().join("differs");
    write_report(&other, &report, &wrong, Vec::new());
    let (doc, text) = check_page(&other);
    let sentence = format!(
        "{} cases measured; {} fail, but the expected table",
        report.cells.len(),
        failing.len()
    );
    assert!(text.contains(&sentence), "no {sentence:?} in:\n{text}");
    assert!(text.contains(&format!(
        "{}: expected pass, measured fail",
        failing[0].case
    )));
    assert!(hrefs(&doc).contains(&format!("#{}", report::fail_anchor(&failing[0].case))));
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as i32).to_le_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_report_parses_and_links_its_failures() {
    // The struct server reads one request per read: cutting a request breaks it.
    let server = common::serve(ServerConfig::new(Framing::Struct, Service::Cmd)).await;
    let mut turns = Vec::new();
    for i in 0..2 {
        turns.push(Turn {
            from: Side::Client,
            bytes: format!("echo hello {i}").into_bytes(),
        });
        turns.push(Turn {
            from: Side::Server,
            bytes: framed(format!("hello {i}\n").as_bytes()),
        });
    }
    let session = vec![Connection {
        turns,
        incomplete: None,
    }];
    let cfg = SessionConfig {
        profiles: ["none", "cut-up"]
            .iter()
            .map(|n| SessionProfile::parse(n).unwrap())
            .collect(),
        ..SessionConfig::default()
    };
    let report = tokio::time::timeout(
        common::LIMIT,
        check_server(server.addr(), &session, &[], &cfg),
    )
    .await
    .expect("checked in time")
    .expect("the struct server answers the clean run");
    common::stop(server).await;
    let tmp = tempfile::tempdir().unwrap();
    write_dir(
        tmp.path(),
        "stickler session report",
        &[stickler::check::session::report::section(&report)],
    )
    .unwrap();
    let (doc, text) = check_page(tmp.path());
    assert!(text.contains("cut-up"), "{text}");
    let failed = report
        .cells
        .iter()
        .find(|c| c.failure.is_some())
        .expect("cut-up fails");
    let anchor = format!("#{}", stickler::check::session::report::fail_anchor(failed));
    assert!(hrefs(&doc).contains(&anchor), "no link to {anchor}");
}
