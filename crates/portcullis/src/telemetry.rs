//! `[telemetry]`: spans exported over OTLP (HTTP, JSON). [`tracer_provider`] builds the
//! provider the `portcullis` binary (or an embedder) hands to a `tracing-opentelemetry` layer
//! filtered to [`TRACE_TARGET`](portcullis_core::pipeline::TRACE_TARGET), and installs the W3C
//! trace-context propagator, so that calls continue their client's `traceparent` and pass
//! their own on to HTTP upstreams.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use portcullis_core::config::Telemetry;

/// The span exporter's provider for `settings`, exporting in batches from a thread of its own.
/// Call inside the Tokio runtime the exports are to run on; shut the provider down at exit to
/// send what is left.
pub fn tracer_provider(settings: &Telemetry, base_dir: &Path) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(format!("{}/v1/traces", settings.endpoint))
        .with_http_client(OnRuntime::new(settings, base_dir)?)
        .build()
        .map_err(|e| format!("telemetry: cannot build the OTLP exporter: {e}"))?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(settings.service_name.clone())
                .build(),
        )
        .build())
}

/// The gateway's own HTTP client, with the collector's headers, run on the gateway's runtime
/// (the batch exporter calls it from a thread that has none).
#[derive(Debug)]
pub(crate) struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl OnRuntime {
    pub(crate) fn new(settings: &Telemetry, base_dir: &Path) -> Result<OnRuntime, String> {
        let headers = portcullis_gateway::secrets::resolve_headers(&settings.headers, base_dir)
            .map_err(|e| format!("telemetry: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .map_err(|e| format!("telemetry: cannot build the HTTP client: {e}"))?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "telemetry: start it inside the Tokio runtime".to_string())?;
        Ok(OnRuntime { client, runtime })
    }
}

impl HttpClient for OnRuntime {
    fn send_bytes<'a, 'b>(
        &'a self,
        request: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, HttpError>> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let request = reqwest::Request::try_from(request)?;
            let response = client.execute(request).await?;
            let mut answer = http::Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                *headers = response.headers().clone();
            }
            let body = response.bytes().await?;
            Ok::<_, HttpError>(answer.body(body)?)
        });
        Box::pin(async move { sent.await.map_err(|e| Box::new(e) as HttpError)? })
    }
}
