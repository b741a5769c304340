# Multi-stage build: compile in the Go image, run as an unprivileged user in
# a slim Debian image. Build with: docker build -t vigil .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/vigil ./cmd/vigil

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system vigil && useradd --system --gid vigil --groups adm --home-dir /var/lib/vigil vigil \
    && install -d -o vigil -g vigil -m 0700 /var/lib/vigil
COPY --from=build /out/vigil /usr/local/bin/vigil
USER vigil
WORKDIR /var/lib/vigil
ENTRYPOINT ["/usr/local/bin/vigil"]
# The config is mounted at /etc/vigil/vigil.yml; the logs it names must be
# mounted readable by the group adm. SIGTERM drains (docker stop waits 10s;
# give it --stop-timeout 30 on busy hosts).
CMD ["run", "--config", "/etc/vigil/vigil.yml"]
