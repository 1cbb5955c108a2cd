//! Policy parameters: their declared types, ranges and defaults, and validated values.
//!
//! Each policy declares its parameters once ([`ParamDef`]); the same table validates spec files,
//! fills in defaults for the `spec.toml` written next to results, builds the canonical identity
//! that seeds the policy's random stream, and is printed by `armada list`.

use std::fmt;

/// The type and range of one parameter.
#[derive(Clone, Copy, Debug)]
pub enum ParamKind {
    /// A real number in `[min, max]`, or `(min, max]` when `min_open`.
    Float { min: f64, max: f64, min_open: bool },
    /// A whole number ≥ `min`.
    Count { min: u64 },
    /// One of the listed words.
    Choice(&'static [&'static str]),
}

/// A parameter value, validated against its [`ParamKind`].
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    Float(f64),
    Count(u64),
    Choice(&'static str),
    /// Computed from the number of arms and the horizon when the run starts (the formula is in
    /// the parameter's doc). Only allowed where the default is `Auto`.
    Auto,
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Count(n) => write!(f, "{n}"),
            ParamValue::Choice(s) => write!(f, "{s}"),
            ParamValue::Auto => write!(f, "auto"),
        }
    }
}

/// One declared parameter of a policy.
#[derive(Debug)]
pub struct ParamDef {
    pub name: &'static str,
    pub kind: ParamKind,
    pub default: ParamValue,
    pub doc: &'static str,
}

impl ParamDef {
    /// Validates a TOML value for this parameter; the error says what is expected.
    pub fn parse(&self, value: &toml::Value) -> Result<ParamValue, String> {
        if let toml::Value::String(s) = value
            && s == "auto"
            && !matches!(self.kind, ParamKind::Choice(_))
        {
            return if self.default == ParamValue::Auto {
                Ok(ParamValue::Auto)
            } else {
                Err(format!("\"auto\" is not allowed here; expected {}", self.expected()))
            };
        }
        match self.kind {
            ParamKind::Float { min, max, min_open } => {
                let x = match value {
                    toml::Value::Float(x) => *x,
                    toml::Value::Integer(i) => *i as f64,
                    other => return Err(format!("expected {}, got {}", self.expected(), type_name(other))),
                };
                let low_ok = if min_open { x > min } else { x >= min };
                if !x.is_finite() || !low_ok || x > max {
                    return Err(format!("{x} is out of range; expected {}", self.expected()));
                }
                Ok(ParamValue::Float(x))
            }
            ParamKind::Count { min } => match value {
                toml::Value::Integer(i) if *i >= 0 && (*i as u64) >= min => Ok(ParamValue::Count(*i as u64)),
                toml::Value::Integer(i) => Err(format!("{i} is out of range; expected {}", self.expected())),
                other => Err(format!("expected {}, got {}", self.expected(), type_name(other))),
            },
            ParamKind::Choice(options) => match value {
                toml::Value::String(s) => options
                    .iter()
                    .find(|o| **o == s.as_str())
                    .map(|o| ParamValue::Choice(o))
                    .ok_or_else(|| format!("unknown value \"{s}\"; expected {}", self.expected())),
                other => Err(format!("expected {}, got {}", self.expected(), type_name(other))),
            },
        }
    }

    /// What a valid value looks like, in words.
    pub fn expected(&self) -> String {
        let auto = if self.default == ParamValue::Auto { " or \"auto\"" } else { "" };
        match self.kind {
            ParamKind::Float { min, max, min_open } => {
                let lo = if min_open { "(" } else { "[" };
                if max.is_infinite() {
                    format!("a number in {lo}{min}, inf){auto}")
                } else {
                    format!("a number in {lo}{min}, {max}]{auto}")
                }
            }
            ParamKind::Count { min } => format!("a whole number >= {min}{auto}"),
            ParamKind::Choice(options) => {
                let quoted: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
                format!("one of {}", quoted.join(", "))
            }
        }
    }

    /// The value as TOML, for the filled-in spec.
    pub fn to_toml(value: &ParamValue) -> toml::Value {
        match value {
            ParamValue::Float(x) => toml::Value::Float(*x),
            ParamValue::Count(n) => toml::Value::Integer(*n as i64),
            ParamValue::Choice(s) => toml::Value::String((*s).to_string()),
            ParamValue::Auto => toml::Value::String("auto".into()),
        }
    }
}

/// A TOML type name for error messages.
pub fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALPHA: ParamDef = ParamDef {
        name: "alpha",
        kind: ParamKind::Float { min: 0.0, max: f64::INFINITY, min_open: true },
        default: ParamValue::Float(0.5),
        doc: "",
    };

    #[test]
    fn floats_accept_integers_and_check_ranges() {
        assert_eq!(ALPHA.parse(&toml::Value::Integer(2)), Ok(ParamValue::Float(2.0)));
        assert!(ALPHA.parse(&toml::Value::Float(0.0)).unwrap_err().contains("(0, inf)"));
        assert!(ALPHA.parse(&toml::Value::String("x".into())).unwrap_err().contains("a string"));
        assert!(ALPHA.parse(&toml::Value::String("auto".into())).is_err());
    }

    #[test]
    fn choices_list_the_options() {
        let def = ParamDef {
            name: "family",
            kind: ParamKind::Choice(&["auto", "bernoulli"]),
            default: ParamValue::Choice("auto"),
            doc: "",
        };
        let err = def.parse(&toml::Value::String("poisson".into())).unwrap_err();
        assert!(err.contains("\"auto\", \"bernoulli\""), "{err}");
    }
}
