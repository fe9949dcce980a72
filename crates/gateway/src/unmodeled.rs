//! Keeping fields that rmcp's typed model does not know (a tool's `execution.taskSupport`, say)
//! alive through the gateway.
//!
//! rmcp deserializes every message into typed structs, which drop unknown keys. So where the
//! gateway still sees raw JSON on the way in from an upstream, it *stashes* those keys in the
//! tool's `_meta` under [`STASH_KEY`] (which the typed model carries through untouched), and
//! where it sees raw JSON again on the way out to a client, it *lifts* them back to where they
//! were. Clients never see the stash key: a stash that arrives from outside is dropped.
//!
//! This module also holds the newline-delimited JSON transport that gives the gateway that raw
//! view on its own stdio.

use std::io;

use futures::{Sink, SinkExt, Stream, StreamExt};
use rmcp::service::{RxJsonRpcMessage, ServiceRole, TxJsonRpcMessage};
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec, LinesCodecError};

/// The `_meta` key that carries stashed fields between the two edges of the gateway.
pub const STASH_KEY: &str = "dev.portcullis/unmodeled";

/// Largest single message accepted on a stdio transport.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

const TOOL_KEYS: &[&str] = &[
    "name",
    "title",
    "description",
    "inputSchema",
    "outputSchema",
    "annotations",
    "icons",
    "_meta",
];

/// Moves the keys of a tool definition that rmcp's `Tool` does not model into its `_meta`
/// stash, after dropping any stash the upstream tried to smuggle in itself.
pub fn stash_tool(tool: &mut Map<String, Value>) {
    if let Some(meta) = tool.get_mut("_meta").and_then(Value::as_object_mut) {
        meta.remove(STASH_KEY);
    }
    let unknown: Vec<String> = tool
        .keys()
        .filter(|k| !TOOL_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    if unknown.is_empty() {
        return;
    }
    let mut stash = Map::new();
    for k in unknown {
        if let Some(v) = tool.remove(&k) {
            stash.insert(k, v);
        }
    }
    let meta = tool
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert(STASH_KEY.into(), Value::Object(stash));
    }
}

/// Puts stashed fields back where they came from, on every tool of a `tools/list` result.
/// Returns whether anything changed.
pub fn lift_message(message: &mut Value) -> bool {
    let Some(tools) = message
        .get_mut("result")
        .and_then(|r| r.get_mut("tools"))
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    let mut changed = false;
    for tool in tools.iter_mut().filter_map(Value::as_object_mut) {
        let Some(meta) = tool.get_mut("_meta").and_then(Value::as_object_mut) else {
            continue;
        };
        let Some(Value::Object(stash)) = meta.remove(STASH_KEY) else {
            continue;
        };
        if meta.is_empty() {
            tool.remove("_meta");
        }
        for (k, v) in stash {
            tool.entry(k).or_insert(v);
        }
        changed = true;
    }
    changed
}

/// Whether a serialized message may carry a stash (a cheap test before parsing).
pub fn may_carry_stash(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, STASH_KEY.as_bytes()).is_some()
}

#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("a message is larger than {MAX_LINE_BYTES} bytes")]
    TooLong,
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl From<LinesCodecError> for LineError {
    fn from(e: LinesCodecError) -> Self {
        match e {
            LinesCodecError::Io(e) => LineError::Io(e),
            LinesCodecError::MaxLineLengthExceeded => LineError::TooLong,
        }
    }
}

/// A newline-delimited JSON transport for role `R`, with a hook that sees each outgoing message
/// as raw JSON after it is typed.
pub fn line_transport<R: ServiceRole>(
    read: impl AsyncRead + Send + Unpin + 'static,
    write: impl AsyncWrite + Send + Unpin + 'static,
    on_outgoing: fn(&mut Value),
    peer: &'static str,
) -> (
    impl Sink<TxJsonRpcMessage<R>, Error = LineError> + Send + Unpin + 'static,
    impl Stream<Item = RxJsonRpcMessage<R>> + Send + Unpin + 'static,
) {
    let codec = || LinesCodec::new_with_max_length(MAX_LINE_BYTES);
    let stream = FramedRead::new(read, codec()).filter_map(move |line| {
        let parsed = line
            .map_err(LineError::from)
            .and_then(|line| Ok(serde_json::from_str::<RxJsonRpcMessage<R>>(&line)?));
        std::future::ready(match parsed {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(peer, error = %e, "dropped an unreadable message");
                None
            }
        })
    });
    let framed = FramedWrite::new(write, codec());
    let sink = SinkExt::<String>::sink_map_err(framed, LineError::from).with(
        move |msg: TxJsonRpcMessage<R>| {
            std::future::ready((|| {
                let mut v = serde_json::to_value(&msg)?;
                on_outgoing(&mut v);
                Ok::<_, LineError>(serde_json::to_string(&v)?)
            })())
        },
    );
    (Box::pin(sink), Box::pin(stream))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stash_all(message: &mut Value) {
        for tool in message["result"]["tools"].as_array_mut().unwrap() {
            stash_tool(tool.as_object_mut().unwrap());
        }
    }

    #[test]
    fn stash_then_lift_restores_the_original() {
        let original = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [
            {"name": "a", "inputSchema": {}, "execution": {"taskSupport": "required"}, "x-extra": 1},
            {"name": "b", "inputSchema": {}, "_meta": {"k": "v"}, "execution": {"taskSupport": "optional"}},
            {"name": "c", "inputSchema": {}}
        ]}});
        let mut m = original.clone();
        stash_all(&mut m);
        assert!(m["result"]["tools"][0].get("execution").is_none());
        assert_eq!(
            m["result"]["tools"][1]["_meta"][STASH_KEY]["execution"]["taskSupport"],
            "optional"
        );
        assert!(may_carry_stash(m.to_string().as_bytes()));
        assert!(lift_message(&mut m));
        assert_eq!(m, original);
    }

    #[test]
    fn a_smuggled_stash_is_dropped() {
        let mut m = json!({"result": {"tools": [
            {"name": "a", "_meta": {STASH_KEY: {"annotations": {"readOnlyHint": true}}}}
        ]}});
        stash_all(&mut m);
        assert_eq!(m["result"]["tools"][0]["_meta"], json!({}));
    }

    #[test]
    fn other_messages_are_untouched() {
        let original = json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [], "extra": 1}});
        let mut m = original.clone();
        assert!(!lift_message(&mut m));
        assert_eq!(m, original);
    }
}
