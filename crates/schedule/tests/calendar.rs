//! The calendar anchor (`[calendar]`): shifts on the local wall clock across the
//! daylight-saving changes of Europe/Berlin, and no cover on holidays.

use std::sync::atomic::AtomicBool;

use schedule::shop::{ShopOptions, check, solve};

/// One product with one 2-hour step that needs an operator; operators work 06:00–14:00 local
/// on weekdays. Time 0 is `start` (a Monday).
fn plant(start: &str, holidays: &[&str]) -> String {
    let hol: Vec<String> = holidays.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        r#"
[scenario]
name = "calendar"
horizon_days = 60
warmup_days = 0
replications = 2
seed = 1

[calendar]
start = "{start}"
time_zone = "Europe/Berlin"
holidays = [{}]

[[staff]]
name = "operators"
count = 1
dispatch = "fifo"
[[staff.shift]]
days = ["weekdays"]
start_hour = 6.0
end_hour = 14.0

[[product]]
name = "p"
[[product.step]]
name = "work"
duration = {{ dist = "fixed", value = 2, unit = "hours" }}
[[product.step.uses]]
staff = "operators"

[[demand]]
product = "p"
apheresis_days = [0]
target_vein_to_vein_days = 30
"#,
        hol.join(", ")
    )
}

/// The start of one order released at `release_h`, planned alone; with the local date-time.
fn start_of(text: &str, release_h: f64) -> (i64, String) {
    let m = model::load("calendar.toml", text).unwrap_or_else(|e| panic!("{e:?}"));
    let orders = vec![model::Order {
        id: "A".into(),
        product: 0,
        release_h,
        due_h: release_h + 720.0,
        weight: 1.0,
    }];
    let (shop, _) = schedule::plant::shop_from_model(&m, &orders).unwrap_or_else(|e| panic!("{e}"));
    let opts = ShopOptions {
        iteration_limit: Some(5),
        ..ShopOptions::default()
    };
    let sol = solve(&shop, &opts, &AtomicBool::new(false), &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(check(&shop, &sol.plan).is_empty());
    let t = sol.plan.ops[0].start;
    let anchor = m.calendar.as_ref().expect("anchored");
    (t, anchor.local(t))
}

#[test]
fn spring_change_the_shift_still_starts_at_six_local() {
    // time 0 = Monday 2027-03-22 00:00 CET; summer time from Sunday 28 March 02:00
    let text = plant("2027-03-22", &[]);
    // released Friday 26 March 07:00: starts at once (inside the shift)
    assert_eq!(
        start_of(&text, 4.0 * 24.0 + 7.0).1,
        "2027-03-26 07:00 +01:00"
    );
    // released Thursday 25 March 00:00: 06:00 CET = 3 days + 6 h of elapsed time
    assert_eq!(
        start_of(&text, 72.0),
        (3 * 1440 + 360, "2027-03-25 06:00 +01:00".into())
    );
    // released Saturday 27 March: the next shift is Monday 29 March 06:00 CEST, one hour
    // earlier in elapsed time than 7 days + 6 h
    assert_eq!(
        start_of(&text, 5.0 * 24.0),
        (7 * 1440 + 360 - 60, "2027-03-29 06:00 +02:00".into())
    );
}

#[test]
fn autumn_change_the_shift_still_starts_at_six_local() {
    // time 0 = Monday 2027-10-25 00:00 CEST; back to CET on Sunday 31 October 03:00
    let text = plant("2027-10-25", &[]);
    assert_eq!(
        start_of(&text, 0.0),
        (360, "2027-10-25 06:00 +02:00".into())
    );
    // released Saturday: Monday 1 November 06:00 CET, one hour later in elapsed time
    assert_eq!(
        start_of(&text, 5.0 * 24.0),
        (7 * 1440 + 360 + 60, "2027-11-01 06:00 +01:00".into())
    );
}

#[test]
fn holidays_have_no_cover() {
    // Good Friday 26 March and Easter Monday 29 March 2027
    let text = plant("2027-03-22", &["2027-03-26", "2027-03-29"]);
    assert_eq!(start_of(&text, 4.0 * 24.0).1, "2027-03-30 06:00 +02:00");
    // without the holidays the same order starts on Friday
    let plain = plant("2027-03-22", &[]);
    assert_eq!(start_of(&plain, 4.0 * 24.0).1, "2027-03-26 06:00 +01:00");
}

#[test]
fn without_an_anchor_shifts_are_weekly_in_elapsed_time() {
    let text = plant("2027-03-22", &[]);
    let start = text.find("[calendar]").expect("table");
    let end = text.find("[[staff]]").expect("staff");
    let plain = format!("{}{}", &text[..start], &text[end..]);
    let m = model::load("plain.toml", &plain).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(m.calendar.is_none());
    let orders = vec![model::Order {
        id: "A".into(),
        product: 0,
        release_h: 120.0,
        due_h: 840.0,
        weight: 1.0,
    }];
    let (shop, _) = schedule::plant::shop_from_model(&m, &orders).unwrap_or_else(|e| panic!("{e}"));
    let sol = solve(
        &shop,
        &ShopOptions {
            iteration_limit: Some(5),
            ..ShopOptions::default()
        },
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sol.plan.ops[0].start, 7 * 1440 + 360);
}

#[test]
fn bad_calendar_tables_are_located() {
    let text = plant("2027-03-23", &["2027-02-29"]).replace("Europe/Berlin", "Europe/Berlim");
    let e = model::load("bad.toml", &text).expect_err("three problems");
    let shown = format!("{e:?}");
    for want in [
        "is a Tuesday",
        "the Monday of that week is 2027-03-22",
        "unknown time zone `Europe/Berlim`",
        "`2027-02-29` is not a day of the calendar",
    ] {
        assert!(shown.contains(want), "{want} missing in {shown}");
    }
}
