//! Zone transfers from primaries: messages ([`message`]), TSIG ([`tsig`]), serial arithmetic
//! ([`serial`]), the network client ([`client`]), and applying AXFR/IXFR ([`apply`]).

pub mod apply;
pub mod client;
pub mod message;
pub mod serial;
pub mod tsig;
