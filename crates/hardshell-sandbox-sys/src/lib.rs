//! The raw system calls hardshell's shell is made of. This is the only crate in
//! the workspace that may use `unsafe`; each wrapper states why its call is sound
//! and returns `std::io::Result`, so callers stay safe code.
