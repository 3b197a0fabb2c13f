# milvus_exporter container image.
#
#   docker build -t milvus_exporter .
#   docker run --rm -p 127.0.0.1:9727:9727 -e MILVUS_EXPORTER_MILVUS__ADDRESS=http://milvus:19530 milvus_exporter
#
# Plain Dockerfile syntax only (no BuildKit --mount), so docker-compose v1's classic builder
# can build it too.

# ---- build -------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src
# Everything but what .dockerignore leaves out (target/, .venv/, .run/). .git stays in the
# context on purpose: build.rs runs `git rev-parse` for milvus_exporter_build_info's revision.
COPY . .
RUN cargo build --release --locked \
 && install -D -m 0755 target/release/milvus_exporter /out/milvus_exporter

# ---- run ---------------------------------------------------------------------------------
# distroless/cc: glibc, libgcc, CA certificates and nothing else (no shell); runs as nonroot.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/milvus_exporter /usr/local/bin/milvus_exporter
USER 65532:65532
EXPOSE 9727
# `probe` is the exporter's own HTTP client: the image has no curl or wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/milvus_exporter", "probe", "http://127.0.0.1:9727/healthz"]
ENTRYPOINT ["/usr/local/bin/milvus_exporter"]
