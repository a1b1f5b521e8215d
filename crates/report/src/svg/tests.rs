//! Tests of the charts: well-formed markup, the shapes drawn, "no data" notes.

use super::canvas::num;
use super::*;

fn parse(svg: &str) -> roxmltree::Document<'_> {
    match roxmltree::Document::parse(svg) {
        Ok(d) => d,
        Err(e) => panic!("not well-formed: {e}\n{svg}"),
    }
}

/// The elements named `tag` in `doc`, in document order.
fn elements<'a, 'i>(doc: &'a roxmltree::Document<'i>, tag: &str) -> Vec<roxmltree::Node<'a, 'i>> {
    doc.descendants().filter(|n| n.has_tag_name(tag)).collect()
}

fn count(svg: &str, tag: &str) -> usize {
    elements(&parse(svg), tag).len()
}

/// The coordinate `attr` (`x` or `y`) of the text `label` drawn in `doc`.
fn label_at(doc: &roxmltree::Document<'_>, label: &str, attr: &str) -> f64 {
    doc.descendants()
        .find(|n| n.has_tag_name("text") && n.text() == Some(label))
        .and_then(|n| n.attribute(attr))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("label drawn")
}

fn is_no_data(svg: &str) -> bool {
    svg.contains("class=\"nodata\"")
}

#[test]
fn escape_covers_markup_and_quotes() {
    assert_eq!(
        escape("<a href=\"x\">&'</a>"),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
    );
    assert_eq!(escape("ok\u{0}"), "ok\u{FFFD}");
}

#[test]
fn standalone_adds_the_namespace() {
    let s = standalone(&no_data(&Axes::new("t"), "r"));
    let doc = parse(&s);
    assert_eq!(
        doc.root_element().tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
}

#[test]
fn formats() {
    assert_eq!(Format::Number(1).fmt(2.25), "2.2");
    assert_eq!(Format::Percent(1).fmt(0.8531), "85.3 %");
    assert_eq!(Format::Number(1).fmt(f64::NAN), "–");
    assert_eq!(Format::Number(0).fmt(-0.2), "0");
    assert_eq!(num(-0.001), "0");
    assert_eq!(num(12.50), "12.5");
    assert_eq!(Format::Number(1).tick(0.25, 0.25), "0.25");
    assert_eq!(Format::Number(1).tick(40.0, 20.0), "40");
    assert_eq!(Format::Percent(1).tick(0.2, 0.2), "20 %");
    assert_eq!(Format::Percent(0).tick(0.025, 0.025), "2.5 %");
}

#[test]
fn ticks_are_nice_and_cover_the_range() {
    let (t, s) = nice_ticks(0.0, 0.87, 5);
    assert_eq!(s, 0.2);
    assert_eq!(t.first().copied(), Some(0.0));
    assert!(*t.last().unwrap_or(&0.0) >= 0.87);
    let (t, _) = nice_ticks(13.2, 41.0, 8);
    assert!(t[0] <= 13.2 && *t.last().unwrap_or(&0.0) >= 41.0);
    // Degenerate and non-finite ranges still give ticks.
    assert!(nice_ticks(5.0, 5.0, 5).0.len() >= 2);
    assert!(nice_ticks(f64::NAN, 1.0, 5).0.len() >= 2);
}

#[test]
fn histogram_draws_one_bar_per_nonempty_bin_and_the_marks() {
    let edges = [0.0, 1.0, 2.0, 3.0, 4.0];
    let counts = [5, 0, 10, 5];
    let axes = Axes::new("waits")
        .mark(Mark::new(1.5, "p50", MarkStyle::Percentile))
        .mark(Mark::new(3.6, "p95", MarkStyle::Percentile))
        .mark(Mark::new(6.0, "target <7>", MarkStyle::Target));
    let svg = histogram(&edges, &counts, &axes);
    assert_eq!(count(&svg, "rect"), 3, "{svg}");
    assert!(svg.contains("target &lt;7&gt;"));
    // The axis was extended to show the target beyond the last bin.
    assert!(svg.contains(">6<"), "{svg}");
    // Tooltips give the share.
    assert!(svg.contains("[2.0, 3.0): 10 (50.0 %)"), "{svg}");
}

#[test]
fn histogram_with_equal_edges_draws_one_bar_and_says_so() {
    let svg = histogram(
        &[0.0, 0.0, 0.0],
        &[3, 4],
        &Axes::new("w").x_format(Format::Number(1)),
    );
    assert_eq!(count(&svg, "rect"), 1);
    assert!(svg.contains("all 7 observations equal 0.0"), "{svg}");
}

#[test]
fn empty_or_broken_data_gives_no_data_notes() {
    let a = Axes::new("x");
    assert!(is_no_data(&histogram(&[], &[], &a)));
    assert!(is_no_data(&histogram(&[0.0, 1.0], &[0], &a)));
    assert!(is_no_data(&histogram(&[0.0, 1.0], &[1, 2], &a)));
    assert!(is_no_data(&histogram(&[0.0, f64::NAN], &[1], &a)));
    assert!(is_no_data(&bar_chart(&[], &[], &a)));
    let nan = Series {
        name: "s".into(),
        values: vec![Some(Value::plain(f64::NAN)), None],
    };
    let cats = vec!["a".to_string(), "b".to_string()];
    assert!(is_no_data(&bar_chart(
        &cats,
        std::slice::from_ref(&nan),
        &a
    )));
    assert!(is_no_data(&hbar_chart(&cats, &[nan], &a)));
    assert!(is_no_data(&stacked_bars(
        &cats,
        &[Layer {
            name: "l".into(),
            values: vec![0.0, -1.0]
        }],
        &a
    )));
    assert!(is_no_data(&line_chart(&[], &a)));
    assert!(is_no_data(&line_chart(
        &[Line {
            name: "l".into(),
            points: vec![(f64::NAN, 1.0)]
        }],
        &a
    )));
    assert!(is_no_data(&heat_map(&[], &[], 0.0, 1.0, &a)));
    assert!(is_no_data(&heat_map(
        &cats,
        &[vec![], vec![]],
        0.0,
        1.0,
        &a
    )));
    for svg in [no_data(&a, "r <b>"), histogram(&[], &[], &a)] {
        parse(&svg);
    }
}

#[test]
fn bars_have_whiskers_only_where_there_is_an_interval() {
    let cats = vec!["device".to_string(), "room".to_string()];
    let s = Series {
        name: "util".into(),
        values: vec![
            Some(Value::with_ci(0.7, [0.65, 0.75])),
            Some(Value::plain(0.4)),
        ],
    };
    for svg in [
        bar_chart(
            &cats,
            std::slice::from_ref(&s),
            &Axes::new("u").format(Format::Percent(0)),
        ),
        hbar_chart(
            &cats,
            std::slice::from_ref(&s),
            &Axes::new("u").format(Format::Percent(0)),
        ),
    ] {
        let doc = parse(&svg);
        let bars = elements(&doc, "rect").len();
        assert_eq!(bars, 2);
        // One whisker = three lines in black.
        let whisker = doc
            .descendants()
            .filter(|n| n.has_tag_name("line") && n.attribute("stroke") == Some("#111"))
            .count();
        assert_eq!(whisker, 3, "{svg}");
        assert!(svg.contains("device: 70 % [95 % CI 65 %, 75 %]"), "{svg}");
    }
}

#[test]
fn grouped_bars_show_a_legend_and_every_bar() {
    let cats = vec!["a".to_string(), "b".to_string(), "c".to_string()];
    let series: Vec<Series> = (0..3)
        .map(|i| Series {
            name: format!("scenario {i}"),
            values: (0..3)
                .map(|j| Some(Value::plain(f64::from(i * 3 + j + 1))))
                .collect(),
        })
        .collect();
    let svg = bar_chart(&cats, &series, &Axes::new("g"));
    // 9 bars + 3 legend swatches.
    assert_eq!(count(&svg, "rect"), 12);
    assert!(svg.contains(">scenario 2<"));
    let svg = hbar_chart(&cats, &series, &Axes::new("g"));
    assert_eq!(count(&svg, "rect"), 12);
}

#[test]
fn negative_values_extend_the_axis_below_zero() {
    let cats = vec!["d".to_string()];
    let s = Series {
        name: String::new(),
        values: vec![Some(Value::with_ci(-2.0, [-3.0, -1.0]))],
    };
    let svg = hbar_chart(&cats, &[s], &Axes::new("diff"));
    assert!(svg.contains(">-3<") || svg.contains(">-3.0<"), "{svg}");
}

#[test]
fn stacked_bars_stack_positive_values() {
    let cats = vec!["x".to_string(), "y".to_string()];
    let layers = vec![
        Layer {
            name: "labour".into(),
            values: vec![1.0, 2.0],
        },
        Layer {
            name: "material".into(),
            values: vec![3.0, f64::NAN],
        },
    ];
    let svg = stacked_bars(&cats, &layers, &Axes::new("cost"));
    // 3 segments + 2 legend swatches.
    assert_eq!(count(&svg, "rect"), 5);
    assert!(svg.contains(">4.0<") && svg.contains(">2.0<"), "{svg}");
}

#[test]
fn line_chart_breaks_at_gaps() {
    let l = Line {
        name: "u".into(),
        points: vec![
            (0.0, 1.0),
            (1.0, 2.0),
            (2.0, f64::NAN),
            (3.0, 1.0),
            (4.0, 0.5),
        ],
    };
    let svg = line_chart(&[l], &Axes::new("l"));
    assert_eq!(count(&svg, "polyline"), 2);
    assert_eq!(count(&svg, "circle"), 4);
}

#[test]
fn bands_are_shaded_areas_broken_at_gaps_and_widen_the_value_axis() {
    let l = Line {
        name: "mid".into(),
        points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0)],
    };
    let b = Band {
        name: "spread".into(),
        line: 0,
        points: vec![
            (0.0, 0.5, 1.5),
            (1.0, 1.0, 3.0),
            (1.5, f64::NAN, f64::NAN),
            (2.0, 2.0, 4.0),
            (3.0, 2.5, 40.0),
        ],
    };
    let svg = line_chart_with_bands(&[l], &[b], &Axes::new("b"));
    let doc = parse(&svg);
    let areas: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("band"))
        .collect();
    assert_eq!(areas.len(), 2, "two runs of finite points");
    assert!(
        areas
            .iter()
            .all(|a| a.attribute("fill") == Some(PALETTE[0]))
    );
    assert!(svg.contains(">spread<"), "in the legend");
    // the axis reaches the band's top (40), not only the line's (4)
    assert!(svg.contains(">40"), "{svg}");
}

#[test]
fn close_marks_on_a_line_chart_get_separate_label_rows() {
    let l = Line {
        name: "x".into(),
        points: vec![(0.0, 1.0), (12.0, 2.0)],
    };
    let axes = Axes::new("m")
        .mark(Mark::new(4.5, "harvest mpc", MarkStyle::Percentile))
        .mark(Mark::new(
            4.75,
            "harvest fixed-at-dose",
            MarkStyle::Percentile,
        ))
        .mark(Mark::new(
            12.0,
            "harvest fixed-duration",
            MarkStyle::Percentile,
        ));
    let svg = line_chart(&[l], &axes);
    let doc = parse(&svg);
    let labels: Vec<(f64, f64)> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("mark-label"))
        .map(|n| {
            let v = |a: &str| {
                n.attribute(a)
                    .and_then(|x| x.parse().ok())
                    .expect("coordinate")
            };
            (v("x"), v("y"))
        })
        .collect();
    assert_eq!(labels.len(), 3);
    assert_ne!(labels[0].1, labels[1].1, "close labels on different rows");
    assert_eq!(labels[0].1, labels[2].1, "distant labels share a row");
}

#[test]
fn heat_map_has_rows_times_columns_cells() {
    let rows = vec!["a".to_string(), "b & c".to_string()];
    let values = vec![vec![0.1, 0.5, 0.9, 1.2], vec![0.0, f64::NAN, 0.3]];
    let svg = heat_map(
        &rows,
        &values,
        0.0,
        1.0,
        &Axes::new("h")
            .x_label("week of window")
            .format(Format::Percent(0)),
    );
    let doc = parse(&svg);
    let cells = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.children().any(|c| c.has_tag_name("title")))
        .count();
    assert_eq!(cells, 8);
    assert!(svg.contains("b &amp; c, week 2: no value"));
    assert!(svg.contains("a, week 4: 120 %"));
}

#[test]
fn ramp_is_monotone_in_lightness_ends() {
    assert_eq!(ramp(0.0), "#440154");
    assert_eq!(ramp(1.0), "#fde725");
    assert_eq!(ramp(f64::NAN), ramp(0.0));
    assert_eq!(ramp(7.0), ramp(1.0));
}

#[test]
fn long_labels_are_clipped_with_the_full_text_as_tooltip() {
    let long = "a-very-long-resource-name-that-goes-on-and-on-and-on".to_string();
    let s = Series {
        name: String::new(),
        values: vec![Some(Value::plain(1.0))],
    };
    let svg = hbar_chart(std::slice::from_ref(&long), &[s], &Axes::new("t"));
    parse(&svg);
    assert!(svg.contains(&format!("<title>{long}</title>")));
    assert!(svg.contains('…'));
}

#[test]
fn odd_sizes_and_values_do_not_panic() {
    let cats: Vec<String> = (0..50).map(|i| format!("c{i}")).collect();
    let s = Series {
        name: "s".into(),
        values: (0..50)
            .map(|i| {
                Some(Value::with_ci(
                    f64::from(i) * 1e9,
                    [f64::NEG_INFINITY, f64::NAN],
                ))
            })
            .collect(),
    };
    for a in [
        Axes::new("").size(f64::NAN, -5.0),
        Axes::new("t").size(1e9, 1e9),
    ] {
        parse(&bar_chart(&cats, std::slice::from_ref(&s), &a));
        parse(&hbar_chart(&cats, std::slice::from_ref(&s), &a));
        parse(&histogram(&[1e300, -1e300], &[1], &a));
        parse(&heat_map(&cats, &[vec![f64::INFINITY; 3]], 1.0, 1.0, &a));
    }
}

fn gantt_row(label: &str, bars: &[(f64, f64)]) -> GanttRow {
    GanttRow {
        label: label.to_string(),
        bars: bars
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| GanttBar {
                start,
                end,
                colour: i,
                tip: format!("{label} <{i}>"),
                moved: false,
            })
            .collect(),
    }
}

#[test]
fn gantt_draws_one_bar_per_finite_operation_with_its_tooltip() {
    let rows = [
        gantt_row("incubator · 1", &[(0.0, 20.0), (30.0, 50.0)]),
        gantt_row("harvest & fill", &[(50.0, f64::NAN), (50.0, 52.0)]),
    ];
    let s = gantt(&rows, &Axes::new("plan").size(1100.0, 0.0));
    let doc = parse(&s);
    let bars = elements(&doc, "rect");
    assert_eq!(bars.len(), 3, "{s}");
    let tips: Vec<&str> = bars
        .iter()
        .filter_map(|r| r.first_element_child().and_then(|t| t.text()))
        .collect();
    assert_eq!(
        tips,
        [
            "incubator · 1 <0>",
            "incubator · 1 <1>",
            "harvest & fill <1>"
        ]
    );
    assert!(s.contains("harvest &amp; fill"), "labels are escaped");
    // 52 h: ticks every 4 h, labelled in hours
    assert!(s.contains(">48 h<") && !s.contains("day"), "{s}");
    assert!(!s.contains("xmlns"), "inline SVG carries no URL");
}

#[test]
fn gantt_outlines_moved_bars_and_explains_the_outline_in_a_legend() {
    let plain = [gantt_row("incubator · 1", &[(0.0, 20.0), (30.0, 50.0)])];
    let s = gantt(&plain, &Axes::new("plan"));
    assert!(
        !s.contains("stroke-dasharray") && !s.contains("moved"),
        "{s}"
    );
    let mut rows = plain.clone();
    rows[0].bars[1].moved = true;
    let s = gantt(&rows, &Axes::new("plan"));
    let doc = parse(&s);
    let dashed: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("stroke-dasharray").is_some())
        .collect();
    // the moved bar and the legend's sample, both with a thick black outline
    assert_eq!(dashed.len(), 2, "{s}");
    for r in &dashed {
        assert_eq!(r.attribute("stroke"), Some("#000"));
        assert_eq!(r.attribute("stroke-width"), Some("2"));
    }
    let tip = dashed[0].first_element_child().and_then(|t| t.text());
    assert_eq!(tip, Some("incubator · 1 <1>"));
    assert!(s.contains("moved by the re-plan"), "the legend: {s}");
    let height = |s: &str| {
        parse(s)
            .root_element()
            .attribute("height")
            .map(str::to_string)
    };
    assert_ne!(
        height(&s),
        height(&gantt(&plain, &Axes::new("plan"))),
        "room for the legend"
    );
}

#[test]
fn gantt_labels_days_on_long_plans_and_clips_long_row_labels() {
    let long = "a very long stage name · machine with a long name too";
    let s = gantt(&[gantt_row(long, &[(0.0, 400.0)])], &Axes::new("plan"));
    assert!(s.contains(">day 14<"), "{s}");
    assert!(s.contains('…') && s.contains(&format!("<title>{long}</title>")));
    parse(&s);
}

#[test]
fn gantt_without_rows_or_finite_times_is_a_no_data_note() {
    assert!(is_no_data(&gantt(&[], &Axes::new("plan"))));
    let rows = [gantt_row("m", &[(f64::NAN, 1.0), (0.0, f64::INFINITY)])];
    assert!(is_no_data(&gantt(&rows, &Axes::new("plan"))));
    let empty = [gantt_row("idle", &[])];
    assert!(is_no_data(&gantt(&empty, &Axes::new("plan"))));
}

fn curve(points: Vec<XyPoint>, joined: bool) -> Curve {
    Curve {
        name: "c".into(),
        colour: 0,
        points,
        joined,
    }
}

fn xy(x: f64, y: f64, ok: bool) -> XyPoint {
    XyPoint {
        x,
        y,
        band: ok.then_some([y - 1.0, y + 1.0]),
        ok,
        tip: format!("point {x}"),
    }
}

/// Two points that meet their target, (1, 10) and (2, 12), then the points `missed` (x, y)
/// that do not.
fn two_ok_then(missed: &[(f64, f64)]) -> Vec<XyPoint> {
    let ok = [xy(1.0, 10.0, true), xy(2.0, 12.0, true)];
    let missed = missed.iter().map(|&(x, y)| xy(x, y, false));
    ok.into_iter().chain(missed).collect()
}

#[test]
fn xy_curves_join_in_x_order_with_dashes_to_points_that_miss() {
    let ch = XyChart {
        curves: vec![curve(two_ok_then(&[(3.0, 30.0)]), true)],
        ..XyChart::default()
    };
    let svg = xy_chart(&ch, &Axes::new("xy"));
    let doc = parse(&svg);
    let lines = elements(&doc, "polyline");
    assert_eq!(lines.len(), 2, "one solid run, one dashed segment");
    assert_eq!(
        lines
            .iter()
            .filter(|n| n.attribute("stroke-dasharray").is_some())
            .count(),
        1
    );
    // two filled points and one open (white inside)
    let circles = elements(&doc, "circle");
    assert_eq!(circles.len(), 3);
    assert_eq!(
        circles
            .iter()
            .filter(|n| n.attribute("fill") == Some("#fff"))
            .count(),
        1
    );
    assert_eq!(count(&svg, "path"), 1, "one band over the two ok points");
}

#[test]
fn xy_curves_never_join_backwards_and_scatters_never_join() {
    let unordered = vec![xy(3.0, 1.0, true), xy(1.0, 2.0, true), xy(2.0, 3.0, true)];
    let c = curve(unordered, true);
    assert!(!c.ordered());
    let svg = xy_chart(
        &XyChart {
            curves: vec![c.clone()],
            ..XyChart::default()
        },
        &Axes::new("xy"),
    );
    // only 1 → 2 goes forward: one segment
    let doc = parse(&svg);
    let segs: Vec<usize> = elements(&doc, "polyline")
        .iter()
        .map(|n| n.attribute("points").unwrap_or("").split(' ').count())
        .collect();
    assert_eq!(segs, vec![2]);
    let scatter = Curve { joined: false, ..c };
    let svg = xy_chart(
        &XyChart {
            curves: vec![scatter],
            ..XyChart::default()
        },
        &Axes::new("xy"),
    );
    assert_eq!(count(&svg, "polyline"), 0);
    assert_eq!(count(&svg, "circle"), 3);
}

#[test]
fn xy_axes_cut_at_the_stated_value_and_mark_the_points_beyond() {
    let ch = XyChart {
        curves: vec![curve(two_ok_then(&[(3.0, 600_000.0), (50.0, 11.0)]), false)],
        y_cut: Some(20.0),
        x_cut: Some(10.0),
        stretches: vec![[2.5, 3.5]],
        stretch_label: "none meets it".into(),
        ..XyChart::default()
    };
    assert_eq!(ch.beyond_cut(), 2);
    let svg = xy_chart(&ch, &Axes::new("cut").format(Format::Number(0)));
    assert_eq!(
        count(&svg, "polygon"),
        2,
        "an arrow head for each point beyond"
    );
    assert!(svg.contains("y axis cut at 20"), "{svg}");
    assert!(svg.contains("x axis cut at 10"), "{svg}");
    assert!(svg.contains("2 points beyond the cut"), "{svg}");
    // no tick label beyond the cut: the axis is not stretched to 600 000
    assert!(
        !svg.contains(">600000<") && !svg.contains(">100000<"),
        "{svg}"
    );
    // the hatched stretch
    assert!(svg.contains("none meets it"));
}

fn place(name: &str, kind: PlaceKind, location: Option<(f64, f64)>) -> Place {
    Place {
        name: name.to_string(),
        kind,
        location,
        tip: format!("tip {name}"),
    }
}

fn flow(from: usize, to: usize, amount: f64, tip: &str) -> FlowLine {
    FlowLine {
        from,
        to,
        amount,
        tip: tip.into(),
    }
}

#[test]
fn flow_map_draws_places_and_flows_wider_for_more_patients() {
    let places = vec![
        place("North", PlaceKind::Region, Some((52.0, 11.0))),
        place("South", PlaceKind::Region, Some((50.0, 12.0))),
        place("Plant", PlaceKind::OpenSite, Some((51.0, 11.5))),
        place("Spare", PlaceKind::ClosedSite, Some((51.5, 13.0))),
    ];
    let flows = vec![
        flow(0, 2, 100.0, "big"),
        flow(1, 2, 1.0, "small"),
        // Left out: no amount, and an index out of range.
        flow(1, 3, 0.0, "none"),
        flow(0, 9, 5.0, "bad"),
    ];
    let svg = flow_map(&places, &flows, &Axes::new("map"));
    let doc = parse(&svg);
    let widths: Vec<f64> = elements(&doc, "line")
        .iter()
        .filter_map(|n| n.attribute("stroke-width").and_then(|w| w.parse().ok()))
        .collect();
    // Two flows plus the legend's sample line.
    assert_eq!(widths.len(), 3, "{svg}");
    assert!(widths[0] > widths[1], "{widths:?}");
    for name in ["North", "South", "Plant", "Spare", "closed candidate"] {
        assert!(svg.contains(name), "{name} missing");
    }
    // North (latitude 52) is drawn above South (50) on the map.
    assert!(label_at(&doc, "North", "y") < label_at(&doc, "South", "y"));
    assert!(is_no_data(&flow_map(&[], &[], &Axes::new("empty"))));
}

#[test]
fn flow_map_without_locations_puts_regions_left_and_sites_right() {
    let places = vec![
        place("R", PlaceKind::Region, None),
        place("S", PlaceKind::OpenSite, Some((51.0, 11.0))),
    ];
    let svg = flow_map(&places, &[], &Axes::new("diagram"));
    let doc = parse(&svg);
    assert!(label_at(&doc, "R", "x") < label_at(&doc, "S", "x"));
}
