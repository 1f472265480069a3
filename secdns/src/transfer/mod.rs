//! Zone transfers from primaries: serial arithmetic ([`serial`]), the network client
//! ([`client`]), and applying AXFR/IXFR ([`apply`]). The messages and TSIG are
//! [`crate::dns::message`] and [`crate::dns::tsig`].

pub mod apply;
pub mod client;
pub mod serial;
