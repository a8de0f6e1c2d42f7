# sensorhub in a container: a static binary on a distroless base, run as a
# non-root user. Build: docker build -t sensorhub .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sensorhub ./cmd/sensorhub

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sensorhub /usr/local/bin/sensorhub
# Data (SQLite store, embedded queue) lives in /data: mount a volume there.
WORKDIR /data
USER nonroot:nonroot
EXPOSE 8080 1883
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/sensorhub", "health", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/sensorhub"]
CMD ["run", "--config", "/etc/sensorhub/sensorhub.yaml"]
