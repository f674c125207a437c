//! The compiled, immutable access policy and its `check`.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::feed::BlocklistFeed;
use super::net::{Cidr, is_local_range};
use super::rule::{AllowScope, Channel, ChannelSet, Rule, RuleSet, Target, UnknownRegion};
use super::table::PrefixTable;
use crate::decision::{Decision, Denial, DenyReason, RuleId};
use crate::geo::{CountryCode, GeoLookup};
use crate::ids::{TenantId, UserId};

/// Rule id used when "block all foreign" was turned on by
/// [`AccessControl::set_block_foreign`](super::AccessControl::set_block_foreign)
/// rather than by a rule-file line.
pub const SWITCH_RULE: &str = "switch:block-foreign";

/// One request to judge: source address, channel and who it claims to be.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct AccessRequest<'a> {
    /// Source address (IPv4-mapped IPv6 is judged as IPv4).
    pub ip: IpAddr,
    /// Where the request comes in.
    pub channel: Channel,
    /// The tenant the account belongs to, once known.
    pub tenant: Option<&'a TenantId>,
    /// The account (extension or web user), once known.
    pub account: Option<&'a UserId>,
}

impl<'a> AccessRequest<'a> {
    /// A request with no tenant or account yet (the pre-parse check).
    pub fn new(ip: IpAddr, channel: Channel) -> Self {
        Self {
            ip,
            channel,
            tenant: None,
            account: None,
        }
    }

    /// Adds the tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: &'a TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Adds the account.
    #[must_use]
    pub fn account(mut self, account: &'a UserId) -> Self {
        self.account = Some(account);
        self
    }
}

/// What the access policy decided.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Allowed; `rule` names the whitelist entry that matched, if any.
    /// Later checks (bans, auth, …) still run.
    Allowed {
        /// The whitelist entry that let the source in.
        rule: Option<RuleId>,
    },
    /// **Allowed and every later check skipped**: the source is in a
    /// `trust` network.
    DangerouslyTrusted {
        /// The trust rule.
        rule: RuleId,
    },
    /// Refused.
    Denied(Denial),
}

/// A verdict plus the country GeoIP gave (when it was looked up).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessDecision {
    /// The verdict.
    pub verdict: Verdict,
    /// The source's country, if GeoIP was consulted and knew it.
    pub country: Option<CountryCode>,
}

impl AccessDecision {
    /// The shared [`Decision`] (trusted counts as `Allow`; use
    /// [`AccessDecision::skips_later_checks`] to tell them apart).
    pub fn decision(&self) -> Decision {
        match &self.verdict {
            Verdict::Denied(d) => Decision::Deny(d.clone()),
            _ => Decision::Allow,
        }
    }

    /// `true` if the source is trusted and the caller must skip later checks.
    pub fn skips_later_checks(&self) -> bool {
        matches!(self.verdict, Verdict::DangerouslyTrusted { .. })
    }

    /// `true` unless denied.
    pub fn is_allowed(&self) -> bool {
        !matches!(self.verdict, Verdict::Denied(_))
    }

    /// The rule that made the decision, if one did.
    pub fn rule(&self) -> Option<&RuleId> {
        match &self.verdict {
            Verdict::Allowed { rule } => rule.as_ref(),
            Verdict::DangerouslyTrusted { rule } => Some(rule),
            Verdict::Denied(d) => Some(&d.rule),
        }
    }

    /// A stable kebab-case reason: `trusted`, `allowlisted`, `no-rule`, or
    /// the [`DenyReason`] code.
    pub fn reason(&self) -> &'static str {
        match &self.verdict {
            Verdict::Allowed { rule: Some(_) } => "allowlisted",
            Verdict::Allowed { rule: None } => "no-rule",
            Verdict::DangerouslyTrusted { .. } => "trusted",
            Verdict::Denied(d) => d.reason.code(),
        }
    }
}

/// A rule as stored in the compiled tables: its index and channels.
#[derive(Clone, Copy, Debug)]
struct RuleRef {
    rule: u32,
    channels: ChannelSet,
}

/// One tenant's or account's whitelist.
#[derive(Debug, Default)]
struct Allowlist {
    /// Synthetic rule id naming the whitelist in denials.
    id: Option<RuleId>,
    nets: PrefixTable<RuleRef>,
    countries: Vec<(CountryCode, RuleRef)>,
    /// Channels for which the whitelist has at least one entry.
    present: ChannelSet,
}

impl Allowlist {
    /// `Some(Ok(rule))` if listed, `Some(Err(()))` if a list exists for the
    /// channel but the source is not on it, `None` if no list applies.
    fn judge(
        &self,
        ip: IpAddr,
        channel: Channel,
        country: Option<CountryCode>,
    ) -> Option<Result<u32, ()>> {
        if !self.present.contains(channel) {
            return None;
        }
        if let Some(r) = self.nets.matches(ip).find(|r| r.channels.contains(channel)) {
            return Some(Ok(r.rule));
        }
        if let Some(c) = country
            && let Some((_, r)) = self
                .countries
                .iter()
                .find(|(cc, r)| *cc == c && r.channels.contains(channel))
        {
            return Some(Ok(r.rule));
        }
        Some(Err(()))
    }

    fn needs_country(&self) -> bool {
        !self.countries.is_empty()
    }
}

/// The compiled form of a [`RuleSet`]; shared between policy versions.
#[derive(Debug, Default)]
pub(crate) struct CompiledRules {
    ids: Vec<RuleId>,
    trusted: PrefixTable<RuleRef>,
    deny_nets: PrefixTable<RuleRef>,
    deny_countries: HashMap<CountryCode, Vec<RuleRef>>,
    home: Vec<CountryCode>,
    /// The last `block-foreign` line: its rule and state.
    pub(crate) block_foreign: Option<(RuleId, bool)>,
    unknown_region: UnknownRegion,
    tenants: HashMap<TenantId, Allowlist>,
    accounts: HashMap<UserId, Allowlist>,
    needs_country: bool,
}

impl CompiledRules {
    pub(crate) fn compile(rules: &RuleSet) -> Self {
        let mut c = Self::default();
        let mut trusted: Vec<(Cidr, RuleRef)> = Vec::new();
        let mut deny: Vec<(Cidr, RuleRef)> = Vec::new();
        let mut tenant_nets: HashMap<TenantId, Vec<(Cidr, RuleRef)>> = HashMap::new();
        let mut account_nets: HashMap<UserId, Vec<(Cidr, RuleRef)>> = HashMap::new();
        for (i, entry) in rules.entries.iter().enumerate() {
            let Ok(idx) = u32::try_from(i) else { break };
            c.ids.push(entry.id.clone());
            match &entry.rule {
                Rule::DangerouslyTrust { network, channels } => {
                    trusted.push((
                        *network,
                        RuleRef {
                            rule: idx,
                            channels: *channels,
                        },
                    ));
                }
                Rule::Deny {
                    target: Target::Network(n),
                    channels,
                } => {
                    deny.push((
                        *n,
                        RuleRef {
                            rule: idx,
                            channels: *channels,
                        },
                    ));
                }
                Rule::Deny {
                    target: Target::Country(cc),
                    channels,
                } => {
                    c.deny_countries.entry(*cc).or_default().push(RuleRef {
                        rule: idx,
                        channels: *channels,
                    });
                }
                Rule::Home(cc) => {
                    if !c.home.contains(cc) {
                        c.home.push(*cc);
                    }
                }
                Rule::BlockForeign(on) => c.block_foreign = Some((entry.id.clone(), *on)),
                Rule::UnknownRegion(u) => c.unknown_region = *u,
                Rule::Allow {
                    scope,
                    target,
                    channels,
                } => {
                    let r = RuleRef {
                        rule: idx,
                        channels: *channels,
                    };
                    let (list, nets) = match scope {
                        AllowScope::Tenant(t) => (
                            c.tenants.entry(t.clone()).or_default(),
                            tenant_nets.entry(t.clone()).or_default(),
                        ),
                        AllowScope::Account(a) => (
                            c.accounts.entry(a.clone()).or_default(),
                            account_nets.entry(a.clone()).or_default(),
                        ),
                    };
                    if list.id.is_none() {
                        list.id = Some(RuleId::new(format!("allowlist:{scope}")));
                    }
                    list.present = channels.iter().fold(list.present, ChannelSet::with);
                    match target {
                        Target::Network(n) => nets.push((*n, r)),
                        Target::Country(cc) => list.countries.push((*cc, r)),
                    }
                }
            }
        }
        c.trusted = PrefixTable::build(trusted);
        c.deny_nets = PrefixTable::build(deny);
        for (t, nets) in tenant_nets {
            if let Some(l) = c.tenants.get_mut(&t) {
                l.nets = PrefixTable::build(nets);
            }
        }
        for (a, nets) in account_nets {
            if let Some(l) = c.accounts.get_mut(&a) {
                l.nets = PrefixTable::build(nets);
            }
        }
        c.needs_country = !c.deny_countries.is_empty()
            || c.tenants.values().any(Allowlist::needs_country)
            || c.accounts.values().any(Allowlist::needs_country);
        c
    }

    pub(crate) fn has_home(&self) -> bool {
        !self.home.is_empty()
    }

    fn id(&self, idx: u32) -> RuleId {
        // Invariant: every RuleRef indexes `ids` (built together in `compile`).
        self.ids
            .get(idx as usize)
            .cloned()
            .unwrap_or_else(|| RuleId::new("rule:unknown"))
    }
}

/// Why a policy could not be put together.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// "Block all foreign" needs a GeoIP database.
    #[error("\"block all foreign\" is on but no GeoIP database is loaded")]
    BlockForeignWithoutGeoIp,
    /// "Block all foreign" needs at least one home region.
    #[error("\"block all foreign\" is on but no home region is configured (add `home CC`)")]
    BlockForeignWithoutHome,
    /// Country rules need a GeoIP database.
    #[error("rule {0} matches a country but no GeoIP database is loaded")]
    CountryRuleWithoutGeoIp(RuleId),
}

/// The compiled, immutable access policy.
///
/// Build it with [`AccessPolicy::compile`] or get the current one from
/// [`AccessControl`](super::AccessControl). Checks never block and never
/// allocate on the allow path.
///
/// The precedence is the one in the module documentation
/// ([`crate::access`]).
pub struct AccessPolicy {
    rules: Arc<CompiledRules>,
    feeds: Vec<Arc<BlocklistFeed>>,
    /// `Some(rule)` while "block all foreign" is on.
    block_foreign: Option<RuleId>,
    geo: Option<Arc<dyn GeoLookup>>,
}

impl fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessPolicy")
            .field("rules", &self.rules.ids.len())
            .field(
                "feeds",
                &self.feeds.iter().map(|f| f.name()).collect::<Vec<_>>(),
            )
            .field("block_foreign", &self.block_foreign)
            .field("geo", &self.geo.is_some())
            .finish()
    }
}

impl AccessPolicy {
    /// Compiles a rule set (no feeds). The rule set's own `block-foreign`
    /// line decides the switch.
    pub fn compile(rules: &RuleSet, geo: Option<Arc<dyn GeoLookup>>) -> Result<Self, PolicyError> {
        let compiled = Arc::new(CompiledRules::compile(rules));
        let switch = match &compiled.block_foreign {
            Some((id, true)) => Some(id.clone()),
            _ => None,
        };
        Self::assemble(compiled, Vec::new(), switch, geo)
    }

    /// A policy that allows everything.
    pub fn allow_all() -> Self {
        Self {
            rules: Arc::default(),
            feeds: Vec::new(),
            block_foreign: None,
            geo: None,
        }
    }

    pub(crate) fn assemble(
        rules: Arc<CompiledRules>,
        feeds: Vec<Arc<BlocklistFeed>>,
        block_foreign: Option<RuleId>,
        geo: Option<Arc<dyn GeoLookup>>,
    ) -> Result<Self, PolicyError> {
        if geo.is_none() {
            if block_foreign.is_some() {
                return Err(PolicyError::BlockForeignWithoutGeoIp);
            }
            if rules.needs_country {
                let first = rules
                    .deny_countries
                    .values()
                    .flatten()
                    .chain(
                        rules
                            .tenants
                            .values()
                            .chain(rules.accounts.values())
                            .flat_map(|l| l.countries.iter().map(|(_, r)| r)),
                    )
                    .map(|r| r.rule)
                    .min()
                    .unwrap_or(0);
                return Err(PolicyError::CountryRuleWithoutGeoIp(rules.id(first)));
            }
        }
        if block_foreign.is_some() && !rules.has_home() {
            return Err(PolicyError::BlockForeignWithoutHome);
        }
        Ok(Self {
            rules,
            feeds,
            block_foreign,
            geo,
        })
    }

    /// `true` while "block all foreign" is on.
    pub fn blocks_foreign(&self) -> bool {
        self.block_foreign.is_some()
    }

    /// The GeoIP lookup in use, if any.
    pub fn geo(&self) -> Option<&Arc<dyn GeoLookup>> {
        self.geo.as_ref()
    }

    /// Judges one request. See the precedence table in [`crate::access`].
    pub fn check(&self, req: &AccessRequest<'_>) -> AccessDecision {
        let ip = req.ip.to_canonical();
        let ch = req.channel;
        let r = &*self.rules;
        let deny = |rule: RuleId, reason, country| AccessDecision {
            verdict: Verdict::Denied(Denial::new(rule, reason)),
            country,
        };
        // 1. Trusted networks.
        if let Some(t) = r.trusted.matches(ip).find(|t| t.channels.contains(ch)) {
            return AccessDecision {
                verdict: Verdict::DangerouslyTrusted { rule: r.id(t.rule) },
                country: None,
            };
        }
        // 2. Global blacklist: networks, then feeds.
        if let Some(d) = r.deny_nets.matches(ip).find(|d| d.channels.contains(ch)) {
            return deny(r.id(d.rule), DenyReason::BlockedNetwork, None);
        }
        if let Some(f) = self.feeds.iter().find(|f| f.contains(ip)) {
            return deny(f.rule().clone(), DenyReason::BlockedNetwork, None);
        }
        let tenant_list = req.tenant.and_then(|t| r.tenants.get(t));
        let account_list = req.account.and_then(|a| r.accounts.get(a));
        let local = is_local_range(ip);
        let wants_country = !local
            && (!r.deny_countries.is_empty()
                || self.block_foreign.is_some()
                || tenant_list.is_some_and(Allowlist::needs_country)
                || account_list.is_some_and(Allowlist::needs_country));
        let country = if wants_country {
            self.geo.as_ref().and_then(|g| g.country(ip))
        } else {
            None
        };
        // 3. Global blacklist: countries.
        if let Some(c) = country
            && let Some(d) = r
                .deny_countries
                .get(&c)
                .and_then(|v| v.iter().find(|d| d.channels.contains(ch)))
        {
            return deny(r.id(d.rule), DenyReason::BlockedRegion, country);
        }
        // 4. Block all foreign.
        if let Some(rule) = &self.block_foreign
            && !local
        {
            match country {
                Some(c) if r.home.contains(&c) => {}
                Some(_) => return deny(rule.clone(), DenyReason::ForeignRegion, country),
                None if r.unknown_region == UnknownRegion::Allow => {}
                None => return deny(rule.clone(), DenyReason::UnknownRegion, None),
            }
        }
        // 5. Tenant, then account whitelist.
        let mut allowed_by = None;
        for list in [tenant_list, account_list].into_iter().flatten() {
            match list.judge(ip, ch, country) {
                Some(Ok(rule)) => allowed_by = Some(r.id(rule)),
                Some(Err(())) => {
                    let id = list.id.clone().unwrap_or_else(|| RuleId::new("allowlist"));
                    return deny(id, DenyReason::NotAllowlisted, country);
                }
                None => {}
            }
        }
        AccessDecision {
            verdict: Verdict::Allowed { rule: allowed_by },
            country,
        }
    }
}
