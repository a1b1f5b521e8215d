//! Scenario files for tests, written table by table.
//!
//! The tests of the model, the simulator, the planner, the cost model and the reports each
//! need a small plant of their own: a `[scenario]` header, a few resource pools, a product or
//! two and their demand. [`Scenario`] writes that TOML from what the test states (names,
//! counts, durations, arrivals), so each test shows the plant it runs and nothing else, and
//! the spelling of the tables lives here once.
//!
//! The writer only writes text, so the model crate's own tests use it as well: their `model`
//! and the one below `recipe` here are two builds of one crate, which text does not mind.
//!
//! ```
//! use testkit::scenarios::{Scenario, fixed};
//!
//! let text = Scenario::new("one machine", 5, 0, 2, 1)
//!     .equipment("machine", 1)
//!     .product("p")
//!     .step("serve", fixed(2, "hours"))
//!     .uses("equipment", "machine")
//!     .demand("p", "apheresis_days = [0]", 1)
//!     .text();
//! assert!(text.contains("[[equipment]]\nname = \"machine\"\ncount = 1\n"));
//! ```

use std::fmt::Display;

/// A scenario file being written: tables in the order the methods are called, keys in the
/// order they are set.
#[derive(Debug, Clone)]
pub struct Scenario {
    text: String,
    /// Where the table written last begins (its header line) in `text`.
    table: usize,
}

impl Scenario {
    /// The `[scenario]` table: `name`, simulated `horizon_days`, `warmup_days` left out of
    /// the statistics, `replications` and the `seed`.
    pub fn new(
        name: &str,
        horizon_days: impl Display,
        warmup_days: impl Display,
        replications: u32,
        seed: u64,
    ) -> Self {
        Scenario {
            text: String::new(),
            table: 0,
        }
        .table("[scenario]")
        .set("name", q(name))
        .set("horizon_days", horizon_days)
        .set("warmup_days", warmup_days)
        .set("replications", replications)
        .set("seed", seed)
    }

    /// Starts a table with `header` (`[calendar]`, `[[equipment]]`, ...) after a blank line.
    pub fn table(mut self, header: &str) -> Self {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.table = self.text.len();
        self.text.push_str(header);
        self.text.push('\n');
        self
    }

    /// Starts a table that belongs to the one before (`[[product.step]]`,
    /// `[[staff.shift]]`, ...) right below it.
    pub fn subtable(mut self, header: &str) -> Self {
        self.table = self.text.len();
        self.text.push_str(header);
        self.text.push('\n');
        self
    }

    /// Sets `key = value` in the table written last: `value` is TOML as written (a string
    /// value quoted, see [`q`]). A key the table has already is replaced where it stands; a
    /// new key is added at the table's end.
    pub fn set(mut self, key: &str, value: impl Display) -> Self {
        let line = format!("{key} = {value}\n");
        let prefix = format!("{key} = ");
        let mut at = self.table;
        for l in self.text[self.table..].split_inclusive('\n') {
            if l.starts_with(&prefix) {
                self.text.replace_range(at..at + l.len(), &line);
                return self;
            }
            at += l.len();
        }
        self.text.push_str(&line);
        self
    }

    /// A pool of `count` identical units of equipment `name`, served first in, first out.
    pub fn equipment(self, name: &str, count: impl Display) -> Self {
        self.pool("[[equipment]]", name, count)
    }

    /// A pool of `count` staff `name`, served first in, first out; give them a
    /// [`shift`](Self::shift).
    pub fn staff(self, name: &str, count: impl Display) -> Self {
        self.pool("[[staff]]", name, count)
    }

    fn pool(self, header: &str, name: &str, count: impl Display) -> Self {
        self.table(header)
            .set("name", q(name))
            .set("count", count)
            .set("dispatch", q("fifo"))
    }

    /// The pool or area written last ranks its waiting batches by `rule` (`fifo`, `edd`,
    /// `least_slack`, ...).
    pub fn dispatch(self, rule: &str) -> Self {
        self.set("dispatch", q(rule))
    }

    /// An area `name` of clean-room `grade` holding `capacity` batches at once, served first
    /// in, first out.
    pub fn area(self, name: &str, grade: &str, capacity: impl Display) -> Self {
        self.table("[[area]]")
            .set("name", q(name))
            .set("grade", q(grade))
            .set("capacity", capacity)
            .set("dispatch", q("fifo"))
    }

    /// A shift of the staff pool written last: on `days` (`weekdays`, `all`, ...) from
    /// `start_hour` to `end_hour`.
    pub fn shift(self, days: &[&str], start_hour: impl Display, end_hour: impl Display) -> Self {
        let days: Vec<String> = days.iter().map(|d| q(d)).collect();
        self.subtable("[[staff.shift]]")
            .set("days", format!("[{}]", days.join(", ")))
            .set("start_hour", start_hour)
            .set("end_hour", end_hour)
    }

    /// A product `name`; its steps follow with [`step`](Self::step).
    pub fn product(self, name: &str) -> Self {
        self.table("[[product]]").set("name", q(name))
    }

    /// A step `name` of the product written last, taking `duration` (see [`fixed`],
    /// [`exponential`], [`triangular`]).
    pub fn step(self, name: &str, duration: impl Display) -> Self {
        self.subtable("[[product.step]]")
            .set("name", q(name))
            .set("duration", duration)
    }

    /// The step written last uses one unit of the resource `name` of `kind` (`equipment`,
    /// `area`, `staff`, `capability`).
    pub fn uses(self, kind: &str, name: &str) -> Self {
        self.set("uses", format!("[{{ {kind} = {} }}]", q(name)))
    }

    /// Demand for `product`: its `arrivals` as written (`patients_per_year = 50`,
    /// `apheresis_days = [0, 1]`, ...), each patient due `target_days` after apheresis.
    pub fn demand(self, product: &str, arrivals: &str, target_days: impl Display) -> Self {
        let mut s = self.table("[[demand]]").set("product", q(product));
        s.text.push_str(arrivals);
        s.text.push('\n');
        s.set("target_vein_to_vein_days", target_days)
    }

    /// A queue in front of a pool of `servers` identical units of equipment `machine`:
    /// product `job` has one step `serve` on a machine taking an exponential time with mean
    /// `mean_hours`, and `per_week` patients arrive a week at random (Poisson), each due a day
    /// after apheresis.
    pub fn machine_queue(self, servers: u32, mean_hours: f64, per_week: f64) -> Self {
        self.equipment("machine", servers)
            .product("job")
            .step("serve", exponential(mean_hours, "hours"))
            .uses("equipment", "machine")
            .demand("job", &format!("patients_per_week = {per_week}"), 1)
    }

    /// Adds `tables`, TOML as written, at the end of the file.
    pub fn append(mut self, tables: &str) -> Self {
        self.table = self.text.len();
        self.text.push_str(tables);
        self
    }

    /// The scenario file.
    pub fn text(self) -> String {
        self.text
    }
}

/// `s` as a TOML string.
pub fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A duration of exactly `value` `unit`s (`hours`, `days`).
pub fn fixed(value: impl Display, unit: &str) -> String {
    format!("{{ dist = \"fixed\", value = {value}, unit = \"{unit}\" }}")
}

/// An exponentially distributed duration with `mean` `unit`s.
pub fn exponential(mean: impl Display, unit: &str) -> String {
    format!("{{ dist = \"exponential\", mean = {mean}, unit = \"{unit}\" }}")
}

/// A triangular duration from `min` over the most likely `mode` to `max` `unit`s.
pub fn triangular(min: impl Display, mode: impl Display, max: impl Display, unit: &str) -> String {
    format!(
        "{{ dist = \"triangular\", min = {min}, mode = {mode}, max = {max}, unit = \"{unit}\" }}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_written_in_order_with_their_keys() {
        let text = Scenario::new("a \"b\"", 5, 0.5, 2, 1)
            .staff("operators", 2)
            .dispatch("edd")
            .shift(&["weekdays"], 7.0, 15.5)
            .product("p")
            .step("make", triangular(1, 2, 3, "days"))
            .uses("staff", "operators")
            .set("transfer_hours", 0.5)
            .demand("p", "patients_per_year = 50", 20)
            .text();
        assert_eq!(
            text,
            "[scenario]\nname = \"a \\\"b\\\"\"\nhorizon_days = 5\nwarmup_days = 0.5\n\
             replications = 2\nseed = 1\n\n\
             [[staff]]\nname = \"operators\"\ncount = 2\ndispatch = \"edd\"\n\
             [[staff.shift]]\ndays = [\"weekdays\"]\nstart_hour = 7\nend_hour = 15.5\n\n\
             [[product]]\nname = \"p\"\n\
             [[product.step]]\nname = \"make\"\n\
             duration = { dist = \"triangular\", min = 1, mode = 2, max = 3, unit = \"days\" }\n\
             uses = [{ staff = \"operators\" }]\ntransfer_hours = 0.5\n\n\
             [[demand]]\nproduct = \"p\"\npatients_per_year = 50\n\
             target_vein_to_vein_days = 20\n"
        );
    }

    #[test]
    fn a_key_is_set_in_the_table_written_last_only() {
        let text = Scenario::new("s", 1, 0, 2, 1)
            .equipment("a", 1)
            .equipment("b", 1)
            .set("count", 3)
            .text();
        assert!(text.contains("name = \"a\"\ncount = 1\n"), "{text}");
        assert!(text.contains("name = \"b\"\ncount = 3\n"), "{text}");
    }
}
