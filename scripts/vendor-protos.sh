#!/usr/bin/env bash
# Copies the third-party .proto files we compile against out of npm packages into third_party/.
# The buf schema registry is unreachable from the build machines, so these are committed.
set -euo pipefail
cd "$(dirname "$0")/.."
nm=node_modules
copy() { mkdir -p "third_party/$(dirname "$2")"; cp "$nm/$1" "third_party/$2"; }
for f in status error_details code; do copy "google-proto-files/google/rpc/$f.proto" "google/rpc/$f.proto"; done
copy @grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto grpc/reflection/v1/reflection.proto
copy @grpc/reflection/build/proto/grpc/reflection/v1alpha/reflection.proto grpc/reflection/v1alpha/reflection.proto
copy grpc-health-check/proto/health/v1/health.proto grpc/health/v1/health.proto
