//! Redaction end to end: personal data from the example server's invoices never reaches the
//! client, the audit log or the gateway's log; the audit record counts what was masked.

use serde_json::json;

use crate::harness::{Gateway, call, example_config, portcullis, repo_root, text_of};

const PERSONAL: &[&str] = &["dana@example.com", "+1 415 555 0134", "4111 1111 1111 1111"];

#[tokio::test]
async fn an_invoice_reaches_the_client_with_its_personal_data_masked() {
    let gw = Gateway::start_with_env(&example_config(""), &[("PORTCULLIS_LOG", "debug")]);
    let client = gw.rmcp_client().await;
    let invoice = client
        .call_tool(call("demo_get_invoice", json!({"invoice_id": "INV-42"})))
        .await
        .unwrap();
    let structured = invoice.structured_content.clone().unwrap();
    assert_eq!(structured["invoice_id"], "INV-42");
    assert_eq!(structured["customer"], "Dana Example");
    assert_eq!(structured["email"], "[redacted:email]");
    assert_eq!(structured["phone"], "[redacted:phone]");
    assert_eq!(
        structured["card_number"], "[redacted:secret]",
        "a sensitive key masks its value"
    );
    assert_eq!(
        structured["amount_cents"], 12_900,
        "numbers that hide nothing stay numbers"
    );
    let text = text_of(&invoice);
    // The direct path (stateless JSON) masks the same way.
    let (direct, _) = gw
        .modern(
            "tools/call",
            json!({"name": "demo_get_invoice", "arguments": {"invoice_id": "INV-42"}}),
        )
        .await;
    let direct = direct.to_string();
    for secret in PERSONAL {
        assert!(
            !text.contains(secret),
            "{secret} reached the client: {text}"
        );
        assert!(
            !direct.contains(secret),
            "{secret} reached the client: {direct}"
        );
    }
    client.cancel().await.unwrap();
    let records = gw.audit_lines();
    let record = records
        .iter()
        .find(|r| r["tool"] == "demo_get_invoice")
        .unwrap();
    assert_eq!(record["redactions"]["email"], 2, "{record}");
    assert_eq!(record["redactions"]["phone"], 2);
    assert!(record["redactions"]["secret"].as_u64().unwrap() >= 1);
    let audit = std::fs::read_to_string(gw.dir.path().join(".portcullis/audit.jsonl")).unwrap();
    let log = gw.log();
    for secret in PERSONAL {
        assert!(!audit.contains(secret), "{secret} in the audit log");
        assert!(!log.contains(secret), "{secret} in the gateway's log");
    }
}

#[tokio::test]
async fn upstream_error_messages_are_redacted_too() {
    let gw = Gateway::start(&example_config(""));
    let client = gw.rmcp_client().await;
    // The example server echoes nothing into errors, but a timeout message carries only the
    // gateway's own text; what must hold is that a result text with PII is masked.
    let echoed = client
        .call_tool(call(
            "demo_echo",
            json!({"text": "mail me: bob@example.org, key AKIAIOSFODNN7EXAMPLE"}),
        ))
        .await
        .unwrap();
    assert_eq!(
        text_of(&echoed),
        "mail me: [redacted:email], key [redacted:credential]"
    );
    client.cancel().await.unwrap();
}

/// A file server that reads `config.json` returns it as text: the keys a structured result
/// would have masked are masked there too, and the text is still JSON.
#[tokio::test]
async fn a_result_text_that_holds_json_is_masked_like_structured_content() {
    let gw = Gateway::start(&example_config(""));
    let client = gw.rmcp_client().await;
    let file = "{\n  \"db\": {\"password\": \"Gr33n-T3a\", \"host\": \"db.internal\"},\n  \"api_key\": \"live_51Hx\",\n  \"card\": 4242424242424242.0\n}";
    let echoed = client
        .call_tool(call("demo_echo", json!({"text": file})))
        .await
        .unwrap();
    let text = text_of(&echoed);
    let parsed: serde_json::Value = serde_json::from_str(&text).expect("the text is still JSON");
    assert_eq!(
        parsed,
        json!({"db": {"password": "[redacted:secret]", "host": "db.internal"},
            "api_key": "[redacted:secret]", "card": "[redacted:card]"})
    );
    for secret in ["Gr33n-T3a", "live_51Hx", "4242424242424242"] {
        assert!(
            !text.contains(secret),
            "{secret} reached the client: {text}"
        );
    }
    client.cancel().await.unwrap();
}

#[test]
fn eval_redaction_reports_recall_and_keep_rate_on_the_shipped_corpora() {
    for name in [
        "redaction.jsonl",
        "redaction-holdout.jsonl",
        "redaction-holdout-2.jsonl",
    ] {
        let corpus = repo_root().join("tests/corpus").join(name);
        let (ok, out, err) = portcullis(&[
            "eval",
            "redaction",
            "--corpus",
            corpus.to_str().unwrap(),
            "--json",
        ]);
        assert!(ok, "{err}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        let recall = report["recall"].as_f64().unwrap();
        let keep = report["keep_rate"].as_f64().unwrap();
        assert!(recall >= 0.99, "{name}: recall {recall}: {report}");
        assert!(keep >= 0.95, "{name}: keep rate {keep}: {report}");
        assert!(report["where"]["json"]["recall"].is_number(), "{report}");
    }
    let corpus = repo_root().join("tests/corpus/redaction.jsonl");
    let (ok, text, _) = portcullis(&["eval", "redaction", "--corpus", corpus.to_str().unwrap()]);
    assert!(
        ok && text.contains("recall") && text.contains("by where:"),
        "{text}"
    );
    let (ok, _, err) = portcullis(&["eval", "redaction", "--corpus", "/nonexistent.jsonl"]);
    assert!(!ok && err.contains("cannot read"), "{err}");
}

/// Names and postal addresses are opt-in: the shipped defaults pass them, `detect` masks them
/// in text, in JSON held in text and in the audit's counts.
#[tokio::test]
async fn names_and_addresses_are_masked_when_the_config_asks_for_them() {
    let letter = "Ship to Priya Raman, 742 Evergreen Terrace, Springfield, OR 97403.";
    let record = "{\"full_name\": \"Aiko Tanaka\", \"shipping_address\": \"55 Water St, Brooklyn, NY 11201\", \"items\": 3}";
    let defaults = Gateway::start(&example_config(""));
    let client = defaults.rmcp_client().await;
    let echoed = client
        .call_tool(call("demo_echo", json!({"text": letter})))
        .await
        .unwrap();
    assert_eq!(text_of(&echoed), letter, "kept by default");
    client.cancel().await.unwrap();

    let gw = Gateway::start(&example_config(
        "[redaction]\ndetect = [\"names\", \"addresses\"]\n",
    ));
    let client = gw.rmcp_client().await;
    let echoed = client
        .call_tool(call("demo_echo", json!({"text": letter})))
        .await
        .unwrap();
    assert_eq!(
        text_of(&echoed),
        "Ship to [redacted:name], [redacted:address]."
    );
    let echoed = client
        .call_tool(call("demo_echo", json!({"text": record})))
        .await
        .unwrap();
    let parsed: serde_json::Value =
        serde_json::from_str(&text_of(&echoed)).expect("the text is still JSON");
    assert_eq!(
        parsed,
        json!({"full_name": "[redacted:name]", "shipping_address": "[redacted:address]", "items": 3})
    );
    client.cancel().await.unwrap();
    let audit = std::fs::read_to_string(gw.dir.path().join(".portcullis/audit.jsonl")).unwrap();
    for personal in ["Priya", "Evergreen", "Tanaka", "Water St"] {
        assert!(!audit.contains(personal), "{personal} in the audit log");
    }
    let counts: Vec<serde_json::Value> = gw
        .audit_lines()
        .into_iter()
        .filter(|r| r["tool"] == "demo_echo")
        .map(|r| r["redactions"].clone())
        .collect();
    assert!(
        counts.contains(&json!({"name": 1, "address": 1})),
        "{counts:?}"
    );
}

#[test]
fn eval_redaction_measures_the_opt_in_detectors_with_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        "[redaction]\ndetect = [\"names\", \"addresses\"]\n",
    )
    .unwrap();
    for name in [
        "redaction-personal.jsonl",
        "redaction-personal-holdout.jsonl",
        "redaction-personal-holdout-2.jsonl",
    ] {
        let corpus = repo_root().join("tests/corpus").join(name);
        let report = |extra: &[&str]| -> serde_json::Value {
            let mut args = vec!["eval", "redaction", "--corpus", corpus.to_str().unwrap()];
            args.extend(extra);
            args.push("--json");
            let (ok, out, err) = portcullis(&args);
            assert!(ok, "{err}");
            serde_json::from_str(&out).unwrap()
        };
        let on = report(&["--config", config.to_str().unwrap()]);
        assert!(on["recall"].as_f64().unwrap() >= 0.9, "{name}: {on}");
        assert!(on["keep_rate"].as_f64().unwrap() >= 0.95, "{name}: {on}");
        // The shipped defaults leave names and addresses alone.
        let off = report(&[]);
        assert!(off["recall"].as_f64().unwrap() < 0.2, "{name}: {off}");
    }
}
