//! Errors of the wire codec. Decoding errors are *remote* errors: the peer sent bytes
//! that do not follow the protocol. Encoding errors are *local*: the caller asked for
//! something the chosen version cannot express.

use core::fmt;

/// What was wrong with the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended inside a field.
    Truncated,
    /// A length or count is negative (other than the `-1` that means null).
    NegativeLength,
    /// A length or count claims more elements or bytes than the rest of the input holds.
    LengthExceedsInput,
    /// Null where this version does not allow it.
    UnexpectedNull,
    /// A varint runs past its maximum width.
    VarintTooLong,
    /// A string is not valid UTF-8.
    InvalidUtf8,
    /// The message version is outside the range this implementation knows.
    UnsupportedVersion,
    /// The API key is not one kasio speaks.
    UnknownApiKey,
    /// A frame is larger than the configured maximum.
    FrameTooLarge,
    /// Bytes left over after a message that must fill its frame exactly.
    TrailingBytes,
    /// A field value is outside its domain (e.g. a bad magic byte).
    InvalidValue,
}

impl DecodeErrorKind {
    /// A short description.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Truncated => "input ends inside a field",
            Self::NegativeLength => "negative length",
            Self::LengthExceedsInput => "length exceeds the remaining input",
            Self::UnexpectedNull => "null where this version does not allow it",
            Self::VarintTooLong => "varint too long",
            Self::InvalidUtf8 => "string is not valid UTF-8",
            Self::UnsupportedVersion => "unsupported version",
            Self::UnknownApiKey => "unknown API key",
            Self::FrameTooLarge => "frame larger than the configured maximum",
            Self::TrailingBytes => "trailing bytes after the message",
            Self::InvalidValue => "invalid value",
        }
    }
}

/// Bytes that do not decode. Carries where: the innermost field being decoded and the
/// offset into the input at which decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DecodeError {
    /// What was wrong.
    pub kind: DecodeErrorKind,
    /// The field being decoded (innermost), when known.
    pub field: Option<&'static str>,
    /// The message or struct that holds `field`, when known.
    pub within: Option<&'static str>,
    /// Bytes of input that were left when the error happened; turned into [`offset`]
    /// by the top-level decoder.
    ///
    /// [`offset`]: DecodeError::offset
    pub remaining: usize,
    /// Offset into the decoded buffer where the error happened (set by top-level decoders).
    pub offset: Option<usize>,
}

impl DecodeError {
    /// An error of `kind` with `remaining` bytes of input left.
    pub const fn new(kind: DecodeErrorKind, remaining: usize) -> Self {
        Self {
            kind,
            field: None,
            within: None,
            remaining,
            offset: None,
        }
    }

    /// Names the innermost field, unless an inner decoder already did.
    pub(crate) fn in_field(mut self, within: &'static str, field: &'static str) -> Self {
        if self.field.is_none() {
            self.field = Some(field);
            self.within = Some(within);
        }
        self
    }

    /// Turns `remaining` into an offset into an input of `total` bytes.
    pub(crate) fn at_offset_of(mut self, total: usize) -> Self {
        if self.offset.is_none() {
            self.offset = Some(total.saturating_sub(self.remaining));
        }
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.as_str())?;
        if let (Some(within), Some(field)) = (self.within, self.field) {
            write!(f, " in {within}.{field}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " at byte {offset}")?;
        }
        Ok(())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

impl<'a> nom::error::ParseError<&'a [u8]> for DecodeError {
    fn from_error_kind(input: &'a [u8], kind: nom::error::ErrorKind) -> Self {
        let kind = match kind {
            nom::error::ErrorKind::Eof => DecodeErrorKind::Truncated,
            _ => DecodeErrorKind::Truncated,
        };
        Self::new(kind, input.len())
    }

    fn append(_input: &'a [u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// A value the chosen version cannot express. A local error: the caller built a
/// message that does not fit the negotiated version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The version is outside the message's range.
    UnsupportedVersion {
        /// The message.
        message: &'static str,
        /// The requested version.
        version: i16,
    },
    /// A field is null (`None`) in a version where it may not be.
    NullNotAllowed {
        /// The struct holding the field.
        within: &'static str,
        /// The field.
        field: &'static str,
        /// The version being encoded.
        version: i16,
    },
    /// A field holds a non-default value the version cannot carry (the Java client's
    /// `UnsupportedVersionException` for non-ignorable fields).
    FieldNotInVersion {
        /// The struct holding the field.
        within: &'static str,
        /// The field.
        field: &'static str,
        /// The version being encoded.
        version: i16,
    },
    /// A string, byte string or array is longer than its length prefix can express.
    TooLong {
        /// The struct holding the field.
        within: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A frame's content is longer than its `int32` size prefix can express.
    FrameTooLarge {
        /// The content's length in bytes.
        size: usize,
    },
}

impl EncodeError {
    pub(crate) fn in_field(self, within: &'static str, field: &'static str, version: i16) -> Self {
        match self {
            Self::NullNotAllowed { within: "", .. } => Self::NullNotAllowed {
                within,
                field,
                version,
            },
            Self::TooLong { within: "", .. } => Self::TooLong { within, field },
            other => other,
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedVersion { message, version } => {
                write!(f, "{message} has no version {version}")
            }
            Self::NullNotAllowed {
                within,
                field,
                version,
            } => {
                write!(f, "{within}.{field} may not be null in version {version}")
            }
            Self::FieldNotInVersion {
                within,
                field,
                version,
            } => {
                write!(
                    f,
                    "{within}.{field} is set but version {version} cannot carry it"
                )
            }
            Self::TooLong { within, field } => {
                write!(f, "{within}.{field} is too long for its length prefix")
            }
            Self::FrameTooLarge { size } => {
                write!(f, "a frame of {size} bytes is too long for its size prefix")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

/// The result type of the nom parsers in this crate.
pub type PResult<'a, T> = nom::IResult<&'a [u8], T, DecodeError>;

/// Fails with `kind` at the position `input`.
pub(crate) fn fail<T>(input: &[u8], kind: DecodeErrorKind) -> PResult<'_, T> {
    Err(nom::Err::Error(DecodeError::new(kind, input.len())))
}
