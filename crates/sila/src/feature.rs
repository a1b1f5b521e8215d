//! What a SiLA 2 feature definition (the XML a server returns from
//! `SiLAService.GetFeatureDefinition`) declares: its identifier, commands and properties.
//! Pure: the definition text in, the names out (for the device's twin).

/// The commands and properties of one feature a server implements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureSummary {
    /// Fully qualified feature identifier, as the server lists it
    /// (`originator/category/Feature/vN`).
    pub qualified: String,
    /// Feature identifier (`CellCounter`).
    pub identifier: String,
    /// Command identifiers, in the order of the definition.
    pub commands: Vec<String>,
    /// Property identifiers, in the order of the definition.
    pub properties: Vec<String>,
}

impl FeatureSummary {
    /// Each command as `Feature/Command` (how a device's twin lists its programs).
    pub fn programs(&self) -> Vec<String> {
        self.commands
            .iter()
            .map(|c| format!("{}/{c}", self.identifier))
            .collect()
    }
}

/// Largest feature definition read (SiLA's own core features are a few tens of kB).
pub const MAX_DEFINITION: usize = 4 << 20;

/// Reads the identifier, commands and properties of the feature definition `xml` of the
/// feature the server lists as `qualified`, or says what is wrong with it.
pub fn summarize(qualified: &str, xml: &str) -> Result<FeatureSummary, String> {
    if xml.len() > MAX_DEFINITION {
        return Err(format!(
            "feature definition of {qualified}: {} bytes, at most {MAX_DEFINITION}",
            xml.len()
        ));
    }
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| format!("feature definition of {qualified} is not XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "Feature" {
        return Err(format!(
            "feature definition of {qualified}: the root element is <{}>, not <Feature>",
            root.tag_name().name()
        ));
    }
    let identifier_of = |n: roxmltree::Node<'_, '_>| -> Option<String> {
        n.children()
            .find(|c| c.is_element() && c.tag_name().name() == "Identifier")
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    };
    let identifier = identifier_of(root)
        .ok_or_else(|| format!("feature definition of {qualified} has no <Identifier>"))?;
    let mut commands = Vec::new();
    let mut properties = Vec::new();
    for child in root.children().filter(roxmltree::Node::is_element) {
        let into = match child.tag_name().name() {
            "Command" => &mut commands,
            "Property" => &mut properties,
            _ => continue,
        };
        let id = identifier_of(child).ok_or_else(|| {
            format!(
                "feature definition of {qualified}: a <{}> without <Identifier> (line {})",
                child.tag_name().name(),
                doc.text_pos_at(child.range().start).row
            )
        })?;
        into.push(id);
    }
    Ok(FeatureSummary {
        qualified: qualified.to_string(),
        identifier,
        commands,
        properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNTER: &str =
        include_str!("../../../scripts/devices/sila_cell_counter/CellCounter.sila.xml");

    #[test]
    fn the_test_counter_declares_its_commands_and_properties() {
        let f = summarize("org.atmpflow/devices/CellCounter/v1", COUNTER).expect("reads");
        assert_eq!(f.identifier, "CellCounter");
        assert_eq!(f.commands, ["CountCells", "SelfTest"]);
        assert_eq!(f.properties, ["DeviceState", "ChamberTemperature"]);
        assert_eq!(
            f.programs(),
            ["CellCounter/CountCells", "CellCounter/SelfTest"]
        );
    }

    #[test]
    fn a_bad_definition_is_named() {
        let e = summarize("a/b/F/v1", "<Feature><Command/></Feature>").expect_err("no id");
        assert!(e.contains("a/b/F/v1 has no <Identifier>"), "{e}");
        let e = summarize(
            "a/b/F/v1",
            "<Feature><Identifier>F</Identifier>\n<Command><DisplayName>x</DisplayName></Command></Feature>",
        )
        .expect_err("command without id");
        assert!(e.contains("<Command> without <Identifier> (line 2)"), "{e}");
        let e = summarize("a/b/F/v1", "<Feature>").expect_err("not xml");
        assert!(e.contains("is not XML"), "{e}");
        let e = summarize("a/b/F/v1", "<Other/>").expect_err("root");
        assert!(e.contains("not <Feature>"), "{e}");
    }
}
