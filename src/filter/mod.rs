//! SQL92 property filters, as RocketMQ 4.9 defines them (`MessageSelector.bySql`): a
//! selector over a message's properties (all strings; `TAGS` is one of them), compiled once
//! and evaluated per message on the shard that owns the queue, before the message leaves
//! the broker.
//!
//! The grammar and the three-valued logic follow RocketMQ's filter module (checked against
//! 4.9.8): comparisons convert a property's text to the constant's type (strictly for
//! integers, Java's `Double.valueOf` for decimals), a missing property is unknown, and a
//! message matches only when the whole expression is TRUE; a value that cannot be
//! converted makes the message not match. Where RocketMQ silently ignores the rest of an
//! expression after a complete one (`a = 1 garbage`), coremq refuses it with the column,
//! and `0.0` is a literal. RocketMQ 5.1's CONTAINS / STARTSWITH / ENDSWITH are accepted.

mod eval;
mod lexer;
mod parser;

pub use eval::matches;
pub use parser::parse;

/// The expression type name a SQL92 subscription carries (`expressionType`).
pub const SQL92: &str = "SQL92";

/// Why an expression did not compile: the message and the 1-based column of the culprit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line 1, column {column}")]
pub struct ParseError {
    /// Where the offending token starts (characters, 1-based).
    pub column: usize,
    /// What was wrong.
    pub message: String,
}

impl ParseError {
    fn at(column: usize, message: impl Into<String>) -> Self {
        Self {
            column,
            message: message.into(),
        }
    }
}

/// A literal or a property's value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// NULL, or a missing property; also "unknown" in three-valued logic.
    Null,
    /// TRUE / FALSE.
    Bool(bool),
    /// An integer literal.
    Long(i64),
    /// A decimal literal.
    Double(f64),
    /// A string literal or a property's text.
    Str(String),
}

/// `=`, `<>`, `>`, `>=`, `<`, `<=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`.
    Eq,
    /// `<>`.
    Ne,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
}

/// RocketMQ 5.1's string tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    /// `a CONTAINS 'x'`.
    Contains,
    /// `a STARTSWITH 'x'`.
    StartsWith,
    /// `a ENDSWITH 'x'`.
    EndsWith,
}

/// A compiled selector.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal.
    Const(Value),
    /// A message property by name (case-sensitive).
    Prop(String),
    /// `-x`.
    Negate(Box<Expr>),
    /// A comparison.
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// `x [NOT] BETWEEN low AND high`.
    Between {
        /// Tested value.
        expr: Box<Expr>,
        /// Lower bound, inclusive.
        low: Box<Expr>,
        /// Upper bound, inclusive.
        high: Box<Expr>,
        /// NOT BETWEEN.
        negated: bool,
    },
    /// `prop [NOT] IN ('a', 'b')`.
    In {
        /// Tested property.
        expr: Box<Expr>,
        /// The strings.
        list: Vec<String>,
        /// NOT IN.
        negated: bool,
    },
    /// `x IS [NOT] NULL`.
    IsNull {
        /// Tested value.
        expr: Box<Expr>,
        /// IS NOT NULL.
        negated: bool,
    },
    /// `x [NOT] CONTAINS 'y'` and the like.
    Text {
        /// The test.
        op: TextOp,
        /// Tested value.
        expr: Box<Expr>,
        /// The literal.
        text: String,
        /// NOT ....
        negated: bool,
    },
    /// `a AND b`.
    And(Box<Expr>, Box<Expr>),
    /// `a OR b`.
    Or(Box<Expr>, Box<Expr>),
    /// `NOT a`.
    Not(Box<Expr>),
}

#[cfg(test)]
mod tests;
