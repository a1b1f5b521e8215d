//! Checks a [`NetworkFile`] and resolves it into the indexed [`Network`] the optimiser reads.
//! Every problem is reported with its field path, so that the caller can locate it in the file.

use std::collections::{BTreeMap, BTreeSet};

use model::{FieldPath, Problem};
use serde::Serialize;

use crate::format::{
    CheckSpec, LinkSpec, NetworkFile, RegionSpec, ScenarioSpec, Settings, SiteSpec, Sourcing,
    TransportRates,
};

/// At most this many products in one network.
pub const MAX_PRODUCTS: usize = 50;
/// At most this many regions.
pub const MAX_REGIONS: usize = 2_000;
/// At most this many candidate sites.
pub const MAX_SITES: usize = 500;
/// At most this many allowed flows (region × site × product), i.e. columns of the model.
pub const MAX_FLOWS: usize = 200_000;
/// At most this many demand-growth scenarios.
pub const MAX_GROWTH: usize = 50;
/// Largest demand-growth factor.
pub const MAX_GROWTH_FACTOR: f64 = 100.0;
/// Longest time limit of one solve, seconds.
pub const MAX_TIME_LIMIT_S: f64 = 86_400.0;
/// Most replications per site in the check.
pub const MAX_REPLICATIONS: u32 = 10_000;
/// Most rounds of the check.
pub const MAX_ROUNDS: u32 = 20;
/// Largest amount of money, distance or days accepted anywhere (a typo guard, not a limit a
/// real network reaches).
pub const MAX_AMOUNT: f64 = 1e12;

/// A product.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    /// Name.
    pub name: String,
    /// Longest allowed vein-to-vein time, days.
    pub max_v2v_days: f64,
}

/// A region with its demand.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Region {
    /// Name.
    pub name: String,
    /// Apheresis and infusion centre.
    pub centre: String,
    /// Patients per year, by product index.
    pub demand: Vec<f64>,
    /// Open sites that must be able to serve it.
    pub min_sites_within_reach: u32,
    /// Longest link it may use, km.
    pub max_distance_km: Option<f64>,
    /// Latitude and longitude, degrees.
    pub location: Option<(f64, f64)>,
}

impl Region {
    /// Patients per year of all products.
    pub fn total_demand(&self) -> f64 {
        self.demand.iter().sum()
    }
}

/// A candidate or existing site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    /// Name.
    pub name: String,
    /// Concept scenario file as written (relative to the network file).
    pub concept: Option<String>,
    /// Fixed cost per year when open.
    pub fixed_cost: f64,
    /// Patients per year.
    pub capacity: f64,
    /// Cost per patient made.
    pub variable_cost: f64,
    /// Manufacturing lead time, days.
    pub lead_time_days: f64,
    /// Exists already (stays open).
    pub existing: bool,
    /// Makes product `p`.
    pub makes: Vec<bool>,
    /// Latitude and longitude, degrees.
    pub location: Option<(f64, f64)>,
    /// Transport step into the site in the concept scenario.
    pub inbound_step: String,
    /// Transport step back to the clinic in the concept scenario.
    pub outbound_step: String,
}

/// A resolved link: round-trip days and cost per patient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    /// Region index.
    pub region: usize,
    /// Site index.
    pub site: usize,
    /// Round-trip days.
    pub days: f64,
    /// Round-trip cost per patient.
    pub cost: f64,
    /// One-way distance, km, when given.
    pub distance_km: Option<f64>,
}

/// The what-if scenarios.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Scenarios {
    /// Demand factors.
    pub demand_growth: Vec<f64>,
    /// Solve a quarter without each open site.
    pub site_down_quarter: bool,
}

/// The checked network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Currency label.
    pub currency: String,
    /// Continuous or single sourcing.
    pub sourcing: Sourcing,
    /// Upper limit of the total cost per year.
    pub budget: Option<f64>,
    /// Most open sites.
    pub max_sites: Option<u32>,
    /// Longest link for every region, km.
    pub max_distance_km: Option<f64>,
    /// Time limit of one solve, seconds.
    pub time_limit_s: f64,
    /// Relative gap at which the solver stops.
    pub mip_gap: f64,
    /// Products.
    pub products: Vec<Product>,
    /// Regions.
    pub regions: Vec<Region>,
    /// Sites.
    pub sites: Vec<Site>,
    /// Links, in file order.
    pub links: Vec<Link>,
    /// What-if scenarios.
    pub scenarios: Scenarios,
    /// Settings of the check by simulation.
    pub check: CheckSpec,
}

/// Why a region cannot send a product to a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Barrier {
    /// No link between them.
    NoLink,
    /// The site does not make the product.
    NotMade,
    /// Lead time plus transport exceed the vein-to-vein limit.
    TooSlow,
    /// The link is longer than the distance rule allows.
    TooFar,
}

impl Network {
    /// Checks a parsed file; all problems at once, each with its field path.
    pub fn compile(file: &NetworkFile) -> Result<Network, Vec<Problem>> {
        compile(file)
    }

    /// The link between region `r` and site `s`, if any.
    pub fn link(&self, r: usize, s: usize) -> Option<&Link> {
        self.links.iter().find(|l| l.region == r && l.site == s)
    }

    /// Vein-to-vein days of a flow from region `r` through site `s`: lead time plus round trip.
    pub fn v2v_days(&self, r: usize, s: usize) -> Option<f64> {
        self.link(r, s)
            .map(|l| self.sites[s].lead_time_days + l.days)
    }

    /// Whether region `r` may send product `p` to site `s`, or why not.
    pub fn allowed(&self, r: usize, s: usize, p: usize) -> Result<(), Barrier> {
        let Some(link) = self.link(r, s) else {
            return Err(Barrier::NoLink);
        };
        if !self.sites[s].makes[p] {
            return Err(Barrier::NotMade);
        }
        if self.sites[s].lead_time_days + link.days > self.products[p].max_v2v_days + 1e-9 {
            return Err(Barrier::TooSlow);
        }
        let limit = match (self.regions[r].max_distance_km, self.max_distance_km) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let (Some(limit), Some(d)) = (limit, link.distance_km)
            && d > limit + 1e-9
        {
            return Err(Barrier::TooFar);
        }
        Ok(())
    }

    /// Whether site `s` can serve every product region `r` needs.
    pub fn reaches(&self, r: usize, s: usize) -> bool {
        let needs: Vec<usize> = (0..self.products.len())
            .filter(|&p| self.regions[r].demand[p] > 0.0)
            .collect();
        !needs.is_empty() && needs.iter().all(|&p| self.allowed(r, s, p).is_ok())
    }

    /// Patients per year of all regions and products.
    pub fn total_demand(&self) -> f64 {
        self.regions.iter().map(Region::total_demand).sum()
    }
}

/// Checks every table of the file in order and builds the indexed network; all problems
/// are collected before returning.
fn compile(f: &NetworkFile) -> Result<Network, Vec<Problem>> {
    let mut pb = Vec::new();
    check_settings(&mut pb, &f.network);
    check_transport(&mut pb, f.transport.as_ref());
    let (product_ix, products) = compile_products(&mut pb, f);
    let (region_ix, regions) = compile_tables(
        &mut pb,
        "region",
        MAX_REGIONS,
        &f.region,
        |r| &r.name,
        |pb, at, r| compile_region(pb, f, &product_ix, at, r),
    );
    let (site_ix, sites) = compile_tables(
        &mut pb,
        "site",
        MAX_SITES,
        &f.site,
        |s| &s.name,
        |pb, at, s| compile_site(pb, f, &product_ix, at, s),
    );
    let links = compile_links(&mut pb, f, &region_ix, &site_ix);
    let scenarios = compile_scenarios(&mut pb, f.scenarios.as_ref());
    let check = f.check.clone().unwrap_or_default();
    check_check(&mut pb, &check);

    if !pb.is_empty() {
        return Err(pb);
    }
    let s = &f.network;
    let network = Network {
        name: s.name.clone(),
        description: s.description.clone(),
        currency: s.currency.clone(),
        sourcing: s.sourcing,
        budget: s.budget_per_year,
        max_sites: s.max_sites,
        max_distance_km: s.max_distance_km,
        time_limit_s: s.time_limit_seconds,
        mip_gap: s.mip_gap,
        products,
        regions,
        sites,
        links,
        scenarios,
        check,
    };
    let flows = count_flows(&network);
    if flows > MAX_FLOWS {
        return Err(vec![Problem::new(
            FieldPath::root().key("link"),
            format!("the network has {flows} possible flows; at most {MAX_FLOWS} can be planned"),
        )]);
    }
    Ok(network)
}

/// Checks the `[network]` settings: name, budget, distance, site count, time limit and gap.
fn check_settings(pb: &mut Vec<Problem>, s: &Settings) {
    let net = FieldPath::root().key("network");
    if s.name.trim().is_empty() {
        pb.push(Problem::new(net.key("name"), "the name must not be empty"));
    }
    if let Some(b) = s.budget_per_year {
        positive(pb, &net.key("budget_per_year"), b);
    }
    if let Some(d) = s.max_distance_km {
        positive(pb, &net.key("max_distance_km"), d);
    }
    if s.max_sites == Some(0) {
        pb.push(Problem::new(
            net.key("max_sites"),
            "max_sites must be at least 1",
        ));
    }
    if !(s.time_limit_seconds.is_finite()
        && s.time_limit_seconds > 0.0
        && s.time_limit_seconds <= MAX_TIME_LIMIT_S)
    {
        pb.push(Problem::new(
            net.key("time_limit_seconds"),
            format!(
                "time_limit_seconds must be more than 0 and at most {MAX_TIME_LIMIT_S} (is {})",
                s.time_limit_seconds
            ),
        ));
    }
    if !(s.mip_gap.is_finite() && (0.0..1.0).contains(&s.mip_gap)) {
        pb.push(Problem::new(
            net.key("mip_gap"),
            format!("mip_gap must be at least 0 and below 1 (is {})", s.mip_gap),
        ));
    }
}

/// Checks the optional `[transport]` rates.
fn check_transport(pb: &mut Vec<Problem>, t: Option<&TransportRates>) {
    if let Some(t) = t {
        let tp = FieldPath::root().key("transport");
        positive(pb, &tp.key("speed_km_per_day"), t.speed_km_per_day);
        non_negative(pb, &tp.key("cost_per_km"), t.cost_per_km);
        non_negative(pb, &tp.key("handling_days"), t.handling_days);
        non_negative(pb, &tp.key("handling_cost"), t.handling_cost);
    }
}

/// Checks the `[[product]]` tables and returns the name index and the products.
fn compile_products<'a>(
    pb: &mut Vec<Problem>,
    f: &'a NetworkFile,
) -> (BTreeMap<&'a str, usize>, Vec<Product>) {
    let root = FieldPath::root();
    if f.product.is_empty() {
        pb.push(Problem::new(
            root.clone(),
            "the network has no [[product]]; give at least one with its max_vein_to_vein_days",
        ));
    }
    if f.product.len() > MAX_PRODUCTS {
        pb.push(Problem::new(
            root.key("product"),
            format!(
                "{} products; a network has at most {MAX_PRODUCTS}",
                f.product.len()
            ),
        ));
    }
    let product_ix = names(
        pb,
        &root.key("product"),
        f.product.iter().map(|p| p.name.as_str()),
        "product",
    );
    let products: Vec<Product> = f
        .product
        .iter()
        .enumerate()
        .map(|(i, p)| {
            positive(
                pb,
                &root.key("product").idx(i).key("max_vein_to_vein_days"),
                p.max_vein_to_vein_days,
            );
            Product {
                name: p.name.clone(),
                max_v2v_days: p.max_vein_to_vein_days,
            }
        })
        .collect();
    (product_ix, products)
}

/// Checks the `[[key]]` tables of a network file (regions or sites): at least one, at most
/// `max`, unique non-empty names, each table checked by `one` at its path. Returns the name
/// index and what `one` made of each table.
fn compile_tables<'a, S, T>(
    pb: &mut Vec<Problem>,
    key: &str,
    max: usize,
    items: &'a [S],
    name: fn(&S) -> &str,
    mut one: impl FnMut(&mut Vec<Problem>, &FieldPath, &S) -> T,
) -> (BTreeMap<&'a str, usize>, Vec<T>) {
    let root = FieldPath::root();
    if items.is_empty() {
        pb.push(Problem::new(
            root.clone(),
            format!("the network has no [[{key}]]"),
        ));
    }
    if items.len() > max {
        pb.push(Problem::new(
            root.key(key),
            format!("{} {key}s; a network has at most {max}", items.len()),
        ));
    }
    let ix = names(pb, &root.key(key), items.iter().map(name), key);
    let made = items
        .iter()
        .enumerate()
        .map(|(i, x)| one(pb, &root.key(key).idx(i), x))
        .collect();
    (ix, made)
}

/// Checks one region at `at`: its demand per product, distance limit and location.
fn compile_region(
    pb: &mut Vec<Problem>,
    f: &NetworkFile,
    product_ix: &BTreeMap<&str, usize>,
    at: &FieldPath,
    r: &RegionSpec,
) -> Region {
    let mut demand = vec![0.0; f.product.len()];
    for (name, &n) in &r.patients_per_year {
        let field = at.key("patients_per_year").key(name);
        match product_ix.get(name.as_str()) {
            Some(&p) => {
                if !(n.is_finite() && (0.0..=model::limits::MAX_PATIENTS).contains(&n)) {
                    pb.push(Problem::new(
                        field,
                        format!(
                            "patients per year must be a number from 0 to {} (is {n})",
                            model::limits::MAX_PATIENTS
                        ),
                    ));
                } else {
                    demand[p] = n;
                }
            }
            None => pb.push(Problem::new(
                field,
                format!(
                    "no product `{name}`; products are: {}",
                    list(f.product.iter().map(|p| p.name.as_str()))
                ),
            )),
        }
    }
    if let Some(d) = r.max_distance_km {
        positive(pb, &at.key("max_distance_km"), d);
    }
    let location = location(pb, at, r.lat, r.lon);
    Region {
        name: r.name.clone(),
        centre: r.centre.clone(),
        demand,
        min_sites_within_reach: r.min_sites_within_reach,
        max_distance_km: r.max_distance_km,
        location,
    }
}

/// Checks one site at `at`: costs, capacity, lead time, concept, products made and location.
fn compile_site(
    pb: &mut Vec<Problem>,
    f: &NetworkFile,
    product_ix: &BTreeMap<&str, usize>,
    at: &FieldPath,
    s: &SiteSpec,
) -> Site {
    non_negative(pb, &at.key("fixed_cost_per_year"), s.fixed_cost_per_year);
    positive(
        pb,
        &at.key("capacity_patients_per_year"),
        s.capacity_patients_per_year,
    );
    if s.capacity_patients_per_year > model::limits::MAX_PATIENTS {
        pb.push(Problem::new(
            at.key("capacity_patients_per_year"),
            format!(
                "capacity must be at most {} patients per year",
                model::limits::MAX_PATIENTS
            ),
        ));
    }
    non_negative(
        pb,
        &at.key("variable_cost_per_patient"),
        s.variable_cost_per_patient,
    );
    non_negative(pb, &at.key("lead_time_days"), s.lead_time_days);
    if let Some(c) = &s.concept
        && c.trim().is_empty()
    {
        pb.push(Problem::new(
            at.key("concept"),
            "the concept must name a scenario file",
        ));
    }
    let makes = site_makes(pb, f, product_ix, at, s.products.as_deref());
    let location = location(pb, at, s.lat, s.lon);
    Site {
        name: s.name.clone(),
        concept: s.concept.clone(),
        fixed_cost: s.fixed_cost_per_year,
        capacity: s.capacity_patients_per_year,
        variable_cost: s.variable_cost_per_patient,
        lead_time_days: s.lead_time_days,
        existing: s.existing,
        makes,
        location,
        inbound_step: s.inbound_step.clone(),
        outbound_step: s.outbound_step.clone(),
    }
}

/// Which products a site makes: all when it names none, else the named ones (unknown names
/// are problems).
fn site_makes(
    pb: &mut Vec<Problem>,
    f: &NetworkFile,
    product_ix: &BTreeMap<&str, usize>,
    at: &FieldPath,
    named: Option<&[String]>,
) -> Vec<bool> {
    let Some(named) = named else {
        return vec![true; f.product.len()];
    };
    let mut makes = vec![false; f.product.len()];
    for (k, name) in named.iter().enumerate() {
        match product_ix.get(name.as_str()) {
            Some(&p) => makes[p] = true,
            None => pb.push(Problem::new(
                at.key("products").idx(k),
                format!(
                    "no product `{name}`; products are: {}",
                    list(f.product.iter().map(|p| p.name.as_str()))
                ),
            )),
        }
    }
    makes
}

/// Checks the `[[link]]` tables and resolves each one whose region and site exist.
fn compile_links(
    pb: &mut Vec<Problem>,
    f: &NetworkFile,
    region_ix: &BTreeMap<&str, usize>,
    site_ix: &BTreeMap<&str, usize>,
) -> Vec<Link> {
    let mut links = Vec::new();
    let mut seen = BTreeMap::new();
    let distance_rule = f.network.max_distance_km.is_some();
    for (i, l) in f.link.iter().enumerate() {
        let at = FieldPath::root().key("link").idx(i);
        let r = region_ix.get(l.region.as_str()).copied();
        let st = site_ix.get(l.site.as_str()).copied();
        link_ends_known(pb, f, &at, l, r.is_some(), st.is_some());
        if let Some(d) = l.distance_km {
            non_negative(pb, &at.key("distance_km"), d);
        }
        if let Some(d) = l.days {
            non_negative(pb, &at.key("days"), d);
        }
        if let Some(c) = l.cost_per_patient {
            non_negative(pb, &at.key("cost_per_patient"), c);
        }
        let (days, cost) = link_days_cost(pb, f.transport.as_ref(), &at, l);
        let needs_distance =
            distance_rule || r.is_some_and(|r| f.region[r].max_distance_km.is_some());
        if needs_distance && l.distance_km.is_none() {
            pb.push(Problem::new(
                at.clone(),
                "a maximum distance applies to this link, so it needs distance_km",
            ));
        }
        if let (Some(r), Some(st)) = (r, st) {
            if let Some(first) = seen.insert((r, st), i) {
                pb.push(Problem::new(
                    at.clone(),
                    format!(
                        "a second link between region `{}` and site `{}` (the first is link[{first}])",
                        l.region, l.site
                    ),
                ));
            }
            links.push(Link {
                region: r,
                site: st,
                days,
                cost,
                distance_km: l.distance_km,
            });
        }
    }
    links
}

/// Reports a link whose region or site is not in the file.
fn link_ends_known(
    pb: &mut Vec<Problem>,
    f: &NetworkFile,
    at: &FieldPath,
    l: &LinkSpec,
    region_known: bool,
    site_known: bool,
) {
    if !region_known {
        pb.push(Problem::new(
            at.key("region"),
            format!(
                "no region `{}`; regions are: {}",
                l.region,
                list(f.region.iter().map(|r| r.name.as_str()))
            ),
        ));
    }
    if !site_known {
        pb.push(Problem::new(
            at.key("site"),
            format!(
                "no site `{}`; sites are: {}",
                l.site,
                list(f.site.iter().map(|s| s.name.as_str()))
            ),
        ));
    }
}

/// Round-trip days and cost per patient of a link: as given, or from its distance and the
/// transport rates; (0, 0) with a problem when neither is complete.
fn link_days_cost(
    pb: &mut Vec<Problem>,
    transport: Option<&TransportRates>,
    at: &FieldPath,
    l: &LinkSpec,
) -> (f64, f64) {
    match (l.days, l.cost_per_patient, l.distance_km, transport) {
        (Some(d), Some(c), _, _) => (d, c),
        (None, None, Some(km), Some(t)) => (
            2.0 * km / t.speed_km_per_day + t.handling_days,
            2.0 * km * t.cost_per_km + t.handling_cost,
        ),
        (None, None, Some(_), None) => {
            pb.push(Problem::new(
                at.key("distance_km"),
                "a link given by its distance needs a [transport] table with \
                 speed_km_per_day and cost_per_km (or give days and cost_per_patient)",
            ));
            (0.0, 0.0)
        }
        (Some(_), None, _, _) | (None, Some(_), _, _) => {
            let missing = if l.days.is_none() {
                "days"
            } else {
                "cost_per_patient"
            };
            pb.push(Problem::new(
                at.clone(),
                format!(
                    "the link gives only one of days and cost_per_patient; `{missing}` is missing"
                ),
            ));
            (0.0, 0.0)
        }
        (None, None, None, _) => {
            pb.push(Problem::new(
                at.clone(),
                "the link needs days and cost_per_patient, or distance_km with a \
                 [transport] table",
            ));
            (0.0, 0.0)
        }
    }
}

/// Checks the optional `[scenarios]` table (demand-growth factors).
fn compile_scenarios(pb: &mut Vec<Problem>, sc: Option<&ScenarioSpec>) -> Scenarios {
    let Some(sc) = sc else {
        return Scenarios::default();
    };
    let at = FieldPath::root().key("scenarios");
    if sc.demand_growth.len() > MAX_GROWTH {
        pb.push(Problem::new(
            at.key("demand_growth"),
            format!("at most {MAX_GROWTH} demand factors"),
        ));
    }
    for (i, &g) in sc.demand_growth.iter().enumerate() {
        if !(g.is_finite() && g > 0.0 && g <= MAX_GROWTH_FACTOR) {
            pb.push(Problem::new(
                at.key("demand_growth").idx(i),
                format!(
                    "a demand factor must be more than 0 and at most {MAX_GROWTH_FACTOR} (is {g})"
                ),
            ));
        }
    }
    Scenarios {
        demand_growth: sc.demand_growth.clone(),
        site_down_quarter: sc.site_down_quarter,
    }
}

/// Checks the `[check]` settings of the simulation check.
fn check_check(pb: &mut Vec<Problem>, check: &CheckSpec) {
    let at = FieldPath::root().key("check");
    if check.replications == 0 || check.replications > MAX_REPLICATIONS {
        pb.push(Problem::new(
            at.key("replications"),
            format!("replications must be from 1 to {MAX_REPLICATIONS}"),
        ));
    }
    if !(check.min_on_time.is_finite() && check.min_on_time > 0.0 && check.min_on_time <= 1.0) {
        pb.push(Problem::new(
            at.key("min_on_time"),
            format!(
                "min_on_time is a fraction more than 0 and at most 1 (is {})",
                check.min_on_time
            ),
        ));
    }
    if !(check.tighten_factor.is_finite()
        && check.tighten_factor > 0.0
        && check.tighten_factor < 1.0)
    {
        pb.push(Problem::new(
            at.key("tighten_factor"),
            format!(
                "tighten_factor must be more than 0 and below 1 (is {})",
                check.tighten_factor
            ),
        ));
    }
    if check.max_rounds == 0 || check.max_rounds > MAX_ROUNDS {
        pb.push(Problem::new(
            at.key("max_rounds"),
            format!("max_rounds must be from 1 to {MAX_ROUNDS}"),
        ));
    }
    if let Some(h) = check.horizon_days
        && !(h.is_finite() && h > 0.0 && h <= model::limits::MAX_HORIZON_DAYS)
    {
        pb.push(Problem::new(
            at.key("horizon_days"),
            format!(
                "horizon_days must be more than 0 and at most {}",
                model::limits::MAX_HORIZON_DAYS
            ),
        ));
    }
}

/// Number of (region, site, product) flows the model would have: demand present and allowed.
fn count_flows(network: &Network) -> usize {
    (0..network.regions.len())
        .flat_map(|r| (0..network.sites.len()).map(move |s| (r, s)))
        .map(|(r, s)| {
            (0..network.products.len())
                .filter(|&p| network.regions[r].demand[p] > 0.0 && network.allowed(r, s, p).is_ok())
                .count()
        })
        .sum::<usize>()
}

fn positive(pb: &mut Vec<Problem>, at: &FieldPath, v: f64) {
    if !(v.is_finite() && v > 0.0 && v <= MAX_AMOUNT) {
        pb.push(Problem::new(
            at.clone(),
            format!("must be a number more than 0 and at most {MAX_AMOUNT:e} (is {v})"),
        ));
    }
}

fn non_negative(pb: &mut Vec<Problem>, at: &FieldPath, v: f64) {
    if !(v.is_finite() && (0.0..=MAX_AMOUNT).contains(&v)) {
        pb.push(Problem::new(
            at.clone(),
            format!("must be a number from 0 to {MAX_AMOUNT:e} (is {v})"),
        ));
    }
}

fn location(
    pb: &mut Vec<Problem>,
    at: &FieldPath,
    lat: Option<f64>,
    lon: Option<f64>,
) -> Option<(f64, f64)> {
    match (lat, lon) {
        (Some(a), Some(o)) => {
            let mut ok = true;
            if !(a.is_finite() && (-90.0..=90.0).contains(&a)) {
                pb.push(Problem::new(
                    at.key("lat"),
                    format!("latitude must be from -90 to 90 degrees (is {a})"),
                ));
                ok = false;
            }
            if !(o.is_finite() && (-180.0..=180.0).contains(&o)) {
                pb.push(Problem::new(
                    at.key("lon"),
                    format!("longitude must be from -180 to 180 degrees (is {o})"),
                ));
                ok = false;
            }
            ok.then_some((a, o))
        }
        (None, None) => None,
        (Some(_), None) => {
            pb.push(Problem::new(
                at.key("lat"),
                "lat is given without lon; give both or neither",
            ));
            None
        }
        (None, Some(_)) => {
            pb.push(Problem::new(
                at.key("lon"),
                "lon is given without lat; give both or neither",
            ));
            None
        }
    }
}

/// Index by name; empty and repeated names are problems.
fn names<'a>(
    pb: &mut Vec<Problem>,
    at: &FieldPath,
    items: impl Iterator<Item = &'a str>,
    what: &str,
) -> BTreeMap<&'a str, usize> {
    let mut ix = BTreeMap::new();
    for (i, n) in items.enumerate() {
        if n.trim().is_empty() {
            pb.push(Problem::new(
                at.idx(i).key("name"),
                format!("the {what} name must not be empty"),
            ));
            continue;
        }
        if let Some(first) = ix.insert(n, i) {
            ix.insert(n, first);
            pb.push(Problem::new(
                at.idx(i).key("name"),
                format!("a second {what} named `{n}` (the first is {what}[{first}])"),
            ));
        }
    }
    ix
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let set: BTreeSet<&str> = names.collect();
    if set.is_empty() {
        return "(none)".to_string();
    }
    set.into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use model::SourceFile;

    /// The messages of `text` as `path: message` lines.
    fn problems(text: &str) -> String {
        match crate::load(&SourceFile::new("net.toml", text)) {
            Ok(_) => panic!("expected problems"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn regions_and_sites_are_required_named_once_and_checked_each() {
        let none = problems(
            "[network]\nname = \"n\"\n\n[[product]]\nname = \"p\"\nmax_vein_to_vein_days = 30\n",
        );
        assert!(none.contains("the network has no [[region]]"), "{none}");
        assert!(none.contains("the network has no [[site]]"), "{none}");
        let twice = problems(
            "[network]\nname = \"n\"\n\n[[product]]\nname = \"p\"\nmax_vein_to_vein_days = 30\n\n\
             [[region]]\nname = \"R\"\npatients_per_year = { p = 1 }\n\n\
             [[region]]\nname = \"R\"\npatients_per_year = { p = 1 }\n\n\
             [[site]]\nname = \"\"\nfixed_cost_per_year = -1\ncapacity_patients_per_year = 10\n\
             variable_cost_per_patient = 1\nlead_time_days = 1\n",
        );
        assert!(
            twice.contains("a second region named `R` (the first is region[0])"),
            "{twice}"
        );
        assert!(twice.contains("the site name must not be empty"), "{twice}");
        // each site is still checked at its own path
        assert!(twice.contains("site[0].fixed_cost_per_year"), "{twice}");
    }
}
