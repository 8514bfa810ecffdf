//! Recursive descent over [`super::lexer`]'s tokens, with RocketMQ's precedence (lowest
//! first): OR, AND, equality (`=`, `<>`, IS [NOT] NULL), comparison (`>`, `>=`, `<`, `<=`,
//! [NOT] BETWEEN, [NOT] IN, [NOT] CONTAINS / STARTSWITH / ENDSWITH), unary (`+`, `-`, NOT),
//! then a literal, a property or a parenthesised expression.

use super::lexer::{tokens, Token};
use super::{CmpOp, Expr, ParseError, TextOp, Value};

/// Compiles `text`; the error names the column of the token that did not fit. RocketMQ's
/// checks at compile time are kept: ordering and BETWEEN take numbers, IN a property and
/// strings, `= NULL` is refused (IS NULL is meant), constant BETWEEN bounds are in order,
/// and the whole is a condition.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        tokens: tokens(text)?,
        at: 0,
    };
    if matches!(p.peek(), Token::End) {
        return Err(ParseError::at(1, "the expression is empty"));
    }
    let e = p.or()?;
    p.expect_end()?;
    if !is_condition(&e) && !matches!(e, Expr::Prop(_)) {
        return Err(ParseError::at(
            1,
            "the expression is not a condition (it gives no TRUE or FALSE)",
        ));
    }
    Ok(e)
}

/// True for an expression whose value is TRUE, FALSE or unknown.
fn is_condition(e: &Expr) -> bool {
    match e {
        Expr::Const(v) => matches!(v, Value::Bool(_)),
        Expr::Prop(_) | Expr::Negate(_) => false,
        _ => true,
    }
}

/// An operand of `>`, `<`, BETWEEN: a number, a property or a negated one.
fn check_ordered(e: &Expr, column: usize) -> Result<(), ParseError> {
    match e {
        Expr::Const(Value::Long(_) | Value::Double(_)) | Expr::Prop(_) | Expr::Negate(_) => Ok(()),
        Expr::Const(v) => Err(ParseError::at(
            column,
            format!("{} cannot be compared: ordering takes numbers", show(v)),
        )),
        _ => Err(ParseError::at(column, "a condition cannot be ordered")),
    }
}

/// An operand of `=` / `<>`: anything but a NULL literal.
fn check_equated(e: &Expr, column: usize) -> Result<(), ParseError> {
    match e {
        Expr::Const(Value::Null) => Err(ParseError::at(
            column,
            "NULL cannot be compared: use IS NULL or IS NOT NULL",
        )),
        _ => Ok(()),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => b.to_string().to_uppercase(),
        Value::Long(x) => x.to_string(),
        Value::Double(x) => x.to_string(),
        Value::Str(s) => format!("'{s}'"),
    }
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at].0
    }

    fn peek2(&self) -> &Token {
        &self.tokens[(self.at + 1).min(self.tokens.len() - 1)].0
    }

    fn column(&self) -> usize {
        self.tokens[self.at].1
    }

    fn bump(&mut self) -> Token {
        let t = self.tokens[self.at].0.clone();
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
        t
    }

    fn eat_keyword(&mut self, k: &str) -> bool {
        if matches!(self.peek(), Token::Keyword(x) if *x == k) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn eat_symbol(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Token::Symbol(x) if *x == s) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn unexpected(&self, wanted: &str) -> ParseError {
        let found = match self.peek() {
            Token::End => "the end".to_owned(),
            t => describe(t),
        };
        ParseError::at(self.column(), format!("expected {wanted}, found {found}"))
    }

    fn expect_end(&self) -> Result<(), ParseError> {
        match self.peek() {
            Token::End => Ok(()),
            _ => Err(self.unexpected("AND, OR or the end")),
        }
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.and()?;
        while self.eat_keyword("OR") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.equality()?;
        while self.eat_keyword("AND") {
            e = Expr::And(Box::new(e), Box::new(self.equality()?));
        }
        Ok(e)
    }

    fn equality(&mut self) -> Result<Expr, ParseError> {
        let start = self.column();
        let mut e = self.comparison()?;
        loop {
            let op = match self.peek() {
                Token::Symbol("=") => Some(CmpOp::Eq),
                Token::Symbol("<>") => Some(CmpOp::Ne),
                _ => None,
            };
            if let Some(op) = op {
                self.bump();
                check_equated(&e, start)?;
                let column = self.column();
                let r = self.comparison()?;
                check_equated(&r, column)?;
                e = Expr::Cmp(op, Box::new(e), Box::new(r));
            } else if self.eat_keyword("IS") {
                let negated = self.eat_keyword("NOT");
                if !self.eat_keyword("NULL") {
                    return Err(self.unexpected("NULL"));
                }
                e = Expr::IsNull {
                    expr: Box::new(e),
                    negated,
                };
            } else {
                return Ok(e);
            }
        }
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let start = self.column();
        let mut e = self.unary()?;
        loop {
            let op = match self.peek() {
                Token::Symbol(">") => Some(CmpOp::Gt),
                Token::Symbol(">=") => Some(CmpOp::Ge),
                Token::Symbol("<") => Some(CmpOp::Lt),
                Token::Symbol("<=") => Some(CmpOp::Le),
                _ => None,
            };
            if let Some(op) = op {
                self.bump();
                check_ordered(&e, start)?;
                let column = self.column();
                let r = self.unary()?;
                check_ordered(&r, column)?;
                e = Expr::Cmp(op, Box::new(e), Box::new(r));
                continue;
            }
            // NOT here only starts NOT BETWEEN / NOT IN / NOT CONTAINS ...
            let negated = matches!(self.peek(), Token::Keyword("NOT"))
                && matches!(
                    self.peek2(),
                    Token::Keyword("BETWEEN" | "IN" | "CONTAINS" | "STARTSWITH" | "ENDSWITH")
                );
            if negated {
                self.bump();
            }
            match self.peek().clone() {
                Token::Keyword("BETWEEN") => {
                    self.bump();
                    check_ordered(&e, start)?;
                    let low_at = self.column();
                    let low = self.unary()?;
                    check_ordered(&low, low_at)?;
                    if !self.eat_keyword("AND") {
                        return Err(self.unexpected("AND of BETWEEN"));
                    }
                    let high_at = self.column();
                    let high = self.unary()?;
                    check_ordered(&high, high_at)?;
                    if let (Expr::Const(l), Expr::Const(h)) = (&low, &high) {
                        let as_f64 = |v: &Value| match v {
                            Value::Long(x) => *x as f64,
                            Value::Double(x) => *x,
                            _ => 0.0,
                        };
                        if !negated && as_f64(l) > as_f64(h) {
                            return Err(ParseError::at(
                                low_at,
                                format!(
                                    "BETWEEN's low bound {} is above its high bound {}",
                                    show(l),
                                    show(h)
                                ),
                            ));
                        }
                    }
                    e = Expr::Between {
                        expr: Box::new(e),
                        low: Box::new(low),
                        high: Box::new(high),
                        negated,
                    };
                }
                Token::Keyword("IN") => {
                    self.bump();
                    if !matches!(e, Expr::Prop(_)) {
                        return Err(ParseError::at(start, "IN tests a property"));
                    }
                    e = Expr::In {
                        expr: Box::new(e),
                        list: self.string_list()?,
                        negated,
                    };
                }
                Token::Keyword(k @ ("CONTAINS" | "STARTSWITH" | "ENDSWITH")) => {
                    self.bump();
                    let op = match k {
                        "CONTAINS" => TextOp::Contains,
                        "STARTSWITH" => TextOp::StartsWith,
                        _ => TextOp::EndsWith,
                    };
                    let column = self.column();
                    let Token::Str(s) = self.bump() else {
                        return Err(ParseError::at(
                            column,
                            format!("{k} takes a string literal"),
                        ));
                    };
                    e = Expr::Text {
                        op,
                        expr: Box::new(e),
                        text: s,
                        negated,
                    };
                }
                _ => return Ok(e),
            }
        }
    }

    /// `( 'a', 'b', ... )`: RocketMQ's IN takes string literals only.
    fn string_list(&mut self) -> Result<Vec<String>, ParseError> {
        if !self.eat_symbol("(") {
            return Err(self.unexpected("( after IN"));
        }
        let mut list = Vec::new();
        loop {
            match self.peek().clone() {
                Token::Str(s) => {
                    self.bump();
                    list.push(s);
                }
                _ => return Err(self.unexpected("a string literal in the IN list")),
            }
            if self.eat_symbol(",") {
                continue;
            }
            if self.eat_symbol(")") {
                return Ok(list);
            }
            return Err(self.unexpected(", or )"));
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.eat_symbol("+") {
            return self.unary();
        }
        if self.eat_symbol("-") {
            let column = self.column();
            return match self.unary()? {
                Expr::Const(Value::Long(v)) => Ok(Expr::Const(Value::Long(v.wrapping_neg()))),
                Expr::Const(Value::Double(v)) => Ok(Expr::Const(Value::Double(-v))),
                e @ (Expr::Prop(_) | Expr::Negate(_)) => Ok(Expr::Negate(Box::new(e))),
                _ => Err(ParseError::at(
                    column,
                    "- must precede a number or a property",
                )),
            };
        }
        if self.eat_keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let e = match self.peek().clone() {
            Token::Str(s) => Expr::Const(Value::Str(s)),
            Token::Long(v) => Expr::Const(Value::Long(v)),
            Token::Double(v) => Expr::Const(Value::Double(v)),
            Token::Keyword("TRUE") => Expr::Const(Value::Bool(true)),
            Token::Keyword("FALSE") => Expr::Const(Value::Bool(false)),
            Token::Keyword("NULL") => Expr::Const(Value::Null),
            Token::Ident(name) => Expr::Prop(name),
            Token::Symbol("(") => {
                self.bump();
                let e = self.or()?;
                if !self.eat_symbol(")") {
                    return Err(self.unexpected(")"));
                }
                return Ok(e);
            }
            _ => return Err(self.unexpected("a property, a literal or (")),
        };
        self.bump();
        Ok(e)
    }
}

/// A token as an error message names it.
fn describe(t: &Token) -> String {
    match t {
        Token::Ident(s) => format!("\"{s}\""),
        Token::Str(s) => format!("'{s}'"),
        Token::Long(v) => v.to_string(),
        Token::Double(v) => v.to_string(),
        Token::Keyword(k) => format!("\"{k}\""),
        Token::Symbol(s) => format!("\"{s}\""),
        Token::End => "the end".to_owned(),
    }
}
