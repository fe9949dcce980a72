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
use rmcp::model::{ErrorCode, ProgressToken, Tool};
use rmcp::service::{Peer, RequestContext, RoleServer};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::catalogue::CatalogueState;
use crate::rpc::RpcError;
use crate::upstream::{Upstream, UpstreamError};

/// The gateway: its upstreams and the catalogue they feed.
pub struct Gateway {
    config: Config,
    catalogue: Arc<CatalogueState>,
    upstreams: HashMap<String, Arc<Upstream>>,
    shutdown: CancellationToken,
    supervisors: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
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
        let mut supervisors = Vec::new();
        for spec in &config.upstreams {
            let upstream = Upstream::new(spec.clone(), base_dir.clone());
            supervisors.push(tokio::spawn(
                upstream
                    .clone()
                    .supervise(catalogue.clone(), shutdown.child_token()),
            ));
            upstreams.insert(spec.name.clone(), upstream);
        }
        Arc::new(Gateway {
            config,
            catalogue,
            upstreams,
            shutdown,
            supervisors: std::sync::Mutex::new(supervisors),
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

    /// The published tool `name`, in rmcp's typed form, if there is one.
    pub fn typed_tool(&self, name: &str) -> Option<Tool> {
        self.catalogue.current().typed.get(name).cloned()
    }

    /// Whether `name` is published and declares no `x-mcp-header` parameters (whose headers
    /// rmcp checks against the body).
    pub fn is_plain_tool(&self, name: &str) -> bool {
        let published = self.catalogue.current();
        published.typed.contains_key(name) && !published.header_params.contains(name)
    }

    /// Every `tools/call`, whichever way it arrived, goes through here. The result is the
    /// upstream's raw result, with `resultType`.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<Value>,
        progress: Option<(Peer<RoleServer>, ProgressToken)>,
        cancelled: &CancellationToken,
    ) -> Result<Value, ToolCallError> {
        let published = self.catalogue.current();
        let tool = published
            .tool(name)
            .filter(|t| published.typed.contains_key(&t.name))
            .ok_or(ToolCallError::Unknown)?;
        let upstream = self
            .upstreams
            .get(&tool.upstream)
            .ok_or(ToolCallError::Unknown)?;
        match upstream
            .call_tool(&tool.upstream_tool, arguments, progress, cancelled)
            .await
        {
            Ok(Value::Object(mut result)) => {
                // Legacy upstreams send no `resultType`; modern clients require it (and rmcp
                // strips it for clients that negotiated an older revision).
                result
                    .entry("resultType")
                    .or_insert_with(|| Value::String("complete".into()));
                Ok(Value::Object(result))
            }
            Ok(_) => Err(ToolCallError::Failed(format!(
                "upstream `{}` sent an invalid tool result",
                tool.upstream
            ))),
            Err(UpstreamError::Protocol(e)) => Err(ToolCallError::Upstream(e)),
            Err(e) => {
                tracing::warn!(tool = %tool.name, error = %e, "tool call failed");
                Err(ToolCallError::Failed(e.to_string()))
            }
        }
    }

    /// Stops the upstream supervisors and waits (a few seconds at most) until they have closed
    /// their connections and stopped their child processes.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let supervisors = std::mem::take(
            &mut *self
                .supervisors
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        let all = futures::future::join_all(supervisors);
        if tokio::time::timeout(Duration::from_secs(5), all)
            .await
            .is_err()
        {
            tracing::warn!("some upstream did not stop within 5 s");
        }
    }

    /// The rmcp handler to serve one client connection or session with.
    pub fn handler(self: &Arc<Self>) -> GatewayServer {
        GatewayServer {
            gateway: self.clone(),
        }
    }
}

/// Why a `tools/call` produced no upstream result.
#[derive(Debug)]
pub enum ToolCallError {
    /// Not published (reads exactly like a tool that does not exist).
    Unknown,
    /// The upstream answered with a JSON-RPC error, passed on as it is.
    Upstream(RpcError),
    /// The upstream could not be reached, timed out or misbehaved; the client gets a tool
    /// result with `isError: true` and this text.
    Failed(String),
}

/// A tool result that reports a failure to the model.
pub fn failure_result(message: &str) -> Value {
    json!({
        "resultType": "complete",
        "content": [{"type": "text", "text": message}],
        "isError": true,
    })
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

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.gateway.typed_tool(name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let progress = context
            .meta
            .get_progress_token()
            .map(|token| (context.peer.clone(), token));
        let arguments = request.arguments.map(Value::Object);
        let result = match self
            .gateway
            .call_tool(&request.name, arguments, progress, &context.ct)
            .await
        {
            Ok(result) => result,
            Err(ToolCallError::Unknown) => return Err(unknown_tool(&request.name)),
            Err(ToolCallError::Upstream(e)) => {
                return Err(ErrorData::new(ErrorCode(e.code as i32), e.message, e.data));
            }
            Err(ToolCallError::Failed(message)) => failure_result(&message),
        };
        serde_json::from_value::<CallToolResult>(result)
            .map(CallToolResponse::Complete)
            .or_else(|e| {
                tracing::warn!(tool = %request.name, error = %e, "upstream sent an invalid tool result");
                Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text("the upstream sent an invalid tool result"),
                ])))
            })
    }
}
