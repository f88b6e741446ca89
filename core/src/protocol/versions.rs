//! API version negotiation: from a broker's ApiVersions response, the highest version
//! of each API that both sides speak, and the fallback when the broker does not know
//! the ApiVersions version we asked with.

use bytes::Bytes;

use super::messages::ApiVersionsResponse;
use super::{ApiKey, ErrorCode, Message};
use crate::codec::primitives;
use crate::codec::DecodeError;

/// The version of each API to use with one broker. APIs the broker lacks (tansu has
/// no OffsetForLeaderEpoch, for example) are `None`: the caller skips what needs them,
/// as the Java client does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NegotiatedVersions {
    /// Indexed like [`ApiKey::ALL`].
    versions: [Option<i16>; ApiKey::ALL.len()],
}

impl NegotiatedVersions {
    /// Intersects what the broker offers with `ours` (the range kasio wants for each
    /// API; by default the codec's whole range, see [`ApiKey::versions`]).
    pub fn from_response(resp: &ApiVersionsResponse, ours: impl Fn(ApiKey) -> (i16, i16)) -> Self {
        let mut out = Self::default();
        for entry in &resp.api_keys {
            let Some(api) = ApiKey::from_i16(entry.api_key) else {
                continue;
            };
            let (our_min, our_max) = ours(api);
            let best = our_max.min(entry.max_version);
            if best >= our_min.max(entry.min_version) {
                out.versions[Self::index(api)] = Some(best);
            }
        }
        out
    }

    /// The version to use for `api`, or `None` when there is no common version.
    pub fn version(&self, api: ApiKey) -> Option<i16> {
        self.versions[Self::index(api)]
    }

    fn index(api: ApiKey) -> usize {
        // ALL is short and fixed; a scan keeps this table independent of key values.
        ApiKey::ALL.iter().position(|&k| k == api).unwrap_or(0)
    }
}

/// The ApiVersions exchange at the start of every connection.
///
/// ```
/// use kasio_core::protocol::{ApiKey, ApiVersionsNegotiation};
/// let n = ApiVersionsNegotiation::new();
/// assert_eq!(n.request_version(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ApiVersionsNegotiation {
    version: i16,
}

/// What to do after an ApiVersions response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NegotiationOutcome {
    /// Versions are agreed.
    Done(NegotiatedVersions),
    /// The broker does not speak our ApiVersions version: ask again with this one.
    Retry(i16),
    /// The broker answered with an error other than UNSUPPORTED_VERSION.
    Failed(ErrorCode),
}

impl Default for ApiVersionsNegotiation {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiVersionsNegotiation {
    /// Starts with the highest ApiVersions version kasio speaks.
    pub fn new() -> Self {
        Self {
            version: ApiKey::ApiVersions.versions().1,
        }
    }

    /// Starts at `version` (clamped to what kasio speaks), e.g. to replay a capture.
    pub fn starting_at(version: i16) -> Self {
        let (lo, hi) = ApiKey::ApiVersions.versions();
        Self {
            version: version.clamp(lo, hi),
        }
    }

    /// The version to send the ApiVersions request with.
    pub fn request_version(&self) -> i16 {
        self.version
    }

    /// Decodes an ApiVersions response body to the request sent at
    /// [`request_version`](Self::request_version). A broker that does not speak that
    /// version answers in version 0 with UNSUPPORTED_VERSION (the error code comes
    /// first in every version), so such a body is read as version 0.
    ///
    /// Brokers are not all careful with that reply (librdkafka's mock cluster writes
    /// a body that parses as neither version), and all it needs to say is "lower":
    /// an UNSUPPORTED_VERSION body that does not decode counts as that alone.
    pub fn decode_response(&self, body: &Bytes) -> Result<(ApiVersionsResponse, i16), DecodeError> {
        let unsupported = matches!(primitives::int16(body), Ok((_, code)) if code == ErrorCode::UnsupportedVersion.code());
        if !unsupported {
            return ApiVersionsResponse::decode(self.version, body).map(|r| (r, self.version));
        }
        let resp = ApiVersionsResponse::decode(0, body).unwrap_or_else(|_| ApiVersionsResponse {
            error_code: ErrorCode::UnsupportedVersion.code(),
            ..Default::default()
        });
        Ok((resp, 0))
    }

    /// Digests a decoded response. On UNSUPPORTED_VERSION the retry uses the highest
    /// ApiVersions version the broker listed (as the Java client does), else version 0.
    pub fn on_response(
        &mut self,
        resp: &ApiVersionsResponse,
        ours: impl Fn(ApiKey) -> (i16, i16),
    ) -> NegotiationOutcome {
        match ErrorCode::from_code(resp.error_code) {
            ErrorCode::None => {
                NegotiationOutcome::Done(NegotiatedVersions::from_response(resp, ours))
            }
            ErrorCode::UnsupportedVersion => {
                let theirs = resp
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions.key())
                    .map(|k| k.max_version)
                    .unwrap_or(0);
                let next = theirs.min(self.version - 1).max(0);
                if next == self.version || self.version == 0 {
                    return NegotiationOutcome::Failed(ErrorCode::UnsupportedVersion);
                }
                self.version = next;
                NegotiationOutcome::Retry(next)
            }
            other => NegotiationOutcome::Failed(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::api_versions_response::ApiVersion;
    use alloc::vec;

    fn resp(error: i16, keys: &[(i16, i16, i16)]) -> ApiVersionsResponse {
        ApiVersionsResponse {
            error_code: error,
            api_keys: keys
                .iter()
                .map(|&(api_key, min_version, max_version)| ApiVersion {
                    api_key,
                    min_version,
                    max_version,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn picks_highest_common_version_and_marks_missing_apis() {
        let r = resp(
            0,
            &[(1, 4, 13), (3, 0, 20), (18, 0, 3), (23, 5, 9), (999, 0, 1)],
        );
        let v = NegotiatedVersions::from_response(&r, ApiKey::versions);
        assert_eq!(v.version(ApiKey::Fetch), Some(13));
        assert_eq!(v.version(ApiKey::Metadata), Some(12));
        assert_eq!(v.version(ApiKey::ApiVersions), Some(3));
        // broker min 5 > our max 4: no common version
        assert_eq!(v.version(ApiKey::OffsetForLeaderEpoch), None);
        // not offered at all (tansu has no ConsumerGroupHeartbeat)
        assert_eq!(v.version(ApiKey::ConsumerGroupHeartbeat), None);
    }

    #[test]
    fn unsupported_version_retries_lower_then_succeeds() {
        let mut n = ApiVersionsNegotiation::new();
        assert_eq!(n.request_version(), 4);
        assert_eq!(
            n.on_response(&resp(35, &[(18, 0, 2)]), ApiKey::versions),
            NegotiationOutcome::Retry(2)
        );
        assert_eq!(n.request_version(), 2);
        let mut n = ApiVersionsNegotiation::new();
        assert_eq!(
            n.on_response(&resp(35, &[]), ApiKey::versions),
            NegotiationOutcome::Retry(0)
        );
        assert_eq!(
            n.on_response(&resp(35, &[]), ApiKey::versions),
            NegotiationOutcome::Failed(ErrorCode::UnsupportedVersion)
        );
        let mut n = ApiVersionsNegotiation::new();
        assert_eq!(
            n.on_response(&resp(31, &[]), ApiKey::versions),
            NegotiationOutcome::Failed(ErrorCode::ClusterAuthorizationFailed)
        );
        assert!(matches!(
            n.on_response(&resp(0, &[(18, 0, 4)]), ApiKey::versions),
            NegotiationOutcome::Done(_)
        ));
        let _ = vec![0];
    }

    #[test]
    fn v0_error_body_is_read_as_v0() {
        // error 35, api_keys [ (18, 0, 2) ] in v0 (classic array)
        let body = Bytes::from_static(&[0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 2]);
        let n = ApiVersionsNegotiation::new();
        let (r, version) = n.decode_response(&body).unwrap();
        assert_eq!(version, 0);
        assert_eq!(r.error_code, 35);
        assert_eq!(r.api_keys.len(), 1);
        assert_eq!(r.api_keys[0].max_version, 2);
    }
}
