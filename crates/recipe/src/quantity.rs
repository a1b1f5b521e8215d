//! Physical units and quantities used in recipes and equipment capabilities.
//!
//! Every unit belongs to exactly one [`Dimension`]; the unit string alone decides
//! it (relative centrifugal force is written `x g`, so `g` is always grams).
//! Values are compared in the dimension's canonical unit.

use std::fmt;

/// What a quantity measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Volume, canonical mL.
    Volume,
    /// Mass, canonical g.
    Mass,
    /// Relative centrifugal force, canonical × g.
    Rcf,
    /// Temperature, canonical °C.
    Temperature,
    /// Rate of temperature change, canonical °C/min.
    TemperatureRate,
    /// Time, canonical h.
    Time,
    /// Volumetric flow, canonical mL/d.
    Flow,
    /// Rotational speed, canonical rpm.
    Speed,
    /// Percentage, canonical %.
    Percent,
    /// Number of cells, canonical cells.
    Cells,
    /// Cell concentration, canonical cells/mL.
    Concentration,
    /// Pressure (difference), canonical Pa.
    Pressure,
    /// Mass concentration, canonical g/L.
    MassConcentration,
    /// Molar concentration, canonical mM.
    MolarConcentration,
    /// A pure number (multiplicity of infection, count of ports, …), unit `1`.
    Dimensionless,
}

impl Dimension {
    /// The canonical unit symbol.
    pub fn canonical(self) -> &'static str {
        match self {
            Dimension::Volume => "mL",
            Dimension::Mass => "g",
            Dimension::Rcf => "x g",
            Dimension::Temperature => "°C",
            Dimension::TemperatureRate => "°C/min",
            Dimension::Time => "h",
            Dimension::Flow => "mL/d",
            Dimension::Speed => "rpm",
            Dimension::Percent => "%",
            Dimension::Cells => "cells",
            Dimension::Concentration => "cells/mL",
            Dimension::Pressure => "Pa",
            Dimension::MassConcentration => "g/L",
            Dimension::MolarConcentration => "mM",
            Dimension::Dimensionless => "1",
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Dimension::Volume => "volume",
            Dimension::Mass => "mass",
            Dimension::Rcf => "relative centrifugal force",
            Dimension::Temperature => "temperature",
            Dimension::TemperatureRate => "temperature rate",
            Dimension::Time => "time",
            Dimension::Flow => "flow",
            Dimension::Speed => "rotational speed",
            Dimension::Percent => "percentage",
            Dimension::Cells => "cell number",
            Dimension::Concentration => "cell concentration",
            Dimension::Pressure => "pressure",
            Dimension::MassConcentration => "mass concentration",
            Dimension::MolarConcentration => "molar concentration",
            Dimension::Dimensionless => "pure number",
        };
        f.write_str(s)
    }
}

/// A unit: its symbol as written, its dimension and the factor to the canonical unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Symbol as the user wrote it (normalised spelling).
    pub symbol: &'static str,
    /// Dimension.
    pub dimension: Dimension,
    /// Multiply a value in this unit by `factor` to get the canonical unit.
    pub factor: f64,
}

/// (accepted spellings, normalised symbol, dimension, factor to canonical)
const UNITS: &[(&[&str], &str, Dimension, f64)] = &[
    (&["uL", "µL", "μL", "ul"], "µL", Dimension::Volume, 1e-3),
    (&["mL", "ml"], "mL", Dimension::Volume, 1.0),
    (&["L", "l"], "L", Dimension::Volume, 1000.0),
    (&["mg"], "mg", Dimension::Mass, 1e-3),
    (&["g"], "g", Dimension::Mass, 1.0),
    (&["kg"], "kg", Dimension::Mass, 1000.0),
    (
        &["x g", "xg", "× g", "×g", "rcf"],
        "x g",
        Dimension::Rcf,
        1.0,
    ),
    (&["°C", "degC", "C"], "°C", Dimension::Temperature, 1.0),
    (
        &["°C/min", "degC/min", "C/min"],
        "°C/min",
        Dimension::TemperatureRate,
        1.0,
    ),
    (&["s"], "s", Dimension::Time, 1.0 / 3600.0),
    (&["min"], "min", Dimension::Time, 1.0 / 60.0),
    (&["h"], "h", Dimension::Time, 1.0),
    (&["d"], "d", Dimension::Time, 24.0),
    (&["mL/min"], "mL/min", Dimension::Flow, 1440.0),
    (&["mL/h"], "mL/h", Dimension::Flow, 24.0),
    (&["mL/d"], "mL/d", Dimension::Flow, 1.0),
    (&["L/d"], "L/d", Dimension::Flow, 1000.0),
    (&["rpm"], "rpm", Dimension::Speed, 1.0),
    (&["%"], "%", Dimension::Percent, 1.0),
    (&["cells"], "cells", Dimension::Cells, 1.0),
    (&["cells/mL"], "cells/mL", Dimension::Concentration, 1.0),
    (&["Pa"], "Pa", Dimension::Pressure, 1.0),
    (&["g/L"], "g/L", Dimension::MassConcentration, 1.0),
    (&["mM"], "mM", Dimension::MolarConcentration, 1.0),
    (&["1", "count"], "1", Dimension::Dimensionless, 1.0),
];

impl Unit {
    /// Parse a unit symbol. `None` if unknown.
    pub fn parse(s: &str) -> Option<Unit> {
        let t = s.trim();
        UNITS
            .iter()
            .find(|(spellings, ..)| spellings.contains(&t))
            .map(|(_, sym, dim, f)| Unit {
                symbol: sym,
                dimension: *dim,
                factor: *f,
            })
    }

    /// The canonical unit of a dimension.
    pub fn canonical(d: Dimension) -> Unit {
        // Every dimension's canonical symbol is in the table with factor 1.
        Unit::parse(d.canonical()).unwrap_or(Unit {
            symbol: "1",
            dimension: d,
            factor: 1.0,
        })
    }

    /// A value in this unit expressed in the canonical unit.
    pub fn to_canonical(&self, v: f64) -> f64 {
        v * self.factor
    }

    /// A canonical value expressed in this unit.
    pub fn from_canonical(&self, v: f64) -> f64 {
        v / self.factor
    }

    /// Every accepted unit symbol (normalised), for error messages and docs.
    pub fn all_symbols() -> Vec<&'static str> {
        UNITS.iter().map(|(_, s, ..)| *s).collect()
    }
}

impl serde::Serialize for Unit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.symbol)
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol)
    }
}

/// The message for a range whose `min` is greater than its `max`.
pub(crate) fn bad_range(min: f64, max: f64) -> String {
    format!(
        "bad range: min {} is greater than max {}",
        fmt_num(min),
        fmt_num(max)
    )
}

/// Format a number compactly (no trailing `.0`, scientific for large/small values).
pub fn fmt_num(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-3) {
        format!("{v:e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Format a range `a–b`, or `a to b` when a bound is negative.
pub fn fmt_range(a: f64, b: f64) -> String {
    if a < 0.0 || b < 0.0 {
        format!("{} to {}", fmt_num(a), fmt_num(b))
    } else {
        format!("{}–{}", fmt_num(a), fmt_num(b))
    }
}

/// A value with its unit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Quantity {
    /// Value in `unit`.
    pub value: f64,
    /// Unit.
    pub unit: Unit,
}

impl Quantity {
    /// Value in the canonical unit of its dimension.
    pub fn canonical(&self) -> f64 {
        self.unit.to_canonical(self.value)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unit.dimension == Dimension::Dimensionless {
            f.write_str(&fmt_num(self.value))
        } else {
            write!(f, "{} {}", fmt_num(self.value), self.unit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_to_canonical() {
        let l = Unit::parse("L").expect("L");
        assert_eq!(l.dimension, Dimension::Volume);
        assert!((l.to_canonical(1.5) - 1500.0).abs() < 1e-9);
        let d = Unit::parse("d").expect("d");
        assert!((d.to_canonical(12.0) - 288.0).abs() < 1e-9);
        assert_eq!(
            Unit::parse("x g").map(|u| u.dimension),
            Some(Dimension::Rcf)
        );
        assert_eq!(Unit::parse("g").map(|u| u.dimension), Some(Dimension::Mass));
        assert!(Unit::parse("furlong").is_none());
    }

    #[test]
    fn numbers_format_compactly() {
        assert_eq!(fmt_num(300.0), "300");
        assert_eq!(fmt_num(0.01), "0.01");
        assert_eq!(fmt_num(6e8), "6e8");
    }
}
