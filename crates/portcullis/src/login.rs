//! Logging in to a hosted MCP server that needs OAuth (`portcullis login NAME`).
//!
//! The server's protected-resource metadata (RFC 9728, found through its 401 challenge or the
//! well-known path) names its authorization server, whose metadata (RFC 8414, or OpenID
//! discovery) gives the endpoints. A client is registered dynamically (RFC 7591) unless the
//! config names one. The user then logs in: by the authorization code flow with PKCE (S256)
//! through a redirect to a loopback port of this machine, or by the device flow (RFC 8628) on
//! a host without a browser. The tokens (for this upstream only, RFC 8707 `resource`) go to
//! the store, sealed; the gateway refreshes them from there.
//!
//! Every endpoint must be https, or http on a loopback address; the authorization server's
//! metadata must name itself as the issuer the resource named, and offer S256.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::Config;
use portcullis_core::config::{LoginSettings, UpstreamSpec, UpstreamTransport};
use portcullis_core::ports::UpstreamLogin;
use portcullis_gateway::client_credentials::TokenResponse;
use portcullis_gateway::secrets::resolve_secret;
use portcullis_store::{DataDir, LoginFile};
use reqwest::Url;
use serde_json::{Value, json};
use sha2::Digest;

/// Largest metadata or token answer read.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// How long the user has to log in.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// The login store of `dir`, when the config names a `[tokens] key`.
pub fn open_logins(
    config: &Config,
    dir: &DataDir,
    base_dir: &Path,
) -> Result<Option<Arc<LoginFile>>, String> {
    let Some(source) = &config.tokens_key else {
        return Ok(None);
    };
    let key = resolve_secret(source, base_dir).map_err(|e| format!("tokens.key: {e}"))?;
    LoginFile::open(&dir.database(), key.trim().as_bytes())
        .map(|file| Some(Arc::new(file)))
        .map_err(|e| format!("tokens.key: {e}"))
}

/// Each upstream with a `login`, and how its login stands: `Ok` with a status line when the
/// gateway can use it, `Err` with what to do when it cannot (for `serve` and `doctor`).
pub fn statuses(
    config: &Config,
    store: Option<&LoginFile>,
) -> Vec<(String, Result<String, String>)> {
    let now = now_secs();
    config
        .upstreams
        .iter()
        .filter(|u| matches!(&u.transport, UpstreamTransport::Http { login: Some(_), .. }))
        .map(|u| {
            let name = u.name.clone();
            let again = format!("run `portcullis login {name}`");
            let status = match store.map(|s| s.load(&name)) {
                None => Err("no [tokens] key, so no login can be kept".to_string()),
                Some(Err(e)) => Err(format!("{e}; {again}")),
                Some(Ok(None)) => Err(format!("not logged in; {again}")),
                Some(Ok(Some(login))) => {
                    let expired = login.expires_at.is_some_and(|at| at <= now);
                    if login.broken.is_some() || (expired && login.refresh_token.is_none()) {
                        Err(format!("{}; {again}", login.status(now)))
                    } else {
                        Ok(login.status(now))
                    }
                }
            };
            (name, status)
        })
        .collect()
}

/// How the user logs in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Authorization code with PKCE, through a loopback redirect.
    Browser,
    /// The device flow: a code to enter on another device.
    Device,
}

/// The upstream `name` of `config` with its login settings, or why it has none.
pub fn login_upstream<'a>(
    config: &'a Config,
    name: &str,
) -> Result<(&'a UpstreamSpec, &'a str, &'a LoginSettings), String> {
    let spec = config
        .upstreams
        .iter()
        .find(|u| u.name == name)
        .ok_or_else(|| format!("upstreams.{name}: no enabled upstream of that name"))?;
    match &spec.transport {
        UpstreamTransport::Http {
            url,
            login: Some(login),
            ..
        } => Ok((spec, url.as_str(), login)),
        _ => Err(format!(
            "upstreams.{name}: it has no `login`; add `login = {{}}` to its section (kind = \"http\")"
        )),
    }
}

/// Logs in to the upstream at `url`; `say` tells the user what to do (the URL to open, the
/// code to enter). Returns what to store.
pub async fn login(
    url: &str,
    settings: &LoginSettings,
    base_dir: &Path,
    flow: Flow,
    say: &(dyn Fn(&str) + Sync),
) -> Result<UpstreamLogin, String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let resource = Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let prm = protected_resource(&http, &resource).await?;
    let issuer = prm["authorization_servers"][0]
        .as_str()
        .ok_or("the server's protected-resource metadata names no authorization server")?
        .to_string();
    let server = authorization_server(&http, &issuer).await?;
    let scopes = if settings.scopes.is_empty() {
        prm["scopes_supported"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    } else {
        settings.scopes.join(" ")
    };
    let endpoint = |key: &str| -> Result<String, String> {
        let value = server[key]
            .as_str()
            .ok_or_else(|| format!("the authorization server's metadata has no {key}"))?;
        safe_url(value).map(|u| u.to_string())
    };
    let token_endpoint = endpoint("token_endpoint")?;
    let client_secret = settings
        .client_secret
        .as_ref()
        .map(|s| resolve_secret(s, base_dir).map_err(|e| format!("login.client_secret: {e}")))
        .transpose()?;
    let now = now_secs();
    let token = match flow {
        Flow::Browser => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("cannot listen for the redirect: {e}"))?;
            let redirect = format!(
                "http://127.0.0.1:{}/callback",
                listener.local_addr().map_err(|e| e.to_string())?.port()
            );
            let (client_id, client_secret) = match &settings.client_id {
                Some(id) => (id.clone(), client_secret),
                None => {
                    register(
                        &http,
                        &server,
                        &[&redirect],
                        &["authorization_code", "refresh_token"],
                    )
                    .await?
                }
            };
            let verifier = random_token()?;
            let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
            let state = random_token()?;
            let mut authorize = safe_url(&endpoint("authorization_endpoint")?)?;
            authorize
                .query_pairs_mut()
                .append_pair("response_type", "code")
                .append_pair("client_id", &client_id)
                .append_pair("redirect_uri", &redirect)
                .append_pair("scope", &scopes)
                .append_pair("state", &state)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256")
                .append_pair("resource", resource.as_str());
            say(&format!(
                "Open this address in a browser and log in (waiting {} s):\n  {authorize}",
                LOGIN_TIMEOUT.as_secs()
            ));
            let code = receive_code(listener, &state).await?;
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect.as_str()),
                ("client_id", client_id.as_str()),
                ("code_verifier", verifier.as_str()),
                ("resource", resource.as_str()),
            ];
            let token = token_request(
                &http,
                &token_endpoint,
                &form,
                &client_id,
                client_secret.as_deref(),
            )
            .await?;
            (token, client_id, client_secret)
        }
        Flow::Device => {
            let device_endpoint = endpoint("device_authorization_endpoint").map_err(|_| {
                "the authorization server offers no device flow; log in with a browser (without --device)".to_string()
            })?;
            let grant = "urn:ietf:params:oauth:grant-type:device_code";
            let (client_id, client_secret) = match &settings.client_id {
                Some(id) => (id.clone(), client_secret),
                None => register(&http, &server, &[], &[grant, "refresh_token"]).await?,
            };
            let started = post_form(
                &http,
                &device_endpoint,
                &[
                    ("client_id", client_id.as_str()),
                    ("scope", scopes.as_str()),
                    ("resource", resource.as_str()),
                ],
                &client_id,
                client_secret.as_deref(),
            )
            .await?;
            let field = |k: &str| started[k].as_str().map(str::to_string);
            let device_code =
                field("device_code").ok_or("the device authorization has no device_code")?;
            let shown = field("verification_uri_complete")
                .or_else(|| field("verification_uri"))
                .ok_or("the device authorization has no verification_uri")?;
            say(&format!(
                "On any device, open {shown} and enter the code {}",
                field("user_code").unwrap_or_default()
            ));
            let mut interval =
                Duration::from_secs(started["interval"].as_u64().unwrap_or(5).max(1));
            let deadline = tokio::time::Instant::now()
                + Duration::from_secs(started["expires_in"].as_u64().unwrap_or(600));
            let token = loop {
                tokio::time::sleep(interval).await;
                if tokio::time::Instant::now() > deadline {
                    return Err("the device code expired before the login ended".into());
                }
                let form = [
                    ("grant_type", grant),
                    ("device_code", device_code.as_str()),
                    ("client_id", client_id.as_str()),
                ];
                match token_request(
                    &http,
                    &token_endpoint,
                    &form,
                    &client_id,
                    client_secret.as_deref(),
                )
                .await
                {
                    Ok(token) => break token,
                    Err(e) if e.contains("authorization_pending") => {}
                    Err(e) if e.contains("slow_down") => interval += Duration::from_secs(5),
                    Err(e) => return Err(e),
                }
            };
            (token, client_id, client_secret)
        }
    };
    let (token, client_id, client_secret) = token;
    Ok(UpstreamLogin {
        access_token: token.access_token,
        refresh_token: token.refresh_token,
        expires_at: token.expires_in.map(|s| now + s),
        token_endpoint,
        client_id,
        client_secret,
        resource: resource.to_string(),
        scope: token.scope,
        issuer,
        obtained_at: now,
        broken: None,
    })
}

/// The resource's metadata: at the address its 401 challenge names, else at the well-known
/// path for its URL (RFC 9728 §3).
async fn protected_resource(http: &reqwest::Client, resource: &Url) -> Result<Value, String> {
    let probe = http
        .post(resource.clone())
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "portcullis-login", "version": env!("CARGO_PKG_VERSION")}}}),
        )
        .send()
        .await
        .map_err(|e| format!("cannot reach {resource}: {e}"))?;
    let named = probe
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| parameter(v, "resource_metadata"));
    let address = match named {
        Some(address) => safe_url(&address)?,
        None => {
            let mut well_known = resource.clone();
            let path = resource.path().trim_end_matches('/');
            well_known.set_path(&format!("/.well-known/oauth-protected-resource{path}"));
            well_known.set_query(None);
            well_known
        }
    };
    let metadata = get_json(http, address.as_str()).await?;
    // RFC 9728 §3.3: the metadata is about this resource.
    if let Some(named) = metadata["resource"].as_str()
        && named.trim_end_matches('/') != resource.as_str().trim_end_matches('/')
    {
        return Err(format!(
            "the protected-resource metadata is for `{named}`, not `{resource}`; refusing to log in"
        ));
    }
    Ok(metadata)
}

/// The authorization server's metadata (RFC 8414, else OpenID discovery), checked to be its.
async fn authorization_server(http: &reqwest::Client, issuer: &str) -> Result<Value, String> {
    let base = safe_url(issuer)?;
    let path = base.path().trim_end_matches('/').to_string();
    let mut tried = Vec::new();
    for well_known in ["oauth-authorization-server", "openid-configuration"] {
        let mut at = base.clone();
        at.set_path(&format!("/.well-known/{well_known}{path}"));
        match get_json(http, at.as_str()).await {
            Ok(metadata) => {
                if metadata["issuer"].as_str().map(|i| i.trim_end_matches('/'))
                    != Some(issuer.trim_end_matches('/'))
                {
                    return Err(format!(
                        "the metadata at {at} names another issuer than `{issuer}`; refusing to log in"
                    ));
                }
                let s256 = metadata["code_challenge_methods_supported"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|v| v == "S256"));
                if !s256 {
                    return Err(format!(
                        "`{issuer}` does not offer PKCE with S256; refusing to log in"
                    ));
                }
                return Ok(metadata);
            }
            Err(e) => tried.push(e),
        }
    }
    Err(format!(
        "no metadata for the authorization server `{issuer}`: {}",
        tried.join("; ")
    ))
}

/// Registers a public client (RFC 7591); returns its id and secret, if it was given one.
async fn register(
    http: &reqwest::Client,
    server: &Value,
    redirects: &[&str],
    grants: &[&str],
) -> Result<(String, Option<String>), String> {
    let endpoint = server["registration_endpoint"].as_str().ok_or(
        "the authorization server offers no dynamic client registration; register a client there and set `login.client_id`",
    )?;
    let mut request = json!({
        "client_name": "Portcullis",
        "grant_types": grants,
        "token_endpoint_auth_method": "none",
        "application_type": "native",
    });
    if !redirects.is_empty() {
        request["redirect_uris"] = json!(redirects);
        request["response_types"] = json!(["code"]);
    } else {
        request["response_types"] = json!([]);
    }
    let response = http
        .post(safe_url(endpoint)?)
        .json(&request)
        .send()
        .await
        .map_err(|e| format!("the client registration failed: {e}"))?;
    let status = response.status();
    let body = read(response).await?;
    if !status.is_success() {
        return Err(format!(
            "the client registration was refused (HTTP {status}): {}",
            error_of(&body)
        ));
    }
    let client_id = body["client_id"]
        .as_str()
        .ok_or("the registration answer has no client_id")?
        .to_string();
    Ok((
        client_id,
        body["client_secret"].as_str().map(str::to_string),
    ))
}

/// Waits for the browser's redirect to the loopback listener; the code, when `state` matches.
async fn receive_code(listener: tokio::net::TcpListener, state: &str) -> Result<String, String> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, String>>(1);
    let expected = state.to_string();
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(
            move |axum::extract::Query(q): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| {
                let tx = tx.clone();
                let expected = expected.clone();
                async move {
                    let outcome = match (q.get("state"), q.get("code"), q.get("error")) {
                        (Some(s), _, _) if *s != expected => {
                            Err("the redirect's state is not this login's; refusing it".to_string())
                        }
                        (_, _, Some(e)) => {
                            Err(format!("the authorization server refused the login: {e}"))
                        }
                        (Some(_), Some(code), None) => Ok(code.clone()),
                        _ => Err("the redirect carries no code".into()),
                    };
                    let page = match &outcome {
                        Ok(_) => "Portcullis is logged in. You can close this window.",
                        Err(_) => "The login did not succeed; see the terminal.",
                    };
                    let _ = tx.send(outcome).await;
                    axum::response::Html(format!(
                        "<!doctype html><title>Portcullis</title><p>{page}</p>"
                    ))
                }
            },
        ),
    );
    let served = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut rx = rx;
    let outcome = tokio::time::timeout(LOGIN_TIMEOUT, rx.recv()).await;
    served.abort();
    match outcome {
        Ok(Some(result)) => result,
        Ok(None) => Err("the redirect listener stopped".into()),
        Err(_) => Err(format!("no login within {} s", LOGIN_TIMEOUT.as_secs())),
    }
}

async fn token_request(
    http: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
    client_id: &str,
    secret: Option<&str>,
) -> Result<TokenResponse, String> {
    let answer = post_form(http, endpoint, form, client_id, secret).await?;
    TokenResponse::parse(answer.to_string().as_bytes())
}

async fn post_form(
    http: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
    client_id: &str,
    secret: Option<&str>,
) -> Result<Value, String> {
    let mut request = http.post(endpoint).form(form);
    if let Some(secret) = secret {
        request = request.basic_auth(client_id, Some(secret));
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("{endpoint}: {e}"))?;
    let status = response.status();
    let body = read(response).await?;
    if !status.is_success() {
        return Err(format!(
            "{endpoint} answered HTTP {status}: {}",
            error_of(&body)
        ));
    }
    Ok(body)
}

async fn get_json(http: &reqwest::Client, address: &str) -> Result<Value, String> {
    let response = http
        .get(address)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("{address}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{address} answered HTTP {status}"));
    }
    read(response).await
}

async fn read(response: reqwest::Response) -> Result<Value, String> {
    let body = portcullis_gateway::bounded::read_body(response, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))
}

fn error_of(body: &Value) -> String {
    match (body["error"].as_str(), body["error_description"].as_str()) {
        (Some(e), Some(d)) => format!("{e} ({d})"),
        (Some(e), None) => e.to_string(),
        _ => "no error given".into(),
    }
}

/// `address` parsed, if it is https, or http on a loopback address.
fn safe_url(address: &str) -> Result<Url, String> {
    let url = Url::parse(address).map_err(|e| format!("`{address}` is not a URL: {e}"))?;
    let host = url.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(format!(
            "`{address}` is not https; tokens never go over plain http except to this machine"
        )),
    }
}

/// The value of `name` in a `WWW-Authenticate` challenge.
fn parameter(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}="))? + name.len() + 1;
    let rest = &challenge[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next().map(str::to_string),
        None => rest.split([',', ' ']).next().map(str::to_string),
    }
}

/// 32 random bytes, base64url: a PKCE verifier or a state. A login without randomness would
/// be guessable: it fails instead.
fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for the login: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn challenges_and_addresses_are_read_strictly() {
        assert_eq!(
            parameter(
                r#"Bearer error="invalid_token", resource_metadata="https://a.test/.well-known/x""#,
                "resource_metadata"
            )
            .as_deref(),
            Some("https://a.test/.well-known/x")
        );
        assert_eq!(parameter("Bearer realm=x", "resource_metadata"), None);
        assert!(safe_url("https://as.example.com/token").is_ok());
        assert!(safe_url("http://127.0.0.1:9/token").is_ok());
        assert!(safe_url("http://as.example.com/token").is_err());
        assert!(safe_url("file:///etc/passwd").is_err());
    }
}
