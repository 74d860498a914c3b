//! Test harness: not written yet.
