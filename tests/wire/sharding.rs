//! Sharding targets over two exporters with Prometheus `hashmod` relabelling.
