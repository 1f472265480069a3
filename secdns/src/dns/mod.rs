//! DNS basics: names, numeric codes, reading wire-format fields and pieces, whole messages
//! and TSIG.

pub mod codes;
pub mod message;
pub mod name;
mod name_schema;
pub mod rdata;
pub mod tsig;
pub mod wire;

pub use name::{Dname, Name, NameError};
