#[doc(hidden)]
pub mod ir;
