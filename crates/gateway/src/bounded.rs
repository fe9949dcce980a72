//! Reads that stop at their cap while they read: every body the gateway takes in from a party
//! it does not control (JWKS documents, token endpoints, upstream JSON answers, upstream
//! event streams) goes through here, so an oversized answer costs at most the cap in memory and
//! fails at once. A leaf: it depends on nothing else in the gateway.

use bytes::Bytes;
use futures::{Stream, StreamExt};

/// Why a body was not read whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("reading the answer failed: {0}")]
    Failed(String),
}

/// Reads `response`'s body, refusing it as soon as it passes `limit` bytes (a declared length
/// over the limit is refused before reading).
pub async fn read_body(response: reqwest::Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge(limit));
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| ReadError::Failed(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Passes a server-sent event stream through, failing it as soon as one event (the bytes
/// between two blank lines) passes `limit` bytes — before the event parser has buffered it.
pub fn cap_events<S, E>(
    stream: S,
    limit: usize,
) -> impl Stream<Item = Result<Bytes, ReadError>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display,
{
    let mut in_event = 0usize;
    // Whether the last byte seen ended a line (`\r` aside), so that a `\n` now ends the event.
    let mut at_line_start = true;
    let mut failed = false;
    stream
        .map(move |chunk| {
            let chunk = chunk.map_err(|e| ReadError::Failed(e.to_string()))?;
            for &b in chunk.iter() {
                match b {
                    b'\r' => {}
                    b'\n' if at_line_start => in_event = 0,
                    b'\n' => at_line_start = true,
                    _ => {
                        at_line_start = false;
                        in_event += 1;
                    }
                }
                if in_event > limit {
                    return Err(ReadError::TooLarge(limit));
                }
            }
            Ok(chunk)
        })
        .take_while(move |item| {
            // The stream ends after its first error.
            let go = !failed;
            failed |= item.is_err();
            std::future::ready(go)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(chunks: Vec<&'static str>, limit: usize) -> Vec<Result<Bytes, ReadError>> {
        let stream = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::convert::Infallible>(Bytes::from_static(c.as_bytes()))),
        );
        cap_events(stream, limit).collect().await
    }

    #[tokio::test]
    async fn events_under_the_cap_pass_and_the_count_restarts_at_each_blank_line() {
        let out = run(
            vec!["data: 12345\n\n", "data: 123", "45\r\n\r\ndata: 1\n\n"],
            12,
        )
        .await;
        assert!(out.iter().all(Result::is_ok), "{out:?}");
        assert_eq!(out.len(), 3);
    }

    #[tokio::test]
    async fn an_event_over_the_cap_ends_the_stream_at_once() {
        let out = run(
            vec!["data: 1234567890", "1234567890\n", "more\n\n", "never read"],
            16,
        )
        .await;
        assert_eq!(
            out.len(),
            2,
            "stops at the first chunk past the cap: {out:?}"
        );
        assert!(out[0].is_ok());
        assert_eq!(out[1], Err(ReadError::TooLarge(16)));
    }
}
