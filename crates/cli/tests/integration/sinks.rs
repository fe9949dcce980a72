//! The HTTP audit sink with a receiver that is down, then holds a request open, then is back:
//! every record of the log arrives (by hash), calls go on meanwhile, and a restart resumes after
//! the last record the receiver accepted.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

use crate::harness::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Answers 503.
    Down,
    /// Holds each request until released.
    Hold,
    Up,
}

#[derive(Clone)]
struct Receiver {
    mode: watch::Sender<Mode>,
    release: Arc<Notify>,
    /// Every record delivered (with repeats), and the idempotency keys seen.
    got: Arc<Mutex<Vec<Value>>>,
    keys: Arc<Mutex<Vec<String>>>,
    requests: Arc<Mutex<Vec<Mode>>>,
    arrived: Arc<Notify>,
}

async fn ingest(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let mode = *r.mode.borrow();
    r.requests.lock().unwrap().push(mode);
    r.arrived.notify_waiters();
    match mode {
        Mode::Down => return StatusCode::SERVICE_UNAVAILABLE,
        Mode::Hold => r.release.notified().await,
        Mode::Up => {}
    }
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert_eq!(headers["authorization"], "Bearer siem-token");
    let records: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = records.last().unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(headers["idempotency-key"].to_str().unwrap(), last);
    r.keys.lock().unwrap().push(last);
    r.got.lock().unwrap().extend(records);
    r.arrived.notify_waiters();
    StatusCode::ACCEPTED
}

async fn receiver() -> (Receiver, std::net::SocketAddr) {
    let r = Receiver {
        mode: watch::channel(Mode::Down).0,
        release: Arc::new(Notify::new()),
        got: Arc::default(),
        keys: Arc::default(),
        requests: Arc::default(),
        arrived: Arc::new(Notify::new()),
    };
    let app = axum::Router::new()
        .route("/ingest", axum::routing::post(ingest))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, addr)
}

/// Waits (bounded) until `done` holds of the receiver.
async fn until(r: &Receiver, what: &str, done: impl Fn(&Receiver) -> bool) {
    for _ in 0..600 {
        let arrived = r.arrived.notified();
        if done(r) {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), arrived).await;
    }
    panic!("never: {what}");
}

/// Waits (bounded) until every record of `wanted` (hashes) has reached the receiver.
async fn until_received(r: &Receiver, what: &str, wanted: &BTreeSet<String>) {
    until(r, what, |r| {
        let got: BTreeSet<String> = r
            .got
            .lock()
            .unwrap()
            .iter()
            .map(|v| v["hash"].as_str().unwrap().to_string())
            .collect();
        wanted.is_subset(&got)
    })
    .await;
}

fn hashes_in_log(gw: &Gateway) -> BTreeSet<String> {
    gw.audit_lines()
        .iter()
        .map(|r| r["hash"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_record_reaches_a_receiver_that_is_down_then_slow_then_back() {
    let (r, addr) = receiver().await;
    let config = example_config(&format!(
        "\n[audit.http]\nurl = \"http://{addr}/ingest\"\nbatch = 5\ntimeout = \"30s\"\nheaders = {{ Authorization = {{ env = \"SIEM_AUTH\" }} }}\n"
    ));
    let gw = Gateway::start_with_env(&config, &[("SIEM_AUTH", "Bearer siem-token")]);
    let client = gw.rmcp_client().await;
    // Down: calls go on; the sink retries.
    for n in 0..5 {
        let echoed = client
            .call_tool(call("demo_echo", json!({"text": format!("down {n}")})))
            .await
            .unwrap();
        assert_ne!(echoed.is_error, Some(true));
    }
    until(&r, "two refused deliveries", |r| {
        r.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|m| **m == Mode::Down)
            .count()
            >= 2
    })
    .await;
    // Slow: the receiver holds the delivery open; calls still go on.
    r.mode.send_replace(Mode::Hold);
    until(&r, "a held delivery", |r| {
        r.requests.lock().unwrap().contains(&Mode::Hold)
    })
    .await;
    for n in 0..10 {
        let echoed = client
            .call_tool(call("demo_echo", json!({"text": format!("held {n}")})))
            .await
            .unwrap();
        assert_ne!(echoed.is_error, Some(true), "a call waited on the sink");
    }
    // Back.
    r.mode.send_replace(Mode::Up);
    r.release.notify_waiters();
    client.cancel().await.unwrap();
    let logged = hashes_in_log(&gw);
    until_received(&r, "every record of the log", &logged).await;
    let got = r.got.lock().unwrap().clone();
    let unique: BTreeSet<&str> = got.iter().map(|v| v["hash"].as_str().unwrap()).collect();
    assert!(unique.len() >= logged.len());
    for record in &got {
        assert!(
            record["prev"].is_string() && record["time"].is_string(),
            "sealed as in the log"
        );
    }
    let keys = r.keys.lock().unwrap().clone();
    let distinct: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(
        distinct.len(),
        keys.len(),
        "each accepted batch once: {keys:?}"
    );
}

#[tokio::test]
async fn a_restart_resumes_after_the_last_record_accepted() {
    let (r, addr) = receiver().await;
    r.mode.send_replace(Mode::Up);
    let state = tempfile::tempdir().unwrap();
    let data = state.path().join("data");
    let env = [("PORTCULLIS_DATA_DIR", data.to_str().unwrap())];
    let config = example_config(&format!(
        "\n[audit.http]\nurl = \"http://{addr}/ingest\"\nheaders = {{ Authorization = {{ value = \"Bearer siem-token\" }} }}\n"
    ));
    let mut gw = Gateway::start_with_env(&config, &env);
    let client = gw.rmcp_client().await;
    client
        .call_tool(call("demo_echo", json!({"text": "first run"})))
        .await
        .unwrap();
    client.cancel().await.unwrap();
    let first = hashes_in_log(&gw);
    until_received(&r, "the first run's records", &first).await;
    // Stopped once the receiver's acceptance is kept as the cursor.
    let cursor = data.join("audit-http.cursor");
    let last = r.keys.lock().unwrap().last().cloned().unwrap();
    for _ in 0..200 {
        if std::fs::read_to_string(&cursor).is_ok_and(|c| c == last) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), last);
    assert!(gw.terminate());
    let before = r.got.lock().unwrap().len();

    let gw = Gateway::start_with_env(&config, &env);
    let client = gw.rmcp_client().await;
    client
        .call_tool(call("demo_echo", json!({"text": "second run"})))
        .await
        .unwrap();
    client.cancel().await.unwrap();
    let all = hashes_in_log(&gw);
    until_received(&r, "the second run's records", &all).await;
    let got = r.got.lock().unwrap().clone();
    let resent: Vec<&Value> = got[before..]
        .iter()
        .filter(|v| first.contains(v["hash"].as_str().unwrap()))
        .collect();
    assert!(resent.is_empty(), "accepted records sent again: {resent:?}");
}
