# cliproxy in a container: built with the Swift toolchain, run on slim Debian
# with only the shared libraries it links (jq, curl, yaml, sqlite, crypt).
#
#   docker build -t cliproxy .
#   docker run -d -p 8317:8317 -v "$PWD/docker:/etc/cliproxy" -v cliproxy-auth:/data cliproxy
#
# The README's "Docker" section has the login commands (each maps its
# provider's callback port).

FROM swift:6.3-bookworm AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libjq-dev libonig-dev libcurl4-openssl-dev libyaml-dev libsqlite3-dev libcrypt-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Manifest first: the package fetch is cached while only sources change.
COPY Package.swift ./
RUN swift package resolve
COPY Sources Sources
RUN swift build -c release --product cliproxy --static-swift-stdlib \
 && cp "$(swift build -c release --show-bin-path)/cliproxy" /cliproxy

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libjq1 libonig5 libcurl4 libyaml-0-2 libsqlite3-0 libcrypt1 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /cliproxy /usr/local/bin/cliproxy
COPY Rules /opt/cliproxy/Rules
COPY docker/config.yaml /etc/cliproxy/config.yaml
# config.yaml (hot-reloaded; the management API writes it) and the account files.
VOLUME ["/etc/cliproxy", "/data"]
EXPOSE 8317
# In a container the server must listen beyond loopback, so it refuses to
# start until config.yaml has api-keys (--require-api-keys).
ENTRYPOINT ["cliproxy"]
CMD ["--config", "/etc/cliproxy/config.yaml", "--require-api-keys"]
