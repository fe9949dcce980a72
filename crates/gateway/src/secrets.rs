//! Secrets the operator's config names for upstreams: header values and tokens, read from the
//! config itself, an environment variable or a file beside the config. A leaf: it depends on
//! nothing else in the gateway.

use std::path::Path;

use portcullis_core::SecretSource;

/// The configured static headers of an upstream, their values read and marked sensitive.
pub fn resolve_headers(
    headers: &[(String, SecretSource)],
    base_dir: &Path,
) -> Result<http::HeaderMap, String> {
    let mut map = http::HeaderMap::new();
    for (name, source) in headers {
        let value =
            resolve_secret(source, base_dir).map_err(|e| format!("header `{name}`: {e}"))?;
        let name = http::HeaderName::try_from(name.as_str())
            .map_err(|e| format!("header `{name}`: {e}"))?;
        let mut value = http::HeaderValue::try_from(value)
            .map_err(|_| format!("header `{name}`: the value is not a valid header value"))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

/// `base` with the headers an embedder computes for `upstream` added (replacing any of the
/// same name); `base` itself when there is no such source.
pub async fn with_credentials(
    base: &http::HeaderMap,
    upstream: &str,
    credentials: Option<&dyn portcullis_core::ports::UpstreamCredentials>,
) -> Result<http::HeaderMap, String> {
    let mut map = base.clone();
    let Some(credentials) = credentials else {
        return Ok(map);
    };
    for (name, value) in credentials.headers(upstream).await? {
        let name = http::HeaderName::try_from(name.as_str())
            .map_err(|e| format!("computed header `{name}`: {e}"))?;
        let mut value = http::HeaderValue::try_from(value)
            .map_err(|_| format!("computed header `{name}`: not a valid header value"))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

/// Reads a header value from where the config says it lives.
pub fn resolve_secret(source: &SecretSource, base_dir: &Path) -> Result<String, String> {
    match source {
        SecretSource::Value(v) => Ok(v.clone()),
        SecretSource::Env(var) => std::env::var(var)
            .map_err(|_| format!("environment variable `{var}` is not set (or not UTF-8)")),
        SecretSource::File(path) => {
            let path = base_dir.join(path);
            std::fs::read_to_string(&path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
        }
    }
}
