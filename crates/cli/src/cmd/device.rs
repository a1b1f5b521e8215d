//! `atmpflow device`: bound devices and their twins in the AAS registry of a server (issue
//! #16 item 4). `register` connects to each device of a binding file (OPC UA or SiLA 2),
//! reads what it says about itself and writes its twin (shell, Nameplate, Capabilities with
//! the device's programs, QualificationState, UsageCounters) to the server's repository,
//! which registers it;
//! `check` is the binding against the registry: every device must be registered, match its
//! twin's nameplate and be qualified; `counters` raises the twins' usage counters to what the
//! devices report (after a run). The API token comes from ATMPFLOW_TOKEN.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use devices::{Description, Device, Devices};

use super::common::{as_of, read, reported};

/// The `device` subcommands.
pub type Args = super::common::Subcommands<Sub>;

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Register each device's twin in the server's AAS registry (updates it when there).
    Register(RegisterArgs),
    /// Bind the devices against the registry: refuse any not registered, not matching its
    /// twin's nameplate, or not qualified.
    Check(ServerArgs),
    /// Raise the registered twins' usage counters to what the devices report.
    Counters(ServerArgs),
}

/// The devices and the server (the API token is taken from ATMPFLOW_TOKEN).
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Device binding file (devices.toml).
    #[arg(long, value_name = "FILE")]
    devices: PathBuf,
    /// API base of the server, e.g. http://127.0.0.1:8080/api/v3.0. The API token (a
    /// writer's for register and counters) is taken from ATMPFLOW_TOKEN.
    #[arg(long, value_name = "URL")]
    server: String,
    /// Also trust the CA certificates in this PEM file when --server is https://.
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    /// Date the qualification is judged on (default: today, UTC).
    #[arg(long, value_name = "DATE")]
    as_of: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The plant's inventory (TOML or JSON): each device's class, capabilities and
    /// qualification come from its entry; the device supplies nameplate and counters.
    #[arg(long, value_name = "FILE")]
    equipment: PathBuf,
}

/// The environment variable holding the API token.
const TOKEN_ENV: &str = "ATMPFLOW_TOKEN";

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Register(a) => register(&a),
        Sub::Check(a) => check(&a),
        Sub::Counters(a) => counters(&a),
    }
}

fn load_devices(path: &Path) -> anyhow::Result<Devices> {
    let text = read(path)?;
    let d = devices::parse_devices(&path.display().to_string(), &text).map_err(reported)?;
    Ok(d.relative_to(path.parent().unwrap_or(Path::new("."))))
}

fn registry(a: &ServerArgs) -> anyhow::Result<server::HttpRegistry> {
    registry_at(&a.server, a.ca_cert.as_deref())
}

/// A client of the registry at `url` (trusting `ca` too, for https://) with the API token
/// of ATMPFLOW_TOKEN.
fn registry_at(url: &str, ca: Option<&Path>) -> anyhow::Result<server::HttpRegistry> {
    let mut reg = server::HttpRegistry::new(url)?;
    if let Some(ca) = ca {
        let certs = server::tls::read_certificates(ca).context("--ca-cert")?;
        reg = reg.trusting(&certs);
    }
    match std::env::var(TOKEN_ENV) {
        Ok(t) if !t.trim().is_empty() => Ok(reg.with_token(&t)),
        _ => bail!("set {TOKEN_ENV} to an API token of {url}"),
    }
}

/// The devices a batch runs on (`batch dry-run --devices FILE`), checked against the recipe
/// and, when `registry` is given, against the AAS registry before any step runs: every
/// device the batch's equipment binding uses must be registered, qualified on `day`, have
/// no usage counter at its limit and list the program of every step it runs
/// (`devices::check_for_batch`). The refusals are listed together, each naming equipment and
/// endpoint; nothing is connected or run then. Without a registry the devices are bound as
/// the file says (noted on stderr).
pub(super) fn for_batch(
    path: &Path,
    recipe: &recipe::recipe::Recipe,
    binding: &recipe::bind::Binding,
    registry: Option<(&str, Option<&Path>)>,
    day: recipe::Date,
) -> anyhow::Result<batch::rehearsal::BoundDevices<'static>> {
    let text = read(path)?;
    let devices = devices::parse_devices_for(&path.display().to_string(), &text, recipe)
        .map_err(reported)?
        .relative_to(path.parent().unwrap_or(Path::new(".")));
    let used: Vec<&Device> = devices
        .device
        .iter()
        .filter(|d| {
            binding
                .assignments
                .iter()
                .any(|a| a.equipment.as_deref() == Some(d.equipment.as_str()))
        })
        .collect();
    for d in devices.device.iter().filter(|d| !used.contains(d)) {
        eprintln!(
            "note: {}: device {} ({}) is bound to equipment this batch does not use",
            path.display(),
            d.equipment,
            d.endpoint
        );
    }
    match registry {
        Some((url, ca)) => {
            let reg = registry_at(url, ca)?;
            let found = server::equipment_inventory(&reg)?;
            let refusals = registry_refusals(&used, &found, day);
            if !refusals.is_empty() {
                bail!(
                    "{}: {} device(s) refused by the AAS registry {url} on {day}; no step was run:\n  {}",
                    path.display(),
                    refusals.len(),
                    refusals.join("\n  ")
                );
            }
            for d in &used {
                eprintln!(
                    "device {} ({}): registered, qualified, counters within limits, programs on the device",
                    d.equipment, d.endpoint
                );
            }
        }
        None => eprintln!(
            "note: no AAS registry given (--registry or ATMPFLOW_REGISTRY): the devices of {} are not checked against their twins",
            path.display()
        ),
    }
    devices::bind_all(&devices).map_err(|e| anyhow::anyhow!("{}: {}", e.device, e.message))
}

/// Every refusal of the devices `used` by the registry's equipment `found` on `day`.
fn registry_refusals(
    used: &[&Device],
    found: &server::RegistryInventory,
    day: recipe::Date,
) -> Vec<String> {
    used.iter()
        .flat_map(|d| {
            let twin = found
                .inventory
                .equipment
                .iter()
                .find(|e| e.id == d.equipment);
            let programs = found.programs.get(&d.equipment).map(Vec::as_slice);
            devices::check_for_batch(d, twin, programs, day)
        })
        .map(|e| e.message)
        .collect()
}

/// The equipment the registry holds, by id.
fn registered(reg: &server::HttpRegistry) -> anyhow::Result<BTreeMap<String, recipe::Equipment>> {
    let found = server::equipment_inventory(reg)?;
    Ok(found
        .inventory
        .equipment
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect())
}

/// What each device says about itself (OPC UA: its LADS nameplate, counters and program
/// templates; SiLA 2: its SiLAService information and its features' commands).
fn describe_all(devices: &Devices) -> anyhow::Result<Vec<(&Device, Description)>> {
    let mut out = Vec::new();
    for d in &devices.device {
        let described = devices::describe(d).map_err(|e| anyhow::anyhow!("{}", e.message))?;
        out.push((d, described));
    }
    Ok(out)
}

fn register(a: &RegisterArgs) -> anyhow::Result<()> {
    let s = &a.server;
    let day = as_of(s.as_of.as_deref())?;
    let devices = load_devices(&s.devices)?;
    let inventory = super::recipe::load_inventory(&a.equipment)?;
    let reg = registry(s)?;
    let held = registered(&reg)?;
    for (d, described) in describe_all(&devices)? {
        let Some(record) = inventory.equipment.iter().find(|e| e.id == d.equipment) else {
            bail!(
                "{}: device {} ({}) has no entry `{}` in the inventory",
                a.equipment.display(),
                d.equipment,
                d.endpoint,
                d.equipment
            );
        };
        let e = devices::device_equipment(d, record, held.get(&d.equipment), &described)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        for name in described.counters.keys() {
            if !d.limits.contains_key(name) && e.counter(name).is_none() {
                eprintln!(
                    "note: {}: counter `{name}` has no limit in {} (`limits`): its twin does not keep it",
                    d.equipment,
                    s.devices.display()
                );
            }
        }
        let mut twin = aas::twins::equipment_twin(&e, day);
        aas::twins::with_device_programs(&mut twin, &described.programs);
        let created = reg.put_twin(&twin)?;
        let counters: Vec<String> = e
            .counters
            .iter()
            .map(|c| format!("{} {}/{}", c.name, c.used, c.max))
            .collect();
        println!(
            "{} {}: {} {} {} (serial {}), qualification {}, counters [{}], programs [{}]",
            if created { "registered" } else { "updated" },
            d.equipment,
            twin.shell.id,
            e.manufacturer,
            e.model,
            e.serial,
            e.qualification.validity(day).word(),
            counters.join(", "),
            described.programs.join(", ")
        );
    }
    Ok(())
}

fn check(a: &ServerArgs) -> anyhow::Result<()> {
    let day = as_of(a.as_of.as_deref())?;
    let devices = load_devices(&a.devices)?;
    let held = registered(&registry(a)?)?;
    let mut refused = Vec::new();
    let described = describe_all(&devices)?;
    for (d, described) in &described {
        match devices::check_registered(d, held.get(&d.equipment), described, day) {
            Ok(()) => println!(
                "bound {} ({}): registered and qualified",
                d.equipment, d.endpoint
            ),
            Err(e) => refused.push(e.message),
        }
    }
    if !refused.is_empty() {
        bail!(
            "{}: {} device(s) refused by the registry {}:\n  {}",
            a.devices.display(),
            refused.len(),
            a.server,
            refused.join("\n  ")
        );
    }
    Ok(())
}

fn counters(a: &ServerArgs) -> anyhow::Result<()> {
    let devices = load_devices(&a.devices)?;
    let reg = registry(a)?;
    let held = registered(&reg)?;
    for (d, described) in describe_all(&devices)? {
        let Some(twin) = held.get(&d.equipment) else {
            bail!(
                "{} ({}): not registered in the AAS registry {}: `atmpflow device register` first",
                d.equipment,
                d.endpoint,
                a.server
            );
        };
        let mut twin = twin.clone();
        let changed = devices::update_counters(d, &mut twin, &described)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        if changed.is_empty() {
            println!("{}: counters unchanged", d.equipment);
            continue;
        }
        reg.put_submodel(&aas::twins::usage_counters(&twin))?;
        let now: Vec<String> = changed
            .iter()
            .filter_map(|n| twin.counter(n))
            .map(|c| format!("{} {}/{}", c.name, c.used, c.max))
            .collect();
        println!("{}: counters raised: {}", d.equipment, now.join(", "));
        for c in twin.counters.iter().filter(|c| c.used >= c.max) {
            eprintln!(
                "warning: {} ({}): counter `{}` stands at {}, its limit is {}: the twin shows LimitReached",
                d.equipment, d.endpoint, c.name, c.used, c.max
            );
        }
    }
    Ok(())
}
