//! Sessions: a real conversation between a user's client and server, recorded (or written by
//! hand) so that it can be replayed under chaos against either side.
//!
//! - [`format`](mod@format): the versioned JSON session file ([`Session`], [`Connection`], [`Turn`]), loaded
//!   strictly with a size limit and saved atomically; the schema is in `docs/sessions.md`.
//! - [`builder`]: a session written in code ([`Session::builder`], [`Session::from_turns`]).
//! - [`escape`]: the `text` form of a turn's bytes (`\xNN` and friends).
//! - [`masks`]: byte ranges that may differ between runs, derived from two clean runs or given
//!   with `--mask`, and the comparison of expected against got bytes under them.
//! - [`record`]: the transparent recording proxy behind `stickler record`.
//!
//! ```
//! use stickler::session::{Session, Side};
//! let s = Session::from_json(r#"{"stickler_session": 1, "connections": [{"turns": [
//!     {"from": "client", "text": "PING\\r\\n"}, {"from": "server", "base64": "UE9ORw0K"}]}]}"#)
//!     .unwrap();
//! assert_eq!(s.connections[0].turns[1].from, Side::Server);
//! assert_eq!(s.connections[0].turns[1].bytes, b"PONG\r\n");
//! ```

pub mod builder;
pub mod escape;
pub mod format;
pub mod mask;
pub mod masks;
pub mod record;

pub use builder::SessionBuilder;
pub use format::{Connection, FormatError, Session, SessionError, Side, Turn};
pub use masks::{compare, derive_masks, Comparison, Difference, Mask};
