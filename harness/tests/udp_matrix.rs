//! The UDP matrix measured on loopback equals harness/expected/udp.txt (docs/verdicts.md), and no
//! datagram ever broke a message boundary.
//!
//! A reply counts as lost when it has not come within the exchange's timeout (lockstep) or
//! before a quiet time ends the read-out (burst). On loopback only the proxy loses datagrams,
//! but a busy machine can hold a reply back for longer than the matrix's defaults (250 ms,
//! 150 ms) allow, and a reply that comes late is then counted lost — and, being untagged for
//! `time`, counted again in the next exchange as a copy. The test waits a second for either, far
//! beyond any delay of the profiles (at most 10 ms), so that only the proxy's losses are counted:
//! under two busy loops on two cores, replies half a second late were seen.

use std::time::Duration;

use stickler::udp::expect::UdpExpectTable;
use stickler::udp::harness::{run_udp_matrix, UdpMatrixConfig};
use stickler::udp::report;

const EXPECTED: &str = include_str!("../expected/udp.txt");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_matrix_matches_the_expected_table() {
    let config = UdpMatrixConfig {
        timeout: Duration::from_secs(1),
        quiet: Duration::from_secs(1),
        ..UdpMatrixConfig::default()
    };
    let measured = tokio::time::timeout(Duration::from_secs(120), run_udp_matrix(&config))
        .await
        .expect("the UDP matrix finished in time")
        .expect("the UDP matrix ran");
    let table = UdpExpectTable::parse(EXPECTED).expect("the expected table parses");
    assert_eq!(
        measured.cells.len(),
        84,
        "4 services x 7 profiles x 3 workloads"
    );
    let diffs = table.compare(&measured.outcomes());
    assert!(
        diffs.is_empty(),
        "the measured UDP matrix differs from harness/expected/udp.txt:\n{}\n{}",
        diffs.join("\n"),
        report::table(&measured, false)
    );
    // UDP never sticks: every datagram that came back was one whole reply or a prefix of one.
    assert!(measured.total_arrivals() > 0);
    assert_eq!(
        measured.boundary_breaks(),
        0,
        "{}",
        report::boundary_line(&measured)
    );
    // The proxy's own record agrees with what the client saw where they must: the truncate
    // profile cut every reply it passed, and the none profile touched nothing.
    for c in &measured.cells {
        match c.profile.as_str() {
            "none" => assert_eq!(
                (c.proxy.dropped, c.proxy.duplicated, c.proxy.truncated),
                (0, 0, 0),
                "{}",
                c.id()
            ),
            "truncate" => assert_eq!(c.proxy.truncated, c.requests, "{}", c.id()),
            "drop" => assert!(c.proxy.dropped >= c.counts.lost.min(1), "{}", c.id()),
            _ => {}
        }
    }
    let section = report::udp_section(&measured);
    assert!(section.html.contains("<svg"), "the section has its chart");
    assert!(section.markdown.contains("| echo/small |"));
}
