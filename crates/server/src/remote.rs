//! Finding equipment through an AAS registry, the way a plant's control layer
//! does: list the shell descriptors of the AAS Registry, follow each
//! descriptor's submodel descriptors to wherever their endpoints point, fetch
//! the Nameplate, Capabilities, QualificationState and UsageCounters
//! submodels and read them back as equipment (`aas::equipment`), ready for
//! `recipe::bind`.
//!
//! Two registries are supported: a remote AAS API v3.0 server over HTTP
//! ([`HttpRegistry`], `GET /shell-descriptors` with cursor paging, then `GET`
//! on each submodel endpoint), and the registry of a local `serve` database
//! ([`StoreRegistry`], no server needed).

use std::time::Duration;

use aas::descriptor::{ShellDescriptor, SubmodelDescriptor};
use aas::equipment::{EquipmentSubmodels, Part, TwinProblem, equipment_id, read_equipment};
use aas::model::Submodel;
use aas::twins::{SEM_CAPABILITIES, SEM_NAMEPLATE, SEM_QUALIFICATION, SEM_USAGE};
use store::{Db, Kind};

/// Why equipment could not be read from a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach the AAS registry at {registry}: GET {url}: {reason}")]
    Unreachable {
        registry: String,
        url: String,
        reason: String,
    },
    #[error("GET {url} answered HTTP {status}{text}")]
    Status {
        url: String,
        status: u16,
        /// The message of the standard error body, if any (with a leading `: `).
        text: String,
    },
    #[error("{method} {url} answered HTTP {status}{text}")]
    Refused {
        method: String,
        url: String,
        status: u16,
        /// The message of the standard error body, if any (with a leading `: `).
        text: String,
    },
    #[error("{url} is not valid AAS JSON at {path}: {message}")]
    Invalid {
        url: String,
        path: String,
        message: String,
    },
    #[error("cannot read the registry of {db}: {reason}")]
    Store { db: String, reason: String },
    #[error(
        "equipment twin {shell} does not describe usable equipment:\n{}",
        .problems.iter().map(|(url, p)| format!("  {url}: {p}")).collect::<Vec<_>>().join("\n")
    )]
    Twin {
        shell: String,
        /// Each problem with the URL (or database record) of its submodel.
        problems: Vec<(String, TwinProblem)>,
    },
    #[error("the shells {first} and {second} both stand for equipment `{id}`")]
    DuplicateEquipment {
        id: String,
        first: String,
        second: String,
    },
}

/// A registry of shell descriptors whose submodels can be fetched.
pub trait Registry {
    /// Where the registry is (a URL or a database path), for messages.
    fn location(&self) -> String;
    /// Every shell descriptor, in the registry's order.
    fn shell_descriptors(&self) -> Result<Vec<ShellDescriptor>, RegistryError>;
    /// The submodel a submodel descriptor points to, with where it was read.
    fn submodel(&self, d: &SubmodelDescriptor) -> Result<(String, Submodel), RegistryError>;
}

/// The equipment a registry offers.
#[derive(Debug, Clone)]
pub struct RegistryInventory {
    /// Ready for `recipe::bind`; `inventory.site` is the registry's location.
    pub inventory: recipe::Inventory,
    /// Shells that are not equipment (no capability submodel), e.g. batches.
    pub other_shells: usize,
    /// Shells offering capabilities that were left out, with the reason.
    pub skipped: Vec<String>,
    /// The programs each registered device offers, by equipment id (the `DevicePrograms`
    /// of its Capabilities submodel); equipment whose twin lists none is not here.
    pub programs: std::collections::BTreeMap<String, Vec<String>>,
}

/// Whether the submodel descriptor carries the semantic id `sem`.
pub(crate) fn has_semantic(d: &SubmodelDescriptor, sem: &str) -> bool {
    d.semantic_id
        .as_ref()
        .is_some_and(|r| r.keys.iter().any(|k| k.value == sem))
}

/// Reads every equipment twin listed in `registry`.
///
/// A shell is equipment when one of its submodel descriptors has the
/// Capabilities semantic id; it is used when it also names a Nameplate and a
/// QualificationState submodel (equipment without a qualification state is
/// never bound) — otherwise it is listed in `skipped`. A submodel that
/// cannot be fetched or is not valid AAS JSON, or a twin that does not read
/// as valid equipment, is an error naming the URL and the place.
pub fn equipment_inventory(registry: &dyn Registry) -> Result<RegistryInventory, RegistryError> {
    let mut equipment: Vec<recipe::Equipment> = Vec::new();
    let mut shells_of: Vec<String> = Vec::new();
    let mut other_shells = 0;
    let mut skipped = Vec::new();
    let mut programs = std::collections::BTreeMap::new();
    for d in registry.shell_descriptors()? {
        let find = |sem: &str| d.submodel_descriptors.iter().find(|s| has_semantic(s, sem));
        let Some(caps_d) = find(SEM_CAPABILITIES) else {
            other_shells += 1;
            continue;
        };
        let (Some(np_d), Some(q_d)) = (find(SEM_NAMEPLATE), find(SEM_QUALIFICATION)) else {
            let missing: Vec<&str> = [
                (SEM_NAMEPLATE, "Nameplate"),
                (SEM_QUALIFICATION, "QualificationState"),
            ]
            .into_iter()
            .filter(|(sem, _)| find(sem).is_none())
            .map(|(_, name)| name)
            .collect();
            skipped.push(format!(
                "{}: no {} submodel registered",
                d.id,
                missing.join(" or ")
            ));
            continue;
        };
        let Some(id) = equipment_id(&d) else {
            skipped.push(format!(
                "{}: neither a specific asset id `equipmentId` nor an idShort usable as equipment id ([A-Za-z][A-Za-z0-9_]*)",
                d.id
            ));
            continue;
        };
        let (caps_url, caps) = registry.submodel(caps_d)?;
        let (np_url, nameplate) = registry.submodel(np_d)?;
        let (q_url, qualification) = registry.submodel(q_d)?;
        let usage = match find(SEM_USAGE) {
            Some(u) => Some(registry.submodel(u)?),
            None => None,
        };
        let e = read_equipment(
            &id,
            EquipmentSubmodels {
                nameplate: &nameplate,
                capabilities: &caps,
                qualification: &qualification,
                usage: usage.as_ref().map(|u| &u.1),
            },
        )
        .map_err(|problems| RegistryError::Twin {
            shell: d.id.clone(),
            problems: problems
                .into_iter()
                .map(|p| {
                    let url = match p.part {
                        Part::Nameplate => np_url.clone(),
                        Part::Capabilities => caps_url.clone(),
                        Part::QualificationState => q_url.clone(),
                        Part::UsageCounters => {
                            usage.as_ref().map(|u| u.0.clone()).unwrap_or_default()
                        }
                    };
                    (url, p)
                })
                .collect(),
        })?;
        match aas::equipment::device_programs(&caps) {
            Ok(Some(p)) => {
                programs.insert(e.id.clone(), p);
            }
            Ok(None) => {}
            Err(message) => {
                let (at, message) = message.split_once(": ").unwrap_or(("$", message.as_str()));
                return Err(RegistryError::Twin {
                    shell: d.id.clone(),
                    problems: vec![(
                        caps_url,
                        TwinProblem {
                            part: Part::Capabilities,
                            at: at.to_string(),
                            message: message.to_string(),
                        },
                    )],
                });
            }
        }
        if let Some(i) = equipment.iter().position(|x| x.id == e.id) {
            return Err(RegistryError::DuplicateEquipment {
                id: e.id,
                first: shells_of[i].clone(),
                second: d.id.clone(),
            });
        }
        shells_of.push(d.id.clone());
        equipment.push(e);
    }
    Ok(RegistryInventory {
        inventory: recipe::Inventory {
            inventory: recipe::equipment::InventoryInfo {
                site: registry.location(),
                description: String::new(),
            },
            equipment,
        },
        other_shells,
        skipped,
        programs,
    })
}

// ---------------------------------------------------------------------------
// Over HTTP
// ---------------------------------------------------------------------------

/// The AAS Registry of an AAS API v3.0 server, read over HTTP or HTTPS.
///
/// HTTPS trusts the system's root certificates (the OS bundle, or the files
/// named by `SSL_CERT_FILE` / `SSL_CERT_DIR`; Mozilla's roots when the system
/// has none) and any CA added with [`HttpRegistry::trusting`] (a site CA).
#[derive(Debug)]
pub struct HttpRegistry {
    base: String,
    agent: ureq::Agent,
    page: usize,
    /// `Authorization` header value (`Bearer …`), if a token was given.
    authorization: Option<String>,
}

/// Descriptors asked for per page.
const PAGE: usize = 100;
/// Largest response body accepted.
const MAX_BODY: u64 = 64 << 20;

/// An HTTP client for `base` whose HTTPS trusts the system roots and `extra`.
pub(crate) fn agent(
    base: &str,
    extra: &[rustls::pki_types::CertificateDer<'static>],
) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .timeout_connect(Some(Duration::from_secs(10)))
        .http_status_as_error(false);
    if base.starts_with("https://") {
        // certificates the system store cannot parse are left out, as a
        // browser does; the others still verify
        let roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
            .certs
            .iter()
            .chain(extra)
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        let roots = if roots.is_empty() {
            RootCerts::WebPki
        } else {
            RootCerts::Specific(std::sync::Arc::new(roots))
        };
        config = config.tls_config(
            TlsConfig::builder()
                .provider(TlsProvider::Rustls)
                .unversioned_rustls_crypto_provider(crate::tls::provider())
                .root_certs(roots)
                .build(),
        );
    }
    config.build().into()
}

impl HttpRegistry {
    /// `base` is the API's base URL, e.g. `http://127.0.0.1:8080/api/v3.0`
    /// or `https://aas.example.org/api/v3.0`.
    pub fn new(base: &str) -> Result<Self, RegistryError> {
        let base = base.trim_end_matches('/').to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(RegistryError::Unreachable {
                registry: base.clone(),
                url: base,
                reason: "not an http:// or https:// URL (expected the API base, e.g. \
                         https://aas.example.org/api/v3.0)"
                    .into(),
            });
        }
        Ok(HttpRegistry {
            agent: agent(&base, &[]),
            base,
            page: PAGE,
            authorization: None,
        })
    }

    /// Also trusts the CA certificates `ca` (e.g. a site CA read with
    /// [`crate::tls::read_certificates`]) for HTTPS.
    pub fn trusting(mut self, ca: &[rustls::pki_types::CertificateDer<'static>]) -> Self {
        self.agent = agent(&self.base, ca);
        self
    }

    /// Sends `token` as `Authorization: Bearer TOKEN` with every request.
    pub fn with_token(mut self, token: &str) -> Self {
        self.authorization = Some(format!("Bearer {}", token.trim()));
        self
    }

    /// Asks for `limit` descriptors per page (tests use small pages).
    pub fn with_page_size(mut self, limit: usize) -> Self {
        self.page = limit.max(1);
        self
    }

    fn get(&self, url: &str) -> Result<Vec<u8>, RegistryError> {
        let mut req = self.agent.get(url).header("Accept", "application/json");
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        let mut resp = req.call().map_err(|e| RegistryError::Unreachable {
            registry: self.base.clone(),
            url: url.to_string(),
            reason: if untrusted(&e) {
                format!(
                    "{e} (the server's certificate is not trusted: add the CA that issued it \
                     to the trusted roots)"
                )
            } else {
                e.to_string()
            },
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| RegistryError::Unreachable {
                registry: self.base.clone(),
                url: url.to_string(),
                reason: format!("reading the response failed: {e}"),
            })?;
        if status != 200 {
            return Err(RegistryError::Status {
                url: url.to_string(),
                status,
                text: error_text(&body),
            });
        }
        Ok(body)
    }
}

impl HttpRegistry {
    /// Sends `body` (JSON) with `method` to `url`; the status and the error text.
    fn send(&self, method: &str, url: &str, body: &[u8]) -> Result<(u16, String), RegistryError> {
        let req = match method {
            "PUT" => self.agent.put(url),
            _ => self.agent.post(url),
        };
        let mut req = req
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        let mut resp = req.send(body).map_err(|e| RegistryError::Unreachable {
            registry: self.base.clone(),
            url: format!("{method} {url}"),
            reason: e.to_string(),
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map(|b| error_text(&b))
            .unwrap_or_default();
        Ok((status, text))
    }

    /// Replaces the resource at `url` (PUT), or creates it in `collection` (POST) when the
    /// server has none yet: registering twice updates, never duplicates. Whether it was
    /// created.
    fn upsert(&self, collection: &str, id: &str, body: &[u8]) -> Result<bool, RegistryError> {
        let url = format!("{}/{collection}/{}", self.base, aas::ids::encode(id));
        let (status, text) = self.send("PUT", &url, body)?;
        let (status, text, method, url, created) = if status == 404 {
            let post = format!("{}/{collection}", self.base);
            let (s, t) = self.send("POST", &post, body)?;
            (s, t, "POST", post, true)
        } else {
            (status, text, "PUT", url, false)
        };
        if (200..300).contains(&status) {
            Ok(created)
        } else {
            Err(RegistryError::Refused {
                method: method.into(),
                url,
                status,
                text,
            })
        }
    }

    /// Writes submodel `sm` to the repository (PUT, or POST when new). Whether it was new.
    pub fn put_submodel(&self, sm: &Submodel) -> Result<bool, RegistryError> {
        let body = serde_json::to_vec(sm).map_err(|e| RegistryError::Invalid {
            url: self.base.clone(),
            path: "$".into(),
            message: e.to_string(),
        })?;
        self.upsert("submodels", &sm.id, &body)
    }

    /// Writes a twin (its submodels, then its shell) to the repository; the server
    /// registers the shell's descriptor with it. Re-writing the same twin replaces it.
    /// Whether the shell was new.
    pub fn put_twin(&self, twin: &aas::twins::Twin) -> Result<bool, RegistryError> {
        for sm in &twin.submodels {
            self.put_submodel(sm)?;
        }
        let body = serde_json::to_vec(&twin.shell).map_err(|e| RegistryError::Invalid {
            url: self.base.clone(),
            path: "$".into(),
            message: e.to_string(),
        })?;
        self.upsert("shells", &twin.shell.id, &body)
    }
}

/// Whether `e` is the server's certificate failing verification.
pub(crate) fn untrusted(e: &ureq::Error) -> bool {
    let tls = match e {
        ureq::Error::Rustls(t) => Some(t),
        ureq::Error::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    matches!(tls, Some(rustls::Error::InvalidCertificate(_)))
}

/// The text of the standard error body (`{"messages":[{"text":…}]}`), if any.
fn error_text(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("messages")?
                .as_array()?
                .first()?
                .get("text")?
                .as_str()
                .map(|t| format!(": {t}"))
        })
        .unwrap_or_default()
}

fn invalid(url: &str, path: impl Into<String>, message: impl Into<String>) -> RegistryError {
    RegistryError::Invalid {
        url: url.to_string(),
        path: path.into(),
        message: message.into(),
    }
}

/// `$.x` inside item `i` of a page's `result`.
fn in_result(i: usize, path: &str) -> String {
    format!("$.result[{i}]{}", path.strip_prefix('$').unwrap_or(path))
}

impl Registry for HttpRegistry {
    fn location(&self) -> String {
        self.base.clone()
    }

    fn shell_descriptors(&self) -> Result<Vec<ShellDescriptor>, RegistryError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen_cursors = std::collections::BTreeSet::new();
        loop {
            let mut url = format!("{}/shell-descriptors?limit={}", self.base, self.page);
            if let Some(c) = &cursor {
                url.push_str("&cursor=");
                url.extend(form_urlencoded::byte_serialize(c.as_bytes()));
            }
            let body = self.get(&url)?;
            let page: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| invalid(&url, "$", format!("malformed JSON: {e}")))?;
            let Some(items) = page.get("result").and_then(|r| r.as_array()) else {
                return Err(invalid(
                    &url,
                    "$.result",
                    "missing: a list answer is {\"paging_metadata\": {…}, \"result\": […]}",
                ));
            };
            for (i, item) in items.iter().enumerate() {
                let bytes = serde_json::to_vec(item)
                    .map_err(|e| invalid(&url, in_result(i, "$"), e.to_string()))?;
                let d = aas::descriptor::parse_shell_descriptor(&bytes)
                    .map_err(|e| invalid(&url, in_result(i, &e.path), e.message))?;
                out.push(d);
            }
            let next = page
                .get("paging_metadata")
                .and_then(|m| m.get("cursor"))
                .and_then(|c| c.as_str())
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            match next {
                None => return Ok(out),
                Some(c) => {
                    if !seen_cursors.insert(c.clone()) {
                        return Err(invalid(
                            &url,
                            "$.paging_metadata.cursor",
                            format!("cursor `{c}` was already returned: the paging never ends"),
                        ));
                    }
                    if items.is_empty() {
                        return Err(invalid(
                            &url,
                            "$.paging_metadata.cursor",
                            "an empty page with a cursor: the paging never ends",
                        ));
                    }
                    cursor = Some(c);
                }
            }
        }
    }

    fn submodel(&self, d: &SubmodelDescriptor) -> Result<(String, Submodel), RegistryError> {
        // An endpoint that speaks HTTP(S): the Submodel interface first, and
        // HTTPS before plain HTTP.
        let ep = d
            .endpoints
            .iter()
            .filter_map(|e| {
                let href = &e.protocol_information.href;
                let scheme = if href.starts_with("https://") {
                    0
                } else if href.starts_with("http://") {
                    1
                } else {
                    return None;
                };
                let interface = usize::from(!e.interface.starts_with("SUBMODEL"));
                Some(((interface, scheme), e))
            })
            .min_by_key(|(rank, _)| *rank)
            .map(|(_, e)| e);
        let Some(ep) = ep else {
            return Err(invalid(
                &self.base,
                "$.submodelDescriptors[].endpoints",
                format!(
                    "submodel {} has no http:// or https:// endpoint ({})",
                    d.id,
                    d.endpoints
                        .iter()
                        .map(|e| e.protocol_information.href.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let url = ep
            .protocol_information
            .href
            .trim_end_matches('/')
            .to_string();
        let body = self.get(&url)?;
        let sm = aas::parse::parse_submodel(&body).map_err(|e| invalid(&url, e.path, e.message))?;
        if sm.id != d.id {
            return Err(invalid(
                &url,
                "$.id",
                format!(
                    "the descriptor promises submodel {}, the endpoint serves {}",
                    d.id, sm.id
                ),
            ));
        }
        Ok((url, sm))
    }
}

// ---------------------------------------------------------------------------
// A local database
// ---------------------------------------------------------------------------

/// The registry of a `serve` database, read directly (no server needed).
/// Submodels are read from the same database by their identifier.
#[derive(Debug)]
pub struct StoreRegistry<'a> {
    store: &'a Db,
    name: String,
}

impl<'a> StoreRegistry<'a> {
    /// `name` is the database path, for messages.
    pub fn new(store: &'a Db, name: impl Into<String>) -> Self {
        StoreRegistry {
            store,
            name: name.into(),
        }
    }

    fn store_err(&self, e: impl std::fmt::Display) -> RegistryError {
        RegistryError::Store {
            db: self.name.clone(),
            reason: e.to_string(),
        }
    }
}

impl Registry for StoreRegistry<'_> {
    fn location(&self) -> String {
        self.name.clone()
    }

    fn shell_descriptors(&self) -> Result<Vec<ShellDescriptor>, RegistryError> {
        let rows = self
            .store
            .list(Kind::ShellDescriptor)
            .map_err(|e| self.store_err(e))?;
        rows.into_iter()
            .map(|(id, b)| {
                aas::descriptor::parse_shell_descriptor(&b).map_err(|e| {
                    invalid(
                        &format!("{} shell-descriptors/{id}", self.name),
                        e.path,
                        e.message,
                    )
                })
            })
            .collect()
    }

    fn submodel(&self, d: &SubmodelDescriptor) -> Result<(String, Submodel), RegistryError> {
        let at = format!("{} submodels/{}", self.name, d.id);
        let Some(b) = self
            .store
            .get(Kind::Submodel, &d.id)
            .map_err(|e| self.store_err(e))?
        else {
            return Err(invalid(
                &at,
                "$",
                "registered in the registry but not stored in the repository",
            ));
        };
        let sm = aas::parse::parse_submodel(&b).map_err(|e| invalid(&at, e.path, e.message))?;
        Ok((at, sm))
    }
}
