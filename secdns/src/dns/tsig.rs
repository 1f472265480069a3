//! Transaction signatures (RFC 8945): signing our requests, verifying every message of a
//! response (multi-message transfers included), and the server side for signed NOTIFYs and
//! queries.

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};

use super::message::TsigRecord;
pub use crate::dns::codes::tsig_error::{BADKEY, BADSIG, BADTIME, BADTRUNC};
use crate::{
    dns::{Name, codes::rtype},
    text_forms::{named_schema, string_schema},
    unix_time,
};

/// Seconds of clock difference tolerated (RFC 8945 §10 recommends 300).
pub const FUDGE: u16 = 300;
/// RFC 8945 §5.3.1: at most 99 unsigned messages between two signed ones.
pub const MAX_UNSIGNED_RUN: usize = 99;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    HmacMd5,
    HmacSha1,
    HmacSha224,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

// The names `Algorithm::as_str` gives, as the API's document lists them.
named_schema!(
    Algorithm,
    "TsigAlgorithm",
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(Algorithm::ALL.map(Algorithm::as_str)))
        .description(Some("A TSIG algorithm (RFC 8945)"))
        .into()
);

impl Algorithm {
    pub const ALL: [Algorithm; 6] = [
        Algorithm::HmacMd5,
        Algorithm::HmacSha1,
        Algorithm::HmacSha224,
        Algorithm::HmacSha256,
        Algorithm::HmacSha384,
        Algorithm::HmacSha512,
    ];

    /// The name used in configs and by BIND/Knot (`hmac-sha256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HmacMd5 => "hmac-md5",
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha224 => "hmac-sha224",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// The algorithm's domain name in TSIG records (RFC 8945 §6).
    pub fn wire_name(self) -> &'static [u8] {
        match self {
            Algorithm::HmacMd5 => b"\x08hmac-md5\x07sig-alg\x03reg\x03int\x00",
            Algorithm::HmacSha1 => b"\x09hmac-sha1\x00",
            Algorithm::HmacSha224 => b"\x0bhmac-sha224\x00",
            Algorithm::HmacSha256 => b"\x0bhmac-sha256\x00",
            Algorithm::HmacSha384 => b"\x0bhmac-sha384\x00",
            Algorithm::HmacSha512 => b"\x0bhmac-sha512\x00",
        }
    }

    pub fn from_wire_name(name: &Name) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| Name::from_wire(a.wire_name()).is_ok_and(|n| n == *name))
    }

    pub fn mac_len(self) -> usize {
        match self {
            Algorithm::HmacMd5 => 16,
            Algorithm::HmacSha1 => 20,
            Algorithm::HmacSha224 => 28,
            Algorithm::HmacSha256 => 32,
            Algorithm::HmacSha384 => 48,
            Algorithm::HmacSha512 => 64,
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim_end_matches('.').to_ascii_lowercase();
        let s = s.strip_suffix(".sig-alg.reg.int").unwrap_or(&s);
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown TSIG algorithm {s:?}; known: {}",
                    Self::ALL.map(Algorithm::as_str).join(", ")
                )
            })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub name: Name,
    pub algorithm: Algorithm,
    pub secret: Vec<u8>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        write!(f, "Key({} {})", self.name, self.algorithm)
    }
}

pub fn decode_secret(secret: &str) -> Result<Vec<u8>, String> {
    // Spaces or a newline around it, as a secret pasted from a file or a TOML block has.
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_matches(|c: char| c.is_ascii_whitespace()))
        .map_err(|e| format!("TSIG secret is not valid base64: {e}"))?;
    if bytes.is_empty() {
        return Err("TSIG secret is empty".into());
    }
    Ok(bytes)
}

/// A TSIG secret as [`decode_secret`] reads it, for the API's document: canonical base64
/// (padded, no stray bits in the last character), not empty, ASCII white space around it.
pub struct SecretText;

const SECRET_PATTERN: &str = "^[\\t\\n\\f\\r ]*(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)[\\t\\n\\f\\r ]*$";

named_schema!(
    SecretText,
    "TsigSecret",
    string_schema(
        SECRET_PATTERN,
        None,
        "A TSIG secret in base64, as tsig-keygen and keymgr print it",
    )
);

pub fn encode_secret(secret: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(secret)
}

/// A fresh random secret as long as the algorithm's output (RFC 8945 §6: at least that).
pub fn generate_secret(algorithm: Algorithm) -> Result<Vec<u8>, String> {
    let mut secret = vec![0u8; algorithm.mac_len()];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness for a TSIG secret: {e}"))?;
    Ok(secret)
}

/// Why a TSIG exchange failed, named as operators know them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TsigError {
    #[error("response not signed (TSIG expected with key {0})")]
    Unsigned(String),
    #[error("BADKEY: the primary does not know key {0} or its algorithm")]
    ServerBadKey(String),
    #[error("BADSIG: the primary rejected our signature (wrong secret for key {0}?)")]
    ServerBadSig(String),
    #[error("BADTIME: the primary says our clock is off by more than {FUDGE} s")]
    ServerBadTime,
    #[error("the primary answered with TSIG error {0}")]
    ServerOther(u16),
    #[error("BADKEY: response signed with key {got}, expected {expected}")]
    BadKey { got: String, expected: String },
    #[error("BADSIG: response signature does not verify with key {0}")]
    BadSig(String),
    #[error("BADTIME: response signed {skew} s away from our clock (fudge {fudge} s)")]
    BadTime { skew: i64, fudge: u16 },
    #[error("BADTRUNC: response MAC truncated to {0} bytes")]
    BadTrunc(usize),
    #[error("more than {MAX_UNSIGNED_RUN} unsigned messages in a row")]
    TooManyUnsigned,
    #[error("the last message of the response is not signed")]
    LastUnsigned,
}

impl TsigError {
    /// The RFC 8945 error code a server answers with for this failure.
    pub fn code(&self) -> u16 {
        match self {
            TsigError::BadKey { .. } | TsigError::ServerBadKey(_) => BADKEY,
            TsigError::BadTime { .. } | TsigError::ServerBadTime => BADTIME,
            TsigError::BadTrunc(_) => BADTRUNC,
            _ => BADSIG,
        }
    }
}

fn compute(key: &Key, parts: &[&[u8]]) -> Vec<u8> {
    macro_rules! run {
        ($digest:ty) => {{
            // HMAC accepts keys of any length.
            let mut mac = <Hmac<$digest>>::new_from_slice(&key.secret)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }};
    }
    match key.algorithm {
        Algorithm::HmacMd5 => run!(md5::Md5),
        Algorithm::HmacSha1 => run!(sha1::Sha1),
        Algorithm::HmacSha224 => run!(sha2::Sha224),
        Algorithm::HmacSha256 => run!(sha2::Sha256),
        Algorithm::HmacSha384 => run!(sha2::Sha384),
        Algorithm::HmacSha512 => run!(sha2::Sha512),
    }
}

fn time48(time: u64) -> [u8; 6] {
    let b = time.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// TSIG variables (RFC 8945 §4.3.3) after the message in the MAC input.
fn variables(key: &Key, time: u64, fudge: u16, error: u16, other: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&key.name.lowercase_wire());
    v.extend_from_slice(&255u16.to_be_bytes()); // class ANY
    v.extend_from_slice(&0u32.to_be_bytes()); // TTL
    v.extend_from_slice(key.algorithm.wire_name());
    v.extend_from_slice(&time48(time));
    v.extend_from_slice(&fudge.to_be_bytes());
    v.extend_from_slice(&error.to_be_bytes());
    v.extend_from_slice(&(other.len() as u16).to_be_bytes());
    v.extend_from_slice(other);
    v
}

/// The message as the MAC saw it: without its TSIG record, ARCOUNT one less, original ID.
fn unsigned_form(raw: &[u8], tsig: &TsigRecord) -> Vec<u8> {
    let mut m = raw[..tsig.offset].to_vec();
    m[0..2].copy_from_slice(&tsig.original_id.to_be_bytes());
    let arcount = u16::from_be_bytes([m[10], m[11]]).saturating_sub(1);
    m[10..12].copy_from_slice(&arcount.to_be_bytes());
    m
}

fn append_tsig(msg: &mut Vec<u8>, key: &Key, time: u64, mac: &[u8], error: u16, other: &[u8]) {
    append_tsig_record(
        msg,
        &key.name,
        key.algorithm.wire_name(),
        time,
        mac,
        error,
        other,
    );
}

/// The size of the TSIG record [`sign_response`] appends for `key` (without error data):
/// what a reply must leave room for.
pub fn response_len(key: &Key) -> usize {
    key.name.wire().len() + 10 + key.algorithm.wire_name().len() + 16 + key.algorithm.mac_len()
}

/// Appends the TSIG of the error reply to a signed request that did not verify with `key`
/// (RFC 8945 §5.3.2): BADTIME is signed, over the request's MAC, so that the client can trust
/// the time it carries; any other error is unsigned (see [`append_unsigned_error`]).
pub fn append_error(msg: &mut Vec<u8>, key: &Key, request: &TsigRecord, error: u16) {
    if error == BADTIME {
        sign_response(key, &request.mac, msg, BADTIME);
    } else {
        append_unsigned_error(msg, request, error);
    }
}

/// Appends the unsigned TSIG of an error reply to a request signed with a key we do not have
/// (BADKEY) or whose signature is wrong (BADSIG): the request's key and algorithm names, its
/// time, no MAC (RFC 8945 §5.2.1, §5.2.2).
pub fn append_unsigned_error(msg: &mut Vec<u8>, request: &TsigRecord, error: u16) {
    append_tsig_record(
        msg,
        &request.key_name,
        request.algorithm.wire(),
        request.time_signed,
        &[],
        error,
        &[],
    );
}

fn append_tsig_record(
    msg: &mut Vec<u8>,
    key_name: &Name,
    algorithm: &[u8],
    time: u64,
    mac: &[u8],
    error: u16,
    other: &[u8],
) {
    let original_id = [msg[0], msg[1]];
    let mut rdata = Vec::with_capacity(64 + mac.len());
    rdata.extend_from_slice(algorithm);
    rdata.extend_from_slice(&time48(time));
    rdata.extend_from_slice(&FUDGE.to_be_bytes());
    rdata.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    rdata.extend_from_slice(mac);
    rdata.extend_from_slice(&original_id);
    rdata.extend_from_slice(&error.to_be_bytes());
    rdata.extend_from_slice(&(other.len() as u16).to_be_bytes());
    rdata.extend_from_slice(other);
    msg.extend_from_slice(key_name.wire());
    msg.extend_from_slice(&rtype::TSIG.to_be_bytes());
    msg.extend_from_slice(&255u16.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    msg.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    msg.extend_from_slice(&rdata);
    let arcount = u16::from_be_bytes([msg[10], msg[11]]) + 1;
    msg[10..12].copy_from_slice(&arcount.to_be_bytes());
}

/// Signs a request in place; returns its MAC, which the response's MAC covers.
pub fn sign_request(key: &Key, msg: &mut Vec<u8>) -> Vec<u8> {
    sign_request_at(key, msg, unix_time::now())
}

pub fn sign_request_at(key: &Key, msg: &mut Vec<u8>, time: u64) -> Vec<u8> {
    let mac = compute(key, &[msg, &variables(key, time, FUDGE, 0, &[])]);
    append_tsig(msg, key, time, &mac, 0, &[]);
    mac
}

/// Checks the messages of one response in order (RFC 8945 §5.3).
pub struct ResponseVerifier<'k> {
    key: &'k Key,
    prior_mac: Vec<u8>,
    /// Unsigned messages since the last signed one, as the next MAC covers them.
    unsigned: Vec<u8>,
    unsigned_count: usize,
    first: bool,
}

impl<'k> ResponseVerifier<'k> {
    pub fn new(key: &'k Key, request_mac: Vec<u8>) -> Self {
        Self {
            key,
            prior_mac: request_mac,
            unsigned: Vec::new(),
            unsigned_count: 0,
            first: true,
        }
    }

    pub fn verify(&mut self, raw: &[u8], tsig: Option<&TsigRecord>) -> Result<(), TsigError> {
        self.verify_at(raw, tsig, unix_time::now())
    }

    pub fn verify_at(
        &mut self,
        raw: &[u8],
        tsig: Option<&TsigRecord>,
        time: u64,
    ) -> Result<(), TsigError> {
        let key_name = self.key.name.to_string();
        let Some(tsig) = tsig else {
            if self.first {
                return Err(TsigError::Unsigned(key_name));
            }
            self.unsigned_count += 1;
            if self.unsigned_count > MAX_UNSIGNED_RUN {
                return Err(TsigError::TooManyUnsigned);
            }
            self.unsigned.extend_from_slice(raw);
            return Ok(());
        };
        // An error from the primary comes with an empty MAC (RFC 8945 §5.3.2).
        match tsig.error {
            0 => {}
            BADKEY => return Err(TsigError::ServerBadKey(key_name)),
            BADSIG => return Err(TsigError::ServerBadSig(key_name)),
            BADTIME => return Err(TsigError::ServerBadTime),
            other => return Err(TsigError::ServerOther(other)),
        }
        let message = unsigned_form(raw, tsig);
        let prior_len = (self.prior_mac.len() as u16).to_be_bytes();
        // The first message signs all its TSIG variables, later ones only the timers; no
        // unsigned message can come before the first (see above), so `unsigned` is empty then.
        let tail = if self.first {
            variables(
                self.key,
                tsig.time_signed,
                tsig.fudge,
                tsig.error,
                &tsig.other,
            )
        } else {
            let mut timers = time48(tsig.time_signed).to_vec();
            timers.extend_from_slice(&tsig.fudge.to_be_bytes());
            timers
        };
        let signed: [&[u8]; 5] = [&prior_len, &self.prior_mac, &self.unsigned, &message, &tail];
        check(self.key, tsig, &signed, time)?;
        self.prior_mac = tsig.mac.clone();
        self.unsigned.clear();
        self.unsigned_count = 0;
        self.first = false;
        Ok(())
    }

    /// Call after the last message: it must have been signed.
    pub fn finish(&self) -> Result<(), TsigError> {
        if self.first {
            return Err(TsigError::Unsigned(self.key.name.to_string()));
        }
        if self.unsigned_count > 0 {
            return Err(TsigError::LastUnsigned);
        }
        Ok(())
    }
}

/// The checks every signed message passes (RFC 8945 §5.2), a request or any message of a
/// response: the key and algorithm, the MAC's length, the MAC over the parts `signed`
/// (which differ between the two), then the time, at `now`.
fn check(key: &Key, tsig: &TsigRecord, signed: &[&[u8]], now: u64) -> Result<(), TsigError> {
    if tsig.key_name != key.name
        || Algorithm::from_wire_name(&tsig.algorithm) != Some(key.algorithm)
    {
        return Err(TsigError::BadKey {
            got: tsig.key_name.to_string(),
            expected: key.name.to_string(),
        });
    }
    let full = key.algorithm.mac_len();
    // RFC 8945 §5.2.2.1: a truncated MAC must keep at least half, and 10 bytes.
    if tsig.mac.len() > full || tsig.mac.len() < (full / 2).max(10) {
        return Err(TsigError::BadTrunc(tsig.mac.len()));
    }
    let expected = compute(key, signed);
    if !constant_time_eq(&expected[..tsig.mac.len()], &tsig.mac) {
        return Err(TsigError::BadSig(key.name.to_string()));
    }
    let skew = now as i64 - tsig.time_signed as i64;
    if skew.unsigned_abs() > u64::from(tsig.fudge) {
        return Err(TsigError::BadTime {
            skew,
            fudge: tsig.fudge,
        });
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Server side: verifies a signed request (a NOTIFY or a query) with `key`; returns the
/// request MAC to sign the response with.
pub fn verify_request(key: &Key, raw: &[u8], tsig: &TsigRecord) -> Result<Vec<u8>, TsigError> {
    verify_request_at(key, raw, tsig, unix_time::now())
}

/// As [`verify_request`], at `now`.
pub fn verify_request_at(
    key: &Key,
    raw: &[u8],
    tsig: &TsigRecord,
    now: u64,
) -> Result<Vec<u8>, TsigError> {
    let message = unsigned_form(raw, tsig);
    let vars = variables(key, tsig.time_signed, tsig.fudge, tsig.error, &tsig.other);
    check(key, tsig, &[&message, &vars], now)?;
    Ok(tsig.mac.clone())
}

/// Server side: signs a response to a request whose MAC was `request_mac`.
pub fn sign_response(key: &Key, request_mac: &[u8], msg: &mut Vec<u8>, error: u16) {
    let time = unix_time::now();
    let other: Vec<u8> = if error == BADTIME {
        time48(time).to_vec()
    } else {
        Vec::new()
    };
    let mac = if error == BADSIG || error == BADKEY {
        Vec::new()
    } else {
        let prior_len = (request_mac.len() as u16).to_be_bytes();
        compute(
            key,
            &[
                &prior_len,
                request_mac,
                msg,
                &variables(key, time, FUDGE, error, &other),
            ],
        )
    };
    append_tsig(msg, key, time, &mac, error, &other);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::message::{build_query, parse};

    #[test]
    fn the_secret_pattern_is_the_decoder() {
        let pattern = regex::Regex::new(SECRET_PATTERN).unwrap();
        let alphabet: Vec<char> = "AQgwBEz09+/=== \n\t\u{a0}".chars().collect();
        let mut draws = crate::text_forms::Draws::new(0x51_7cc1_b727_220a_u64);
        let mut texts: Vec<String> = (0..100_000).map(|_| draws.text(&alphabet, 13)).collect();
        texts.extend((0..40).map(|len| encode_secret(&vec![0xa5; len])));
        for text in texts {
            assert_eq!(
                pattern.is_match(&text),
                decode_secret(&text).is_ok(),
                "{text:?}: the pattern and the decoder disagree"
            );
        }
    }

    fn key(algorithm: Algorithm) -> Key {
        Key {
            name: "Transfer-Key.".parse().unwrap(),
            algorithm,
            secret: b"0123456789abcdef".to_vec(),
        }
    }

    #[test]
    fn request_and_multi_message_response_verify() {
        for algorithm in Algorithm::ALL {
            let key = key(algorithm);
            let mut request =
                build_query(42, 0, &"example.com.".parse().unwrap(), rtype::AXFR, &[]);
            let request_mac = sign_request_at(&key, &mut request, 1_000_000);
            let parsed = parse(&request).unwrap();
            assert_eq!(parsed.tsig.as_ref().unwrap().mac, request_mac);

            // Three response messages: signed, unsigned, signed.
            let mut first = build_query(42, 0, &"example.com.".parse().unwrap(), rtype::AXFR, &[]);
            first[2] |= 0x80;
            sign_response_at(&key, &request_mac, &mut first, 1_000_001);
            let first_mac = parse(&first).unwrap().tsig.unwrap().mac;
            let mut middle = first.clone();
            middle.truncate(parse(&first).unwrap().tsig.unwrap().offset);
            middle[10..12].copy_from_slice(&0u16.to_be_bytes());
            let mut last = middle.clone();
            let mut timers_input = Vec::new();
            timers_input.extend_from_slice(&(first_mac.len() as u16).to_be_bytes());
            timers_input.extend_from_slice(&first_mac);
            timers_input.extend_from_slice(&middle);
            timers_input.extend_from_slice(&last);
            timers_input.extend_from_slice(&time48(1_000_002));
            timers_input.extend_from_slice(&FUDGE.to_be_bytes());
            let mac = compute(&key, &[&timers_input]);
            append_tsig(&mut last, &key, 1_000_002, &mac, 0, &[]);

            let mut verifier = ResponseVerifier::new(&key, request_mac.clone());
            for m in [&first, &middle, &last] {
                verifier
                    .verify_at(m, parse(m).unwrap().tsig.as_ref(), 1_000_003)
                    .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
            }
            verifier.finish().unwrap();

            // A flipped bit, a wrong key name, a clock too far away.
            let mut tampered = first.clone();
            tampered[13] ^= 1;
            let mut v = ResponseVerifier::new(&key, request_mac.clone());
            assert!(matches!(
                v.verify_at(
                    &tampered,
                    parse(&tampered).unwrap().tsig.as_ref(),
                    1_000_001
                ),
                Err(TsigError::BadSig(_))
            ));
            let other = Key {
                name: "other.".parse().unwrap(),
                ..key.clone()
            };
            let mut v = ResponseVerifier::new(&other, request_mac.clone());
            assert!(matches!(
                v.verify_at(&first, parse(&first).unwrap().tsig.as_ref(), 1_000_001),
                Err(TsigError::BadKey { .. })
            ));
            let mut v = ResponseVerifier::new(&key, request_mac.clone());
            assert!(matches!(
                v.verify_at(
                    &first,
                    parse(&first).unwrap().tsig.as_ref(),
                    1_000_001 + 301
                ),
                Err(TsigError::BadTime { .. })
            ));
            // Unsigned first message, unsigned last message.
            let mut v = ResponseVerifier::new(&key, request_mac.clone());
            assert!(matches!(
                v.verify_at(&middle, None, 1_000_001),
                Err(TsigError::Unsigned(_))
            ));
            let mut v = ResponseVerifier::new(&key, request_mac.clone());
            v.verify_at(&first, parse(&first).unwrap().tsig.as_ref(), 1_000_001)
                .unwrap();
            v.verify_at(&middle, None, 1_000_001).unwrap();
            assert_eq!(v.finish(), Err(TsigError::LastUnsigned));
        }
    }

    fn sign_response_at(key: &Key, request_mac: &[u8], msg: &mut Vec<u8>, time: u64) {
        let prior_len = (request_mac.len() as u16).to_be_bytes();
        let mac = compute(
            key,
            &[
                &prior_len,
                request_mac,
                msg,
                &variables(key, time, FUDGE, 0, &[]),
            ],
        );
        append_tsig(msg, key, time, &mac, 0, &[]);
    }

    /// Signed by knotd 3.2 with `KAT_KEY` (hmac-sha256, secret "knotd signs this, secdns
    /// checks"): a NOTIFY it sent (over TCP), and its answer to a SOA query we signed with
    /// MAC `KNOT_REQUEST_MAC`, each signed at its time.
    const KNOT_NOTIFY: &str = "1c0124000001000100000002076578616d706c6503636f6d0000060001c00c0006000100000e100027036e73\
     31c00c0a686f73746d6173746572c00c78c406bd00001c2000000384001275000000012c00002904d0000000\
     000000076b61742d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b160279012c00\
     20fbfaf6c2ee79fd82623cbcf135752fadb208aedb83e010dbfbec2973caf879e61c0100000000";
    const KNOT_REQUEST_MAC: &str =
        "a352b43e1644d3c5d2b2e7831e55df36d8f3995393e2326e16ab0c5be9407631";
    const KNOT_RESPONSE: &str = "4b4184000001000100000001076578616d706c6503636f6d0000060001c00c0006000100000e100027036e73\
     31c00c0a686f73746d6173746572c00c78c406bd00001c2000000384001275000000012c076b61742d6b6579\
     0000fa00ff00000000003d0b686d61632d7368613235360000006b160284012c0020f2743887eec4ca4dc71d\
     76291992f835d0035ce766497c8585ec9af968d8182c4b4100000000";
    const KNOT_NOTIFY_TIME: u64 = 1796604537;
    const KNOT_RESPONSE_TIME: u64 = 1796604548;

    fn kat_key() -> Key {
        Key {
            name: "kat-key.".parse().unwrap(),
            algorithm: Algorithm::HmacSha256,
            secret: b"knotd signs this, secdns checks".to_vec(),
        }
    }

    fn unhex(text: &str) -> Vec<u8> {
        data_encoding::HEXLOWER.decode(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_notify_knotd_signed_verifies_and_a_changed_one_does_not() {
        let key = kat_key();
        let raw = unhex(KNOT_NOTIFY);
        let tsig = parse(&raw).unwrap().tsig.unwrap();
        assert_eq!(tsig.time_signed, KNOT_NOTIFY_TIME);
        let mac = verify_request_at(&key, &raw, &tsig, KNOT_NOTIFY_TIME).unwrap();
        assert_eq!(mac, tsig.mac);
        // Outside the fudge (300 s).
        let late = verify_request_at(&key, &raw, &tsig, KNOT_NOTIFY_TIME + 301);
        assert!(matches!(late, Err(TsigError::BadTime { .. })), "{late:?}");
        // One bit of the question changed.
        let mut changed = raw.clone();
        changed[13] ^= 0x20;
        let tsig = parse(&changed).unwrap().tsig.unwrap();
        let forged = verify_request_at(&key, &changed, &tsig, KNOT_NOTIFY_TIME);
        assert!(matches!(forged, Err(TsigError::BadSig(_))), "{forged:?}");
        // Another secret.
        let other = Key {
            secret: b"not the secret knotd had".to_vec(),
            ..kat_key()
        };
        let tsig = parse(&raw).unwrap().tsig.unwrap();
        assert!(verify_request_at(&other, &raw, &tsig, KNOT_NOTIFY_TIME).is_err());
    }

    #[test]
    fn a_response_knotd_signed_verifies_only_after_our_request() {
        let key = kat_key();
        let raw = unhex(KNOT_RESPONSE);
        let tsig = parse(&raw).unwrap().tsig.unwrap();
        let mut verifier = ResponseVerifier::new(&key, unhex(KNOT_REQUEST_MAC));
        verifier
            .verify_at(&raw, Some(&tsig), KNOT_RESPONSE_TIME)
            .unwrap();
        verifier.finish().unwrap();
        // The same response to another request (RFC 8945 §5.3: the request MAC is signed).
        let mut other = unhex(KNOT_REQUEST_MAC);
        other[0] ^= 1;
        let mut verifier = ResponseVerifier::new(&key, other);
        let result = verifier.verify_at(&raw, Some(&tsig), KNOT_RESPONSE_TIME);
        assert!(matches!(result, Err(TsigError::BadSig(_))), "{result:?}");
    }

    #[test]
    fn rfc4231_test_vector() {
        // RFC 4231 test case 2 (HMAC-SHA-256, key "Jefe").
        let key = Key {
            name: Name::root(),
            algorithm: Algorithm::HmacSha256,
            secret: b"Jefe".to_vec(),
        };
        let mac = compute(&key, &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            mac.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn algorithm_names() {
        assert_eq!(
            "HMAC-SHA256".parse::<Algorithm>().unwrap(),
            Algorithm::HmacSha256
        );
        assert_eq!(
            "hmac-md5.sig-alg.reg.int.".parse::<Algorithm>().unwrap(),
            Algorithm::HmacMd5
        );
        assert!("hmac-sha3".parse::<Algorithm>().is_err());
        assert!(decode_secret("not base64!").is_err());
        assert_eq!(generate_secret(Algorithm::HmacSha512).unwrap().len(), 64);
    }
}
