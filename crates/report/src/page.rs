//! The HTML page shell and table helpers shared by every report of the crate: one inline
//! stylesheet, no external resources, and no script except the small inline one that sorts
//! and filters [`sortable_table`]s (only in pages that have one). Markup is written so that it is both valid
//! HTML5 and well-formed XML (void elements self-closed, every text escaped).

use std::fmt::Write as _;

use crate::svg::Format;
pub use crate::svg::escape;

/// The inline stylesheet of every report.
pub const CSS: &str = "\
:root{color-scheme:light}\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;\
margin:0 auto;max-width:1320px;padding:16px 24px 48px;color:#1b1b1b;background:#fff;line-height:1.4}\
h1{font-size:1.6em;margin:.3em 0 .2em}h2{font-size:1.25em;margin:1.6em 0 .4em;\
border-bottom:2px solid #0072B2;padding-bottom:2px}h3{font-size:1.02em;margin:1em 0 .3em}\
table{border-collapse:collapse;margin:.4em 0 1em;font-size:.92em}\
th,td{border:1px solid #d6d6d6;padding:3px 8px;vertical-align:top}\
th{background:#f1f4f8;text-align:left;font-weight:600}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.ci{color:#555;font-size:.9em}.muted{color:#666}.small{font-size:.88em}\
.warn{background:#fff4e5;border-left:4px solid #E69F00;padding:6px 10px;margin:.6em 0}\
.good{color:#00734d}.bad{color:#b03a2e}\
dl.meta{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:.4em 0 1em;font-size:.95em}\
dl.meta dt{font-weight:600;color:#333}dl.meta dd{margin:0}\
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;\
background:#f4f4f4;padding:0 3px;border-radius:3px;word-break:break-all}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:10px 18px}\
.grid.wide{grid-template-columns:repeat(auto-fill,minmax(600px,1fr))}\
.scroll{overflow-x:auto;max-width:100%}\
ul.decision{margin:.3em 0 .8em;padding-left:1.3em;font-size:1.04em}ul.decision li{margin:.12em 0}\
div.sized{min-width:30em;font-size:.86em}\
.panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(390px,1fr));gap:6px 12px}\
input.filter{margin:.3em 0;padding:3px 6px;width:22em;font:inherit}\
table.sortable th{cursor:pointer}table.sortable th[aria-sort=ascending]::after{content:' ▲'}\
table.sortable th[aria-sort=descending]::after{content:' ▼'}.grid figure{margin:0}figure{margin:.4em 0 1em}figcaption{font-size:.88em;color:#555}\
svg.chart{max-width:100%;height:auto;display:block}\
table.map{font-size:.86em}table.map td,table.map th{padding:2px 6px;white-space:nowrap}\
table.map td.map-cell{text-align:center;color:#111;font-weight:600}table.map td.tie{opacity:.5}\
table.map td.pick{outline:3px solid #111;outline-offset:-3px;opacity:1}\
table.map td.map-none{text-align:center;color:#777;background:repeating-linear-gradient(45deg,#e4e4e4 0 4px,#fff 4px 8px)}\
nav.toc{font-size:.92em}nav.toc a{margin-right:12px}\
footer{margin-top:3em;font-size:.85em;color:#666;border-top:1px solid #ddd;padding-top:.6em}\
@media print{body{max-width:none;padding:0}h2{break-after:avoid}figure,table{break-inside:avoid}}";

/// Sorts a [`sortable_table`] by the column whose header is clicked (numbers by value, the
/// first number of a cell counts, so `12 [10, 14]` sorts as 12 and `≥ 30.5` as 30.5; other
/// text in natural order) and keeps only the rows that contain every word typed into the
/// filter box above it. Wrapped so that the page stays well-formed XML.
const SORT_SCRIPT: &str = "//<![CDATA[
(function(){
function num(c){var m=c.textContent.trim().match(/^[^0-9-]{0,2}(-?[0-9]+(?:\\.[0-9]+)?)/);return m?parseFloat(m[1]):null;}
function cmp(a,b){var x=num(a),y=num(b);if(x!==null&&y!==null)return x-y;if(x!==null)return -1;if(y!==null)return 1;
return a.textContent.localeCompare(b.textContent,undefined,{numeric:true});}
document.querySelectorAll('table.sortable').forEach(function(t){
var body=t.tBodies[0],heads=t.querySelectorAll('thead th');
heads.forEach(function(th,i){th.title='sort by this column';th.addEventListener('click',function(){
var asc=th.getAttribute('aria-sort')!=='ascending';
heads.forEach(function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');
Array.prototype.slice.call(body.rows).sort(function(a,b){var c=cmp(a.cells[i],b.cells[i]);return asc?c:-c;})
.forEach(function(r){body.appendChild(r);});});});
var f=t.parentNode.previousElementSibling;
if(f&&f.classList.contains('filter'))f.addEventListener('input',function(){
var words=f.value.toLowerCase().split(/\\s+/).filter(Boolean);
Array.prototype.forEach.call(body.rows,function(r){var s=r.textContent.toLowerCase();
r.hidden=!words.every(function(w){return s.indexOf(w)>=0;});});});});
})();
//]]>";

/// A complete HTML5 document with the inline stylesheet. `title` is escaped; `body` is
/// inserted as is (it must already be escaped markup). A page with a [`sortable_table`] gets
/// the small inline script that sorts and filters it; no other page has a script.
pub fn document(title: &str, body: &str) -> String {
    let script = if body.contains(SORTABLE) {
        format!("<script>\n{SORT_SCRIPT}\n</script>\n")
    } else {
        String::new()
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <meta name=\"generator\" content=\"atmpflow\"/>\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n{script}</body>\n</html>\n",
        escape(title)
    )
}

/// The class that marks a table for the sorting script.
const SORTABLE: &str = "<table class=\"sortable\">";

/// A [`table`] that the reader can sort by any column (click its header) and filter (a box
/// above it keeps the rows containing every word typed), without any network: the page
/// carries the script inline. Without the script the table reads as it is given.
pub fn sortable_table(header: &[&str], rows: &[Vec<Cell>]) -> String {
    let t = table(header, rows).replacen("<table>", SORTABLE, 1);
    format!(
        "<input type=\"search\" class=\"filter\" placeholder=\"filter rows: type words, e.g. a \
         concept and a number\" aria-label=\"filter the rows of the table below\"/>\n{t}"
    )
}

/// A table cell: markup (already escaped) and whether it is numeric (right-aligned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Escaped markup.
    pub html: String,
    /// Right-aligned with tabular figures.
    pub numeric: bool,
}

impl Cell {
    /// A text cell (escaped here).
    pub fn text(s: &str) -> Self {
        Self {
            html: escape(s),
            numeric: false,
        }
    }

    /// A numeric cell from plain text (escaped here).
    pub fn num(s: &str) -> Self {
        Self {
            html: escape(s),
            numeric: true,
        }
    }

    /// A cell from markup that is already escaped.
    pub fn html(markup: String, numeric: bool) -> Self {
        Self {
            html: markup,
            numeric,
        }
    }
}

/// A table with one row per item of `items`, its cells made by `row`: see [`table`].
pub fn table_of<T>(header: &[&str], items: &[T], row: impl Fn(&T) -> Vec<Cell>) -> String {
    let rows: Vec<Vec<Cell>> = items.iter().map(row).collect();
    table(header, &rows)
}

/// A table with a header row. Header texts are escaped; a header whose index is in
/// `numeric` columns is right-aligned like its cells.
pub fn table(header: &[&str], rows: &[Vec<Cell>]) -> String {
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| !rows.is_empty() && rows.iter().all(|r| r.get(i).is_none_or(|c| c.numeric)))
        .collect();
    let mut out = String::from("<div class=\"scroll\"><table>\n<thead><tr>");
    for (i, h) in header.iter().enumerate() {
        let class = if numeric.get(i).copied().unwrap_or(false) {
            " class=\"num\""
        } else {
            ""
        };
        let _ = write!(out, "<th{class}>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let class = if c.numeric { " class=\"num\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", c.html);
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
    out
}

/// `mean [low, high]` as markup, the interval in a smaller grey span.
pub fn mean_ci(mean: f64, ci: [f64; 2], f: Format) -> String {
    format!(
        "{} <span class=\"ci\">[{}, {}]</span>",
        escape(&f.fmt(mean)),
        escape(&f.fmt(ci[0])),
        escape(&f.fmt(ci[1]))
    )
}

/// A figure wrapping a chart with an escaped caption (omitted when empty).
pub fn figure(svg: &str, caption: &str) -> String {
    if caption.is_empty() {
        format!("<figure>{svg}</figure>\n")
    } else {
        format!(
            "<figure>{svg}<figcaption>{}</figcaption></figure>\n",
            escape(caption)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_escapes_the_title_and_is_well_formed() {
        let d = document("<script>alert(1)</script>", "<p>x</p>");
        assert!(!d.contains("<script>"));
        assert!(d.contains("&lt;script&gt;"));
        let xml = d.trim_start_matches("<!DOCTYPE html>\n");
        assert!(roxmltree::Document::parse(xml).is_ok());
    }

    #[test]
    fn table_right_aligns_numeric_columns() {
        let t = table(
            &["name", "value"],
            &[
                vec![Cell::text("a<b"), Cell::num("1.0")],
                vec![Cell::text("c"), Cell::num("2.0")],
            ],
        );
        assert!(t.contains("<th class=\"num\">value</th>"));
        assert!(t.contains("<td>a&lt;b</td><td class=\"num\">1.0</td>"));
        assert!(roxmltree::Document::parse(&t).is_ok());
    }

    #[test]
    fn mean_ci_writes_the_interval() {
        assert_eq!(
            mean_ci(0.5, [0.4, 0.6], Format::Percent(0)),
            "50 % <span class=\"ci\">[40 %, 60 %]</span>"
        );
    }
}
