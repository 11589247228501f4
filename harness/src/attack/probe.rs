//! The health probe: a fresh [`Client`] sends one valid request and must get the service's
//! correct reply in time (for a framing description: the session's first exchange, see
//! [`super::spec`]). Its failure names how the target broke.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::wire::FILE;
use super::AttackConfig;
use crate::codec::Framing;
use crate::peer::client::{Client, ClientConfig, ClientError};

/// The probe's command (its expected reply is the service's reply to it).
pub const PROBE: &[u8] = b"echo stickler probe";

/// How the target came through a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The probe got the correct reply (and memory, when watched, stayed in bounds).
    Survived,
    /// The probe connected but no reply came in time.
    Hung,
    /// The probe could not connect.
    Refused,
    /// The probe connected and the target closed or reset it without a reply.
    Closed,
    /// The probe got a reply that is not the correct one.
    Wrong,
    /// The watched process (`--pid`) is gone.
    Died,
    /// The watched process grew by more than the allowed memory.
    Memory,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Survived => "survived",
            Outcome::Hung => "hung",
            Outcome::Refused => "refused",
            Outcome::Closed => "closed",
            Outcome::Wrong => "wrong",
            Outcome::Died => "died",
            Outcome::Memory => "memory",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed probe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{outcome}: {why}")]
pub struct ProbeFail {
    pub outcome: Outcome,
    pub why: String,
}

fn fail(outcome: Outcome, why: impl Into<String>) -> ProbeFail {
    ProbeFail {
        outcome,
        why: why.into(),
    }
}

fn classify(e: ClientError) -> ProbeFail {
    match &e {
        ClientError::Connect { .. } => fail(Outcome::Refused, e.to_string()),
        ClientError::Timeout { .. } => fail(Outcome::Hung, e.to_string()),
        ClientError::Reset { .. } | ClientError::ClosedEarly { .. } | ClientError::Io { .. } => {
            fail(Outcome::Closed, e.to_string())
        }
        ClientError::Protocol { .. } | ClientError::Unsupported { .. } => {
            fail(Outcome::Wrong, e.to_string())
        }
    }
}

/// One probe with `timeout` per step; the reply time on success.
pub async fn probe_once(config: &AttackConfig, timeout: Duration) -> Result<Duration, ProbeFail> {
    if let Some(target) = &config.session {
        return super::spec::probe_once(config.target, target, timeout).await;
    }
    let start = Instant::now();
    let mut client_config = ClientConfig::new(config.framing)
        .header_kind(config.header_kind)
        .token(config.token.clone())
        .timeout(timeout.max(Duration::from_millis(1)));
    client_config.length_field = config.length_field;
    let mut client = Client::connect(config.target, client_config)
        .await
        .map_err(classify)?;
    if config.framing == Framing::Upload {
        let reply = client
            .upload("stickler-probe.txt", FILE)
            .await
            .map_err(classify)?;
        let status: Value = serde_json::from_slice(&reply.body).map_err(|e| {
            fail(
                Outcome::Wrong,
                format!("upload status is not JSON ({e}): {}", show(&reply.body)),
            )
        })?;
        if status.get("ok") != Some(&Value::Bool(true)) {
            return Err(fail(
                Outcome::Wrong,
                format!("upload refused: {}", show(&reply.body)),
            ));
        }
    } else {
        let reply = client.exchange(PROBE).await.map_err(classify)?;
        let expected = config.service.reply(PROBE);
        if reply.body[..] != expected[..] {
            return Err(fail(
                Outcome::Wrong,
                format!(
                    "expected {:?}, got {:?}",
                    show(&expected),
                    show(&reply.body)
                ),
            ));
        }
    }
    let _ = client.close().await;
    Ok(start.elapsed())
}

/// Probes until one passes or `deadline`: a refused or closed probe is retried (the target may
/// still be releasing what the case held), a hang is not.
pub async fn probe_until(config: &AttackConfig, deadline: Instant) -> Result<Duration, ProbeFail> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let result = probe_once(config, left).await;
        match result {
            Ok(d) => return Ok(d),
            Err(e) if e.outcome == Outcome::Hung => return Err(e),
            Err(e) if Instant::now() + Duration::from_millis(100) >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Bytes for a message: lossy UTF-8, control characters escaped, cut at 80 bytes.
pub fn show(bytes: &[u8]) -> String {
    crate::present::preview(bytes, 80)
}
