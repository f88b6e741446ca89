//! `kafka_struct!`: one description per message struct, from which the struct, its
//! `Default` (the schema's defaults), its encoder and its nom decoder are derived.
//!
//! A description lists the fields in wire order, each with the versions it exists in
//! and, optionally, the versions in which it may be null, its tag (a tagged field of
//! flexible versions) and its default:
//!
//! ```text
//! kafka_struct! {
//!     /// One partition to fetch.
//!     pub struct FetchPartition {
//!         /// The partition index.
//!         pub partition: i32 [0..],
//!         pub current_leader_epoch: i32 [ignorable 9.., default -1],
//!         pub replica_directory_id: Uuid [ignorable 17.., tag 0],
//!     }
//! }
//! ```
//!
//! `ignorable` marks a field that may be silently dropped when the version being
//! encoded lacks it; for any other field a non-default value in such a version is an
//! [`EncodeError::FieldNotInVersion`](super::EncodeError::FieldNotInVersion), as in the
//! Java client.

/// A version range from a description (`12..`, `0..=14`).
#[doc(hidden)]
#[macro_export]
macro_rules! __kafka_versions {
    ($v:expr; $lo:literal $op:tt $($hi:literal)?) => {
        ($lo $op $($hi)?).contains(&$v)
    };
}

/// Whether a field may be null at version `$v`.
#[doc(hidden)]
#[macro_export]
macro_rules! __kafka_nullable {
    ($v:expr;) => { false };
    ($v:expr; $lo:literal $op:tt $($hi:literal)?) => { ($lo $op $($hi)?).contains(&$v) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __kafka_tag {
    () => {
        ::core::option::Option::<u32>::None
    };
    ($tag:literal) => {
        ::core::option::Option::<u32>::Some($tag)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __kafka_default {
    ($ty:ty;) => {
        <$ty as ::core::default::Default>::default()
    };
    ($ty:ty; $def:expr) => {{
        let value: $ty = $def;
        value
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __kafka_ignorable {
    () => {
        false
    };
    (ignorable) => {
        true
    };
}

/// Describes a Kafka message struct; see the [module documentation](self).
#[macro_export]
macro_rules! kafka_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty [
                    $($ign:ident)? $vlo:literal $vop:tt $($vhi:literal)?
                    $(, nullable $nlo:literal $nop:tt $($nhi:literal)?)?
                    $(, tag $tag:literal)?
                    $(, default $def:expr)?
                ]
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl ::core::default::Default for $name {
            fn default() -> Self {
                Self { $( $field: $crate::__kafka_default!($ty; $($def)?), )* }
            }
        }

        impl $crate::codec::Field for $name {
            fn min_size(cx: $crate::codec::Cx<'_>) -> usize {
                let v = cx.version;
                let mut n = usize::from(cx.flexible);
                $(
                    if $crate::__kafka_tag!($($tag)?).is_none() && $crate::__kafka_versions!(v; $vlo $vop $($vhi)?) {
                        n += <$ty as $crate::codec::Field>::min_size(cx);
                    }
                )*
                n
            }

            #[allow(unused_comparisons)]
            fn put(
                &self,
                cx: $crate::codec::Cx<'_>,
                buf: &mut ::bytes::BytesMut,
            ) -> ::core::result::Result<(), $crate::codec::EncodeError> {
                let v = cx.version;
                $(
                    let in_version = $crate::__kafka_versions!(v; $vlo $vop $($vhi)?);
                    if in_version && $crate::__kafka_tag!($($tag)?).is_none() {
                        let fcx = cx.with_nullable($crate::__kafka_nullable!(v; $($nlo $nop $($nhi)?)?));
                        $crate::codec::Field::put(&self.$field, fcx, buf)
                            .map_err(|e| e.in_field(stringify!($name), stringify!($field), v))?;
                    } else if !in_version
                        && !$crate::__kafka_ignorable!($($ign)?)
                        && self.$field != $crate::__kafka_default!($ty; $($def)?)
                    {
                        // Tagged or not: a value the version cannot carry is an error
                        // unless the schema says it may be dropped.
                        return Err($crate::codec::EncodeError::FieldNotInVersion {
                            within: stringify!($name),
                            field: stringify!($field),
                            version: v,
                        });
                    }
                )*
                if cx.flexible {
                    let mut count = 0u32;
                    $(
                        if $crate::__kafka_tag!($($tag)?).is_some()
                            && $crate::__kafka_versions!(v; $vlo $vop $($vhi)?)
                            && self.$field != $crate::__kafka_default!($ty; $($def)?)
                        {
                            count += 1;
                        }
                    )*
                    $crate::codec::primitives::put_unsigned_varint(buf, count);
                    $(
                        if let ::core::option::Option::Some(tag) = $crate::__kafka_tag!($($tag)?) {
                            if $crate::__kafka_versions!(v; $vlo $vop $($vhi)?)
                                && self.$field != $crate::__kafka_default!($ty; $($def)?)
                            {
                                let fcx = cx.with_nullable($crate::__kafka_nullable!(v; $($nlo $nop $($nhi)?)?));
                                $crate::codec::put_tagged_field(tag, &self.$field, fcx, buf)
                                    .map_err(|e| e.in_field(stringify!($name), stringify!($field), v))?;
                            }
                        }
                    )*
                }
                Ok(())
            }

            #[allow(unused_comparisons)]
            fn get<'a>(cx: $crate::codec::Cx<'_>, input: &'a [u8]) -> $crate::codec::PResult<'a, Self> {
                let v = cx.version;
                let mut this = <Self as ::core::default::Default>::default();
                let mut input = input;
                $(
                    if $crate::__kafka_tag!($($tag)?).is_none() && $crate::__kafka_versions!(v; $vlo $vop $($vhi)?) {
                        let fcx = cx.with_nullable($crate::__kafka_nullable!(v; $($nlo $nop $($nhi)?)?));
                        let (rest, value) = <$ty as $crate::codec::Field>::get(fcx, input)
                            .map_err(|e| e.map(|e| e.in_field(stringify!($name), stringify!($field))))?;
                        this.$field = value;
                        input = rest;
                    }
                )*
                if cx.flexible {
                    let (rest, ()) = $crate::codec::get_tagged_fields(input, |tag, data| {
                        $(
                            if $crate::__kafka_tag!($($tag)?) == ::core::option::Option::Some(tag)
                                && $crate::__kafka_versions!(v; $vlo $vop $($vhi)?)
                            {
                                let fcx = cx.with_nullable($crate::__kafka_nullable!(v; $($nlo $nop $($nhi)?)?));
                                let (_, value) = <$ty as $crate::codec::Field>::get(fcx, data)
                                    .map_err(|e| e.map(|e| e.in_field(stringify!($name), stringify!($field))))?;
                                this.$field = value;
                                return Ok(true);
                            }
                        )*
                        let _ = (tag, data);
                        Ok(false)
                    })?;
                    input = rest;
                }
                Ok((input, this))
            }

            #[cfg(feature = "arbitrary")]
            fn arbitrary_field(
                u: &mut ::arbitrary::Unstructured<'_>,
                cx: $crate::codec::Cx<'_>,
            ) -> ::arbitrary::Result<Self> {
                let v = cx.version;
                let mut this = <Self as ::core::default::Default>::default();
                $(
                    let tagged = $crate::__kafka_tag!($($tag)?).is_some();
                    if $crate::__kafka_versions!(v; $vlo $vop $($vhi)?) && (!tagged || cx.flexible) {
                        let fcx = cx.with_nullable($crate::__kafka_nullable!(v; $($nlo $nop $($nhi)?)?));
                        this.$field = <$ty as $crate::codec::Field>::arbitrary_field(u, fcx)?;
                    }
                )*
                Ok(this)
            }

            #[cfg(feature = "defmt")]
            fn format_field(&self, f: ::defmt::Formatter<'_>) {
                ::defmt::write!(f, "{=str} {{", stringify!($name));
                $(
                    ::defmt::write!(f, " {=str}: ", stringify!($field));
                    $crate::codec::Field::format_field(&self.$field, f);
                )*
                ::defmt::write!(f, " }}");
            }
        }

        impl $crate::codec::Nullable for $name {
            fn get_nullable<'a>(
                cx: $crate::codec::Cx<'_>,
                input: &'a [u8],
            ) -> $crate::codec::PResult<'a, ::core::option::Option<Self>> {
                // A nullable struct is preceded by int8: -1 for null, 1 for present.
                let (rest, marker) = $crate::codec::primitives::int8(input)?;
                if marker < 0 {
                    return Ok((rest, None));
                }
                let (rest, value) = <Self as $crate::codec::Field>::get(cx, rest)?;
                Ok((rest, Some(value)))
            }
            fn put_null(_cx: $crate::codec::Cx<'_>, buf: &mut ::bytes::BytesMut) {
                ::bytes::BufMut::put_i8(buf, -1);
            }
            fn put_present(
                &self,
                cx: $crate::codec::Cx<'_>,
                buf: &mut ::bytes::BytesMut,
            ) -> ::core::result::Result<(), $crate::codec::EncodeError> {
                ::bytes::BufMut::put_i8(buf, 1);
                $crate::codec::Field::put(self, cx, buf)
            }
        }

        #[cfg(feature = "defmt")]
        impl ::defmt::Format for $name {
            fn format(&self, f: ::defmt::Formatter<'_>) {
                $crate::codec::Field::format_field(self, f)
            }
        }

    };
}
