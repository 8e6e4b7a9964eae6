//! Prometheus metrics for the production roles (operator, aggregator, generator, challenger).
