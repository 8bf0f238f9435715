//! Placeholder: filled in by the rate limiter / lock / pub-sub work of issue 5.
