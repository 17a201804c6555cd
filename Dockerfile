# Multi-stage build: a static wagw binary on a distroless, non-root base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/wagw ./cmd/wagw

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wagw /usr/local/bin/wagw
USER nonroot:nonroot
ENV WAGW_HTTP_ADDR=:8080 WAGW_DATA_DIR=/tmp/wagw
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/wagw"]
# The default role is the gateway, which refuses to start without real
# configuration (WA_APP_SECRET, WA_VERIFY_TOKEN, KAFKA_BROKERS,
# DATABASE_URL). Run another role by naming it (consumer, relay, migrate);
# `serve` (development: embedded broker, generated secrets, the Cloud API
# simulator without WA_ACCESS_TOKEN) only when asked for by name.
CMD ["gateway"]
