//! `stickler proxy --api ADDR --config FILE`: the proxies (and their toxics) to start with.
//!
//! The file is toxiproxy's `-config` file, a JSON list of proxies, each with an optional
//! `"toxics"` list in the API's toxic shape:
//!
//! ```json
//! [
//!   {"name": "db", "listen": "127.0.0.1:26379", "upstream": "127.0.0.1:6379", "enabled": true,
//!    "toxics": [{"type": "split", "stream": "downstream", "attributes": {"min": 1, "max": 4}}]},
//!   {"name": "web", "listen": "127.0.0.1:28080", "upstream": "127.0.0.1:8080"}
//! ]
//! ```
//!
//! `{"proxies": [...]}` (the body `/populate` answers with) is read too. Keys match whatever
//! their case, as toxiproxy's Go decoder matches them (`"Name"`, `"Listen"`); a key neither knows
//! is refused, so a misspelt `"toxic"` is not silently ignored. This module only reads and
//! checks the file's shape; [`ApiServer::load`](super::api::ApiServer::load) creates the
//! proxies and toxics through the API's own code, so a file and an API call accept the same
//! things and fail with the same words.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Largest config file read (the same as the API's largest body).
pub const MAX_CONFIG: u64 = super::api_model::MAX_BODY as u64;

const PROXY_KEYS: &[&str] = &["name", "listen", "upstream", "enabled", "toxics"];
const TOXIC_KEYS: &[&str] = &["name", "type", "stream", "toxicity", "attributes"];

/// A config file that cannot be used: which file, where in it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// Where: `proxies[1] "db"`, `proxies[1] "db" toxics[0]`; `None` for the whole file.
    pub at: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config file {}", self.file.display())?;
        if let Some(at) = &self.at {
            write!(f, ", {at}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// One proxy of the file: its object as the API's create-proxy reads it (keys lower-cased,
/// `toxics` taken out), and its toxics as the API's create-toxic reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigProxy {
    /// Its place in the file, for messages: `proxies[1] "db"`.
    pub at: String,
    pub name: String,
    pub fields: Map<String, Value>,
    pub toxics: Vec<Map<String, Value>>,
}

/// A config file, read and checked for shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub proxies: Vec<ConfigProxy>,
}

impl ConfigFile {
    /// Reads `path` (at most [`MAX_CONFIG`] bytes) and checks its shape.
    pub fn read(path: &Path) -> Result<ConfigFile, ConfigError> {
        let whole = |message: String| ConfigError {
            file: path.to_path_buf(),
            at: None,
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| whole(format!("cannot open: {e}")))?;
        if let Ok(meta) = file.metadata() {
            if meta.is_dir() {
                return Err(whole("is a directory".into()));
            }
            if meta.len() > MAX_CONFIG {
                return Err(whole(format!(
                    "{} bytes, over the limit of {MAX_CONFIG}",
                    meta.len()
                )));
            }
        }
        // A pipe or a growing file has no trustworthy length: never read past the limit.
        let mut text = Vec::new();
        file.take(MAX_CONFIG + 1)
            .read_to_end(&mut text)
            .map_err(|e| whole(format!("cannot read: {e}")))?;
        if text.len() as u64 > MAX_CONFIG {
            return Err(whole(format!("over the limit of {MAX_CONFIG} bytes")));
        }
        ConfigFile::parse(path, &text)
    }

    /// Checks the shape of a file's bytes (`path` names it in errors).
    pub fn parse(path: &Path, text: &[u8]) -> Result<ConfigFile, ConfigError> {
        let err = |at: Option<String>, message: String| ConfigError {
            file: path.to_path_buf(),
            at,
            message,
        };
        let v: Value =
            serde_json::from_slice(text).map_err(|e| err(None, format!("not JSON: {e}")))?;
        let list = match v {
            Value::Array(a) => a,
            Value::Object(mut o) if o.len() == 1 && o.contains_key("proxies") => {
                match o.remove("proxies") {
                    Some(Value::Array(a)) => a,
                    _ => return Err(err(None, "\"proxies\" must be a list of proxies".into())),
                }
            }
            _ => {
                return Err(err(
                    None,
                    "must be a JSON list of proxies ({\"name\", \"listen\", \"upstream\", \
                     \"enabled\", \"toxics\"})"
                        .into(),
                ))
            }
        };
        let mut proxies: Vec<ConfigProxy> = Vec::with_capacity(list.len());
        for (i, item) in list.into_iter().enumerate() {
            let at = format!("proxies[{i}]");
            let Value::Object(obj) = item else {
                return Err(err(
                    Some(at),
                    format!("a proxy must be a JSON object, got {item}"),
                ));
            };
            let mut fields = lower_keys(obj, PROXY_KEYS).map_err(|m| err(Some(at.clone()), m))?;
            let name = match fields.get("name") {
                Some(Value::String(n)) if !n.is_empty() => n.clone(),
                // The API's create-proxy says what is wrong with it.
                _ => String::new(),
            };
            let at = if name.is_empty() {
                at
            } else {
                format!("{at} {name:?}")
            };
            if !name.is_empty() {
                if let Some(first) = proxies.iter().find(|p| p.name == name) {
                    return Err(err(
                        Some(at),
                        format!("field name: {name:?} is already the name of {}", first.at),
                    ));
                }
            }
            let toxics = match fields.remove("toxics") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(list)) => {
                    let mut out = Vec::with_capacity(list.len());
                    for (j, t) in list.into_iter().enumerate() {
                        let at_t = format!("{at} toxics[{j}]");
                        let Value::Object(t) = t else {
                            return Err(err(
                                Some(at_t),
                                format!("a toxic must be a JSON object, got {t}"),
                            ));
                        };
                        out.push(lower_keys(t, TOXIC_KEYS).map_err(|m| err(Some(at_t), m))?);
                    }
                    out
                }
                Some(v) => {
                    return Err(err(
                        Some(at),
                        format!("field toxics must be a list of toxics, got {v}"),
                    ))
                }
            };
            proxies.push(ConfigProxy {
                at,
                name,
                fields,
                toxics,
            });
        }
        Ok(ConfigFile {
            path: path.to_path_buf(),
            proxies,
        })
    }

    /// An error at `at` in this file.
    pub fn error(&self, at: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.path.clone(),
            at: Some(at.to_string()),
            message: message.into(),
        }
    }
}

/// Lower-cases the keys of `obj` (toxiproxy's decoder matches keys whatever their case) and
/// refuses a key not in `known`, or one given twice.
fn lower_keys(obj: Map<String, Value>, known: &[&str]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (k, v) in obj {
        let lower = k.to_ascii_lowercase();
        if !known.contains(&lower.as_str()) {
            return Err(format!("unknown field {k:?} (known: {})", known.join(", ")));
        }
        if out.contains_key(&lower) {
            return Err(format!("field {lower} is given twice"));
        }
        out.insert(lower, v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(Path::new("c.json"), text.as_bytes())
    }

    #[test]
    fn toxiproxys_own_file_reads_unchanged() {
        let f = parse(
            r#"[{"Name":"web","Listen":"0.0.0.0:1081","Upstream":"web:80","enabled":true},
                {"name":"db","upstream":"db:5432"}]"#,
        )
        .unwrap();
        assert_eq!(f.proxies.len(), 2);
        assert_eq!(f.proxies[0].name, "web");
        assert_eq!(f.proxies[0].fields["listen"], "0.0.0.0:1081");
        assert_eq!(f.proxies[1].at, "proxies[1] \"db\"");
        assert!(f.proxies[1].toxics.is_empty());
        let f = parse(r#"{"proxies":[{"name":"a","upstream":"x:1","toxics":[{"Type":"split"}]}]}"#)
            .unwrap();
        assert_eq!(f.proxies[0].toxics[0]["type"], "split");
    }

    #[test]
    fn bad_shapes_name_the_place_and_the_field() {
        for (text, at, says) in [
            ("", None, "not JSON"),
            ("{\"a\":1}", None, "JSON list of proxies"),
            ("[3]", Some("proxies[0]"), "JSON object"),
            (
                r#"[{"name":"a","upstream":"x:1","toxic":[]}]"#,
                Some("proxies[0]"),
                "unknown field \"toxic\"",
            ),
            (
                r#"[{"name":"a","upstream":"x:1","toxics":{}}]"#,
                Some("proxies[0] \"a\""),
                "field toxics must be a list",
            ),
            (
                r#"[{"name":"a","upstream":"x:1","toxics":[{"type":"split","atributes":{}}]}]"#,
                Some("proxies[0] \"a\" toxics[0]"),
                "unknown field \"atributes\"",
            ),
            (
                r#"[{"name":"a","upstream":"x:1"},{"name":"a","upstream":"x:2"}]"#,
                Some("proxies[1] \"a\""),
                "field name",
            ),
            (
                r#"[{"name":"a","NAME":"b","upstream":"x:1"}]"#,
                Some("proxies[0]"),
                "given twice",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.at.as_deref(), at, "{text}: {e}");
            assert!(e.message.contains(says), "{text}: {e}");
            assert!(e.to_string().starts_with("config file c.json"), "{e}");
        }
    }

    #[test]
    fn an_oversized_file_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        std::fs::write(&path, vec![b' '; MAX_CONFIG as usize + 1]).unwrap();
        let e = ConfigFile::read(&path).unwrap_err();
        assert!(e.message.contains("over the limit"), "{e}");
        assert!(e.to_string().contains("big.json"), "{e}");
        let e = ConfigFile::read(&dir.path().join("missing.json")).unwrap_err();
        assert!(e.message.contains("cannot open"), "{e}");
    }
}
