//! Directions: which way bytes or datagrams travel, and which ways a toxic applies to.

/// Which way bytes travel: `up` = client → server, `down` = server → client.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    /// Both directions, up first.
    pub const BOTH: [Direction; 2] = [Direction::Up, Direction::Down];

    /// `up` or `down`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }

    /// toxiproxy's word for the direction (`upstream` / `downstream`).
    pub fn stream(self) -> &'static str {
        match self {
            Direction::Up => "upstream",
            Direction::Down => "downstream",
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The directions a toxic applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Up,
    Down,
    Both,
}

impl Side {
    /// `up`, `down` or `both`, as in the toxic syntax.
    pub fn name(self) -> &'static str {
        match self {
            Side::Up => "up",
            Side::Down => "down",
            Side::Both => "both",
        }
    }

    /// The side a toxic syntax word names (`up`, `down`, `both`).
    pub fn from_name(word: &str) -> Option<Side> {
        match word {
            "up" => Some(Side::Up),
            "down" => Some(Side::Down),
            "both" => Some(Side::Both),
            _ => None,
        }
    }

    /// Whether a toxic on this side acts on direction `d`.
    pub fn applies_to(self, d: Direction) -> bool {
        matches!(
            (self, d),
            (Side::Both, _) | (Side::Up, Direction::Up) | (Side::Down, Direction::Down)
        )
    }
}

impl From<Direction> for Side {
    fn from(d: Direction) -> Side {
        match d {
            Direction::Up => Side::Up,
            Direction::Down => Side::Down,
        }
    }
}
