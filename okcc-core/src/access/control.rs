//! [`AccessControl`]: the live policy, swapped atomically on every change.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use super::feed::BlocklistFeed;
use super::parse::RuleFileError;
use super::policy::{
    AccessDecision, AccessPolicy, AccessRequest, CompiledRules, PolicyError, SWITCH_RULE,
};
use super::rule::RuleSet;
use crate::decision::RuleId;
use crate::geo::GeoLookup;

/// Why a change to the access policy was refused; the active policy is
/// unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The rule file has bad lines.
    #[error(transparent)]
    Rules(#[from] RuleFileError),
    /// The rules cannot form a policy (e.g. "block all foreign" without GeoIP).
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Everything the policy is compiled from.
struct Sources {
    rules: Arc<CompiledRules>,
    feeds: BTreeMap<String, Arc<BlocklistFeed>>,
    block_foreign: Option<RuleId>,
    geo: Option<Arc<dyn GeoLookup>>,
}

impl Sources {
    fn build(&self) -> Result<AccessPolicy, PolicyError> {
        AccessPolicy::assemble(
            Arc::clone(&self.rules),
            self.feeds.values().cloned().collect(),
            self.block_foreign.clone(),
            self.geo.clone(),
        )
    }
}

/// The live access policy of a node.
///
/// Readers call [`AccessControl::check`] (or hold [`AccessControl::policy`]);
/// they never block and never see half a change: every change compiles a
/// complete new [`AccessPolicy`] and swaps it in with one atomic store.
/// Writers are serialised by a mutex that readers never touch. A refused
/// change leaves the active policy as it was.
pub struct AccessControl {
    current: ArcSwap<AccessPolicy>,
    sources: Mutex<Sources>,
}

impl std::fmt::Debug for AccessControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessControl")
            .field("current", &self.current.load())
            .finish()
    }
}

impl AccessControl {
    /// No rules (everything allowed), with an optional GeoIP lookup.
    pub fn new(geo: Option<Arc<dyn GeoLookup>>) -> Self {
        let sources = Sources {
            rules: Arc::default(),
            feeds: BTreeMap::new(),
            block_foreign: None,
            geo,
        };
        let policy = sources
            .build()
            .unwrap_or_else(|_| AccessPolicy::allow_all());
        Self {
            current: ArcSwap::from_pointee(policy),
            sources: Mutex::new(sources),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Sources> {
        // A panic while holding the lock cannot leave `Sources` half-changed:
        // it is only replaced field by field after a successful build.
        self.sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Judges one request against the current policy.
    #[inline]
    pub fn check(&self, req: &AccessRequest<'_>) -> AccessDecision {
        self.current.load().check(req)
    }

    /// The current policy (a snapshot; later changes do not affect it).
    pub fn policy(&self) -> Arc<AccessPolicy> {
        self.current.load_full()
    }

    fn commit(&self, s: &mut Sources, next: Sources) -> Result<(), PolicyError> {
        let policy = next.build()?;
        *s = next;
        self.current.store(Arc::new(policy));
        Ok(())
    }

    /// Replaces the rule set. A `block-foreign` line in it sets the switch;
    /// without one, the switch keeps its state.
    pub fn replace_rules(&self, rules: &RuleSet) -> Result<(), AccessError> {
        let compiled = Arc::new(CompiledRules::compile(rules));
        let mut s = self.lock();
        let block_foreign = match &compiled.block_foreign {
            Some((id, true)) => Some(id.clone()),
            Some((_, false)) => None,
            None => s.block_foreign.clone(),
        };
        let next = Sources {
            rules: compiled,
            feeds: s.feeds.clone(),
            block_foreign,
            geo: s.geo.clone(),
        };
        self.commit(&mut s, next)?;
        Ok(())
    }

    /// Parses a rule file and replaces the rule set (all or nothing).
    pub fn load_rule_text(&self, source: &str, text: &str) -> Result<(), AccessError> {
        let rules = RuleSet::parse_text(source, text)?;
        self.replace_rules(&rules)
    }

    /// The "block all foreign" switch: one call turns it on or off.
    ///
    /// Turning it on without a GeoIP database or without a home region is
    /// an error and changes nothing.
    pub fn set_block_foreign(&self, on: bool) -> Result<(), PolicyError> {
        let mut s = self.lock();
        let block_foreign = on.then(|| RuleId::new(SWITCH_RULE));
        let next = Sources {
            rules: Arc::clone(&s.rules),
            feeds: s.feeds.clone(),
            block_foreign,
            geo: s.geo.clone(),
        };
        self.commit(&mut s, next)
    }

    /// Adds or replaces a blocklist feed (by its name), atomically.
    pub fn replace_feed(&self, feed: BlocklistFeed) {
        let mut s = self.lock();
        let mut feeds = s.feeds.clone();
        feeds.insert(feed.name().to_owned(), Arc::new(feed));
        let next = Sources {
            rules: Arc::clone(&s.rules),
            feeds,
            block_foreign: s.block_foreign.clone(),
            geo: s.geo.clone(),
        };
        // Feeds cannot make a valid policy invalid; keep the old one if
        // that ever changes.
        let _ = self.commit(&mut s, next);
    }

    /// Removes a feed; `false` if there was none by that name.
    pub fn remove_feed(&self, name: &str) -> bool {
        let mut s = self.lock();
        let mut feeds = s.feeds.clone();
        if feeds.remove(name).is_none() {
            return false;
        }
        let next = Sources {
            rules: Arc::clone(&s.rules),
            feeds,
            block_foreign: s.block_foreign.clone(),
            geo: s.geo.clone(),
        };
        self.commit(&mut s, next).is_ok()
    }

    /// Sets or removes the GeoIP lookup. Removing it while country rules
    /// exist or "block all foreign" is on is an error.
    pub fn set_geo(&self, geo: Option<Arc<dyn GeoLookup>>) -> Result<(), PolicyError> {
        let mut s = self.lock();
        let next = Sources {
            rules: Arc::clone(&s.rules),
            feeds: s.feeds.clone(),
            block_foreign: s.block_foreign.clone(),
            geo,
        };
        self.commit(&mut s, next)
    }
}
