//! The numeric codes secdns uses (RFC 1035, 6891 and friends), from `domain`'s IANA
//! registries where it has them, so that each is written once.

use domain::base::iana::{ExtendedErrorCode, OptionCode, Rcode, TsigRcode};

pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const DS: u16 = 43;
    pub const DNAME: u16 = 39;
    pub const OPT: u16 = secdns_common::TYPE_OPT;
    pub const RRSIG: u16 = 46;
    pub const NSEC: u16 = 47;
    pub const DNSKEY: u16 = 48;
    pub const NSEC3: u16 = 50;
    pub const NSEC3PARAM: u16 = 51;
    pub const TSIG: u16 = 250;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const ANY: u16 = 255;
}

pub mod class {
    pub const IN: u16 = secdns_common::CLASS_IN;
    pub const ANY: u16 = 255;
}

pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;
    pub const YXDOMAIN: u8 = super::Rcode::YXDOMAIN.to_int();
    pub const NOTAUTH: u8 = 9;
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
    use super::TsigRcode;

    pub const BADSIG: u16 = TsigRcode::BADSIG.to_int();
    pub const BADKEY: u16 = TsigRcode::BADKEY.to_int();
    pub const BADTIME: u16 = TsigRcode::BADTIME.to_int();
    pub const BADTRUNC: u16 = TsigRcode::BADTRUNC.to_int();
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
