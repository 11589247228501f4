//! The JSON shapes of the toxiproxy API, and how a toxiproxy toxic maps onto ours.
//!
//! toxiproxy's types and attributes, as it documents them:
//!
//! | type | attributes |
//! |---|---|
//! | `latency` | `latency` (ms), `jitter` (ms) |
//! | `bandwidth` | `rate` (KB/s) |
//! | `slow_close` | `delay` (ms) |
//! | `timeout` | `timeout` (ms, 0 = never) |
//! | `reset_peer` | `timeout` (ms) |
//! | `slicer` | `average_size`, `size_variation` (bytes), `delay` (µs) |
//! | `limit_data` | `bytes` |
//!
//! and ours: `split` (`min`, `max` bytes, `gap_us`), `coalesce` (`window_us`, `max_bytes`).
//! `docs/api.md` documents every type and attribute, with units, defaults and limits.
//!
//! Errors are shown as toxiproxy shows them: `{"error": "...", "status": N}`, a body over
//! [`MAX_BODY`] included (413, however it was sent: see [`read_body`]).

use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::toxic::{ToxicError, ToxicKind, ToxicSpec};
use crate::chaos::Side;

/// A toxic as the API shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApiToxic {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub stream: String,
    pub toxicity: f64,
    pub attributes: Map<String, Value>,
}

/// The attribute names of a type, in the order shown. `None` for an unknown type.
pub fn attribute_names(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "latency" => &["latency", "jitter"],
        "bandwidth" => &["rate"],
        "slow_close" => &["delay"],
        "timeout" => &["timeout"],
        "reset_peer" => &["timeout"],
        "slicer" => &["average_size", "size_variation", "delay"],
        "limit_data" => &["bytes"],
        "split" => &["min", "max", "gap_us"],
        "coalesce" => &["window_us", "max_bytes"],
        _ => return None,
    })
}

/// Defaults where toxiproxy has none worth keeping (ours only).
fn default_of(kind: &str, attr: &str) -> u64 {
    match (kind, attr) {
        ("split", "min") | ("split", "max") => 1,
        ("coalesce", "max_bytes") => 64 << 10,
        _ => 0,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AttrError {
    #[error("invalid toxic type: {0}")]
    UnknownType(String),
    #[error("attribute {name} of {kind} must be a non-negative integer, got {value}")]
    NotCount {
        kind: String,
        name: String,
        value: String,
    },
    #[error("attribute {name} is not one of {kind}'s ({known})")]
    UnknownAttribute {
        kind: String,
        name: String,
        known: String,
    },
    #[error(transparent)]
    Toxic(#[from] ToxicError),
}

impl ApiToxic {
    /// Completes and checks `attributes` against the type: every attribute present, each a
    /// non-negative integer; unknown ones refused.
    pub fn normalize(&mut self) -> Result<(), AttrError> {
        let names =
            attribute_names(&self.kind).ok_or_else(|| AttrError::UnknownType(self.kind.clone()))?;
        for (k, _) in self.attributes.iter() {
            if !names.contains(&k.as_str()) {
                return Err(AttrError::UnknownAttribute {
                    kind: self.kind.clone(),
                    name: k.clone(),
                    known: names.join(", "),
                });
            }
        }
        let mut out = Map::new();
        for &n in names {
            let v = match self.attributes.get(n) {
                None | Some(Value::Null) => default_of(&self.kind, n),
                Some(v) => v.as_u64().ok_or_else(|| AttrError::NotCount {
                    kind: self.kind.clone(),
                    name: n.to_string(),
                    value: v.to_string(),
                })?,
            };
            out.insert(n.to_string(), Value::from(v));
        }
        self.attributes = out;
        self.to_spec()?.validate()?;
        Ok(())
    }

    fn attr(&self, n: &str) -> u64 {
        self.attributes.get(n).and_then(Value::as_u64).unwrap_or(0)
    }

    /// Our toxic for this API toxic (attributes normalized first).
    pub fn to_spec(&self) -> Result<ToxicSpec, AttrError> {
        let ms = |n: &str| Duration::from_millis(self.attr(n).min(u32::MAX as u64));
        let us = |n: &str| Duration::from_micros(self.attr(n).min(u32::MAX as u64 * 1000));
        let size = |n: &str| usize::try_from(self.attr(n)).unwrap_or(usize::MAX);
        let kind = match self.kind.as_str() {
            "latency" => ToxicKind::Latency {
                latency: ms("latency"),
                jitter: ms("jitter"),
            },
            "bandwidth" => ToxicKind::Bandwidth {
                rate: self.attr("rate"),
            },
            "slow_close" => ToxicKind::SlowClose { delay: ms("delay") },
            "timeout" => ToxicKind::Timeout {
                timeout: ms("timeout"),
            },
            "reset_peer" => ToxicKind::ResetPeer {
                timeout: ms("timeout"),
            },
            "slicer" => {
                let (avg, var) = (size("average_size"), size("size_variation"));
                ToxicKind::Split {
                    min: avg.saturating_sub(var).max(1),
                    max: avg.saturating_add(var).max(1),
                    gap: us("delay"),
                }
            }
            "limit_data" => ToxicKind::LimitData {
                bytes: self.attr("bytes"),
            },
            "split" => ToxicKind::Split {
                min: size("min"),
                max: size("max"),
                gap: us("gap_us"),
            },
            "coalesce" => ToxicKind::Coalesce {
                window: us("window_us"),
                max: size("max_bytes"),
            },
            other => return Err(AttrError::UnknownType(other.to_string())),
        };
        let side = if self.stream == "upstream" {
            Side::Up
        } else {
            Side::Down
        };
        Ok(ToxicSpec {
            name: self.name.clone(),
            side,
            toxicity: self.toxicity,
            kind,
        })
    }
}

/// A proxy as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiProxy {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    pub toxics: Vec<ApiToxic>,
}

/// Largest request body the API reads.
pub const MAX_BODY: usize = 1 << 20;

/// How much of a body over [`MAX_BODY`] is read and thrown away before the 413 goes out, and
/// for how long: a client still writing when the server closes would get a reset instead of
/// the answer.
const DRAIN_BYTES: usize = 64 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// An API error, shown as toxiproxy shows it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn no_proxy() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "proxy not found")
    }
    pub fn no_toxic() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "toxic not found")
    }
    /// A request body over [`MAX_BODY`].
    pub fn too_large() -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {MAX_BODY} bytes"),
        )
    }
}

impl From<AttrError> for ApiError {
    fn from(e: AttrError) -> ApiError {
        ApiError::bad(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.message, "status": self.status.as_u16()});
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Reads a request body of at most [`MAX_BODY`] bytes, whether its length was given or it came
/// chunked. A longer one is a 413 in the API's error shape, whatever its size: the rest is read
/// and dropped (up to 64 MiB or 2 s) so that the client, done writing, reads the answer.
pub async fn read_body(mut body: Body) -> ApiResult<Bytes> {
    let mut buf = Vec::new();
    let mut over = false;
    let mut drained = 0usize;
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx));
        let frame = if over {
            match tokio::time::timeout_at(deadline, next).await {
                Ok(f) => f,
                Err(_) => break,
            }
        } else {
            next.await
        };
        let data = match frame {
            None => break,
            Some(Err(_)) if over => break,
            Some(Err(e)) => return Err(ApiError::bad(format!("reading the request body: {e}"))),
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
        };
        if over {
            drained += data.len();
            if drained > DRAIN_BYTES {
                break;
            }
        } else if buf.len() + data.len() > MAX_BODY {
            over = true;
            buf = Vec::new();
        } else {
            buf.extend_from_slice(&data);
        }
    }
    if over {
        Err(ApiError::too_large())
    } else {
        Ok(Bytes::from(buf))
    }
}

pub fn parse_body(body: &Bytes) -> ApiResult<Value> {
    if body.len() > MAX_BODY {
        return Err(ApiError::too_large());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("bad request body: {e}")))
}

/// The request body as a JSON object.
pub fn parse_object(body: &Bytes) -> ApiResult<Map<String, Value>> {
    match parse_body(body)? {
        Value::Object(obj) => Ok(obj),
        _ => Err(ApiError::bad("body must be a JSON object")),
    }
}

pub fn field_str(obj: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(ApiError::bad(format!(
            "field {key} must be a string, got {v}"
        ))),
    }
}

pub fn field_bool(obj: &Map<String, Value>, key: &str) -> ApiResult<Option<bool>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(ApiError::bad(format!(
            "field {key} must be true or false, got {v}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toxic(kind: &str, attrs: Value) -> ApiToxic {
        ApiToxic {
            name: "t".into(),
            kind: kind.into(),
            stream: "downstream".into(),
            toxicity: 1.0,
            attributes: attrs.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn slicer_maps_to_split() {
        let mut t = toxic(
            "slicer",
            serde_json::json!({"average_size": 10, "size_variation": 3, "delay": 500}),
        );
        t.normalize().unwrap();
        assert_eq!(
            t.to_spec().unwrap().kind,
            ToxicKind::Split {
                min: 7,
                max: 13,
                gap: Duration::from_micros(500)
            }
        );
    }

    #[test]
    fn bad_attributes_are_refused() {
        for (kind, attrs) in [
            ("latency", serde_json::json!({"latency": -5})),
            ("latency", serde_json::json!({"latency": "soon"})),
            ("latency", serde_json::json!({"latncy": 5})),
            ("bandwidth", serde_json::json!({"rate": 0})),
            (
                "coalesce",
                serde_json::json!({"window_us": 1000, "max_bytes": 1u64 << 40}),
            ),
            ("latency", serde_json::json!({"latency": 1u64 << 60})),
            ("explode", serde_json::json!({})),
        ] {
            assert!(
                toxic(kind, attrs.clone()).normalize().is_err(),
                "{kind} {attrs}"
            );
        }
    }
}
