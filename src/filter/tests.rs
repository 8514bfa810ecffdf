//! The selector language against RocketMQ 4.9.8's observed behaviour.

use super::*;
use proptest::prelude::*;

/// Evaluates `sql` on `props` (`k=v` pairs).
fn on(sql: &str, props: &[(&str, &str)]) -> bool {
    let e = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    matches(&e, &|k: &str| {
        props.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
    })
}

fn refused(sql: &str) -> ParseError {
    parse(sql).expect_err(sql)
}

#[test]
fn comparisons_convert_the_property_to_the_constants_type() {
    let p = [("a", "4"), ("b", "2.5"), ("color", "red"), ("flag", "TRUE")];
    assert!(on("a = 4", &p));
    assert!(on("a > 3 AND a >= 4 AND a < 5 AND a <= 4", &p));
    assert!(!on("a <> 4", &p));
    assert!(on("b > 2.0 AND b < 2.6", &p));
    // Against an integer the text must be an integer (Long.valueOf in RocketMQ).
    assert!(!on("b > 2", &p));
    assert!(on("a BETWEEN 3 AND 6", &p));
    assert!(!on("a NOT BETWEEN 3 AND 6", &p));
    assert!(on("a NOT BETWEEN 5 AND 6", &p));
    assert!(on("color = 'red'", &p) && !on("color = 'Red'", &p));
    assert!(on("color IN ('blue', 'red')", &p));
    assert!(!on("color NOT IN ('blue', 'red')", &p));
    assert!(on("flag = TRUE", &p));
    assert!(on("a > -1", &p));
    assert!(on("TAGS = 'TagA'", &[("TAGS", "TagA")]));
    // A property that does not convert fails the whole message (RocketMQ throws).
    assert!(!on("color > 1", &p));
    assert!(!on("color > 1 OR a = 4", &p));
    assert!(on("a = 4 OR color > 1", &p));
    // Integers convert strictly, decimals as Java's Double.valueOf.
    assert!(!on("b = 2", &p));
    assert!(on("x = 3.0", &[("x", " 3 ")]));
    assert!(on("x = 3", &[("x", "+3")]));
}

#[test]
fn missing_properties_follow_three_valued_logic() {
    let none: [(&str, &str); 0] = [];
    assert!(!on("a = 1", &none));
    assert!(!on("NOT (a = 1)", &none));
    assert!(!on("a <> 1", &none));
    assert!(!on("a > 1", &none) && !on("NOT (a > 1)", &none));
    assert!(!on("a BETWEEN 1 AND 2", &none) && !on("a NOT BETWEEN 1 AND 2", &none));
    assert!(!on("a IN ('x')", &none) && !on("a NOT IN ('x')", &none));
    assert!(on("a IS NULL", &none) && !on("a IS NOT NULL", &none));
    assert!(on("a = 1 OR a IS NULL", &none));
    assert!(!on("a = 1 AND TRUE", &none));
    assert!(on("a = 1 OR TRUE", &none));
    // The example.
    let sql = "a BETWEEN 3 AND 6 AND (color = 'red' OR color IS NULL)";
    assert!(on(sql, &[("a", "3")]));
    assert!(on(sql, &[("a", "6"), ("color", "red")]));
    assert!(!on(sql, &[("a", "6"), ("color", "blue")]));
    assert!(!on(sql, &[("a", "7")]));
    // Both sides missing are equal; a literal against a missing one is unknown.
    assert!(on("a = b", &none));
    // A bare property is never TRUE.
    assert!(!on("flag", &[("flag", "true")]));
}

#[test]
fn keywords_ignore_case_and_comments_are_skipped() {
    let p = [("a", "1")];
    assert!(on("a = 1 and not (a in ('2')) or false", &p));
    assert!(on("a = 1 -- trailing comment", &p));
    assert!(on("/* lead */ a = 1", &p));
    assert!(on("name = 'it''s'", &[("name", "it's")]));
    assert!(on(
        "u CONTAINS 'ell' AND u STARTSWITH 'h' AND u NOT ENDSWITH 'x'",
        &[("u", "hello")]
    ));
}

#[test]
fn malformed_expressions_are_refused_with_their_column() {
    let e = refused("a = 1 AND b >");
    assert_eq!(e.column, 14, "{e}");
    assert!(e.to_string().ends_with("at line 1, column 14"), "{e}");
    assert_eq!(refused("a ! 1").column, 3);
    assert_eq!(refused("a = 'x").column, 5);
    assert_eq!(refused("a = 1 garbage").column, 7);
    assert_eq!(refused("a IN (1)").column, 7);
    assert!(refused("a > 'x'")
        .message
        .contains("'x' cannot be compared"));
    assert!(refused("a = NULL").message.contains("IS NULL"));
    assert!(refused("a BETWEEN 3 AND 1").message.contains("low bound 3"));
    assert!(refused("a > 1 > 2").message.contains("cannot be ordered"));
    assert!(refused("1").message.contains("not a condition"));
    assert!(refused("").message.contains("empty"));
    assert!(refused("(a = 1").message.contains("expected )"));
    assert!(refused("NOT a IN ('x')")
        .message
        .contains("IN tests a property"));
    assert!(refused("a = 99999999999999999999")
        .message
        .contains("out of range"));
}

proptest! {
    #[test]
    fn any_text_compiles_or_is_refused_without_panic(s in "\\PC{0,40}") {
        if let Ok(e) = parse(&s) {
            let _ = matches(&e, &|_: &str| Some("1"));
        }
    }

    #[test]
    fn integer_literals_compare_as_numbers(a in any::<i64>(), b in (i64::MIN + 1)..=i64::MAX) {
        let text = a.to_string();
        let sql = if b < 0 { format!("x > -{}", b.unsigned_abs()) } else { format!("x > {b}") };
        let e = parse(&sql).unwrap();
        prop_assert_eq!(matches(&e, &|_: &str| Some(text.as_str())), a > b);
    }
}
