//! The network file as a planner writes it (TOML). These types mirror the file one to one;
//! [`crate::Network::compile`] checks them and resolves every name. Every field is documented
//! in `docs/network.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A whole network file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    /// Name, currency, sourcing and the rules that hold for the whole network.
    pub network: Settings,
    /// Speed and rate that turn a link's distance into days and cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportRates>,
    /// Products with their vein-to-vein limit.
    #[serde(default)]
    pub product: Vec<ProductSpec>,
    /// Regions: where patients are collected (apheresis) and treated (infusion).
    #[serde(default)]
    pub region: Vec<RegionSpec>,
    /// Candidate (and existing) manufacturing sites.
    #[serde(default)]
    pub site: Vec<SiteSpec>,
    /// Transport links between a region's centre and a site.
    #[serde(default)]
    pub link: Vec<LinkSpec>,
    /// What-if scenarios solved after the base plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenarios: Option<ScenarioSpec>,
    /// Settings of the check by simulation (`atmpflow network check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckSpec>,
}

/// The `[network]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Name of the network study.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Currency of every amount (a label only).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// `continuous` (a region's patients may be split between sites) or `single` (every
    /// region is served by exactly one site).
    #[serde(default)]
    pub sourcing: Sourcing,
    /// Upper limit of the total cost per year (fixed, manufacturing and transport).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_per_year: Option<f64>,
    /// At most this many open sites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sites: Option<u32>,
    /// No flow on a link longer than this (one way, km); every link then needs `distance_km`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_distance_km: Option<f64>,
    /// Time limit of one solve in seconds (the best plan found so far is kept, with its gap).
    #[serde(default = "default_time_limit")]
    pub time_limit_seconds: f64,
    /// Relative optimality gap at which the solver stops (0 = prove optimality).
    #[serde(default = "default_gap")]
    pub mip_gap: f64,
}

fn default_currency() -> String {
    "EUR".to_string()
}

fn default_time_limit() -> f64 {
    60.0
}

fn default_gap() -> f64 {
    1e-6
}

/// How regions may be split between sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sourcing {
    /// A region's patients may go to several sites.
    #[default]
    Continuous,
    /// Every region is served by exactly one site (all its products).
    Single,
}

/// The `[transport]` table: how a distance becomes a round trip's days and cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportRates {
    /// Distance covered per day by the courier (km per day).
    pub speed_km_per_day: f64,
    /// Cost per km travelled, per patient; a round trip travels the distance twice.
    pub cost_per_km: f64,
    /// Days added to every round trip (hand-over, customs of the cold chain, waiting for the
    /// next pick-up).
    #[serde(default)]
    pub handling_days: f64,
    /// Cost added to every round trip (packaging, shipper, data logger).
    #[serde(default)]
    pub handling_cost: f64,
}

/// A `[[product]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    /// Name; a site's concept scenario must have a product of this name to make it.
    pub name: String,
    /// Longest allowed vein-to-vein time (apheresis to infusion), days.
    pub max_vein_to_vein_days: f64,
}

/// A `[[region]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// Name.
    pub name: String,
    /// The apheresis and infusion centre of the region (a label).
    #[serde(default)]
    pub centre: String,
    /// Patients per year by product name.
    pub patients_per_year: BTreeMap<String, f64>,
    /// At least this many open sites must be able to serve the region (resilience).
    #[serde(default)]
    pub min_sites_within_reach: u32,
    /// No flow from this region on a link longer than this (km, one way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_distance_km: Option<f64>,
    /// Latitude of the centre in degrees (for the map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude of the centre in degrees (for the map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

/// A `[[site]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    /// Name.
    pub name: String,
    /// The production concept: a scenario file, relative to the network file. Needed by the
    /// check by simulation only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concept: Option<String>,
    /// Fixed cost per year when open (annualised investment and fixed running cost).
    pub fixed_cost_per_year: f64,
    /// Patients per year the site can make (all products together).
    pub capacity_patients_per_year: f64,
    /// Cost per patient made (materials, QC, variable labour).
    pub variable_cost_per_patient: f64,
    /// Days from the arrival of the apheresis material to the release of the product
    /// (transport not included).
    pub lead_time_days: f64,
    /// The site exists already: it stays open.
    #[serde(default)]
    pub existing: bool,
    /// Products the site makes (default: every product).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<String>>,
    /// Latitude in degrees (for the map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude in degrees (for the map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// The concept's step that carries the apheresis material to the site.
    #[serde(default = "default_inbound")]
    pub inbound_step: String,
    /// The concept's step that carries the product back to the clinic.
    #[serde(default = "default_outbound")]
    pub outbound_step: String,
}

fn default_inbound() -> String {
    "inbound-transport".to_string()
}

fn default_outbound() -> String {
    "outbound-transport".to_string()
}

/// A `[[link]]`: the round trip between a region's centre and a site, given either as days
/// and cost, or as a distance priced with `[transport]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Region name.
    pub region: String,
    /// Site name.
    pub site: String,
    /// Days of the round trip (material to the site plus product back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<f64>,
    /// Cost per patient of the round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_patient: Option<f64>,
    /// One-way road distance in km.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
}

/// The `[scenarios]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Demand factors (1.5 = 50 % more patients in every region); the network is planned anew
    /// for each, and the base plan's sites are checked against it.
    #[serde(default)]
    pub demand_growth: Vec<f64>,
    /// For every open site of the base plan: the quarter in which it is down, its patients
    /// re-allocated to the other open sites.
    #[serde(default)]
    pub site_down_quarter: bool,
}

/// The `[check]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// Replications per site (overridden by `--replications`).
    #[serde(default = "default_replications")]
    pub replications: u32,
    /// Seed of every site's simulation.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated days per replication (default: the concept's own horizon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizon_days: Option<f64>,
    /// A site passes when at least this fraction of its patients is treated within the
    /// product's vein-to-vein limit.
    #[serde(default = "default_on_time")]
    pub min_on_time: f64,
    /// A site that fails gets the capacity `tighten_factor × (patients allocated to it)` and
    /// the network is solved again.
    #[serde(default = "default_tighten")]
    pub tighten_factor: f64,
    /// At most this many rounds of simulate, tighten and solve again.
    #[serde(default = "default_rounds")]
    pub max_rounds: u32,
}

impl Default for CheckSpec {
    fn default() -> Self {
        Self {
            replications: default_replications(),
            seed: default_seed(),
            horizon_days: None,
            min_on_time: default_on_time(),
            tighten_factor: default_tighten(),
            max_rounds: default_rounds(),
        }
    }
}

fn default_replications() -> u32 {
    20
}

fn default_seed() -> u64 {
    20_261_204
}

fn default_on_time() -> f64 {
    0.9
}

fn default_tighten() -> f64 {
    0.9
}

fn default_rounds() -> u32 {
    4
}
