# Multi-stage build: a Go builder with module and build caches, then a runtime image that
# holds only the static binary, CA certificates and the two data directories. No `# syntax=`
# line: the cache mounts work with the engine's built-in Dockerfile frontend, and a syntax
# line would make BuildKit pull a frontend image first.

# GO_IMAGE: any Debian-based Go 1.26 image with make and CA certificates (the official one
# by default; the Docker end-to-end run builds with a local one).
ARG GO_IMAGE=golang:1.26-bookworm
FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
# go.mod replaces a dependency with the patched copy there (third_party/README.md).
COPY third_party ./third_party
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# `make build` is the one build command, with the same flags everywhere (-trimpath, -s -w,
# the version stamped into main.version); CGO_ENABLED=0 makes the binary static.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    make build VERSION=${VERSION}
# The volumes' mount points, owned by the runtime user (named volumes copy this ownership).
RUN mkdir -p /out/data/uploads /out/data/exports /out/tmp && chown -R 65532:65532 /out/data && chmod 1777 /out/tmp

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /src/bin/assistant /assistant
COPY --from=build /out/ /
# A numeric, non-root user: no shell, no passwd entry needed.
USER 65532:65532
ENV APP_ENV=production \
    HTTP_ADDR=:8080 \
    UPLOAD_DIR=/data/uploads \
    EXPORT_DIR=/data/exports
VOLUME ["/data/uploads", "/data/exports"]
EXPOSE 8080
# No curl in the image: the binary checks itself (exit 0 when /api/v1/health answers 200).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["/assistant", "healthcheck"]
ENTRYPOINT ["/assistant"]
CMD ["serve"]
