//! The MCP server clients talk to: one [`Gateway`] shared by every transport and session.
//!
//! `tools/list` serves each caller the published tools it may call, with the gateway's own
//! cursors. Every `tools/call` goes through the core [`Pipeline`], whose refusals reach the
//! client through [`wire::render`](crate::wire::render). A name that is not published, or not
//! for this caller, reads as unknown (`-32602`). Resources, prompts and completions are
//! served (through [`crate::relay`]) and declared only when the config publishes some;
//! otherwise their methods, like every undeclared one, get "method not found". Each session
//! keeps its log level, and a task that tells its client when what it may see changed.
//!
//! Over HTTP each request's [`Exchange`] was begun at the edge and rides in the request's
//! extensions; over stdio the handler begins one per request.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::approval::call_hash;
use portcullis_core::audit::{Decision, Outcome};
use portcullis_core::catalogue::page_of;
use portcullis_core::limits::{Limited, Limiter, Usage};
use portcullis_core::lint::LintFinding;
use portcullis_core::pipeline::Pipeline;
use portcullis_core::poisoning::PoisonScan;
use portcullis_core::policy::Denial;
use portcullis_core::ports::{
    ApprovalQueue, ApprovalStore, AuditSink, BoxFuture, CallHook, ClientPorts, Clock, LoginStore,
    NoApprovals, PinStore, ProgressSink, Resume, UpstreamCredentials, UserPrompt,
};
use portcullis_core::{
    Caller, Config, Exchange, Principal, PublishedTool, Refusal, authorize, may_see,
};
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, ErrorData, GetPromptRequestParams, GetPromptResponse, GetPromptResult,
    Implementation, InitializeRequestParams, InitializeResult, InputRequiredResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, ServerCapabilities, ServerConfig,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
use tracing::Instrument;
// Logging is deprecated from 2026-07-28 on; earlier revisions' clients still set levels.
#[allow(deprecated)]
use rmcp::model::SetLevelRequestParams;
use rmcp::model::{ProgressToken, Tool};
use rmcp::service::{NotificationContext, Peer, RequestContext, RoleServer};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::approvals::Parking;
use crate::auth::{AuthFailure, Authenticator};
use crate::catalogue::{CatalogueState, Checks};
use crate::context::Recorder;
use crate::elicit::{AskingInResult, ElicitingClient, StateSeal};

/// The kind of request state that carries an upstream's own (see [`StateSeal`]).
const UPSTREAM_INPUT_STATE: &str = "pu1";
use crate::guard::Guard;
use crate::offers::Subscriptions;
use crate::openapi::EmbeddedApp;
use crate::relay::{self, Declared, Session, SessionChannel, subscription_target};
use crate::upstream::Upstream;
use crate::wire;

/// A random key; if the system cannot give one, a key no answer will match (questions then
/// cannot be answered, which refuses their calls).
fn random_key() -> [u8; 64] {
    let mut key = [0u8; 64];
    if let Err(e) = getrandom::fill(&mut key) {
        tracing::error!(error = %e, "no random key for approval questions; users cannot approve 2026-07-28 calls");
        key = [0xa5; 64];
        key[0] = 0;
    }
    key
}

/// How often the pin store is asked whether an operator decided something.
const PIN_POLL: Duration = Duration::from_secs(1);

/// Republishes whenever the pins change by another hand (`portcullis pins accept`), so that an
/// accepted definition is served again without a restart.
async fn watch_pins(
    pins: Arc<dyn PinStore>,
    catalogue: Arc<CatalogueState>,
    shutdown: CancellationToken,
) {
    let mut seen = pins.version().ok();
    let mut tick = tokio::time::interval(PIN_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let now = pins.version().ok();
        if now != seen {
            seen = now;
            let catalogue = catalogue.clone();
            // SQLite is read on a blocking thread, not on the async workers.
            let _ = tokio::task::spawn_blocking(move || catalogue.republish(None)).await;
        }
    }
}

/// What the gateway writes to and reads the time from.
#[derive(Clone)]
pub struct Ports {
    pub audit: Arc<dyn AuditSink>,
    pub clock: Arc<dyn Clock>,
    /// Where tool definitions are pinned; `None` publishes without pinning (`lint --live`).
    pub pins: Option<Arc<dyn PinStore>>,
    /// Where calls wait for an operator; `None` refuses every call that needs approval.
    pub approvals: Option<Arc<dyn ApprovalStore>>,
    /// An embedder's own approval channel, used instead of `approvals`.
    pub approval_queue: Option<Arc<dyn ApprovalQueue>>,
    /// An embedder's hooks at the seams of every call.
    pub hooks: Vec<Arc<dyn CallHook>>,
    /// An embedder's computed upstream credentials.
    pub credentials: Option<Arc<dyn UpstreamCredentials>>,
    /// Where upstream logins (`portcullis login`) are kept; `None`: an upstream with `login`
    /// cannot connect.
    pub logins: Option<Arc<dyn LoginStore>>,
}

impl Ports {
    /// The audit sink and the clock, and nothing else: no pins, no approval store (calls that
    /// need approval are refused), no hooks.
    pub fn new(audit: Arc<dyn AuditSink>, clock: Arc<dyn Clock>) -> Ports {
        Ports {
            audit,
            clock,
            pins: None,
            approvals: None,
            approval_queue: None,
            hooks: Vec::new(),
            credentials: None,
            logins: None,
        }
    }
}

/// The gateway: its upstreams, the catalogue they feed, and the pipeline calls go through.
///
/// What comes from the config is one [`Generation`], replaced whole by [`Gateway::reload`]; a
/// request holds the generation it started on until it ends, so a reload never changes the
/// rules under a call in flight.
pub struct Gateway {
    generation: std::sync::RwLock<Arc<Generation>>,
    /// What builds the next generation.
    making: Making,
    auth: Authenticator,
    recorder: Recorder,
    limiter: Arc<Limiter>,
    catalogue: Arc<CatalogueState>,
    shutdown: CancellationToken,
    /// Signs the request state of 2026-07-28 approval questions (new at each start).
    approval_key: [u8; 64],
    subscriptions: Arc<Subscriptions>,
}

/// The config the gateway runs on, with the pipeline and the upstreams made from it.
pub struct Generation {
    pub config: Config,
    pub(crate) pipeline: Pipeline,
    upstreams: HashMap<String, Arc<Running>>,
}

impl std::ops::Deref for Generation {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.config
    }
}

/// An upstream whose supervisor runs until no generation holds it any more: an upstream
/// removed by a reload stops once the calls that began before it have ended.
struct Running {
    upstream: Arc<Upstream>,
    /// Its settings as written, and the offers it is asked for: what a reload compares.
    settings: (Option<toml::Value>, String, (bool, bool)),
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What stays from one generation to the next and goes into each (the catalogue, the limits
/// and the subscriptions are the gateway's own, shared).
struct Making {
    base_dir: PathBuf,
    apps: HashMap<String, EmbeddedApp>,
    credentials: Option<Arc<dyn UpstreamCredentials>>,
    logins: Option<Arc<dyn LoginStore>>,
    approvals: Arc<dyn ApprovalQueue>,
    hooks: Vec<Arc<dyn CallHook>>,
    catalogue: Arc<CatalogueState>,
    limiter: Arc<Limiter>,
    subscriptions: Arc<Subscriptions>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
    supervisors: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Making {
    /// The generation `config` makes, keeping the running upstreams of `previous` whose
    /// settings are the same.
    fn generation(&self, config: Config, previous: Option<&Generation>) -> (Generation, Reloaded) {
        let mut reloaded = Reloaded::default();
        let mut upstreams = HashMap::new();
        let mut supervisors = Vec::new();
        for spec in &config.upstreams {
            let wants = config.offers.wants(&spec.name);
            let settings = (
                config.source.upstream(&spec.name).cloned(),
                spec.prefix.clone(),
                wants,
            );
            let kept = previous
                .and_then(|p| p.upstreams.get(&spec.name))
                .filter(|running| running.settings == settings);
            if let Some(running) = kept {
                upstreams.insert(spec.name.clone(), running.clone());
                continue;
            }
            let upstream = match Upstream::new(
                spec.clone(),
                self.base_dir.clone(),
                self.apps.get(&spec.name).cloned(),
                self.credentials.clone(),
                self.logins.clone(),
                wants,
                self.subscriptions.clone(),
            ) {
                Ok(upstream) => upstream,
                Err(e) => {
                    tracing::error!(upstream = %spec.name, error = %e, "cannot set up the upstream; its tools stay unpublished");
                    continue;
                }
            };
            let stop = self.shutdown.child_token();
            supervisors.push(tokio::spawn(
                upstream
                    .clone()
                    .supervise(self.catalogue.clone(), stop.clone()),
            ));
            reloaded.started.push(spec.name.clone());
            upstreams.insert(
                spec.name.clone(),
                Arc::new(Running {
                    upstream,
                    settings,
                    stop,
                }),
            );
        }
        if let Some(previous) = previous {
            reloaded.stopped = previous
                .upstreams
                .iter()
                .filter(|(name, running)| {
                    upstreams
                        .get(*name)
                        .is_none_or(|now| !Arc::ptr_eq(now, running))
                })
                .map(|(name, _)| name.clone())
                .collect();
            reloaded.stopped.sort();
        }
        let mut running = self
            .supervisors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        running.retain(|handle| !handle.is_finished());
        running.extend(supervisors);
        drop(running);
        let pipeline = Pipeline {
            access: config.access.clone(),
            limits: config.limits.clone(),
            redaction: config.redaction.clone(),
            upstreams: upstreams
                .iter()
                .map(|(n, r)| (n.clone(), r.upstream.port()))
                .collect(),
            rates: self.limiter.clone(),
            guard: Arc::new(Guard::new(config.guardrail.clone())),
            approvals: self.approvals.clone(),
            hooks: self.hooks.clone(),
            rules: config.rules.clone(),
            clock: self.clock.clone(),
        };
        (
            Generation {
                config,
                pipeline,
                upstreams,
            },
            reloaded,
        )
    }
}

/// What a reload changed.
#[derive(Debug, Default)]
pub struct Reloaded {
    /// Upstreams started (new, or whose settings changed).
    pub started: Vec<String>,
    /// Upstreams stopped (removed, or whose settings changed).
    pub stopped: Vec<String>,
    /// Sections that changed but apply only at the next start.
    pub needs_restart: Vec<&'static str>,
}

/// The sections a running gateway cannot apply: the listeners, how callers authenticate, how
/// approvals wait, where audit records and traces go, the key of upstream logins.
const START_ONLY: [&str; 7] = [
    "gateway",
    "auth",
    "approvals",
    "admin",
    "audit",
    "telemetry",
    "tokens",
];

/// The keys of `[gateway]` a reload applies (the rest are the listener's).
const GATEWAY_LIVE: [&str; 4] = ["catalogue", "page_size", "pins", "separator"];

/// Section `key` of `source` as far as only a start applies it.
fn start_only(source: &portcullis_core::config::ConfigSource, key: &str) -> Option<toml::Value> {
    let mut section = source.section(key)?.clone();
    if key == "gateway"
        && let Some(table) = section.as_table_mut()
    {
        table.retain(|k, _| !GATEWAY_LIVE.contains(&k));
    }
    Some(section)
}

fn poison_scan(config: &Config) -> Option<PoisonScan> {
    PoisonScan::new((*config.guardrail.engine).clone())
        .inspect_err(|e| tracing::error!(error = %e, "the tool-poisoning scan cannot start; no tool is published"))
        .ok()
}

impl Gateway {
    /// Starts a supervisor for every upstream. `base_dir` is the directory relative paths in the
    /// config are taken from.
    pub fn start(
        config: Config,
        base_dir: PathBuf,
        auth: Authenticator,
        ports: Ports,
        shutdown: CancellationToken,
    ) -> Arc<Gateway> {
        Self::start_with_apps(config, base_dir, auth, ports, shutdown, HashMap::new())
    }

    /// Like [`Gateway::start`], with the in-process APIs behind `embedded = true` OpenAPI
    /// upstreams, by upstream name.
    pub fn start_with_apps(
        config: Config,
        base_dir: PathBuf,
        auth: Authenticator,
        ports: Ports,
        shutdown: CancellationToken,
        apps: HashMap<String, EmbeddedApp>,
    ) -> Arc<Gateway> {
        let mut supervisors = Vec::new();
        let recorder = Recorder {
            sink: ports.audit,
            clock: ports.clock,
        };
        let catalogue = Arc::new(CatalogueState::new(Checks {
            poisoning: poison_scan(&config),
            config: config.clone(),
            pins: ports.pins.clone(),
            recorder: Some(recorder.clone()),
        }));
        if let Some(pins) = ports.pins {
            supervisors.push(tokio::spawn(watch_pins(
                pins,
                catalogue.clone(),
                shutdown.child_token(),
            )));
        }
        let approvals = match (ports.approval_queue, ports.approvals) {
            (Some(queue), _) => queue,
            (None, Some(store)) => Arc::new(Parking::start(
                store,
                config.approvals.clone(),
                recorder.clone(),
            )),
            (None, None) => Arc::new(NoApprovals),
        };
        let limiter = Arc::new(Limiter::new(MAX_LIMIT_BUCKETS));
        let subscriptions = Arc::new(Subscriptions::default());
        let making = Making {
            base_dir,
            apps,
            credentials: ports.credentials,
            logins: ports.logins,
            approvals,
            hooks: ports.hooks,
            catalogue: catalogue.clone(),
            limiter: limiter.clone(),
            subscriptions: subscriptions.clone(),
            clock: recorder.clock.clone(),
            shutdown: shutdown.clone(),
            supervisors: std::sync::Mutex::new(supervisors),
        };
        let (first, _) = making.generation(config, None);
        Arc::new(Gateway {
            generation: std::sync::RwLock::new(Arc::new(first)),
            making,
            auth,
            recorder,
            limiter,
            catalogue,
            shutdown,
            approval_key: random_key(),
            subscriptions,
        })
    }

    /// Runs on `config` from now on. Upstreams whose section did not change keep their
    /// connection (and process); the others start afresh, and those no longer configured stop
    /// once the calls that began before the reload have ended. The catalogue is rebuilt, and
    /// every session whose view changed is told. `config` must have passed the checks a start
    /// makes; sections only a start applies are named in [`Reloaded::needs_restart`].
    pub fn reload(&self, config: Config) -> Reloaded {
        let previous = self.generation();
        let (next, mut reloaded) = self.making.generation(config, Some(&previous));
        reloaded.needs_restart = START_ONLY
            .into_iter()
            .filter(|key| start_only(&previous.source, key) != start_only(&next.source, key))
            .collect();
        let poisoning = poison_scan(&next.config);
        let config = next.config.clone();
        *self.write_generation() = Arc::new(next);
        drop(previous);
        self.catalogue.reconfigure(config, poisoning);
        reloaded
    }

    fn write_generation(&self) -> std::sync::RwLockWriteGuard<'_, Arc<Generation>> {
        self.generation
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The generation requests start on now; a request keeps the one it started on.
    pub fn generation(&self) -> Arc<Generation> {
        self.generation
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// What is published now: tools, resources, templates and prompts.
    pub(crate) fn current(&self) -> Arc<crate::catalogue::Published> {
        self.catalogue.current()
    }

    pub(crate) fn upstream(&self, name: &str) -> Option<Arc<Upstream>> {
        let generation = self.generation();
        generation.upstreams.get(name).map(|r| r.upstream.clone())
    }

    /// Waits (at most `limit`) until every upstream has been listed once, so that the first
    /// client sees the whole catalogue. Upstreams still down keep reconnecting in the background.
    pub async fn wait_ready(&self, limit: Duration) {
        let generation = self.generation();
        let all = futures::future::join_all(
            generation
                .upstreams
                .values()
                .map(|r| r.upstream.wait_listed()),
        );
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("not every upstream answered within {limit:?}; serving what is there");
        }
    }

    /// The config requests start on now (it derefs to [`Config`]).
    pub fn config(&self) -> Arc<Generation> {
        self.generation()
    }

    /// Published resources, templates and prompts, in order, with the scopes each requires.
    pub fn published_offers(&self) -> Vec<(String, Vec<String>)> {
        let current = self.catalogue.current();
        current
            .offers
            .items()
            .map(|t| (t.name.clone(), t.scopes.iter().cloned().collect()))
            .collect()
    }

    /// Published tools, in order, with the scopes each requires (none: public on purpose).
    pub fn published(&self) -> Vec<(String, Vec<String>)> {
        let current = self.catalogue.current();
        current
            .catalogue
            .tools()
            .iter()
            .map(|t| (t.name.clone(), t.scopes.iter().cloned().collect()))
            .collect()
    }

    /// The latest listing of every upstream listed so far (for `lint --live`).
    pub fn listings(&self) -> Vec<portcullis_core::UpstreamListing> {
        self.catalogue.listings()
    }

    /// The pre-flight audit's blocking findings over what the upstreams list now (for
    /// `serve`, which refuses to start on any; call after [`Gateway::wait_ready`]).
    pub fn blocking_findings(&self) -> Result<Vec<LintFinding>, String> {
        let found = crate::preflight::audit(&self.config(), &self.catalogue.listings())?;
        Ok(found.into_iter().filter(LintFinding::blocks).collect())
    }

    /// The `[[expose]]` names and globs that match nothing the upstreams listed, as
    /// `(entry index, pattern)` (for `check --live`; call after [`Gateway::wait_ready`]).
    pub fn unmatched_patterns(&self) -> Vec<(usize, String)> {
        let mut listings = self.catalogue.listings();
        for listing in &mut listings {
            // Every tool counts, whenever it appeared.
            listing.first_seen = listing
                .tools
                .iter()
                .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
                .collect();
        }
        let mut unmatched = Vec::new();
        let config = self.config();
        for (i, rule) in config.exposure.rules().iter().enumerate() {
            for pattern in &rule.patterns {
                let mut alone = rule.clone();
                alone.patterns = vec![pattern.clone()];
                let exposure = portcullis_core::Exposure::new(vec![alone]);
                let (catalogue, _) = portcullis_core::Catalogue::build(&exposure, &listings);
                if catalogue.is_empty() {
                    unmatched.push((i, pattern.as_str().to_string()));
                }
            }
        }
        unmatched
    }

    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// Where every request's record starts.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Counts a request refused for its credentials against its source address.
    pub fn charge_unauthenticated(&self, source: &str) -> Result<(), Limited> {
        self.generation().pipeline.charge_unauthenticated(source)
    }

    /// Current use of every limit.
    pub fn limit_usage(&self) -> Vec<Usage> {
        self.limiter.usage(self.recorder.clock.elapsed())
    }

    /// Lets the caller `who` start afresh on its own limits and budget; returns how many
    /// buckets were forgotten.
    pub fn reset_limits(&self, who: &str) -> usize {
        self.limiter.reset(who)
    }

    /// How each upstream's connection has fared, in name order.
    pub fn upstream_health(&self) -> Vec<crate::upstream::UpstreamHealth> {
        let generation = self.generation();
        let mut all: Vec<_> = generation
            .upstreams
            .values()
            .map(|r| r.upstream.health())
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The published tools, in order, as the pipeline sees them.
    pub fn published_tools(&self) -> Vec<PublishedTool> {
        self.catalogue.current().catalogue.tools().to_vec()
    }

    /// Forgets limit buckets that are full again; call now and then.
    pub fn evict_idle_limits(&self) {
        self.limiter.evict_idle(self.recorder.clock.elapsed());
    }

    /// The published tool `name`, in rmcp's typed form, if there is one.
    pub fn typed_tool(&self, name: &str) -> Option<Tool> {
        self.catalogue.current().typed.get(name).cloned()
    }

    /// Every scope `name` needs, when `principal` may see it but lacks some of them (the
    /// step-up case); `None` when the call may go ahead or must be refused otherwise.
    pub fn scopes_lacking(
        &self,
        principal: &Principal,
        name: &str,
        group: Option<&str>,
    ) -> Option<Vec<String>> {
        let published = self.catalogue.current();
        let tool = published.tool(name)?;
        match authorize(&self.config().access, principal, tool, group) {
            Err(Denial::MissingScopes(_)) => Some(tool.scopes.iter().cloned().collect()),
            _ => None,
        }
    }

    /// Whether `principal` may call `name` (arriving on `group`).
    pub fn may_call(&self, principal: &Principal, name: &str, group: Option<&str>) -> bool {
        let published = self.catalogue.current();
        published
            .tool(name)
            .is_some_and(|tool| authorize(&self.config().access, principal, tool, group).is_ok())
    }

    /// Whether `name` is published and declares no `x-mcp-header` parameters (whose headers
    /// rmcp checks against the body).
    pub fn is_plain_tool(&self, name: &str) -> bool {
        let published = self.catalogue.current();
        published.tool(name).is_some() && !published.header_params.contains(name)
    }

    /// Every `tools/call`, whichever way it arrived, goes through here: the pipeline, over the
    /// catalogue as it is now. The URIs of resource links in the result are the ones the
    /// client reads them by through the gateway.
    pub async fn call_tool(
        &self,
        exchange: &Exchange,
        caller: &Caller,
        name: &str,
        arguments: Option<Value>,
        client: ClientPorts<'_>,
    ) -> Result<Value, Refusal> {
        let published = self.catalogue.current();
        let generation = self.generation();
        let mut answer = generation
            .pipeline
            .call_tool(
                &published.catalogue,
                exchange,
                caller,
                name,
                arguments,
                client,
            )
            .await;
        // Resource links point where the client reads them: through the gateway.
        if let (Ok(result), Some(tool)) = (&mut answer, published.tool(name)) {
            crate::offers::publish_uris(result, &tool.upstream, &published.offers);
        }
        if let Err(refusal) = &answer
            && refusal.detail.contains(portcullis_core::rules::UNEVALUATED)
        {
            tracing::error!(
                tool = name,
                "a rule could not be evaluated; the call is denied: {}",
                refusal.detail
            );
        }
        answer
    }

    /// Stops the upstream supervisors and waits (a few seconds at most) until they have closed
    /// their connections and stopped their child processes; then waits until every audit
    /// record so far is written.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let supervisors = std::mem::take(
            &mut *self
                .making
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
        self.recorder.sink.flush().await;
    }

    /// The rmcp handler for one HTTP session or request, on the main endpoint or a group.
    pub fn handler(self: &Arc<Self>, group: Option<String>) -> GatewayServer {
        GatewayServer {
            gateway: self.clone(),
            identity: Identity::Http,
            group,
            session: Arc::new(Session::new()),
        }
    }

    /// The rmcp handler for the stdio client, who presents `token` (from `PORTCULLIS_API_KEY`)
    /// or nothing (anonymous).
    pub fn stdio_handler(self: &Arc<Self>, token: Option<String>) -> GatewayServer {
        GatewayServer {
            gateway: self.clone(),
            identity: Identity::Stdio(token),
            group: None,
            session: Arc::new(Session::new()),
        }
    }
}

/// The caller of the HTTP request rmcp is handling, for what rmcp asks of a handler outside
/// any request context (`get_tool`, for its header checks).
#[derive(Debug, Clone)]
pub struct RmcpCaller {
    pub principal: Principal,
    pub group: Option<String>,
}

tokio::task_local! {
    pub static RMCP_CALLER: RmcpCaller;
}

/// How a handler learns who is calling.
#[derive(Clone)]
enum Identity {
    /// The HTTP edge authenticated the request and put the [`Principal`] and the request's
    /// [`Exchange`] in its extensions.
    Http,
    /// The stdio client's token, checked again on every request.
    Stdio(Option<String>),
}

/// The span of a request an upstream answers, continuing the trace its HTTP request carried.
fn call_span(
    context: &RequestContext<RoleServer>,
    method: &'static str,
    item: &str,
) -> tracing::Span {
    let headers = context
        .extensions
        .get::<http::request::Parts>()
        .map(|p| &p.headers);
    crate::trace::call_span(method, item, headers)
}

/// Most limit buckets kept at once; past it the least recently used are forgotten.
pub const MAX_LIMIT_BUCKETS: usize = 100_000;

/// The rmcp server handler; cheap to clone, one per session.
#[derive(Clone)]
pub struct GatewayServer {
    gateway: Arc<Gateway>,
    identity: Identity,
    group: Option<String>,
    /// The client session this handler serves (its log level, its subscriptions).
    session: Arc<Session>,
}

impl GatewayServer {
    /// The request's exchange and caller, or the refusal of an unauthenticated request (which
    /// the exchange records).
    fn caller(
        &self,
        context: &RequestContext<RoleServer>,
        method: &str,
    ) -> Result<(Exchange, Caller), ErrorData> {
        let parts = context.extensions.get::<http::request::Parts>();
        let source = parts
            .and_then(|p| {
                p.extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            })
            .map(|c| c.0.ip().to_canonical());
        let (exchange, principal, transport) = match &self.identity {
            Identity::Http => {
                let exchange = parts.and_then(|p| p.extensions.get::<Exchange>()).cloned();
                let exchange = exchange.unwrap_or_else(|| {
                    self.gateway
                        .recorder
                        .begin("http", source, method.to_string())
                });
                let principal = parts.and_then(|p| p.extensions.get::<Principal>()).cloned();
                (exchange, principal.ok_or(AuthFailure::Missing), "http")
            }
            Identity::Stdio(token) => {
                let exchange = self
                    .gateway
                    .recorder
                    .begin("stdio", None, method.to_string());
                let principal = match token {
                    None => Ok(Principal::anonymous()),
                    Some(token) => self.gateway.auth.token(token),
                };
                (exchange, principal, "stdio")
            }
        };
        exchange.method(method);
        match principal {
            Ok(principal) => {
                exchange.principal(&principal);
                Ok((
                    exchange,
                    Caller {
                        principal,
                        transport,
                        group: self.group.clone(),
                        source,
                    },
                ))
            }
            Err(failure) => {
                tracing::warn!(%failure, transport, "refused an unauthenticated request");
                let refusal = failure.refusal();
                exchange.refuse(&refusal);
                Err(self
                    .render(&refusal)
                    .into_mcp()
                    .err()
                    .unwrap_or_else(|| ErrorData::internal_error("refused", None)))
            }
        }
    }

    /// Records a request the handler answers itself (no tool call): `outcome` for the record,
    /// and the caller's refusal when it is not authenticated. Returns the caller.
    fn record(
        &self,
        context: &RequestContext<RoleServer>,
        method: &str,
        refused: bool,
    ) -> Result<Caller, ErrorData> {
        let (exchange, caller) = self.caller(context, method)?;
        if refused {
            exchange.settle(
                Decision::Denied,
                Outcome::Refused,
                "method not served".into(),
                0,
            );
        } else {
            exchange.settle(Decision::Allowed, Outcome::Ok, "ok".into(), 0);
        }
        Ok(caller)
    }

    /// A method of a capability the gateway does not declare (no `[[resources]]`, no
    /// `[[prompts]]`): "method not found", on the record, as for every undeclared method.
    fn not_served(&self, context: &RequestContext<RoleServer>, method: &'static str) -> ErrorData {
        match self.record(context, method, true) {
            Err(refused) => refused,
            Ok(_) => ErrorData::new(rmcp::model::ErrorCode::METHOD_NOT_FOUND, method, None),
        }
    }

    /// Whether the gateway serves resources, prompts, completions (either of the two).
    fn serves(&self) -> (bool, bool, bool) {
        let (resources, prompts) = self.gateway.serves_offers();
        (resources, prompts, resources || prompts)
    }

    /// One page of the published `items` `caller` may see, in their typed form, with the
    /// gateway's own cursors (as for tools), and the record of the listing.
    fn list<'a, T: serde::de::DeserializeOwned>(
        &self,
        exchange: &Exchange,
        caller: &Caller,
        items: impl Iterator<Item = &'a PublishedTool>,
        request: Option<&PaginatedRequestParams>,
        what: &str,
    ) -> Result<(Vec<T>, Option<String>), ErrorData> {
        let cursor = request.and_then(|r| r.cursor.as_deref());
        let config = self.gateway.config();
        let access = &config.access;
        let (page, next) = page_of(items, cursor, config.gateway.page_size, |i| {
            may_see(access, &caller.principal, i, caller.group.as_deref())
        })
        .map_err(|e| {
            exchange.settle(Decision::Denied, Outcome::Refused, e.to_string(), 0);
            ErrorData::invalid_params(e.to_string(), None)
        })?;
        let typed: Vec<T> = page
            .iter()
            .filter_map(
                |item| match serde_json::from_value(item.definition.clone()) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        tracing::warn!(item = %item.name, error = %e, "unusable {what} definition");
                        None
                    }
                },
            )
            .collect();
        exchange.settle(
            Decision::Allowed,
            Outcome::Ok,
            format!("listed {} {what}", typed.len()),
            0,
        );
        Ok((typed, next))
    }

    /// `resources/subscribe` (or unsubscribe) for a published URI the caller may read. The
    /// gateway subscribes upstream for the first subscriber and unsubscribes after the last.
    async fn subscription(
        &self,
        context: &RequestContext<RoleServer>,
        uri: &str,
        subscribe: bool,
    ) -> Result<(), ErrorData> {
        let method = if subscribe {
            "resources/subscribe"
        } else {
            "resources/unsubscribe"
        };
        if !self.serves().0 {
            return Err(self.not_served(context, method));
        }
        let (exchange, caller) = self.caller(context, method)?;
        let offers = self.gateway.current();
        let target = subscription_target(&offers.offers, uri).filter(|(item, _)| {
            authorize(
                &self.gateway.config().access,
                &caller.principal,
                item,
                caller.group.as_deref(),
            )
            .is_ok()
        });
        let Some((item, upstream_uri)) = target else {
            exchange.settle(
                Decision::Denied,
                Outcome::UnknownTool,
                "not published".into(),
                0,
            );
            return Err(relay::unknown("resource"));
        };
        exchange.item(&item.name);
        exchange.upstream(&item.upstream);
        let upstream = self
            .gateway
            .upstream(&item.upstream)
            .filter(|u| u.declares("resources.subscribe"));
        let Some(upstream) = upstream else {
            exchange.settle(
                Decision::Denied,
                Outcome::Refused,
                "the upstream offers no subscriptions".into(),
                0,
            );
            return Err(ErrorData::invalid_params(
                "this resource's server offers no subscriptions",
                None,
            ));
        };
        let subscriptions = &self.gateway.subscriptions;
        let tell_upstream = if subscribe {
            subscriptions.add(
                &item.upstream,
                &upstream_uri,
                uri,
                self.session.id,
                context.peer.clone(),
            )
        } else {
            subscriptions.remove(&item.upstream, &upstream_uri, self.session.id)
        };
        if tell_upstream && let Err(e) = upstream.send(method, json!({ "uri": upstream_uri })).await
        {
            tracing::warn!(upstream = %item.upstream, error = %e, "{method} failed upstream");
        }
        exchange.settle(Decision::Allowed, Outcome::Ok, "ok".into(), 0);
        Ok(())
    }

    /// Whether this endpoint offers the meta-tools instead of its tools.
    fn meta_catalogue(&self, config: &Generation) -> bool {
        config
            .access
            .catalogue(self.group.as_deref(), config.gateway.catalogue)
            == portcullis_core::config::CatalogueMode::Meta
    }

    /// `search_tools` and `describe_tool`, over exactly the tools `tools/list` would show.
    fn answer_meta(
        &self,
        exchange: &Exchange,
        caller: &Caller,
        which: &str,
        arguments: Option<&Value>,
    ) -> Result<CallToolResponse, ErrorData> {
        exchange.tool(which);
        let published = self.gateway.current();
        let config = self.gateway.config();
        let now = self.gateway.recorder.clock.unix_ms().unwrap_or(0);
        let visible: Vec<&PublishedTool> = published
            .catalogue
            .tools()
            .iter()
            .filter(|t| {
                may_see(
                    &config.access,
                    &caller.principal,
                    t,
                    caller.group.as_deref(),
                ) && !config.rules.hides(caller, t, now)
            })
            .collect();
        let answer = if which == crate::meta::SEARCH {
            crate::meta::search(&visible, arguments)
        } else {
            crate::meta::name_of(arguments).and_then(|name| {
                visible
                    .iter()
                    .find(|t| t.name == name)
                    .and_then(|t| published.typed.get(&t.name))
                    .map(crate::meta::describe)
                    // A tool the caller may not see reads as unknown, like any other.
                    .ok_or_else(|| ErrorData::invalid_params(format!("unknown tool: {name}"), None))
            })
        };
        match answer {
            Ok(result) => {
                exchange.settle(
                    Decision::Allowed,
                    Outcome::Ok,
                    format!("{which} answered"),
                    0,
                );
                typed::<CallToolResult>(result).map(CallToolResponse::Complete)
            }
            Err(e) => {
                exchange.settle(Decision::Denied, Outcome::Refused, e.message.to_string(), 0);
                Err(e)
            }
        }
    }

    fn render(&self, refusal: &Refusal) -> wire::Rendered {
        wire::render(refusal, &self.gateway.auth)
    }
}

/// A relayed result in rmcp's typed form.
fn typed<T: serde::de::DeserializeOwned>(result: Value) -> Result<T, ErrorData> {
    serde_json::from_value(result).map_err(|e| {
        tracing::warn!(error = %e, "the upstream sent an invalid result");
        ErrorData::internal_error("the upstream sent an invalid result", None)
    })
}

/// How often a session's watcher looks whether its client went away.
const WATCH_TICK: Duration = Duration::from_secs(30);

/// What `caller` sees, by kind (tools, resources and templates, prompts), as fingerprints.
fn fingerprints(gateway: &Gateway, caller: &Caller) -> [u64; 3] {
    use std::hash::{Hash, Hasher};
    let published = gateway.current();
    let now = gateway.recorder.clock.unix_ms().unwrap_or(0);
    let config = gateway.config();
    let rules = &config.rules;
    let tools = published
        .catalogue
        .tools()
        .iter()
        .filter(|t| !rules.hides(caller, t, now));
    let offers = &published.offers;
    let resources = offers.resources().iter().chain(offers.templates());
    let of = |items: Vec<&PublishedTool>| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for item in items {
            item.name.hash(&mut hasher);
            item.definition.to_string().hash(&mut hasher);
        }
        hasher.finish()
    };
    [
        of(gateway.visible(caller, tools)),
        of(gateway.visible(caller, resources)),
        of(gateway.visible(caller, offers.prompts().iter())),
    ]
}

/// Tells one session's client when the tools, resources or prompts it may see change, until
/// it goes away or the gateway stops.
async fn watch_lists(gateway: Arc<Gateway>, caller: Caller, peer: Peer<RoleServer>) {
    let mut changes = gateway.catalogue.changes();
    let mut seen = fingerprints(&gateway, &caller);
    let mut tick = tokio::time::interval(WATCH_TICK);
    loop {
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = tick.tick() => {
                if peer.is_transport_closed() {
                    return;
                }
                continue;
            }
            () = gateway.shutdown.cancelled() => return,
        }
        if peer.is_transport_closed() {
            return;
        }
        let now = fingerprints(&gateway, &caller);
        if now[0] != seen[0] {
            let _ = peer.notify_tool_list_changed().await;
        }
        if now[1] != seen[1] {
            let _ = peer.notify_resource_list_changed().await;
        }
        if now[2] != seen[2] {
            let _ = peer.notify_prompt_list_changed().await;
        }
        seen = now;
    }
}

/// The client's end of a call's progress: notifications under the client's own token.
struct ClientProgress {
    peer: Peer<RoleServer>,
    token: ProgressToken,
}

impl ProgressSink for ClientProgress {
    fn send(&self, params: Value) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let mut progress = ProgressNotificationParam::new(
                self.token.clone(),
                params
                    .get("progress")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0),
            );
            progress.total = params.get("total").and_then(Value::as_f64);
            progress.message = params
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Err(e) = self.peer.notify_progress(progress).await {
                tracing::debug!(error = %e, "could not relay progress");
            }
        })
    }
}

impl ServerHandler for GatewayServer {
    /// Exactly what the gateway serves: tools, and resources (with subscriptions), prompts
    /// and completions when the config publishes any; logging, whose level applies to this
    /// client's view of upstream log messages.
    fn get_info(&self) -> ServerConfig {
        let (resources, prompts) = self.gateway.serves_offers();
        let mut capabilities = json!({"tools": {"listChanged": true}, "logging": {}});
        if resources {
            capabilities["resources"] = json!({"subscribe": true, "listChanged": true});
        }
        if prompts {
            capabilities["prompts"] = json!({"listChanged": true});
        }
        if resources || prompts {
            capabilities["completions"] = json!({});
        }
        let capabilities: ServerCapabilities =
            serde_json::from_value(capabilities).unwrap_or_default();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("portcullis", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Portcullis gateway: the tools, resources and prompts listed are the ones the \
                 operator exposed to you.",
            )
    }

    // Every request is on the record, on stdio too (over HTTP the edge's record is the one
    // these settle).
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let caller = self.record(&context, "initialize", false)?;
        self.session.remember(caller);
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    /// From now on the client hears when what it may see changes.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if let Some(caller) = self.session.caller() {
            tokio::spawn(watch_lists(self.gateway.clone(), caller, context.peer));
        }
    }

    async fn ping(&self, context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        self.record(&context, "ping", false).map(|_| ())
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let level = serde_json::to_value(&request)
            .ok()
            .and_then(|r| r.get("level")?.as_str().map(str::to_string))
            .unwrap_or_default();
        self.record(&context, "logging/setLevel", false)?;
        if self.session.set_level(&level) {
            Ok(())
        } else {
            Err(ErrorData::invalid_params("unknown log level", None))
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        if !self.serves().2 {
            return Err(self.not_served(&context, "completion/complete"));
        }
        let (exchange, caller) = self.caller(&context, "completion/complete")?;
        let params = serde_json::to_value(&request)
            .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        let span = call_span(&context, "completion/complete", "");
        let result = self
            .gateway
            .complete(&exchange, &caller, params)
            .instrument(span)
            .await?;
        typed(result)
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        if !self.serves().1 {
            return Err(self.not_served(&context, "prompts/list"));
        }
        let (exchange, caller) = self.caller(&context, "prompts/list")?;
        let offers = self.gateway.current();
        let (prompts, next) = self.list(
            &exchange,
            &caller,
            offers.offers.prompts().iter(),
            request.as_ref(),
            "prompts",
        )?;
        let mut result = ListPromptsResult::with_all_items(prompts);
        result.next_cursor = next;
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if !self.serves().1 {
            return Err(self.not_served(&context, "prompts/get"));
        }
        let (exchange, caller) = self.caller(&context, "prompts/get")?;
        let arguments = request.arguments.map(Value::Object);
        let span = call_span(&context, "prompts/get", &request.name);
        let result = self
            .gateway
            .get_prompt(&exchange, &caller, &request.name, arguments)
            .instrument(span)
            .await?;
        typed::<GetPromptResult>(result).map(GetPromptResponse::Complete)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        if !self.serves().0 {
            return Err(self.not_served(&context, "resources/list"));
        }
        let (exchange, caller) = self.caller(&context, "resources/list")?;
        let offers = self.gateway.current();
        let (resources, next) = self.list(
            &exchange,
            &caller,
            offers.offers.resources().iter(),
            request.as_ref(),
            "resources",
        )?;
        let mut result = ListResourcesResult::with_all_items(resources);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        if !self.serves().0 {
            return Err(self.not_served(&context, "resources/templates/list"));
        }
        let (exchange, caller) = self.caller(&context, "resources/templates/list")?;
        let offers = self.gateway.current();
        let (templates, next) = self.list(
            &exchange,
            &caller,
            offers.offers.templates(),
            request.as_ref(),
            "templates",
        )?;
        let mut result = ListResourceTemplatesResult::with_all_items(templates);
        result.next_cursor = next;
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if !self.serves().0 {
            return Err(self.not_served(&context, "resources/read"));
        }
        let (exchange, caller) = self.caller(&context, "resources/read")?;
        let span = call_span(&context, "resources/read", &request.uri);
        let result = self
            .gateway
            .read_resource(&exchange, &caller, &request.uri)
            .instrument(span)
            .await?;
        typed::<ReadResourceResult>(result).map(ReadResourceResponse::Complete)
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscription(&context, &request.uri, true).await
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscription(&context, &request.uri, false).await
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let (exchange, caller) = self.caller(&context, "tools/list")?;
        let config = self.gateway.config();
        if self.meta_catalogue(&config) {
            exchange.settle(
                Decision::Allowed,
                Outcome::Ok,
                "listed the meta-tools".into(),
                0,
            );
            return Ok(ListToolsResult::with_all_items(crate::meta::tools()));
        }
        let published = self.gateway.catalogue.current();
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let access = &config.access;
        let rules = &config.rules;
        let now = self.gateway.recorder.clock.unix_ms().unwrap_or(0);
        let (page, next) = published
            .catalogue
            .page(cursor, config.gateway.page_size, |t| {
                may_see(access, &caller.principal, t, caller.group.as_deref())
                    && !rules.hides(&caller, t, now)
            })
            .map_err(|e| {
                exchange.settle(Decision::Denied, Outcome::Refused, e.to_string(), 0);
                ErrorData::invalid_params(e.to_string(), None)
            })?;
        let tools: Vec<Tool> = page
            .iter()
            .filter_map(|t: &&PublishedTool| published.typed.get(&t.name).cloned())
            .collect();
        exchange.settle(
            Decision::Allowed,
            Outcome::Ok,
            format!("listed {} tools", tools.len()),
            0,
        );
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    /// What rmcp checks `Mcp-Param-*` headers against: only a tool the caller may call, so a
    /// hidden tool's headers are never checked (and it reads as unknown, like any other).
    /// Without a known caller, nothing.
    fn get_tool(&self, name: &str) -> Option<Tool> {
        let may_call = RMCP_CALLER
            .try_with(|caller| {
                self.gateway
                    .may_call(&caller.principal, name, caller.group.as_deref())
            })
            .unwrap_or(false);
        may_call.then(|| self.gateway.typed_tool(name)).flatten()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let (exchange, caller) = self.caller(&context, "tools/call")?;
        let progress = context
            .meta
            .get_progress_token()
            .map(|token| ClientProgress {
                peer: context.peer.clone(),
                token,
            });
        let arguments = request.arguments.map(Value::Object);
        // On a meta endpoint, search and describe are answered here, and `call_tool` calls the
        // tool it names as if that tool had been called.
        let (name, arguments) = if self.meta_catalogue(&self.gateway.config()) {
            match request.name.as_ref() {
                crate::meta::SEARCH | crate::meta::DESCRIBE => {
                    return self.answer_meta(&exchange, &caller, &request.name, arguments.as_ref());
                }
                crate::meta::CALL => crate::meta::target(arguments).inspect_err(|e| {
                    exchange.tool(crate::meta::CALL);
                    exchange.settle(Decision::Denied, Outcome::Refused, e.message.to_string(), 0);
                })?,
                _ => (request.name.to_string(), arguments),
            }
        } else {
            (request.name.to_string(), arguments)
        };
        if let Identity::Stdio(_) = self.identity {
            // Over HTTP the edge counts the body; here the message is already parsed.
            let size = arguments
                .as_ref()
                .and_then(|a| serde_json::to_vec(a).ok())
                .map_or(0, |b| b.len());
            exchange.bytes_in(size as u64);
        }
        let timeout = self.gateway.config().approvals.timeout;
        let now = self.gateway.recorder.clock.unix_ms().unwrap_or(0);
        // A 2026-07-28 retry answers either the gateway's approval question or what the
        // upstream asked in its input-required result (a state the gateway sealed for this call).
        // Only a 2026-07-28 request carries or receives such a state.
        let stateless = context.meta.protocol_version().is_some();
        let binding = if stateless {
            call_hash(&name, arguments.as_ref(), &caller.principal.id, "")
        } else {
            String::new()
        };
        let seal = StateSeal {
            key: &self.gateway.approval_key,
        };
        let state = request.request_state.as_deref();
        let upstream_state = state.filter(|s| !AskingInResult::is_approval_state(s));
        let resume = match upstream_state {
            None => None,
            Some(sealed) => match seal.open(UPSTREAM_INPUT_STATE, sealed, &binding, now) {
                Some(payload) => Some(Resume {
                    responses: serde_json::to_value(&request.input_responses)
                        .unwrap_or(Value::Null),
                    state: serde_json::from_slice::<Option<String>>(&payload)
                        .ok()
                        .flatten(),
                }),
                None => {
                    let refusal = Refusal::new(
                        portcullis_core::Answer::ToolError(
                            "Portcullis refused this call: its request state does not belong \
                             to this call, or came too late."
                                .into(),
                        ),
                        Decision::Denied,
                        Outcome::Refused,
                        "a request state the gateway did not seal for this call".into(),
                    );
                    exchange.tool(&name);
                    exchange.refuse(&refusal);
                    let result = self.render(&refusal).into_mcp()?;
                    return typed::<CallToolResult>(result).map(CallToolResponse::Complete);
                }
            },
        };
        let session_user = ElicitingClient::of(&context.peer, timeout);
        let stateless_user = (context.meta.protocol_version().is_some()
            && context
                .meta
                .client_capabilities()
                .is_some_and(|c| c.elicitation.is_some()))
        .then(|| AskingInResult {
            key: &self.gateway.approval_key,
            responses: request.input_responses.as_ref(),
            state: state.filter(|s| AskingInResult::is_approval_state(s)),
            now,
            timeout,
        });
        let user: Option<&dyn UserPrompt> = match (&session_user, &stateless_user) {
            (Some(u), _) => Some(u),
            (None, Some(u)) => Some(u),
            (None, None) => None,
        };
        // A 2026-07-28 request says what its client can do in its `_meta`; a legacy session
        // said it at `initialize`.
        let legacy = context.peer.peer_info().filter(|_| !stateless);
        let declared = match &legacy {
            Some(info) => Declared::Session(info.clone()),
            None => Declared::Request(context.meta.client_capabilities()),
        };
        let channel = SessionChannel {
            peer: context.peer.clone(),
            owner: format!("{} {}", caller.key(), self.session.id),
            declared,
            can_ask: legacy.is_some(),
            in_results: stateless,
            session: &self.session,
            recorder: &self.gateway.recorder,
            caller: &caller,
            transport: caller.transport,
            tool: &name,
        };
        let call = self
            .gateway
            .call_tool(
                &exchange,
                &caller,
                &name,
                arguments,
                ClientPorts {
                    progress: progress.as_ref().map(|p| p as &dyn ProgressSink),
                    user,
                    channel: Some(&channel),
                    resume: resume.as_ref(),
                },
            )
            .instrument(call_span(&context, "tools/call", &name));
        // A client that cancels or goes away cancels the call: the pipeline's future is
        // dropped, which tells the upstream and leaves the record as cancelled.
        let outcome = tokio::select! {
            outcome = call => outcome,
            () = context.ct.cancelled() => {
                return Err(ErrorData::internal_error("the request was cancelled", None));
            }
        };
        let result = match outcome {
            Ok(mut result) => {
                if result.get("resultType").and_then(Value::as_str) == Some("input_required") {
                    // The upstream asks the client: its state goes out sealed to this call.
                    let theirs = result.get("requestState").and_then(Value::as_str);
                    let payload = serde_json::to_vec(&theirs).unwrap_or_default();
                    let expires = now + timeout.as_millis() as u64;
                    result["requestState"] =
                        Value::String(seal.seal(UPSTREAM_INPUT_STATE, &binding, expires, &payload));
                }
                result
            }
            Err(refusal) => self.render(&refusal).into_mcp()?,
        };
        if result.get("resultType").and_then(Value::as_str) == Some("input_required") {
            return serde_json::from_value::<InputRequiredResult>(result)
                .map(CallToolResponse::InputRequired)
                .map_err(|e| ErrorData::internal_error(e.to_string(), None));
        }
        serde_json::from_value::<CallToolResult>(result)
            .map(CallToolResponse::Complete)
            .or_else(|e| {
                tracing::warn!(tool = %name, error = %e, "upstream sent an invalid tool result");
                Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text("the upstream sent an invalid tool result"),
                ])))
            })
    }
}
