//! The toxiproxy HTTP API: same paths, JSON shapes and status codes, so toxiproxy's client
//! libraries drive stickler unchanged. toxiproxy's toxic types work with its attributes
//! ([`api_model`](super::api_model)); `split` and `coalesce` are extra types.
//!
//! | path | methods |
//! |---|---|
//! | `/proxies` | GET (all, by name), POST (create: 201, 409 if the name exists) |
//! | `/populate` | POST (create or replace a list: 201 `{"proxies": [...]}`) |
//! | `/proxies/{name}` | GET, POST (partial update, e.g. `{"enabled": false}`), DELETE (204) |
//! | `/proxies/{name}/toxics` | GET, POST (add: 200, 409 if the name exists) |
//! | `/proxies/{name}/toxics/{toxic}` | GET, POST (update attributes/toxicity), DELETE (204) |
//! | `/reset` | POST (enable all, remove all toxics: 204) |
//! | `/version` | GET (`{"version": "..."}`) |
//! | `/metrics` | GET (Prometheus text: stickler's names, and toxiproxy's own) |
//!
//! Errors are `{"error": "...", "status": N}`: 400 bad body or attribute, 404 unknown proxy or
//! toxic, 409 name taken, 413 a body over [`MAX_BODY`](super::api_model::MAX_BODY) (however
//! sent), 500 a listen address that cannot be bound. Changing toxics swaps the list that open
//! connections read between pieces: no connection is stalled or dropped by it. A listen address
//! without a host (`":8474"`, or none at all) binds 127.0.0.1. [`ApiServer::load`] starts
//! proxies and toxics from a [config file](super::config_file) through the same code.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::api_model::{
    field_bool, field_str, parse_body, parse_object, read_body, ApiError, ApiProxy, ApiResult,
    ApiToxic,
};
use super::config_file::{ConfigError, ConfigFile};
use super::{Proxy, ProxyConfig, ProxyHandle};
use crate::chaos::Direction;

struct Entry {
    upstream: String,
    upstream_addr: SocketAddr,
    /// The bound address (kept across disable/enable).
    listen: SocketAddr,
    toxics: Vec<ApiToxic>,
    handle: Option<ProxyHandle>,
}

impl Entry {
    fn view(&self, name: &str) -> ApiProxy {
        ApiProxy {
            name: name.to_string(),
            listen: self.listen.to_string(),
            upstream: self.upstream.clone(),
            enabled: self.handle.is_some(),
            toxics: self.toxics.clone(),
        }
    }

    fn push_toxics(&self) {
        if let Some(h) = &self.handle {
            let specs = self
                .toxics
                .iter()
                .filter_map(|t| t.to_spec().ok())
                .collect();
            if let Err(e) = h.set_toxics(specs) {
                tracing::warn!("toxics not applied: {e}");
            }
        }
    }
}

struct ApiState {
    proxies: Mutex<BTreeMap<String, Entry>>,
    seed: u64,
    /// The budget of queued bytes of each proxy started from now on.
    max_queued: AtomicUsize,
}

async fn resolve(addr: &str, what: &str) -> ApiResult<SocketAddr> {
    let mut it = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| ApiError::bad(format!("{what} {addr:?} is not host:port: {e}")))?;
    it.next()
        .ok_or_else(|| ApiError::bad(format!("{what} {addr:?} resolves to nothing")))
}

impl ApiState {
    async fn start_proxy(
        &self,
        listen: SocketAddr,
        upstream: SocketAddr,
    ) -> ApiResult<ProxyHandle> {
        let l = super::bind(listen).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("listen {listen}: {e}"),
            )
        })?;
        let mut c = ProxyConfig::new(upstream);
        c.seed = self.seed;
        c.max_queued = self.max_queued.load(Ordering::Relaxed);
        Ok(Proxy::start(l, c))
    }

    /// Creates a proxy from a JSON object; `replace` lets an existing one be replaced.
    async fn create(&self, obj: &Map<String, Value>, replace: bool) -> ApiResult<ApiProxy> {
        let name = field_str(obj, "name")?
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::bad("missing required field: name"))?;
        let upstream = field_str(obj, "upstream")?
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::bad("missing required field: upstream"))?;
        let listen = local_by_default(field_str(obj, "listen")?);
        let enabled = field_bool(obj, "enabled")?.unwrap_or(true);
        let upstream_addr = resolve(&upstream, "upstream").await?;
        let mut listen_addr = resolve(&listen, "listen").await?;
        let mut map = self.proxies.lock().await;
        if let Some(old) = map.get(&name) {
            if !replace {
                return Err(ApiError::new(StatusCode::CONFLICT, "proxy already exists"));
            }
            if let Some(h) = &old.handle {
                h.shutdown().await;
            }
            map.remove(&name);
        }
        let handle = if enabled {
            let h = self.start_proxy(listen_addr, upstream_addr).await?;
            listen_addr = h.local_addr();
            Some(h)
        } else {
            None
        };
        let entry = Entry {
            upstream,
            upstream_addr,
            listen: listen_addr,
            toxics: Vec::new(),
            handle,
        };
        let view = entry.view(&name);
        map.insert(name, entry);
        Ok(view)
    }

    /// Adds a toxic, from a JSON object, to the proxy `name`.
    async fn add_toxic(&self, name: &str, obj: &Map<String, Value>) -> ApiResult<ApiToxic> {
        let mut map = self.proxies.lock().await;
        let e = map.get_mut(name).ok_or_else(ApiError::no_proxy)?;
        let t = toxic_from(obj)?;
        if e.toxics.iter().any(|x| x.name == t.name) {
            return Err(ApiError::new(StatusCode::CONFLICT, "toxic already exists"));
        }
        e.toxics.push(t.clone());
        e.push_toxics();
        Ok(t)
    }
}

/// A listen address as given, or on 127.0.0.1 when it names no host (none at all: port 0).
fn local_by_default(listen: Option<String>) -> String {
    match listen {
        None => "127.0.0.1:0".into(),
        Some(l) if l.is_empty() => "127.0.0.1:0".into(),
        Some(l) if l.starts_with(':') => format!("127.0.0.1{l}"),
        Some(l) => l,
    }
}

async fn list_proxies(State(st): State<Arc<ApiState>>) -> Json<Value> {
    let map = st.proxies.lock().await;
    let mut out = Map::new();
    for (name, e) in map.iter() {
        out.insert(
            name.clone(),
            serde_json::to_value(e.view(name)).expect("serializes"),
        );
    }
    Json(Value::Object(out))
}

async fn create_proxy(State(st): State<Arc<ApiState>>, body: Body) -> ApiResult<Response> {
    let obj = &parse_object(&read_body(body).await?)?;
    let view = st.create(obj, false).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn populate(State(st): State<Arc<ApiState>>, body: Body) -> ApiResult<Response> {
    let v = parse_body(&read_body(body).await?)?;
    let list = match &v {
        Value::Array(a) => a.clone(),
        Value::Object(o) => match o.get("proxies") {
            Some(Value::Array(a)) => a.clone(),
            _ => return Err(ApiError::bad("body must be a list of proxies")),
        },
        _ => return Err(ApiError::bad("body must be a list of proxies")),
    };
    let mut made = Vec::new();
    for item in &list {
        let obj = item
            .as_object()
            .ok_or_else(|| ApiError::bad("each proxy must be a JSON object"))?;
        match st.create(obj, true).await {
            Ok(p) => made.push(p),
            Err(e) => {
                let body =
                    json!({"error": e.message, "status": e.status.as_u16(), "proxies": made});
                return Ok((e.status, Json(body)).into_response());
            }
        }
    }
    Ok((StatusCode::CREATED, Json(json!({ "proxies": made }))).into_response())
}

async fn get_proxy(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<ApiProxy>> {
    let map = st.proxies.lock().await;
    let e = map.get(&name).ok_or_else(ApiError::no_proxy)?;
    Ok(Json(e.view(&name)))
}

async fn update_proxy(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Json<ApiProxy>> {
    let obj = &parse_object(&read_body(body).await?)?;
    let enabled = field_bool(obj, "enabled")?;
    let upstream = match field_str(obj, "upstream")? {
        Some(u) => Some((resolve(&u, "upstream").await?, u)),
        None => None,
    };
    let listen = match field_str(obj, "listen")? {
        Some(l) => Some(resolve(&l, "listen").await?),
        None => None,
    };
    let mut map = st.proxies.lock().await;
    let e = map.get_mut(&name).ok_or_else(ApiError::no_proxy)?;
    if let Some((addr, text)) = upstream {
        e.upstream_addr = addr;
        e.upstream = text;
        if let Some(h) = &e.handle {
            h.set_upstream(addr);
        }
    }
    let restart = listen.is_some_and(|l| l != e.listen);
    let want = enabled.unwrap_or(e.handle.is_some());
    if (restart || !want) && e.handle.is_some() {
        if let Some(h) = e.handle.take() {
            h.shutdown().await;
        }
    }
    if let Some(l) = listen {
        e.listen = l;
    }
    if want && e.handle.is_none() {
        let h = st.start_proxy(e.listen, e.upstream_addr).await?;
        e.listen = h.local_addr();
        e.handle = Some(h);
        e.push_toxics();
    }
    Ok(Json(e.view(&name)))
}

async fn delete_proxy(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let mut map = st.proxies.lock().await;
    let e = map.remove(&name).ok_or_else(ApiError::no_proxy)?;
    drop(map);
    if let Some(h) = e.handle {
        h.shutdown().await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn list_toxics(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<ApiToxic>>> {
    let map = st.proxies.lock().await;
    let e = map.get(&name).ok_or_else(ApiError::no_proxy)?;
    Ok(Json(e.toxics.clone()))
}

fn toxic_from(obj: &Map<String, Value>) -> ApiResult<ApiToxic> {
    let kind =
        field_str(obj, "type")?.ok_or_else(|| ApiError::bad("missing required field: type"))?;
    let stream = field_str(obj, "stream")?.unwrap_or_else(|| "downstream".into());
    if stream != "upstream" && stream != "downstream" {
        return Err(ApiError::bad(
            "stream was invalid, can be either upstream or downstream",
        ));
    }
    let toxicity = match obj.get("toxicity") {
        None | Some(Value::Null) => 1.0,
        Some(v) => v
            .as_f64()
            .ok_or_else(|| ApiError::bad(format!("toxicity must be a number, got {v}")))?,
    };
    let attributes = match obj.get("attributes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(v) => {
            return Err(ApiError::bad(format!(
                "attributes must be an object, got {v}"
            )))
        }
    };
    let name = field_str(obj, "name")?
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("{kind}_{stream}"));
    let mut t = ApiToxic {
        name,
        kind,
        stream,
        toxicity,
        attributes,
    };
    t.normalize()?;
    Ok(t)
}

async fn create_toxic(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Json<ApiToxic>> {
    let obj = &parse_object(&read_body(body).await?)?;
    Ok(Json(st.add_toxic(&name, obj).await?))
}

async fn get_toxic(
    State(st): State<Arc<ApiState>>,
    Path((name, toxic)): Path<(String, String)>,
) -> ApiResult<Json<ApiToxic>> {
    let map = st.proxies.lock().await;
    let e = map.get(&name).ok_or_else(ApiError::no_proxy)?;
    let t = e
        .toxics
        .iter()
        .find(|t| t.name == toxic)
        .ok_or_else(ApiError::no_toxic)?;
    Ok(Json(t.clone()))
}

async fn update_toxic(
    State(st): State<Arc<ApiState>>,
    Path((name, toxic)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<ApiToxic>> {
    let obj = &parse_object(&read_body(body).await?)?;
    let mut map = st.proxies.lock().await;
    let e = map.get_mut(&name).ok_or_else(ApiError::no_proxy)?;
    let i = e
        .toxics
        .iter()
        .position(|t| t.name == toxic)
        .ok_or_else(ApiError::no_toxic)?;
    let mut t = e.toxics[i].clone();
    if let Some(v) = obj.get("toxicity").filter(|v| !v.is_null()) {
        t.toxicity = v
            .as_f64()
            .ok_or_else(|| ApiError::bad(format!("toxicity must be a number, got {v}")))?;
    }
    match obj.get("attributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => t.attributes.extend(m.clone()),
        Some(v) => {
            return Err(ApiError::bad(format!(
                "attributes must be an object, got {v}"
            )))
        }
    }
    t.normalize()?;
    e.toxics[i] = t.clone();
    e.push_toxics();
    Ok(Json(t))
}

async fn delete_toxic(
    State(st): State<Arc<ApiState>>,
    Path((name, toxic)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let mut map = st.proxies.lock().await;
    let e = map.get_mut(&name).ok_or_else(ApiError::no_proxy)?;
    let i = e
        .toxics
        .iter()
        .position(|t| t.name == toxic)
        .ok_or_else(ApiError::no_toxic)?;
    e.toxics.remove(i);
    e.push_toxics();
    Ok(StatusCode::NO_CONTENT)
}

async fn reset(State(st): State<Arc<ApiState>>) -> ApiResult<StatusCode> {
    let mut map = st.proxies.lock().await;
    for e in map.values_mut() {
        e.toxics.clear();
        if e.handle.is_none() {
            let h = st.start_proxy(e.listen, e.upstream_addr).await?;
            e.listen = h.local_addr();
            e.handle = Some(h);
        }
        e.push_toxics();
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn version() -> Json<Value> {
    Json(json!({ "version": env!("CARGO_PKG_VERSION") }))
}

async fn metrics(State(st): State<Arc<ApiState>>) -> Response {
    let map = st.proxies.lock().await;
    let mut s = String::new();
    let families: [(&str, &str, &str); 6] = [
        (
            "stickler_proxy_sent_bytes_total",
            "counter",
            "Bytes the proxy wrote, per direction.",
        ),
        (
            "stickler_proxy_connections_total",
            "counter",
            "Connections accepted.",
        ),
        (
            "stickler_proxy_connections_active",
            "gauge",
            "Connections open now.",
        ),
        (
            "stickler_proxy_upstream_refused_total",
            "counter",
            "Connections whose upstream refused or did not answer.",
        ),
        (
            "stickler_proxy_queued_bytes",
            "gauge",
            "Bytes held read but not yet written, both directions, as the budget counts them.",
        ),
        (
            "stickler_proxy_max_queued_bytes",
            "gauge",
            "The budget of queued bytes.",
        ),
    ];
    for (metric, kind, help) in families {
        let _ = writeln!(s, "# HELP {metric} {help}\n# TYPE {metric} {kind}");
        for (name, e) in map.iter() {
            let Some(h) = &e.handle else { continue };
            let labels = format!(
                "proxy=\"{}\",listener=\"{}\",upstream=\"{}\"",
                escape(name),
                e.listen,
                escape(&e.upstream)
            );
            match metric {
                "stickler_proxy_sent_bytes_total" => {
                    for d in Direction::BOTH {
                        let _ = writeln!(
                            s,
                            "{metric}{{{labels},direction=\"{}\"}} {}",
                            d.stream(),
                            h.bytes(d)
                        );
                    }
                }
                "stickler_proxy_connections_total" => {
                    let _ = writeln!(s, "{metric}{{{labels}}} {}", h.connections());
                }
                "stickler_proxy_connections_active" => {
                    let _ = writeln!(s, "{metric}{{{labels}}} {}", h.active());
                }
                "stickler_proxy_queued_bytes" => {
                    let _ = writeln!(s, "{metric}{{{labels}}} {}", h.queued_bytes());
                }
                "stickler_proxy_max_queued_bytes" => {
                    let _ = writeln!(s, "{metric}{{{labels}}} {}", h.max_queued());
                }
                _ => {
                    let _ = writeln!(s, "{metric}{{{labels}}} {}", h.refused());
                }
            }
        }
    }
    // toxiproxy's own family, as its collectors/proxy.go defines it (namespace "toxiproxy",
    // subsystem "proxy", labels direction, proxy, listener, upstream; printed sorted, as its
    // Prometheus client prints them), so its dashboards read stickler unchanged.
    type Count = fn(&ProxyHandle, Direction) -> u64;
    let toxiproxy: [(&str, &str, Count); 2] = [
        (
            "toxiproxy_proxy_received_bytes_total",
            "Bytes the proxy read, per direction (toxiproxy's name).",
            ProxyHandle::received,
        ),
        (
            "toxiproxy_proxy_sent_bytes_total",
            "Bytes the proxy wrote, per direction (toxiproxy's name).",
            ProxyHandle::bytes,
        ),
    ];
    for (metric, help, count) in toxiproxy {
        let _ = writeln!(s, "# HELP {metric} {help}\n# TYPE {metric} counter");
        for (name, e) in map.iter() {
            let Some(h) = &e.handle else { continue };
            for d in Direction::BOTH {
                let _ = writeln!(
                    s,
                    "{metric}{{direction=\"{}\",listener=\"{}\",proxy=\"{}\",upstream=\"{}\"}} {}",
                    d.stream(),
                    e.listen,
                    escape(name),
                    escape(&e.upstream),
                    count(h, d)
                );
            }
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s).into_response()
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not found")
}

fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/proxies", get(list_proxies).post(create_proxy))
        .route("/populate", post(populate))
        .route(
            "/proxies/:name",
            get(get_proxy)
                .post(update_proxy)
                .patch(update_proxy)
                .delete(delete_proxy),
        )
        .route("/proxies/:name/toxics", get(list_toxics).post(create_toxic))
        .route(
            "/proxies/:name/toxics/:toxic",
            get(get_toxic)
                .post(update_toxic)
                .patch(update_toxic)
                .delete(delete_toxic),
        )
        .route("/reset", post(reset))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

/// A running API server.
pub struct ApiServer {
    addr: SocketAddr,
    state: Arc<ApiState>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl ApiServer {
    /// Binds `addr` and serves the API; proxies it creates draw from seed 0.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<ApiServer> {
        let l = super::bind(addr)?;
        Ok(ApiServer::start(l, 0))
    }

    /// Serves the API on `listener`; proxies it creates draw from `seed`.
    pub fn start(listener: tokio::net::TcpListener, seed: u64) -> ApiServer {
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let state = Arc::new(ApiState {
            proxies: Mutex::new(BTreeMap::new()),
            seed,
            max_queued: AtomicUsize::new(super::DEFAULT_MAX_QUEUED),
        });
        let cancel = CancellationToken::new();
        let app = router(state.clone());
        let c = cancel.clone();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app)
                .with_graceful_shutdown(async move { c.cancelled().await });
            if let Err(e) = serve.await {
                tracing::warn!("API server stopped: {e}");
            }
        });
        ApiServer {
            addr,
            state,
            cancel,
            task,
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The budget of queued bytes ([`ProxyConfig::max_queued`]) of each proxy started from now
    /// on (each proxy has its own); 64 MiB unless set.
    pub fn set_max_queued(&self, bytes: usize) {
        self.state.max_queued.store(bytes, Ordering::Relaxed);
    }

    /// Creates the proxies of a config file and their toxics, in the file's order, through the
    /// same code as `POST /proxies` and `POST /proxies/{name}/toxics`. Every toxic is checked
    /// before any proxy starts; an error names the file, the proxy or toxic, and the field.
    pub async fn load(&self, file: &ConfigFile) -> Result<Vec<ApiProxy>, ConfigError> {
        for p in &file.proxies {
            for (j, t) in p.toxics.iter().enumerate() {
                toxic_from(t)
                    .map_err(|e| file.error(&format!("{} toxics[{j}]", p.at), e.message))?;
            }
        }
        let mut made = Vec::with_capacity(file.proxies.len());
        for p in &file.proxies {
            let view = self
                .state
                .create(&p.fields, false)
                .await
                .map_err(|e| file.error(&p.at, e.message))?;
            for (j, t) in p.toxics.iter().enumerate() {
                self.state
                    .add_toxic(&view.name, t)
                    .await
                    .map_err(|e| file.error(&format!("{} toxics[{j}]", p.at), e.message))?;
            }
            let map = self.state.proxies.lock().await;
            if let Some(e) = map.get(&view.name) {
                made.push(e.view(&view.name));
            }
        }
        Ok(made)
    }

    /// Stops the API and every proxy it made.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.task.await;
        let mut map = self.state.proxies.lock().await;
        for (_, e) in std::mem::take(&mut *map) {
            if let Some(h) = e.handle {
                h.shutdown().await;
            }
        }
    }
}
