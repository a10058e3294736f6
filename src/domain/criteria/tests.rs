//! Bounds, verdicts and the words of a threshold check.

use super::*;

fn crit() -> Criterion {
    Criterion {
        name: "5xx ratio".into(),
        failure_limit: 3,
        ..Criterion::default()
    }
}

#[test]
fn extreme_numbers_are_written_compactly() {
    assert_eq!(fmt_num(1e308), "1e308");
    assert_eq!(fmt_num(-2.5e12), "-2.5e12");
    assert_eq!(fmt_num(1_234_567_891.0), "1.23457e9");
    assert_eq!(fmt_num(3e-9), "3e-9");
    assert_eq!(fmt_num(999_999_999.0), "999999999");
    assert_eq!(fmt_num(0.000_001), "0.000001");
    assert_eq!(fmt_num(0.0), "0");
    assert_eq!(fmt_num(0.25), "0.25");
    let e = Criterion {
        max: Some(0.5),
        ..crit()
    }
    .evaluate(Some(1e308), None);
    assert_eq!(e.reasons, vec!["canary 1e308 > max 0.5"]);
}

#[test]
fn max_bound() {
    let c = Criterion {
        max: Some(0.01),
        ..crit()
    };
    assert_eq!(c.evaluate(Some(0.01), None).verdict, Verdict::Pass);
    let e = c.evaluate(Some(0.02), None);
    assert_eq!(e.verdict, Verdict::Fail);
    assert_eq!(e.reasons, vec!["canary 0.02 > max 0.01"]);
}

#[test]
fn a_pass_says_what_held() {
    let c = Criterion {
        max: Some(0.01),
        min: Some(0.0),
        max_ratio: Some(1.5),
        max_delta: Some(0.01),
        ..crit()
    };
    let e = c.evaluate(Some(0.004), Some(0.003));
    assert_eq!(e.verdict, Verdict::Pass);
    assert_eq!(
        e.reasons,
        vec![
            "canary 0.004 ≤ max 0.01",
            "canary 0.004 ≥ min 0",
            "canary 0.004 ≤ baseline 0.003 × 1.5 = 0.0045",
            "canary 0.004 ≤ baseline 0.003 + 0.01 = 0.013",
        ]
    );
    // A failure names only what broke.
    let e = c.evaluate(Some(0.005), Some(0.003));
    assert_eq!(
        e.reasons,
        vec!["canary 0.005 > baseline 0.003 × 1.5 = 0.0045"]
    );
}

#[test]
fn p_values_and_changes_read_as_people_write_them() {
    assert_eq!(p_text(0.003_12), "p = 0.0031");
    assert_eq!(p_text(0.41), "p = 0.41");
    assert_eq!(p_text(0.05), "p = 0.05");
    assert_eq!(p_text(1.0), "p = 1");
    assert_eq!(p_text(3e-7), "p < 0.0001");
    assert_eq!(percent_change(0.648), "+65 %");
    assert_eq!(percent_change(-0.4), "−40 %");
    assert_eq!(percent_change(0.027), "+2.7 %");
    assert_eq!(percent(0.95), "95 %");
}

#[test]
fn min_bound() {
    let c = Criterion {
        min: Some(100.0),
        ..crit()
    };
    assert_eq!(c.evaluate(Some(150.0), None).verdict, Verdict::Pass);
    assert_eq!(c.evaluate(Some(99.5), None).verdict, Verdict::Fail);
}

#[test]
fn ratio_and_delta_bounds_use_the_baseline() {
    let ratio = Criterion {
        max_ratio: Some(1.5),
        ..crit()
    };
    assert_eq!(ratio.evaluate(Some(0.3), Some(0.2)).verdict, Verdict::Pass);
    let e = ratio.evaluate(Some(0.31), Some(0.2));
    assert_eq!(e.verdict, Verdict::Fail);
    assert!(e.reasons[0].contains("baseline 0.2 × 1.5 = 0.3"), "{e:?}");
    let delta = Criterion {
        max_delta: Some(0.005),
        ..crit()
    };
    assert_eq!(
        delta.evaluate(Some(0.014), Some(0.01)).verdict,
        Verdict::Pass
    );
    assert_eq!(
        delta.evaluate(Some(0.016), Some(0.01)).verdict,
        Verdict::Fail
    );
}

#[test]
fn missing_values_are_no_data_not_a_pass() {
    let c = Criterion {
        max: Some(1.0),
        max_ratio: Some(1.5),
        ..crit()
    };
    assert_eq!(c.evaluate(None, Some(1.0)).verdict, Verdict::NoData);
    assert_eq!(
        c.evaluate(Some(f64::NAN), Some(1.0)).verdict,
        Verdict::NoData
    );
    // Relative bound cannot be judged without a baseline…
    assert_eq!(c.evaluate(Some(0.5), None).verdict, Verdict::NoData);
    // …but a broken absolute bound is a failure regardless.
    assert_eq!(c.evaluate(Some(2.0), None).verdict, Verdict::Fail);
    // Only absolute bounds: no baseline needed.
    let abs = Criterion {
        max: Some(1.0),
        ..crit()
    };
    assert_eq!(abs.evaluate(Some(0.5), None).verdict, Verdict::Pass);
}

#[test]
fn problems_name_the_field() {
    let c = Criterion {
        max_ratio: Some(0.0),
        failure_limit: 0,
        ..crit()
    };
    let p = c.problems();
    assert!(
        p.contains(&("max_ratio", "must be > 0".to_string())),
        "{p:?}"
    );
    assert!(p.iter().any(|(f, _)| *f == "failure_limit"));
    let none = crit().problems();
    assert!(none.iter().any(|(_, m)| m.contains("at least one bound")));
    let inverted = Criterion {
        min: Some(2.0),
        max: Some(1.0),
        ..crit()
    };
    assert!(inverted.problems().iter().any(|(f, _)| *f == "min"));
}

#[test]
fn absolute_evaluation_for_verification() {
    let c = Criterion {
        max: Some(0.5),
        max_ratio: Some(1.2),
        ..crit()
    };
    assert!(c.has_absolute_bounds());
    assert_eq!(
        c.evaluate_absolute(Some(0.4), "baseline").verdict,
        Verdict::Pass
    );
    assert_eq!(
        c.evaluate_absolute(Some(0.6), "baseline").verdict,
        Verdict::Fail
    );
    assert_eq!(
        c.evaluate_absolute(None, "baseline").verdict,
        Verdict::NoData
    );
}

#[test]
fn describes_bounds() {
    let c = Criterion {
        max: Some(0.01),
        max_ratio: Some(1.5),
        ..crit()
    };
    assert_eq!(
        c.describe(),
        "canary ≤ 0.01 and ≤ baseline × 1.5; breach after 3 failing checks"
    );
    assert_eq!(fmt_num(0.25), "0.25");
    assert_eq!(fmt_num(3.0), "3");
}
