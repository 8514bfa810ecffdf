//! Tokens of a SQL92 selector, each with the 1-based column it starts at, so a parse error
//! can point at the culprit as RocketMQ's ("at line 1, column N").

use super::ParseError;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// A property name.
    Ident(String),
    /// A single-quoted string ('' is one quote).
    Str(String),
    /// A decimal integer literal (an `L` suffix allowed), without sign.
    Long(i64),
    /// A decimal literal with a point or an exponent, without sign.
    Double(f64),
    /// A keyword, upper-cased (AND, OR, NOT, BETWEEN, IN, IS, NULL, TRUE, FALSE, ...).
    Keyword(&'static str),
    /// `=`, `<>`, `>`, `>=`, `<`, `<=`, `(`, `)`, `,`, `+`, `-`.
    Symbol(&'static str),
    /// The end of the expression.
    End,
}

/// Keywords; matched without regard to case.
const KEYWORDS: &[&str] = &[
    "AND",
    "OR",
    "NOT",
    "BETWEEN",
    "IN",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "CONTAINS",
    "STARTSWITH",
    "ENDSWITH",
];

/// Symbols, longest first so `<>` and `<=` win over `<`.
const SYMBOLS: &[&str] = &["<>", ">=", "<=", "=", ">", "<", "(", ")", ",", "+", "-"];

/// Splits `text` into tokens with their columns; the last is [`Token::End`].
pub fn tokens(text: &str) -> Result<Vec<(Token, usize)>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            let close = (i + 2..chars.len().saturating_sub(1))
                .find(|&j| chars[j] == '*' && chars[j + 1] == '/');
            match close {
                Some(j) => i = j + 2,
                None => return Err(ParseError::at(column, "unterminated /* comment")),
            }
            continue;
        }
        if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(ParseError::at(column, "unterminated string literal")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push((Token::Str(s), column));
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let (token, end) = number(&chars, i).map_err(|m| ParseError::at(column, m))?;
            out.push((token, column));
            i = end;
            continue;
        }
        // RocketMQ's identifiers: ASCII letters, digits, `_` and `$`, not led by a digit.
        if c.is_ascii_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '$'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let upper = word.to_ascii_uppercase();
            match KEYWORDS.iter().find(|k| **k == upper) {
                Some(k) => out.push((Token::Keyword(k), column)),
                None => out.push((Token::Ident(word), column)),
            }
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        match SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            Some(s) => {
                out.push((Token::Symbol(s), column));
                i += s.len();
            }
            None => {
                return Err(ParseError::at(
                    column,
                    format!("unexpected character {c:?}"),
                ))
            }
        }
    }
    out.push((Token::End, chars.len() + 1));
    Ok(out)
}

/// A number starting at `i`: its token and the index past it.
fn number(chars: &[char], mut i: usize) -> Result<(Token, usize), String> {
    let start = i;
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    let mut is_double = false;
    if chars.get(i) == Some(&'.') {
        is_double = true;
        i += 1;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        let mut j = i + 1;
        if matches!(chars.get(j), Some('+' | '-')) {
            j += 1;
        }
        if chars.get(j).is_some_and(char::is_ascii_digit) {
            is_double = true;
            i = j;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    let text: String = chars[start..i].iter().collect();
    if is_double {
        let v = text
            .parse::<f64>()
            .map_err(|_| format!("bad number {text}"))?;
        return Ok((Token::Double(v), i));
    }
    let v = text
        .parse::<i64>()
        .map_err(|_| format!("integer literal {text} is out of range"))?;
    Ok((Token::Long(v), skip_long_suffix(chars, i)))
}

/// Java's `L` suffix on a long literal.
fn skip_long_suffix(chars: &[char], i: usize) -> usize {
    if matches!(chars.get(i), Some('l' | 'L')) {
        i + 1
    } else {
        i
    }
}
