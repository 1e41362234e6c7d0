//! Reading a Moltworker `wrangler.toml`: the keys the import maps, taken out
//! one by one, and every other key kept by name so the report can list it.

use std::collections::BTreeMap;

use toml::{Table, Value};

use crate::ImportError;

/// Keys that configure the Worker itself; hardshell's edge takes its place.
const WORKER_KEYS: &[&str] = &[
    "name",
    "main",
    "compatibility_date",
    "compatibility_flags",
    "workers_dev",
    "route",
    "routes",
    "triggers",
    "observability",
    "durable_objects",
    "migrations",
    "build",
    "rules",
    "minify",
    "keep_vars",
];

/// What the import reads from the file.
#[derive(Debug, Default)]
pub(crate) struct Wrangler {
    pub(crate) account_id: Option<String>,
    pub(crate) image: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) memory_mb: Option<u64>,
    pub(crate) max_instances: Option<u32>,
    /// `[vars]`, every value as the text the container would see.
    pub(crate) vars: BTreeMap<String, String>,
    pub(crate) logpush: Option<Logpush>,
    pub(crate) r2_buckets: Vec<R2Bucket>,
    pub(crate) browser: bool,
    /// The host of the Worker's route (`routes = [{ pattern = "openclaw.example.com",
    /// custom_domain = true }]`, or `route = "openclaw.example.com/*"`): the
    /// workload's own origin.
    pub(crate) route_host: Option<String>,
    /// Worker-only keys present, by name.
    pub(crate) worker_keys: Vec<String>,
    /// Keys nothing here understands, dotted.
    pub(crate) unknown: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Logpush {
    pub(crate) enabled: bool,
    pub(crate) destination: Option<String>,
}

#[derive(Debug)]
pub(crate) struct R2Bucket {
    pub(crate) binding: Option<String>,
    pub(crate) bucket_name: String,
}

impl Wrangler {
    pub(crate) fn parse(text: &str) -> Result<Self, ImportError> {
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ImportError::Toml {
                message: e.message().trim().to_owned(),
            })?;
        let mut out = Wrangler::default();
        for (key, value) in table {
            match key.as_str() {
                "account_id" => out.account_id = Some(string(&key, &value)?),
                "containers" => out.read_containers(value)?,
                "vars" => {
                    for (name, value) in table_of(&key, value)? {
                        let text = match value {
                            Value::String(text) => text,
                            Value::Integer(_) | Value::Float(_) | Value::Boolean(_) => {
                                value.to_string()
                            }
                            _ => {
                                out.unknown.push(format!("vars.{name}"));
                                continue;
                            }
                        };
                        out.vars.insert(name, text);
                    }
                }
                "logpush" => {
                    let mut logpush = table_of(&key, value)?;
                    let enabled = match logpush.remove("enabled") {
                        Some(Value::Boolean(on)) => on,
                        Some(_) => return Err(shape("logpush.enabled", "expected true or false")),
                        None => true,
                    };
                    let destination = match logpush.remove("destination") {
                        Some(value) => Some(string("logpush.destination", &value)?),
                        None => None,
                    };
                    out.unknown
                        .extend(logpush.keys().map(|k| format!("logpush.{k}")));
                    out.logpush = Some(Logpush {
                        enabled,
                        destination,
                    });
                }
                "r2_buckets" => {
                    let Value::Array(items) = value else {
                        return Err(shape("r2_buckets", "expected [[r2_buckets]] tables"));
                    };
                    for (i, item) in items.into_iter().enumerate() {
                        let mut bucket = table_of(&format!("r2_buckets[{i}]"), item)?;
                        let bucket_name = match bucket.remove("bucket_name") {
                            Some(value) => string("r2_buckets.bucket_name", &value)?,
                            None => {
                                return Err(shape("r2_buckets", "a bucket without bucket_name"));
                            }
                        };
                        let binding = match bucket.remove("binding") {
                            Some(value) => Some(string("r2_buckets.binding", &value)?),
                            None => None,
                        };
                        out.unknown
                            .extend(bucket.keys().map(|k| format!("r2_buckets[{i}].{k}")));
                        out.r2_buckets.push(R2Bucket {
                            binding,
                            bucket_name,
                        });
                    }
                }
                "browser" => out.browser = true,
                "route" | "routes" => {
                    out.route_host = route_host(&value);
                    out.worker_keys.push(key);
                }
                _ if WORKER_KEYS.contains(&key.as_str()) => out.worker_keys.push(key),
                _ => out.unknown.push(key),
            }
        }
        Ok(out)
    }

    /// The seed's `[containers] max_instances` with `[[containers.config]]`,
    /// or Wrangler's own `[[containers]]` list: either way, one container.
    fn read_containers(&mut self, value: Value) -> Result<(), ImportError> {
        let mut containers = match value {
            Value::Table(table) => table,
            Value::Array(mut items) if items.len() == 1 => {
                table_of("containers[0]", items.remove(0))?
            }
            Value::Array(_) => return Err(ImportError::Containers),
            _ => return Err(shape("containers", "expected a table")),
        };
        if let Some(value) = containers.remove("max_instances") {
            self.max_instances = Some(number("containers.max_instances", &value)?);
        }
        let mut image = containers
            .remove("image")
            .map(|value| (value, "containers"));
        let mut settings = Table::new();
        match containers.remove("config") {
            Some(Value::Array(mut items)) if items.len() == 1 => {
                settings = table_of("containers.config", items.remove(0))?;
            }
            Some(Value::Table(table)) => settings = table,
            Some(_) => return Err(ImportError::Containers),
            None => {}
        }
        if let Some(value) = settings.remove("image") {
            image = Some((value, "containers.config"));
        }
        if let Some((value, at)) = image {
            self.image = Some(string(&format!("{at}.image"), &value)?);
        }
        if let Some(value) = settings.remove("port") {
            self.port = Some(number("containers.config.port", &value)?);
        }
        if let Some(value) = settings.remove("memory_mb") {
            self.memory_mb = Some(number("containers.config.memory_mb", &value)?);
        }
        self.unknown
            .extend(settings.keys().map(|k| format!("containers.config.{k}")));
        self.unknown
            .extend(containers.keys().map(|k| format!("containers.{k}")));
        Ok(())
    }
}

/// The first route's host, when it names one plainly (no wildcard).
fn route_host(value: &Value) -> Option<String> {
    let first = match value {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let pattern = match first {
        Value::String(text) => text.as_str(),
        Value::Table(table) => table.get("pattern")?.as_str()?,
        _ => return None,
    };
    let host = pattern.split('/').next()?;
    hardshell_vocabulary::Host::parse(host)
        .ok()
        .map(|host| host.to_string())
}

fn shape(key: &str, message: &str) -> ImportError {
    ImportError::Shape {
        key: key.to_owned(),
        message: message.to_owned(),
    }
}

fn table_of(key: &str, value: Value) -> Result<Table, ImportError> {
    match value {
        Value::Table(table) => Ok(table),
        _ => Err(shape(key, "expected a table")),
    }
}

fn string(key: &str, value: &Value) -> Result<String, ImportError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| shape(key, "expected a string"))
}

fn number<T: TryFrom<i64>>(key: &str, value: &Value) -> Result<T, ImportError> {
    let parsed = match value {
        Value::Integer(n) => Some(*n),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    };
    parsed
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| shape(key, "expected a whole number in range"))
}
