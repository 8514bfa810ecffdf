//! Evaluation of a compiled selector against one message's properties, in RocketMQ's
//! three-valued logic: [`Value::Null`] is "unknown", AND/OR are Kleene's and short-circuit
//! left to right, and a property whose text does not convert to the constant's type makes
//! the whole expression fail, so the message does not match.

use std::cmp::Ordering;

use super::{CmpOp, Expr, TextOp, Value};

/// A value that could not be converted or compared; the message does not match.
#[derive(Debug)]
struct Failed;

/// True when `expr` is TRUE for a message whose properties `lookup` gives.
pub fn matches<'a>(expr: &Expr, lookup: &impl Fn(&str) -> Option<&'a str>) -> bool {
    eval(expr, lookup).is_ok_and(|v| truth(&v) == Some(true))
}

/// A value in a boolean position: unknown for NULL, FALSE for anything but TRUE (a bare
/// property never matches, even when its text is "true", as in RocketMQ).
fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(*b),
        _ => Some(false),
    }
}

fn kleene(v: Option<bool>) -> Value {
    v.map_or(Value::Null, Value::Bool)
}

fn eval<'a>(expr: &Expr, lookup: &impl Fn(&str) -> Option<&'a str>) -> Result<Value, Failed> {
    Ok(match expr {
        Expr::Const(v) => v.clone(),
        Expr::Prop(name) => lookup(name).map_or(Value::Null, |s| Value::Str(s.to_owned())),
        Expr::Negate(e) => match eval(e, lookup)? {
            Value::Long(v) => Value::Long(v.wrapping_neg()),
            Value::Double(v) => Value::Double(-v),
            Value::Null => Value::Null,
            _ => return Err(Failed),
        },
        Expr::Cmp(op, l, r) => compare(*op, &eval(l, lookup)?, &eval(r, lookup)?)?,
        Expr::Between {
            expr,
            low,
            high,
            negated,
        } => {
            let v = eval(expr, lookup)?;
            let (lo, hi) = (eval(low, lookup)?, eval(high, lookup)?);
            if *negated {
                or(compare(CmpOp::Lt, &v, &lo), || compare(CmpOp::Gt, &v, &hi))?
            } else {
                and(compare(CmpOp::Ge, &v, &lo), || compare(CmpOp::Le, &v, &hi))?
            }
        }
        Expr::In {
            expr,
            list,
            negated,
        } => match eval(expr, lookup)? {
            Value::Str(s) => Value::Bool(list.contains(&s) != *negated),
            _ => Value::Null,
        },
        Expr::IsNull { expr, negated } => {
            Value::Bool(matches!(eval(expr, lookup)?, Value::Null) != *negated)
        }
        Expr::Text {
            op,
            expr,
            text,
            negated,
        } => match eval(expr, lookup)? {
            Value::Str(s) => Value::Bool(
                match op {
                    TextOp::Contains => s.contains(text.as_str()),
                    TextOp::StartsWith => s.starts_with(text.as_str()),
                    TextOp::EndsWith => s.ends_with(text.as_str()),
                } != *negated,
            ),
            _ => Value::Null,
        },
        Expr::And(l, r) => and(eval(l, lookup), || eval(r, lookup))?,
        Expr::Or(l, r) => or(eval(l, lookup), || eval(r, lookup))?,
        Expr::Not(e) => match eval(e, lookup)? {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(!b),
            _ => return Err(Failed),
        },
    })
}

fn and(
    l: Result<Value, Failed>,
    r: impl FnOnce() -> Result<Value, Failed>,
) -> Result<Value, Failed> {
    let l = truth(&l?);
    if l == Some(false) {
        return Ok(Value::Bool(false));
    }
    let r = truth(&r()?);
    if r == Some(false) {
        return Ok(Value::Bool(false));
    }
    Ok(kleene(l.zip(r).map(|_| true)))
}

fn or(
    l: Result<Value, Failed>,
    r: impl FnOnce() -> Result<Value, Failed>,
) -> Result<Value, Failed> {
    let l = truth(&l?);
    if l == Some(true) {
        return Ok(Value::Bool(true));
    }
    let r = truth(&r()?);
    if r == Some(true) {
        return Ok(Value::Bool(true));
    }
    Ok(kleene(l.zip(r).map(|_| false)))
}

/// RocketMQ's comparison: `=` treats NULL specially (both NULL is TRUE, NULL on the left
/// only is unknown, on the right only FALSE); the others are unknown with a NULL side.
fn compare(op: CmpOp, l: &Value, r: &Value) -> Result<Value, Failed> {
    match op {
        CmpOp::Eq => equal(l, r),
        CmpOp::Ne => Ok(match equal(l, r)? {
            Value::Bool(b) => Value::Bool(!b),
            v => v,
        }),
        _ => {
            if matches!(l, Value::Null) || matches!(r, Value::Null) {
                return Ok(Value::Null);
            }
            let ord = order(l, r)?;
            Ok(Value::Bool(match op {
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
                CmpOp::Lt => ord == Ordering::Less,
                _ => ord != Ordering::Greater,
            }))
        }
    }
}

fn equal(l: &Value, r: &Value) -> Result<Value, Failed> {
    Ok(match (l, r) {
        (Value::Null, Value::Null) => Value::Bool(true),
        (Value::Null, _) => Value::Null,
        (_, Value::Null) => Value::Bool(false),
        (Value::Str(a), Value::Str(b)) => Value::Bool(a == b),
        (Value::Bool(a), Value::Bool(b)) => Value::Bool(a == b),
        (Value::Str(s), Value::Bool(b)) | (Value::Bool(b), Value::Str(s)) => {
            Value::Bool(s.eq_ignore_ascii_case("true") == *b)
        }
        (Value::Bool(_), _) | (_, Value::Bool(_)) => Value::Bool(false),
        _ => Value::Bool(order(l, r)? == Ordering::Equal),
    })
}

/// Orders two non-NULL values after converting a string side to the other's type (two
/// strings: both as decimals); `Failed` when a conversion does not parse.
fn order(l: &Value, r: &Value) -> Result<Ordering, Failed> {
    let num = |v: &Value, as_long: bool| -> Result<Num, Failed> {
        match v {
            Value::Long(x) => Ok(Num::Long(*x)),
            Value::Double(x) => Ok(Num::Double(*x)),
            Value::Str(s) if as_long => s.parse::<i64>().map(Num::Long).map_err(|_| Failed),
            Value::Str(s) => java_double(s).map(Num::Double).ok_or(Failed),
            _ => Err(Failed),
        }
    };
    let (a, b) = match (l, r) {
        (Value::Str(_), Value::Long(_)) => (num(l, true)?, num(r, true)?),
        (Value::Long(_), Value::Str(_)) => (num(l, true)?, num(r, true)?),
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
