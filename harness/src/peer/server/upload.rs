//! The `upload` server (seed 001's file example, made safe).
//!
//! [`UploadDecoder`] yields the header, then the body in pieces as they arrive; each piece goes
//! straight to a temporary file in the storage directory, so a file is never whole in memory.
//! Only the base name of `file_name` is kept (`..`, empty and NUL-bearing names are refused by
//! the codec), an `md5` is required, and the file is renamed to its name only after the md5
//! matched. The announced size is claimed from the storage quota (`--max-storage`) before the
//! temporary file is created: an upload that would pass it is refused. Any failure (a write
//! error such as a full disk included) removes the temporary file and gives its claim back.
//! Each upload is answered with a `struct`-framed JSON status: `{"ok": true, "file_name",
//! "file_size", "md5"}` or `{"ok": false, "error"}`; after an error the connection is closed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::BytesMut;
use rand::Rng;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{Decoder, Encoder};
use tracing::info;

use super::conn::{Conn, ConnError, Next};
use super::limits::{Claim, Quota};
use crate::codec::json::python_dumps;
use crate::codec::length::LengthCodec;
use crate::codec::upload::{safe_name, UploadHeader, UploadItem};
use crate::codec::CodecError;

const READ_CHUNK: usize = 64 << 10;

/// A file being received: removed on drop unless it was committed; its quota claim goes back
/// with it.
struct PartFile {
    temp: PathBuf,
    dest: PathBuf,
    file: tokio::fs::File,
    name: String,
    size: usize,
    claim: Option<Claim>,
    committed: bool,
}

impl PartFile {
    async fn create(
        dir: &Path,
        header: &UploadHeader,
        quota: &Arc<Quota>,
    ) -> Result<PartFile, ConnError> {
        let name = safe_name(&header.file_name)?.to_owned();
        if header.md5.is_none() {
            return Err(CodecError::BadField { key: "md5" }.into());
        }
        let claim = quota
            .claim(header.file_size as u64)
            .map_err(ConnError::Quota)?;
        let tag: u64 = rand::thread_rng().gen();
        let temp = dir.join(format!(".{name}.{tag:016x}.part"));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .await
            .map_err(ConnError::Storage)?;
        Ok(PartFile {
            dest: dir.join(&name),
            temp,
            file,
            name,
            size: header.file_size,
            claim: Some(claim),
            committed: false,
        })
    }

    async fn write(&mut self, piece: &[u8]) -> Result<(), ConnError> {
        self.file.write_all(piece).await.map_err(ConnError::Storage)
    }

    async fn commit(mut self) -> Result<(String, usize), ConnError> {
        self.file.flush().await.map_err(ConnError::Storage)?;
        tokio::fs::rename(&self.temp, &self.dest)
            .await
            .map_err(ConnError::Storage)?;
        self.committed = true;
        if let Some(claim) = self.claim.take() {
            claim.keep(&self.name);
        }
        Ok((std::mem::take(&mut self.name), self.size))
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// The `struct`-framed JSON status.
fn status(fields: Map<String, Value>) -> Result<BytesMut, CodecError> {
    let mut out = BytesMut::new();
    LengthCodec::default().encode(&python_dumps(&Value::Object(fields))[..], &mut out)?;
    Ok(out)
}

pub(super) async fn serve(conn: &mut Conn) -> Result<(), ConnError> {
    let result = receive(conn).await;
    if let Err(e) = &result {
        if !matches!(e, ConnError::Idle(_)) {
            let mut fields = Map::new();
            fields.insert("ok".into(), Value::Bool(false));
            fields.insert("error".into(), Value::from(e.to_string()));
            if let Ok(reply) = status(fields) {
                // The peer may be gone already; the log line below says why we closed.
                let _ = conn.write(&reply).await;
            }
            conn.linger_close().await;
        }
    }
    result
}

async fn receive(conn: &mut Conn) -> Result<(), ConnError> {
    // `run` always sets the storage directory for uploads.
    let Some(dir) = conn.config.storage_dir.clone() else {
        return Err(ConnError::Storage(std::io::Error::other(
            "no storage directory configured",
        )));
    };
    let mut decoder = conn.config.format_config().upload();
    let mut buf = BytesMut::new();
    let mut part: Option<PartFile> = None;
    let mut in_header = false;
    loop {
        let before = buf.len();
        match decoder.decode(&mut buf)? {
            Some(UploadItem::Header(header)) => {
                in_header = false;
                part = Some(PartFile::create(&dir, &header, &conn.quota).await?);
                continue;
            }
            Some(UploadItem::Chunk(piece)) => {
                if let Some(part) = part.as_mut() {
                    part.write(&piece).await?;
                }
                continue;
            }
            Some(UploadItem::Done { md5 }) => {
                let Some(done) = part.take() else { continue };
                let (name, size) = done.commit().await?;
                info!(peer = %conn.peer, file = %name, size, %md5, "upload stored");
                let mut fields = Map::new();
                fields.insert("ok".into(), Value::Bool(true));
                fields.insert("file_name".into(), Value::from(name));
                fields.insert("file_size".into(), Value::from(size));
                fields.insert("md5".into(), Value::from(md5));
                let reply = status(fields).map_err(ConnError::Reply)?;
                conn.write(&reply).await?;
                continue;
            }
            None => in_header |= buf.len() < before || !buf.is_empty(),
        }
        let n = if part.is_some() || in_header {
            conn.read_in_flight(&mut buf, READ_CHUNK, "receiving an upload")
                .await?
        } else {
            match conn.read_idle(&mut buf, READ_CHUNK).await? {
                Next::Data(n) => n,
                Next::Eof | Next::Stopping => return Ok(()),
            }
        };
        if n == 0 {
            decoder.decode_eof(&mut buf)?;
            return Err(ConnError::ClosedEarly("receiving an upload"));
        }
    }
}
