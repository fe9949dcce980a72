//! The ports: the small traits through which the [pipeline](crate::pipeline) consults the world.
//!
//! Core defines them and never implements them with I/O. The gateway implements [`Upstream`]
//! (MCP upstreams and the OpenAPI bridge), [`ContentGuard`] (the guardrail, off the async
//! workers for large values, with its alert webhook), [`ProgressSink`] and [`Clock`]; the store
//! crate implements [`AuditSink`] (the hash-chained file) and [`ApiKeyStore`] (SQLite); the
//! in-memory [`Limiter`](crate::limits::Limiter) implements [`RateStore`]. Tests implement all
//! of them in memory.
//!
//! The store crate implements [`PinStore`] and [`ApprovalStore`] too (SQLite); the gateway's
//! default [`ApprovalQueue`] parks calls in that store until an operator decides.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value;

use crate::approval::{ApprovalState, PendingApproval};
use crate::audit::AuditRecord;
use crate::catalogue::PublishedTool;
use crate::guardrail::Finding;
use crate::keys::KeyInfo;
use crate::limits::{Draw, Limited};
use crate::pins;
use crate::pipeline::Cleared;

/// A future a port returns; boxed so that ports can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The clock could not be read (it stands before the Unix epoch). Whatever depends on the
/// time — key expiry above all — is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system clock cannot be read")]
pub struct ClockError;

/// The time, as the pipeline may know it: passed in, never read behind its back.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn unix_ms(&self) -> Result<u64, ClockError>;
    /// Monotonic time since some fixed origin (rate limits, latencies).
    fn elapsed(&self) -> Duration;
}

/// Where audit records go. `record` must not block on I/O: the sink queues.
pub trait AuditSink: Send + Sync {
    fn record(&self, record: AuditRecord);
    /// Resolves once every record handed over before the call is durable.
    fn flush(&self) -> BoxFuture<'_, ()>;
    /// How long the last record written had waited to be written, for the operator's
    /// metrics; `None` when the sink does not measure it.
    fn write_lag(&self) -> Option<Duration> {
        None
    }
}

/// The key store could not answer. Authentication refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the key store failed: {0}")]
pub struct StoreFailure(pub String);

/// API keys by the SHA-256 of their token. Whether a found key is still good — expiry,
/// revocation, rotation grace — is decided in core ([`crate::keys::check_key`]), with the
/// time passed in.
pub trait ApiKeyStore: Send + Sync {
    fn find(&self, token_hash: &[u8; 32]) -> Result<Option<KeyInfo>, StoreFailure>;
}

/// Rate-limit buckets. Draws from every bucket named, or from none.
pub trait RateStore: Send + Sync {
    fn acquire(&self, draws: &[Draw], now: Duration) -> Result<(), Limited>;
}

impl RateStore for crate::limits::Limiter {
    fn acquire(&self, draws: &[Draw], now: Duration) -> Result<(), Limited> {
        crate::limits::Limiter::acquire(self, draws, now)
    }
}

/// Why an upstream produced no result. Only the pipeline turns it into what a client sees.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamFailure {
    #[error("upstream `{0}` is not connected; it is being restarted")]
    Unavailable(String),
    #[error("upstream `{upstream}` did not answer within {}s", timeout.as_secs_f32())]
    Timeout { upstream: String, timeout: Duration },
    #[error("the call was cancelled")]
    Cancelled,
    /// The upstream answered with a JSON-RPC error.
    #[error("upstream error {code}: {message}")]
    Rpc {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// The gateway's side of the upstream refused the exchange (an answer over the size cap,
    /// say); the reason names what is wrong, never a value, a URL or a transport error, and is
    /// shown to the client.
    #[error("refused: {0}")]
    Refused(String),
    /// Anything else; `detail` is for the operator only.
    #[error("upstream `{upstream}` failed: {detail}")]
    Failed { upstream: String, detail: String },
}

/// Where an upstream's progress notifications for one call go (the client, under its own
/// progress token). The pipeline puts the guardrail and redaction in front of it.
pub trait ProgressSink: Send + Sync {
    /// `params` is the upstream's `notifications/progress` params.
    fn send(&self, params: Value) -> BoxFuture<'_, ()>;
}

/// A source of tools: an MCP server or an HTTP API. It can only be called with a [`Cleared`]
/// call, which only the pipeline makes.
pub trait Upstream: Send + Sync {
    /// Calls the tool the call was cleared for and returns the upstream's raw result. Dropping
    /// the future cancels the call upstream.
    ///
    /// While it serves the call, the upstream may reach the client through `client`: its
    /// progress, and its requests (`sampling/createMessage`, …) and log messages through
    /// `client.channel`. `client.user` is always `None` here.
    fn call<'a>(
        &'a self,
        call: Cleared,
        client: ClientPorts<'a>,
    ) -> BoxFuture<'a, Result<Value, UpstreamFailure>>;

    /// Sends `method` (`resources/read`, `prompts/get`, `completion/complete`) with the cleared
    /// call's arguments as its params, and returns the upstream's raw result. An upstream that
    /// serves tools only refuses.
    fn request<'a>(
        &'a self,
        method: &'a str,
        call: Cleared,
    ) -> BoxFuture<'a, Result<Value, UpstreamFailure>> {
        let _ = (method, call);
        Box::pin(std::future::ready(Err(UpstreamFailure::Refused(
            "this upstream serves tools only".into(),
        ))))
    }
}

/// Which part of a call is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Arguments,
    /// A result, an upstream's error, or a progress message: text the model will read.
    Result,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Arguments => "arguments",
            Direction::Result => "result",
        }
    }
}

/// Who a scan is for, for the log and alerts.
#[derive(Debug, Clone, Copy)]
pub struct ScanContext<'a> {
    pub request_id: &'a str,
    pub principal: &'a str,
    /// When the request came in (RFC 3339).
    pub time: &'a str,
}

/// What a scan found, and whether the value may pass.
#[derive(Debug)]
pub struct Checked {
    pub value: Value,
    /// Recorded in the audit record.
    pub findings: Vec<Finding>,
    /// The message for the client when the value must not pass (it never quotes the value).
    pub refusal: Option<String>,
}

/// The prompt-injection guardrail, in the mode the tool or the gateway sets.
pub trait ContentGuard: Send + Sync {
    fn check<'a>(
        &'a self,
        tool: &'a PublishedTool,
        direction: Direction,
        value: Value,
        context: ScanContext<'a>,
    ) -> BoxFuture<'a, Checked>;
}

/// What the user answered, or that the client must ask first.
#[derive(Debug, Clone, PartialEq)]
pub enum UserAnswer {
    /// An explicit yes.
    Yes,
    /// Anything else (no, decline, cancel).
    No,
    /// The client must ask its user and send the call again with the answer: the 2026-07-28
    /// input-required result to send (it carries the question and the signed request state).
    AskFirst(Value),
}

/// The user of the client whose call is served, asked through the client (MCP elicitation).
/// The gateway offers one only for a client that declared it can ask.
pub trait UserPrompt: Send + Sync {
    /// Asks the user to allow one call. `binding` is what the answer must belong to (the call's
    /// tool, arguments and caller, hashed).
    fn confirm<'a>(
        &'a self,
        message: &'a str,
        binding: &'a str,
    ) -> BoxFuture<'a, Result<UserAnswer, String>>;
}

/// What the pipeline may ask of the client whose call it serves.
#[derive(Clone, Copy, Default)]
pub struct ClientPorts<'a> {
    /// Where the upstream's progress goes, when the client gave a progress token.
    pub progress: Option<&'a dyn ProgressSink>,
    /// Its user, when the client can ask them.
    pub user: Option<&'a dyn UserPrompt>,
    /// Where the upstream's own requests and log messages for this call go.
    pub channel: Option<&'a dyn ClientChannel>,
    /// A 2026-07-28 retry: the client's answers to what the upstream asked in its
    /// input-required result, to send with the call.
    pub resume: Option<&'a Resume>,
}

/// The client's answers to an upstream's input-required result, and the upstream's request
/// state they go with.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    pub responses: Value,
    pub state: Option<String>,
}

/// A request from an upstream to a client, as the MCP method names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRequestKind {
    /// `sampling/createMessage`: the client's model writes for the upstream.
    Sampling,
    /// `elicitation/create`: the client's user is asked.
    Elicitation,
    /// `roots/list`: the client's roots.
    Roots,
}

impl ClientRequestKind {
    pub fn of(method: &str) -> Option<ClientRequestKind> {
        match method {
            "sampling/createMessage" => Some(Self::Sampling),
            "elicitation/create" => Some(Self::Elicitation),
            "roots/list" => Some(Self::Roots),
            _ => None,
        }
    }

    pub fn method(self) -> &'static str {
        match self {
            Self::Sampling => "sampling/createMessage",
            Self::Elicitation => "elicitation/create",
            Self::Roots => "roots/list",
        }
    }

    /// The client capability it needs.
    pub fn capability(self) -> &'static str {
        match self {
            Self::Sampling => "sampling",
            Self::Elicitation => "elicitation",
            Self::Roots => "roots",
        }
    }
}

/// Why a request from an upstream got no answer from the client; the message is the
/// upstream's to read.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRequestError {
    pub code: i64,
    pub message: String,
}

/// The client whose call an upstream is serving, as that upstream may reach it.
pub trait ClientChannel: Send + Sync {
    /// Who the client is (the caller and its session), so that an upstream's message that
    /// names no call reaches a client only when every call in flight is that client's.
    fn owner(&self) -> &str;
    /// Sends an upstream's request to the client and returns the client's result.
    fn request(
        &self,
        kind: ClientRequestKind,
        params: Value,
    ) -> BoxFuture<'_, Result<Value, ClientRequestError>>;
    /// Sends an upstream's log message (`notifications/message` params) to the client, if
    /// its level passes the client's `logging/setLevel`.
    fn log(&self, params: Value) -> BoxFuture<'_, ()>;
    /// Whether the client answers the upstream's requests in input-required results (a
    /// 2026-07-28 request) rather than in the middle of the call.
    fn answers_in_results(&self) -> bool {
        false
    }
    /// Checks, and records, one request passed to the client inside an input-required result.
    fn pass_on(&self, kind: ClientRequestKind) -> Result<(), ClientRequestError> {
        Err(ClientRequestError {
            code: -32603,
            message: format!("the client cannot answer {}", kind.method()),
        })
    }
}

/// A call that waits for a human's decision.
#[derive(Clone, Copy)]
pub struct ApprovalRequest<'a> {
    pub tool: &'a PublishedTool,
    /// The arguments as a person may see them: redacted.
    pub shown_arguments: &'a Value,
    /// The principal calling.
    pub principal: &'a str,
    pub request_id: &'a str,
    /// What the decision is bound to ([`crate::approval::call_hash`]).
    pub call_hash: &'a str,
    /// Where "waiting for approval" progress goes, when the client gave a progress token.
    pub progress: Option<&'a dyn ProgressSink>,
}

/// A human's decision on a call that needs one: the operator's queue in the data directory
/// by default, or an embedder's own channel (its UI, a ticket system).
pub trait ApprovalQueue: Send + Sync {
    /// `Ok(())` lets the call go on; `Err(reason)` refuses it (timeouts and failures refuse).
    /// The reason is recorded and shown to the client.
    fn decide<'a>(&'a self, request: ApprovalRequest<'a>) -> BoxFuture<'a, Result<(), String>>;
}

/// No approval channel at all: every call that needs approval is refused.
pub struct NoApprovals;

impl ApprovalQueue for NoApprovals {
    fn decide<'a>(&'a self, _request: ApprovalRequest<'a>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(std::future::ready(Err(
            "no approval channel is configured, so calls that need approval are refused".into(),
        )))
    }
}

/// One call, as an embedder's hook sees it.
#[derive(Clone, Copy)]
pub struct HookCall<'a> {
    pub tool: &'a PublishedTool,
    pub principal: &'a crate::Principal,
    /// The arguments as they will reach the upstream (they passed the guardrail).
    pub arguments: Option<&'a Value>,
    pub request_id: &'a str,
}

/// What a pre-call hook decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeforeCall {
    Allow,
    /// Refuse the call; the reason is recorded and shown to the client.
    Deny(String),
    /// The call waits for this approval first (hooks only narrow: `None` is `Allow`).
    RequireApproval(crate::approval::ApprovalMode),
}

/// What a post-call hook decides about the upstream's result.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterCall {
    Pass,
    /// Keep the result from the client; the reason is recorded and shown.
    Withhold(String),
    /// Send this result instead. It still goes through the guardrail and redaction.
    Replace(Value),
}

/// An embedder's code at the seams of every call, inside the pipeline: after authorization and
/// the rules (a hook cannot grant what they refuse), and on the result before the guardrail
/// and redaction (a hook cannot bypass them). Every decision is in the call's audit record.
pub trait CallHook: Send + Sync {
    fn before<'a>(&'a self, call: HookCall<'a>) -> BoxFuture<'a, BeforeCall> {
        let _ = call;
        Box::pin(std::future::ready(BeforeCall::Allow))
    }
    fn after<'a>(&'a self, call: HookCall<'a>, result: &'a Value) -> BoxFuture<'a, AfterCall> {
        let _ = (call, result);
        Box::pin(std::future::ready(AfterCall::Pass))
    }
}

/// Credentials an embedder computes for an upstream (a token from its own vault, say), asked
/// each time the gateway connects to an HTTP MCP upstream and for each request of an OpenAPI
/// upstream. They are sent beside the config's `headers` and replace a header of the same name.
pub trait UpstreamCredentials: Send + Sync {
    fn headers<'a>(
        &'a self,
        upstream: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, String>>;
}

/// Calls parked for an operator's decision (see [`crate::approval`]). Operators decide through
/// the store too (`portcullis approvals`), once per call.
pub trait ApprovalStore: Send + Sync {
    fn park(&self, pending: &PendingApproval) -> Result<(), StoreFailure>;
    fn state(&self, id: &str) -> Result<Option<ApprovalState>, StoreFailure>;
    /// Ends a pending call without a decision (timeout, failure); false when it was decided
    /// already (then its decision stands).
    fn expire(&self, id: &str, reason: &str) -> Result<bool, StoreFailure>;
    /// Ends every pending call (at start: the calls they held died with the last process).
    fn expire_all(&self, reason: &str) -> Result<Vec<PendingApproval>, StoreFailure>;
    /// Changes whenever another process may have decided something.
    fn version(&self) -> Result<i64, StoreFailure>;
}

/// Pinned tool definitions, by published name (see [`crate::pins`]).
pub trait PinStore: Send + Sync {
    fn get(&self, tool: &str) -> Result<Option<pins::Pin>, StoreFailure>;
    /// Every pin, by tool name.
    fn list(&self) -> Result<Vec<pins::Pin>, StoreFailure>;
    /// Pins `definition` (hashing to `hash`) for `tool`, as accepted by `by` at `at` (Unix
    /// ms); a candidate and a rejection end.
    fn pin(&self, pin: NewPin<'_>, by: &str) -> Result<(), StoreFailure>;
    /// Keeps `definition` as the candidate waiting for an operator.
    fn propose(&self, pin: NewPin<'_>) -> Result<(), StoreFailure>;
    /// A number that changes whenever another process may have changed the pins (an operator
    /// accepting a candidate): the gateway then checks its catalogue again.
    fn version(&self) -> Result<i64, StoreFailure>;
}

/// A definition to pin or propose.
#[derive(Debug, Clone, Copy)]
pub struct NewPin<'a> {
    pub tool: &'a str,
    pub upstream: &'a str,
    pub definition: &'a Value,
    pub hash: &'a str,
    /// Unix milliseconds.
    pub at: u64,
}

/// What `portcullis login` obtained for one upstream: kept encrypted by the store, refreshed
/// by the gateway, sent to that upstream only.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct UpstreamLogin {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token expires (Unix seconds), if the server said.
    pub expires_at: Option<u64>,
    pub token_endpoint: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// The upstream's URL, sent as the RFC 8707 `resource`.
    pub resource: String,
    pub scope: Option<String>,
    pub issuer: String,
    /// When the login (or the last refresh) happened (Unix seconds).
    pub obtained_at: u64,
    /// Why the gateway can no longer use it (the server refused a refresh): log in again.
    pub broken: Option<String>,
}

impl std::fmt::Debug for UpstreamLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens or the secret.
        f.debug_struct("UpstreamLogin")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("expires_at", &self.expires_at)
            .field("refreshable", &self.refresh_token.is_some())
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl UpstreamLogin {
    /// One line for `serve`, `doctor` and `login status`, at `now` (Unix seconds).
    pub fn status(&self, now: u64) -> String {
        if let Some(why) = &self.broken {
            return format!("login needed: {why}");
        }
        let refresh = if self.refresh_token.is_some() {
            "refreshed unattended"
        } else {
            "no refresh token: log in again when it expires"
        };
        match self.expires_at {
            Some(at) if at <= now => format!("access token expired {} s ago; {refresh}", now - at),
            Some(at) => format!("access token valid for {} s more; {refresh}", at - now),
            None => format!("access token without an expiry; {refresh}"),
        }
    }
}

/// Where upstream logins are kept (encrypted at rest by the store).
pub trait LoginStore: Send + Sync {
    fn get(&self, upstream: &str) -> Result<Option<UpstreamLogin>, StoreFailure>;
    fn put(&self, upstream: &str, login: &UpstreamLogin) -> Result<(), StoreFailure>;
    /// Forgets the login; false when there was none.
    fn remove(&self, upstream: &str) -> Result<bool, StoreFailure>;
}
