#!/usr/bin/env bash
# Builds rivven-mqtt as one binary with the Swift runtime and Foundation linked in statically, and checks that it
# needs nothing at run time but Debian's own C libraries (libmosquitto1, liburing2, libssl3, libc6, libstdc++6,
# libgcc-s1): no libswift*.so, no Foundation or ICU from the toolchain.
#
#   bash scripts/build-static.sh                      # -> .build/release/rivven-mqtt (path printed last)
#   SCRATCH_PATH=.build-static bash scripts/build-static.sh
#
# Prints `ldd` of the binary and the Debian package of every library it loads. Exit status 0 when every library
# belongs to an installed Debian package and none is a Swift runtime library; 1 otherwise; 2 when the build fails.
# To test the result: RIVVEN_MQTT_STATIC_BINARY=<printed path> swift test --filter StaticBuildTests
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scratch=(--scratch-path "${SCRATCH_PATH:-.build}")

echo "build-static.sh: swift build -c release --static-swift-stdlib --product rivven-mqtt ${scratch[*]}" >&2
start=$(date +%s)
swift build -c release --static-swift-stdlib --product rivven-mqtt "${scratch[@]}" >&2 || exit 2
binary="$(swift build -c release --static-swift-stdlib "${scratch[@]}" --show-bin-path)/rivven-mqtt"
[[ -x "$binary" ]] || { echo "build-static.sh: no binary at $binary" >&2; exit 2; }
echo "build-static.sh: built in $(($(date +%s) - start)) s: $binary ($(du -h "$binary" | cut -f1))" >&2

echo "ldd $binary:" >&2
ldd "$binary" >&2

# The Debian package that owns a library path (Debian 12 is usr-merged: /lib and /usr/lib are one directory, but
# dpkg records the path the package shipped).
owner() {
    local path="$1" real alt
    real="$(readlink -f "$path")"
    for candidate in "$path" "$real" "${path/#\/usr\/lib\//\/lib\/}" "${path/#\/lib\//\/usr\/lib\/}" \
        "${real/#\/usr\/lib\//\/lib\/}" "${real/#\/lib\//\/usr\/lib\/}"; do
        alt="$(dpkg -S "$candidate" 2>/dev/null | head -1 | cut -d: -f1)" || true
        if [[ -n "$alt" ]]; then
            echo "$alt"
            return 0
        fi
    done
    return 1
}

status=0
packages=()
while read -r line; do
    name="${line%% *}"
    case "$line" in
    *"not found"*)
        echo "MISSING  $name: not found on this system" >&2
        status=1
        continue
        ;;
    linux-vdso.so.*) continue ;;  # the kernel's, not a file
    esac
    if [[ "$line" == *"=>"* ]]; then
        path="$(awk '{print $3}' <<<"$line")"
    else
        path="$name"
    fi
    base="$(basename "$path")"
    if [[ "$base" == libswift* || "$base" == libFoundation* || "$base" == lib_Foundation* || "$base" == libdispatch* ||
        "$base" == libBlocksRuntime* ]]; then
        echo "SWIFT    $base ($path): the Swift runtime is not linked statically" >&2
        status=1
        continue
    fi
    if package="$(owner "$path")"; then
        printf 'ok       %-24s %s\n' "$base" "$package" >&2
        packages+=("${package%%:*}")
    else
        echo "FOREIGN  $base ($path): not from a Debian package" >&2
        status=1
    fi
done < <(ldd "$binary")

if ((status == 0)); then
    echo "build-static.sh: runtime dependencies are Debian packages only: $(printf '%s\n' "${packages[@]}" | sort -u | tr '\n' ' ')" >&2
else
    echo "build-static.sh: the binary needs libraries that are not Debian packages (see above)" >&2
fi
echo "$binary"
exit "$status"
