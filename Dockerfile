# spanflow container image: docker build -t spanflow:0.2.0 .
# The builder is pinned to the toolchain of Cargo.toml's rust-version; the runtime is
# distroless (glibc, CA certificates, no shell) as the non-root user 65532. Nothing is
# written at run time, so a read-only root file system works.
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/spanflow

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/spanflow /usr/bin/spanflow
COPY packaging/spanflow.yml /etc/spanflow/spanflow.yml
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/bin/spanflow"]
# A container's loopback is its own: listen on every address.
CMD ["serve", "--config.file=/etc/spanflow/spanflow.yml", "--web.listen-address=0.0.0.0:9464"]
