# syntax=docker/dockerfile:1
#
# dynago's container image: a static binary on distroless (no shell, no
# libc, no package manager), running as an unprivileged user, data on a
# volume, a health check on GET /health. README "Deploy" says how to run it.
#
#   docker build -t dynago .
#   # one node to try (0.0.0.0 inside the container needs --insecure, see
#   # README "Security"; the port is published on the host's loopback only):
#   docker run --rm -v dynago-data:/var/lib/dynago -p 127.0.0.1:8080:8080 \
#     dynago agent --name n1 --http 0.0.0.0:8080 --insecure
#
# deploy/compose.yml starts a 3-node cluster with Prometheus from it.

# ---- build: the Go toolchain, the module cache, one static binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Dependencies first, so a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static (no cgo: no libc to match at run time), reproducible paths, no
# symbol table (the binary is a third smaller; panics keep their stack
# traces). test/deploy_test.go runs this exact line and checks the result
# has no ELF interpreter.
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags="-s -w" -o /out/dynago ./cmd/dynago
# The data directory, owned by the runtime user (distroless has no mkdir).
RUN mkdir -p /out/var/lib/dynago

# ---- run: distroless static, its nonroot user (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dynago /usr/local/bin/dynago
COPY --from=build --chown=65532:65532 /out/var/lib/dynago /var/lib/dynago
USER 65532:65532
# Flags read DYNAGO_<FLAG>: the data directory is the volume below.
ENV DYNAGO_DATA_DIR=/var/lib/dynago
VOLUME ["/var/lib/dynago"]
# HTTP API, internode RPC, gossip (TCP and UDP); RESP (6379) only with --resp.
EXPOSE 8080/tcp 8081/tcp 7946/tcp 7946/udp
# `dynago health` asks the agent's own DYNAGO_HTTP (https with
# DYNAGO_TLS_CERT; set DYNAGO_CA_CERT then): exit 0 once the node is ready.
# start-period: a node rejoining a large data directory replays it first.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/dynago", "health"]
ENTRYPOINT ["/usr/local/bin/dynago"]
CMD ["agent"]
