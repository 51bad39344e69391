//! The QA screen (placeholder while the core is built).
