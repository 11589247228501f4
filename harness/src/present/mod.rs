//! The presentation layer every feature's report sits on: pages of titled sections
//! ([`page`]), Markdown, HTML and terminal tables ([`table`]), SVG charts ([`chart`]: plotters line charts and the matrices' heatmap), one
//! JUnit XML writer ([`junit`]), one XML/HTML escaper ([`escape`]), progress bars
//! ([`progress`]), the expected-table line reader ([`expect`]) and readable views of bytes
//! ([`bytes`]: hex and a short preview).
//!
//! `check`, `attack`, `latency` and `udp` each build their own content from these pieces; none
//! of them reaches into another one's report.

pub mod bytes;
pub mod chart;
pub mod escape;
pub mod expect;
pub mod junit;
pub mod ladder;
pub mod page;
pub mod progress;
pub mod table;

pub use bytes::{hex, preview};
pub use escape::{printable, xml_escape};
pub use expect::{parse_table, ExpectError};
pub use page::{file_href, file_link, write_dir, Section};
pub use progress::progress_bar;
