//! Evaluation of a compiled selector against one message's properties, in RocketMQ's
//! three-valued logic: [`V::Null`] is "unknown", AND/OR are Kleene's and short-circuit
//! left to right, and a property whose text does not convert to the constant's type makes
//! the whole expression fail, so the message does not match. Values borrow from the
//! expression and the record (a filter scan tests every record it passes, so nothing here
//! allocates).

use std::cmp::Ordering;

use super::{CmpOp, Expr, TextOp, Value};

/// A value that could not be converted or compared; the message does not match.
#[derive(Debug)]
struct Failed;

/// A [`Value`] during evaluation, borrowing its text.
#[derive(Debug, Clone, Copy)]
enum V<'a> {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    Str(&'a str),
}

impl<'a> From<&'a Value> for V<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Null => V::Null,
            Value::Bool(b) => V::Bool(*b),
            Value::Long(x) => V::Long(*x),
            Value::Double(x) => V::Double(*x),
            Value::Str(s) => V::Str(s),
        }
    }
}

/// True when `expr` is TRUE for a message whose properties `lookup` gives.
pub fn matches<'a>(expr: &Expr, lookup: &impl Fn(&str) -> Option<&'a str>) -> bool {
    eval(expr, &|k| lookup(k)).is_ok_and(|v| truth(v) == Some(true))
}

/// A value in a boolean position: unknown for NULL, FALSE for anything but TRUE (a bare
/// property never matches, even when its text is "true", as in RocketMQ).
fn truth(v: V<'_>) -> Option<bool> {
    match v {
        V::Null => None,
        V::Bool(b) => Some(b),
        _ => Some(false),
    }
}

fn kleene<'a>(v: Option<bool>) -> V<'a> {
    v.map_or(V::Null, V::Bool)
}

fn eval<'a>(expr: &'a Expr, lookup: &impl Fn(&str) -> Option<&'a str>) -> Result<V<'a>, Failed> {
    Ok(match expr {
        Expr::Const(v) => V::from(v),
        Expr::Prop(name) => lookup(name).map_or(V::Null, V::Str),
        Expr::Negate(e) => match eval(e, lookup)? {
            V::Long(v) => V::Long(v.wrapping_neg()),
            V::Double(v) => V::Double(-v),
            V::Null => V::Null,
            _ => return Err(Failed),
        },
        Expr::Cmp(op, l, r) => compare(*op, eval(l, lookup)?, eval(r, lookup)?)?,
        Expr::Between {
            expr,
            low,
            high,
            negated,
        } => {
            let v = eval(expr, lookup)?;
            let (lo, hi) = (eval(low, lookup)?, eval(high, lookup)?);
            if *negated {
                or(compare(CmpOp::Lt, v, lo), || compare(CmpOp::Gt, v, hi))?
            } else {
                and(compare(CmpOp::Ge, v, lo), || compare(CmpOp::Le, v, hi))?
            }
        }
        Expr::In {
            expr,
            list,
            negated,
        } => match eval(expr, lookup)? {
            V::Str(s) => V::Bool(list.iter().any(|x| x == s) != *negated),
            _ => V::Null,
        },
        Expr::IsNull { expr, negated } => {
            V::Bool(matches!(eval(expr, lookup)?, V::Null) != *negated)
        }
        Expr::Text {
            op,
            expr,
            text,
            negated,
        } => match eval(expr, lookup)? {
            V::Str(s) => V::Bool(
                match op {
                    TextOp::Contains => s.contains(text.as_str()),
                    TextOp::StartsWith => s.starts_with(text.as_str()),
                    TextOp::EndsWith => s.ends_with(text.as_str()),
                } != *negated,
            ),
            _ => V::Null,
        },
        Expr::And(l, r) => and(eval(l, lookup), || eval(r, lookup))?,
        Expr::Or(l, r) => or(eval(l, lookup), || eval(r, lookup))?,
        Expr::Not(e) => match eval(e, lookup)? {
            V::Null => V::Null,
            V::Bool(b) => V::Bool(!b),
            _ => return Err(Failed),
        },
    })
}

fn and<'a>(
    l: Result<V<'a>, Failed>,
    r: impl FnOnce() -> Result<V<'a>, Failed>,
) -> Result<V<'a>, Failed> {
    let l = truth(l?);
    if l == Some(false) {
        return Ok(V::Bool(false));
    }
    let r = truth(r()?);
    if r == Some(false) {
        return Ok(V::Bool(false));
    }
    Ok(kleene(l.zip(r).map(|_| true)))
}

fn or<'a>(
    l: Result<V<'a>, Failed>,
    r: impl FnOnce() -> Result<V<'a>, Failed>,
) -> Result<V<'a>, Failed> {
    let l = truth(l?);
    if l == Some(true) {
        return Ok(V::Bool(true));
    }
    let r = truth(r()?);
    if r == Some(true) {
        return Ok(V::Bool(true));
    }
    Ok(kleene(l.zip(r).map(|_| false)))
}

/// RocketMQ's comparison: `=` treats NULL specially (both NULL is TRUE, NULL on the left
/// only is unknown, on the right only FALSE); the others are unknown with a NULL side.
fn compare<'a>(op: CmpOp, l: V<'a>, r: V<'a>) -> Result<V<'a>, Failed> {
    match op {
        CmpOp::Eq => equal(l, r),
        CmpOp::Ne => Ok(match equal(l, r)? {
            V::Bool(b) => V::Bool(!b),
            v => v,
        }),
        _ => {
            if matches!(l, V::Null) || matches!(r, V::Null) {
                return Ok(V::Null);
            }
            let ord = order(l, r)?;
            Ok(V::Bool(match op {
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
                CmpOp::Lt => ord == Ordering::Less,
                _ => ord != Ordering::Greater,
            }))
        }
    }
}

fn equal<'a>(l: V<'a>, r: V<'a>) -> Result<V<'a>, Failed> {
    Ok(match (l, r) {
        (V::Null, V::Null) => V::Bool(true),
        (V::Null, _) => V::Null,
        (_, V::Null) => V::Bool(false),
        (V::Str(a), V::Str(b)) => V::Bool(a == b),
        (V::Bool(a), V::Bool(b)) => V::Bool(a == b),
        (V::Str(s), V::Bool(b)) | (V::Bool(b), V::Str(s)) => {
            V::Bool(s.eq_ignore_ascii_case("true") == b)
        }
        (V::Bool(_), _) | (_, V::Bool(_)) => V::Bool(false),
        _ => V::Bool(order(l, r)? == Ordering::Equal),
    })
}

/// Orders two non-NULL values after converting a string side to the other's type (two
/// strings: both as decimals); `Failed` when a conversion does not parse.
fn order(l: V<'_>, r: V<'_>) -> Result<Ordering, Failed> {
    let num = |v: V<'_>, as_long: bool| -> Result<Num, Failed> {
        match v {
            V::Long(x) => Ok(Num::Long(x)),
            V::Double(x) => Ok(Num::Double(x)),
            V::Str(s) if as_long => s.parse::<i64>().map(Num::Long).map_err(|_| Failed),
            V::Str(s) => java_double(s).map(Num::Double).ok_or(Failed),
            _ => Err(Failed),
        }
    };
    let (a, b) = match (l, r) {
        (V::Str(_), V::Long(_)) => (num(l, true)?, num(r, true)?),
        (V::Long(_), V::Str(_)) => (num(l, true)?, num(r, true)?),
        _ => (num(l, false)?, num(r, false)?),
    };
    match (a, b) {
        (Num::Long(x), Num::Long(y)) => Ok(x.cmp(&y)),
        (x, y) => x.as_f64().partial_cmp(&y.as_f64()).ok_or(Failed),
    }
}

#[derive(Clone, Copy)]
enum Num {
    Long(i64),
    Double(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Long(x) => x as f64,
            Num::Double(x) => x,
        }
    }
}

/// Java's `Double.valueOf`: surrounding whitespace and an `f`/`d` suffix allowed.
fn java_double(s: &str) -> Option<f64> {
    let t = s.trim();
    let t = t
        .strip_suffix(['f', 'F', 'd', 'D'])
        .filter(|t| !t.is_empty())
        .unwrap_or(t);
    t.parse::<f64>().ok()
}
