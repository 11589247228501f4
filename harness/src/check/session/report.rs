//! A checked session on the terminal: connections × profiles, and one line per failing cell.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Color, Table};

use super::{SessionCell, SessionReport, PROFILE_NAMES};

fn cell_text(cell: &SessionCell) -> String {
    if cell.counts.passed() {
        format!("pass {}/{}", cell.counts.total(), cell.counts.total())
    } else {
        format!("FAIL {}", cell.counts.summary())
    }
}

/// Rows: the session's connections; columns: the profiles played.
pub fn table(report: &SessionReport, color: bool) -> String {
    let profiles: Vec<&str> = PROFILE_NAMES
        .iter()
        .copied()
        .filter(|p| report.cells.iter().any(|c| c.profile == *p))
        .collect();
    let mut conns: Vec<usize> = report.cells.iter().map(|c| c.connection).collect();
    conns.dedup();
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec![Cell::new(&report.subject)];
    header.extend(profiles.iter().map(Cell::new));
    t.set_header(header);
    for c in conns {
        let mut row = vec![Cell::new(format!("connection {c}"))];
        for p in &profiles {
            row.push(
                match report
                    .cells
                    .iter()
                    .find(|x| x.connection == c && x.profile == *p)
                {
                    Some(cell) => {
                        let cell_ = Cell::new(cell_text(cell));
                        match (color, cell.counts.passed()) {
                            (false, _) => cell_,
                            (true, true) => cell_.fg(Color::Green),
                            (true, false) => cell_.fg(Color::Red),
                        }
                    }
                    None => Cell::new("-"),
                },
            );
        }
        t.add_row(row);
    }
    t.to_string()
}

/// One line per failing cell: where, and what happened first.
pub fn failure_lines(report: &SessionReport) -> Vec<String> {
    report
        .cells
        .iter()
        .filter_map(|c| {
            let f = c.failure.as_ref()?;
            Some(format!(
                "FAIL connection {} / {} (run {} of {}, seed {}): {}: {}",
                c.connection, c.profile, f.run, c.runs, c.seed, f.verdict, f.detail
            ))
        })
        .collect()
}
