//! Builds [`ErrorCode`](super::ErrorCode) from the generated table in `error_code.rs`.

macro_rules! error_codes {
    ($(($code:literal, $variant:ident, $name:literal, $retriable:literal, $message:literal)),* $(,)?) => {
        /// A Kafka error code, as in Kafka's `Errors` table. Codes this table does not
        /// know are kept as [`ErrorCode::Unknown`], never collapsed into another.
        ///
        /// ```
        /// use kasio_core::protocol::ErrorCode;
        /// let e = ErrorCode::from_code(6);
        /// assert_eq!(e, ErrorCode::NotLeaderOrFollower);
        /// assert!(e.is_retriable());
        /// assert_eq!(e.name(), "NOT_LEADER_OR_FOLLOWER");
        /// assert_eq!(ErrorCode::from_code(9999).code(), 9999);
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                #[doc = $message]
                $variant,
            )*
            /// A code this table does not list.
            Unknown(i16),
        }

        impl ErrorCode {
            /// The error for a wire code.
            pub const fn from_code(code: i16) -> Self {
                match code {
                    $($code => Self::$variant,)*
                    other => Self::Unknown(other),
                }
            }

            /// The wire code.
            pub const fn code(self) -> i16 {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Unknown(code) => code,
                }
            }

            /// Kafka's name for the error (`"UNKNOWN"` for codes not in the table).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                    Self::Unknown(_) => "UNKNOWN",
                }
            }

            /// Whether retrying the same request may succeed (Kafka's `RetriableException`).
            pub const fn is_retriable(self) -> bool {
                match self {
                    $(Self::$variant => $retriable,)*
                    Self::Unknown(_) => false,
                }
            }

            /// Kafka's description of the error.
            pub const fn message(self) -> &'static str {
                match self {
                    $(Self::$variant => $message,)*
                    Self::Unknown(_) => "An error code kasio does not know.",
                }
            }

            /// Every error this table lists (not `Unknown`), in code order.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant,)*];
        }
    };
}
