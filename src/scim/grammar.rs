//! nom rules for the SCIM filter and PATCH path grammars of RFC 7644 §3.4.2.2 and §3.5.2.
//! One function per ABNF rule, its line quoted above it. Operators, keywords and literals are read
//! case-insensitively (Entra and Okta both vary case); nesting is bounded by `MAX_DEPTH`.
use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use super::path::PatchPath;
use nom::branch::alt;
use nom::bytes::complete::{tag_no_case, take_while, take_while1};
use nom::character::complete::{char, digit1, multispace0, multispace1, one_of, satisfy};
use nom::combinator::{cut, not, opt, peek, recognize, value};
use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Parser};

/// Deeper filters are refused rather than risking the stack.
pub const MAX_DEPTH: usize = 64;
const TOO_DEEP: &str = "a less deeply nested filter";

/// Where parsing stopped and what would have been accepted there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarError<'a> {
    pub rest: &'a str,
    pub expected: &'static str,
}

impl<'a> ParseError<&'a str> for GrammarError<'a> {
    fn from_error_kind(input: &'a str, _kind: ErrorKind) -> Self {
        Self {
            rest: input,
            expected: "",
        }
    }

    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }

    /// Of two failed alternatives, report the one that got further.
    fn or(self, other: Self) -> Self {
        if other.rest.len() <= self.rest.len() {
            other
        } else {
            self
        }
    }
}

impl GrammarError<'_> {
    /// A message for a person: what was expected, at which 1-based character position, and what was found.
    pub fn describe(&self, input: &str) -> String {
        if self.expected == TOO_DEEP {
            return format!("the expression is nested more than {MAX_DEPTH} levels deep");
        }
        let position = input[..input.len() - self.rest.len()].chars().count() + 1;
        let found = if self.rest.is_empty() {
            "the end of the input".to_owned()
        } else {
            format!("'{}'", self.rest.chars().take(16).collect::<String>())
        };
        let expected = if self.expected.is_empty() {
            "valid syntax"
        } else {
            self.expected
        };
        format!("expected {expected} at position {position}, found {found}")
    }
}

type Res<'a, O> = IResult<&'a str, O, GrammarError<'a>>;

/// Labels the errors of `parser` (unless a deeper rule already said what it expected).
fn expecting<'a, O>(
    what: &'static str,
    mut parser: impl Parser<&'a str, Output = O, Error = GrammarError<'a>>,
) -> impl Parser<&'a str, Output = O, Error = GrammarError<'a>> {
    move |i: &'a str| {
        parser.parse(i).map_err(|e| {
            e.map(|mut err| {
                if err.expected.is_empty() {
                    err.expected = what;
                }
                err
            })
        })
    }
}

fn fail<'a, O>(rest: &'a str, expected: &'static str) -> Res<'a, O> {
    Err(nom::Err::Failure(GrammarError { rest, expected }))
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '$'
}

/// A keyword that ends at a word boundary, so `prx` is not `pr` followed by `x`.
fn keyword<'a>(word: &'static str) -> impl Parser<&'a str, Output = &'a str, Error = GrammarError<'a>> {
    move |i: &'a str| {
        (tag_no_case(word), peek(not(satisfy(is_name_char))))
            .parse(i)
            .map(|(r, (w, _))| (r, w))
    }
}

/// Parses a whole filter: `FILTER` followed by nothing but white space.
pub fn parse_filter(input: &str) -> Result<Filter, GrammarError<'_>> {
    let (rest, parsed) = match (multispace0, |i| filter(i, 0, true)).parse(input) {
        Ok((rest, (_, parsed))) => (rest, parsed),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => return Err(e),
        Err(nom::Err::Incomplete(_)) => {
            return Err(GrammarError {
                rest: "",
                expected: "more input",
            })
        }
    };
    match rest.trim_start() {
        "" => Ok(parsed),
        rest => Err(GrammarError {
            rest,
            expected: "'and', 'or' or the end of the filter",
        }),
    }
}

/// Parses a whole PATCH path: `PATH` followed by nothing but white space.
pub fn parse_path(input: &str) -> Result<PatchPath, GrammarError<'_>> {
    let (rest, parsed) = match (multispace0, path).parse(input) {
        Ok((rest, (_, parsed))) => (rest, parsed),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => return Err(e),
        Err(nom::Err::Incomplete(_)) => {
            return Err(GrammarError {
                rest: "",
                expected: "more input",
            })
        }
    };
    match rest.trim_start() {
        "" => Ok(parsed),
        rest => Err(GrammarError {
            rest,
            expected: "the end of the path",
        }),
    }
}

/// RFC 7644 §3.5.2: `PATH = attrPath / valuePath [subAttr]`
fn path(i: &str) -> Res<'_, PatchPath> {
    let (i, attr) = attr_path(i)?;
    let (i, bracket) = opt(char('[')).parse(i)?;
    if bracket.is_none() {
        return Ok((
            i,
            PatchPath {
                attr,
                filter: None,
                sub: None,
            },
        ));
    }
    let (i, inner) = cut(|i| filter(i, 1, false)).parse(i)?;
    let (i, _) = cut(expecting("']'", (multispace0, char(']')))).parse(i)?;
    let (i, sub) = opt(sub_attr).parse(i)?;
    Ok((
        i,
        PatchPath {
            attr,
            filter: Some(Box::new(inner)),
            sub,
        },
    ))
}

/// RFC 7644 §3.4.2.2: `FILTER = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"`,
/// with `logExp = FILTER SP ("and" / "or") SP FILTER` read as `or` binding looser than `and`.
/// `value_paths` is false inside a `valFilter`, which may not nest another value path.
fn filter(i: &str, depth: usize, value_paths: bool) -> Res<'_, Filter> {
    if depth > MAX_DEPTH {
        return fail(i, TOO_DEEP);
    }
    chain(i, "or", |i| and_exp(i, depth, value_paths), Filter::Or)
}

/// The `and` level of `logExp`.
fn and_exp(i: &str, depth: usize, value_paths: bool) -> Res<'_, Filter> {
    chain(i, "and", |i| atom(i, depth, value_paths), Filter::And)
}

/// `term *(SP word SP term)`, read in a loop into one n-ary node (a lone term stays itself).
fn chain<'a>(
    i: &'a str,
    word: &'static str,
    mut term: impl FnMut(&'a str) -> Res<'a, Filter>,
    node: fn(Vec<Filter>) -> Filter,
) -> Res<'a, Filter> {
    let (mut i, first) = term(i)?;
    let mut terms = vec![first];
    loop {
        match (multispace0, keyword(word), multispace0).parse(i) {
            Ok((rest, _)) => {
                let (rest, next) = cut(&mut term).parse(rest)?;
                terms.push(next);
                i = rest;
            }
            Err(nom::Err::Error(_)) => break,
            Err(e) => return Err(e),
        }
    }
    let filter = if terms.len() == 1 {
        terms.swap_remove(0)
    } else {
        node(terms)
    };
    Ok((i, filter))
}

/// A parenthesised `FILTER`, `"not" "(" FILTER ")"`, a `valuePath` or an `attrExp`.
fn atom(i: &str, depth: usize, value_paths: bool) -> Res<'_, Filter> {
    expecting(
        "an attribute path, '(' or 'not ('",
        alt((
            |i| parenthesised(i, depth, value_paths),
            |i| negation(i, depth, value_paths),
            |i| attr_exp_or_value_path(i, depth, value_paths),
        )),
    )
    .parse(i)
}

/// `"(" FILTER ")"`
fn parenthesised(i: &str, depth: usize, value_paths: bool) -> Res<'_, Filter> {
    let (i, _) = char('(').parse(i)?;
    let (i, (_, inner)) = cut((multispace0, |i| filter(i, depth + 1, value_paths))).parse(i)?;
    let (i, _) = cut(expecting("')'", (multispace0, char(')')))).parse(i)?;
    Ok((i, inner))
}

/// `"not" "(" FILTER ")"`
fn negation(i: &str, depth: usize, value_paths: bool) -> Res<'_, Filter> {
    let (i, _) = (keyword("not"), multispace0, peek(char('('))).parse(i)?;
    let (i, inner) = parenthesised(i, depth, value_paths)?;
    Ok((i, Filter::Not(Box::new(inner))))
}

/// `attrExp = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)` and
/// `valuePath = attrPath "[" valFilter "]"`: the attribute path is read once, then the next token decides.
fn attr_exp_or_value_path(i: &str, depth: usize, value_paths: bool) -> Res<'_, Filter> {
    let (i, attr) = attr_path(i)?;
    if let Ok((i, _)) = char::<&str, GrammarError>('[').parse(i) {
        if !value_paths {
            return fail(i, "a filter without a nested '[' value path");
        }
        let (i, (_, inner)) = cut((multispace0, |i| filter(i, depth + 1, false))).parse(i)?;
        let (i, _) = cut(expecting("']'", (multispace0, char(']')))).parse(i)?;
        return Ok((i, Filter::ValuePath(attr, Box::new(inner))));
    }
    let (i, _) = cut(expecting("'pr' or a comparison operator", multispace1)).parse(i)?;
    if let Ok((i, _)) = keyword("pr").parse(i) {
        return Ok((i, Filter::Present(attr)));
    }
    let (i, op) = cut(expecting(
        "'pr' or a comparison operator (eq ne co sw ew gt ge lt le)",
        compare_op,
    ))
    .parse(i)?;
    let (i, _) = cut(expecting("a space before the value", multispace1)).parse(i)?;
    let (i, v) = cut(comp_value).parse(i)?;
    Ok((i, Filter::Compare(attr, op, v)))
}

/// `compareOp = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "lt" / "ge" / "le"`
fn compare_op(i: &str) -> Res<'_, CompareOp> {
    for op in CompareOp::ALL {
        if let Ok((rest, _)) = keyword(op.keyword()).parse(i) {
            return Ok((rest, op));
        }
    }
    Err(nom::Err::Error(GrammarError { rest: i, expected: "" }))
}

/// `compValue = false / null / true / number / string` (JSON tokens, decoded by serde_json).
fn comp_value(i: &str) -> Res<'_, CompValue> {
    expecting(
        "a value (a \"quoted string\", a number, true, false or null)",
        alt((
            value(CompValue::Null, keyword("null")),
            value(CompValue::Bool(true), keyword("true")),
            value(CompValue::Bool(false), keyword("false")),
            json_string,
            json_number,
        )),
    )
    .parse(i)
}

/// A JSON string (RFC 8259 §7), scanned to its closing quote and then decoded by serde_json.
fn json_string(i: &str) -> Res<'_, CompValue> {
    let (body, _) = char('"').parse(i)?;
    let mut escaped = false;
    for (at, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                let token = &i[..at + 2];
                return match serde_json::from_str::<String>(token) {
                    Ok(s) if s.contains('\0') => fail(i, "a string without U+0000 (NUL)"),
                    Ok(s) => Ok((&body[at + 1..], CompValue::Str(s))),
                    Err(_) => fail(i, "a valid JSON string (check its escapes)"),
                };
            }
            _ => {}
        }
    }
    fail(i, "a string value closed by '\"'")
}

/// A JSON number (RFC 8259 §6).
fn json_number(i: &str) -> Res<'_, CompValue> {
    let (rest, token) = recognize((
        opt(char('-')),
        digit1,
        opt((char('.'), digit1)),
        opt((one_of("eE"), opt(one_of("+-")), digit1)),
    ))
    .parse(i)?;
    match serde_json::from_str::<serde_json::Number>(token) {
        Ok(n) => Ok((rest, CompValue::Number(n))),
        Err(_) => fail(i, "a number"),
    }
}

/// `attrPath = [URI ":"] ATTRNAME *1subAttr`. The token is read whole, then split at its last `:`
/// (a URN such as `urn:…:2.0:User` holds colons and dots) and at `.`.
fn attr_path(i: &str) -> Res<'_, AttrPath> {
    let (rest, token) = expecting(
        "an attribute path",
        take_while1(|c: char| is_name_char(c) || c == ':' || c == '.'),
    )
    .parse(i)?;
    let (uri, local) = match token.rfind(':') {
        Some(at) => (Some(&token[..at]), &token[at + 1..]),
        None => (None, token),
    };
    let mut parts = local.split('.');
    let name = parts.next().unwrap_or_default();
    let sub = parts.next();
    let valid = uri.is_none_or(|u| !u.is_empty())
        && is_attr_name(name)
        && sub.is_none_or(is_attr_name)
        && parts.next().is_none();
    if !valid {
        return fail(
            i,
            "an attribute path ([URI:]name[.subAttribute], names starting with a letter)",
        );
    }
    let attr = AttrPath {
        uri: uri.map(str::to_owned),
        name: name.to_owned(),
        sub: sub.map(str::to_owned),
    };
    Ok((rest, attr))
}

/// `ATTRNAME = ALPHA *(nameChar)`; `$ref` is admitted too (RFC 7643 §2.4 names it).
fn is_attr_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => chars.all(is_name_char),
        Some('$') => s.len() > 1 && chars.all(is_name_char),
        _ => false,
    }
}

/// `subAttr = "." ATTRNAME`
fn sub_attr(i: &str) -> Res<'_, String> {
    let (i, _) = char('.').parse(i)?;
    let (i, name) = cut(expecting("a sub-attribute name", take_while(is_name_char))).parse(i)?;
    if !is_attr_name(name) {
        return fail(i, "a sub-attribute name");
    }
    Ok((i, name.to_owned()))
}
