//! The numeric codes secdns uses (RFC 1035, 6891 and friends), from `domain`'s IANA
//! registries where it has them, so that each is written once.

use domain::base::iana::{ExtendedErrorCode, OptionCode};

/// `pub const NAME: int = Registry::NAME.to_int();` for each name: the number is domain's.
macro_rules! registered {
    ($registry:ident -> $int:ty: $($name:ident),+ $(,)?) => {
        $(pub const $name: $int = domain::base::iana::$registry::$name.to_int();)+
    };
}

pub mod rtype {
    registered!(Rtype -> u16:
        A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, DS, DNAME, RRSIG, NSEC, DNSKEY, NSEC3,
        NSEC3PARAM, TSIG, IXFR, AXFR, ANY);
    /// Shared with the XDP program, which reads and writes it too.
    pub const OPT: u16 = secdns_common::TYPE_OPT;
}

pub mod class {
    pub const IN: u16 = secdns_common::CLASS_IN;
    pub const ANY: u16 = 255;
}

pub mod rcode {
    registered!(Rcode -> u8:
        NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, NOTAUTH);
    /// Extended RCODE 16: the upper eight bits (1) go in the OPT record.
    pub const BADVERS_UPPER: u8 = 1;
}

/// The mnemonic of the RCODEs metrics and transfer errors name (those secdns sends or a
/// primary answers with), or `RCODEnn`: their labels stay as they are when domain's table
/// names more.
pub fn rcode_name(code: u16) -> String {
    match code {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        9 => "NOTAUTH".into(),
        other => format!("RCODE{other}"),
    }
}

/// The error field of a TSIG record (RFC 8945 §3), carried in its RDATA.
pub mod tsig_error {
    registered!(TsigRcode -> u16: BADSIG, BADKEY, BADTIME, BADTRUNC);
}

/// EDNS option codes (RFC 6891 §6.1.2).
pub mod option {
    use super::OptionCode;

    /// Shared with the XDP program, which reads and writes it too.
    pub const COOKIE: u16 = secdns_common::cookie::COOKIE_OPTION;
    /// edns-tcp-keepalive (RFC 7828 §3.1).
    pub const TCP_KEEPALIVE: u16 = OptionCode::TCP_KEEPALIVE.to_int();
    /// Extended DNS Errors (RFC 8914 §2).
    pub const EXTENDED_ERROR: u16 = OptionCode::EXTENDED_ERROR.to_int();
}

/// Extended DNS Error codes (RFC 8914 §4).
pub mod extended_error {
    /// §4.21: the server is not authoritative for the name.
    pub const NOT_AUTHORITATIVE: u16 = super::ExtendedErrorCode::NOT_AUTHORITATIVE.to_int();
}

pub mod flags {
    // Shared with the XDP program, which sets the same bits.
    pub const QR: u16 = secdns_common::FLAG_QR;
    pub const OPCODE_MASK: u16 = 0x7800;
    pub const AA: u16 = secdns_common::FLAG_AA;
    pub const TC: u16 = secdns_common::FLAG_TC;
    pub const RD: u16 = 0x0100;
    pub const CD: u16 = 0x0010;
}

pub mod opcode {
    pub const QUERY: u8 = 0;
    pub const NOTIFY: u8 = 4;
    pub const UPDATE: u8 = 5;
}

/// Mnemonic for a type, or `TYPEnnn` (RFC 3597).
pub fn rtype_name(rtype: u16) -> String {
    domain::base::iana::Rtype::from_int(rtype).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rcodes_are_named_as_knot_and_dig_name_them() {
        assert_eq!(rcode_name(0), "NOERROR");
        assert_eq!(rcode_name(9), "NOTAUTH");
        assert_eq!(rcode_name(12), "RCODE12");
        assert_eq!(rcode_name(5000), "RCODE5000");
    }
}
