//! Request and response headers, as a broker (request) or the consumer (response)
//! reads a frame, and the ApiVersions negotiation that reads the first response of
//! every connection. The first byte picks what to parse, the rest is the frame.
//! A header that decodes must encode again to the same bytes it was read from.
#![no_main]

use bytes::{Bytes, BytesMut};
use kasio_core::codec::{RequestHeader, ResponseHeader};
use kasio_core::protocol::{ApiKey, ApiVersionsNegotiation, NegotiatedVersions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [which, rest @ ..] = data else { return };
    let frame = Bytes::copy_from_slice(rest);
    match which % 4 {
        // A request frame: peek at api key and version, then decode at the header
        // version they call for (as a broker does).
        0 => {
            let Ok((key, version, corr)) = RequestHeader::peek(&frame) else {
                assert!(frame.len() < 8, "peek fails only on a short frame");
                return;
            };
            let header_version = match ApiKey::from_i16(key) {
                Some(api) if api.versions().0 <= version && version <= api.versions().1 => {
                    api.request_header_version(version)
                }
                _ => 1,
            };
            if let Ok((h, body)) = RequestHeader::decode(header_version, &frame) {
                assert_eq!(
                    (h.api_key, h.api_version, h.correlation_id),
                    (key, version, corr)
                );
                let mut buf = BytesMut::new();
                h.encode(header_version, &mut buf)
                    .expect("a decoded header encodes");
                // Unknown tagged fields are dropped on re-encoding; otherwise the
                // header bytes come back exactly.
                let used = frame.len() - body.len();
                if header_version < 2 {
                    assert_eq!(&buf[..], &frame[..used]);
                }
                let (again, rest) =
                    RequestHeader::decode(header_version, &buf.freeze()).expect("re-decodes");
                assert_eq!(again, h);
                assert!(rest.is_empty());
            }
        }
        // A response frame at either header version.
        1 | 2 => {
            let header_version = i16::from(*which % 4 == 2);
            let peeked = ResponseHeader::peek_correlation_id(&frame);
            match ResponseHeader::decode(header_version, &frame) {
                Ok((h, body)) => {
                    assert_eq!(peeked, Ok(h.correlation_id));
                    assert!(body.len() <= frame.len() - 4);
                }
                Err(_) => assert!(header_version == 1 || frame.len() < 4),
            }
        }
        // The first response of a connection: ApiVersions at any request version,
        // then the negotiation outcome with our versions.
        _ => {
            let Some((&start, body)) = rest.split_first() else {
                return;
            };
            let (lo, hi) = ApiKey::ApiVersions.versions();
            let start = lo + (start as i16) % (hi - lo + 1);
            let neg = ApiVersionsNegotiation::starting_at(start);
            let body = Bytes::copy_from_slice(body);
            if let Ok((resp, version)) = neg.decode_response(&body) {
                assert!(version == start || version == 0);
                let mut n = neg;
                let _ = n.on_response(&resp, ApiKey::versions);
                let v = NegotiatedVersions::from_response(&resp, ApiKey::versions);
                for &api in ApiKey::ALL {
                    if let Some(chosen) = v.version(api) {
                        let (lo, hi) = api.versions();
                        assert!(
                            lo <= chosen && chosen <= hi,
                            "{api:?} v{chosen} outside ours"
                        );
                    }
                }
            }
        }
    }
});
