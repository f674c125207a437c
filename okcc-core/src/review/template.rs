//! Text templates for TTS and SMS, with variables.
//!
//! # Syntax
//! - `{name}` is a variable: a lowercase ASCII letter followed by up to 31
//!   lowercase letters, digits or `_`. It must be one of the variables the
//!   integrator declared ([`Variables`]); unknown names are refused.
//! - `{{` and `}}` are a literal `{` and `}`.
//! - Any other `{` or `}` (unclosed, unopened, nested, empty `{}`) is
//!   refused with its byte offset.
//! - At most 2,000 characters and 50 variable uses.
//!
//! Values are inserted as plain text, never parsed again.

use std::collections::BTreeMap;

use serde::Serialize;

/// The most characters a template may hold.
pub const MAX_TEMPLATE_CHARS: usize = 2000;
/// The most variable uses a template may hold.
pub const MAX_TEMPLATE_VARIABLES: usize = 50;
const MAX_NAME: usize = 32;

/// Why a template text is refused. Offsets are byte offsets into the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template is empty or only whitespace.
    #[error("template is empty")]
    Empty,
    /// The template is longer than the limit.
    #[error("template is longer than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Too many variable uses.
    #[error("template uses more than {max} variables")]
    TooManyVariables {
        /// The limit.
        max: usize,
    },
    /// A `{` is never closed.
    #[error("unclosed '{{' at byte {at}")]
    Unclosed {
        /// Offset of the `{`.
        at: usize,
    },
    /// A `}` closes nothing (write `}}` for a literal brace).
    #[error("unopened '}}' at byte {at}")]
    Unopened {
        /// Offset of the `}`.
        at: usize,
    },
    /// A variable name is empty or not `[a-z][a-z0-9_]{0,31}`.
    #[error("bad variable name at byte {at}")]
    BadName {
        /// Offset of the `{`.
        at: usize,
    },
    /// A variable name is not declared.
    #[error("unknown variable {{{name}}} at byte {at}")]
    Unknown {
        /// The name.
        name: String,
        /// Offset of the `{`.
        at: usize,
    },
}

/// A value is missing when rendering.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no value for variable {{{name}}}")]
#[non_exhaustive]
pub struct MissingValue {
    /// The variable without a value.
    pub name: String,
}

/// The variables templates may use, each with a sample value for previews.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Variables(BTreeMap<String, String>);

impl Variables {
    /// No variables at all.
    pub fn none() -> Self {
        Self(BTreeMap::new())
    }

    /// Declares `name` with a preview `sample`; refused if the name breaks
    /// the syntax.
    pub fn with(mut self, name: &str, sample: &str) -> Result<Self, TemplateError> {
        if !valid_name(name) {
            return Err(TemplateError::BadName { at: 0 });
        }
        self.0.insert(name.to_owned(), sample.to_owned());
        Ok(self)
    }

    /// `true` if `name` is declared.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The sample values, by name.
    pub fn samples(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

impl Default for Variables {
    /// `name`, `company`, `amount`, `date`, `time`, `agent` with samples.
    fn default() -> Self {
        let mut m = BTreeMap::new();
        for (k, v) in [
            ("name", "Zhang Wei"),
            ("company", "Acme Ltd"),
            ("amount", "128.50"),
            ("date", "2026-11-23"),
            ("time", "14:30"),
            ("agent", "1001"),
        ] {
            m.insert(k.to_owned(), v.to_owned());
        }
        Self(m)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= MAX_NAME
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Part {
    Text(String),
    Var(String),
}

/// A parsed, checked template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`, accepting only the variables in `vars`.
    pub fn parse(text: &str, vars: &Variables) -> Result<Self, TemplateError> {
        Self::parse_with(text, |name| vars.contains(name))
    }

    /// Parses a template read back from a store: every check of
    /// [`Template::parse`] except that any well-formed variable name is
    /// accepted (the declared variables may have changed since it was
    /// submitted; the stored content hash still binds the text).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn parse_stored(text: &str) -> Result<Self, TemplateError> {
        Self::parse_with(text, |_| true)
    }

    fn parse_with(text: &str, known: impl Fn(&str) -> bool) -> Result<Self, TemplateError> {
        if text.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        if text.chars().count() > MAX_TEMPLATE_CHARS {
            return Err(TemplateError::TooLong {
                max: MAX_TEMPLATE_CHARS,
            });
        }
        let mut parts = Vec::new();
        let mut text_buf = String::new();
        let mut uses = 0usize;
        let mut it = text.char_indices().peekable();
        while let Some((at, c)) = it.next() {
            match c {
                '{' if it.peek().map(|p| p.1) == Some('{') => {
                    it.next();
                    text_buf.push('{');
                }
                '}' if it.peek().map(|p| p.1) == Some('}') => {
                    it.next();
                    text_buf.push('}');
                }
                '}' => return Err(TemplateError::Unopened { at }),
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, n) in it.by_ref() {
                        if n == '}' {
                            closed = true;
                            break;
                        }
                        if n == '{' {
                            return Err(TemplateError::BadName { at });
                        }
                        if name.len() > MAX_NAME {
                            return Err(TemplateError::BadName { at });
                        }
                        name.push(n);
                    }
                    if !closed {
                        return Err(TemplateError::Unclosed { at });
                    }
                    if !valid_name(&name) {
                        return Err(TemplateError::BadName { at });
                    }
                    if !known(&name) {
                        return Err(TemplateError::Unknown { name, at });
                    }
                    uses += 1;
                    if uses > MAX_TEMPLATE_VARIABLES {
                        return Err(TemplateError::TooManyVariables {
                            max: MAX_TEMPLATE_VARIABLES,
                        });
                    }
                    if !text_buf.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text_buf)));
                    }
                    parts.push(Part::Var(name));
                }
                _ => text_buf.push(c),
            }
        }
        if !text_buf.is_empty() {
            parts.push(Part::Text(text_buf));
        }
        Ok(Self {
            source: text.to_owned(),
            parts,
        })
    }

    /// The template text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variables used, in order of first use.
    pub fn variables(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.parts {
            if let Part::Var(v) = p
                && !out.contains(&v.as_str())
            {
                out.push(v);
            }
        }
        out
    }

    /// Renders the template with `values`.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String, MissingValue> {
        let mut out = String::with_capacity(self.source.len());
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => out.push_str(
                    values
                        .get(v)
                        .ok_or_else(|| MissingValue { name: v.clone() })?,
                ),
            }
        }
        Ok(out)
    }

    /// Renders the template with the declared sample values: what the
    /// reviewer reads or hears. (Every variable was checked to be declared.)
    pub fn preview(&self, vars: &Variables) -> Result<String, MissingValue> {
        self.render(vars.samples())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Template, TemplateError> {
        Template::parse(t, &Variables::default())
    }

    #[test]
    fn req_3_1_variables_render_from_samples() {
        let t = parse("Dear {name}, you owe {amount} to {company}. {{not a var}}").unwrap();
        assert_eq!(t.variables(), ["name", "amount", "company"]);
        assert_eq!(
            t.preview(&Variables::default()).unwrap(),
            "Dear Zhang Wei, you owe 128.50 to Acme Ltd. {not a var}"
        );
        let mut v = BTreeMap::new();
        v.insert("name".to_owned(), "{amount}".to_owned());
        let t = parse("Hi {name}").unwrap();
        assert_eq!(
            t.render(&v).unwrap(),
            "Hi {amount}",
            "values are not re-parsed"
        );
        assert_eq!(
            parse("{amount}").unwrap().render(&v),
            Err(MissingValue {
                name: "amount".into()
            })
        );
    }

    #[test]
    fn req_3_1_unknown_and_unbalanced_variables_are_refused() {
        assert_eq!(
            parse("Hi {nmae}"),
            Err(TemplateError::Unknown {
                name: "nmae".into(),
                at: 3
            })
        );
        assert_eq!(parse("Hi {name"), Err(TemplateError::Unclosed { at: 3 }));
        assert_eq!(parse("Hi name}"), Err(TemplateError::Unopened { at: 7 }));
        assert_eq!(parse("Hi {}"), Err(TemplateError::BadName { at: 3 }));
        assert_eq!(parse("Hi {na{me}}"), Err(TemplateError::BadName { at: 3 }));
        assert_eq!(parse("Hi {Name}"), Err(TemplateError::BadName { at: 3 }));
        assert_eq!(parse("   "), Err(TemplateError::Empty));
        assert!(matches!(
            parse(&"x".repeat(2001)),
            Err(TemplateError::TooLong { .. })
        ));
        assert!(matches!(
            parse(&"{name}".repeat(51)),
            Err(TemplateError::TooManyVariables { .. })
        ));
        assert_eq!(
            parse(&format!("{{{}}}", "a".repeat(40))),
            Err(TemplateError::BadName { at: 0 })
        );
    }
}
