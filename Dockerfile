# Parley's container image: a static release build on the official Swift image, run on slim
# Debian as an unprivileged numeric user with a read-only application directory.
#
#   docker build -t parley .
#   docker run -p 8080:8080 -v parley-data:/data parley            # then configure an issuer
#   docker run -p 8080:8080 -e PARLEY_AUTH_DEV=true parley         # a trial with dev tokens
#
# scripts/image-e2e.sh builds this same file with buildah, handing the runtime stage a binary
# built on the host in place of the `build` stage (--build-context build=DIR), then runs the
# image's root filesystem read-only.

ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ================================
# Build: the binary, its resource bundles and the crash backtracer, staged in /staging
# ================================
FROM ${SWIFT_IMAGE} AS build
WORKDIR /build
# Dependencies first: a cached layer until Package.swift changes.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
RUN swift build -c release --static-swift-stdlib --product parley \
    && bin="$(swift build -c release --show-bin-path)" \
    && mkdir -p /staging/app \
    && cp "$bin/parley" /staging/app/ \
    && cp -R "$bin"/*.resources /staging/app/ \
    && cp /usr/libexec/swift/linux/swift-backtrace-static /staging/app/ \
    && strip /staging/app/parley

# ================================
# Run
# ================================
FROM ${RUNTIME_IMAGE}
# Foundation needs the time zone data and, for URLSession (which a dependency links), libcurl;
# outgoing TLS (model providers, identity providers) needs the CA certificates. Nothing else:
# the Swift runtime is linked into the binary.
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends ca-certificates tzdata libcurl4 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 parley \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /data --shell /usr/sbin/nologin parley \
    && mkdir /data && chown 10001:10001 /data && chmod 0700 /data

# Owned by root and not writable by the user the server runs as.
COPY --from=build /staging/app /app

# The SQLite files, the development key and the audit dead-letter file live in /data; the only
# other writable place is /tmp. Off loopback, dev auth is off: configure an identity provider.
ENV PARLEY_HTTP_HOST=0.0.0.0 \
    PARLEY_HTTP_PORT=8080 \
    PARLEY_DATA_DIR=/data \
    PARLEY_LOG_LEVEL=info \
    SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=all,interactive=no,swift-backtrace=/app/swift-backtrace-static
VOLUME ["/data"]
WORKDIR /data
EXPOSE 8080
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/app/parley", "probe", "http://127.0.0.1:8080/api/v1/healthz"]
ENTRYPOINT ["/app/parley"]
CMD ["serve"]
