//! The MCP server clients talk to: one [`Gateway`] shared by every transport and session.
//!
//! `tools/list` serves the published catalogue with the gateway's own cursors; `tools/call`
//! looks the published name up and forwards the call to its upstream. A name that is not
//! published reads as unknown (`-32602`), whether no upstream has it or it exists upstream but
//! is not exposed. Only the `tools` capability is declared, so rmcp answers every other method
//! with "method not found".

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::Config;
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestMethod,
    CompleteRequestParams, CompleteResult, ContentBlock, ErrorData, Implementation,
    ListPromptsRequestMethod, ListPromptsResult, ListResourceTemplatesRequestMethod,
    ListResourceTemplatesResult, ListResourcesRequestMethod, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use tokio_util::sync::CancellationToken;

use crate::catalogue::CatalogueState;
use crate::upstream::{Upstream, UpstreamError};

/// The gateway: its upstreams and the catalogue they feed.
pub struct Gateway {
    config: Config,
    catalogue: Arc<CatalogueState>,
    upstreams: HashMap<String, Arc<Upstream>>,
    shutdown: CancellationToken,
}

impl Gateway {
    /// Starts a supervisor for every upstream. `base_dir` is the directory relative paths in the
    /// config are taken from.
    pub fn start(config: Config, base_dir: PathBuf, shutdown: CancellationToken) -> Arc<Gateway> {
        let prefixes = config
            .upstreams
            .iter()
            .map(|u| (u.name.clone(), u.prefix.clone()))
            .collect();
        let catalogue = Arc::new(CatalogueState::new(config.exposure.clone(), prefixes));
        let mut upstreams = HashMap::new();
        for spec in &config.upstreams {
            let upstream = Upstream::new(spec.clone(), base_dir.clone());
            tokio::spawn(
                upstream
                    .clone()
                    .supervise(catalogue.clone(), shutdown.child_token()),
            );
            upstreams.insert(spec.name.clone(), upstream);
        }
        Arc::new(Gateway {
            config,
            catalogue,
            upstreams,
            shutdown,
        })
    }

    /// Waits (at most `limit`) until every upstream has been listed once, so that the first
    /// client sees the whole catalogue. Upstreams still down keep reconnecting in the background.
    pub async fn wait_ready(&self, limit: Duration) {
        let all = futures::future::join_all(self.upstreams.values().map(|u| u.wait_listed()));
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("not every upstream answered within {limit:?}; serving what is there");
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Published tool names, in order.
    pub fn published_names(&self) -> Vec<String> {
        let current = self.catalogue.current();
        current
            .catalogue
            .tools()
            .iter()
            .map(|t| t.name.clone())
            .collect()
    }

    /// Stops the upstream supervisors (and so the child processes).
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// The rmcp handler to serve one client connection or session with.
    pub fn handler(self: &Arc<Self>) -> GatewayServer {
        GatewayServer {
            gateway: self.clone(),
        }
    }
}

/// The rmcp server handler; cheap to clone, one per session.
#[derive(Clone)]
pub struct GatewayServer {
    gateway: Arc<Gateway>,
}

fn unknown_tool(name: &str) -> ErrorData {
    let printable = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if printable {
        ErrorData::invalid_params(format!("unknown tool: {name}"), None)
    } else {
        ErrorData::invalid_params("unknown tool", None)
    }
}

impl ServerHandler for GatewayServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("portcullis", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Portcullis gateway: the tools listed are the ones the operator exposed to you.",
            )
    }

    // rmcp answers these with empty results by default; the gateway does not serve them, so
    // they get the spec's "method not found", like every other undeclared method.
    async fn complete(
        &self,
        _request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Err(ErrorData::method_not_found::<CompleteRequestMethod>())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Err(ErrorData::method_not_found::<ListPromptsRequestMethod>())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Err(ErrorData::method_not_found::<ListResourcesRequestMethod>())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Err(ErrorData::method_not_found::<
            ListResourceTemplatesRequestMethod,
        >())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let published = self.gateway.catalogue.current();
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (page, next) = published
            .catalogue
            .page(cursor, self.gateway.config.gateway.page_size, |t| {
                published.typed.contains_key(&t.name)
            })
            .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        let tools = page
            .iter()
            .filter_map(|t| published.typed.get(&t.name).cloned())
            .collect();
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let published = self.gateway.catalogue.current();
        let tool = match published.tool(&request.name) {
            Some(t) if published.typed.contains_key(&t.name) => t,
            _ => return Err(unknown_tool(&request.name)),
        };
        let Some(upstream) = self.gateway.upstreams.get(&tool.upstream) else {
            return Err(unknown_tool(&request.name));
        };
        let progress = context
            .meta
            .get_progress_token()
            .map(|token| (context.peer.clone(), token));
        let arguments = request.arguments.map(serde_json::Value::Object);
        let outcome = upstream
            .call_tool(&tool.upstream_tool, arguments, progress, &context.ct)
            .await;
        match outcome {
            Ok(mut result) => {
                // Legacy upstreams send no `resultType`; modern clients require it. rmcp strips
                // it again for clients that negotiated an older revision.
                if let Some(r) = result.as_object_mut() {
                    r.entry("resultType")
                        .or_insert_with(|| serde_json::Value::String("complete".into()));
                }
                match serde_json::from_value::<CallToolResult>(result) {
                    Ok(result) => Ok(CallToolResponse::Complete(result)),
                    Err(e) => {
                        tracing::warn!(tool = %tool.name, error = %e, "upstream sent an invalid tool result");
                        Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                            ContentBlock::text(format!(
                                "upstream `{}` sent an invalid tool result",
                                tool.upstream
                            )),
                        ])))
                    }
                }
            }
            Err(UpstreamError::Protocol(e)) => Err(ErrorData::new(
                rmcp::model::ErrorCode(e.code as i32),
                e.message,
                e.data,
            )),
            Err(e) => {
                tracing::warn!(tool = %tool.name, error = %e, "tool call failed");
                Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text(e.to_string()),
                ])))
            }
        }
    }
}
