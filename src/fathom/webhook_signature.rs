//! Standard Webhooks (symmetric `v1`) signatures, as Fathom signs its deliveries: verification for
//! the receiver and signing for the simulator.
//!
//! Signed content is `webhook-id.webhook-timestamp.raw-body`; the key is the base64 secret after the
//! `whsec_` prefix. Only `v1` entries of the space-separated signature header count.
//!
//! The cost of refusing a forgery is bounded before anything is proven: the headers' shape (length,
//! number of entries) and the timestamp are checked without the body, and then each secret's MAC is
//! computed once and compared in constant time with each of the few entries allowed.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Largest allowed distance between the delivery's timestamp and now, in seconds (inclusive).
pub const TOLERANCE_SECONDS: u64 = 300;
/// Most signature entries a header may carry (Standard Webhooks sends several only while a secret
/// is being rotated).
pub const MAX_SIGNATURE_ENTRIES: usize = 8;
/// Longest `webhook-signature` header accepted, in bytes.
pub const MAX_SIGNATURE_HEADER_BYTES: usize = 1024;
/// Longest `webhook-id` accepted, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A `webhook-*` header is absent or not text.
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not an integer.
    #[error("the webhook-timestamp header is not an integer")]
    BadTimestamp,
    /// The timestamp is more than five minutes from now.
    #[error("the webhook-timestamp is outside the five-minute tolerance")]
    Stale,
    /// The signature header has too many entries, or a header is too long.
    #[error("the {0} header is too long or has too many entries")]
    Oversized(&'static str),
    /// No `v1` signature matched any secret.
    #[error("no signature matched")]
    NoMatch,
}

/// A secret that cannot verify anything (empty, or not base64).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook secret is empty or not base64")]
pub struct InvalidSecret;

/// A webhook secret's key bytes. `Debug` does not show them.
#[derive(Clone)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>` (or bare base64), padded or not. No minimum length: Fathom's own
    /// documented secret is 18 bytes.
    pub fn parse(secret: &str) -> Result<WebhookSecret, InvalidSecret> {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        if encoded.is_empty() {
            return Err(InvalidSecret);
        }
        let key = STANDARD
            .decode(encoded)
            .or_else(|_| STANDARD_NO_PAD.decode(encoded))
            .map_err(|_| InvalidSecret)?;
        if key.is_empty() {
            return Err(InvalidSecret);
        }
        Ok(WebhookSecret { key })
    }

    fn mac(&self, msg_id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header value for a delivery (`v1,<base64>`).
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self
            .mac(msg_id, &timestamp.to_string(), body)
            .finalize()
            .into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// This secret's tag over the delivery.
    fn tag(&self, msg_id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
        self.mac(msg_id, timestamp, body)
            .finalize()
            .into_bytes()
            .into()
    }
}

/// The three Standard Webhooks headers of a delivery, as received.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
}

impl<'a> SignedHeaders<'a> {
    /// Reads the headers; a missing one is named in the error, an oversized one refused.
    pub fn from_headers(headers: &'a HeaderMap) -> Result<SignedHeaders<'a>, SignatureError> {
        let get = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(SignatureError::MissingHeader(name))
        };
        let signed = SignedHeaders {
            id: get("webhook-id")?,
            timestamp: get("webhook-timestamp")?,
            signature: get("webhook-signature")?,
        };
        if signed.id.len() > MAX_ID_BYTES {
            return Err(SignatureError::Oversized("webhook-id"));
        }
        signed.candidates()?;
        Ok(signed)
    }

    /// The decoded `v1` tags of the signature header: at most [`MAX_SIGNATURE_ENTRIES`] entries
    /// in a header of at most [`MAX_SIGNATURE_HEADER_BYTES`]; entries of other versions, or not
    /// 32 bytes of base64, can never match and are left out.
    fn candidates(&self) -> Result<Vec<[u8; 32]>, SignatureError> {
        let oversized = SignatureError::Oversized("webhook-signature");
        if self.signature.len() > MAX_SIGNATURE_HEADER_BYTES {
            return Err(oversized);
        }
        let entries: Vec<&str> = self.signature.split_whitespace().collect();
        if entries.len() > MAX_SIGNATURE_ENTRIES {
            return Err(oversized);
        }
        Ok(entries
            .into_iter()
            .filter_map(|entry| entry.split_once(','))
            .filter(|(version, _)| *version == "v1")
            .filter_map(|(_, value)| STANDARD.decode(value).ok())
            .filter_map(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .collect())
    }

    /// Checks the timestamp against `now` (Unix seconds), without looking at signatures.
    pub fn check_timestamp(&self, now: i64) -> Result<i64, SignatureError> {
        let timestamp: i64 = self
            .timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::BadTimestamp)?;
        if now.abs_diff(timestamp) > TOLERANCE_SECONDS {
            return Err(SignatureError::Stale);
        }
        Ok(timestamp)
    }

    /// Verifies the delivery against each secret in turn; returns the index of the one that signed
    /// it. Each secret's MAC over the body is computed once, whatever the header holds.
    pub fn verify(
        &self,
        secrets: &[WebhookSecret],
        body: &[u8],
        now: i64,
    ) -> Result<usize, SignatureError> {
        self.check_timestamp(now)?;
        let candidates = self.candidates()?;
        if candidates.is_empty() {
            return Err(SignatureError::NoMatch);
        }
        secrets
            .iter()
            .position(|secret| {
                let tag = secret.tag(self.id, self.timestamp, body);
                // Every candidate is compared, so timing says nothing about which one was close.
                candidates
                    .iter()
                    .fold(subtle::Choice::from(0), |any, c| any | c.ct_eq(&tag))
                    .into()
            })
            .ok_or(SignatureError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};
    use serde_json::Value;

    fn vectors() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/fathom/standard_webhooks_vectors.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("vectors file"))
            .expect("vectors json")
    }

    fn vector<'a>(all: &'a Value, id: &str) -> &'a Value {
        all["positive"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == id)
            .unwrap()
    }

    fn header_map(headers: &Value) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in headers.as_object().unwrap() {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
            );
        }
        map
    }

    fn check(case: &Value, payload: &str, secret: &str) -> Result<usize, SignatureError> {
        let map = header_map(&case["headers"]);
        let headers = SignedHeaders::from_headers(&map)?;
        headers.verify(
            &[WebhookSecret::parse(secret).unwrap()],
            payload.as_bytes(),
            case["now"].as_i64().unwrap(),
        )
    }

    #[test]
    fn published_positive_vectors_sign_and_verify() {
        let all = vectors();
        for v in all["positive"].as_array().unwrap() {
            let secret = WebhookSecret::parse(v["secret"].as_str().unwrap()).unwrap();
            let payload = v["payload"].as_str().unwrap();
            let msg_id = v["msg_id"].as_str().unwrap();
            let timestamp = v["timestamp"].as_i64().unwrap();
            let expected = v["expected_signature"].as_str().unwrap();
            assert_eq!(
                secret.sign(msg_id, timestamp, payload.as_bytes()),
                expected,
                "vector {}",
                v["id"]
            );
            let headers = SignedHeaders {
                id: msg_id,
                timestamp: &timestamp.to_string(),
                signature: expected,
            };
            assert_eq!(
                headers.verify(&[secret], payload.as_bytes(), v["now"].as_i64().unwrap()),
                Ok(0)
            );
        }
    }

    #[test]
    fn header_cases_that_must_verify_do() {
        let all = vectors();
        for case in all["header_cases_must_verify"].as_array().unwrap() {
            let v = vector(&all, case["vector"].as_str().unwrap());
            let payload = case["payload_override"]
                .as_str()
                .unwrap_or_else(|| v["payload"].as_str().unwrap());
            assert!(
                check(case, payload, v["secret"].as_str().unwrap()).is_ok(),
                "case {}",
                case["id"]
            );
        }
    }

    #[test]
    fn every_negative_case_is_refused() {
        let all = vectors();
        let negatives = all["negative"].as_array().unwrap();
        assert_eq!(negatives.len(), 16);
        for case in negatives {
            let v = vector(&all, case["vector"].as_str().unwrap());
            let payload = case["payload_override"]
                .as_str()
                .unwrap_or_else(|| v["payload"].as_str().unwrap());
            assert!(
                check(case, payload, v["secret"].as_str().unwrap()).is_err(),
                "case {} must fail",
                case["id"]
            );
        }
    }

    #[test]
    fn invalid_secrets_are_refused() {
        for s in vectors()["invalid_secrets"].as_array().unwrap() {
            assert_eq!(
                WebhookSecret::parse(s["secret"].as_str().unwrap()).unwrap_err(),
                InvalidSecret
            );
        }
        assert!(
            WebhookSecret::parse("whsec_x6EV6NIAAz3ldclszNJTwrow").is_ok(),
            "Fathom's 18-byte example"
        );
        assert!(WebhookSecret::parse("whsec_not base64!").is_err());
    }

    #[test]
    fn the_right_secret_among_several_is_found() {
        let all = vectors();
        let c = vector(&all, "C");
        let other = WebhookSecret::parse(vector(&all, "A")["secret"].as_str().unwrap()).unwrap();
        let right = WebhookSecret::parse(c["secret"].as_str().unwrap()).unwrap();
        let ts = c["timestamp"].as_i64().unwrap().to_string();
        let headers = SignedHeaders {
            id: c["msg_id"].as_str().unwrap(),
            timestamp: &ts,
            signature: c["expected_signature"].as_str().unwrap(),
        };
        let body = c["payload"].as_str().unwrap().as_bytes();
        assert_eq!(
            headers.verify(&[other.clone(), right], body, c["now"].as_i64().unwrap()),
            Ok(1)
        );
        assert_eq!(
            headers.verify(&[other], body, c["now"].as_i64().unwrap()),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn missing_headers_and_bad_timestamps_are_named() {
        let empty = HeaderMap::new();
        assert_eq!(
            SignedHeaders::from_headers(&empty).unwrap_err(),
            SignatureError::MissingHeader("webhook-id")
        );
        let h = SignedHeaders {
            id: "m",
            timestamp: "x",
            signature: "v1,AAAA",
        };
        assert_eq!(h.check_timestamp(0), Err(SignatureError::BadTimestamp));
        let h = SignedHeaders {
            id: "m",
            timestamp: "1000",
            signature: "v1,AAAA",
        };
        assert_eq!(h.check_timestamp(1300), Ok(1000), "exactly 300 s passes");
        assert_eq!(h.check_timestamp(1301), Err(SignatureError::Stale));
        assert_eq!(h.check_timestamp(699), Err(SignatureError::Stale));
        let extreme = SignedHeaders {
            id: "m",
            timestamp: "-9223372036854775808",
            signature: "v1,AAAA",
        };
        assert_eq!(
            extreme.check_timestamp(1_700_000_000),
            Err(SignatureError::Stale)
        );
        let future = SignedHeaders {
            timestamp: "9223372036854775807",
            ..extreme
        };
        assert_eq!(
            future.check_timestamp(-1_700_000_000),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn headers_with_too_many_or_too_long_signatures_are_refused_before_any_mac() {
        let mut map = HeaderMap::new();
        map.insert("webhook-id", HeaderValue::from_static("msg_1"));
        map.insert("webhook-timestamp", HeaderValue::from_static("1000"));
        let many = ["v1,AAAA"; MAX_SIGNATURE_ENTRIES + 1].join(" ");
        map.insert("webhook-signature", HeaderValue::from_str(&many).unwrap());
        assert_eq!(
            SignedHeaders::from_headers(&map).unwrap_err(),
            SignatureError::Oversized("webhook-signature")
        );
        let long = format!("v1,{}", "A".repeat(MAX_SIGNATURE_HEADER_BYTES));
        map.insert("webhook-signature", HeaderValue::from_str(&long).unwrap());
        assert!(SignedHeaders::from_headers(&map).is_err());
        let enough = ["v1,AAAA"; MAX_SIGNATURE_ENTRIES].join(" ");
        map.insert("webhook-signature", HeaderValue::from_str(&enough).unwrap());
        assert!(SignedHeaders::from_headers(&map).is_ok());
        map.insert(
            "webhook-id",
            HeaderValue::from_str(&"m".repeat(MAX_ID_BYTES + 1)).unwrap(),
        );
        assert_eq!(
            SignedHeaders::from_headers(&map).unwrap_err(),
            SignatureError::Oversized("webhook-id")
        );
    }
}
