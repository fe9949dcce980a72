//! Resource subscriptions through the gateway, and the resource links of upstream results.
//!
//! A client subscribes to a published URI; the gateway subscribes upstream once per upstream
//! URI, however many clients subscribe, and unsubscribes when the last one leaves. Each
//! `notifications/resources/updated` from the upstream reaches exactly the clients subscribed
//! to that URI, under the URI they know it by.

use std::collections::HashMap;
use std::sync::Mutex;

use portcullis_core::offers::Offers;
use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::service::{Peer, RoleServer};
use serde_json::Value;

struct Subscriber {
    session: u64,
    /// The URI the client subscribed to (the published one).
    published: String,
    peer: Peer<RoleServer>,
}

/// Who is subscribed to what, by upstream and the upstream's URI.
#[derive(Default)]
pub struct Subscriptions {
    by_uri: Mutex<HashMap<(String, String), Vec<Subscriber>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Subscriptions {
    /// Adds `session`'s subscription; `true` when it is the first to this upstream URI (the
    /// gateway then subscribes upstream).
    pub fn add(
        &self,
        upstream: &str,
        uri: &str,
        published: &str,
        session: u64,
        peer: Peer<RoleServer>,
    ) -> bool {
        let mut all = lock(&self.by_uri);
        let subscribers = all
            .entry((upstream.to_string(), uri.to_string()))
            .or_default();
        subscribers.retain(|s| !s.peer.is_transport_closed());
        let first = subscribers.is_empty();
        if !subscribers.iter().any(|s| s.session == session) {
            subscribers.push(Subscriber {
                session,
                published: published.to_string(),
                peer,
            });
        }
        first
    }

    /// Removes `session`'s subscription; `true` when no one is subscribed any more (the
    /// gateway then unsubscribes upstream).
    pub fn remove(&self, upstream: &str, uri: &str, session: u64) -> bool {
        let mut all = lock(&self.by_uri);
        let key = (upstream.to_string(), uri.to_string());
        let Some(subscribers) = all.get_mut(&key) else {
            return false;
        };
        let before = subscribers.len();
        subscribers.retain(|s| s.session != session && !s.peer.is_transport_closed());
        let last = subscribers.is_empty() && before > 0;
        if subscribers.is_empty() {
            all.remove(&key);
        }
        last
    }

    /// Tells every client subscribed to `uri` of `upstream` that it changed — while it is
    /// still published.
    pub async fn updated(&self, upstream: &str, uri: &str, offers: &Offers) {
        if offers.published_uri(upstream, uri).is_none() {
            return;
        }
        let targets: Vec<(String, Peer<RoleServer>)> = lock(&self.by_uri)
            .get(&(upstream.to_string(), uri.to_string()))
            .into_iter()
            .flatten()
            .map(|s| (s.published.clone(), s.peer.clone()))
            .collect();
        for (published, peer) in targets {
            let params = ResourceUpdatedNotificationParam::new(published);
            if let Err(e) = peer.notify_resource_updated(params).await {
                tracing::debug!(error = %e, "could not pass on a resource update");
            }
        }
    }
}

/// Rewrites, in an upstream's result, the URIs of resource links and embedded resources (and
/// of a read's `contents`) to the form clients read them by through the gateway. A link to a
/// resource that is not published is left as the upstream wrote it: reading it fails.
pub fn publish_uris(value: &mut Value, upstream: &str, offers: &Offers) {
    if !offers.has_resources() {
        return;
    }
    let rewrite = |item: &mut Value| {
        if let Some(Value::String(uri)) = item.get_mut("uri")
            && let Some(published) = offers.published_uri(upstream, uri)
        {
            *uri = published;
        }
    };
    for list in ["content", "contents", "messages"] {
        let Some(Value::Array(items)) = value.get_mut(list) else {
            continue;
        };
        for item in items {
            // A prompt message holds its content under `content`.
            let block = match item.get_mut("content") {
                Some(content) if list == "messages" => content,
                _ => item,
            };
            rewrite(block);
            if let Some(resource) = block.get_mut("resource") {
                rewrite(resource);
            }
        }
    }
}
