//! Progress bars on stderr.

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar of `len` steps labelled `what`, on stderr when `show` and stderr is a
/// terminal; hidden otherwise.
pub fn progress_bar(len: u64, show: bool, what: &str) -> ProgressBar {
    use std::io::IsTerminal;
    if !show || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}
