//! Writing a [`Session`] in code, so that a test need not keep a JSON file:
//! [`Session::builder`] and [`Session::from_turns`].
//!
//! ```
//! use stickler::session::{Session, Side};
//! let session = Session::builder()
//!     .name("ping")
//!     .framing("lines")
//!     .connection()
//!     .client(b"PING\n")
//!     .server(b"PONG\n")
//!     .client(b"PING\n")
//!     .server(b"PONG\n")
//!     .build()
//!     .unwrap();
//! assert_eq!(session.connections[0].turns.len(), 4);
//! assert_eq!(session.connections[0].turns[1].from, Side::Server);
//! ```

use super::format::{Connection, FormatError, Session, Side};
use super::mask::Mask;

/// Builds a [`Session`] turn by turn; made by [`Session::builder`]. Bytes one side sends twice
/// in a row are joined into one turn (a turn is everything a side sends before the other
/// speaks); empty bytes are ignored. [`build`](Self::build) checks the session as
/// [`Session::from_json`] does.
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until .build()"]
pub struct SessionBuilder {
    session: Session,
}

impl Session {
    /// A builder of a session written in code.
    ///
    /// ```
    /// use stickler::session::Session;
    /// let s = Session::builder().connection().client(b"hi").server(b"hi").build().unwrap();
    /// assert_eq!(s.connections.len(), 1);
    /// ```
    pub fn builder() -> SessionBuilder {
        SessionBuilder::default()
    }

    /// A session of one connection per item, each a list of `(side, bytes)` turns in order
    /// (adjacent turns of one side are joined, empty ones ignored), checked as
    /// [`Session::from_json`] checks a file.
    ///
    /// ```
    /// use stickler::session::{Session, Side};
    /// let s = Session::from_turns([[
    ///     (Side::Client, &b"\x00\x02hi"[..]),
    ///     (Side::Server, &b"\x00\x02hi"[..]),
    /// ]])
    /// .unwrap();
    /// assert_eq!(s.connections[0].turns[0].bytes, b"\x00\x02hi");
    /// ```
    pub fn from_turns<C, T, B>(connections: C) -> Result<Session, FormatError>
    where
        C: IntoIterator<Item = T>,
        T: IntoIterator<Item = (Side, B)>,
        B: AsRef<[u8]>,
    {
        let mut b = Session::builder();
        for turns in connections {
            b = b.connection();
            for (side, bytes) in turns {
                b = b.turn(side, bytes);
            }
        }
        b.build()
    }
}

impl SessionBuilder {
    /// The session's name (kept in its file form).
    ///
    /// ```
    /// use stickler::session::Session;
    /// let s = Session::builder().name("login").build().unwrap();
    /// assert_eq!(s.name.as_deref(), Some("login"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.session.name = Some(name.into());
        self
    }

    /// Free notes (kept in its file form).
    ///
    /// ```
    /// use stickler::session::Session;
    /// let s = Session::builder().notes("written in a test").build().unwrap();
    /// assert!(s.notes.is_some());
    /// ```
    pub fn notes(mut self, notes: impl Into<String>) -> Self {
        self.session.notes = Some(notes.into());
        self
    }

    /// How the messages are framed, as a framing description (`length:u16be`, `lines`,
    /// `dns`, ... as `stickler framings` lists them). [`build`](Self::build) checks that every
    /// turn is whole messages of it; a session check then cuts every byte of each message's
    /// header and names a differing reply by its messages.
    ///
    /// ```
    /// use stickler::session::Session;
    /// let u16be = || Session::builder().framing("length:u16be");
    /// assert!(u16be().client(b"\x00\x01a").build().is_ok());
    /// assert!(u16be().client(b"\x00\x05a").build().is_err()); // 1 byte of 5
    /// assert!(u16be().client(b"\x00\x01ab").build().is_err()); // a torn second message
    /// ```
    pub fn framing(mut self, description: impl Into<String>) -> Self {
        self.session.framing = Some(description.into());
        self
    }

    /// Starts a new connection; the turns that follow belong to it.
    ///
    /// ```
    /// use stickler::session::Session;
    /// let s = Session::builder()
    ///     .connection().client(b"a").server(b"b")
    ///     .connection().client(b"c").server(b"d")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(s.connections.len(), 2);
    /// ```
    pub fn connection(mut self) -> Self {
        self.session.connections.push(Connection::default());
        self
    }

    /// Bytes the client sends (to the last connection; the first one is started if none is).
    ///
    /// ```
    /// use stickler::session::Session;
    /// let s = Session::builder().client(b"GET / HTTP/1.0\r\n").client(b"\r\n").build().unwrap();
    /// assert_eq!(s.connections[0].turns[0].bytes, b"GET / HTTP/1.0\r\n\r\n");
    /// ```
    pub fn client(self, bytes: impl AsRef<[u8]>) -> Self {
        self.turn(Side::Client, bytes)
    }

    /// Bytes the server sends (to the last connection; the first one is started if none is).
    ///
    /// ```
    /// use stickler::session::{Session, Side};
    /// let s = Session::builder().server(b"220 ready\r\n").build().unwrap();
    /// assert_eq!(s.connections[0].turns[0].from, Side::Server);
    /// ```
    pub fn server(self, bytes: impl AsRef<[u8]>) -> Self {
        self.turn(Side::Server, bytes)
    }

    /// Bytes `side` sends (to the last connection; the first one is started if none is).
    ///
    /// ```
    /// use stickler::session::{Session, Side};
    /// let s = Session::builder().turn(Side::Client, "hi").build().unwrap();
    /// assert_eq!(s.connections[0].turns[0].bytes, b"hi");
    /// ```
    pub fn turn(mut self, side: Side, bytes: impl AsRef<[u8]>) -> Self {
        if self.session.connections.is_empty() {
            self.session.connections.push(Connection::default());
        }
        if let Some(c) = self.session.connections.last_mut() {
            c.push(side, bytes.as_ref());
        }
        self
    }

    /// Bytes `start..end` of turn `turn` of connection `conn` (all from 0, turns of both sides
    /// counted) are not compared: for what changes by itself (ids, clocks) that the clean runs
    /// of a check might not catch.
    ///
    /// ```
    /// use stickler::session::Session;
    /// let s = Session::builder()
    ///     .client(b"time?").server(b"12:00:01")
    ///     .mask(0, 1, 0..8)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(s.masks[0].range(), 0..8);
    /// assert!(Session::builder().client(b"a").mask(0, 5, 0..1).build().is_err());
    /// ```
    pub fn mask(mut self, conn: usize, turn: usize, bytes: std::ops::Range<usize>) -> Self {
        self.session.masks.push(Mask::user(conn, turn, bytes));
        self
    }

    /// The session, checked as [`Session::from_json`] checks a file (framing, masks).
    ///
    /// ```
    /// use stickler::session::Session;
    /// let err = Session::builder().framing("length:u17").client(b"a").build().unwrap_err();
    /// assert!(err.to_string().contains("framing"));
    /// ```
    pub fn build(self) -> Result<Session, FormatError> {
        self.session.validate()?;
        Ok(self.session)
    }
}
