//! A flat struct as a Redis hash: one field per struct field, its value as decimal text.
//!
//! Used by [`HashCommands::hset_struct`](super::HashCommands::hset_struct) (the mapping
//! table is there) and [`HashCommands::hgetall_struct`](super::HashCommands::hgetall_struct).
//! Errors name the field and the expected type but never quote a value read from the hash:
//! they end up in logs, and hash values may be secrets.

use std::fmt;

use bytes::Bytes;
use resp_codec::Frame;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::ser::{self, Impossible, Serialize};

use crate::error::{Error, HashStructError};
use crate::reply::{FromReply, into_pairs};

impl HashStructError {
    /// Attaches the hash field to an error that did not know it.
    fn in_field(self, name: &str) -> HashStructError {
        match self {
            HashStructError::Custom {
                field: None,
                message,
            } => HashStructError::Custom {
                field: Some(name.to_owned()),
                message,
            },
            e => e,
        }
    }
}

impl ser::Error for HashStructError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        HashStructError::Custom {
            field: None,
            message: msg.to_string(),
        }
    }
}

impl de::Error for HashStructError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        HashStructError::Custom {
            field: None,
            message: msg.to_string(),
        }
    }

    // The defaults quote the unexpected value; these keep it out of the message.
    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        de::Error::custom(format_args!(
            "invalid type: {}, expected {exp}",
            kind_of(&unexp)
        ))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        de::Error::custom(format_args!(
            "invalid value: {}, expected {exp}",
            kind_of(&unexp)
        ))
    }

    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        de::Error::custom(format_args!(
            "unknown variant, expected one of {expected:?}"
        ))
    }
}

/// The kind of an unexpected value, without the value.
fn kind_of(unexp: &de::Unexpected<'_>) -> &'static str {
    use de::Unexpected as U;
    match unexp {
        U::Bool(_) => "boolean",
        U::Unsigned(_) | U::Signed(_) => "integer",
        U::Float(_) => "float",
        U::Char(_) => "char",
        U::Str(_) => "string",
        U::Bytes(_) => "bytes",
        U::Unit => "unit",
        U::Option => "option",
        U::NewtypeStruct => "newtype struct",
        U::Seq => "sequence",
        U::Map => "map",
        U::Enum => "enum",
        U::UnitVariant => "unit variant",
        U::NewtypeVariant => "newtype variant",
        U::TupleVariant => "tuple variant",
        U::StructVariant => "struct variant",
        U::Other(_) => "other value",
    }
}

impl From<HashStructError> for Error {
    fn from(e: HashStructError) -> Self {
        Error::HashStruct(e)
    }
}

// ---------------------------------------------------------------- writing

/// The field/value pairs of a flat struct, in field order; `None` fields are left out.
pub(crate) fn to_pairs<T: Serialize + ?Sized>(
    value: &T,
) -> Result<Vec<(&'static str, Vec<u8>)>, HashStructError> {
    value.serialize(StructSerializer)
}

fn not_a_struct<T>(kind: &'static str) -> Result<T, HashStructError> {
    Err(HashStructError::NotAStruct { kind })
}

/// The top level: a struct, and nothing else.
struct StructSerializer;

/// Collects the fields of the struct.
struct Fields(Vec<(&'static str, Vec<u8>)>);

macro_rules! refuse {
    ($err:ident; $($method:ident($($ty:ty),*) = $kind:literal;)*) => {$(
        fn $method(self $(, _: $ty)*) -> Result<Self::Ok, Self::Error> {
            $err($kind)
        }
    )*};
}

impl ser::Serializer for StructSerializer {
    type Ok = Vec<(&'static str, Vec<u8>)>;
    type Error = HashStructError;
    type SerializeSeq = Impossible<Self::Ok, HashStructError>;
    type SerializeTuple = Impossible<Self::Ok, HashStructError>;
    type SerializeTupleStruct = Impossible<Self::Ok, HashStructError>;
    type SerializeTupleVariant = Impossible<Self::Ok, HashStructError>;
    type SerializeMap = Impossible<Self::Ok, HashStructError>;
    type SerializeStruct = Fields;
    type SerializeStructVariant = Impossible<Self::Ok, HashStructError>;

    refuse! { not_a_struct;
        serialize_bool(bool) = "bool";
        serialize_i8(i8) = "i8";
        serialize_i16(i16) = "i16";
        serialize_i32(i32) = "i32";
        serialize_i64(i64) = "i64";
        serialize_i128(i128) = "i128";
        serialize_u8(u8) = "u8";
        serialize_u16(u16) = "u16";
        serialize_u32(u32) = "u32";
        serialize_u64(u64) = "u64";
        serialize_u128(u128) = "u128";
        serialize_f32(f32) = "f32";
        serialize_f64(f64) = "f64";
        serialize_char(char) = "char";
        serialize_str(&str) = "string";
        serialize_bytes(&[u8]) = "bytes";
        serialize_none() = "none";
        serialize_unit() = "unit";
        serialize_unit_struct(&'static str) = "unit struct";
        serialize_unit_variant(&'static str, u32, &'static str) = "unit variant";
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Self::Ok, Self::Error> {
        not_a_struct("option")
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Self::Error> {
        // A newtype around a struct is that struct.
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, Self::Error> {
        not_a_struct("enum variant")
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
        not_a_struct("sequence")
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Self::Error> {
        not_a_struct("tuple")
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Self::Error> {
        not_a_struct("tuple struct")
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Self::Error> {
        not_a_struct("enum variant")
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
        not_a_struct("map")
    }

    fn serialize_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, Self::Error> {
        Ok(Fields(Vec::with_capacity(len)))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Self::Error> {
        not_a_struct("enum variant")
    }
}

impl ser::SerializeStruct for Fields {
    type Ok = Vec<(&'static str, Vec<u8>)>;
    type Error = HashStructError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), HashStructError> {
        match value.serialize(ValueSerializer) {
            Ok(Some(v)) => self.0.push((key, v)),
            Ok(None) => {}
            Err(Unsupported(kind)) => {
                return Err(HashStructError::Unsupported {
                    field: key.to_owned(),
                    kind,
                });
            }
            Err(Other(e)) => return Err(e.in_field(key)),
        }
        Ok(())
    }

    fn end(self) -> Result<Self::Ok, HashStructError> {
        Ok(self.0)
    }
}

/// A field value that cannot be written: the field's name is added by [`Fields`].
#[derive(Debug)]
enum ValueError {
    Unsupported(&'static str),
    Other(HashStructError),
}
use ValueError::{Other, Unsupported};

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported(kind) => write!(f, "a {kind} cannot be stored in a hash field"),
            Other(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ValueError {}

impl ser::Error for ValueError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Other(ser::Error::custom(msg))
    }
}

fn unsupported<T>(kind: &'static str) -> Result<T, ValueError> {
    Err(Unsupported(kind))
}

fn text(v: impl fmt::Display) -> Result<Option<Vec<u8>>, ValueError> {
    Ok(Some(v.to_string().into_bytes()))
}

/// One field's value: `Some(bytes)` to write, `None` to leave the field out.
struct ValueSerializer;

impl ser::Serializer for ValueSerializer {
    type Ok = Option<Vec<u8>>;
    type Error = ValueError;
    type SerializeSeq = Impossible<Self::Ok, ValueError>;
    type SerializeTuple = Impossible<Self::Ok, ValueError>;
    type SerializeTupleStruct = Impossible<Self::Ok, ValueError>;
    type SerializeTupleVariant = Impossible<Self::Ok, ValueError>;
    type SerializeMap = Impossible<Self::Ok, ValueError>;
    type SerializeStruct = Impossible<Self::Ok, ValueError>;
    type SerializeStructVariant = Impossible<Self::Ok, ValueError>;

    fn serialize_bool(self, v: bool) -> Result<Self::Ok, ValueError> {
        Ok(Some(vec![if v { b'1' } else { b'0' }]))
    }
    fn serialize_i8(self, v: i8) -> Result<Self::Ok, ValueError> {
        text(v)
    }
    fn serialize_i16(self, v: i16) -> Result<Self::Ok, ValueError> {
        text(v)
    }
    fn serialize_i32(self, v: i32) -> Result<Self::Ok, ValueError> {
        text(v)
    }
    fn serialize_i64(self, v: i64) -> Result<Self::Ok, ValueError> {
        text(v)
    }
    fn serialize_i128(self, v: i128) -> Result<Self::Ok, ValueError> {
        text(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Self::Ok, ValueError> {
        text(v)
    }
    fn serialize_u16(self, v: u16) -> Result<Self::Ok, ValueError> {
        text(v)
    }
    fn serialize_u32(self, v: u32) -> Result<Self::Ok, ValueError> {
        text(v)
    }
    fn serialize_u64(self, v: u64) -> Result<Self::Ok, ValueError> {
        text(v)
    }
    fn serialize_u128(self, v: u128) -> Result<Self::Ok, ValueError> {
        text(v)
    }
    fn serialize_f32(self, v: f32) -> Result<Self::Ok, ValueError> {
        // Display is the shortest text that parses back to the same value.
        text(v)
    }
    fn serialize_f64(self, v: f64) -> Result<Self::Ok, ValueError> {
        text(v)
    }
    fn serialize_char(self, v: char) -> Result<Self::Ok, ValueError> {
        text(v)
    }
    fn serialize_str(self, v: &str) -> Result<Self::Ok, ValueError> {
        Ok(Some(v.as_bytes().to_vec()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Self::Ok, ValueError> {
        Ok(Some(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Self::Ok, ValueError> {
        Ok(None)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok, ValueError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Self::Ok, ValueError> {
        unsupported("unit")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Self::Ok, ValueError> {
        unsupported("unit struct")
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Self::Ok, ValueError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Self::Ok, ValueError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, ValueError> {
        unsupported("enum variant with data")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, ValueError> {
        unsupported("sequence")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, ValueError> {
        unsupported("tuple")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, ValueError> {
        unsupported("tuple struct")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, ValueError> {
        unsupported("enum variant with data")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, ValueError> {
        unsupported("map")
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, ValueError> {
        unsupported("struct")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, ValueError> {
        unsupported("enum variant with data")
    }
}

// ---------------------------------------------------------------- reading

/// The `HGETALL` reply converter: `None` for an empty hash (or a missing key), else the
/// struct read from its fields.
pub(crate) fn from_reply<T: DeserializeOwned>(frame: Frame) -> Result<Option<T>, Error> {
    let pairs = into_pairs(frame, "hash")?
        .into_iter()
        .map(|(f, v)| Ok((Bytes::from_reply(f)?, Bytes::from_reply(v)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    if pairs.is_empty() {
        return Ok(None);
    }
    Ok(Some(from_pairs(&pairs)?))
}

/// A struct read from a hash's field/value pairs.
pub(crate) fn from_pairs<T: DeserializeOwned>(
    pairs: &[(Bytes, Bytes)],
) -> Result<T, HashStructError> {
    T::deserialize(HashDeserializer {
        pairs: pairs.iter(),
        value: None,
    })
}

/// The whole hash: a map of fields to values.
struct HashDeserializer<'a> {
    pairs: std::slice::Iter<'a, (Bytes, Bytes)>,
    /// The current field and its value, between `next_key_seed` and `next_value_seed`.
    value: Option<&'a (Bytes, Bytes)>,
}

impl<'de> de::Deserializer<'de> for HashDeserializer<'_> {
    type Error = HashStructError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> de::MapAccess<'de> for HashDeserializer<'_> {
    type Error = HashStructError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some(pair) = self.pairs.next() else {
            return Ok(None);
        };
        self.value = Some(pair);
        // A field name that is not UTF-8 goes as bytes: it matches no struct field.
        match std::str::from_utf8(&pair.0) {
            Ok(name) => {
                let name: de::value::StrDeserializer<'_, HashStructError> =
                    name.into_deserializer();
                seed.deserialize(name).map(Some)
            }
            Err(_) => {
                let name: de::value::BytesDeserializer<'_, HashStructError> =
                    (&pair.0[..]).into_deserializer();
                seed.deserialize(name).map(Some)
            }
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let Some((field, value)) = self.value.take() else {
            return Err(de::Error::custom("a value was asked for before its field"));
        };
        let field = String::from_utf8_lossy(field);
        seed.deserialize(ValueDeserializer {
            field: &field,
            value,
        })
        .map_err(|e| e.in_field(&field))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len())
    }
}

/// One field's value.
struct ValueDeserializer<'a> {
    field: &'a str,
    value: &'a [u8],
}

impl ValueDeserializer<'_> {
    fn invalid(&self, expected: &'static str) -> HashStructError {
        HashStructError::Invalid {
            field: self.field.to_owned(),
            expected,
        }
    }

    fn unsupported<T>(&self, kind: &'static str) -> Result<T, HashStructError> {
        Err(HashStructError::Unsupported {
            field: self.field.to_owned(),
            kind,
        })
    }

    fn str(&self, expected: &'static str) -> Result<&str, HashStructError> {
        std::str::from_utf8(self.value).map_err(|_| self.invalid(expected))
    }

    fn parse<T: std::str::FromStr>(&self, expected: &'static str) -> Result<T, HashStructError> {
        self.str(expected)?
            .parse()
            .map_err(|_| self.invalid(expected))
    }

    fn bool(&self) -> Result<bool, HashStructError> {
        match self.value {
            b"1" => Ok(true),
            b"0" => Ok(false),
            v if v.eq_ignore_ascii_case(b"true") => Ok(true),
            v if v.eq_ignore_ascii_case(b"false") => Ok(false),
            _ => Err(self.invalid("bool")),
        }
    }
}

macro_rules! parse_number {
    ($($method:ident => $visit:ident: $t:ty = $expected:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            visitor.$visit(self.parse::<$t>($expected)?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'_> {
    type Error = HashStructError;

    /// Text when it is UTF-8, else bytes: for `#[serde(flatten)]`, untagged enums and maps.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match std::str::from_utf8(self.value) {
            Ok(s) => visitor.visit_str(s),
            Err(_) => visitor.visit_bytes(self.value),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_bool(self.bool()?)
    }

    parse_number! {
        deserialize_i8 => visit_i8: i8 = "i8";
        deserialize_i16 => visit_i16: i16 = "i16";
        deserialize_i32 => visit_i32: i32 = "i32";
        deserialize_i64 => visit_i64: i64 = "i64";
        deserialize_i128 => visit_i128: i128 = "i128";
        deserialize_u8 => visit_u8: u8 = "u8";
        deserialize_u16 => visit_u16: u16 = "u16";
        deserialize_u32 => visit_u32: u32 = "u32";
        deserialize_u64 => visit_u64: u64 = "u64";
        deserialize_u128 => visit_u128: u128 = "u128";
        deserialize_f32 => visit_f32: f32 = "f32";
        deserialize_f64 => visit_f64: f64 = "f64";
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let mut chars = self.str("char")?.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => visitor.visit_char(c),
            _ => Err(self.invalid("char")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_str(self.str("UTF-8 string")?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_bytes(self.value)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_bytes(self.value)
    }

    /// A field that is present is `Some`: a missing one never reaches here.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.unsupported("unit")
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.unsupported("unit struct")
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.unsupported("sequence")
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Self::Error> {
        self.unsupported("tuple")
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.unsupported("tuple struct")
    }

    fn deserialize_map<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.unsupported("map")
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.unsupported("struct")
    }

    /// A unit variant, by name. A variant with data asks for more than a name, and fails.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let name = self.str("enum variant name")?;
        visitor.visit_enum(UnitVariant {
            field: self.field,
            name,
        })
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }
}

/// An enum read from a variant name: unit variants only.
struct UnitVariant<'a> {
    field: &'a str,
    name: &'a str,
}

impl<'de, 'a> de::EnumAccess<'de> for UnitVariant<'a> {
    type Error = HashStructError;
    type Variant = UnitVariant<'a>;

    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Self::Error> {
        let name: de::value::StrDeserializer<'_, HashStructError> = self.name.into_deserializer();
        Ok((seed.deserialize(name)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitVariant<'_> {
    type Error = HashStructError;

    fn unit_variant(self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        _: T,
    ) -> Result<T::Value, Self::Error> {
        self.unsupported()
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Self::Error> {
        self.unsupported()
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.unsupported()
    }
}

impl UnitVariant<'_> {
    fn unsupported<T>(&self) -> Result<T, HashStructError> {
        Err(HashStructError::Unsupported {
            field: self.field.to_owned(),
            kind: "enum variant with data",
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::{Deserialize, Serialize};

    use super::*;

    /// Bytes through `serialize_bytes` / `deserialize_byte_buf`, as `serde_bytes` does.
    #[derive(Debug, PartialEq)]
    struct Raw(Vec<u8>);

    impl Serialize for Raw {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }

    impl<'de> Deserialize<'de> for Raw {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Raw;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
                    Ok(Raw(v.to_vec()))
                }
            }
            d.deserialize_byte_buf(V)
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Role {
        Admin,
        #[serde(rename = "plain-user")]
        User,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct All {
        s: String,
        b_true: bool,
        b_false: bool,
        i8_: i8,
        i16_: i16,
        i32_: i32,
        i64_: i64,
        i128_: i128,
        u8_: u8,
        u16_: u16,
        u32_: u32,
        u64_: u64,
        u128_: u128,
        f32_: f32,
        f64_: f64,
        f64_whole: f64,
        f64_inf: f64,
        c: char,
        role: Role,
        renamed_role: Role,
        raw: Raw,
        some: Option<i64>,
        none: Option<String>,
        #[serde(rename = "display name")]
        display: String,
    }

    fn all() -> All {
        All {
            s: "héllo world".into(),
            b_true: true,
            b_false: false,
            i8_: i8::MIN,
            i16_: -300,
            i32_: 70_000,
            i64_: i64::MIN,
            i128_: i128::MAX,
            u8_: u8::MAX,
            u16_: 65_535,
            u32_: u32::MAX,
            u64_: u64::MAX,
            u128_: u128::MAX,
            f32_: 1.5,
            f64_: 0.1,
            f64_whole: 3.0,
            f64_inf: f64::NEG_INFINITY,
            c: 'é',
            role: Role::Admin,
            renamed_role: Role::User,
            raw: Raw(vec![0, 255, b'\r', b'\n']),
            some: Some(-7),
            none: None,
            display: String::new(),
        }
    }

    fn pairs(list: &[(&str, &[u8])]) -> Vec<(Bytes, Bytes)> {
        list.iter()
            .map(|(f, v)| {
                (
                    Bytes::copy_from_slice(f.as_bytes()),
                    Bytes::copy_from_slice(v),
                )
            })
            .collect()
    }

    fn as_owned(written: Vec<(&'static str, Vec<u8>)>) -> Vec<(Bytes, Bytes)> {
        written
            .into_iter()
            .map(|(f, v)| (Bytes::from_static(f.as_bytes()), Bytes::from(v)))
            .collect()
    }

    #[test]
    fn every_supported_type_is_written_as_redis_text() {
        let written = to_pairs(&all()).unwrap();
        let expected: Vec<(&str, &[u8])> = vec![
            ("s", "héllo world".as_bytes()),
            ("b_true", b"1"),
            ("b_false", b"0"),
            ("i8_", b"-128"),
            ("i16_", b"-300"),
            ("i32_", b"70000"),
            ("i64_", b"-9223372036854775808"),
            ("i128_", b"170141183460469231731687303715884105727"),
            ("u8_", b"255"),
            ("u16_", b"65535"),
            ("u32_", b"4294967295"),
            ("u64_", b"18446744073709551615"),
            ("u128_", b"340282366920938463463374607431768211455"),
            ("f32_", b"1.5"),
            ("f64_", b"0.1"),
            ("f64_whole", b"3"),
            ("f64_inf", b"-inf"),
            ("c", "é".as_bytes()),
            ("role", b"Admin"),
            ("renamed_role", b"plain-user"),
            ("raw", b"\x00\xff\r\n"),
            ("some", b"-7"),
            // `none` is not written.
            ("display name", b""),
        ];
        let got: Vec<(&str, &[u8])> = written.iter().map(|(f, v)| (*f, &v[..])).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn every_supported_type_round_trips() {
        let value = all();
        let back: All = from_pairs(&as_owned(to_pairs(&value).unwrap())).unwrap();
        assert_eq!(back, value);
        // Floats keep every bit.
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct F {
            a: f64,
            b: f32,
        }
        for (a, b) in [
            (f64::MAX, f32::MIN_POSITIVE),
            (1.0 / 3.0, 0.1),
            (-0.0, -2.5e-30),
            (5e-324, f32::INFINITY),
        ] {
            let v = F { a, b };
            let back: F = from_pairs(&as_owned(to_pairs(&v).unwrap())).unwrap();
            assert_eq!(back.a.to_bits(), a.to_bits());
            assert_eq!(back.b.to_bits(), b.to_bits());
        }
        // NaN is written as Rust spells it and reads back as a NaN.
        let v = F {
            a: f64::NAN,
            b: 0.0,
        };
        let back: F = from_pairs(&as_owned(to_pairs(&v).unwrap())).unwrap();
        assert!(back.a.is_nan());
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Flags {
        on: bool,
    }

    #[test]
    fn booleans_read_from_digits_and_words() {
        for (text, want) in [
            ("1", true),
            ("0", false),
            ("true", true),
            ("false", false),
            ("True", true),
            ("FALSE", false),
        ] {
            let f: Flags = from_pairs(&pairs(&[("on", text.as_bytes())])).unwrap();
            assert_eq!(f.on, want, "{text}");
        }
        for text in ["", "2", "yes", "on", " 1", "truee"] {
            let e = from_pairs::<Flags>(&pairs(&[("on", text.as_bytes())])).unwrap_err();
            assert_eq!(
                e,
                HashStructError::Invalid {
                    field: "on".into(),
                    expected: "bool"
                },
                "{text:?}"
            );
        }
    }

    #[test]
    fn numbers_read_from_text_redis_and_other_clients_write() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct N {
            i: i64,
            f: f64,
        }
        for (i, f, want) in [
            ("42", "1.5", N { i: 42, f: 1.5 }),
            ("-0", "1e3", N { i: 0, f: 1000.0 }),
            ("+7", "-0.25", N { i: 7, f: -0.25 }),
            (
                "1",
                "inf",
                N {
                    i: 1,
                    f: f64::INFINITY,
                },
            ),
            (
                "1",
                "-inf",
                N {
                    i: 1,
                    f: f64::NEG_INFINITY,
                },
            ),
            ("1", "10", N { i: 1, f: 10.0 }),
        ] {
            let got: N = from_pairs(&pairs(&[("i", i.as_bytes()), ("f", f.as_bytes())])).unwrap();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn values_that_do_not_parse_are_typed_errors_naming_the_field() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct T {
            small: Option<u8>,
            unsigned: Option<u32>,
            int: Option<i64>,
            float: Option<f64>,
            c: Option<char>,
            s: Option<String>,
        }
        let cases: &[(&str, &[u8], &str)] = &[
            ("small", b"256", "u8"),
            ("unsigned", b"-1", "u32"),
            ("int", b"1.5", "i64"),
            ("int", b"", "i64"),
            ("int", b" 1", "i64"),
            ("int", b"99999999999999999999", "i64"),
            ("float", b"abc", "f64"),
            ("float", b"", "f64"),
            ("c", b"ab", "char"),
            ("c", b"", "char"),
            ("s", b"\xff\xfe", "UTF-8 string"),
        ];
        for (field, value, expected) in cases {
            let e = from_pairs::<T>(&pairs(&[(field, value)])).unwrap_err();
            assert_eq!(
                e,
                HashStructError::Invalid {
                    field: (*field).into(),
                    expected
                },
                "{field} = {value:?}"
            );
            assert!(e.to_string().contains(field));
        }
    }

    #[test]
    fn option_fields_are_none_when_missing_and_required_ones_are_errors() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct U {
            name: String,
            email: Option<String>,
            age: Option<u32>,
        }
        let u: U = from_pairs(&pairs(&[("name", b"Ada")])).unwrap();
        assert_eq!(
            u,
            U {
                name: "Ada".into(),
                email: None,
                age: None
            }
        );
        let u: U = from_pairs(&pairs(&[("age", b"36"), ("name", b"Ada"), ("email", b"")])).unwrap();
        assert_eq!((u.email.as_deref(), u.age), (Some(""), Some(36)));
        let e = from_pairs::<U>(&pairs(&[("email", b"a@b")])).unwrap_err();
        assert!(
            matches!(&e, HashStructError::Custom { message, .. } if message.contains("missing field `name`")),
            "{e:?}"
        );
    }

    #[test]
    fn unknown_fields_are_ignored_unless_denied() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct Open {
            a: i32,
        }
        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Closed {
            a: i32,
        }
        let hash = pairs(&[("a", b"1"), ("extra", b"[1, 2]"), (("\u{fffd}"), b"x")]);
        assert_eq!(from_pairs::<Open>(&hash).unwrap(), Open { a: 1 });
        let e = from_pairs::<Closed>(&hash).unwrap_err();
        assert!(matches!(e, HashStructError::Custom { .. }), "{e:?}");
        // A field name that is not UTF-8 matches nothing, and is skipped.
        let binary = vec![
            (Bytes::from_static(b"\xff"), Bytes::from_static(b"x")),
            (Bytes::from_static(b"a"), Bytes::from_static(b"2")),
        ];
        assert_eq!(from_pairs::<Open>(&binary).unwrap(), Open { a: 2 });
    }

    #[test]
    fn enums_read_unit_variants_by_name_only() {
        #[derive(Debug, PartialEq, Deserialize)]
        enum Shape {
            Dot,
            Circle(f64),
            Rect { w: u32 },
        }
        #[derive(Debug, PartialEq, Deserialize)]
        struct S {
            shape: Shape,
        }
        let s: S = from_pairs(&pairs(&[("shape", b"Dot")])).unwrap();
        assert_eq!(s.shape, Shape::Dot);
        for name in ["Circle", "Rect"] {
            let e = from_pairs::<S>(&pairs(&[("shape", name.as_bytes())])).unwrap_err();
            assert_eq!(
                e,
                HashStructError::Unsupported {
                    field: "shape".into(),
                    kind: "enum variant with data"
                }
            );
        }
        // An unknown name is an error that lists the names, without quoting the value.
        let e = from_pairs::<S>(&pairs(&[("shape", b"s3cr3t")])).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("shape") && msg.contains("Dot"), "{msg}");
        assert!(!msg.contains("s3cr3t"), "{msg}");
    }

    #[test]
    fn error_messages_never_quote_a_value() {
        // A `Deserialize` that rejects a value through `invalid_value` / `invalid_type`.
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct T {
            n: std::num::NonZeroU32,
            flag: Option<Flagged>,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Flagged(bool);
        for hash in [
            pairs(&[("n", b"0")]),
            pairs(&[("n", b"hunter2")]),
            pairs(&[("n", b"1"), ("flag", b"hunter2")]),
        ] {
            let e = from_pairs::<T>(&hash).unwrap_err();
            let msg = format!("{e} {e:?}");
            assert!(!msg.contains("hunter2"), "{msg}");
            assert!(msg.contains("`n`") || msg.contains("`flag`"), "{msg}");
        }
    }

    #[test]
    fn fields_that_are_not_flat_are_refused_when_reading() {
        #[derive(Debug, Deserialize)]
        struct Inner {
            _x: i32,
        }
        macro_rules! refused {
            ($t:ty, $kind:literal) => {{
                #[derive(Debug, Deserialize)]
                #[allow(dead_code)]
                struct T {
                    f: $t,
                }
                let e = from_pairs::<T>(&pairs(&[("f", b"1")])).unwrap_err();
                assert_eq!(
                    e,
                    HashStructError::Unsupported {
                        field: "f".into(),
                        kind: $kind
                    }
                );
            }};
        }
        refused!(Inner, "struct");
        refused!(Vec<i32>, "sequence");
        refused!(HashMap<String, i32>, "map");
        refused!((i32, i32), "tuple");
        refused!((), "unit");
    }

    #[test]
    fn values_that_are_not_flat_are_refused_when_writing() {
        #[derive(Serialize)]
        struct Inner {
            x: i32,
        }
        #[derive(Serialize)]
        enum Data {
            New(i32),
            Tuple(i32, i32),
            Struct { x: i32 },
        }
        macro_rules! refused {
            ($value:expr, $kind:literal) => {{
                #[derive(Serialize)]
                struct T<V> {
                    ok: i32,
                    f: V,
                }
                let e = to_pairs(&T { ok: 1, f: $value }).unwrap_err();
                assert_eq!(
                    e,
                    HashStructError::Unsupported {
                        field: "f".into(),
                        kind: $kind
                    }
                );
            }};
        }
        refused!(Inner { x: 1 }, "struct");
        refused!(vec![1, 2], "sequence");
        refused!(HashMap::from([("a", 1)]), "map");
        refused!((1, 2), "tuple");
        refused!((), "unit");
        refused!(Some(vec![1]), "sequence");
        refused!(Data::New(1), "enum variant with data");
        refused!(Data::Tuple(1, 2), "enum variant with data");
        refused!(Data::Struct { x: 1 }, "enum variant with data");

        // The top level must be a struct.
        assert_eq!(
            to_pairs(&5i64).unwrap_err(),
            HashStructError::NotAStruct { kind: "i64" }
        );
        assert_eq!(
            to_pairs(&vec![1]).unwrap_err(),
            HashStructError::NotAStruct { kind: "sequence" }
        );
        assert_eq!(
            to_pairs(&HashMap::from([("a", 1)])).unwrap_err(),
            HashStructError::NotAStruct { kind: "map" }
        );
        assert_eq!(
            to_pairs(&Some(Inner { x: 1 })).unwrap_err(),
            HashStructError::NotAStruct { kind: "option" }
        );
        assert_eq!(
            to_pairs(&Data::Struct { x: 1 }).unwrap_err(),
            HashStructError::NotAStruct {
                kind: "enum variant"
            }
        );
        // A newtype around a struct is that struct.
        #[derive(Serialize)]
        struct Wrapper(Inner);
        assert_eq!(
            to_pairs(&Wrapper(Inner { x: 4 })).unwrap(),
            vec![("x", b"4".to_vec())]
        );
    }

    #[test]
    fn errors_from_a_serialize_impl_name_the_field() {
        struct Fails;
        impl Serialize for Fails {
            fn serialize<S: ser::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(ser::Error::custom("no way"))
            }
        }
        #[derive(Serialize)]
        struct T {
            f: Fails,
        }
        assert_eq!(
            to_pairs(&T { f: Fails }).unwrap_err(),
            HashStructError::Custom {
                field: Some("f".into()),
                message: "no way".into()
            }
        );
    }

    #[test]
    fn replies_convert_under_resp2_and_resp3() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct P {
            a: i64,
            b: bool,
        }
        let bulk = |s: &'static str| Frame::from(s);
        let resp2 = Frame::Array(vec![bulk("a"), bulk("1"), bulk("b"), bulk("true")]);
        let resp3 = Frame::Map(vec![(bulk("a"), bulk("1")), (bulk("b"), bulk("true"))]);
        let want = Some(P { a: 1, b: true });
        assert_eq!(from_reply::<P>(resp2).unwrap(), want);
        assert_eq!(from_reply::<P>(resp3).unwrap(), want);
        // An empty hash (a missing key) is None, not an error.
        assert_eq!(from_reply::<P>(Frame::Array(vec![])).unwrap(), None);
        assert_eq!(from_reply::<P>(Frame::Map(vec![])).unwrap(), None);
        // A bad value is Error::HashStruct; a reply of another shape a conversion error.
        let bad = Frame::Array(vec![bulk("a"), bulk("x"), bulk("b"), bulk("1")]);
        assert!(matches!(
            from_reply::<P>(bad),
            Err(Error::HashStruct(HashStructError::Invalid { .. }))
        ));
        assert!(matches!(
            from_reply::<P>(Frame::Integer(3)),
            Err(Error::Conversion(_))
        ));
    }
}
