//! Portcullis as an OAuth 2.1 resource server: a real JWKS on loopback, real RS256, ES256 and
//! EdDSA tokens, and the attacks a resource server must refuse, each with the right status,
//! challenge and audit record. The issuer runs on the test's runtime, which has worker threads
//! of its own so that it keeps answering while a test waits for the gateway to start.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use serde_json::{Value, json};

use crate::harness::{Gateway, HttpUpstream, modern_post, repo_root};

/// One signing key of the test issuer.
struct Key {
    encoding: EncodingKey,
    alg: Algorithm,
    kid: String,
}

fn key(file: &str, alg: Algorithm, kid: &str) -> Key {
    let pem = std::fs::read(repo_root().join("tests/fixtures/oauth").join(file)).unwrap();
    let encoding = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        _ => unreachable!(),
    }
    .unwrap();
    Key {
        encoding,
        alg,
        kid: kid.into(),
    }
}

fn jwk(key: &Key) -> Value {
    let mut jwk = Jwk::from_encoding_key(&key.encoding, key.alg).unwrap();
    jwk.common.key_id = Some(key.kid.clone());
    serde_json::to_value(jwk).unwrap()
}

fn mint(key: &Key, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A test authorization server: JWKS, metadata and a client-credentials token endpoint.
struct Issuer {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    /// How its JWKS endpoint answers now.
    jwks: Arc<Mutex<Jwks>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Jwks {
    Serving,
    /// 503 to every fetch: the issuer has stopped answering.
    Down,
    /// A 50 MB document, streamed without a length.
    Huge,
}

impl Issuer {
    async fn start(keys: &[&Key]) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let published = Arc::new(Mutex::new(keys.iter().map(|k| jwk(k)).collect::<Vec<_>>()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let issued = Arc::new(AtomicUsize::new(0));
        let (jwks_keys, jwks_fetches, meta_url) = (published.clone(), fetches.clone(), url.clone());
        let jwks = Arc::new(Mutex::new(Jwks::Serving));
        let jwks_mode = jwks.clone();
        let app = axum::Router::new()
            .route(
                "/jwks",
                axum::routing::get(move || {
                    jwks_fetches.fetch_add(1, Ordering::SeqCst);
                    let keys = jwks_keys.lock().unwrap().clone();
                    let mode = *jwks_mode.lock().unwrap();
                    async move {
                        use axum::response::IntoResponse;
                        match mode {
                            Jwks::Serving => axum::Json(json!({ "keys": keys })).into_response(),
                            Jwks::Down => {
                                axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()
                            }
                            Jwks::Huge => {
                                let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
                                let body = futures::stream::iter(
                                    std::iter::once(bytes::Bytes::from_static(b"{\"keys\": ["))
                                        .chain(std::iter::repeat_n(chunk, 50 * 16))
                                        .map(Ok::<_, std::io::Error>),
                                );
                                axum::body::Body::from_stream(body).into_response()
                            }
                        }
                    }
                }),
            )
            .route(
                "/.well-known/oauth-authorization-server",
                axum::routing::get(move || {
                    let url = meta_url.clone();
                    async move {
                        axum::Json(
                            json!({"issuer": url, "token_endpoint": format!("{url}/token"),
                            "jwks_uri": format!("{url}/jwks"), "response_types_supported": ["code"],
                            "grant_types_supported": ["client_credentials"]}),
                        )
                    }
                }),
            )
            .route(
                "/token",
                axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                    let issued = issued.clone();
                    async move {
                        let expected = format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD
                                .encode("upstream-client:upstream-secret")
                        );
                        let authorized = headers
                            .get("authorization")
                            .is_some_and(|v| v.to_str().unwrap_or("") == expected);
                        if !authorized || !body.contains("grant_type=client_credentials") {
                            return (
                                axum::http::StatusCode::UNAUTHORIZED,
                                axum::Json(json!({"error": "invalid_client"})),
                            );
                        }
                        let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                        (
                            axum::http::StatusCode::OK,
                            axum::Json(json!({"access_token": format!("upstream-token-{n}"),
                                "token_type": "Bearer", "expires_in": 3600})),
                        )
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Issuer {
            url,
            keys: published,
            fetches,
            jwks,
        }
    }

    fn jwks(&self, mode: Jwks) {
        *self.jwks.lock().unwrap() = mode;
    }

    fn publish(&self, key: &Key) {
        self.keys.lock().unwrap().push(jwk(key));
    }

    /// Claims for a token to `audience`, holding `scope`.
    fn claims(&self, audience: &str, scope: &str) -> Value {
        json!({"iss": self.url, "sub": "alice", "aud": audience, "scope": scope,
            "iat": now(), "exp": now() + 600})
    }

    fn config(&self, extra_issuer: &str) -> String {
        format!(
            r#"
[auth]
api_keys = true

[[auth.issuers]]
issuer = "{url}"
jwks_url = "{url}/jwks"
algorithms = ["RS256", "ES256", "EdDSA"]
{extra_issuer}

[limits]
per_caller = "6000/min"
per_caller_tool = "6000/min"
unauthenticated = "6000/min"

[upstreams.demo]
kind = "stdio"
command = "$PORTCULLIS"
args = ["example-server"]

[[expose]]
upstream = "demo"
tools = ["echo"]
read_only = true

[[expose]]
upstream = "demo"
tools = ["get_invoice"]
read_only = true
scopes = ["invoices:read"]

[[expose]]
upstream = "demo"
tools = ["refund"]
destructive = true
approval = "none"
scopes = ["invoices:read", "invoices:write"]
"#,
            url = self.url
        )
    }
}

/// One stateless request with `authorization`: status, `WWW-Authenticate`, body.
async fn request(
    gw: &Gateway,
    authorization: Option<&str>,
    method: &str,
    params: Value,
) -> (u16, String, Value) {
    let mut params = params;
    params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}});
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let response = modern_post(&gw.url(), authorization, method, name.as_deref())
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn tool_names(body: &Value) -> Vec<String> {
    body["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_each_algorithm_are_accepted_beside_api_keys() {
    let (rsa, ec, ed) = (
        key("rsa1.pem", Algorithm::RS256, "rsa1"),
        key("ec.pem", Algorithm::ES256, "ec"),
        key("ed.pem", Algorithm::EdDSA, "ed"),
    );
    let issuer = Issuer::start(&[&rsa, &ec, &ed]).await;
    let gw = Gateway::start(&issuer.config(""));
    let resource = format!("http://{}/mcp", gw.addr);
    for k in [&rsa, &ec, &ed] {
        let token = mint(k, &issuer.claims(&resource, "invoices:read"));
        let (status, _, body) = request(
            &gw,
            Some(&bearer(&token)),
            "tools/call",
            json!({
            "name": "demo_get_invoice", "arguments": {"invoice_id": "INV-1"}}),
        )
        .await;
        assert_eq!(status, 200, "{:?}: {body}", k.alg);
        assert_eq!(
            body["result"]["structuredContent"]["invoice_id"], "INV-1",
            "{body}"
        );
    }
    // The dev API key still works beside OAuth.
    let (status, _, body) = request(&gw, Some(&gw.bearer()), "tools/list", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let records = gw.audit_lines();
    let oauth: Vec<&Value> = records
        .iter()
        .filter(|r| r["principal_kind"] == "oauth")
        .collect();
    assert_eq!(oauth.len(), 3, "{records:?}");
    assert_eq!(oauth[0]["principal"], format!("{}#alice", issuer.url));
    assert_eq!(oauth[0]["outcome"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_misdirected_tokens_are_refused_and_audited() {
    let (rsa, attacker) = (
        key("rsa1.pem", Algorithm::RS256, "rsa1"),
        key("attacker.pem", Algorithm::RS256, "rsa1"),
    );
    let issuer = Issuer::start(&[&rsa]).await;
    let gw = Gateway::start(&issuer.config(""));
    let other = Gateway::start(&issuer.config(""));
    let resource = format!("http://{}/mcp", gw.addr);
    let other_resource = format!("http://{}/mcp", other.addr);
    let good = issuer.claims(&resource, "invoices:read");
    let with = |changes: Value| {
        let mut c = good.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let hmac_with_public_key = {
        let public = std::fs::read(repo_root().join("tests/fixtures/oauth/rsa1.pub.pem")).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa1".into());
        jsonwebtoken::encode(&header, &good, &EncodingKey::from_secret(&public)).unwrap()
    };
    let tampered = {
        let token = mint(&rsa, &good);
        let parts: Vec<&str> = token.split('.').collect();
        let payload = URL_SAFE_NO_PAD
            .encode(with(json!({"scope": "invoices:read invoices:write"})).to_string());
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let unknown_kid = mint(
        &key("attacker.pem", Algorithm::RS256, "not-published"),
        &good,
    );
    // The other gateway accepts its own token; this one must not.
    let replayed = mint(&rsa, &issuer.claims(&other_resource, "invoices:read"));
    let (status, _, _) = request(&other, Some(&bearer(&replayed)), "tools/list", json!({})).await;
    assert_eq!(
        status, 200,
        "the token is good for the resource it was minted for"
    );

    let cases = [
        (
            "alg none",
            unsigned,
            "invalid token",
            "not a well-formed JWT",
        ),
        (
            "HS256 with the public key",
            hmac_with_public_key,
            "invalid token",
            "algorithm HS256 not allowed",
        ),
        (
            "wrong aud",
            mint(&rsa, &with(json!({"aud": "https://elsewhere.example/mcp"}))),
            "wrong audience",
            "audience is not",
        ),
        (
            "no aud",
            mint(&rsa, &with(json!({"aud": null}))),
            "wrong audience",
            "no audience",
        ),
        (
            "wrong iss",
            mint(&rsa, &with(json!({"iss": "https://evil.example"}))),
            "invalid token",
            "issuer not configured",
        ),
        (
            "expired",
            mint(&rsa, &with(json!({"exp": now() - 3600}))),
            "token expired",
            "expired",
        ),
        (
            "nbf in the future",
            mint(&rsa, &with(json!({"nbf": now() + 3600}))),
            "invalid token",
            "not valid yet",
        ),
        (
            "signed by another key",
            mint(&attacker, &good),
            "invalid token",
            "signature does not verify",
        ),
        (
            "unknown kid",
            unknown_kid,
            "invalid token",
            "no key in the issuer's JWKS",
        ),
        (
            "tampered payload",
            tampered,
            "invalid token",
            "signature does not verify",
        ),
        (
            "another resource's token",
            replayed,
            "wrong audience",
            "audience is not",
        ),
    ];
    let metadata = format!(
        "http://{}/.well-known/oauth-protected-resource/mcp",
        gw.addr
    );
    for (name, token, description, _) in &cases {
        let (status, challenge, body) =
            request(&gw, Some(&bearer(token)), "tools/list", json!({})).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert!(
            challenge.starts_with(&format!("Bearer resource_metadata=\"{metadata}\"")),
            "{name}: {challenge}"
        );
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{name}: {challenge}"
        );
        assert!(
            challenge.contains(&format!("error_description=\"{description}\"")),
            "{name}: {challenge}"
        );
    }
    // A token in the query string is refused even when it is valid.
    let good_token = mint(&rsa, &good);
    let response = modern_post(
        &format!("{}?access_token={good_token}", gw.url()),
        None,
        "tools/list",
        None,
    )
    .body("{}")
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_request""#),
        "{challenge}"
    );

    let records = gw.audit_lines();
    let refused: Vec<&Value> = records
        .iter()
        .filter(|r| r["decision"] == "unauthenticated")
        .collect();
    assert_eq!(refused.len(), cases.len() + 1, "{refused:?}");
    for (name, _, _, check) in &cases {
        assert!(
            refused
                .iter()
                .any(|r| r["reason"].as_str().unwrap().contains(check)),
            "{name}: no record says {check:?}: {refused:?}"
        );
    }
    let audit = std::fs::read_to_string(gw.dir.path().join(".portcullis/audit.jsonl")).unwrap();
    let log = gw.log();
    for (name, token, _, _) in &cases {
        let signature = token.rsplit('.').next().unwrap();
        let needle = if signature.len() > 10 {
            signature
        } else {
            token.as_str()
        };
        assert!(!audit.contains(needle), "{name}: token in the audit log");
        assert!(!log.contains(needle), "{name}: token in the gateway log");
    }
    assert!(!audit.contains(&good_token) && !log.contains(&good_token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_fetched_once_and_made_up_kids_cannot_flood_the_issuer() {
    let (old, new) = (
        key("rsa1.pem", Algorithm::RS256, "rsa1"),
        key("rsa2.pem", Algorithm::RS256, "rsa2"),
    );
    let issuer = Issuer::start(&[&old]).await;
    let gw = Gateway::start(&issuer.config(""));
    let resource = format!("http://{}/mcp", gw.addr);
    let claims = issuer.claims(&resource, "invoices:read");
    let (status, _, _) = request(
        &gw,
        Some(&bearer(&mint(&old, &claims))),
        "tools/list",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    issuer.publish(&new);
    let before = issuer.fetches.load(Ordering::SeqCst);
    let (status, _, body) = request(
        &gw,
        Some(&bearer(&mint(&new, &claims))),
        "tools/list",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "the rotated key is picked up: {body}");
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), before + 1);
    for i in 0..20 {
        let made_up = key("attacker.pem", Algorithm::RS256, &format!("made-up-{i}"));
        let token = bearer(&mint(&made_up, &claims));
        let (status, _, _) = request(&gw, Some(&token), "tools/list", json!({})).await;
        assert_eq!(status, 401);
    }
    assert_eq!(
        issuer.fetches.load(Ordering::SeqCst),
        before + 1,
        "unknown kids within 10 s of a fetch cause no more fetches"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_up_shows_every_tool_and_names_every_scope_a_call_needs() {
    let rsa = key("rsa1.pem", Algorithm::RS256, "rsa1");
    let issuer = Issuer::start(&[&rsa]).await;
    let gw = Gateway::start(&issuer.config(""));
    let resource = format!("http://{}/mcp", gw.addr);
    let reader = bearer(&mint(&rsa, &issuer.claims(&resource, "invoices:read")));
    let (_, _, list) = request(&gw, Some(&reader), "tools/list", json!({})).await;
    assert_eq!(
        tool_names(&list),
        ["demo_echo", "demo_get_invoice", "demo_refund"]
    );
    let (status, challenge, body) = request(
        &gw,
        Some(&reader),
        "tools/call",
        json!({
        "name": "demo_refund", "arguments": {"invoice_id": "INV-1", "amount_cents": 5}}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"scope="invoices:read invoices:write""#),
        "{challenge}"
    );
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    // With the consented scopes the same call runs.
    let writer = bearer(&mint(
        &rsa,
        &issuer.claims(&resource, "invoices:read invoices:write"),
    ));
    let (status, _, body) = request(
        &gw,
        Some(&writer),
        "tools/call",
        json!({
        "name": "demo_refund", "arguments": {"invoice_id": "INV-1", "amount_cents": 5}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["content"][0]["text"],
        "refunded 5 cents on INV-1"
    );
    let records = gw.audit_lines();
    let refused: Vec<_> = records
        .iter()
        .filter(|r| r["outcome"] == "refused")
        .collect();
    assert_eq!(refused.len(), 1, "one record for the refusal: {records:?}");
    let refused = refused[0];
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("insufficient scope")
    );
    assert_eq!(refused["tool"], "demo_refund", "which tool: {refused}");
    assert_eq!(refused["principal_kind"], "oauth", "who: {refused}");
    assert_ne!(refused["principal"], "unauthenticated", "who: {refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_step_up_oauth_callers_see_only_what_they_may_call() {
    let rsa = key("rsa1.pem", Algorithm::RS256, "rsa1");
    let issuer = Issuer::start(&[&rsa]).await;
    let gw = Gateway::start(&issuer.config("step_up = false"));
    let resource = format!("http://{}/mcp", gw.addr);
    let reader = bearer(&mint(&rsa, &issuer.claims(&resource, "invoices:read")));
    let (_, _, list) = request(&gw, Some(&reader), "tools/list", json!({})).await;
    assert_eq!(tool_names(&list), ["demo_echo", "demo_get_invoice"]);
    let (status, _, body) = request(
        &gw,
        Some(&reader),
        "tools/call",
        json!({
        "name": "demo_refund", "arguments": {"invoice_id": "INV-1", "amount_cents": 5}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["code"], -32602, "reads as unknown: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_can_come_from_mapped_claims() {
    let rsa = key("rsa1.pem", Algorithm::RS256, "rsa1");
    let issuer = Issuer::start(&[&rsa]).await;
    let gw = Gateway::start(&issuer.config(
        r#"scope_map = [{ claim = "realm_access.roles", value = "billing", scopes = ["invoices:read"] }]"#,
    ));
    let resource = format!("http://{}/mcp", gw.addr);
    let mut claims = issuer.claims(&resource, "");
    claims["realm_access"] = json!({"roles": ["billing", "staff"]});
    let (status, _, body) = request(
        &gw,
        Some(&bearer(&mint(&rsa, &claims))),
        "tools/call",
        json!({
        "name": "demo_get_invoice", "arguments": {"invoice_id": "INV-9"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["structuredContent"]["invoice_id"], "INV-9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_resource_metadata_has_the_fields_rfc_9728_and_mcp_require() {
    let rsa = key("rsa1.pem", Algorithm::RS256, "rsa1");
    let issuer = Issuer::start(&[&rsa]).await;
    let gw = Gateway::start(&issuer.config(""));
    let (status, challenge, _) = request(&gw, None, "tools/list", json!({})).await;
    assert_eq!(status, 401);
    let url = challenge
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{challenge}"))
        .to_string();
    for url in [
        url.clone(),
        format!("http://{}/.well-known/oauth-protected-resource", gw.addr),
    ] {
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let document: Value = response.json().await.unwrap();
        assert_eq!(document["resource"], format!("http://{}/mcp", gw.addr));
        assert_eq!(document["authorization_servers"], json!([issuer.url]));
        assert_eq!(
            document["scopes_supported"],
            json!(["invoices:read", "invoices:write"])
        );
        assert_eq!(document["bearer_methods_supported"], json!(["header"]));
    }
    assert_eq!(
        url,
        format!(
            "http://{}/.well-known/oauth-protected-resource/mcp",
            gw.addr
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_token_never_reaches_an_upstream_the_gateways_own_does() {
    let rsa = key("rsa1.pem", Algorithm::RS256, "rsa1");
    let issuer = Issuer::start(&[&rsa]).await;
    let upstream = HttpUpstream::start();
    let config = format!(
        r#"{}
[upstreams.web]
kind = "http"
url = "{}"
headers.X-Team = {{ value = "payments" }}

[upstreams.web.oauth]
token_url = "{}/token"
client_id = "upstream-client"
client_secret = {{ env = "UPSTREAM_SECRET" }}
scopes = ["mcp:tools"]

[[expose]]
upstream = "web"
tools = ["seen_headers"]
read_only = true

# The upstream echoes the headers it was sent, which the test reads through the gateway:
# secrets under sensitive names are not masked here.
[redaction]
default_keys = false
disable = ["secret"]
"#,
        issuer.config(""),
        upstream.url,
        issuer.url
    );
    let gw = Gateway::start_with_env(&config, &[("UPSTREAM_SECRET", "upstream-secret")]);
    let resource = format!("http://{}/mcp", gw.addr);
    let token = mint(&rsa, &issuer.claims(&resource, ""));
    let response = modern_post(
        &gw.url(),
        Some(&bearer(&token)),
        "tools/call",
        Some("web_seen_headers"),
    )
    .header("x-api-key", "client-key")
    .header("cookie", "session=client-cookie")
    .json(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "web_seen_headers", "arguments": {}, "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}}}}),
    )
    .send()
    .await
    .unwrap();
    let answer: Value = response.json().await.unwrap();
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}\n{}", gw.log()));
    let seen: Value = serde_json::from_str(text).unwrap();
    assert!(
        seen["authorization"]
            .as_str()
            .is_some_and(|a| a.starts_with("Bearer upstream-token-")),
        "{seen}"
    );
    assert_eq!(seen["x-team"], "payments");
    for client_secret in [token.as_str(), "client-key", "client-cookie"] {
        assert!(
            !text.contains(client_secret),
            "{client_secret} reached the upstream: {text}"
        );
    }
}

#[test]
fn the_example_oauth_config_loads_and_unsafe_settings_do_not() {
    let example = repo_root().join("examples/oauth.toml");
    let checked = std::process::Command::new(crate::harness::BIN)
        .args(["check", "--config", example.to_str().unwrap()])
        .env("CRM_CLIENT_SECRET", "crm-secret")
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");
    // Without the secret it names, the example is refused, naming the variable.
    let (ok, _, err) =
        crate::harness::portcullis(&["check", "--config", example.to_str().unwrap()]);
    assert!(!ok && err.contains("CRM_CLIENT_SECRET"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"
[auth]
resource = "http://mcp.example.com/mcp"
[[auth.issuers]]
issuer = "https://sso.example.com"
jwks_url = "http://sso.example.com/jwks"
algorithms = ["HS256", "none"]
"#,
    )
    .unwrap();
    let (ok, _, err) = crate::harness::portcullis(&["check", "--config", bad.to_str().unwrap()]);
    assert!(!ok);
    for expected in [
        "auth.resource: must be https",
        "auth.issuers[0].jwks_url: must be https",
        "auth.issuers[0].algorithms[0]: `HS256`: HMAC algorithms are never accepted",
        "auth.issuers[0].algorithms[1]: `none`: unsigned tokens are never accepted",
    ] {
        assert!(err.contains(expected), "{expected} not in {err}");
    }
}

/// The gateway's peak resident memory so far, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_jwks_is_refused_while_it_is_read() {
    let rsa = key("rsa1.pem", Algorithm::RS256, "rsa1");
    let issuer = Issuer::start(&[&rsa]).await;
    let gw = Gateway::start(&issuer.config(""));
    let resource = format!("http://{}/mcp", gw.addr);
    let before = peak_rss_kib(gw.pid());
    issuer.jwks(Jwks::Huge);
    // A key the gateway does not know makes it fetch the JWKS again: 50 MB this time.
    let rotated = key("rsa2.pem", Algorithm::RS256, "rsa2");
    let token = mint(&rotated, &issuer.claims(&resource, "invoices:read"));
    let (status, _, _) = request(&gw, Some(&bearer(&token)), "tools/list", json!({})).await;
    assert_eq!(status, 401);
    let grown = peak_rss_kib(gw.pid()) - before;
    assert!(
        grown < 16 * 1024,
        "peak memory grew by {grown} KiB for a 1 MiB cap"
    );
    assert!(gw.log().contains("larger than"), "the log says why");
}

async fn list_status(gw: &Gateway, token: &str) -> u16 {
    request(gw, Some(&bearer(token)), "tools/list", json!({}))
        .await
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_an_issuer_that_stopped_answering_expire_and_come_back_with_it() {
    let rsa = key("rsa1.pem", Algorithm::RS256, "rsa1");
    let issuer = Issuer::start(&[&rsa]).await;
    let gw = Gateway::start(&issuer.config("refresh = \"1s\"\nmax_key_age = \"2s\""));
    let resource = format!("http://{}/mcp", gw.addr);
    let token = mint(&rsa, &issuer.claims(&resource, "invoices:read"));
    assert_eq!(list_status(&gw, &token).await, 200);
    issuer.jwks(Jwks::Down);
    // Within a few refreshes past `max_key_age` the cached keys stop being trusted.
    let mut refused = false;
    for _ in 0..100 {
        if list_status(&gw, &token).await == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        refused,
        "tokens are still accepted on keys nobody vouches for"
    );
    issuer.jwks(Jwks::Serving);
    let mut back = false;
    for _ in 0..100 {
        if list_status(&gw, &token).await == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(back, "the issuer answers again, and so do its tokens");
}
