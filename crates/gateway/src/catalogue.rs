//! The live catalogue: rebuilt from the latest listing of every upstream whenever one changes,
//! and read without blocking by every `tools/list` and `tools/call`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use portcullis_core::audit::{AuditRecord, Decision, Outcome};
use portcullis_core::lint::{LintInput, lint, raw_definition};
use portcullis_core::offers::{OfferListing, Offers};
use portcullis_core::pins::{self, FIRST_SIGHT, PinCheck, fingerprint, shape_fingerprint};
use portcullis_core::poisoning::PoisonScan;
use portcullis_core::ports::{NewPin, PinStore};
use portcullis_core::{Catalogue, Config, Exposure, PublishedTool, UpstreamListing};
use rmcp::model::Tool;
use serde_json::Value;

use crate::context::Recorder;
use crate::unmodeled::stash_tool;

/// The published catalogue together with each tool's typed form, ready to serve.
#[derive(Default)]
pub struct Published {
    pub catalogue: Catalogue,
    /// The published resources, templates and prompts.
    pub offers: Offers,
    pub typed: HashMap<String, Tool>,
    /// Tools whose input schema declares `x-mcp-header` parameters.
    pub header_params: HashSet<String>,
}

impl Published {
    pub fn tool(&self, name: &str) -> Option<&PublishedTool> {
        self.catalogue.get(name)
    }
}

pub struct CatalogueState {
    /// What the running config says; replaced whole when it is reloaded.
    setup: RwLock<Arc<Setup>>,
    pins: Option<Arc<dyn PinStore>>,
    recorder: Option<Recorder>,
    listings: Mutex<BTreeMap<String, UpstreamListing>>,
    offer_listings: Mutex<BTreeMap<String, OfferListing>>,
    current: RwLock<Arc<Published>>,
    /// Counts republications, for sessions that tell their client when what it sees changed.
    changes: tokio::sync::watch::Sender<u64>,
    /// What was logged and audited already (finding ids, quarantined hashes): each is told
    /// once per run, not at every listing.
    told: Mutex<HashSet<String>>,
}

/// What a listed tool must pass before it is published: the pre-flight audit (no critical
/// finding the config does not acknowledge) and its pin.
pub struct Checks {
    pub config: Config,
    pub poisoning: Option<PoisonScan>,
    pub pins: Option<Arc<dyn PinStore>>,
    pub recorder: Option<Recorder>,
}

/// The part of the checks that comes from the config.
struct Setup {
    exposure: Exposure,
    /// Published-name prefix of each upstream.
    prefixes: HashMap<String, String>,
    config: Config,
    poisoning: Option<PoisonScan>,
}

impl Setup {
    fn of(config: Config, poisoning: Option<PoisonScan>) -> Setup {
        Setup {
            exposure: config.exposure.clone(),
            prefixes: config
                .upstreams
                .iter()
                .map(|u| (u.name.clone(), u.prefix.clone()))
                .collect(),
            config,
            poisoning,
        }
    }
}

impl CatalogueState {
    pub fn new(checks: Checks) -> CatalogueState {
        CatalogueState {
            setup: RwLock::new(Arc::new(Setup::of(checks.config, checks.poisoning))),
            pins: checks.pins,
            recorder: checks.recorder,
            listings: Mutex::default(),
            offer_listings: Mutex::default(),
            current: RwLock::default(),
            changes: tokio::sync::watch::Sender::new(0),
            told: Mutex::default(),
        }
    }

    fn setup(&self) -> Arc<Setup> {
        self.setup
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Publishes by a new config from now on: its exposure, prefixes and checks. The listings of
    /// upstreams it no longer has are forgotten (and one that arrives late is ignored).
    pub fn reconfigure(&self, config: Config, poisoning: Option<PoisonScan>) {
        let setup = Setup::of(config, poisoning);
        {
            let mut listings = lock(&self.listings);
            listings.retain(|name, _| setup.prefixes.contains_key(name));
            for (name, listing) in listings.iter_mut() {
                listing.prefix = setup.prefixes[name].clone();
            }
            lock(&self.offer_listings).retain(|name, _| setup.prefixes.contains_key(name));
            *self
                .setup
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(setup);
        }
        self.republish(None);
    }

    pub fn current(&self) -> Arc<Published> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Changes at every republication.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Keeps a new listing of one upstream's resources, templates and prompts; they are
    /// published with its next tool listing.
    pub fn update_offers(&self, listing: OfferListing) {
        if !self.setup().prefixes.contains_key(&listing.upstream) {
            return;
        }
        lock(&self.offer_listings).insert(listing.upstream.clone(), listing);
    }

    /// The latest listing of every upstream listed so far.
    pub fn listings(&self) -> Vec<UpstreamListing> {
        lock(&self.listings).values().cloned().collect()
    }

    /// Records a new listing of one upstream and republishes. `bridged`: the definitions were
    /// made by the gateway's OpenAPI bridge (see [`UpstreamListing::bridged`]).
    pub fn update(
        &self,
        upstream: &str,
        tools: Vec<Value>,
        first_seen: BTreeSet<String>,
        bridged: bool,
    ) {
        let Some(prefix) = self.setup().prefixes.get(upstream).cloned() else {
            // An upstream the config no longer has, listed before it stopped.
            return;
        };
        lock(&self.listings).insert(
            upstream.to_string(),
            UpstreamListing {
                upstream: upstream.to_string(),
                prefix,
                tools,
                first_seen,
                bridged,
            },
        );
        self.republish(Some(upstream));
    }

    /// Builds the catalogue again from the latest listings (after a listing, or when the pins
    /// changed by another hand), withholding what fails its checks.
    pub fn republish(&self, changed: Option<&str>) {
        // One republication at a time, so that pins are read and written in order.
        let listings = lock(&self.listings);
        let setup = self.setup();
        let all: Vec<UpstreamListing> = listings.values().cloned().collect();
        let (mut catalogue, notes) = Catalogue::build(&setup.exposure, &all);
        for note in notes {
            tracing::warn!("{note}");
        }
        let refused = self.refused_by_lint(&setup, &all);
        catalogue.retain(|t| !refused.contains(&t.name));
        let built: HashSet<String> = catalogue.tools().iter().map(|t| t.name.clone()).collect();
        let mut first_sight: BTreeMap<String, Vec<String>> = BTreeMap::new();
        catalogue.retain(|t| self.pinned(&setup, t, &all, &built, &mut first_sight));
        for (upstream, tools) in first_sight {
            self.record(
                "catalogue/pin",
                None,
                &upstream,
                false,
                format!("new tools, pinned at first sight: {}", tools.join(", ")),
            );
        }
        if let Some(upstream) = changed {
            self.report_removed(upstream, &built);
        }
        let mut typed = HashMap::new();
        let mut header_params = HashSet::new();
        for t in catalogue.tools() {
            if t.definition
                .get("inputSchema")
                .is_some_and(|schema| schema.to_string().contains("\"x-mcp-header\""))
            {
                header_params.insert(t.name.clone());
            }
            let mut definition = t.definition.clone();
            if let Some(tool) = definition.as_object_mut() {
                stash_tool(tool);
            }
            match serde_json::from_value::<Tool>(definition) {
                Ok(tool) => {
                    typed.insert(t.name.clone(), tool);
                }
                Err(e) => tracing::warn!(tool = %t.name, error = %e, "unusable tool definition"),
            }
        }
        // A tool rmcp cannot type cannot be served: it is not published at all.
        catalogue.retain(|t| typed.contains_key(&t.name));
        tracing::info!(
            upstream = changed.unwrap_or("(pins changed)"),
            published = catalogue.len(),
            "catalogue updated"
        );
        let offer_listings: Vec<OfferListing> =
            lock(&self.offer_listings).values().cloned().collect();
        let mut offers = Offers::build(&setup.config.offers, &offer_listings);
        self.screen_offers(&setup, &mut offers);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(Published {
            catalogue,
            offers,
            typed,
            header_params,
        });
        drop(listings);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Withholds the resources, templates and prompts whose definitions carry what the
    /// tool-poisoning scan finds critical (their descriptions are text the model reads in
    /// every listing), unless the config acknowledges it (`poisoning.<kind>:<published name>`).
    /// Without the scan, nothing is published unchecked.
    fn screen_offers(&self, setup: &Setup, offers: &mut Offers) {
        let Some(scan) = &setup.poisoning else {
            offers.retain(|_| false);
            return;
        };
        let acknowledged = &setup.config.lint.acknowledged;
        let mut refused = Vec::new();
        offers.retain(|item| {
            let poison = scan.scan(&item.definition, &[]).into_iter().find(|p| {
                p.kind.is_critical()
                    && !acknowledged.contains_key(&format!("{}:{}", p.kind.rule(), item.name))
            });
            match poison {
                Some(p) => {
                    refused.push((item.clone(), p));
                    false
                }
                None => true,
            }
        });
        for (item, poison) in refused {
            let id = format!("{}:{}", poison.kind.rule(), item.name);
            if self.first_time(format!("lint {id}")) {
                let what = format!("{} at {}", poison.kind.describe(), poison.path);
                tracing::error!(item = %item.name, upstream = %item.upstream, finding = %id,
                    "not published: {what}; or acknowledge it in [[lint.acknowledge]]");
                self.record(
                    "catalogue/refuse",
                    Some(&item.name),
                    &item.upstream,
                    true,
                    what,
                );
            }
        }
    }

    /// The published names with a critical finding the config does not acknowledge.
    fn refused_by_lint(&self, setup: &Setup, listings: &[UpstreamListing]) -> HashSet<String> {
        let Some(scan) = &setup.poisoning else {
            // The scan could not be built: nothing is published unchecked.
            let (all, _) = Catalogue::build(&setup.exposure, listings);
            return all.tools().iter().map(|t| t.name.clone()).collect();
        };
        let findings = lint(&LintInput::of(&setup.config, listings, scan));
        let mut refused = HashSet::new();
        for f in findings.iter().filter(|f| f.blocks()) {
            refused.insert(f.tool.clone());
            if self.first_time(format!("lint {}", f.id)) {
                tracing::error!(
                    tool = %f.tool,
                    upstream = %f.upstream,
                    finding = %f.id,
                    "not published: {f}. Fix: {}; or acknowledge it in [[lint.acknowledge]]",
                    f.fix
                );
                self.record(
                    "catalogue/refuse",
                    Some(&f.tool),
                    &f.upstream,
                    true,
                    f.to_string(),
                );
            }
        }
        refused
    }

    /// Whether `tool` matches its pin; pins it at first sight (or, `strict`, keeps it for an
    /// operator), and quarantines it when it differs. A pin store that fails withholds.
    fn pinned(
        &self,
        setup: &Setup,
        tool: &PublishedTool,
        listings: &[UpstreamListing],
        built: &HashSet<String>,
        first_sight: &mut BTreeMap<String, Vec<String>>,
    ) -> bool {
        let Some(store) = &self.pins else {
            return true;
        };
        let Some(definition) = raw_definition(listings, tool) else {
            return false;
        };
        let hash = fingerprint(definition);
        let new = NewPin {
            tool: &tool.name,
            upstream: &tool.upstream,
            definition,
            hash: &hash,
            at: self.now(),
        };
        let result = store.get(&tool.name).and_then(|pin| {
            let decision = pins::check(setup.config.gateway.pins, pin.as_ref(), &hash);
            match decision {
                PinCheck::Publish => Ok(true),
                PinCheck::PinNow => {
                    store.pin(new, FIRST_SIGHT)?;
                    tracing::info!(tool = %tool.name, upstream = %tool.upstream, %hash, "new tool, pinned at first sight");
                    match self.renamed_from(tool, definition, store.as_ref(), built) {
                        Some(old) => self.record(
                            "catalogue/rename",
                            Some(&tool.name),
                            &tool.upstream,
                            false,
                            format!("renamed from `{old}` (same definition otherwise); pinned at first sight: {hash}"),
                        ),
                        None => first_sight
                            .entry(tool.upstream.clone())
                            .or_default()
                            .push(tool.name.clone()),
                    }
                    Ok(true)
                }
                PinCheck::AwaitApproval => {
                    store.propose(new)?;
                    if self.first_time(format!("await {} {hash}", tool.name)) {
                        tracing::warn!(tool = %tool.name, upstream = %tool.upstream, "new tool waits for an operator (pins = \"strict\"): `portcullis pins diff {0}`, then `portcullis pins accept {0}`", tool.name);
                        self.record(
                            "catalogue/await",
                            Some(&tool.name),
                            &tool.upstream,
                            true,
                            format!("new tool, not pinned yet (pins = strict); its definition hashes to {hash}"),
                        );
                    }
                    Ok(false)
                }
                PinCheck::Quarantine { pinned } => {
                    let rejected = pin.as_ref().and_then(|p| p.rejected.as_deref()) == Some(hash.as_str());
                    if !rejected {
                        store.propose(new)?;
                    }
                    if self.first_time(format!("quarantine {} {hash}", tool.name)) {
                        tracing::error!(tool = %tool.name, upstream = %tool.upstream, pinned = %pinned, now = %hash, "the tool's definition changed since it was pinned; it is quarantined (hidden and refused) until an operator runs `portcullis pins diff {0}` and `portcullis pins accept {0}`", tool.name);
                        self.record(
                            "catalogue/quarantine",
                            Some(&tool.name),
                            &tool.upstream,
                            true,
                            format!("definition changed since pinned: pinned {pinned}, now {hash}{}", if rejected { " (rejected by an operator)" } else { "" }),
                        );
                    }
                    Ok(false)
                }
            }
        });
        result.unwrap_or_else(|e| {
            tracing::error!(tool = %tool.name, error = %e, "cannot check the tool's pin; it is withheld");
            false
        })
    }

    /// The pinned tool of the same upstream, no longer published, whose definition is this
    /// one's but for the name: a rename, said as such.
    fn renamed_from(
        &self,
        tool: &PublishedTool,
        definition: &Value,
        store: &dyn PinStore,
        built: &HashSet<String>,
    ) -> Option<String> {
        let shape = shape_fingerprint(definition);
        let old = store.list().ok()?.into_iter().find(|p| {
            p.upstream == tool.upstream
                && !built.contains(&p.tool)
                && p.definition.as_ref().map(shape_fingerprint).as_deref() == Some(shape.as_str())
        })?;
        tracing::warn!(tool = %tool.name, upstream = %tool.upstream, was = %old.tool, "a pinned tool reappeared under another name with the same definition");
        Some(old.tool)
    }

    /// Pinned tools of `upstream` that its latest listing no longer publishes, told once.
    fn report_removed(&self, upstream: &str, built: &HashSet<String>) {
        let Some(store) = &self.pins else {
            return;
        };
        let Ok(all) = store.list() else { return };
        for pin in all
            .iter()
            .filter(|p| p.upstream == upstream && p.hash.is_some() && !built.contains(&p.tool))
        {
            if self.first_time(format!("removed {}", pin.tool)) {
                tracing::warn!(tool = %pin.tool, upstream, "a pinned tool is no longer listed");
                self.record(
                    "catalogue/remove",
                    Some(&pin.tool),
                    upstream,
                    false,
                    "a pinned tool is no longer listed by its upstream (its pin is kept)".into(),
                );
            }
        }
    }

    fn first_time(&self, what: String) -> bool {
        lock(&self.told).insert(what)
    }

    fn now(&self) -> u64 {
        self.recorder
            .as_ref()
            .and_then(|r| r.clock.unix_ms().ok())
            .unwrap_or(0)
    }

    /// An audit record of a catalogue decision, made by the gateway itself.
    /// `refused`: the tool is withheld (else the record tells of a change that was allowed).
    fn record(
        &self,
        method: &str,
        tool: Option<&str>,
        upstream: &str,
        refused: bool,
        reason: String,
    ) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        recorder.event(
            "gateway",
            AuditRecord {
                principal: "portcullis".into(),
                principal_kind: "gateway",
                method: method.into(),
                tool: tool.map(str::to_string),
                upstream: Some(upstream.into()),
                decision: if refused {
                    Decision::Denied
                } else {
                    Decision::Allowed
                },
                outcome: if refused {
                    Outcome::Refused
                } else {
                    Outcome::Ok
                },
                reason,
                ..AuditRecord::default()
            },
        );
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
