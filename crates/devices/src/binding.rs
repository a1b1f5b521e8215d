//! The device binding file (`devices.toml`): which equipment is a real device, how to
//! reach it, and which of its programs runs which recipe step.
//!
//! ```toml
//! [[device]]
//! equipment = "incubator_1"            # equipment id of the inventory
//! protocol = "opcua"
//! endpoint = "opc.tcp://127.0.0.1:4840/atmpflow/bioreactor"
//! security = "none"                    # or "sign-and-encrypt": certificate, key and a pinned
//!                                      # server_certificate and/or server_thumbprint
//! functional_unit = "BioreactorUnit"   # LADS functional unit (default: the first one)
//!
//! limits = { ProgramRuns = 2000 }      # twin's maximum of a counter the device reports
//!
//! [device.step.expansion]              # recipe step id
//! program = "Expansion"                # program template on the device
//! parameters = { TargetTemperature = 37.0 }
//! values = { "parameters.temperature" = "Temperature" }   # recipe field = measured variable
//! results = { "parameters.fold_expansion" = "FoldExpansion" }  # recipe field = program result
//! measures = { viability = "Viability" }                 # decision measure = program result
//!
//! [[device]]
//! equipment = "counter_1"
//! protocol = "sila2"                   # a SiLA 2 cell counter (CellCounter feature)
//! endpoint = "https://127.0.0.1:50052" # http:// for plain gRPC (test benches only)
//! certificate = "counter-ca.pem"       # https: the server's certificate or CA to trust (PEM)
//!
//! [device.step.expansion]              # the count runs alongside the step's first device
//! measures = { viability = "Viability" }                 # Viability (0–1), ViabilityPercent, ViableCellDensity
//! [device.step.harvest]
//! values = { "parameters.viability" = "ViabilityPercent" }
//! ```
//!
//! Relative paths (certificate, key) are relative to the binding file's folder
//! ([`Devices::relative_to`]).
//!
//! Every problem is reported with file, line and column (like the other formats).

use std::collections::BTreeMap;

use model::span::{FieldPath, FileErrors, Problem, SourceFile};
use serde::Deserialize;

/// Most devices one file may bind.
pub const MAX_DEVICES: usize = 500;

/// The protocol a device speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// OPC UA (LADS-style programs).
    Opcua,
    /// SiLA 2 (its adapter lives in its own crate).
    Sila2,
}

/// Message security of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Security {
    /// No signing, no encryption (test benches only).
    #[default]
    None,
    /// Basic256Sha256, signed and encrypted, with the client's certificate and key.
    SignAndEncrypt,
}

/// A recipe step run as a device program.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepProgram {
    /// Program template name on the device (OPC UA; for SiLA 2 `CountCells`, the default).
    #[serde(default)]
    pub program: String,
    /// Program parameters (name = value).
    #[serde(default)]
    pub parameters: BTreeMap<String, f64>,
    /// Recipe field (`parameters.NAME`, `environment.NAME`) = measured variable of the
    /// functional unit (subscribed while the program runs; the last value is recorded).
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// Recipe field = result variable of the program run.
    #[serde(default)]
    pub results: BTreeMap<String, String>,
    /// Decision measure = result variable of the program run.
    #[serde(default)]
    pub measures: BTreeMap<String, String>,
}

/// One bound device.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Equipment id (as in the inventory and the batch's binding).
    pub equipment: String,
    /// Protocol.
    pub protocol: Protocol,
    /// Endpoint URL (`opc.tcp://host:port/path`; SiLA 2: `https://host:port` or
    /// `http://host:port`).
    pub endpoint: String,
    /// Message security.
    #[serde(default)]
    pub security: Security,
    /// OPC UA: client certificate (DER) for `sign-and-encrypt`. SiLA 2 over `https://`: the
    /// PEM certificate to trust (the server's own or its CA).
    #[serde(default)]
    pub certificate: Option<String>,
    /// Client private key (PEM) for `sign-and-encrypt`.
    #[serde(default)]
    pub key: Option<String>,
    /// OPC UA `sign-and-encrypt`: the server certificate to trust (`.der` or `.pem`); any
    /// other certificate the server presents is refused.
    #[serde(default)]
    pub server_certificate: Option<String>,
    /// OPC UA `sign-and-encrypt`: the SHA-256 thumbprint of the server certificate to
    /// trust (64 hex digits; `:` and spaces between them are allowed).
    #[serde(default)]
    pub server_thumbprint: Option<String>,
    /// Functional unit to use (default: the device's first).
    #[serde(default)]
    pub functional_unit: Option<String>,
    /// How often to retry a dropped connection before the device counts as lost.
    #[serde(default = "three")]
    pub retries: u32,
    /// Longest a program may run, real seconds, before the step counts as failed.
    #[serde(default = "timeout")]
    pub timeout_s: f64,
    /// Usage counter the device reports = its maximum uses, for the device's twin (`atmpflow
    /// device register`). A twin's usage counter always has a maximum: counters the device
    /// reports without a limit here are not kept by its twin.
    #[serde(default)]
    pub limits: BTreeMap<String, u64>,
    /// Recipe step id = the program that runs it.
    #[serde(default)]
    pub step: BTreeMap<String, StepProgram>,
}

fn three() -> u32 {
    3
}

fn timeout() -> f64 {
    3600.0
}

/// A device binding file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Devices {
    /// The devices.
    #[serde(default)]
    pub device: Vec<Device>,
}

/// The program name a SiLA 2 cell counter's steps run, as its twin lists it
/// (`Feature/Command`).
pub const SILA_COUNT_PROGRAM: &str = "CellCounter/CountCells";

impl Device {
    /// The program each bound step runs, by step id, as the device's twin lists its
    /// programs: the OPC UA program template; for a SiLA 2 cell counter
    /// [`SILA_COUNT_PROGRAM`].
    pub fn programs(&self) -> Vec<(String, String)> {
        self.step
            .iter()
            .map(|(step, p)| {
                let program = match self.protocol {
                    Protocol::Opcua => p.program.clone(),
                    Protocol::Sila2 => SILA_COUNT_PROGRAM.to_string(),
                };
                (step.clone(), program)
            })
            .collect()
    }
}

impl Devices {
    /// The device bound to `equipment`, if any.
    pub fn get(&self, equipment: &str) -> Option<&Device> {
        self.device.iter().find(|d| d.equipment == equipment)
    }

    /// Certificate and key paths made relative to `dir` (the binding file's folder) unless
    /// they are absolute.
    #[must_use]
    pub fn relative_to(mut self, dir: &std::path::Path) -> Devices {
        for d in &mut self.device {
            for p in [&mut d.certificate, &mut d.key, &mut d.server_certificate]
                .into_iter()
                .flatten()
            {
                let path = std::path::Path::new(p.as_str());
                if path.is_relative() {
                    *p = dir.join(path).display().to_string();
                }
            }
        }
        self
    }
}

/// A SHA-256 thumbprint as 64 lower-case hex digits (`:` and white space between digits
/// dropped), or `None` when it is not one.
pub fn normalize_thumbprint(t: &str) -> Option<String> {
    let hex: String = t
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

/// `host:port` of an `opc.tcp://host:port/path` endpoint, or why it has none.
pub fn host_port(endpoint: &str) -> Result<(String, u16), String> {
    let rest = endpoint
        .strip_prefix("opc.tcp://")
        .ok_or("an OPC UA endpoint starts with `opc.tcp://`")?;
    let authority = rest.split('/').next().unwrap_or("");
    split_host_port(authority, "opc.tcp://host:port/path")
}

/// Host and port of a `http://host:port` or `https://host:port` endpoint (a trailing `/` is
/// allowed), and whether it is TLS, or why it is not a SiLA 2 endpoint.
pub fn endpoint_of(device: &Device) -> Result<(String, u16, bool), String> {
    let e = device.endpoint.as_str();
    let (rest, tls) = if let Some(r) = e.strip_prefix("https://") {
        (r, true)
    } else if let Some(r) = e.strip_prefix("http://") {
        (r, false)
    } else {
        return Err(
            "a SiLA 2 endpoint is `https://host:port` (or `http://host:port` on a test bench)"
                .into(),
        );
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('/') {
        return Err("a SiLA 2 endpoint has no path: `https://host:port`".into());
    }
    let (host, port) = split_host_port(authority, "https://host:port")?;
    Ok((host, port, tls))
}

/// Host and port of an endpoint's `host:port`, or why it has none (`form`: how
/// the endpoint is written, for the message).
fn split_host_port(authority: &str, form: &str) -> Result<(String, u16), String> {
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("give the port: `{form}`"))?;
    if host.is_empty() {
        return Err(format!("give the host: `{form}`"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("`{port}` is not a port number (1–65535)"))?;
    if port == 0 {
        return Err("port 0 is not a port to connect to".into());
    }
    Ok((host.to_string(), port))
}

/// The unit symbol the recipe gives a step's field (`parameters.x`, `environment.x`), or "".
pub(crate) fn unit_of(step: &recipe::recipe::Step, field: &str) -> String {
    let spec = match field.split_once('.') {
        Some(("parameters", n)) => step.parameters.get(n),
        Some(("environment", n)) => step.environment.limits.get(n),
        _ => None,
    };
    spec.map(|s| s.unit.symbol.to_string()).unwrap_or_default()
}

fn is_field(f: &str) -> bool {
    f.split_once('.').is_some_and(|(p, n)| {
        (p == "parameters" || p == "environment")
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn check(d: &Devices) -> Vec<Problem> {
    let mut out = Vec::new();
    let root = FieldPath::root().key("device");
    if d.device.len() > MAX_DEVICES {
        out.push(Problem::new(
            root.clone(),
            format!("at most {MAX_DEVICES} devices per file"),
        ));
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, dev) in d.device.iter().enumerate() {
        let at = root.idx(i);
        if dev.equipment.trim().is_empty() {
            out.push(Problem::new(at.key("equipment"), "give the equipment id"));
        } else if let Some(j) = seen.insert(&dev.equipment, i) {
            out.push(Problem::new(
                at.key("equipment"),
                format!("`{}` is already bound by device[{j}]", dev.equipment),
            ));
        }
        check_device(dev, &at, &mut out);
    }
    out
}

/// The problems of one device's connection (endpoint, security, retries, timeout) and of
/// its step programs.
fn check_device(dev: &Device, at: &FieldPath, out: &mut Vec<Problem>) {
    let endpoint = match dev.protocol {
        Protocol::Opcua => host_port(&dev.endpoint).map(|_| ()),
        Protocol::Sila2 => endpoint_of(dev).map(|_| ()),
    };
    if let Err(m) = endpoint {
        out.push(Problem::new(at.key("endpoint"), m));
    }
    if dev.protocol == Protocol::Sila2 {
        check_sila2_connection(dev, at, out);
    }
    check_security(dev, at, out);
    if let Some(t) = &dev.server_thumbprint
        && normalize_thumbprint(t).is_none()
    {
        out.push(Problem::new(
            at.key("server_thumbprint"),
            "a SHA-256 thumbprint: 64 hex digits (`:` between them allowed)",
        ));
    }
    if let Some(p) = &dev.server_certificate
        && p.trim().is_empty()
    {
        out.push(Problem::new(
            at.key("server_certificate"),
            "give the path of the server certificate (`.der` or `.pem`)",
        ));
    }
    if dev.retries > 100 {
        out.push(Problem::new(at.key("retries"), "at most 100 retries"));
    }
    if !(dev.timeout_s.is_finite() && dev.timeout_s > 0.0 && dev.timeout_s <= 86_400.0 * 31.0) {
        out.push(Problem::new(
            at.key("timeout_s"),
            "a number of seconds above 0 and at most 31 days",
        ));
    }
    for (step, p) in &dev.step {
        check_step_program(dev.protocol, p, &at.key("step").key(step), out);
    }
}

/// What a SiLA 2 device does not take: OPC UA security, a client key, functional units;
/// an `https://` endpoint needs the certificate to trust.
fn check_sila2_connection(dev: &Device, at: &FieldPath, out: &mut Vec<Problem>) {
    let no_certificate = dev
        .certificate
        .as_deref()
        .is_none_or(|s| s.trim().is_empty());
    // (the setting is wrong, its key, what to write instead)
    let rules = [
        (
            dev.security != Security::None,
            "security",
            "SiLA 2 is secured by TLS: write the endpoint as `https://` with `certificate` (the PEM to trust)",
        ),
        (
            dev.key.is_some(),
            "key",
            "a SiLA 2 device takes no client key (only `certificate`, the PEM to trust)",
        ),
        (
            dev.endpoint.starts_with("https://") && no_certificate,
            "certificate",
            "an `https://` SiLA 2 endpoint needs `certificate` (the server's PEM certificate or its CA)",
        ),
        (
            dev.functional_unit.is_some(),
            "functional_unit",
            "functional units are OPC UA LADS: not for a SiLA 2 device",
        ),
    ];
    for (wrong, key, message) in rules {
        if wrong {
            out.push(Problem::new(at.key(key), message));
        }
    }
}

/// `sign-and-encrypt` needs the client's certificate and key (and, on OPC UA, the server's
/// certificate to trust); the server's certificate is for nothing else.
fn check_security(dev: &Device, at: &FieldPath, out: &mut Vec<Problem>) {
    match dev.security {
        Security::SignAndEncrypt => {
            for (name, v) in [("certificate", &dev.certificate), ("key", &dev.key)] {
                if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    out.push(Problem::new(
                        at.key("security"),
                        format!("`sign-and-encrypt` needs `{name}` (a path)"),
                    ));
                }
            }
            if dev.protocol == Protocol::Opcua
                && dev.server_certificate.is_none()
                && dev.server_thumbprint.is_none()
            {
                out.push(Problem::new(
                    at.key("security"),
                    "`sign-and-encrypt` needs the server certificate to trust: `server_certificate` (a path) or `server_thumbprint` (its SHA-256)",
                ));
            }
        }
        Security::None => {
            for (name, v) in [
                ("server_certificate", &dev.server_certificate),
                ("server_thumbprint", &dev.server_thumbprint),
            ] {
                if v.is_some() {
                    out.push(Problem::new(
                        at.key(name),
                        format!("`{name}` is for `security = \"sign-and-encrypt\"` (OPC UA)"),
                    ));
                }
            }
        }
    }
}

/// The problems of a device's program for one step (`sp`): its name, the tables its
/// protocol takes, and the recipe fields and device variables it maps.
fn check_step_program(protocol: Protocol, p: &StepProgram, sp: &FieldPath, out: &mut Vec<Problem>) {
    match protocol {
        Protocol::Opcua => {
            if p.program.trim().is_empty() {
                out.push(Problem::new(sp.key("program"), "give the program name"));
            }
        }
        Protocol::Sila2 => {
            if !(p.program.is_empty() || p.program == "CountCells") {
                out.push(Problem::new(
                    sp.key("program"),
                    "a SiLA 2 cell counter runs `CountCells` (or leave `program` out)",
                ));
            }
            if !p.parameters.is_empty() || !p.results.is_empty() {
                out.push(Problem::new(
                    sp.clone(),
                    "a SiLA 2 cell counter takes `values` and `measures`, not `parameters` or `results`",
                ));
            }
            for (table, map) in [("values", &p.values), ("measures", &p.measures)] {
                for (k, v) in map {
                    if sila::CountOutput::from_name(v).is_none() {
                        out.push(Problem::new(
                            sp.key(table).key(k),
                            format!(
                                "`{v}` is not a CountCells response: write one of {}",
                                sila::CountOutput::ALL
                                    .map(sila::CountOutput::name)
                                    .join(", ")
                            ),
                        ));
                    }
                }
            }
        }
    }
    for (k, v) in &p.parameters {
        if !v.is_finite() {
            out.push(Problem::new(sp.key("parameters").key(k), "a finite number"));
        }
    }
    for (table, map) in [("values", &p.values), ("results", &p.results)] {
        for (field, var) in map {
            if !is_field(field) {
                out.push(Problem::new(
                    sp.key(table).key(field),
                    format!(
                        "`{field}` is not a recipe field: write `parameters.NAME` or `environment.NAME`"
                    ),
                ));
            }
            if var.trim().is_empty() {
                out.push(Problem::new(
                    sp.key(table).key(field),
                    "give the device's variable name",
                ));
            }
        }
    }
    for (m, var) in &p.measures {
        if var.trim().is_empty() {
            out.push(Problem::new(
                sp.key("measures").key(m),
                "give the device's result name",
            ));
        }
    }
}

/// Check a binding against a recipe: every bound step exists and every mapped field is
/// one of its parameters or environment limits, every measure one of its decisions.
pub fn check_against(d: &Devices, recipe: &recipe::recipe::Recipe) -> Vec<Problem> {
    let mut out = Vec::new();
    for (i, dev) in d.device.iter().enumerate() {
        for (step_id, p) in &dev.step {
            let sp = FieldPath::root()
                .key("device")
                .idx(i)
                .key("step")
                .key(step_id);
            let Some(step) = recipe.step(step_id) else {
                out.push(Problem::new(
                    sp,
                    format!("recipe `{}` has no step `{step_id}`", recipe.procedure.id),
                ));
                continue;
            };
            for (table, map) in [("values", &p.values), ("results", &p.results)] {
                for field in map.keys() {
                    let known = match field.split_once('.') {
                        Some(("parameters", n)) => step.parameters.contains_key(n),
                        Some(("environment", n)) => step.environment.limits.contains_key(n),
                        _ => true, // reported by the file's own checks
                    };
                    if !known {
                        out.push(Problem::new(
                            sp.key(table).key(field),
                            format!("step `{step_id}` has no field `{field}`"),
                        ));
                    } else if dev.protocol == Protocol::Sila2
                        && let Some(out_unit) = map
                            .get(field)
                            .and_then(|v| sila::CountOutput::from_name(v))
                            .map(sila::CountOutput::unit)
                    {
                        let unit = unit_of(step, field);
                        if unit != out_unit {
                            out.push(Problem::new(
                                sp.key(table).key(field),
                                format!(
                                    "`{field}` is in {unit}, the counter's `{}` in {out_unit}",
                                    map[field]
                                ),
                            ));
                        }
                    }
                }
            }
            for m in p.measures.keys() {
                if !step.decision.iter().any(|dec| dec.measure == *m) {
                    out.push(Problem::new(
                        sp.key("measures").key(m),
                        format!("step `{step_id}` decides on no measure `{m}`"),
                    ));
                }
            }
        }
    }
    out
}

/// Parse and check a device binding file.
pub fn parse_devices(name: &str, text: &str) -> Result<Devices, FileErrors> {
    let src = SourceFile::new(name, text);
    let d: Devices = src.parse()?;
    let problems = check(&d);
    if problems.is_empty() {
        Ok(d)
    } else {
        Err(src.errors(&problems))
    }
}

/// Parse a device binding file and check it against the recipe it will run.
pub fn parse_devices_for(
    name: &str,
    text: &str,
    recipe: &recipe::recipe::Recipe,
) -> Result<Devices, FileErrors> {
    let src = SourceFile::new(name, text);
    let d = parse_devices(name, text)?;
    let problems = check_against(&d, recipe);
    if problems.is_empty() {
        Ok(d)
    } else {
        Err(src.errors(&problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_need_host_and_port() {
        assert_eq!(
            host_port("opc.tcp://127.0.0.1:4840/x"),
            Ok(("127.0.0.1".into(), 4840))
        );
        assert!(host_port("opc.tcp://h/x").is_err());
        assert!(host_port("opc.tcp://:4840").is_err());
        assert!(host_port("opc.tcp://h:0").is_err());
        assert!(host_port("opc.tcp://h:70000").is_err());
        assert!(host_port("http://h:1").is_err());
    }

    const GOOD: &str = r#"
[[device]]
equipment = "incubator_1"
protocol = "opcua"
endpoint = "opc.tcp://127.0.0.1:4840/atmpflow/bioreactor"

[device.step.expansion]
program = "Expansion"
parameters = { TargetTemperature = 37.0 }
values = { "parameters.temperature" = "Temperature" }
measures = { viability = "Viability" }
"#;

    #[test]
    fn a_good_file_parses() {
        let d = parse_devices("devices.toml", GOOD).expect("parses");
        let dev = d.get("incubator_1").expect("bound");
        assert_eq!(dev.security, Security::None);
        assert_eq!(dev.retries, 3);
        assert_eq!(dev.step["expansion"].program, "Expansion");
    }

    #[test]
    fn errors_are_located() {
        let bad = GOOD.replace("opc.tcp://127.0.0.1:4840", "http://x")
            + "\n[[device]]\nequipment = \"incubator_1\"\nprotocol = \"opcua\"\nendpoint = \"opc.tcp://h:1\"\nsecurity = \"sign-and-encrypt\"\n";
        let e = parse_devices("devices.toml", &bad).expect_err("refused");
        let text = e.to_string();
        assert!(
            text.contains("devices.toml:5:1: field `device[0].endpoint`"),
            "{text}"
        );
        assert_eq!(e.errors.len(), 5, "{text}");
        assert!(
            text.contains("needs the server certificate to trust"),
            "{text}"
        );
        assert!(text.contains("opc.tcp://"), "{text}");
        assert!(text.contains("already bound by device[0]"), "{text}");
        assert!(text.contains("needs `certificate`"), "{text}");
        let unknown = parse_devices(
            "d.toml",
            "[[device]]\nequipment = \"a\"\nprotocol = \"modbus\"\nendpoint = \"x\"\n",
        )
        .expect_err("unknown protocol");
        assert!(unknown.to_string().contains("d.toml:3:"), "{unknown}");
    }

    #[test]
    fn sign_and_encrypt_pins_the_server_certificate() {
        let secured = GOOD.replace(
            "endpoint = \"opc.tcp://127.0.0.1:4840/atmpflow/bioreactor\"\n",
            "endpoint = \"opc.tcp://127.0.0.1:4840/atmpflow/bioreactor\"\nsecurity = \"sign-and-encrypt\"\ncertificate = \"client.der\"\nkey = \"client.pem\"\nserver_thumbprint = \"AB:CD\"\n",
        );
        let e = parse_devices("devices.toml", &secured).expect_err("short thumbprint");
        assert!(
            e.to_string()
                .contains("devices.toml:9:1: field `device[0].server_thumbprint`"),
            "{e}"
        );
        let hex = "0123456789ABCDEF".repeat(4);
        let good = secured.replace("AB:CD", &hex);
        let d = parse_devices("devices.toml", &good).expect("pinned by thumbprint");
        let d = d.relative_to(std::path::Path::new("/etc/atmpflow"));
        assert_eq!(d.device[0].key.as_deref(), Some("/etc/atmpflow/client.pem"));
        assert_eq!(
            normalize_thumbprint(d.device[0].server_thumbprint.as_deref().unwrap_or("")),
            Some(hex.to_lowercase())
        );
        let with_colons: Vec<String> = hex
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        assert_eq!(
            normalize_thumbprint(&with_colons.join(":")),
            Some(hex.to_lowercase())
        );
        assert_eq!(normalize_thumbprint(&"g".repeat(64)), None);
        // No silent trust: a secured device without a pinned server certificate is refused.
        let unpinned = good.replace(&format!("server_thumbprint = \"{hex}\"\n"), "");
        let e = parse_devices("devices.toml", &unpinned).expect_err("unpinned");
        assert!(e.to_string().contains("server_certificate"), "{e}");
        // And pins belong to secured devices only.
        let e = parse_devices(
            "devices.toml",
            &GOOD.replace(
                "protocol = \"opcua\"\n",
                "protocol = \"opcua\"\nserver_certificate = \"s.der\"\n",
            ),
        )
        .expect_err("pin without security");
        assert!(e.to_string().contains("sign-and-encrypt"), "{e}");
    }

    #[test]
    fn fields_are_checked_against_the_recipe() {
        let recipe = recipe::parse_recipe(
            "car-t-modular.toml",
            include_str!("../../../examples/recipes/car-t-modular.toml"),
        )
        .expect("recipe");
        parse_devices_for("devices.toml", GOOD, &recipe).expect("fits the recipe");
        let bad = GOOD
            .replace("parameters.temperature", "parameters.ph_value")
            .replace("viability = ", "potency = ")
            .replace("device.step.expansion", "device.step.brewing");
        let e = parse_devices_for("devices.toml", &bad, &recipe).expect_err("refused");
        assert!(e.to_string().contains("no step `brewing`"), "{e}");
        let bad = GOOD.replace("parameters.temperature", "parameters.ph_value");
        let e = parse_devices_for("devices.toml", &bad, &recipe).expect_err("refused");
        assert!(
            e.to_string().contains("no field `parameters.ph_value`"),
            "{e}"
        );
        assert!(e.to_string().contains("devices.toml:10:"), "{e}");
    }
}
