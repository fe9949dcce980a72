//! Telling an operator's endpoint about an event: a JSON POST, without redirects, never waited
//! for. Used by the guardrail's alerts and by calls parked for approval.

use std::time::Duration;

use serde_json::Value;

/// A URL events are POSTed to.
#[derive(Clone)]
pub struct Webhook {
    client: reqwest::Client,
    url: String,
    /// What it is for, in log lines (`the guardrail webhook`).
    what: &'static str,
}

impl Webhook {
    /// `None` (and an error in the log) when no HTTP client can be built.
    pub fn new(url: String, what: &'static str) -> Option<Webhook> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build();
        match client {
            Ok(client) => Some(Webhook { client, url, what }),
            Err(e) => {
                tracing::error!(error = %e, "cannot build the HTTP client of {what}");
                None
            }
        }
    }

    /// POSTs `body` in the background; a failure is logged.
    pub fn post(&self, body: &Value) {
        let request = self.client.post(&self.url).json(body);
        let what = self.what;
        tokio::spawn(async move {
            match request.send().await {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    tracing::warn!(status = %response.status(), "{what} refused an event");
                }
                Err(e) => tracing::warn!(error = %e, "{what} is unreachable"),
            }
        });
    }
}
