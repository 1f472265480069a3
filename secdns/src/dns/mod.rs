//! DNS basics: names, numeric codes, and reading wire-format pieces.

pub mod codes;
pub mod name;
pub mod rdata;

pub use name::{Dname, Name, NameError};
