//! The session check as a function for your own tests: [`SessionCheck`] runs
//! [`check_server`] (the engine of `stickler check --session`) and gives
//! [`SessionVerdicts`], which a test asserts on.
//!
//! ```no_run
//! use stickler::check::session::api::SessionCheck;
//! use stickler::session::Session;
//!
//! #[tokio::test]
//! async fn my_server_survives_every_cut() {
//!     let addr = "127.0.0.1:9000".parse().unwrap(); // your server, started by the test
//!     let session = Session::builder()
//!         .framing("length:u16be")
//!         .client(b"\x00\x05hello")
//!         .server(b"\x00\x05HELLO")
//!         .build()
//!         .unwrap();
//!     SessionCheck::new(session)
//!         .profiles(["none", "split-up", "coalesce-up", "cut-up"])
//!         .seed(1)
//!         .run_against(addr)
//!         .await
//!         .unwrap()
//!         .assert_passed();
//! }
//! # fn main() {}
//! ```
//!
//! First two clean runs straight to the server make the reference (and mask the bytes that
//! change by themselves); then every connection of the session is played through the chaos
//! proxy under every profile, and each server turn must equal the reference. The profiles are
//! those of `stickler check --session`: `none`, `split-down`, `split-up`, `coalesce-down`,
//! `coalesce-up`, `latency`, `combined`, `cut-up`, `cut-down` ([`PROFILE_NAMES`]).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::{
    check_server, SessionCell, SessionConfig, SessionProfile, SessionReport, SetupError,
    PROFILE_NAMES,
};
use crate::check::verdict::{Counts, Verdict};
use crate::codec::spec::FrameSpec;
use crate::session::{FormatError, Mask, Session};

/// A session check of a server, configured with chained calls and run with
/// [`run_against`](Self::run_against). Defaults: every profile, seed 1, 2 connections per
/// random profile, 3 s without a byte is a hang (those of `stickler check --session`).
///
/// ```
/// use stickler::check::session::api::SessionCheck;
/// use stickler::session::Session;
/// let session = Session::builder().client(b"ping\n").server(b"pong\n").build().unwrap();
/// let check = SessionCheck::new(session).profiles(["none", "cut-up"]).seed(7);
/// assert_eq!(check.config().seed, 7);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a check does nothing until .run_against(addr).await"]
pub struct SessionCheck {
    session: Session,
    profiles: Option<Vec<String>>,
    config: SessionConfig,
}

/// Why a session check could not run at all (a failing server is not an error: it is
/// [`SessionVerdicts`] that did not pass).
#[derive(Debug, thiserror::Error)]
pub enum SessionCheckError {
    /// A profile name that is not one of [`PROFILE_NAMES`].
    #[error("{0}")]
    Profile(String),
    /// The session breaks a rule of the format (e.g. a turn is not whole messages of its
    /// framing).
    #[error("the session is not valid: {0}")]
    Session(#[from] FormatError),
    /// The server could not be reached, did not answer the clean run, or does not repeat
    /// itself.
    #[error(transparent)]
    Setup(#[from] SetupError),
}

impl SessionCheck {
    /// A check of `session` (with its framing and masks, if it has them).
    ///
    /// ```
    /// use stickler::check::session::api::SessionCheck;
    /// use stickler::session::Session;
    /// let session = Session::builder().client(b"a").server(b"b").build().unwrap();
    /// let check = SessionCheck::new(session);
    /// assert_eq!(check.config().profiles.len(), 9);
    /// ```
    pub fn new(session: Session) -> SessionCheck {
        let source = match &session.name {
            Some(name) => format!("SESSION({name})"),
            None => "SESSION".to_string(),
        };
        SessionCheck {
            session,
            profiles: None,
            config: SessionConfig {
                source,
                ..SessionConfig::default()
            },
        }
    }

    /// The profiles to play, by name ([`PROFILE_NAMES`]; all nine unless set). An unknown
    /// name is an error of [`run_against`](Self::run_against).
    ///
    /// ```
    /// use stickler::check::session::api::SessionCheck;
    /// use stickler::session::Session;
    /// let s = Session::builder().client(b"a").server(b"b").build().unwrap();
    /// let check = SessionCheck::new(s).profiles(["cut-up", "cut-down"]);
    /// ```
    pub fn profiles<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.profiles = Some(
            names
                .into_iter()
                .map(|n| n.as_ref().trim().to_string())
                .collect(),
        );
        self
    }

    /// The seed of every random choice (chaos, which cut points): one seed, one run.
    ///
    /// ```
    /// # use stickler::check::session::api::SessionCheck;
    /// # use stickler::session::Session;
    /// # let s = Session::builder().client(b"a").server(b"b").build().unwrap();
    /// assert_eq!(SessionCheck::new(s).seed(42).config().seed, 42);
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Connections played per session connection under each random profile (at least 1;
    /// the `cut-*` profiles play one connection per cut instead).
    ///
    /// ```
    /// # use stickler::check::session::api::SessionCheck;
    /// # use stickler::session::Session;
    /// # let s = Session::builder().client(b"a").server(b"b").build().unwrap();
    /// assert_eq!(SessionCheck::new(s).runs(5).config().runs, 5);
    /// ```
    pub fn runs(mut self, runs: u64) -> Self {
        self.config.runs = runs.max(1);
        self
    }

    /// How long a turn may go without a byte before it is a `hang` (default 3 s).
    ///
    /// ```
    /// # use stickler::check::session::api::SessionCheck;
    /// # use stickler::session::Session;
    /// # let s = Session::builder().client(b"a").server(b"b").build().unwrap();
    /// use std::time::Duration;
    /// let check = SessionCheck::new(s).timeout(Duration::from_millis(500));
    /// assert_eq!(check.config().idle, Duration::from_millis(500));
    /// ```
    pub fn timeout(mut self, idle: Duration) -> Self {
        self.config.idle = idle.max(Duration::from_millis(1));
        self
    }

    /// Adds a mask: bytes `start..end` of turn `turn` (both sides' turns counted) of
    /// connection `conn` are not compared.
    ///
    /// ```
    /// # use stickler::check::session::api::SessionCheck;
    /// # use stickler::session::Session;
    /// # let s = Session::builder().client(b"a").server(b"b").build().unwrap();
    /// let check = SessionCheck::new(s).mask(0, 1, 0..1);
    /// ```
    pub fn mask(mut self, conn: usize, turn: usize, bytes: std::ops::Range<usize>) -> Self {
        self.session.masks.push(Mask::user(conn, turn, bytes));
        self
    }

    /// Changes anything else of the [`SessionConfig`] (quiet time, cut gap, cut points,
    /// minimising failing cells into case files). Profiles set by
    /// [`profiles`](Self::profiles) win over the config's.
    ///
    /// ```
    /// # use stickler::check::session::api::SessionCheck;
    /// # use stickler::session::Session;
    /// # let s = Session::builder().client(b"a").server(b"b").build().unwrap();
    /// use std::time::Duration;
    /// let check = SessionCheck::new(s).configure(|c| c.cut_gap = Duration::from_millis(2));
    /// assert_eq!(check.config().cut_gap, Duration::from_millis(2));
    /// ```
    pub fn configure(mut self, f: impl FnOnce(&mut SessionConfig)) -> Self {
        f(&mut self.config);
        self
    }

    /// The configuration the check runs with (profiles aside, when given by name).
    ///
    /// ```
    /// # use stickler::check::session::api::SessionCheck;
    /// # use stickler::session::Session;
    /// # let s = Session::builder().client(b"a").server(b"b").build().unwrap();
    /// assert_eq!(SessionCheck::new(s).config().seed, 1);
    /// ```
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The session checked.
    ///
    /// ```
    /// # use stickler::check::session::api::SessionCheck;
    /// # use stickler::session::Session;
    /// # let s = Session::builder().client(b"a").server(b"b").build().unwrap();
    /// assert_eq!(SessionCheck::new(s).session().connections.len(), 1);
    /// ```
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Checks the server at `addr` (which must be up, and must answer the session as it did
    /// when the session was made): the clean runs, then every connection under every profile.
    /// The chaos proxies are on 127.0.0.1 ports of their own, stopped before this returns.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use stickler::check::session::api::SessionCheck;
    /// use stickler::session::Session;
    ///
    /// // A server that echoes bytes as they come (so however they are cut).
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = listener.local_addr()?;
    /// let server = tokio::spawn(async move {
    ///     while let Ok((mut s, _)) = listener.accept().await {
    ///         tokio::spawn(async move {
    ///             let (mut r, mut w) = s.split();
    ///             let _ = tokio::io::copy(&mut r, &mut w).await;
    ///         });
    ///     }
    /// });
    /// let session = Session::builder().client(b"ping\n").server(b"ping\n").build()?;
    /// let verdicts = SessionCheck::new(session)
    ///     .profiles(["none", "split-down", "cut-up"])
    ///     .run_against(addr)
    ///     .await?;
    /// println!("{verdicts}");
    /// verdicts.assert_passed();
    /// assert_eq!(verdicts.counts("cut-up").total(), 4); // "ping\n" cut after bytes 1, 2, 3, 4
    /// server.abort();
    /// # Ok(()) }
    /// ```
    pub async fn run_against(
        &self,
        addr: SocketAddr,
    ) -> Result<SessionVerdicts, SessionCheckError> {
        self.session.validate()?;
        let mut cfg = self.config.clone();
        if let Some(names) = &self.profiles {
            cfg.profiles = names
                .iter()
                .map(|n| SessionProfile::parse(n))
                .collect::<Result<_, _>>()
                .map_err(SessionCheckError::Profile)?;
        }
        if cfg.framing.is_none() {
            if let Some(text) = &self.session.framing {
                // validate() has parsed it already.
                let spec: FrameSpec =
                    text.parse().map_err(|e: crate::codec::spec::SpecError| {
                        SessionCheckError::Session(FormatError::Invalid {
                            field: "framing".into(),
                            message: e.problem,
                        })
                    })?;
                cfg.framing = Some(spec);
            }
        }
        let report =
            check_server(addr, &self.session.connections, &self.session.masks, &cfg).await?;
        let order = cfg.profiles.iter().map(|p| p.name()).collect();
        Ok(SessionVerdicts { report, order })
    }
}

/// The verdicts of a session check: one cell per connection (those with a server turn,
/// numbered from 0) and profile. Print it for a summary per profile.
#[derive(Debug, Clone)]
pub struct SessionVerdicts {
    report: SessionReport,
    order: Vec<&'static str>,
}

impl SessionVerdicts {
    /// Wraps a report of [`check_server`] or
    /// [`check_client`](super::client::check_client).
    ///
    /// ```
    /// use stickler::check::session::api::SessionVerdicts;
    /// use stickler::check::session::SessionReport;
    /// let report = SessionReport {
    ///     subject: "server at 127.0.0.1:9".into(),
    ///     seed: 1,
    ///     masks: vec![],
    ///     elapsed_ms: 0,
    ///     cells: vec![],
    /// };
    /// let v = SessionVerdicts::from_report(report);
    /// assert!(v.passed()); // no cell failed (none ran)
    /// ```
    pub fn from_report(report: SessionReport) -> SessionVerdicts {
        let mut order: Vec<&'static str> = Vec::new();
        for c in &report.cells {
            let name = PROFILE_NAMES
                .iter()
                .find(|n| **n == c.profile)
                .copied()
                .unwrap_or("?");
            if !order.contains(&name) {
                order.push(name);
            }
        }
        SessionVerdicts { report, order }
    }

    /// Whether every cell passed: each judged turn `ok`, in every cell.
    ///
    /// ```no_run
    /// # async fn demo(v: stickler::check::session::api::SessionVerdicts) {
    /// if !v.passed() { eprintln!("{v}"); }
    /// # }
    /// ```
    pub fn passed(&self) -> bool {
        self.report.passed()
    }

    /// Panics unless every cell passed, with one line per failing cell: profile, connection,
    /// verdict and what happened (the cut, the first differing byte), and the profile and seed
    /// that repeat it (and the case file, when minimising).
    ///
    /// ```no_run
    /// # async fn demo(v: stickler::check::session::api::SessionVerdicts) {
    /// v.assert_passed();
    /// # }
    /// ```
    #[track_caller]
    pub fn assert_passed(&self) {
        if !self.passed() {
            panic!("{}", self.failure_text());
        }
    }

    /// Panics unless some cell of `profile` failed (for a test that proves a broken server
    /// is caught), with the profile's verdicts.
    ///
    /// ```no_run
    /// # async fn demo(v: stickler::check::session::api::SessionVerdicts) {
    /// v.assert_caught_by("cut-up");
    /// # }
    /// ```
    #[track_caller]
    pub fn assert_caught_by(&self, profile: &str) {
        if !self.cells_of(profile).any(|_| true) {
            panic!(
                "profile {profile:?} was not checked (checked: {})",
                self.order.join(", ")
            );
        }
        if self.profile_passed(profile) {
            panic!(
                "profile {profile:?} passed: {} — the server was not caught",
                self.counts(profile).summary()
            );
        }
    }

    /// The cells that did not pass, in report order.
    ///
    /// ```no_run
    /// # async fn demo(v: stickler::check::session::api::SessionVerdicts) {
    /// for cell in v.failures() {
    ///     println!("{} connection {}: {:?}", cell.profile, cell.connection, cell.failure);
    /// }
    /// # }
    /// ```
    pub fn failures(&self) -> Vec<&SessionCell> {
        self.report
            .cells
            .iter()
            .filter(|c| !c.counts.passed())
            .collect()
    }

    /// The profiles checked, in the order played.
    ///
    /// ```no_run
    /// # async fn demo(v: stickler::check::session::api::SessionVerdicts) {
    /// assert!(v.profiles().contains(&"cut-up"));
    /// # }
    /// ```
    pub fn profiles(&self) -> &[&'static str] {
        &self.order
    }

    /// The verdicts of `profile` over every connection (empty when it was not checked).
    ///
    /// ```no_run
    /// # async fn demo(v: stickler::check::session::api::SessionVerdicts) {
    /// use stickler::check::verdict::Verdict;
    /// let cut = v.counts("cut-up");
    /// println!("{} of {} turns differ", cut.get(Verdict::Differs), cut.total());
    /// # }
    /// ```
    pub fn counts(&self, profile: &str) -> Counts {
        let mut all = Counts::default();
        for cell in self.cells_of(profile) {
            for (v, n) in &cell.counts.0 {
                *all.0.entry(*v).or_default() += n;
            }
        }
        all
    }

    /// How many judged turns of `profile` got verdict `verdict`.
    ///
    /// ```no_run
    /// # async fn demo(v: stickler::check::session::api::SessionVerdicts) {
    /// use stickler::check::verdict::Verdict;
    /// assert_eq!(v.count("none", Verdict::Ok), v.counts("none").total());
    /// # }
    /// ```
    pub fn count(&self, profile: &str, verdict: Verdict) -> u64 {
        self.counts(profile).get(verdict)
    }

    /// Whether `profile` was checked and every cell of it passed.
    ///
    /// ```no_run
    /// # async fn demo(v: stickler::check::session::api::SessionVerdicts) {
    /// assert!(v.profile_passed("none"));
    /// # }
    /// ```
    pub fn profile_passed(&self, profile: &str) -> bool {
        let mut cells = self.cells_of(profile).peekable();
        cells.peek().is_some() && cells.all(|c| c.counts.passed())
    }

    /// The cell of `profile` and `connection`, if checked.
    ///
    /// ```no_run
    /// # async fn demo(v: stickler::check::session::api::SessionVerdicts) {
    /// let cell = v.cell("cut-up", 0).unwrap();
    /// println!("{} connections played", cell.runs);
    /// # }
    /// ```
    pub fn cell(&self, profile: &str, connection: usize) -> Option<&SessionCell> {
        self.report
            .cells
            .iter()
            .find(|c| c.profile == profile && c.connection == connection)
    }

    /// The whole report, as `stickler check --session --json` writes it.
    ///
    /// ```no_run
    /// # async fn demo(v: stickler::check::session::api::SessionVerdicts) {
    /// println!("masks found: {:?}", v.report().masks);
    /// # }
    /// ```
    pub fn report(&self) -> &SessionReport {
        &self.report
    }

    /// The report, owned.
    ///
    /// ```no_run
    /// # async fn demo(v: stickler::check::session::api::SessionVerdicts) {
    /// let json = serde_json::to_string(&v.into_report()).unwrap();
    /// # }
    /// ```
    pub fn into_report(self) -> SessionReport {
        self.report
    }

    fn cells_of<'a>(&'a self, profile: &'a str) -> impl Iterator<Item = &'a SessionCell> + 'a {
        self.report
            .cells
            .iter()
            .filter(move |c| c.profile == profile)
    }

    fn failure_text(&self) -> String {
        let failing = self.failures();
        let mut s = format!(
            "session check of the {} failed: {} of {} cells (seed {})\n",
            self.report.subject,
            failing.len(),
            self.report.cells.len(),
            self.report.seed
        );
        for cell in failing {
            s.push_str(&format!(
                "  {}, connection {}: ",
                cell.profile, cell.connection
            ));
            match &cell.failure {
                Some(f) => {
                    s.push_str(&format!(
                        "{} (run {}): {} [{}]\n",
                        f.verdict,
                        f.run,
                        f.detail,
                        cell.counts.summary()
                    ));
                    s.push_str(&format!(
                        "      repeat: .profiles([{:?}]).seed({})\n",
                        cell.profile, self.report.seed
                    ));
                    if let Some(file) = &f.case_file {
                        s.push_str(&format!("      case file: {file}\n"));
                    }
                }
                None => s.push_str(&format!("no turn was judged [{}]\n", cell.counts.summary())),
            }
        }
        s
    }
}

impl fmt::Display for SessionVerdicts {
    /// One line per profile (its verdicts over every connection), then the failing cells.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.order.iter().map(|p| p.len()).max().unwrap_or(0);
        for p in &self.order {
            let mark = if self.profile_passed(p) {
                "pass"
            } else {
                "FAIL"
            };
            writeln!(f, "{p:width$}  {mark}  {}", self.counts(p).summary())?;
        }
        if !self.passed() {
            write!(f, "{}", self.failure_text())?;
        }
        Ok(())
    }
}
