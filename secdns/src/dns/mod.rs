//! DNS basics: names, numeric codes, reading wire-format pieces, whole messages and TSIG.

pub mod codes;
pub mod message;
pub mod name;
pub mod rdata;
pub mod tsig;

pub use name::{Dname, Name, NameError};
