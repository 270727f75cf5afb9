#!/bin/sh
# Starts the sandbox server. When the platform intercepts the container's
# HTTPS egress (so vault secrets are added outside the container), it signs
# with the certificate authority it places here; trust it system-wide first.
set -e
CA=/etc/cloudflare/certs/cloudflare-containers-ca.crt
if [ -f "$CA" ]; then
    cp "$CA" /usr/local/share/ca-certificates/cloudflare-containers-ca.crt
    update-ca-certificates >/dev/null
fi
exec /usr/local/bin/openma-sandbox "$@"
