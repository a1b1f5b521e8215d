//! Metamodel constraints (AASd-…) that serde alone cannot express.
//!
//! Every check returns [`Violation`]s with the JSON path of the offending
//! value. The set follows what the official verifiers (aas-core3.0,
//! aas-test-engines) enforce for the element types this crate models.

use std::collections::HashSet;

use crate::model::*;

/// One broken constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub message: String,
}

struct Ctx {
    out: Vec<Violation>,
}

impl Ctx {
    fn err(&mut self, path: &str, message: impl Into<String>) {
        self.out.push(Violation {
            path: path.to_string(),
            message: message.into(),
        });
    }
}

/// AASd-002: `[a-zA-Z][a-zA-Z0-9_]*`, at most 128 characters.
pub fn is_valid_id_short(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    s.len() <= 128 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A BCP 47 language tag in the simple form the validators accept
/// (`en`, `de-DE`, `zh-Hant-TW`).
pub fn is_valid_language(s: &str) -> bool {
    let mut parts = s.split('-');
    let Some(primary) = parts.next() else {
        return false;
    };
    if !(2..=8).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
        return false;
    }
    parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn is_int_in(s: &str, min: i128, max: i128) -> bool {
    let t = s.strip_prefix('+').unwrap_or(s);
    if t.is_empty() || t.starts_with('+') {
        return false;
    }
    let digits = t.strip_prefix('-').unwrap_or(t);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    match t.parse::<i128>() {
        Ok(v) => v >= min && v <= max,
        // longer than i128: only the unbounded kinds accept it
        Err(_) => min == i128::MIN && max == i128::MAX,
    }
}

fn is_negative(s: &str) -> bool {
    s.starts_with('-') && !is_zero(s)
}

fn is_zero(s: &str) -> bool {
    s.trim_start_matches(['+', '-']).chars().all(|c| c == '0')
}

fn is_decimal(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (a, b) = t.split_once('.').unwrap_or((t, ""));
    !(a.is_empty() && b.is_empty())
        && a.chars().all(|c| c.is_ascii_digit())
        && b.chars().all(|c| c.is_ascii_digit())
}

fn is_xs_double(s: &str) -> bool {
    if matches!(s, "INF" | "-INF" | "+INF" | "NaN") {
        return true;
    }
    // digits, optional fraction, optional exponent; no "inf"/"nan" spellings Rust accepts
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mant, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    if !is_decimal(mant) || mant.starts_with(['+', '-']) {
        return false;
    }
    if let Some(e) = exp {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if e.is_empty() || !e.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    s.parse::<f64>().map(|v| v.is_finite()).unwrap_or(false)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => {
            let y = if year < 0 { -year - 1 } else { year };
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
        _ => 0,
    }
}

fn two_digits(s: &str) -> Option<u32> {
    if s.len() == 2 && s.chars().all(|c| c.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// `-?YYYY-MM-DD` → rest after the date, if the date is valid.
fn parse_date_prefix(s: &str) -> Option<&str> {
    let (neg, t) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let ylen = t.find('-')?;
    let ys = &t[..ylen];
    if ys.len() < 4
        || !ys.chars().all(|c| c.is_ascii_digit())
        || (ys.len() > 4 && ys.starts_with('0'))
    {
        return None;
    }
    let year: i64 = ys.parse().ok()?;
    if year == 0 {
        return None;
    }
    let year = if neg { -year } else { year };
    let rest = &t[ylen..];
    let month = two_digits(rest.get(1..3)?)?;
    if rest.get(3..4)? != "-" {
        return None;
    }
    let day = two_digits(rest.get(4..6)?)?;
    if rest.get(0..1)? != "-"
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
    {
        return None;
    }
    Some(&rest[6..])
}

fn is_timezone(s: &str) -> bool {
    if s.is_empty() || s == "Z" {
        return true;
    }
    let Some(t) = s.strip_prefix(['+', '-']) else {
        return false;
    };
    let (Some(h), Some(m)) = (
        t.get(0..2).and_then(two_digits),
        t.get(3..5).and_then(two_digits),
    ) else {
        return false;
    };
    t.len() == 5 && &t[2..3] == ":" && ((h <= 13 && m <= 59) || (h == 14 && m == 0))
}

/// `hh:mm:ss(.s+)?` followed by an optional timezone.
fn is_time(s: &str) -> bool {
    let (Some(h), Some(m)) = (
        s.get(0..2).and_then(two_digits),
        s.get(3..5).and_then(two_digits),
    ) else {
        return false;
    };
    if s.get(2..3) != Some(":") || s.get(5..6) != Some(":") {
        return false;
    }
    let Some(sec) = s.get(6..8).and_then(two_digits) else {
        return false;
    };
    let mut rest = &s[8..];
    let mut frac_zero = true;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.chars().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        frac_zero = r[..n].chars().all(|c| c == '0');
        rest = &r[n..];
    }
    let ok = (h <= 23 && m <= 59 && sec <= 59) || (h == 24 && m == 0 && sec == 0 && frac_zero);
    ok && is_timezone(rest)
}

/// Checks that `value` is a valid lexical form of `t`.
pub fn check_value(t: DataTypeDefXsd, value: &str) -> Result<(), String> {
    use DataTypeDefXsd as X;
    let ok = match t {
        X::String | X::AnyUri => true,
        X::Boolean => matches!(value, "true" | "false" | "1" | "0"),
        X::Byte => is_int_in(value, -128, 127),
        X::Short => is_int_in(value, -32768, 32767),
        X::Int => is_int_in(value, i32::MIN.into(), i32::MAX.into()),
        X::Long => is_int_in(value, i64::MIN.into(), i64::MAX.into()),
        X::UnsignedByte => is_int_in(value, 0, 255),
        X::UnsignedShort => is_int_in(value, 0, 65535),
        X::UnsignedInt => is_int_in(value, 0, u32::MAX.into()),
        X::UnsignedLong => is_int_in(value, 0, u64::MAX.into()),
        X::Integer => is_int_in(value, i128::MIN, i128::MAX),
        X::NonNegativeInteger => is_int_in(value, i128::MIN, i128::MAX) && !is_negative(value),
        X::PositiveInteger => {
            is_int_in(value, i128::MIN, i128::MAX) && !is_negative(value) && !is_zero(value)
        }
        X::NonPositiveInteger => is_int_in(value, i128::MIN, 0),
        X::NegativeInteger => is_int_in(value, i128::MIN, -1),
        X::Decimal => is_decimal(value),
        X::Double => is_xs_double(value),
        X::Float => {
            is_xs_double(value)
                && value
                    .parse::<f64>()
                    .map(|v| v.abs() <= f32::MAX as f64)
                    .unwrap_or(true)
        }
        X::Date => parse_date_prefix(value).is_some_and(is_timezone),
        X::DateTime => parse_date_prefix(value)
            .and_then(|r| r.strip_prefix('T'))
            .is_some_and(is_time),
        X::Time => is_time(value),
        X::Duration => {
            let t = value.strip_prefix('-').unwrap_or(value);
            t.starts_with('P')
                && t.len() > 1
                && !t.ends_with('T')
                && t[1..]
                    .chars()
                    .all(|c| c.is_ascii_digit() || "YMDTHS.".contains(c))
        }
        X::GYear => {
            let t = value.strip_prefix('-').unwrap_or(value);
            let n = t.chars().take_while(|c| c.is_ascii_digit()).count();
            n >= 4 && is_timezone(&t[n..])
        }
        X::GYearMonth => {
            let t = value.strip_prefix('-').unwrap_or(value);
            let n = t.chars().take_while(|c| c.is_ascii_digit()).count();
            n >= 4
                && t.get(n..n + 1) == Some("-")
                && t.get(n + 1..n + 3)
                    .and_then(two_digits)
                    .is_some_and(|m| (1..=12).contains(&m))
                && is_timezone(t.get(n + 3..).unwrap_or("x"))
        }
        X::GMonth => {
            value
                .strip_prefix("--")
                .and_then(|r| r.get(0..2))
                .and_then(two_digits)
                .is_some_and(|m| (1..=12).contains(&m))
                && is_timezone(&value[4.min(value.len())..])
        }
        X::GDay => {
            value
                .strip_prefix("---")
                .and_then(|r| r.get(0..2))
                .and_then(two_digits)
                .is_some_and(|d| (1..=31).contains(&d))
                && is_timezone(&value[5.min(value.len())..])
        }
        X::GMonthDay => {
            let ok = value.strip_prefix("--").is_some_and(|r| {
                let m = r.get(0..2).and_then(two_digits);
                let d = r.get(3..5).and_then(two_digits);
                matches!((m, d), (Some(m), Some(d)) if (1..=12).contains(&m) && d >= 1 && d <= days_in_month(2000, m))
                    && r.get(2..3) == Some("-")
            });
            ok && is_timezone(&value[7.min(value.len())..])
        }
        X::HexBinary => {
            value.len().is_multiple_of(2) && value.chars().all(|c| c.is_ascii_hexdigit())
        }
        X::Base64Binary => {
            use base64::Engine;
            let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .is_ok()
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("value {value:?} is not a valid {}", xs_name(t)))
    }
}

/// The `xs:` name of a data type.
pub fn xs_name(t: DataTypeDefXsd) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn non_empty_str(c: &mut Ctx, path: &str, s: &str, max: usize) {
    if s.is_empty() {
        c.err(path, "must not be empty");
    } else if s.chars().count() > max {
        c.err(path, format!("longer than {max} characters"));
    }
}

fn lang_strings(c: &mut Ctx, path: &str, v: &[LangString], max: usize) {
    let mut seen = HashSet::new();
    for (i, l) in v.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if !is_valid_language(&l.language) {
            c.err(
                &format!("{p}.language"),
                format!("{:?} is not a BCP 47 language tag", l.language),
            );
        }
        non_empty_str(c, &format!("{p}.text"), &l.text, max);
        if !seen.insert(l.language.to_ascii_lowercase()) {
            c.err(
                &format!("{p}.language"),
                format!("language {:?} appears twice", l.language),
            );
        }
    }
}

fn reference(c: &mut Ctx, path: &str, r: &Reference) {
    if r.keys.is_empty() {
        c.err(
            &format!("{path}.keys"),
            "a reference needs at least one key",
        );
        return;
    }
    for (i, k) in r.keys.iter().enumerate() {
        non_empty_str(c, &format!("{path}.keys[{i}].value"), &k.value, 2000);
    }
    let first = r.keys[0].kind;
    if !first.is_globally_identifiable() {
        c.err(
            &format!("{path}.keys[0].type"),
            "AASd-121: the first key must be globally identifiable",
        );
    }
    match r.kind {
        ReferenceTypes::ExternalReference => {
            if !first.is_generic_globally_identifiable() {
                c.err(
                    &format!("{path}.keys[0].type"),
                    "AASd-122: an external reference starts with a GlobalReference key",
                );
            }
            let last = r.keys[r.keys.len() - 1].kind;
            if !(last == KeyTypes::GlobalReference || last == KeyTypes::FragmentReference) {
                c.err(&format!("{path}.keys"), "AASd-124: an external reference ends with a GlobalReference or FragmentReference key");
            }
        }
        ReferenceTypes::ModelReference => {
            if !first.is_aas_identifiable() {
                c.err(
                    &format!("{path}.keys[0].type"),
                    "AASd-123: a model reference starts with an AAS identifiable key",
                );
            }
            for (i, k) in r.keys.iter().enumerate().skip(1) {
                if !k.kind.is_fragment() {
                    c.err(
                        &format!("{path}.keys[{i}].type"),
                        "AASd-125: keys after the first must be fragment keys",
                    );
                } else if k.kind == KeyTypes::FragmentReference && i + 1 != r.keys.len() {
                    c.err(
                        &format!("{path}.keys[{i}].type"),
                        "AASd-126: FragmentReference may only be the last key",
                    );
                }
                if i > 0
                    && r.keys[i - 1].kind == KeyTypes::SubmodelElementList
                    && !k.value.chars().all(|ch| ch.is_ascii_digit())
                {
                    c.err(
                        &format!("{path}.keys[{i}].value"),
                        "AASd-128: a key after a SubmodelElementList key is an index",
                    );
                }
            }
        }
    }
    if let Some(rs) = &r.referred_semantic_id {
        reference(c, &format!("{path}.referredSemanticId"), rs);
    }
}

fn semantics(c: &mut Ctx, path: &str, semantic_id: Option<&Reference>, supplemental: &[Reference]) {
    if let Some(s) = semantic_id {
        reference(c, &format!("{path}.semanticId"), s);
    }
    if !supplemental.is_empty() && semantic_id.is_none() {
        c.err(
            &format!("{path}.supplementalSemanticIds"),
            "AASd-118: supplemental semantic ids need a semanticId",
        );
    }
    for (i, r) in supplemental.iter().enumerate() {
        reference(c, &format!("{path}.supplementalSemanticIds[{i}]"), r);
    }
}

fn extensions(c: &mut Ctx, path: &str, v: &[Extension]) {
    let mut names = HashSet::new();
    for (i, e) in v.iter().enumerate() {
        let p = format!("{path}.extensions[{i}]");
        semantics(c, &p, e.semantic_id.as_ref(), &e.supplemental_semantic_ids);
        non_empty_str(c, &format!("{p}.name"), &e.name, 128);
        if !names.insert(e.name.as_str()) {
            c.err(
                &format!("{p}.name"),
                "AASd-077: extension names must be unique",
            );
        }
        if let Some(val) = &e.value
            && let Err(m) = check_value(e.value_type.unwrap_or(DataTypeDefXsd::String), val)
        {
            c.err(&format!("{p}.value"), m);
        }
        for (j, r) in e.refers_to.iter().enumerate() {
            reference(c, &format!("{p}.refersTo[{j}]"), r);
        }
    }
}

fn qualifiers(c: &mut Ctx, path: &str, v: &[Qualifier]) {
    let mut types = HashSet::new();
    for (i, q) in v.iter().enumerate() {
        let p = format!("{path}.qualifiers[{i}]");
        semantics(c, &p, q.semantic_id.as_ref(), &q.supplemental_semantic_ids);
        non_empty_str(c, &format!("{p}.type"), &q.kind_name, 128);
        if !types.insert(q.kind_name.as_str()) {
            c.err(
                &format!("{p}.type"),
                "AASd-021: qualifier types must be unique",
            );
        }
        if let Some(val) = &q.value
            && let Err(m) = check_value(q.value_type, val)
        {
            c.err(&format!("{p}.value"), format!("AASd-020: {m}"));
        }
        if let Some(r) = &q.value_id {
            reference(c, &format!("{p}.valueId"), r);
        }
    }
}

fn data_specs(c: &mut Ctx, path: &str, v: &[serde_json::Value]) {
    for (i, d) in v.iter().enumerate() {
        let ok = d
            .get("dataSpecification")
            .is_some_and(|r| r.get("keys").is_some())
            && d.get("dataSpecificationContent")
                .is_some_and(serde_json::Value::is_object);
        if !ok {
            c.err(
                &format!("{path}.embeddedDataSpecifications[{i}]"),
                "needs `dataSpecification` (a reference) and `dataSpecificationContent` (an object)",
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn referable(
    c: &mut Ctx,
    path: &str,
    id_short: Option<&str>,
    category: Option<&str>,
    display_name: &[LangString],
    description: &[LangString],
    ext: &[Extension],
) {
    if let Some(s) = id_short
        && !is_valid_id_short(s)
    {
        c.err(
            &format!("{path}.idShort"),
            format!("AASd-002: {s:?} must match [a-zA-Z][a-zA-Z0-9_]* (at most 128 characters)"),
        );
    }
    if let Some(cat) = category {
        non_empty_str(c, &format!("{path}.category"), cat, 128);
    }
    lang_strings(c, &format!("{path}.displayName"), display_name, 128);
    lang_strings(c, &format!("{path}.description"), description, 1023);
    extensions(c, path, ext);
}

fn administration(c: &mut Ctx, path: &str, a: Option<&AdministrativeInformation>) {
    let Some(a) = a else { return };
    let p = format!("{path}.administration");
    if a.revision.is_some() && a.version.is_none() {
        c.err(&p, "AASd-005: a revision requires a version");
    }
    for (name, v) in [("version", &a.version), ("revision", &a.revision)] {
        if let Some(v) = v
            && (v.is_empty()
                || v.len() > 4
                || !v.chars().all(|ch| ch.is_ascii_digit())
                || (v.len() > 1 && v.starts_with('0')))
        {
            c.err(
                &format!("{p}.{name}"),
                "must match (0|[1-9][0-9]*), at most 4 characters",
            );
        }
    }
    if let Some(r) = &a.creator {
        reference(c, &format!("{p}.creator"), r);
    }
    if let Some(t) = &a.template_id {
        non_empty_str(c, &format!("{p}.templateId"), t, 2000);
    }
    data_specs(c, &p, &a.embedded_data_specifications);
}

fn specific_asset_ids(c: &mut Ctx, path: &str, v: &[SpecificAssetId]) {
    for (i, s) in v.iter().enumerate() {
        let p = format!("{path}[{i}]");
        semantics(c, &p, s.semantic_id.as_ref(), &s.supplemental_semantic_ids);
        non_empty_str(c, &format!("{p}.name"), &s.name, 64);
        non_empty_str(c, &format!("{p}.value"), &s.value, 2000);
        if s.name.eq_ignore_ascii_case("globalAssetId") {
            c.err(
                &format!("{p}.name"),
                "AASd-116: `globalAssetId` is reserved",
            );
        }
        if let Some(r) = &s.external_subject_id {
            if r.kind != ReferenceTypes::ExternalReference {
                c.err(
                    &format!("{p}.externalSubjectId"),
                    "AASd-133: must be an external reference",
                );
            }
            reference(c, &format!("{p}.externalSubjectId"), r);
        }
    }
}

fn is_data_element(e: &SubmodelElement) -> bool {
    matches!(
        e,
        SubmodelElement::Property(_)
            | SubmodelElement::MultiLanguageProperty(_)
            | SubmodelElement::Range(_)
            | SubmodelElement::File(_)
            | SubmodelElement::Blob(_)
            | SubmodelElement::ReferenceElement(_)
    )
}

fn children(
    c: &mut Ctx,
    path: &str,
    field: &str,
    v: &[SubmodelElement],
    list: Option<&SubmodelElementList>,
) {
    let mut seen = HashSet::new();
    for (i, e) in v.iter().enumerate() {
        let p = format!("{path}.{field}[{i}]");
        element_into(c, e, &p, list.is_some());
        if list.is_none()
            && let Some(s) = e.id_short()
            && !seen.insert(s.to_string())
        {
            c.err(
                &format!("{p}.idShort"),
                format!("AASd-022: idShort {s:?} is used twice in this namespace"),
            );
        }
    }
    let Some(l) = list else { return };
    let mut first_sem: Option<&Reference> = None;
    for (i, e) in v.iter().enumerate() {
        let p = format!("{path}.{field}[{i}]");
        let want = l.type_value_list_element;
        let kt = e.key_type();
        let fits = kt == want
            || want == KeyTypes::SubmodelElement
            || (want == KeyTypes::DataElement && is_data_element(e));
        if !fits {
            c.err(
                &p,
                format!("AASd-108: element is a {kt:?} but typeValueListElement is {want:?}"),
            );
        }
        if matches!(want, KeyTypes::Property | KeyTypes::Range) {
            let vt = match e {
                SubmodelElement::Property(x) => Some(x.value_type),
                SubmodelElement::Range(x) => Some(x.value_type),
                _ => None,
            };
            if vt.is_some() && vt != l.value_type_list_element {
                c.err(
                    &format!("{p}.valueType"),
                    "AASd-109: valueType must equal the list's valueTypeListElement",
                );
            }
        }
        if let Some(s) = e.semantic_id() {
            if let Some(ls) = &l.semantic_id_list_element
                && ls != s
            {
                c.err(
                    &format!("{p}.semanticId"),
                    "AASd-107: must equal the list's semanticIdListElement",
                );
            }
            match first_sem {
                Some(f) if f != s => c.err(
                    &format!("{p}.semanticId"),
                    "AASd-114: list elements must share one semanticId",
                ),
                None => first_sem = Some(s),
                _ => {}
            }
        }
    }
}

/// The element as a referable: its idShort (AASd-117, AASd-120) and category (AASd-090).
fn element_identity(c: &mut Ctx, e: &SubmodelElement, path: &str, in_list: bool) {
    referable(
        c,
        path,
        e.id_short(),
        e.category(),
        e.display_name(),
        e.description(),
        e.extensions(),
    );
    match (in_list, e.id_short()) {
        (true, Some(_)) => c.err(
            &format!("{path}.idShort"),
            "AASd-120: elements of a SubmodelElementList have no idShort",
        ),
        (false, None) => c.err(
            &format!("{path}.idShort"),
            "AASd-117: idShort is required here",
        ),
        _ => {}
    }
    if is_data_element(e)
        && let Some(cat) = e.category()
        && !matches!(cat, "CONSTANT" | "PARAMETER" | "VARIABLE")
    {
        c.err(
            &format!("{path}.category"),
            "AASd-090: category must be CONSTANT, PARAMETER or VARIABLE",
        );
    }
}

/// An Entity: its asset ids by entity type (AASd-014) and its statements.
fn entity_into(c: &mut Ctx, en: &Entity, path: &str) {
    let has_id = en.global_asset_id.is_some() || !en.specific_asset_ids.is_empty();
    let both = en.global_asset_id.is_some() && !en.specific_asset_ids.is_empty();
    match en.entity_type {
        // aas-core3.0 reads AASd-014 as "exactly one of the two"
        EntityType::SelfManagedEntity if !has_id || both => c.err(
            path,
            "AASd-014: a SelfManagedEntity has either globalAssetId or specificAssetIds (exactly one)",
        ),
        EntityType::CoManagedEntity if has_id => {
            c.err(path, "AASd-014: a CoManagedEntity has neither globalAssetId nor specificAssetIds")
        }
        _ => {}
    }
    if let Some(g) = &en.global_asset_id {
        non_empty_str(c, &format!("{path}.globalAssetId"), g, 2000);
    }
    specific_asset_ids(
        c,
        &format!("{path}.specificAssetIds"),
        &en.specific_asset_ids,
    );
    children(c, path, "statements", &en.statements, None)
}

fn element_into(c: &mut Ctx, e: &SubmodelElement, path: &str, in_list: bool) {
    element_identity(c, e, path, in_list);
    semantics(c, path, e.semantic_id(), e.supplemental_semantic_ids());
    qualifiers(c, path, e.qualifiers());
    match e {
        SubmodelElement::Property(p) => {
            if let Some(v) = &p.value
                && let Err(m) = check_value(p.value_type, v)
            {
                c.err(&format!("{path}.value"), m);
            }
            if let Some(r) = &p.value_id {
                reference(c, &format!("{path}.valueId"), r);
            }
            data_specs(c, path, &p.embedded_data_specifications);
        }
        SubmodelElement::MultiLanguageProperty(m) => {
            lang_strings(c, &format!("{path}.value"), &m.value, 1023);
            if let Some(r) = &m.value_id {
                reference(c, &format!("{path}.valueId"), r);
            }
        }
        SubmodelElement::Range(r) => {
            for (name, v) in [("min", &r.min), ("max", &r.max)] {
                if let Some(v) = v
                    && let Err(m) = check_value(r.value_type, v)
                {
                    c.err(&format!("{path}.{name}"), m);
                }
            }
        }
        SubmodelElement::File(f) => {
            non_empty_str(c, &format!("{path}.contentType"), &f.content_type, 128);
            if let Some(v) = &f.value {
                non_empty_str(c, &format!("{path}.value"), v, 2000);
            }
        }
        SubmodelElement::Blob(b) => {
            non_empty_str(c, &format!("{path}.contentType"), &b.content_type, 128);
            if let Some(v) = &b.value
                && check_value(DataTypeDefXsd::Base64Binary, v).is_err()
            {
                c.err(&format!("{path}.value"), "a Blob value must be base64");
            }
        }
        SubmodelElement::ReferenceElement(r) => {
            if let Some(v) = &r.value {
                reference(c, &format!("{path}.value"), v);
            }
        }
        SubmodelElement::Capability(_) => {}
        SubmodelElement::SubmodelElementCollection(s) => children(c, path, "value", &s.value, None),
        SubmodelElement::SubmodelElementList(l) => {
            if let Some(r) = &l.semantic_id_list_element {
                reference(c, &format!("{path}.semanticIdListElement"), r);
            }
            if matches!(
                l.type_value_list_element,
                KeyTypes::Property | KeyTypes::Range
            ) && l.value_type_list_element.is_none()
            {
                c.err(
                    &format!("{path}.valueTypeListElement"),
                    "AASd-109: required for lists of Property or Range",
                );
            }
            children(c, path, "value", &l.value, Some(l))
        }
        SubmodelElement::Entity(en) => entity_into(c, en, path),
        SubmodelElement::RelationshipElement(r) => {
            reference(c, &format!("{path}.first"), &r.first);
            reference(c, &format!("{path}.second"), &r.second);
        }
    }
}

/// Checks one submodel element (and everything below it).
pub fn element(e: &SubmodelElement, path: &str, in_list: bool) -> Vec<Violation> {
    let mut c = Ctx { out: Vec::new() };
    element_into(&mut c, e, path, in_list);
    c.out
}

fn identifier(c: &mut Ctx, path: &str, id: &str) {
    let path = format!("{path}.id");
    non_empty_str(c, &path, id, 2000);
    if let Some(m) = crate::ids::identifier_problem(id) {
        c.err(&path, m);
    }
}

/// The checks every identifiable (shell, submodel, concept description) starts with:
/// as a referable, its identifier and its administrative information.
macro_rules! identifiable {
    ($c:expr, $path:expr, $x:expr) => {{
        referable(
            $c,
            $path,
            $x.id_short.as_deref(),
            $x.category.as_deref(),
            &$x.display_name,
            &$x.description,
            &$x.extensions,
        );
        identifier($c, $path, &$x.id);
        administration($c, $path, $x.administration.as_ref());
    }};
}

/// Checks a shell.
pub fn shell(s: &AssetAdministrationShell) -> Vec<Violation> {
    let mut c = Ctx { out: Vec::new() };
    shell_into(&mut c, "$", s);
    c.out
}

fn shell_into(c: &mut Ctx, path: &str, s: &AssetAdministrationShell) {
    identifiable!(c, path, s);
    data_specs(c, path, &s.embedded_data_specifications);
    if let Some(d) = &s.derived_from {
        let p = format!("{path}.derivedFrom");
        reference(c, &p, d);
        if d.kind != ReferenceTypes::ModelReference
            || d.keys.len() != 1
            || d.keys[0].kind != KeyTypes::AssetAdministrationShell
        {
            c.err(
                &p,
                "must be a model reference to an AssetAdministrationShell",
            );
        }
    }
    let ai = &s.asset_information;
    let ap = format!("{path}.assetInformation");
    if ai.global_asset_id.is_none() && ai.specific_asset_ids.is_empty() {
        c.err(
            &ap,
            "AASd-131: globalAssetId or specificAssetIds is required",
        );
    }
    if let Some(g) = &ai.global_asset_id {
        non_empty_str(c, &format!("{ap}.globalAssetId"), g, 2000);
    }
    if let Some(t) = &ai.asset_type {
        non_empty_str(c, &format!("{ap}.assetType"), t, 2000);
    }
    if let Some(t) = &ai.default_thumbnail {
        non_empty_str(c, &format!("{ap}.defaultThumbnail.path"), &t.path, 2000);
    }
    specific_asset_ids(c, &format!("{ap}.specificAssetIds"), &ai.specific_asset_ids);
    for (i, r) in s.submodels.iter().enumerate() {
        let p = format!("{path}.submodels[{i}]");
        reference(c, &p, r);
        if r.kind != ReferenceTypes::ModelReference
            || r.keys.len() != 1
            || r.keys[0].kind != KeyTypes::Submodel
        {
            c.err(&p, "must be a model reference with one Submodel key");
        }
    }
}

/// Checks a submodel.
pub fn submodel(s: &Submodel) -> Vec<Violation> {
    let mut c = Ctx { out: Vec::new() };
    submodel_into(&mut c, "$", s);
    c.out
}

fn submodel_into(c: &mut Ctx, path: &str, s: &Submodel) {
    identifiable!(c, path, s);
    semantics(
        c,
        path,
        s.semantic_id.as_ref(),
        &s.supplemental_semantic_ids,
    );
    qualifiers(c, path, &s.qualifiers);
    data_specs(c, path, &s.embedded_data_specifications);
    children(c, path, "submodelElements", &s.submodel_elements, None);
}

/// Checks a concept description.
pub fn concept_description(cd: &ConceptDescription) -> Vec<Violation> {
    let mut c = Ctx { out: Vec::new() };
    cd_into(&mut c, "$", cd);
    c.out
}

fn cd_into(c: &mut Ctx, path: &str, cd: &ConceptDescription) {
    identifiable!(c, path, cd);
    data_specs(c, path, &cd.embedded_data_specifications);
    for (i, r) in cd.is_case_of.iter().enumerate() {
        reference(c, &format!("{path}.isCaseOf[{i}]"), r);
    }
}

/// Checks a whole environment, including that identifiers are unique.
pub fn environment(env: &Environment) -> Vec<Violation> {
    let mut c = Ctx { out: Vec::new() };
    let mut ids = HashSet::new();
    for (i, s) in env.asset_administration_shells.iter().enumerate() {
        let p = format!("$.assetAdministrationShells[{i}]");
        shell_into(&mut c, &p, s);
        if !ids.insert(s.id.as_str()) {
            c.err(&format!("{p}.id"), "identifier used twice");
        }
    }
    for (i, s) in env.submodels.iter().enumerate() {
        let p = format!("$.submodels[{i}]");
        submodel_into(&mut c, &p, s);
        if !ids.insert(s.id.as_str()) {
            c.err(&format!("{p}.id"), "identifier used twice");
        }
    }
    for (i, cd) in env.concept_descriptions.iter().enumerate() {
        let p = format!("$.conceptDescriptions[{i}]");
        cd_into(&mut c, &p, cd);
        if !ids.insert(cd.id.as_str()) {
            c.err(&format!("{p}.id"), "identifier used twice");
        }
    }
    c.out
}
