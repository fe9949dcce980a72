//! The live catalogue: rebuilt from the latest listing of every upstream whenever one changes,
//! and read without blocking by every `tools/list` and `tools/call`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use portcullis_core::{Catalogue, Exposure, PublishedTool, UpstreamListing};
use rmcp::model::Tool;
use serde_json::Value;

use crate::unmodeled::stash_tool;

/// The published catalogue together with each tool's typed form, ready to serve.
#[derive(Default)]
pub struct Published {
    pub catalogue: Catalogue,
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
    exposure: Exposure,
    /// Published-name prefix of each upstream.
    prefixes: HashMap<String, String>,
    listings: Mutex<BTreeMap<String, UpstreamListing>>,
    current: RwLock<Arc<Published>>,
}

impl CatalogueState {
    pub fn new(exposure: Exposure, prefixes: HashMap<String, String>) -> CatalogueState {
        CatalogueState {
            exposure,
            prefixes,
            listings: Mutex::default(),
            current: RwLock::default(),
        }
    }

    pub fn current(&self) -> Arc<Published> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The latest listing of every upstream listed so far.
    pub fn listings(&self) -> Vec<UpstreamListing> {
        self.listings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .cloned()
            .collect()
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
        let mut listings = self
            .listings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        listings.insert(
            upstream.to_string(),
            UpstreamListing {
                upstream: upstream.to_string(),
                prefix: self.prefixes.get(upstream).cloned().unwrap_or_default(),
                tools,
                first_seen,
                bridged,
            },
        );
        let all: Vec<UpstreamListing> = listings.values().cloned().collect();
        let (mut catalogue, notes) = Catalogue::build(&self.exposure, &all);
        for note in notes {
            tracing::warn!("{note}");
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
        tracing::info!(upstream, published = catalogue.len(), "catalogue updated");
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(Published {
            catalogue,
            typed,
            header_params,
        });
    }
}
