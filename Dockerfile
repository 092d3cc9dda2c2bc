# syntax=docker/dockerfile:1
# The `codearts` command as a container image: the watch fleet of deploy/kubernetes runs it.
#
#   docker build -t swr.cn-north-4.myhuaweicloud.com/ORGANIZATION/codearts:0.2.0 .
#
# Builder: the Rust toolchain pinned (at least the workspace's rust-version), on Debian 12,
# the same glibc as the runtime below.
FROM rust:1.95.0-slim-bookworm AS builder
WORKDIR /src
# Every workspace member's manifest must be present for cargo to read the workspace, and the
# library's build script generates the client from openapi/ (build.rs, build/).
COPY Cargo.toml Cargo.lock build.rs README.md ./
COPY build ./build
COPY openapi ./openapi
COPY src ./src
COPY cli ./cli
COPY bench ./bench
COPY paused-time-tests ./paused-time-tests
# The command's package alone, as Cargo.lock pins it; the copy leaves the build cache's
# mount, which the next stage cannot read.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --package codearts-cli --bin codearts \
    && cp /src/target/release/codearts /usr/local/bin/codearts

# Runtime: distroless "cc" (glibc, libgcc, CA certificates, tzdata; no shell, no package
# manager), as its "nonroot" user, 65532, the user the Deployment runs as. Why not scratch
# with a static musl binary: musl's allocator is markedly slower under the watch's many
# threads, and the CA bundle the client reads (rustls-native-certs) would have to be copied
# in by hand; distroless gives both with glibc at ~25 MB.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /usr/local/bin/codearts /usr/local/bin/codearts
USER 65532:65532
# /healthz, /readyz and /metrics with `watch --listen=:9100`.
EXPOSE 9100
ENTRYPOINT ["/usr/local/bin/codearts"]
CMD ["--help"]
