//! Proxy pass-through benchmark (filled in below).
