//! What an answer should be, compiled from the spec at build time (build/answer_schemas.rs):
//! plain static data, so the check reads no spec and allocates nothing to walk it.

/// The success answer of one operation.
pub(crate) struct Answer {
    /// The spec's `operationId`.
    pub(crate) operation: &'static str,
    pub(crate) schema: Schema,
}

pub(crate) struct Schema {
    /// The JSON pointer of this schema in the spec: where an edit would go.
    pub(crate) at: &'static str,
    pub(crate) one_of: Option<&'static [EnumValue]>,
    pub(crate) shape: Shape,
}

// Which variants are built is the spec's choice (today's answers hold no boolean, say).
#[allow(dead_code)]
pub(crate) enum Shape {
    Object {
        properties: &'static [(&'static str, Schema)],
        required: &'static [&'static str],
    },
    Array(&'static Schema),
    String {
        min_length: Option<f64>,
        max_length: Option<f64>,
        pattern: Option<&'static str>,
        format: Option<Format>,
    },
    Number {
        integer: bool,
        minimum: Option<f64>,
        maximum: Option<f64>,
        exclusive_minimum: bool,
        exclusive_maximum: bool,
        format: Option<Format>,
    },
    Boolean,
    /// No `type`: any value conforms.
    Any,
}

#[derive(Clone, Copy)]
#[allow(dead_code)]
pub(crate) enum Format {
    DateTime,
    Date,
    Int32,
    Int64,
    Float,
    Double,
}

impl Format {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::DateTime => "date-time",
            Format::Date => "date",
            Format::Int32 => "int32",
            Format::Int64 => "int64",
            Format::Float => "float",
            Format::Double => "double",
        }
    }
}

#[allow(dead_code)]
pub(crate) enum EnumValue {
    Text(&'static str),
    Number(f64),
    Bool(bool),
    Null,
}

impl Shape {
    /// The JSON type the spec names, as drift reports say it.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Shape::Object { .. } => "object",
            Shape::Array(_) => "array",
            Shape::String { .. } => "string",
            Shape::Number { integer: true, .. } => "integer",
            Shape::Number { .. } => "number",
            Shape::Boolean => "boolean",
            Shape::Any => "any",
        }
    }
}

include!(concat!(env!("OUT_DIR"), "/answer_schemas.rs"));
